"""The shipped configs compose with Hydra and are consistent with each other."""

import pytest
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf

from nequip_mts import resources

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


def load(name):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(config_name=name)
    return OmegaConf.to_container(cfg, resolve=False)


def compose_from_package(name, overrides=()):
    """As ``nequip-train -cp pkg://nequip_mts.configs -cn NAME`` composes it."""
    resources.register_resolvers()
    with initialize_config_module(config_module=resources.CONFIG_PACKAGE, version_base=None):
        return compose(config_name=name, overrides=list(overrides))


def test_the_package_ships_every_config():
    assert resources.CONFIG_PATH == "pkg://" + resources.CONFIG_PACKAGE
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(resources.CONFIGS)


@pytest.mark.parametrize("name", ["tutorial", "water_multiscale", "water_baseline"])
def test_configs_find_the_bundled_data_from_any_directory(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose_from_package(name)
    assert cfg.data.split_dataset.file_path == str(resources.water_data())
    assert resources.water_data().is_file()


def test_a_missing_data_file_fails_naming_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose_from_package("tutorial", ["data_file=no_such_dir/water.xyz"])
    with pytest.raises(Exception, match=str(tmp_path / "no_such_dir" / "water.xyz")):
        OmegaConf.to_container(cfg.data.split_dataset, resolve=True)
    given = tmp_path / "given.extxyz"
    given.write_text("")
    cfg = compose_from_package("tutorial", [f"data_file={given}"])
    assert cfg.data.split_dataset.file_path == str(given)


@pytest.mark.parametrize("name", ["tutorial", "water_multiscale"])
def test_multiscale_configs_are_two_stage_with_regularisers(name):
    cfg = load(name)
    module = cfg["training_module"]
    assert module["_target_"].startswith("nequip_mts.train.Multiscale")
    assert module["model"]["_target_"] == "nequip_mts.model.MultiscaleModel"
    assert "stage1_loss" in module and module["stage1_epochs"] == "${stage1_epochs}"
    assert 0 < cfg["stage1_epochs"] < cfg["max_epochs"]
    extra = {m["name"]: m for m in module["loss"]["extra_metrics"]}
    assert {"fast_forces_mse", "slow_forces_penalty", "slow_stiffness_penalty"} <= set(extra)
    assert float(cfg["r_max_fast"]) < float(cfg["r_max_slow"])
    assert "per_type_energy_shifts" not in module["model"]["slow"]


def test_baseline_matches_the_slow_part_of_the_multiscale_model():
    multi, base = load("water_multiscale"), load("water_baseline")
    slow, single = multi["training_module"]["model"]["slow"], base["training_module"]["model"]
    slow = dict(slow, r_max=multi["r_max_slow"])
    single = dict(single, r_max=base["r_max"])
    for key in ARCH_KEYS:
        assert str(slow[key]) == str(single[key]), key
    assert multi["data"]["split_dataset"] == base["data"]["split_dataset"] | {
        "file_path": multi["data"]["split_dataset"]["file_path"]
    }
    assert multi["max_epochs"] == base["max_epochs"] and multi["seed"] == base["seed"]
    # the same ZBL core prior in the baseline and in the fast part, none in the slow part
    fast = multi["training_module"]["model"]["fast"]
    assert single["pair_potential"]["_target_"].endswith(".ZBL")
    assert single["pair_potential"] == fast["pair_potential"]
    assert "pair_potential" not in slow
