#!/usr/bin/env python
"""Does the co-trained composite's difference from the conventional model shrink with the
training budget? (issue 14, point 4)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/budget_trend.py \\
        --budget 15 benchmarks/results/xtb_comparison.json benchmarks/results/accuracy.md \\
        --budget 30 benchmarks/results/budget_2x/xtb_comparison.json benchmarks/results/budget_2x/accuracy.md

Each ``--budget EPOCHS COMPARISON ACCURACY`` names the training epochs of one pair of models
(baseline and multiscale, same data, split and recipe), the JSON that ``xtb_comparison.py``
wrote for their runs and the report of ``accuracy.py`` for them. For each budget and
observable it tabulates

* the distance of the baseline and of the composite (the control: a single 0.5 fs step) to
  the GFN1-xTB reference, and the composite's excess with its noise (``xtb_comparison``'s
  answer);
* the **direct difference** between the two models' runs: for an RDF the RMS over the
  compared bins of |g_baseline - g_control| (noise: the RMS of their combined block SE), for
  the VDOS bands, diffusion and temperature the difference of the two values (noise: the
  combined SE).

A difference that is the models' (not sampling) shows as |difference| / noise well above 2;
it shrinks with the budget when that ratio falls. Writes ``--out``.md and ``--out``.png
(default ``benchmarks/results/budget_trend``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from systems import shown  # noqa: E402

PAIRS = ("OO", "OH", "HH")
#: the two runs compared directly: the conventional model and the composite at the same step
OLD, NEW = "baseline", "control"


def force_maes(accuracy_md: Path) -> dict:
    """Force MAEs (meV/A) on all test frames from an ``accuracy.py`` report:
    ``{"baseline": ..., "multiscale": ..., "fast": ...}``."""
    found = {}
    for line in Path(accuracy_md).read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[1].startswith("all"):
            for key, start in (("baseline", "baseline"), ("multiscale", "multiscale"), ("fast", "fast part")):
                if cells[0].startswith(start):
                    found[key] = float(cells[4])
    if set(found) != {"baseline", "multiscale", "fast"}:
        raise SystemExit(
            f"{accuracy_md}: not a report of benchmarks/accuracy.py (no 'all' rows for the three models)"
        )
    return found


def direct_differences(cmp: dict) -> dict:
    """Observable -> (|baseline - control|, noise) of one ``xtb_comparison`` JSON."""
    r = np.asarray(cmp["rdf_r_A"])
    out = {}
    for pair in PAIRS:
        lo, hi = cmp["rdf"][OLD][pair]["bins_r"]
        sel = (r >= lo - 1e-9) & (r <= hi + 1e-9)
        a, b = (cmp["rdf_curves"][k][pair] for k in (OLD, NEW))
        dg = np.asarray(a["g"])[sel] - np.asarray(b["g"])[sel]
        se = np.hypot(np.asarray(a["se"])[sel], np.asarray(b["se"])[sel])
        name = f"g_{pair}"
        out[f"{name} (RMS)"] = (float(np.sqrt(np.mean(dg**2))), float(np.sqrt(np.mean(se**2))))
        out[f"{name} (max)"] = (float(np.max(np.abs(dg))), float(np.max(se)))
    for band, values in cmp["vdos"][OLD].items():
        short = band.replace(" peak (cm^-1)", "")
        for what in ("peak", "centroid"):
            a, b = values[what], cmp["vdos"][NEW][band][what]
            out[f"{short} {what}"] = (abs(a["run"] - b["run"]), float(np.hypot(a["run_se"], b["run_se"])))
    for key, label in (("diffusion", "O self-diffusion"), ("temperature", "mean temperature")):
        a, b = cmp[key][OLD], cmp[key][NEW]
        out[label] = (abs(a["run"] - b["run"]), float(np.hypot(a["run_se"], b["run_se"])))
    return out


def budget_rows(epochs: int, comparison: Path, accuracy: Path) -> dict:
    cmp = json.loads(Path(comparison).read_text())
    verdict = cmp["verdicts"][f"{NEW} vs {OLD}"]
    direct = direct_differences(cmp)
    lengths = {k: v["length_ps"] for k, v in cmp["runs"].items()}
    return {
        "epochs": epochs,
        "comparison": shown(comparison),
        "accuracy": shown(accuracy),
        "force_mae": force_maes(accuracy),
        "run_ps": lengths[OLD],
        "reference_ps": cmp["reference_run"]["production_ps"],
        "observables": {
            name: {
                "d_baseline": v["old"],
                "d_composite": v["new"],
                "excess": v["excess"],
                "excess_noise": v["noise"],
                "as_close": v["as_close"],
                "difference": direct[name][0],
                "difference_noise": direct[name][1],
            }
            for name, v in verdict.items()
            if name in direct
        },
    }


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def report(budgets: list, command: str) -> str:
    lines = [
        "# Training budget: co-trained composite against the conventional model (issue 14, point 4)",
        "",
        f"Command: `{command}`  ",
        "Inputs: "
        + "; ".join(f"{b['epochs']} epochs: [{b['comparison']}], [{b['accuracy']}]" for b in budgets)
        + ".  ",
        "Both models of a budget were trained with `benchmarks/train_models.py` on the same data, split and "
        "seed; the runs are `md_physics.py --control` (96 atoms, 350 K, Bussi, 0.5 fs), "
        + ", ".join(f"{b['run_ps']:g} ps each at {b['epochs']} epochs" for b in budgets)
        + f"; the GFN1-xTB reference has {budgets[0]['reference_ps']:.1f} ps of production.",
        "",
        "## Force error on the test split (meV/A)",
        "",
        "| epochs | baseline | composite (sum) | ratio | fast part alone |",
        "|---|---|---|---|---|",
    ]
    for b in budgets:
        m = b["force_mae"]
        lines.append(
            f"| {b['epochs']} | {m['baseline']:.1f} | {m['multiscale']:.1f} | {m['multiscale'] / m['baseline']:.2f}x | {m['fast']:.1f} |"
        )
    lines += [
        "",
        "## Distances to the GFN1-xTB reference, and the two models' direct difference",
        "",
        "d: distance of each model's run to the reference (RDFs: RMS or max |dg| over the compared bins; "
        "the others: |difference| in their units: cm^-1, 1e-5 cm^2/s, K). Excess: d_composite - d_baseline "
        "in units of its noise (as close when <= 2). Difference: |baseline run - composite run| directly, "
        "in units of its noise (the models differ, beyond sampling, when it is well above 2).",
        "",
        "| observable | "
        + " | ".join(
            f"{b['epochs']} ep: d baseline / composite | {b['epochs']} ep: excess / noise | {b['epochs']} ep: difference (/ noise)"
            for b in budgets
        )
        + " |",
        "|---|" + "---|---|---|" * len(budgets),
    ]
    for name in budgets[0]["observables"]:
        cells = []
        for b in budgets:
            o = b["observables"][name]
            cells += [
                f"{fmt(o['d_baseline'])} / {fmt(o['d_composite'])}",
                f"{o['excess'] / o['excess_noise']:+.1f}" + ("" if o["as_close"] else " (farther)"),
                f"{fmt(o['difference'])} ({o['difference'] / o['difference_noise']:.1f})",
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Summary", ""]
    for b in budgets:
        obs = b["observables"].values()
        n_close = sum(o["as_close"] for o in obs)
        n_differ = sum(o["difference"] > 2 * o["difference_noise"] for o in obs)
        lines.append(
            f"- **{b['epochs']} epochs:** the composite is as close to GFN1-xTB as the baseline for "
            f"{n_close} of {len(obs)} observables; the two models' runs differ by more than 2 noise for "
            f"{n_differ} of {len(obs)}; median difference / noise {np.median([o['difference'] / o['difference_noise'] for o in obs]):.1f}."
        )
    return "\n".join(lines) + "\n"


def plot(budgets: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(budgets[0]["observables"])
    y = np.arange(len(names))
    height = 0.8 / len(budgets)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(names) + 1.8), sharey=True)
    for i, b in enumerate(budgets):
        obs = [b["observables"][n] for n in names]
        off = (i - (len(budgets) - 1) / 2) * height
        axes[0].barh(
            y + off,
            [o["difference"] / o["difference_noise"] for o in obs],
            height,
            label=f"{b['epochs']} epochs",
        )
        axes[1].barh(
            y + off, [o["excess"] / o["excess_noise"] for o in obs], height, label=f"{b['epochs']} epochs"
        )
    axes[0].axvline(2, color="k", ls="--", lw=0.8)
    axes[0].set_xlabel("|baseline run - composite run| / noise")
    axes[0].set_title("direct difference of the two models")
    for x in (-2, 2):
        axes[1].axvline(x, color="k", ls="--", lw=0.8)
    axes[1].axvline(0, color="k", lw=0.5)
    axes[1].set_xlabel("(d_composite - d_baseline) / noise  (< 0: composite nearer)")
    axes[1].set_title("distance to GFN1-xTB: composite's excess")
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right")
    fig.suptitle("Water, co-trained composite vs conventional model, by training budget")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--budget",
        nargs=3,
        action="append",
        required=True,
        metavar=("EPOCHS", "COMPARISON_JSON", "ACCURACY_MD"),
        help="one training budget: its epochs, xtb_comparison.py's JSON and accuracy.py's report",
    )
    p.add_argument("--out", type=Path, default=HERE / "results" / "budget_trend", help="report stem")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    budgets = []
    for epochs, comparison, accuracy in args.budget:
        if not re.fullmatch(r"\d+", epochs):
            raise SystemExit(f"--budget {epochs}: the first value is the number of epochs, a whole number")
        for f in (comparison, accuracy):
            if not Path(f).is_file():
                raise SystemExit(f"--budget {epochs}: no file {f}")
        budgets.append(budget_rows(int(epochs), Path(comparison), Path(accuracy)))
    budgets.sort(key=lambda b: b["epochs"])
    command = (
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python benchmarks/budget_trend.py "
        + " ".join(f"--budget {e} {shown(Path(c))} {shown(Path(a))}" for e, c, a in args.budget)
    )
    if args.out != HERE / "results" / "budget_trend":
        command += f" --out {shown(args.out)}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = report(budgets, command)
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps({"command": command, "budgets": budgets}, indent=1) + "\n"
    )
    plot(budgets, args.out.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
