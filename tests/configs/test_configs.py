"""The shipped configs compose with Hydra and are consistent with each other."""

import pathlib

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
ARCH_KEYS = (
    "_target_", "r_max", "l_max", "num_layers", "num_scalar_features", "num_tensor_features",
    "radial_chemical_embed", "allegro_mlp_hidden_layers_width", "readout_mlp_hidden_layers_width",
)


def load(name):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(config_name=name)
    return OmegaConf.to_container(cfg, resolve=False)


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
