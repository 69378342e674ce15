"""The main job (`nequip-mts demo`) on the bundled water models, shortened.

The demo compiles the models into the model cache; these tests give it a cache directory
of their own (shared by the module), so the first test compiles and the rest reuse.
"""

import os
import subprocess
import sys

import pytest
from ase.io import read

from nequip_mts.resources import BUNDLED_MODELS, bundled_model

BUNDLED = [bundled_model(name) for name in BUNDLED_MODELS]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(p.exists() for p in BUNDLED), reason="bundled models missing"),
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("model_cache")


def demo(tmp_path, model_cache, *args):
    cmd = [
        sys.executable,
        "-m",
        "nequip_mts",
        "demo",
        "--replicate",
        "1",
        "1",
        "1",
        "--workdir",
        str(tmp_path),
        "--no-progress",
        *args,
    ]
    env = dict(os.environ, NEQUIP_MTS_CACHE_DIR=str(model_cache))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


def test_demo_reports_speedup_and_rdf_comparison(tmp_path, model_cache):
    out = demo(tmp_path, model_cache, "--time-ps", "0.03")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(compiled)" in out.stdout
    # an empty cache: the baseline and the multiscale model are compiled, each said in one line
    assert out.stdout.count("nequip-mts: compiling") == 2, out.stdout
    assert "speedup of MTS (outer step 3 fs) over single-step baseline MD" in out.stdout
    # 30 fs is far too short to judge structure: the demo says so instead of printing noise
    assert "too short to compare structure" in out.stdout
    assert "Warning" not in out.stderr and "warn" not in out.stderr.lower()
    png = tmp_path / "demo.png"
    assert png.stat().st_size > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the second run finds both in the cache
    again = demo(tmp_path / "again", model_cache, "--time-ps", "0.015")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "compiling" not in again.stdout and "speedup of MTS" in again.stdout


def test_demo_runs_eager_models(tmp_path, model_cache):
    out = demo(tmp_path, model_cache, "--time-ps", "0.015", "--eager")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(eager)" in out.stdout and "compiling" not in out.stdout


def test_demo_stops_on_a_blow_up_and_keeps_the_last_good_frame(tmp_path, model_cache):
    # a 4 fs single step with hydrogen is far beyond stable: the guard must stop the run
    out = demo(tmp_path, model_cache, "--timestep-fs", "8", "--inner-steps", "2", "--time-ps", "2", "--eager")
    assert out.returncode == 3, (out.stdout[-1000:], out.stderr[-2000:])
    assert "MD became unstable at step" in out.stderr
    last_good = tmp_path / "baseline.last_good.extxyz"
    assert last_good.exists()
    frame = read(last_good)
    assert frame.get_temperature() < 2000.0 and len(frame) == 96
