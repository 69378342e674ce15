#!/usr/bin/env python
"""Three water MD runs of ``md_physics.py`` against the long GFN1-xTB reference (issue 14, point 3).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/xtb_comparison.py

Reads the reference observables of ``xtb_reference_observables.py`` (its JSON: curves,
peaks and their block standard errors) and the NVT trajectories of
``md_physics.py --control`` (``physics_baseline``: the conventional model at 0.5 fs;
``physics_control``: the co-trained composite at a single 0.5 fs step; ``physics_MTS``:
the composite with r-RESPA), analyses each run with the reference script's own
functions (:func:`xtb_reference_observables.rdf_observables`, ``vdos_observables``,
``diffusion_observables``, with the same ``--blocks``) and reports, per run and
observable, the distance to the reference beside its sampling noise:

* intermolecular g_OO, g_OH, g_HH: max over r of |g_run - g_ref|, its RMS over the bins
  where the reference or a run has g > ``RDF_MIN_G``, the combined block SE sqrt(se_run^2 + se_ref^2) (its max
  and RMS over r) and |dg| in units of the combined SE per bin (max and RMS over the
  same bins); the first peaks;
* VDOS O-H stretch and H-O-H bend: peak and centroid, each with its block SE;
* O self-diffusion, fitted on the reference's MSD window, with its block error;
* mean temperature on the 3N - 3 internal degrees of freedom (the reference's count).

Then it answers, observable by observable: is the control as close to the reference as
the baseline, and is MTS as close as the control? A run ("new") is called as close as
another ("old") when its distance exceeds the other's by at most ``SIGMAS`` times the
sampling noise of the difference of the two runs (see :func:`closeness`).

Writes ``--out``.md, ``--out``.json and ``--out``.png (default
``benchmarks/results/xtb_comparison``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import systems  # noqa: E402
import xtb_reference_observables as xro  # noqa: E402

#: the runs of ``md_physics.py --control``: label -> (file in --runs-dir, what it is)
RUNS = {
    "baseline": ("physics_baseline.extxyz", "conventional Allegro model, single step"),
    "control": ("physics_control.extxyz", "co-trained composite (fast + slow), single step"),
    "MTS": ("physics_MTS.extxyz", "co-trained composite, r-RESPA (fast inner, slow outer)"),
}
#: the questions of the answer: is the first run as close to the reference as the second?
QUESTIONS = (("control", "baseline"), ("MTS", "control"))
#: RDF bins with g_ref above this enter the RMS distances (the liquid's range, not the core)
RDF_MIN_G = 0.05
#: short contacts (:func:`short_contacts`) with g above this are named in the answer
SHORT_CONTACT_FLAG_G = 0.1
#: a run is as close as another if its distance exceeds the other's by at most this many sigma
SIGMAS = 2.0
#: ``md_physics.py``'s production thermostat time (its ``taut_prod``; the trajectories do not
#: record it; tests/test_xtb_comparison.py checks it against md_physics.py's source)
MD_PHYSICS_TAUT_FS = 100.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=ROOT / "runs" / "md_physics_new",
        help="md_physics.py's --runs-dir with " + ", ".join(f for f, _ in RUNS.values()),
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=HERE / "results" / "xtb_reference.json",
        help="the JSON of xtb_reference_observables.py",
    )
    p.add_argument(
        "--blocks",
        type=int,
        default=xro.parse_args([]).blocks,
        help="blocks of the runs' standard errors (even, >= 4; the reference's default)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "xtb_comparison",
        help="report stem: <out>.md, <out>.json, <out>.png",
    )
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    a = p.parse_args(argv)
    if a.blocks < 4 or a.blocks % 2:
        p.error("--blocks must be even and at least 4")
    return a


# ----------------------------------------------------------------------------- distances
def combined_noise(*se) -> np.ndarray:
    """sqrt(sum of squares) of standard errors of independent runs (elementwise)."""
    return np.sqrt(sum(np.asarray(s, dtype=float) ** 2 for s in se))


def rdf_mask(curves, min_g: float = RDF_MIN_G) -> np.ndarray:
    """The RDF bins where any of ``curves`` (reference and runs, one grid) exceeds ``min_g``.

    The same bins for every run compared, so that RMS distances of two runs can be set
    against each other (:func:`closeness`); the bins where only a run has pairs count too.
    """
    return np.any([np.asarray(g, dtype=float) > min_g for g in curves], axis=0)


def rdf_distance(g_run, se_run, g_ref, se_ref, r, mask=None, min_g: float = RDF_MIN_G) -> dict:
    """Distance of one RDF to the reference's, and its noise.

    ``max_abs`` (at ``max_abs_r``): max over all r of |g_run - g_ref|; ``noise_at_max_abs``:
    the combined SE there. ``rms``: sqrt(mean dg^2) over the bins of ``mask`` (default:
    where g_ref > ``min_g``; :func:`compare` passes :func:`rdf_mask` of all curves).
    ``noise_max`` / ``noise_rms``: max over all r / RMS over those bins of the combined SE
    sqrt(se_run^2 + se_ref^2). ``z_max`` (at ``z_max_r``) / ``z_rms``: max / RMS over those
    bins (where the combined SE is > 0) of |dg| / combined SE.
    """
    g_run, g_ref, r = (np.asarray(x, dtype=float) for x in (g_run, g_ref, r))
    dg = g_run - g_ref
    noise = combined_noise(se_run, se_ref)
    m = g_ref > min_g if mask is None else np.asarray(mask, dtype=bool)
    if not m.any():
        raise ValueError("no RDF bin to average over")
    ok = m & (noise > 0)
    z = np.abs(dg[ok]) / noise[ok]
    k = int(np.argmax(np.abs(dg)))
    out = {
        "max_abs": float(np.abs(dg[k])),
        "max_abs_r": float(r[k]),
        "noise_at_max_abs": float(noise[k]),
        "rms": float(np.sqrt(np.mean(dg[m] ** 2))),
        "noise_max": float(noise.max()),
        "noise_rms": float(np.sqrt(np.mean(noise[m] ** 2))),
        "n_bins": int(m.sum()),
        "bins_r": [float(r[m].min()), float(r[m].max())],
    }
    if z.size:
        out |= {
            "z_max": float(z.max()),
            "z_max_r": float(r[ok][np.argmax(z)]),
            "z_rms": float(np.sqrt(np.mean(z**2))),
        }
    else:
        out |= {"z_max": float("nan"), "z_max_r": float("nan"), "z_rms": float("nan")}
    return out


def scalar_distance(x_run: float, se_run: float, x_ref: float, se_ref: float) -> dict:
    """``diff`` = run - reference, ``noise`` = sqrt(se_run^2 + se_ref^2), ``sigma`` = |diff| / noise."""
    diff = float(x_run) - float(x_ref)
    noise = float(np.hypot(se_run, se_ref))
    return {
        "run": float(x_run),
        "run_se": float(se_run),
        "ref": float(x_ref),
        "ref_se": float(se_ref),
        "diff": diff,
        "noise": noise,
        "sigma": abs(diff) / noise if noise > 0 else (0.0 if diff == 0 else float("inf")),
    }


def closeness(dist_new: float, dist_old: float, noise_between: float, sigmas: float = SIGMAS) -> dict:
    """Is a run ("new") as close to the reference as another ("old")?

    ``excess`` = dist_new - dist_old. By the triangle inequality (for an RMS over the same
    bins, Minkowski's) |excess| is at most the distance between the two runs themselves.
    When the two runs sample the same observable, that distance is their sampling noise,
    ``noise_between`` (sqrt(se_new^2 + se_old^2); for an RDF's RMS distance its RMS over the
    bins of that RMS, for its max distance its max over r, a rough bound): ``as_close`` is excess <= ``sigmas`` x noise_between, whatever the
    reference's own noise.
    """
    excess = float(dist_new) - float(dist_old)
    if noise_between > 0:
        ratio = excess / noise_between
    else:
        ratio = 0.0 if excess == 0 else float(np.copysign(np.inf, excess))
    return {
        "new": float(dist_new),
        "old": float(dist_old),
        "excess": excess,
        "noise": float(noise_between),
        "excess_sigma": ratio,
        "as_close": bool(excess <= sigmas * noise_between),
    }


# ----------------------------------------------------------------------------- one run
def temperatures(velocities_A_fs: np.ndarray, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame temperatures (K): on the 3N - 3 internal dof (centre-of-mass motion taken
    out, the reference's count) and on 3N dof (``ase.Atoms.get_temperature``, md_physics.py's)."""
    from ase import units

    v = np.asarray(velocities_A_fs, dtype=float) / units.fs  # A per ASE time unit
    m = np.asarray(masses, dtype=float)
    ekin = 0.5 * np.einsum("a,fai->f", m, v**2)
    p = np.einsum("a,fai->fi", m, v)
    ekin_com = 0.5 * (p**2).sum(axis=1) / m.sum()
    n = v.shape[1]
    return 2.0 * (ekin - ekin_com) / ((3 * n - 3) * units.kB), 2.0 * ekin / (3 * n * units.kB)


def analyse_run(path: Path, options, bands: dict, n_blocks: int, window_ps) -> dict:
    """The reference script's observables of one ``md_physics.py`` trajectory.

    The frames are put on their ``md_time_fs`` grid as ``nequip-mts analyze`` does
    (:func:`nequip_mts.analysis.frames.regular_frames`); positions unwrapped (MSD) and
    wrapped into the box (RDFs, as the reference's frames); the O self-diffusion is fitted
    on ``window_ps`` (the reference's window).
    """
    from ase.io import read

    from nequip_mts.analysis.diffusion import unwrap_positions
    from nequip_mts.analysis.frames import (
        frame_times_fs,
        regular_frames,
        stack_cells,
        stack_positions,
        stack_velocities,
    )
    from nequip_mts.md.runner import STEP_KEY

    frames, spacing, dropped = regular_frames(read(path, index=":"))
    t = frame_times_fs(frames)
    first = frames[0]
    masses = first.get_masses()
    steps = [f.info.get(STEP_KEY) for f in frames]
    step_fs = spacing / float(np.median(np.diff(steps))) if None not in steps else None
    unwrapped = unwrap_positions(stack_positions(frames), stack_cells(frames), first.pbc)
    velocities = stack_velocities(frames)
    wrapped = []
    for f in frames:
        a = f.copy()
        a.wrap()
        wrapped.append(a)
    opts = dataclasses.replace(options, diffusion_window_ps=tuple(window_ps))
    try:
        diffusion = xro.diffusion_observables(unwrapped, masses, first, spacing, opts)
    except ValueError as err:
        raise SystemExit(f"{path}: O self-diffusion on the reference's window {tuple(window_ps)} ps: {err}")
    t_int, t_3n = temperatures(velocities, masses)
    return {
        "info": {
            "n_frames": len(frames),
            "dropped_off_grid": int(dropped),
            "spacing_fs": float(spacing),
            "t_ps": [float(t[0]) / 1000.0, float(t[-1]) / 1000.0],
            "length_ps": len(frames) * float(spacing) / 1000.0,
            "step_fs": step_fs,
            "n_atoms": len(first),
            "molecules": xro.molecule_counts(first),
            "velocities": True,
        },
        "rdf": xro.rdf_observables(wrapped, options, n_blocks),
        "vdos": xro.vdos_observables(velocities, masses, spacing, bands, n_blocks),
        "diffusion": diffusion,
        "temperature": xro.mean_with_error(t_int, n_blocks),
        "temperature_3N": xro.mean_with_error(t_3n, n_blocks),
    }


# ----------------------------------------------------------------------------- comparison
def compare(ref: dict, runs: dict) -> dict:
    """Distances of every run in ``runs`` (label -> :func:`analyse_run`) to ``ref`` (the
    reference JSON), and the answers to :data:`QUESTIONS` among the runs present."""
    r_ref = np.asarray(ref["rdf"]["r_A"], dtype=float)
    for label, run in runs.items():
        if run["rdf"]["r"].shape != r_ref.shape or not np.allclose(run["rdf"]["r"], r_ref, atol=1e-6):
            raise SystemExit(f"{label}: RDF grid differs from the reference's")
    masks = rdf_masks(ref, runs)
    out = {"rdf": {}, "vdos": {}, "diffusion": {}, "temperature": {}}
    for label, run in runs.items():
        rdf = run["rdf"]
        out["rdf"][label] = {}
        for key, p_ref in ref["rdf"]["pairs"].items():
            p = rdf["pairs"][key]
            g_ref, se_ref = np.asarray(p_ref["g"], float), np.asarray(p_ref["se"], float)
            d = rdf_distance(p["g"], p["se"], g_ref, se_ref, r_ref, mask=masks[key])
            (r1, g1), (r0, g0) = p["first_peak"], p_ref["first_peak"]
            se_at = lambda se, x: float(np.asarray(se)[np.argmin(np.abs(r_ref - x))])  # noqa: E731
            d["first_peak"] = {
                "run_r": r1,
                "ref_r": r0,
                "diff_r": r1 - r0,
                **{
                    f"height_{k}": v
                    for k, v in scalar_distance(g1, se_at(p["se"], r1), g0, se_at(se_ref, r0)).items()
                },
            }
            d["short_contacts"] = short_contacts(p["g"], g_ref, r_ref, r0)
            out["rdf"][label][key] = d
        out["vdos"][label] = {}
        for name, pk_ref in ref["vdos"]["peaks"].items():
            pk = run["vdos"]["peaks"][name]
            out["vdos"][label][name] = {
                "peak": scalar_distance(
                    pk["peak_cm1"], pk["block_se_cm1"], pk_ref["peak_cm1"], pk_ref["block_se_cm1"]
                ),
                "centroid": scalar_distance(
                    pk["centroid_cm1"],
                    pk["centroid_block_se_cm1"],
                    pk_ref["centroid_cm1"],
                    pk_ref["centroid_block_se_cm1"],
                ),
            }
        res, dref = run["diffusion"]["result"], ref["diffusion"]
        out["diffusion"][label] = scalar_distance(
            res.D_cgs, res.D_err_cgs, dref["D_1e-5cm2_s"], dref["err_1e-5cm2_s"]
        )
        out["diffusion"][label]["window_ps"] = list(res.window_ps)
        tr, tref = run["temperature"], ref["temperature_K"]
        out["temperature"][label] = scalar_distance(tr["mean"], tr["se"], tref["mean"], tref["se"])
        out["temperature"][label]["mean_3N_dof"] = run["temperature_3N"]["mean"]
    out["verdicts"] = verdicts(out, runs, masks)
    return out


def short_contacts(g_run, g_ref, r, ref_peak_r: float, min_g: float = RDF_MIN_G) -> dict:
    """Pairs closer than the reference has them: the largest g_run (and its r) over the bins
    below the reference's first peak where g_ref <= ``min_g`` (0 if there are none)."""
    g_run, g_ref, r = (np.asarray(x, dtype=float) for x in (g_run, g_ref, r))
    m = (g_ref <= min_g) & (r < ref_peak_r)
    if not m.any() or g_run[m].max() <= 0:
        return {"max_g": 0.0, "r": float("nan")}
    k = int(np.argmax(np.where(m, g_run, -np.inf)))
    return {"max_g": float(g_run[k]), "r": float(r[k])}


def rdf_masks(ref: dict, runs: dict) -> dict:
    """:func:`rdf_mask` of every pair over the reference and all ``runs``."""
    return {
        key: rdf_mask([p["g"], *(run["rdf"]["pairs"][key]["g"] for run in runs.values())])
        for key, p in ref["rdf"]["pairs"].items()
    }


def observables(comp: dict) -> list[tuple[str, callable]]:
    """(name, distance of a run) of every observable the answer covers."""
    labels = list(comp["rdf"])
    rows = []
    for k in comp["rdf"][labels[0]]:
        rows.append((f"g_{k} (RMS)", lambda lab, k=k: comp["rdf"][lab][k]["rms"]))
        rows.append((f"g_{k} (max)", lambda lab, k=k: comp["rdf"][lab][k]["max_abs"]))
    for name in comp["vdos"][labels[0]]:
        short = name.replace(" peak (cm^-1)", "")
        for kind in ("peak", "centroid"):
            rows.append((f"{short} {kind}", lambda lab, n=name, k=kind: abs(comp["vdos"][lab][n][k]["diff"])))
    rows.append(("O self-diffusion", lambda lab: abs(comp["diffusion"][lab]["diff"])))
    rows.append(("mean temperature", lambda lab: abs(comp["temperature"][lab]["diff"])))
    return rows


def verdicts(comp: dict, runs: dict, masks: dict) -> dict:
    """:func:`closeness` of every observable for the :data:`QUESTIONS` whose two runs are present.

    The noise of the two runs' difference: sqrt(se_new^2 + se_old^2); for an RDF's RMS
    distance its RMS over the bins of the RMS (``masks``), for its max distance its max over r.
    """

    def noise_between(name, new, old):
        if name.startswith("g_"):
            key, kind = name[2:].split()
            se2 = sum(runs[lab]["rdf"]["pairs"][key]["se"] ** 2 for lab in (new, old))
            if kind == "(max)":
                return float(np.sqrt(se2.max()))
            return float(np.sqrt(np.mean(se2[masks[key]])))
        if name == "O self-diffusion":
            return float(np.hypot(*(comp["diffusion"][lab]["run_se"] for lab in (new, old))))
        if name == "mean temperature":
            return float(np.hypot(*(comp["temperature"][lab]["run_se"] for lab in (new, old))))
        band, kind = name.rsplit(" ", 1)
        full = next(n for n in comp["vdos"][new] if n.startswith(band))
        return float(np.hypot(*(comp["vdos"][lab][full][kind]["run_se"] for lab in (new, old))))

    out = {}
    for new, old in QUESTIONS:
        if new in runs and old in runs:
            out[f"{new} vs {old}"] = {
                name: closeness(dist(new), dist(old), noise_between(name, new, old))
                for name, dist in observables(comp)
            }
    return out


def answer(comp: dict) -> str:
    """The short answer paragraph, from the numbers of :func:`compare`."""
    parts = []
    for question, rows in comp["verdicts"].items():
        new, old = question.split(" vs ")
        close = [n for n, v in rows.items() if v["as_close"]]
        far = [n for n, v in rows.items() if not v["as_close"]]
        closer = [n for n, v in rows.items() if v["excess"] < 0]
        text = f"**Is {new} as close to GFN1-xTB as {old}?** "
        if not far:
            text += "Yes, for every observable"
        elif not close:
            text += "No, for no observable"
        else:
            text += "As close (within noise) for " + ", ".join(close)
        if far:
            text += (
                ("; " if close else ": ")
                + "farther for "
                + ", ".join(
                    f"{n} (by {rows[n]['excess']:.3g} = {rows[n]['excess_sigma']:.1f} sigma)" for n in far
                )
            )
        text += (
            f". Closer than {old} (excess < 0) for " + ", ".join(closer) + "."
            if closer
            else f". Closer than {old} for none."
        )
        parts.append(text)
    labels = list(comp["rdf"])
    agree = []
    for lab in labels:
        ok = [f"g_{k}" for k, d in comp["rdf"][lab].items() if d["z_rms"] <= SIGMAS]
        for name, bands in comp["vdos"][lab].items():
            short = name.replace(" peak (cm^-1)", "")
            ok += [f"{short} {k}" for k, d in bands.items() if d["sigma"] <= SIGMAS]
        ok += ["O diffusion"] * (comp["diffusion"][lab]["sigma"] <= SIGMAS)
        ok += ["temperature"] * (comp["temperature"][lab]["sigma"] <= SIGMAS)
        agree.append(f"{lab}: " + (", ".join(ok) if ok else "none"))
    flagged = [
        f"{lab} g_{key} {d['short_contacts']['max_g']:.2f} at {d['short_contacts']['r']:.3f} A"
        for lab in labels
        for key, d in comp["rdf"][lab].items()
        if d["short_contacts"]["max_g"] > SHORT_CONTACT_FLAG_G
    ]
    if flagged:
        parts.append(
            f"Short contacts (g > {SHORT_CONTACT_FLAG_G:g} where the reference has g <= {RDF_MIN_G:g}, "
            "inside its first shell): " + "; ".join(flagged) + "."
        )
    parts.append(
        f"Within {SIGMAS:g} combined SE of the reference itself (RDFs: RMS of |dg|/SE over r): "
        + "; ".join(agree)
        + "."
    )
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- output
def shown(path) -> str:
    """``path`` relative to the project root when inside it (symlinks not resolved)."""
    path = Path(os.path.abspath(path))
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def setup_rows(ref_run: dict, runs: dict, n_blocks: int) -> list[str]:
    """The setup table: the reference's ``run`` block beside what the trajectories hold."""
    st = ref_run["settings"]
    n = ref_run["n_atoms"]
    labels = list(runs)
    info = {lab: runs[lab]["info"] for lab in labels}

    def row(name, ref_value, run_value):
        return f"| {name} | {ref_value} | " + " | ".join(run_value(lab) for lab in labels) + " |"

    ratio = 3 * n / (3 * n - 3)
    t_run = systems.get("water").temperature_K  # md_physics.py's TEMPERATURE_K
    return [
        "| | GFN1-xTB reference | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
        row("potential", f"{st['method']} (tblite)", lambda lab: RUNS[lab][1]),
        row(
            "atoms",
            f"{n} ({', '.join(f'{c} {f}' for f, c in ref_run['molecules'].items())})",
            lambda lab: (
                f"{info[lab]['n_atoms']} ({', '.join(f'{c} {f}' for f, c in info[lab]['molecules'].items())})"
            ),
        ),
        row(
            "step (fs)",
            f"{st['timestep']:g}",
            lambda lab: "?" if info[lab]["step_fs"] is None else f"{info[lab]['step_fs']:g}",
        ),
        row(
            "Bussi thermostat",
            f"{st['temperature']:g} K, tau {st['taut']:g} fs, on 3N - 3 = {3 * n - 3} dof (centre of mass fixed)",
            lambda lab: (
                f"{t_run:g} K, tau {MD_PHYSICS_TAUT_FS:g} fs, on 3N = {3 * info[lab]['n_atoms']} dof "
                f"(centre of mass at rest: internal target {t_run * ratio:.1f} K)"
            ),
        ),
        row(
            "analysed (production) length (ps)",
            f"{ref_run['production_ps']:.2f} (t = {ref_run['production_t_ps'][0]:g}-"
            f"{ref_run['production_t_ps'][1]:g} ps; {'complete' if ref_run['complete'] else 'run in progress'})",
            lambda lab: (
                f"{info[lab]['length_ps']:.2f} (t = {info[lab]['t_ps'][0]:.3f}-{info[lab]['t_ps'][1]:.3f} ps)"
            ),
        ),
        row(
            "frames: positions / velocities",
            f"{ref_run['n_position_frames']} every {ref_run['position_spacing_fs']:g} fs / "
            f"{ref_run['n_velocity_frames']} every {ref_run['velocity_spacing_fs']:g} fs",
            lambda lab: f"{info[lab]['n_frames']} every {info[lab]['spacing_fs']:g} fs (both)",
        ),
        row("blocks of the SEs", f"{ref_run['blocks']}", lambda lab: f"{n_blocks}"),
    ]


def report(meta: dict, ref: dict, runs: dict, comp: dict, png: str | None) -> str:
    labels = list(runs)
    ref_run = ref["run"]
    b = meta["blocks"]
    lines = [
        "# Water MD runs against the GFN1-xTB reference (issue 14, point 3)",
        "",
        f"Command: `{meta['command']}`  ",
        f"Reference: `{meta['reference']}` (from `{ref_run['command']}`).  ",
        "Runs: "
        + ", ".join(f"`{meta['runs'][lab]}` ({lab})" for lab in labels)
        + ", written by `benchmarks/md_physics.py --control`.",
        "",
        "## Setup",
        "",
        *setup_rows(ref_run, runs, b),
        "",
        "The trajectories hold positions, momenta, `md_time_fs` and `md_step` (the step above is "
        "the frame spacing over the `md_step` spacing), no energies, so E_pot is not compared (the "
        "models' energy zero differs from GFN1-xTB's anyway). The runs' thermostat time is "
        "`md_physics.py`'s (not recorded in the trajectories); their equilibration is not in the files "
        "(their `md_time_fs` restarts at the production). "
        f"Every observable is computed with `xtb_reference_observables.py`'s functions on the same "
        f"grids; the runs' block SEs from {b} contiguous blocks"
        + (
            f" (the reference's from {ref_run['blocks']})"
            if ref_run["blocks"] != b
            else " like the reference's"
        )
        + ". Temperatures are on the 3N - 3 internal degrees of freedom, as the reference's; "
        "`md_physics.py` reports them on 3N (ASE's `get_temperature`), given in brackets.",
        "",
        "Noise of a distance: the combined block SE sqrt(SE_run^2 + SE_ref^2). Answer criterion "
        f"(`closeness`): run A is as close to the reference as run B when d_A - d_B <= {SIGMAS:g} x "
        "sqrt(SE_A^2 + SE_B^2) (for an RDF's RMS distance the RMS of that over the same bins; for its "
        "max distance the max over r, a rough threshold: the max over ~100 bins of pure noise can "
        "reach 3 SE); |d_A - d_B| is at most the distance between A and B themselves (triangle "
        "inequality), which is that noise when A and B sample the same observable.",
        "",
        f"## Intermolecular RDFs ({ref['rdf']['nbins']} bins to {ref['rdf']['rmax_A']:g} A)",
        "",
        f"RMS over the bins where the reference or any run has g > {RDF_MIN_G:g} (the same bins for "
        "all runs: "
        + ", ".join(
            f"g_{k} {d['bins_r'][0]:.3f}-{d['bins_r'][1]:.3f} A, {d['n_bins']} bins"
            for k, d in comp["rdf"][labels[0]].items()
        )
        + "); z = |dg| / combined SE per bin, max and RMS over the same bins.",
        "",
        "| pair | run | max abs dg (at r, A) | combined SE there / max over r | RMS dg | RMS combined SE | "
        "max z (at r, A) | RMS z | first peak r (A) / g: run vs reference | "
        f"short contacts: max g where g_ref <= {RDF_MIN_G:g} below its first peak (at r, A) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ref["rdf"]["pairs"]:
        for lab in labels:
            d = comp["rdf"][lab][key]
            fp = d["first_peak"]
            lines.append(
                f"| g_{key} | {lab} | {d['max_abs']:.3f} ({d['max_abs_r']:.3f}) | "
                f"{d['noise_at_max_abs']:.3f} / {d['noise_max']:.3f} | {d['rms']:.3f} | {d['noise_rms']:.3f} | "
                f"{d['z_max']:.1f} ({d['z_max_r']:.3f}) | {d['z_rms']:.2f} | "
                f"{fp['run_r']:.3f} / {fp['height_run']:.3f} vs {fp['ref_r']:.3f} / {fp['height_ref']:.3f} "
                f"(dg {fp['height_diff']:+.3f} +/- {fp['height_noise']:.3f}) | "
                + (
                    f"{d['short_contacts']['max_g']:.3f} ({d['short_contacts']['r']:.3f}) |"
                    if d["short_contacts"]["max_g"] > 0
                    else "none |"
                )
            )
    lines += [
        "",
        "First peaks: the highest maximum in the reference script's windows; positions on the "
        f"{ref['rdf']['rmax_A'] / ref['rdf']['nbins']:g} A bins, the height's noise the combined SE "
        "at the two peak bins. Short contacts: intermolecular pairs at distances where the "
        "reference has (almost) none, inside its first shell.",
        "",
        "## VDOS",
        "",
        "Mass-weighted, all atoms, Hann window, VACF to half the run (the reference: "
        f"{ref['vdos']['max_lag_fs'] / 1000:.2f} ps from velocities every {ref_run['velocity_spacing_fs']:g} fs; "
        "the runs: "
        + ", ".join(f"{runs[lab]['vdos']['max_lag_fs'] / 1000:.2f} ps ({lab})" for lab in labels)
        + f" from every {runs[labels[0]]['info']['spacing_fs']:g} fs). Errors: block SE of the "
        f"blocks' peaks / centroids (the blocks' spectra are coarser, so an upper estimate).",
        "",
        "| band | run | peak (cm^-1) | reference | diff | sigma | centroid (cm^-1) | reference | diff | sigma |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ref["vdos"]["peaks"]:
        for lab in labels:
            p, c = comp["vdos"][lab][name]["peak"], comp["vdos"][lab][name]["centroid"]
            lines.append(
                f"| {name.replace(' peak (cm^-1)', '')} | {lab} | {p['run']:.0f} +/- {p['run_se']:.0f} | "
                f"{p['ref']:.0f} +/- {p['ref_se']:.0f} | {p['diff']:+.0f} | {p['sigma']:.1f} | "
                f"{c['run']:.0f} +/- {c['run_se']:.0f} | {c['ref']:.0f} +/- {c['ref_se']:.0f} | "
                f"{c['diff']:+.0f} | {c['sigma']:.1f} |"
            )
    win = ref["diffusion"]["window_ps"]
    lines += [
        "",
        "## O self-diffusion and temperature",
        "",
        f"D from the unwrapped positions (centre-of-mass drift removed), MSD slope on the reference's "
        f"fit window {win[0]:.3f}-{win[1]:.3f} ps, error: SE over {ref['diffusion']['n_blocks']} time "
        "blocks; no finite-size correction (the same 96-atom box). Temperature: mean +/- block SE.",
        "",
        "| run | D (1e-5 cm^2/s) | reference | diff | sigma | T (K, 3N - 3 dof) [3N dof] | reference | diff | sigma |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lab in labels:
        d, t = comp["diffusion"][lab], comp["temperature"][lab]
        lines.append(
            f"| {lab} | {d['run']:.2f} +/- {d['run_se']:.2f} | {d['ref']:.2f} +/- {d['ref_se']:.2f} | "
            f"{d['diff']:+.2f} | {d['sigma']:.1f} | {t['run']:.1f} +/- {t['run_se']:.1f} "
            f"[{t['mean_3N_dof']:.1f}] | {t['ref']:.1f} +/- {t['ref_se']:.1f} | {t['diff']:+.1f} | {t['sigma']:.1f} |"
        )
    lines += ["", "## Answer", ""]
    for question, rows in comp["verdicts"].items():
        new, old = question.split(" vs ")
        lines += [
            f"{new} vs {old}: distances to the reference (RDFs: RMS dg; others: |diff|), excess "
            f"d_{new} - d_{old}, and its noise sqrt(SE_{new}^2 + SE_{old}^2).",
            "",
            f"| observable | d_{new} | d_{old} | excess | noise | excess / noise | as close (<= {SIGMAS:g}) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, v in rows.items():
            lines.append(
                f"| {name} | {v['new']:.3g} | {v['old']:.3g} | {v['excess']:+.3g} | {v['noise']:.3g} | "
                f"{v['excess_sigma']:+.1f} | {'yes' if v['as_close'] else 'no'} |"
            )
        lines.append("")
    lines += [answer(comp), ""]
    lines += [
        "## Files",
        "",
        f"- `{Path(meta['json']).name}`: the numbers above and the runs' RDF curves with their SE.",
    ]
    if png:
        lines.append(
            f"- `{png}`: the runs' RDFs over the reference (band +/- 2 SE of the reference), g_run - g_ref "
            "with +/- 2 combined SE, and the distances in units of their noise."
        )
    return "\n".join(lines) + "\n"


def plot(ref: dict, runs: dict, comp: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(runs)
    pairs = list(ref["rdf"]["pairs"])
    r = np.asarray(ref["rdf"]["r_A"], float)
    fig = Figure(figsize=(4.0 * len(pairs) + 5.0, 7.0), constrained_layout=True)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, len(pairs) + 1, width_ratios=[4.0] * len(pairs) + [5.0])
    colors = {lab: f"C{k + 1}" for k, lab in enumerate(labels)}
    for k, key in enumerate(pairs):
        g_ref, se_ref = (np.asarray(ref["rdf"]["pairs"][key][x], float) for x in ("g", "se"))
        top, bottom = fig.add_subplot(grid[0, k]), fig.add_subplot(grid[1, k])
        top.fill_between(
            r, g_ref - 2 * se_ref, g_ref + 2 * se_ref, color="0.7", lw=0, label="GFN1-xTB +/- 2 SE"
        )
        top.plot(r, g_ref, color="k", lw=1.2, label="GFN1-xTB")
        bottom.axhline(0.0, color="k", lw=0.8)
        for lab in labels:
            p = runs[lab]["rdf"]["pairs"][key]
            top.plot(r, p["g"], color=colors[lab], lw=0.9, label=lab)
            dg, noise = p["g"] - g_ref, combined_noise(p["se"], se_ref)
            bottom.fill_between(r, dg - 2 * noise, dg + 2 * noise, color=colors[lab], alpha=0.15, lw=0)
            bottom.plot(r, dg, color=colors[lab], lw=0.9, label=lab)
        top.axhline(1.0, color="0.6", lw=0.6, ls=":")
        top.set_title(f"intermolecular g_{key}")
        top.set_ylabel(f"g$_{{\\mathrm{{{key}}}}}$(r)")
        bottom.set_xlabel("r (Å)")
        bottom.set_ylabel("g$_\\mathrm{run}$ - g$_\\mathrm{ref}$ (+/- 2 combined SE)")
        top.set_xlim(1.0, r[-1])
        bottom.set_xlim(1.0, r[-1])
    fig.axes[0].legend(fontsize=8)

    ax = fig.add_subplot(grid[:, len(pairs)])
    names, values = [], {lab: [] for lab in labels}
    for key in pairs:
        names.append(f"g_{key}: RMS z")
        for lab in labels:
            values[lab].append(comp["rdf"][lab][key]["z_rms"])
    for band in ref["vdos"]["peaks"]:
        for kind in ("peak", "centroid"):
            names.append(f"{band.replace(' peak (cm^-1)', '')} {kind}")
            for lab in labels:
                values[lab].append(comp["vdos"][lab][band][kind]["sigma"])
    names += ["O self-diffusion", "temperature"]
    for lab in labels:
        values[lab] += [comp["diffusion"][lab]["sigma"], comp["temperature"][lab]["sigma"]]
    y = np.arange(len(names))
    for k, lab in enumerate(labels):
        ax.plot(values[lab], y + 0.2 * (k - 1), "o", color=colors[lab], label=lab)
    ax.axvline(SIGMAS, color="0.5", ls="--", lw=0.8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("|run - reference| / combined SE")
    ax.set_title("distance to GFN1-xTB in units of its noise")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)


def to_json(meta: dict, ref: dict, runs: dict, comp: dict) -> dict:
    curves = {
        lab: {key: {"g": p["g"], "se": p["se"]} for key, p in run["rdf"]["pairs"].items()}
        for lab, run in runs.items()
    }
    return {
        "meta": xro._rounded(meta, None),
        "reference_run": xro._rounded(ref["run"], None),
        "runs": xro._rounded({lab: run["info"] for lab, run in runs.items()}, None),
        "settings": {"rdf_min_g": RDF_MIN_G, "sigmas": SIGMAS, "md_physics_taut_fs": MD_PHYSICS_TAUT_FS},
        **xro._rounded(comp),
        "rdf_r_A": xro._rounded(ref["rdf"]["r_A"]),
        "rdf_curves": xro._rounded(curves),
    }


def main(argv=None) -> int:
    import json

    args = parse_args(argv)
    shown_argv = " ".join(sys.argv[1:] if argv is None else argv)
    command = (
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python "
        f"benchmarks/xtb_comparison.py {shown_argv}"
    ).strip()
    ref = json.loads(Path(args.reference).read_text())
    system = systems.get("water")
    options = system.analysis_options()
    runs, paths = {}, {}
    for label, (name, _) in RUNS.items():
        path = Path(args.runs_dir) / name
        if not path.is_file():
            raise SystemExit(
                f"{path} not found: run benchmarks/md_physics.py --control --runs-dir {args.runs_dir}"
            )
        print(f"analysing {label}: {shown(path)}", flush=True)
        runs[label] = analyse_run(path, options, system.bands, args.blocks, ref["diffusion"]["window_ps"])
        paths[label] = shown(path)
        if runs[label]["info"]["n_atoms"] != ref["run"]["n_atoms"]:
            raise SystemExit(
                f"{label}: {runs[label]['info']['n_atoms']} atoms, the reference {ref['run']['n_atoms']}"
            )
    comp = compare(ref, runs)
    meta = {
        "command": command,
        "reference": shown(args.reference),
        "runs": paths,
        "blocks": args.blocks,
        "json": shown(args.out.with_suffix(".json")),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = None
    if not args.no_plot:
        png = args.out.name + ".png"
        plot(ref, runs, comp, args.out.with_suffix(".png"))
    args.out.with_suffix(".json").write_text(xro.dump_json(to_json(meta, ref, runs, comp)) + "\n")
    text = report(meta, ref, runs, comp, png)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
