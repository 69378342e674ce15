"""The shipped configs compose with Hydra, are consistent with each other, and a wrong
setting fails before any data is loaded, naming its key."""

import os
import subprocess
import sys
import time

import pytest
from ase.io import read, write
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf

from nequip_mts import resources
from nequip_mts.checks import ConfigError, scan_data

CONFIGS = resources.config_dir()
ARCH_KEYS = (
    "_target_",
    "r_max",
    "l_max",
    "num_layers",
    "num_scalar_features",
    "num_tensor_features",
    "radial_chemical_embed",
    "allegro_mlp_hidden_layers_width",
    "readout_mlp_hidden_layers_width",
)
WATER = ["data_file=" + str(resources.water_data()), "model_type_names=[H,O]"]


def load(name, overrides=()):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(config_name=name, overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=False)


def compose_from_package(name, overrides=()):
    """As ``nequip-train -cp pkg://nequip_mts.configs -cn NAME`` composes it."""
    resources.register_resolvers()
    with initialize_config_module(config_module=resources.CONFIG_PACKAGE, version_base=None):
        return compose(config_name=name, overrides=list(overrides))


def resolve_data_path(cfg):
    """What ``nequip-train`` resolves first, before it loads data or computes statistics."""
    return OmegaConf.to_container(cfg.data.split_dataset, resolve=True)["file_path"]


@pytest.fixture(scope="module")
def no_stress_data(tmp_path_factory):
    frames = read(resources.water_data(), index=":3")
    for atoms in frames:
        atoms.calc.results.pop("stress", None)
    path = tmp_path_factory.mktemp("data") / "water_no_stress.extxyz"
    write(path, frames, format="extxyz")
    return path


def test_the_package_ships_every_config():
    assert resources.CONFIG_PATH == "pkg://" + resources.CONFIG_PACKAGE
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(resources.CONFIGS)


@pytest.mark.parametrize("name", ["tutorial", "water_multiscale", "water_baseline"])
def test_configs_find_the_bundled_data_from_any_directory(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose_from_package(name)
    assert resolve_data_path(cfg) == str(resources.water_data())
    assert cfg.with_stress is True  # the bundled data carries stress: `stress: auto` turns it on


def test_a_missing_data_file_fails_naming_its_path(tmp_path, monkeypatch, no_stress_data):
    monkeypatch.chdir(tmp_path)
    cfg = compose_from_package("tutorial", ["data_file=no_such_dir/water.xyz"])
    with pytest.raises(Exception, match=str(tmp_path / "no_such_dir" / "water.xyz")):
        resolve_data_path(cfg)
    cfg = compose_from_package("tutorial", [f"data_file={no_stress_data}"])
    assert resolve_data_path(cfg) == str(no_stress_data)


@pytest.mark.parametrize("name", ["multiscale", "baseline"])
def test_the_templates_need_only_the_data_file_and_type_names(name, no_stress_data):
    cfg = compose_from_package(name, [f"data_file={no_stress_data}", "model_type_names=[H,O]"])
    split = OmegaConf.to_container(cfg.data.split_dataset, resolve=True)
    assert split["train"] + split["val"] + split["test"] == pytest.approx(1.0)  # fractions
    assert cfg.with_stress is False  # `stress: auto` on data without stress
    assert compose_from_package(
        name, [f"data_file={no_stress_data}", "model_type_names=[H,O]", "stress=false"]
    )
    with pytest.raises(Exception, match="data_file"):
        resolve_data_path(compose_from_package(name, ["model_type_names=[H,O]"]))


def test_the_stress_key_switches_loss_and_metrics(no_stress_data):
    from hydra.utils import instantiate

    for data, stress in ((resources.water_data(), True), (no_stress_data, False)):
        cfg = compose_from_package("multiscale", [f"data_file={data}", "model_type_names=[H,O]"])
        module = cfg.training_module
        loss = instantiate(OmegaConf.to_container(module.loss, resolve=True))
        metrics = instantiate(OmegaConf.to_container(module.val_metrics, resolve=True))
        assert ("stress_mse" in loss.keys()) is stress
        assert ("stress_MAE" in metrics.keys()) is stress
        assert {"F_MAE", "E_per_atom_MAE", "fast_F_MAE", "slow_F_RMS"} <= set(metrics.keys())
        assert {"fast_forces_mse", "slow_forces_penalty", "slow_stiffness_penalty"} <= set(loss.keys())


@pytest.mark.parametrize("name", ["multiscale", "tutorial", "water_multiscale"])
def test_multiscale_configs_are_two_stage_with_regularisers(name):
    cfg = load(name, WATER if name == "multiscale" else ())
    module = cfg["training_module"]
    assert module["_target_"].startswith("nequip_mts.train.Multiscale")
    assert module["model"]["_target_"] == "nequip_mts.model.MultiscaleModel"
    assert "stage1_loss" in module and module["stage1_epochs"] == "${stage1_epochs}"
    assert 0 < cfg["stage1_epochs"] < cfg["max_epochs"]
    extra = {m["name"]: m for m in module["loss"]["extra_metrics"]}
    assert {"fast_forces_mse", "slow_forces_penalty", "slow_stiffness_penalty"} <= set(extra)
    assert float(cfg["r_max_fast"]) < float(cfg["r_max_slow"])
    assert "per_type_energy_shifts" not in module["model"]["slow"]


@pytest.mark.parametrize(
    "multiscale,baseline", [("multiscale", "baseline"), ("water_multiscale", "water_baseline")]
)
def test_baseline_matches_the_slow_part_of_the_multiscale_model(multiscale, baseline):
    overrides = WATER if multiscale == "multiscale" else ()
    multi, base = load(multiscale, overrides), load(baseline, overrides)
    slow, single = multi["training_module"]["model"]["slow"], base["training_module"]["model"]
    for key in ARCH_KEYS:
        assert str(slow[key]) == str(single[key]), key
    assert slow["r_max"] == single["r_max"] == "${r_max_slow}"
    assert multi["r_max_slow"] == base["r_max_slow"]
    for key in ("data_file", "model_type_names", "seed", "max_epochs", "stress"):
        assert multi[key] == base[key], key
    assert multi["data"]["split_dataset"] == base["data"]["split_dataset"]
    assert multi["training_module"]["optimizer"] == base["training_module"]["optimizer"]
    assert multi["training_module"]["lr_scheduler"] == base["training_module"]["lr_scheduler"]
    # the same ZBL core prior in the baseline and in the fast part, none in the slow part
    fast = multi["training_module"]["model"]["fast"]
    assert single["pair_potential"]["_target_"].endswith(".ZBL")
    assert single["pair_potential"] == fast["pair_potential"]
    assert "pair_potential" not in slow


def test_the_water_configs_keep_the_bundled_models_architecture():
    multi = load("water_multiscale")
    model = multi["training_module"]["model"]
    assert multi["data"]["split_dataset"]["train"] == 500 and multi["seed"] == 2026
    assert (model["fast"]["num_layers"], model["fast"]["num_scalar_features"]) == (1, 16)
    assert (model["slow"]["num_layers"], model["slow"]["num_scalar_features"]) == (2, 32)
    # the fast cutoff chosen in docs/choosing_the_split.md
    assert (multi["r_max_fast"], multi["r_max_slow"]) == (2.5, 5.0)


def test_scan_data_reads_species_frames_and_stress_quickly(no_stress_data):
    start = time.perf_counter()
    water = scan_data(resources.water_data())
    assert time.perf_counter() - start < 5.0
    assert (water.num_frames, water.species, water.has_stress) == (600, frozenset({"H", "O"}), True)
    small = scan_data(no_stress_data)
    assert (small.num_frames, small.has_stress) == (3, False)


ZBL = "{_target_:nequip.nn.pair_potential.ZBL,units:metal,chemical_species:[H,O]}"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["r_max_fast=5.0"], r"`r_max_fast` \(5.0 A\) must be smaller than the slow cutoff `r_max_slow`"),
        (["r_max_slow=2.5"], r"`r_max_fast` \(3.0 A\) must be smaller than the slow cutoff `r_max_slow`"),
        (["model_type_names=[H,O,C]"], r"`model_type_names` names \['C'\], absent from all 600 frames"),
        (["model_type_names=[H]"], r"species \['O'\] that `model_type_names` \(\['H'\]\) lacks"),
        (
            ["+training_module.model.slow.per_type_energy_shifts={H:-1.0,O:-2.0}"],
            r"Remove `training_module.model.slow.per_type_energy_shifts`",
        ),
        (
            ["+training_module.model.slow.per_type_energy_shifts=${training_data_stats:per_atom_energy_mean}"],
            r"Remove `training_module.model.slow.per_type_energy_shifts`",
        ),
        ([f"+training_module.model.slow.pair_potential={ZBL}"], r"`training_module.model.slow.pair_potential`"),
        (["stress=maybe"], r"`stress: maybe` is not one of true, false, auto"),
        (
            ["+training_module.model.fast.per_edge_type_cutoff={H:{H:1.5,O:3.5}}"],
            r"`training_module.model.fast.per_edge_type_cutoff` gives H-O the cutoff 3.5, not in \(0, 3.0\]",
        ),
        (
            ["+training_module.model.fast.per_edge_type_cutoff={C:{H:2.0}}"],
            r"`training_module.model.fast.per_edge_type_cutoff` names type 'C', not one of the type names",
        ),
    ],
    ids=["cutoffs", "cutoffs-slow", "absent-type", "missing-type", "slow-shifts", "slow-shift-stats", "slow-zbl",
         "stress-value", "per-type-cutoff-too-long", "per-type-cutoff-unknown-type"],
)  # fmt: skip
def test_config_errors_fail_before_loading_naming_the_key(overrides, message):
    cfg = compose_from_package("tutorial", overrides)
    start = time.perf_counter()
    with pytest.raises(Exception, match=message) as info:
        resolve_data_path(cfg)
    assert time.perf_counter() - start < 10.0
    assert isinstance(info.value.__cause__ or info.value, ConfigError) or "ConfigError" in repr(info.value)


def test_stress_requested_but_absent_fails_naming_the_key(no_stress_data):
    for name in ("multiscale", "baseline"):
        cfg = compose_from_package(
            name, [f"data_file={no_stress_data}", "model_type_names=[H,O]", "stress=true"]
        )
        with pytest.raises(Exception, match=r"`stress: true` but only 0 of the 3 frames .* carry a stress"):
            resolve_data_path(cfg)


def test_data_with_stress_on_some_frames_only_fails_naming_the_counts(tmp_path):
    frames = read(resources.water_data(), index=":3")
    frames[1].calc.results.pop("stress", None)
    path = tmp_path / "water_mixed_stress.extxyz"
    write(path, frames, format="extxyz")
    for stress in ("auto", "false"):
        cfg = compose_from_package(
            "baseline", [f"data_file={path}", "model_type_names=[H,O]", f"stress={stress}"]
        )
        with pytest.raises(Exception, match=r"only 2 of the 3 frames .* carry a stress"):
            resolve_data_path(cfg)


def test_nequip_train_stops_within_seconds_naming_the_key(tmp_path):
    """The real hook: ``nequip-train`` itself, start-up included.

    Timed by the child's CPU time (user + system), which other jobs on a shared machine do
    not inflate; the data loading and statistics the check must precede cost about 45 s on
    top of a start-up of 10-14 s (torch, nequip, Hydra; measured 13 s on 2026-12-02), so the
    bound sits between the two rather than at the start-up's own cost.
    """
    import resource

    bin_dir = os.path.dirname(sys.executable)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [os.path.join(bin_dir, "nequip-train"), "-cp", resources.CONFIG_PATH, "-cn", "tutorial", "r_max_fast=6",
         f"hydra.run.dir={tmp_path / 'out'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert proc.returncode != 0
    assert "`r_max_fast` (6.0 A) must be smaller than the slow cutoff `r_max_slow`" in proc.stderr
    assert "statistics" not in proc.stderr.lower()
    assert cpu < 30.0, f"nequip-train took {cpu:.1f} s of CPU ({wall:.1f} s wall) to report the config error"
