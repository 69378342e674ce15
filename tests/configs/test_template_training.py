"""The template trains on data it was not written for: another frame count, no stress."""

import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))

from e2e_helpers import _bin, run_command  # noqa: E402
from emt_data import make_emt_alloy  # noqa: E402

from nequip_mts.resources import CONFIG_PATH  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", ["multiscale", "baseline"])
def test_template_trains_on_other_data_without_stress(name, tmp_path):
    # 27 frames (the split is in fractions), energies and forces only (stress: auto)
    data = make_emt_alloy(tmp_path / "no_stress.xyz", num_frames=27, seed=1, stress=False)
    out = tmp_path / "out"
    proc = run_command(
        [
            _bin("nequip-train"),
            "-cp",
            CONFIG_PATH,
            "-cn",
            name,
            f"data_file={data}",
            "model_type_names=[Au,Cu]",
            # epoch-limiting overrides only
            "max_epochs=2",
            *(["stage1_epochs=1"] if name == "multiscale" else []),
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={out}",
        ],
        cwd=tmp_path,
    )
    assert (out / "last.ckpt").exists()
    log = proc.stdout + proc.stderr
    assert "F_MAE" in log and "stress_MAE" not in log
