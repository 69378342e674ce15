"""End to end: nequip-train (both stages) -> nequip-mts-deploy -> compiled parts in ASE."""

import numpy as np
import pytest
from ase.io import read
from e2e_helpers import R_FAST, R_SLOW, ROOT, _bin, run_command

pytestmark = pytest.mark.slow


def test_training_runs_both_stages_and_prints_per_part_test_metrics(trained_multiscale):
    _, log = trained_multiscale
    assert "stage 1, fast model alone" in log and "stage 2, joint fast + slow" in log
    for metric in ("test0_epoch/F_MAE", "test0_epoch/fast_F_MAE", "test0_epoch/slow_F_RMS"):
        assert metric in log


def test_compiled_parts_reproduce_compiled_sum_and_eager_checkpoint(
    trained_multiscale, deployed_ase, tmp_path
):
    from emt_data import make_emt_alloy
    from nequip.integrations.ase import NequIPCalculator
    from nequip.model.inference_models.compiled import load_compiled_model

    from nequip_mts.manifest import read_manifest
    from nequip_mts.md.providers import saved_model_calculator

    checkpoint, _ = trained_multiscale
    meta = read_manifest(deployed_ase, target="ase")
    assert meta["fast"]["r_max"] == R_FAST and meta["slow"]["r_max"] == R_SLOW
    _, fast_meta = load_compiled_model(meta["fast"]["path"], device="cpu")
    assert float(fast_meta["r_max"]) == R_FAST  # the compiled fast model carries its own cutoff

    calcs = {
        part: NequIPCalculator.from_compiled_model(meta[part]["path"], device="cpu")
        for part in ("fast", "slow", "sum")
    }
    calcs["eager"] = saved_model_calculator(checkpoint)
    # held-out frames: a new trajectory the model never saw
    held_out = read(make_emt_alloy(tmp_path / "held_out.xyz", num_frames=4, seed=11), index=":")
    for atoms in held_out:
        results = {}
        for name, calc in calcs.items():
            a = atoms.copy()
            a.calc = calc
            results[name] = (a.get_potential_energy(), a.get_forces())
        split_energy = results["fast"][0] + results["slow"][0]
        split_forces = results["fast"][1] + results["slow"][1]
        assert np.abs(results["slow"][1]).max() > 1e-4  # the slow part was trained: it is not zero
        for reference in ("sum", "eager"):
            assert abs(split_energy - results[reference][0]) / len(atoms) < 1e-5
            assert np.abs(split_forces - results[reference][1]).max() < 1e-4


def test_deploy_refuses_a_checkpoint_that_is_not_multiscale(emt_dataset, tmp_path):
    run_command(
        [
            _bin("nequip-train"),
            "-cp",
            str(ROOT / "tests" / "deploy"),
            "-cn",
            "single_model",
            f"data_file={emt_dataset}",
            f"hydra.run.dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
    )
    import subprocess

    proc = subprocess.run(
        [_bin("nequip-mts-deploy"), str(tmp_path / "out" / "last.ckpt"), str(tmp_path / "deployed")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "is not a nequip-mts multiscale model" in proc.stderr
    assert not (tmp_path / "deployed" / "mts_deploy.json").exists()
