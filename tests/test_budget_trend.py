"""benchmarks/budget_trend.py: the direct model difference by hand, the accuracy report's
parsing, and the report on two hand-made budgets."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import budget_trend as bt  # noqa: E402

R = np.arange(0.025, 6.0, 0.05)
BAND = "O-H stretch peak (cm^-1)"


def comparison(shift: float, se: float = 0.01, d_shift: float = 0.0) -> dict:
    """A minimal xtb_comparison JSON whose control RDFs are the baseline's plus ``shift``
    on the compared bins (2-4 A), and whose diffusion differs by ``d_shift``."""
    g = np.where(R > 2.0, 1.0, 0.0)
    curves = {
        "baseline": {p: {"g": g.tolist(), "se": [se] * len(R)} for p in bt.PAIRS},
        "control": {p: {"g": (g + shift).tolist(), "se": [se] * len(R)} for p in bt.PAIRS},
    }
    value = lambda v, s: {"run": v, "run_se": s}  # noqa: E731
    verdict = {"excess": 0.1, "noise": 0.1, "old": 0.5, "new": 0.6, "as_close": True}
    names = [f"g_{p} ({k})" for p in bt.PAIRS for k in ("RMS", "max")]
    names += ["O-H stretch peak", "O-H stretch centroid", "O self-diffusion", "mean temperature"]
    return {
        "rdf_r_A": R.tolist(),
        "rdf": {"baseline": {p: {"bins_r": [2.025, 3.975]} for p in bt.PAIRS}},
        "rdf_curves": curves,
        "vdos": {
            run: {
                BAND: {"peak": value(3500.0 + 30 * (run == "control"), 3.0), "centroid": value(3550.0, 4.0)}
            }
            for run in ("baseline", "control")
        },
        "diffusion": {"baseline": value(10.0, 0.3), "control": value(10.0 + d_shift, 0.4)},
        "temperature": {"baseline": value(350.0, 2.0), "control": value(351.0, 2.0)},
        "verdicts": {"control vs baseline": {n: dict(verdict) for n in names}},
        "runs": {"baseline": {"length_ps": 6.0}, "control": {"length_ps": 6.0}},
        "reference_run": {"production_ps": 11.2},
    }


ACCURACY = """| model | test frames | E MAE | E RMSE | F MAE | F RMSE |
|---|---|---|---|---|---|
| baseline (single Allegro, r=5 A) | all (50) | 1.55 | 1.98 | {b} | 146.0 |
| baseline (single Allegro, r=5 A) | md (36) | 1.32 | 1.72 | 1.0 | 143.6 |
| multiscale sum (fast + slow) | all (50) | 2.11 | 2.54 | {m} | 138.2 |
| fast part alone (r=2.5 A) | all (50) | 114.28 | 114.34 | 165.5 | 220.3 |
"""


def test_direct_differences_by_hand():
    d = bt.direct_differences(comparison(shift=0.05, se=0.01, d_shift=1.5))
    # the shift is uniform on the 40 compared bins: RMS and max both equal it
    assert d["g_OO (RMS)"] == pytest.approx((0.05, np.hypot(0.01, 0.01)))
    assert d["g_HH (max)"] == pytest.approx((0.05, np.hypot(0.01, 0.01)))
    assert d["O-H stretch peak"] == pytest.approx((30.0, np.hypot(3.0, 3.0)))
    assert d["O-H stretch centroid"] == pytest.approx((0.0, np.hypot(4.0, 4.0)))
    assert d["O self-diffusion"] == pytest.approx((1.5, 0.5))
    assert d["mean temperature"] == pytest.approx((1.0, np.hypot(2.0, 2.0)))


def test_bins_outside_the_compared_range_do_not_count():
    cmp = comparison(shift=0.0)
    g = np.asarray(cmp["rdf_curves"]["control"]["OO"]["g"])
    g[R < 2.0] += 5.0  # a difference below the compared bins only
    cmp["rdf_curves"]["control"]["OO"]["g"] = g.tolist()
    assert bt.direct_differences(cmp)["g_OO (max)"][0] == pytest.approx(0.0)


def test_force_maes_reads_the_all_rows(tmp_path):
    path = tmp_path / "accuracy.md"
    path.write_text(ACCURACY.format(b=101.1, m=94.1))
    assert bt.force_maes(path) == {"baseline": 101.1, "multiscale": 94.1, "fast": 165.5}
    path.write_text("# something else\n")
    with pytest.raises(SystemExit, match="not a report of benchmarks/accuracy.py"):
        bt.force_maes(path)


def test_report_of_two_budgets(tmp_path):
    args = []
    for epochs, shift, maes in ((15, 0.05, (101.1, 94.1)), (30, 0.0, (90.0, 88.0))):
        c, a = tmp_path / f"cmp{epochs}.json", tmp_path / f"acc{epochs}.md"
        c.write_text(json.dumps(comparison(shift)))
        a.write_text(ACCURACY.format(b=maes[0], m=maes[1]))
        args += ["--budget", str(epochs), str(c), str(a)]
    out = tmp_path / "trend"
    assert bt.main([*args, "--out", str(out)]) == 0
    text = out.with_suffix(".md").read_text()
    assert "| 15 | 101.1 | 94.1 | 0.93x | 165.5 |" in text
    assert "| 30 | 90.0 | 88.0 | 0.98x | 165.5 |" in text
    # the 15-epoch RDFs differ by 0.05 / 0.0141 = 3.5 noise; the 30-epoch ones not at all
    row = next(line for line in text.splitlines() if line.startswith("| g_OO (RMS) |"))
    assert "0.05 (3.5)" in row and "0 (0.0)" in row
    assert out.with_suffix(".png").stat().st_size > 10_000
    saved = json.loads(out.with_suffix(".json").read_text())
    assert [b["epochs"] for b in saved["budgets"]] == [15, 30]


def test_bad_epochs_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="whole number"):
        bt.main(["--budget", "x", "a.json", "b.md"])
    with pytest.raises(SystemExit, match="no file"):
        bt.main(["--budget", "15", str(tmp_path / "missing.json"), str(tmp_path / "missing.md")])
