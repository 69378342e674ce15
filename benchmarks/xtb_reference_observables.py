#!/usr/bin/env python
"""Reference observables of the long GFN1-xTB water run (issue 14), with their sampling noise.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/xtb_reference_observables.py

Reads the chunks of ``benchmarks/xtb_reference.py`` (its :func:`xtb_reference.load`, so
only the chunks its restart state counts) and analyses the production part only (the
frames marked ``equil=False``):

* intermolecular g_OO, g_OH, g_HH with ``nequip_mts.analysis.rdf`` on water's RDF grid
  of ``benchmarks/systems.py`` (the grid of ``md_physics.py``); the all-pair RDFs that
  ``md_physics.py``'s water analysis compares beyond 1.7 Å are stored beside them;
* the VDOS from the stored velocities (every 2 fs), mass-weighted, all atoms, with
  ``nequip_mts.analysis.vdos``, and its peaks in water's bands of ``systems.py``;
* O self-diffusion from the unwrapped positions with
  ``nequip_mts.analysis.diffusion`` (its block error and default fit window);
* the potential energy per atom: mean, standard deviation, histogram; and the mean
  temperature.

Noise, two measures:

* **block standard error**: the production is cut into ``--blocks`` contiguous blocks
  of equal length (the last ``n mod blocks`` samples left out of the blocks only); the
  standard error of the full-run mean is the blocks' standard deviation (ddof 1) over
  sqrt(blocks), per RDF bin; the table gives its maximum over r. It is also given with
  half as many blocks (pairs of blocks merged): when the two agree, the blocks are
  longer than the correlation time.
* **halves** (``md_physics.py``'s "noise"): max over r of |g(first half) - g(second
  half)| / sqrt(2), by :func:`nequip_mts.analysis.rdf.rdf_halves`. It estimates the
  max |dg| between two independent runs of this length, about sqrt(2) times the
  standard error of one.

Writes ``--out``.md (command, production length, tables), ``--out``.json (the curves
and numbers, for a later comparison that should not recompute them) and
``--out``_{rdf,vdos,msd,epot}.png. Default ``--out``: ``benchmarks/results/xtb_reference``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import systems  # noqa: E402
import xtb_reference  # noqa: E402

#: VDOS stored in the JSON up to this wavenumber (cm^-1): past water's bands
VDOS_STORED_CM1 = 4500.0
#: bins of the potential-energy histogram
EPOT_BINS = 40
#: where each intermolecular RDF's first peak is looked for (A): the H-bonded neighbours
FIRST_PEAK_WINDOWS_A = {"OO": (2.2, 3.4), "OH": (1.4, 2.4), "HH": (1.8, 3.0)}
#: RDF bins with g above this enter the RMS ratios of the block-size check (the liquid's range)
RATIO_MIN_G = 0.2


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--data",
        type=Path,
        default=xtb_reference.parse_args([]).outdir,
        help="chunk directory of xtb_reference.py",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "xtb_reference",
        help="report stem: <out>.md, <out>.json, <out>_*.png",
    )
    p.add_argument(
        "--blocks",
        type=int,
        default=6,
        help="blocks of the standard errors (even, >= 4: half as many are the check)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    a = p.parse_args(argv)
    if a.blocks < 4 or a.blocks % 2:
        p.error("--blocks must be even and at least 4")
    return a


# ----------------------------------------------------------------------------- block averages
def block_slices(n: int, n_blocks: int) -> list[slice]:
    """``n_blocks`` contiguous index ranges of equal length over ``n`` samples.

    The last ``n % n_blocks`` samples are left out.
    """
    length = n // n_blocks
    if length < 1:
        raise ValueError(f"{n} samples cannot make {n_blocks} blocks")
    return [slice(k * length, (k + 1) * length) for k in range(n_blocks)]


def block_values(x: np.ndarray, n_blocks: int) -> np.ndarray:
    """Means of the :func:`block_slices` blocks along axis 0, shape ``(n_blocks, *x.shape[1:])``."""
    x = np.asarray(x, dtype=float)
    return np.array([x[s].mean(axis=0) for s in block_slices(len(x), n_blocks)])


def standard_error(blocks: np.ndarray) -> np.ndarray:
    """Standard error of the mean from block values (axis 0): std (ddof 1) / sqrt(blocks)."""
    blocks = np.asarray(blocks, dtype=float)
    if len(blocks) < 2:
        raise ValueError("a standard error needs at least 2 blocks")
    return blocks.std(axis=0, ddof=1) / np.sqrt(len(blocks))


def merge_pairs(blocks: np.ndarray) -> np.ndarray:
    """Blocks of twice the length: the means of consecutive pairs (equal lengths assumed)."""
    blocks = np.asarray(blocks, dtype=float)
    if len(blocks) % 2:
        raise ValueError("merging pairs needs an even number of blocks")
    return blocks.reshape(len(blocks) // 2, 2, *blocks.shape[1:]).mean(axis=1)


def mean_with_error(x: np.ndarray, n_blocks: int) -> dict:
    """Mean of all samples, its block standard error with ``n_blocks`` and with half as many."""
    blocks = block_values(x, n_blocks)
    return {
        "mean": float(np.mean(x)),
        "se": float(standard_error(blocks)),
        "se_half_blocks": float(standard_error(merge_pairs(blocks))),
        "blocks": blocks.tolist(),
    }


# ----------------------------------------------------------------------------- observables
def production(data: dict) -> dict:
    """The production part of :func:`xtb_reference.load`'s data, with its grids checked."""
    vel, pos = ~data["equil"], ~data["pos_equil"]
    t_v, t_p = data["time_fs"][vel], data["pos_time_fs"][pos]
    if len(t_p) < 2 or len(t_v) < 2:
        raise SystemExit("fewer than 2 production frames stored: the run is still equilibrating")
    dt_v, dt_p = float(np.median(np.diff(t_v))), float(np.median(np.diff(t_p)))
    for name, t, dt in (("velocity", t_v, dt_v), ("position", t_p, dt_p)):
        if not np.allclose(np.diff(t), dt):
            raise SystemExit(f"the {name} frames are not evenly spaced: a missing chunk?")
    n = len(data["numbers"])
    return {
        "frames": xtb_reference.position_frames(data),  # wrapped, production only
        "positions": data["positions"][pos].astype(float),  # unwrapped
        "velocities": data["velocities"][vel].astype(float),
        "epot_per_atom": data["epot_eV"][vel] / n,
        "temperature": data["temperature_K"][vel],
        "dt_vel_fs": dt_v,
        "dt_pos_fs": dt_p,
        "t_start_ps": float(t_v[0] - dt_v) / 1000.0,
        "t_end_ps": float(t_v[-1]) / 1000.0,
        "production_ps": len(t_v) * dt_v / 1000.0,
    }


def rdf_observables(frames, options, n_blocks: int) -> dict:
    """Intermolecular RDFs of all frames, their block and halves noise, and the all-pair RDFs."""
    from nequip_mts.analysis.rdf import first_peak, partial_rdfs, rdf_halves

    grid = dict(pairs=options.pairs, rmax=options.rmax, nbins=options.nbins, bond_scale=options.bond_scale)
    halves = rdf_halves(frames, intermolecular=True, **grid)
    halves_noise = halves.noise(0.0)
    halves_noise_inter = halves.noise(options.compare_rmin)
    blocks = [
        partial_rdfs(frames[s], intermolecular=True, **grid)[1] for s in block_slices(len(frames), n_blocks)
    ]
    _, g_all = partial_rdfs(frames, intermolecular=False, **grid)
    r = halves.r
    beyond = r >= options.compare_rmin

    def rms_ratio(a, b, g):  # sqrt(<a^2> / <b^2>) over the bins where g is resolved
        m = g > RATIO_MIN_G
        return float(np.sqrt(np.mean(a[m] ** 2) / np.mean(b[m] ** 2)))

    out = {"r": r, "pairs": {}}
    for key, g in halves.g.items():
        gb = np.array([b[key] for b in blocks])
        se, se_half = standard_error(gb), standard_error(merge_pairs(gb))
        se_halves = np.abs(halves.first[key] - halves.second[key]) / 2.0
        out["pairs"][key] = {
            "g": g,
            "se": se,
            "se_half_blocks": se_half,
            "se_halves": se_halves,
            "se_rms_ratio_half_blocks": rms_ratio(se_half, se, g),
            "se_rms_ratio_halves": rms_ratio(se_halves, se, g),
            "se_max": float(se.max()),
            "se_max_r": float(r[np.argmax(se)]),
            "se_half_blocks_max": float(se_half.max()),
            "halves_noise": float(halves_noise[key]),
            "halves_noise_beyond_rmin": float(halves_noise_inter[key]),
            "se_max_beyond_rmin": float(se[beyond].max()),
            "first_peak": first_peak(r, g, *FIRST_PEAK_WINDOWS_A[key]),
            "g_blocks": gb,
            "g_all_pairs": g_all[key],
            "all_pairs_max_abs_diff_beyond_rmin": float(np.abs(g_all[key] - g)[beyond].max()),
        }
    return out


def band_centroid(wavenumber: np.ndarray, dos: np.ndarray, lo: float, hi: float) -> float:
    """Mean wavenumber (cm^-1) of ``dos`` within ``[lo, hi]``: steadier than the peak for a
    band with two tops, such as this run's O-H stretch."""
    m = (wavenumber >= lo) & (wavenumber <= hi)
    return float(np.sum(wavenumber[m] * dos[m]) / np.sum(dos[m]))


def vdos_observables(velocities, masses, dt_fs: float, bands: dict, n_blocks: int) -> dict:
    """Mass-weighted VDOS of all atoms, its band peaks and centroids, and those of each block's VDOS."""
    from nequip_mts.analysis.vdos import band_peak, vdos

    w, d = vdos(velocities, dt_fs, masses=masses)
    block_spectra = [
        vdos(velocities[s], dt_fs, masses=masses) for s in block_slices(len(velocities), n_blocks)
    ]
    peaks = {}
    for name, (lo, hi) in bands.items():
        per_block = np.array([band_peak(bw, bd, lo, hi) for bw, bd in block_spectra])
        centroids = np.array([band_centroid(bw, bd, lo, hi) for bw, bd in block_spectra])
        peaks[name] = {
            "band_cm1": [lo, hi],
            "peak_cm1": band_peak(w, d, lo, hi),
            "block_peaks_cm1": per_block,
            "block_se_cm1": float(standard_error(per_block)),
            "centroid_cm1": band_centroid(w, d, lo, hi),
            "block_centroids_cm1": centroids,
            "centroid_block_se_cm1": float(standard_error(centroids)),
        }
    return {
        "wavenumber_cm1": w,
        "dos": d,
        "max_lag_fs": (len(velocities) // 2) * dt_fs,
        "block_max_lag_fs": (len(velocities) // n_blocks // 2) * dt_fs,
        "peaks": peaks,
    }


def diffusion_observables(positions, masses, first_frame, dt_fs: float, options) -> dict:
    """Self-diffusion of ``options.diffusion_groups[0]`` (water: O), as ``nequip-mts analyze`` fits it.

    ``positions`` are unwrapped already; ``first_frame`` (``ase.Atoms``) picks the group's atoms.
    """
    from nequip_mts.analysis.diffusion import remove_com_drift, self_diffusion
    from nequip_mts.analysis.molecules import group_indices

    group = options.diffusion_groups[0]
    x = remove_com_drift(positions, masses) if options.remove_com else positions
    res = self_diffusion(
        x[:, group_indices(first_frame, group)],
        dt_fs,
        window_ps=options.diffusion_window_ps,
        n_blocks=int(options.diffusion_blocks),
    )
    return {"group": group, "result": res, "n_blocks": int(options.diffusion_blocks)}


def epot_observables(epot_per_atom: np.ndarray, n_blocks: int) -> dict:
    """Mean and standard deviation of E_pot per atom with block errors, and its histogram."""
    blocks_std = np.array([epot_per_atom[s].std() for s in block_slices(len(epot_per_atom), n_blocks)])
    density, edges = np.histogram(epot_per_atom, bins=EPOT_BINS, density=True)
    return {
        **mean_with_error(epot_per_atom, n_blocks),
        "std": float(epot_per_atom.std()),
        "std_se": float(standard_error(blocks_std)),
        "hist_edges": edges,
        "hist_density": density,
    }


def compute(data: dict, n_blocks: int) -> dict:
    """All observables of the production part of ``data`` (:func:`xtb_reference.load`)."""
    system = systems.get("water")
    options = system.analysis_options()
    prod = production(data)
    return {
        "options": options,
        "prod": prod,
        "rdf": rdf_observables(prod["frames"], options, n_blocks),
        "vdos": vdos_observables(
            prod["velocities"], data["masses"], prod["dt_vel_fs"], system.bands, n_blocks
        ),
        "diffusion": diffusion_observables(
            prod["positions"], data["masses"], prod["frames"][0], prod["dt_pos_fs"], options
        ),
        "epot": epot_observables(prod["epot_per_atom"], n_blocks),
        "temperature": mean_with_error(prod["temperature"], n_blocks),
    }


# ----------------------------------------------------------------------------- output
def _rounded(x, digits: int | None = 6):
    """JSON-ready copy of ``x`` with floats to ``digits`` significant digits (None: all)."""
    if isinstance(x, dict):
        return {str(k): _rounded(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v, digits) for v in x]
    if isinstance(x, np.ndarray):
        return _rounded(x.tolist(), digits)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if digits is None else float(f"{float(x):.{digits}g}")
    return x


def dump_json(x, depth: int = 0) -> str:
    """JSON with one key per line and every list of numbers on one line (small, diffable)."""
    pad = " " * (depth + 1)
    if isinstance(x, dict) and x:
        items = [f"{pad}{json.dumps(k)}: {dump_json(v, depth + 1)}" for k, v in x.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(x, list) and any(isinstance(v, (dict, list)) for v in x):
        return "[\n" + ",\n".join(pad + dump_json(v, depth + 1) for v in x) + "\n" + " " * depth + "]"
    return json.dumps(x)


def molecule_counts(atoms) -> dict:
    """Molecules of ``atoms`` by formula, e.g. ``{"H2O": 32}``."""
    from collections import Counter

    from nequip_mts.analysis.molecules import find_molecules

    return dict(Counter(find_molecules(atoms).formulas))


def run_info(data: dict, obs: dict, n_blocks: int, command: str, data_dir: Path) -> dict:
    prod, st = obs["prod"], data["settings"]
    target_ps = xtb_reference.parse_args([]).total_ps
    stored_ps = float(data["time_fs"][-1]) / 1000.0
    return {
        "command": command,
        "data": systems.shown(data_dir),
        "n_chunks": int(xtb_reference.load_state(Path(data_dir) / "state.npz")["n_chunks"]),
        "stored_ps": stored_ps,
        "target_ps": target_ps,
        "complete": bool(stored_ps >= target_ps - 1e-9),
        "equilibration_ps": st["equil_ps"],
        "production_ps": prod["production_ps"],
        "production_t_ps": [prod["t_start_ps"], prod["t_end_ps"]],
        "target_production_ps": target_ps - st["equil_ps"],
        "n_position_frames": len(prod["frames"]),
        "position_spacing_fs": prod["dt_pos_fs"],
        "n_velocity_frames": len(prod["velocities"]),
        "velocity_spacing_fs": prod["dt_vel_fs"],
        "n_atoms": len(data["numbers"]),
        "molecules": molecule_counts(prod["frames"][0]),
        "blocks": n_blocks,
        "settings": st,
        "provenance": data["provenance"],
    }


def to_json(info: dict, obs: dict) -> dict:
    """The JSON beside the report: curves to 6 significant digits, energies in full."""
    from nequip_mts.analysis.diffusion import A2PS_TO_1E5CM2S

    rdf, vd, epot = obs["rdf"], obs["vdos"], obs["epot"]
    opt = obs["options"]
    keep = vd["wavenumber_cm1"] <= VDOS_STORED_CM1
    dif = obs["diffusion"]["result"]
    curves = {
        "rdf": {
            "intermolecular": True,
            "rmax_A": opt.rmax,
            "nbins": opt.nbins,
            "bond_scale": opt.bond_scale,
            "compare_rmin_A": opt.compare_rmin,
            "r_A": rdf["r"],
            "pairs": rdf["pairs"],
        },
        "vdos": {
            "mass_weighted": True,
            "atoms": "all",
            "window": "hann",
            "max_lag_fs": vd["max_lag_fs"],
            "wavenumber_cm1": vd["wavenumber_cm1"][keep],
            "dos": vd["dos"][keep],
            "peaks": vd["peaks"],
        },
        "diffusion": {
            "group": obs["diffusion"]["group"],
            "D_1e-5cm2_s": dif.D_cgs,
            "err_1e-5cm2_s": dif.D_err_cgs,
            "n_blocks": obs["diffusion"]["n_blocks"],
            "block_D_1e-5cm2_s": dif.block_D * A2PS_TO_1E5CM2S,
            "window_ps": list(dif.window_ps),
            "com_removed": opt.remove_com,
            "t_ps": dif.t_ps,
            "msd_A2": dif.msd,
        },
    }
    energies = {
        "epot_eV_per_atom": {
            k: epot[k] for k in ("mean", "se", "se_half_blocks", "std", "std_se", "blocks", "hist_edges")
        }
        | {"hist_density": epot["hist_density"]},
        "temperature_K": obs["temperature"],
    }
    return {"run": _rounded(info, None), **_rounded(curves), **_rounded(energies, None)}


def report(info: dict, obs: dict, pngs: list[str]) -> str:
    from nequip_mts.analysis.diffusion import A2PS_TO_1E5CM2S

    rdf, vd, dif, epot, temp = obs["rdf"], obs["vdos"], obs["diffusion"], obs["epot"], obs["temperature"]
    opt, b, st = obs["options"], info["blocks"], info["settings"]
    scale = np.sqrt(info["production_ps"] / info["target_production_ps"])
    status = (
        "complete"
        if info["complete"]
        else f"**in progress: {info['production_ps']:.2f} ps of production** of the "
        f"{info['target_production_ps']:g} ps planned ({info['target_ps']:g} ps target of "
        "`xtb_reference.py --total-ps`)"
    )
    lines = [
        "# GFN1-xTB water reference: observables and their noise (issue 14)",
        "",
        f"Command: `{info['command']}`  ",
        f"Data: `{info['data']}/`, {info['n_chunks']} chunks, {info['stored_ps']:.2f} ps stored; "
        f"status: {status}.  ",
        f"Production (frames with `equil=False`, after {info['equilibration_ps']:g} ps of equilibration): "
        f"t = {info['production_t_ps'][0]:.2f}-{info['production_t_ps'][1]:.2f} ps, "
        f"**{info['production_ps']:.2f} ps**; {info['n_position_frames']} position frames "
        f"({info['position_spacing_fs']:g} fs apart), {info['n_velocity_frames']} velocity and energy "
        f"frames ({info['velocity_spacing_fs']:g} fs apart).  ",
        f"Run: {', '.join(f'{c} {f}' for f, c in info['molecules'].items())} ({info['n_atoms']} atoms), "
        f"{st['method']} (tblite), Bussi {st['temperature']:g} K (tau {st['taut']:g} fs), "
        f"{st['timestep']:g} fs step, fixed centre of mass; see `benchmarks/data/README.md` (xtb_reference).",
        "",
        "Noise measures:",
        "",
        f"- **block SE**: standard error of the full-run mean from {b} contiguous blocks of equal "
        "length (std of the block values, ddof 1, over sqrt(blocks)); for RDFs per bin, then the "
        f"maximum over r. In brackets the same from {b // 2} blocks of twice the length: when the "
        "two agree, the blocks are longer than the correlation time.",
        "- **halves** (`md_physics.py`'s noise): max over r of |g(first half) - g(second half)| / "
        "sqrt(2); the max |dg| expected between two independent runs of this length from sampling "
        "alone, about sqrt(2) x the SE of one. Comparing a model run with this reference, the "
        "expected max |dg| from sampling is about sqrt(SE_ref^2 + SE_model^2) per bin.",
        "",
        f"## Intermolecular RDFs (r <= {opt.rmax:g} A, {opt.nbins} bins, "
        f"{opt.rmax / opt.nbins:g} A; water's grid of `md_physics.py`)",
        "",
        f"| pair | first peak r (A) / g | block SE, max over r ({b} [{b // 2}] blocks) | at r (A) | "
        f"block-size check: RMS SE ratio {b // 2}/{b} blocks, halves/{b} blocks | "
        "halves noise (md_physics), max over r | "
        f"expected at {info['target_production_ps']:g} ps: block SE / halves |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, p in rdf["pairs"].items():
        lines.append(
            f"| g_{key} | {p['first_peak'][0]:.3f} / {p['first_peak'][1]:.3f} | "
            f"{p['se_max']:.3f} [{p['se_half_blocks_max']:.3f}] | {p['se_max_r']:.3f} | "
            f"{p['se_rms_ratio_half_blocks']:.2f}, {p['se_rms_ratio_halves']:.2f} | "
            f"{p['halves_noise']:.3f} | {p['se_max'] * scale:.3f} / {p['halves_noise'] * scale:.3f} |"
        )
    oo = rdf["pairs"]["OO"]
    lines += [
        "",
        "First peaks: the highest maximum in "
        + ", ".join(f"{lo:g}-{hi:g} A (g_{k})" for k, (lo, hi) in FIRST_PEAK_WINDOWS_A.items())
        + ". Block-size check: sqrt(mean SE^2 over the bins with g > "
        f"{RATIO_MIN_G:g}) from {b // 2} blocks, and from the 2 halves (|g1 - g2| / 2), over the same "
        f"from {b} blocks; near 1 when the {b} blocks are longer than the correlation time (the "
        "maxima over r scatter much more: each bin's SE from a few blocks is itself uncertain by "
        f"1/sqrt(2 (blocks - 1)), {100 / np.sqrt(2 * (b - 1)):.0f} % for {b} blocks). The expected "
        "noise at the planned length scales "
        f"both by sqrt({info['production_ps']:.2f} / {info['target_production_ps']:g}) = {scale:.2f}.",
        "",
        "`md_physics.py`'s water analysis uses the all-pair RDFs (intramolecular pairs included) and "
        f"compares them also beyond {opt.compare_rmin:g} A. There the all-pair RDFs of this run differ "
        "from the intermolecular ones by at most "
        + ", ".join(f"{p['all_pairs_max_abs_diff_beyond_rmin']:.3f} (g_{k})" for k, p in rdf["pairs"].items())
        + f" (the pairs within one molecule that lie beyond {opt.compare_rmin:g} A); the all-pair "
        "curves are in the JSON too (`g_all_pairs`). Halves noise of the "
        f"intermolecular RDFs beyond {opt.compare_rmin:g} A: "
        + ", ".join(f"{p['halves_noise_beyond_rmin']:.3f} (g_{k})" for k, p in rdf["pairs"].items())
        + ".",
        "",
        f"Issue 14 asks for a g_OO noise of at most 0.1. Block SE: {oo['se_max']:.3f} now, "
        f"{oo['se_max'] * scale:.3f} expected at {info['target_production_ps']:g} ps. Halves "
        f"(md_physics): {oo['halves_noise']:.3f} now, {oo['halves_noise'] * scale:.3f} expected at "
        f"{info['target_production_ps']:g} ps; it would reach 0.1 after about "
        f"{info['production_ps'] * (oo['halves_noise'] / 0.1) ** 2:.0f} ps of production.",
        "",
        "## VDOS",
        "",
        f"Mass-weighted VACF of all atoms from the stored velocities ({info['velocity_spacing_fs']:g} fs), "
        f"Hann window, VACF up to {vd['max_lag_fs'] / 1000:.2f} ps (half the production; the blocks' "
        f"{vd['block_max_lag_fs'] / 1000:.2f} ps), as `nequip-mts analyze` computes it.",
        "",
        f"| band (cm^-1) | peak (cm^-1) | peaks of the {b} blocks' VDOS | block SE | "
        f"centroid (cm^-1) | block SE |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in vd["peaks"].items():
        lo, hi = p["band_cm1"]
        blocks = ", ".join(f"{x:.0f}" for x in p["block_peaks_cm1"])
        lines.append(
            f"| {name.replace(' peak (cm^-1)', '')} ({lo:g}-{hi:g}) | {p['peak_cm1']:.0f} | {blocks} | "
            f"{p['block_se_cm1']:.0f} | {p['centroid_cm1']:.0f} | {p['centroid_block_se_cm1']:.0f} |"
        )
    d = dif["result"]
    lines += [
        "",
        "Peaks as `md_physics.py` reports them (`band_peak`, the highest point in the band); centroid: "
        "the mean wavenumber of the VDOS over the band, steadier when a band has two tops. The "
        "blocks' spectra have a coarser resolution (a shorter VACF) than the full run's, so their "
        "spread is an upper estimate of the full-run values' uncertainty.",
        "",
        "## O self-diffusion",
        "",
        "| group | D (1e-5 cm^2/s) | fit window (ps) | D of the blocks |",
        "|---|---|---|---|",
        f"| {dif['group']} | {d.D_cgs:.2f} +/- {d.D_err_cgs:.2f} | {d.window_ps[0]:.3f} - "
        f"{d.window_ps[1]:.3f} | {', '.join(f'{x * A2PS_TO_1E5CM2S:.2f}' for x in d.block_D)} |",
        "",
        "From the unwrapped positions, centre-of-mass drift removed, MSD slope (Einstein, 3D) on "
        f"`nequip_mts.analysis.diffusion`'s default window (10-50 % of a block), error: standard "
        f"error over its {dif['n_blocks']} time blocks (as `nequip-mts analyze`). No finite-size "
        f"correction: D depends on the box, so compare with runs of the same {info['n_atoms']}-atom box "
        "(`md_physics.py --replicate 1 1 1`). The window grows with the run length; the JSON holds "
        "the MSD curve to refit on another window.",
        "",
        "## Potential energy and temperature",
        "",
        f"| quantity | mean +/- block SE ({b} [{b // 2}] blocks) | std |",
        "|---|---|---|",
        f"| E_pot per atom (eV) | {epot['mean']:.5f} +/- {epot['se']:.5f} [{epot['se_half_blocks']:.5f}] | "
        f"{epot['std'] * 1000:.2f} +/- {epot['std_se'] * 1000:.2f} meV |",
        f"| temperature (K, 3N - 3 dof) | {temp['mean']:.1f} +/- {temp['se']:.1f} [{temp['se_half_blocks']:.1f}] | |",
        "",
        "The std's error is the block SE of the blocks' own standard deviations.",
        "",
        "## Files",
        "",
        "- `" + Path(info["json"]).name + "`: the curves and numbers above (RDFs with their per-bin SE, "
        "block curves and the all-pair RDFs; the VDOS up to "
        f"{VDOS_STORED_CM1:g} cm^-1; the MSD and block D; the E_pot histogram); the curves to 6 "
        "significant digits, the energies and temperatures in full.",
    ]
    if pngs:
        lines.append("- Plots: " + ", ".join(f"`{p}`" for p in pngs) + ".")
    return "\n".join(lines) + "\n"


def plot(obs: dict, stem: Path) -> list[str]:
    """The four PNGs; returns their file names."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nequip_mts.analysis.plots import plot_msd, plot_vdos

    rdf, n_blocks = obs["rdf"], len(next(iter(obs["rdf"]["pairs"].values()))["g_blocks"])
    names = []
    pairs = list(rdf["pairs"])
    fig = Figure(figsize=(4.0 * len(pairs), 5.5), constrained_layout=True)
    FigureCanvasAgg(fig)
    r = rdf["r"]
    for k, key in enumerate(pairs):
        p = rdf["pairs"][key]
        top, bottom = (
            fig.add_subplot(2, len(pairs), k + 1),
            fig.add_subplot(2, len(pairs), len(pairs) + k + 1),
        )
        top.fill_between(
            r, p["g"] - 2 * p["se"], p["g"] + 2 * p["se"], color="C0", alpha=0.3, lw=0, label="+/- 2 SE"
        )
        top.plot(r, p["g"], color="C0", lw=1.2, label="GFN1-xTB, intermolecular")
        top.axhline(1.0, color="0.6", lw=0.6, ls=":")
        top.set_title(key)
        top.set_ylabel(f"g$_{{\\mathrm{{{key}}}}}$(r)")
        bottom.plot(r, p["se"], lw=1.0, label=f"{n_blocks} blocks")
        bottom.plot(r, p["se_half_blocks"], lw=1.0, label=f"{n_blocks // 2} blocks")
        bottom.plot(r, p["se_halves"], lw=0.8, ls="--", label="2 halves")
        bottom.set_xlabel("r (Å)")
        bottom.set_ylabel("SE of g (full run)")
    fig.axes[0].legend(fontsize=8)
    fig.axes[1].legend(fontsize=8)
    names.append(stem.name + "_rdf.png")
    fig.savefig(stem.with_name(names[-1]), dpi=100)

    vd = obs["vdos"]
    names.append(stem.name + "_vdos.png")
    plot_vdos({"GFN1-xTB": (vd["wavenumber_cm1"], vd["dos"])}, stem.with_name(names[-1]))

    d = obs["diffusion"]["result"]
    label = f"GFN1-xTB {obs['diffusion']['group']}"
    names.append(stem.name + "_msd.png")
    plot_msd({label: (d.t_ps, d.msd)}, stem.with_name(names[-1]), fits={label: (d.D, d.window_ps)})

    e = obs["epot"]
    fig = Figure(figsize=(5.0, 3.5), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    edges, dens = e["hist_edges"], e["hist_density"]
    ax.stairs(dens, edges, fill=True, alpha=0.5, label="GFN1-xTB production")
    x = np.linspace(edges[0], edges[-1], 200)
    ax.plot(
        x,
        np.exp(-0.5 * ((x - e["mean"]) / e["std"]) ** 2) / (e["std"] * np.sqrt(2 * np.pi)),
        lw=1.0,
        label="Gaussian, same mean and std",
    )
    ax.set_xlabel("E$_\\mathrm{pot}$ per atom (eV)")
    ax.set_ylabel("density (1/eV)")
    ax.legend(fontsize=8)
    names.append(stem.name + "_epot.png")
    fig.savefig(stem.with_name(names[-1]), dpi=100)
    return names


def main(argv=None) -> int:
    args = parse_args(argv)
    shown_argv = " ".join(sys.argv[1:] if argv is None else argv)
    command = (
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python "
        f"benchmarks/xtb_reference_observables.py {shown_argv}"
    ).strip()
    data = xtb_reference.load(args.data)
    obs = compute(data, args.blocks)
    info = run_info(data, obs, args.blocks, command, args.data)
    info["json"] = systems.shown(args.out.with_suffix(".json"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pngs = [] if args.no_plots else plot(obs, args.out)
    args.out.with_suffix(".json").write_text(dump_json(to_json(info, obs)) + "\n")
    text = report(info, obs, pngs)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
