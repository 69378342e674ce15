"""Session fixtures shared by the end-to-end tests: a multiscale model trained with
``nequip-train`` on EMT data, and its compiled parts from ``nequip-mts-deploy``."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from e2e_helpers import EMT_TYPE_NAMES, R_FAST, R_SLOW, _bin, run_command  # noqa: E402

from nequip_mts.resources import CONFIG_PATH  # noqa: E402


@pytest.fixture(scope="session")
def emt_dataset(tmp_path_factory):
    from emt_data import make_emt_alloy

    return make_emt_alloy(tmp_path_factory.mktemp("data") / "emt_alloy.xyz", num_frames=40, seed=0)


@pytest.fixture(scope="session")
def trained_multiscale(tmp_path_factory, emt_dataset):
    """Train the tutorial config on EMT data (2 + 2 epochs); returns (checkpoint, stdout+stderr)."""
    workdir = tmp_path_factory.mktemp("train")
    proc = run_command(
        [
            _bin("nequip-train"),
            "-cp",
            CONFIG_PATH,  # the shipped configs, as users name them
            "-cn",
            "tutorial",
            f"data_file={emt_dataset}",
            f"model_type_names=[{','.join(EMT_TYPE_NAMES)}]",
            f"r_max_fast={R_FAST}",
            f"r_max_slow={R_SLOW}",
            "stage1_epochs=2",
            "max_epochs=4",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={workdir / 'out'}",
        ],
        cwd=workdir,
    )
    checkpoint = workdir / "out" / "last.ckpt"
    assert checkpoint.exists()
    return checkpoint, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def deployed_ase(tmp_path_factory, trained_multiscale):
    """The trained multiscale model split and compiled for ASE (fast, slow, sum)."""
    checkpoint, _ = trained_multiscale
    out = tmp_path_factory.mktemp("deployed_ase")
    run_command([_bin("nequip-mts-deploy"), str(checkpoint), str(out), "--target", "ase"], cwd=out)
    return out
