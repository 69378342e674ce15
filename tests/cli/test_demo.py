"""The main job (`nequip-mts demo`) on the bundled water models, shortened."""

import subprocess
import sys
from pathlib import Path

import pytest
from ase.io import read

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = [ROOT / "benchmarks" / "models" / f"water_{n}.nequip.zip" for n in ("baseline", "multiscale")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(p.exists() for p in BUNDLED), reason="bundled models missing"),
]


def demo(tmp_path, *args):
    cmd = [sys.executable, "-m", "nequip_mts.cli.main", "demo", "--replicate", "1", "1", "1",
           "--workdir", str(tmp_path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_demo_reports_speedup_and_rdf_comparison(tmp_path):
    out = demo(tmp_path, "--time-fs", "30")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "speedup of MTS (outer step 3.0 fs) over single-step baseline MD" in out.stdout
    assert "RDF max |dg| baseline vs MTS" in out.stdout


def test_demo_stops_on_a_blow_up_and_keeps_the_last_good_frame(tmp_path):
    # a 4 fs single step with hydrogen is far beyond stable: the guard must stop the run
    out = demo(tmp_path, "--inner-fs", "4", "--time-fs", "2000", "--inner-steps", "2")
    assert out.returncode == 3, (out.stdout[-1000:], out.stderr[-2000:])
    assert "MD became unstable at step" in out.stderr
    last_good = tmp_path / "baseline.last_good.extxyz"
    assert last_good.exists()
    frame = read(last_good)
    assert frame.get_temperature() < 2000.0 and len(frame) == 96
