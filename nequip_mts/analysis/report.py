"""One analysis of MD runs: RDF, VDOS, MSD/diffusion and NVE drift, as markdown, JSON and PNG.

This is what ``nequip-mts analyze`` runs and what ``benchmarks/md_physics.py``
takes its numbers from, so both give the same numbers for the same frames.

* :func:`analyze_run` analyses the frames of one run (time from their
  ``md_time_fs``; see :mod:`.frames`).
* :func:`compare_runs` compares two analysed runs, each RDF difference beside
  the sampling noise of the two runs (from block halves).
* :func:`nequip_mts.analysis.replicas.compare_replicas` compares two setups run
  several times each (replicas), against the scatter between their own replicas.
* :func:`analyze_log` fits the conserved-energy drift of an ``MTSLogger`` or
  ASE ``MDLogger`` log.
* :func:`report_markdown`, :func:`report_json` and :func:`write_report` write
  them out (plots need matplotlib, the ``analysis`` extra).

Units: Å, fs, ps, cm^-1, 10^-5 cm^2/s (self-diffusion), meV/atom/ps (drift).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from os import PathLike
from pathlib import Path

import numpy as np

from .diffusion import DiffusionResult, self_diffusion_from_frames
from .drift import DriftResult, MDLog, drift_from_md_log, read_md_log
from .frames import TIME_KEY, discard_equilibration, frame_times_fs, load_frames, regular_frames
from .molecules import BOND_SCALE, find_molecules, parse_selector
from .rdf import RDFHalves, element_pairs, first_peak, rdf_halves
from .replicas import ALPHA, ReplicaComparison, compare_replicas, difference_sigma
from .vdos import C_CM_PER_FS, band_peak, spectral_distance, vdos_from_frames

#: without --band, the VDOS table gives the highest peak above this wavenumber (cm^-1),
#: past the diffusive low-frequency part of a liquid
TOP_PEAK_FROM_CM1 = 500.0
#: files that :func:`write_report` may write into the output directory
REPORT_FILES = (
    "report.md",
    "results.json",
    "rdf.png",
    "rdf_replicas.png",
    "vdos.png",
    "msd.png",
    "drift.png",
)


@dataclass
class AnalysisOptions:
    """Settings of one analysis (the options of ``nequip-mts analyze``).

    Attributes
    ----------
    pairs : sequence of (str, str), optional
        RDF pairs of groups (element symbols or selectors such as ``"O@H2O"``);
        default: every element pair of the first frame, heaviest first.
    rmax : float
        RDF range in Å.
    nbins : int
        RDF bins on ``[0, rmax]``.
    intermolecular : bool
        Leave pairs within one molecule out of the RDFs.
    bond_scale : float
        Covalent-radius multiplier that defines molecules.
    compare_rmin : float, optional
        Also compare RDFs only beyond this distance (Å), e.g. 1.7 for water,
        past the intramolecular O-H and H-H peaks.
    vdos_groups : sequence of str, optional
        Atoms whose velocities enter the VDOS (default all).
    bands : sequence of (float, float)
        Wavenumber windows (cm^-1) in which to report the VDOS peak.
    diffusion_groups : sequence of str, optional
        Groups whose self-diffusion is reported (default: every element).
    diffusion_window_ps : (float, float), optional
        MSD fit window in ps (default: 10 % to 50 % of a block).
    diffusion_blocks : int
        Time blocks for the error bar of D.
    remove_com : bool
        Remove the centre-of-mass drift before the MSD.
    equilibration_ps : float
        Discard this much from the start of every trajectory and log.
    dt_fs : float, optional
        Frame spacing in fs, only for frames without ``md_time_fs``.
    stride : int
        Use every ``stride``-th frame.
    n_atoms : int, optional
        Atoms of the system of ASE MDLogger logs with total energies.
    """

    pairs: Sequence[tuple[str, str]] | None = None
    rmax: float = 6.0
    nbins: int = 120
    intermolecular: bool = False
    bond_scale: float = BOND_SCALE
    compare_rmin: float | None = None
    vdos_groups: Sequence[str] | None = None
    bands: Sequence[tuple[float, float]] = ()
    diffusion_groups: Sequence[str] | None = None
    diffusion_window_ps: tuple[float, float] | None = None
    diffusion_blocks: int = 5
    remove_com: bool = True
    equilibration_ps: float = 0.0
    dt_fs: float | None = None
    stride: int = 1
    n_atoms: int | None = None

    def check(self) -> None:
        """Raise ValueError, naming the option, for settings that cannot work."""
        if not self.rmax > 0:
            raise ValueError(f"--rmax must be > 0 A, got {self.rmax}")
        if int(self.nbins) < 1:
            raise ValueError(f"--nbins must be >= 1, got {self.nbins}")
        if not self.bond_scale > 0:
            raise ValueError(f"--bond-scale must be > 0, got {self.bond_scale}")
        if self.compare_rmin is not None and not 0 <= self.compare_rmin < self.rmax:
            raise ValueError(f"--compare-rmin must lie in [0, rmax = {self.rmax}) A, got {self.compare_rmin}")
        if not self.equilibration_ps >= 0:
            raise ValueError(f"--equilibration-ps must be >= 0, got {self.equilibration_ps}")
        if self.dt_fs is not None and not self.dt_fs > 0:
            raise ValueError(f"--dt-fs must be > 0, got {self.dt_fs}")
        if int(self.stride) < 1:
            raise ValueError(f"--stride must be >= 1, got {self.stride}")
        if int(self.diffusion_blocks) < 2:
            raise ValueError(f"--diffusion-blocks must be >= 2, got {self.diffusion_blocks}")
        if self.diffusion_window_ps is not None:
            t0, t1 = self.diffusion_window_ps
            if not 0 <= t0 < t1:
                raise ValueError(f"--diffusion-window-ps needs 0 <= T0 < T1, got {t0} {t1}")
        for lo, hi in self.bands:
            if not 0 <= lo < hi:
                raise ValueError(f"--band needs 0 <= LO < HI (cm^-1), got {lo} {hi}")
        if self.n_atoms is not None and int(self.n_atoms) < 1:
            raise ValueError(f"--n-atoms must be >= 1, got {self.n_atoms}")
        for pair in self.pairs or ():
            if len(pair) != 2:
                raise ValueError(f"an RDF pair has two groups, got {pair!r}")
            for s in pair:
                parse_selector(s)
        for s in [*(self.vdos_groups or ()), *(self.diffusion_groups or ())]:
            parse_selector(s)


@dataclass
class RunAnalysis:
    """The analysis of one run (see :func:`analyze_run`).

    ``vdos``, ``band_peaks`` and ``diffusion`` entries are missing when they
    could not be computed; ``notes`` then says why.
    """

    label: str
    source: str
    n_frames: int
    n_atoms: int
    spacing_fs: float
    t_start_ps: float
    t_end_ps: float
    dropped_off_grid: int
    discarded: int
    mean_temperature_K: float | None
    molecules: dict[str, int]
    rdf: RDFHalves
    vdos: tuple[np.ndarray, np.ndarray] | None = None
    band_peaks: dict[tuple[float, float], float] = field(default_factory=dict)
    diffusion: dict[str, DiffusionResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: element -> mean kinetic temperature of its atoms (K): equal in equilibrium (equipartition)
    element_temperature_K: dict[str, float] = field(default_factory=dict)


def element_temperatures(frames) -> dict[str, float]:
    """Element -> mean kinetic temperature (K) of its atoms over ``frames`` (3 degrees of freedom each).

    In equilibrium every element has the system's temperature (equipartition); an
    integrator that pumps energy into some motions (r-RESPA resonance heats the light,
    stiffly bonded atoms) while a global thermostat holds the total shows up here.
    """
    from nequip_mts.md.equipartition import element_kinetic_temperatures

    per_frame = [element_kinetic_temperatures(f) for f in frames]
    return {el: float(np.mean([t[el] for t in per_frame])) for el in per_frame[0]}


def analyze_run(
    frames, label: str, options: AnalysisOptions | None = None, source: str | None = None
) -> RunAnalysis:
    """Analyse one run: RDFs with their half-vs-half noise, VDOS, MSD/diffusion, mean T.

    Parameters
    ----------
    frames : path or iterable of ase.Atoms
        The run's frames, in time order.
    label : str
        Name of the run in the report.
    options : AnalysisOptions, optional
    source : str, optional
        Where the frames came from (default: ``frames`` if it is a path).

    Returns
    -------
    RunAnalysis

    Raises
    ------
    ValueError
        For frames that cannot be analysed at all: no time axis (no
        ``md_time_fs`` and no ``dt_fs``), uneven spacing, fewer than 2 frames
        left, or an RDF group that the frames do not hold.
    """
    options = AnalysisOptions() if options is None else options
    options.check()
    if source is None:
        source = str(frames) if isinstance(frames, (str, PathLike)) else label
    all_frames = load_frames(frames)
    if not all_frames:
        raise ValueError(f"{source}: no frames")
    try:
        regular, spacing, dropped = regular_frames(all_frames, options.dt_fs)
        t_regular = frame_times_fs(regular, options.dt_fs)
        kept = discard_equilibration(regular, options.equilibration_ps, options.dt_fs)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    discarded = len(regular) - len(kept)
    t = t_regular[discarded:][:: int(options.stride)]
    kept = kept[:: int(options.stride)]
    notes = []
    if dropped:
        notes.append(
            f"{dropped} frame(s) off the {spacing:g} fs grid left out "
            "(e.g. the final state written off the log interval)"
        )
    spacing *= int(options.stride)
    if len(kept) < 2:
        raise ValueError(
            f"{source}: {len(kept)} frame(s) left after equilibration and stride; "
            "lower --equilibration-ps or --stride"
        )
    # frames with md_time_fs carry their (strided) spacing; others get it explicitly
    dt = None if TIME_KEY in kept[0].info else spacing
    first = kept[0]
    mols = find_molecules(first, options.bond_scale)
    counts: dict[str, int] = {}
    for formula in mols.formulas:
        counts[formula] = counts.get(formula, 0) + 1

    pairs = element_pairs(first) if options.pairs is None else [tuple(p) for p in options.pairs]
    try:
        rdf = rdf_halves(
            kept,
            pairs=pairs,
            rmax=options.rmax,
            nbins=options.nbins,
            intermolecular=options.intermolecular,
            bond_scale=options.bond_scale,
        )
    except ValueError as err:
        raise ValueError(f"{source}: RDF: {err}; choose --pairs the frames hold") from None

    has_momenta = all("momenta" in f.arrays for f in kept)
    temperature = float(np.mean([f.get_temperature() for f in kept])) if has_momenta else None
    run = RunAnalysis(
        label=label,
        source=source,
        n_frames=len(kept),
        n_atoms=len(first),
        spacing_fs=spacing,
        t_start_ps=float(t[0]) / 1000.0,
        t_end_ps=float(t[-1]) / 1000.0,
        dropped_off_grid=dropped,
        discarded=discarded,
        mean_temperature_K=temperature,
        molecules=counts,
        rdf=rdf,
        notes=notes,
    )
    if has_momenta:
        run.element_temperature_K = element_temperatures(kept)

    if not has_momenta:
        notes.append("VDOS not computed: the frames carry no velocities (momenta)")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                run.vdos = vdos_from_frames(kept, dt, symbols=options.vdos_groups)
            except ValueError as err:
                if options.vdos_groups is not None:  # asked for: bad input
                    raise ValueError(f"{source}: VDOS of {', '.join(options.vdos_groups)}: {err}") from None
                notes.append(f"VDOS not computed: {err}")
        notes.extend(f"VDOS: {w.message}" for w in caught)
        if run.vdos is not None:
            for lo, hi in options.bands:
                try:
                    run.band_peaks[(lo, hi)] = band_peak(*run.vdos, lo, hi)
                except ValueError as err:
                    notes.append(f"VDOS peak {lo:g}-{hi:g} cm^-1 not found: {err}")

    groups = options.diffusion_groups
    asked = groups is not None or options.diffusion_window_ps is not None
    if groups is None:  # every element, heaviest first
        groups = list(dict.fromkeys(a for a, _ in element_pairs(first)))
    for group in groups:
        try:
            run.diffusion[group] = self_diffusion_from_frames(
                kept,
                dt,
                symbols=group,
                remove_com=options.remove_com,
                window_ps=options.diffusion_window_ps,
                n_blocks=int(options.diffusion_blocks),
            )
        except ValueError as err:
            if asked:  # explicit groups or window: bad input
                raise ValueError(
                    f"{source}: self-diffusion of {group}: {err}; change "
                    "--diffusion-groups / --diffusion-window-ps / --diffusion-blocks"
                ) from None
            notes.append(f"self-diffusion of {group} not computed: {err}")
    return run


@dataclass
class Comparison:
    """Two runs compared (see :func:`compare_runs`).

    ``rdf_diff`` / ``rdf_noise``: max |g_a - g_b| per pair over all r, and the
    sampling noise expected for it (mean of the two runs' half-vs-half noise);
    ``*_inter``: the same for r > ``compare_rmin``.  ``diffusion``: group ->
    (D_b - D_a in 10^-5 cm^2/s, difference in combined standard errors).
    ``band_shift``: VDOS peak of b minus a (cm^-1); ``vdos_distance``: half
    the L1 distance of the unit-area spectra (0 equal, 1 disjoint).
    """

    a: str
    b: str
    rdf_diff: dict[str, float]
    rdf_noise: dict[str, float]
    rdf_diff_inter: dict[str, float] | None
    rdf_noise_inter: dict[str, float] | None
    diffusion: dict[str, tuple[float, float]]
    band_shift: dict[tuple[float, float], float]
    vdos_distance: float | None


def compare_runs(a: RunAnalysis, b: RunAnalysis, compare_rmin: float | None = None) -> Comparison:
    """Compare run ``b`` with run ``a`` (differences are b - a).

    The RDFs must share their grid and pairs (same options).
    """
    if a.rdf.r.shape != b.rdf.r.shape or not np.allclose(a.rdf.r, b.rdf.r):
        raise ValueError(f"runs {a.label} and {b.label} have different RDF grids")

    diff, noise_all = a.rdf.compare(b.rdf)
    inter = noise_inter = None
    if compare_rmin is not None:
        inter, noise_inter = a.rdf.compare(b.rdf, compare_rmin)
    dif = {}
    for group in a.diffusion.keys() & b.diffusion.keys():
        da, db = a.diffusion[group], b.diffusion[group]
        err = float(np.hypot(da.D_err_cgs, db.D_err_cgs))
        delta = db.D_cgs - da.D_cgs
        dif[group] = (delta, abs(delta) / err if err > 0 else float("inf"))
    shifts = {
        band: b.band_peaks[band] - a.band_peaks[band] for band in a.band_peaks.keys() & b.band_peaks.keys()
    }
    distance = None
    if (
        a.vdos is not None
        and b.vdos is not None
        and a.vdos[0].shape == b.vdos[0].shape
        and np.allclose(a.vdos[0], b.vdos[0])
    ):
        distance = spectral_distance(a.vdos[0], a.vdos[1], b.vdos[1])
    return Comparison(a.label, b.label, diff, noise_all, inter, noise_inter, dif, shifts, distance)


@dataclass
class LogAnalysis:
    """Drift of one MD log (see :func:`analyze_log`)."""

    label: str
    source: str
    log: MDLog
    drift: DriftResult
    t_ps: np.ndarray
    energy_meV_per_atom: np.ndarray | None


def analyze_log(
    path: str | PathLike, label: str | None = None, n_atoms: int | None = None, equilibration_ps: float = 0.0
) -> LogAnalysis:
    """Conserved-energy drift (meV/atom/ps) of an ``MTSLogger`` or ASE ``MDLogger`` log.

    ``equilibration_ps`` is dropped from the start of the log first.  For
    ASE logs with total energies ``n_atoms`` is needed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"log {path} not found; give the --log written by nequip-mts md")
    log = read_md_log(path)
    keep = log.time_fs - log.time_fs[0] >= 1000.0 * equilibration_ps - 1e-9
    if keep.sum() < 3:
        raise ValueError(
            f"{path}: fewer than 3 log lines after {equilibration_ps} ps of equilibration; "
            "lower --equilibration-ps"
        )
    log = MDLog(
        log.kind,
        {k: v[keep] for k, v in log.columns.items()},
        log.time_fs[keep],
        log.conserved[keep],
        log.per_atom,
    )
    drift = drift_from_md_log(log, n_atoms, source=str(path))
    t_ps = (log.time_fs - log.time_fs[0]) / 1000.0
    if log.kind == "mts":
        energy = log.conserved - log.conserved[0]
    elif log.per_atom:
        energy = 1000.0 * (log.conserved - log.conserved[0])
    else:
        energy = 1000.0 * (log.conserved - log.conserved[0]) / int(n_atoms)
    return LogAnalysis(label or path.stem, str(path), log, drift, t_ps, energy)


def unique_labels(paths: Sequence[str | PathLike]) -> list[str]:
    """Short distinct labels for files: their stems, or longer paths where stems repeat."""
    paths = [Path(p) for p in paths]
    for depth in range(1, max((len(p.parts) for p in paths), default=1) + 1):
        labels = ["/".join(p.with_suffix("").parts[-depth:]) if depth > 1 else _stem(p) for p in paths]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in paths]


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bz2", ".xz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Path(name).stem


# --- output -----------------------------------------------------------------------------


def _f(x, fmt=".3f"):
    return "n/a" if x is None or not np.isfinite(x) else format(x, fmt)


def report_markdown(
    runs: Sequence[RunAnalysis],
    logs: Sequence[LogAnalysis] = (),
    options: AnalysisOptions | None = None,
    command: str | None = None,
    plots: Sequence[str] = (),
    replicas: Sequence[ReplicaComparison] = (),
) -> str:
    """The markdown report of analysed runs and logs (units in every header).

    With ``replicas`` the report compares setups by their replicas instead of every
    pair of runs.
    """
    options = AnalysisOptions() if options is None else options
    lines = ["# MD analysis", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    if runs:
        lines += [
            "## Runs",
            "",
            f"Time from the frames (`md_time_fs`{'' if options.dt_fs is None else f', else {options.dt_fs} fs per frame'}); "
            f"first {options.equilibration_ps:g} ps of each run discarded as equilibration"
            + (f"; every {options.stride}th frame" if options.stride > 1 else "")
            + ".",
            "",
            "| run | file | atoms | molecules | frames used | frame spacing (fs) | time used (ps) | mean T (K) "
            "| T per element (K) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for run in runs:
            mols = ", ".join(f"{n} {f}" for f, n in sorted(run.molecules.items(), key=lambda kv: -kv[1]))
            lines.append(
                f"| {run.label} | `{run.source}` | {run.n_atoms} | {mols} | {run.n_frames} | "
                f"{run.spacing_fs:g} | {run.t_start_ps:.4g} - {run.t_end_ps:.4g} | "
                f"{_f(run.mean_temperature_K, '.1f')} | "
                + (", ".join(f"{el} {t:.1f}" for el, t in run.element_temperature_K.items()) or "n/a")
                + " |"
            )
        pairwise = not replicas
        lines += (
            _rdf_section(runs, options, pairwise)
            + _vdos_section(runs, options, pairwise)
            + _diffusion_section(runs, options, pairwise)
        )
        for rep in replicas:
            lines += _replica_section(rep, options)
    if logs:
        lines += [
            "",
            "## Conserved-energy drift",
            "",
            "Linear fit of the conserved energy against time; the error is the standard error "
            "inflated by the statistical inefficiency of the residuals. MTSLogger logs: the "
            "`Drift[meV/at]` column (the integrator's conserved energy); ASE MDLogger logs: `Etot` "
            "(conserved in NVE only).",
            "",
            "| log | file | format | lines | time (ps) | drift (meV/atom/ps) | fluctuation (meV/atom) |",
            "|---|---|---|---|---|---|---|",
        ]
        for lg in logs:
            lines.append(
                f"| {lg.label} | `{lg.source}` | {'MTSLogger' if lg.log.kind == 'mts' else 'ASE MDLogger'} | "
                f"{len(lg.t_ps)} | {lg.t_ps[-1]:.4g} | {lg.drift.slope:+.3f} +/- {lg.drift.stderr:.3f} | "
                f"{lg.drift.fluctuation:.3g} |"
            )
    notes = [(run.label, n) for run in runs for n in run.notes]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {label}: {n}" for label, n in notes]
    if plots:
        lines += ["", "Plots: " + ", ".join(f"`{p}`" for p in plots) + "."]
    return "\n".join(lines) + "\n"


def _rdf_section(runs, options, pairwise=True):
    rmin = options.compare_rmin
    keys = list(runs[0].rdf.g)
    desc = (
        "intermolecular pairs only (pairs within one molecule left out; molecules from covalent "
        f"radii x {options.bond_scale:g})"
        if options.intermolecular
        else "all pairs"
    )
    lines = [
        "",
        "## Radial distribution functions",
        "",
        f"{desc}; r up to {options.rmax:g} A in {options.nbins} bins. Noise: each run's first half "
        "against its second half, max |dg| / sqrt(2), the difference expected between two "
        "independent runs of this length from sampling alone; for two runs the mean of their noises. "
        "It holds when each half is much longer than the structural relaxation time; shorter runs "
        "underestimate it.",
        "",
    ]
    head = (
        "| pair | "
        + " | ".join(f"{run.label}: first peak r (A) / g" for run in runs)
        + " | "
        + " | ".join(
            f"{run.label}: noise{' all r / r > ' + format(rmin, 'g') + ' A' if rmin is not None else ''}"
            for run in runs
        )
        + " |"
    )
    lines += [head, "|---|" + "---|" * (2 * len(runs))]
    for key in keys:
        cells = []
        for run in runs:
            lo = 0.0 if rmin is None else rmin
            r, h = first_peak(run.rdf.r, run.rdf.g[key], rmin=lo)
            cells.append(f"{r:.2f} / {h:.2f}")
        for run in runs:
            n_all = run.rdf.noise(0.0)[key]
            cell = f"{n_all:.3f}" if rmin is None else f"{n_all:.3f} / {run.rdf.noise(rmin)[key]:.3f}"
            cells.append(cell)
        lines.append(f"| g_{key} | " + " | ".join(cells) + " |")
    if rmin is not None:
        lines += ["", f"First peaks are searched for r > {rmin:g} A."]
    comps = [compare_runs(a, b, rmin) for a, b in combinations(runs, 2)] if pairwise else []
    if comps:
        lines += ["", "max |dg| between runs, beside its sampling noise:", ""]
        sub = "all r" + (f" / r > {rmin:g} A" if rmin is not None else "")
        lines += [
            "| pair | "
            + " | ".join(f"{c.b} vs {c.a}: max abs dg ({sub}) | noise ({sub})" for c in comps)
            + " |",
            "|---|" + "---|" * (2 * len(comps)),
        ]
        for key in keys:
            cells = []
            for c in comps:
                if rmin is None:
                    cells += [f"{c.rdf_diff[key]:.3f}", f"{c.rdf_noise[key]:.3f}"]
                else:
                    cells += [
                        f"{c.rdf_diff[key]:.3f} / {c.rdf_diff_inter[key]:.3f}",
                        f"{c.rdf_noise[key]:.3f} / {c.rdf_noise_inter[key]:.3f}",
                    ]
            lines.append(f"| g_{key} | " + " | ".join(cells) + " |")
    return lines


def _vdos_section(runs, options, pairwise=True):
    have = [run for run in runs if run.vdos is not None]
    if not have:
        return []
    groups = "all atoms" if options.vdos_groups is None else ", ".join(options.vdos_groups)
    lines = [
        "",
        "## Vibrational density of states",
        "",
        f"Mass-weighted VACF of {groups}, Hann window, unit area over wavenumber.",
        "",
        "| run | "
        + (
            "".join(f"peak in {lo:g}-{hi:g} cm^-1 (cm^-1) | " for lo, hi in options.bands)
            if options.bands
            else f"highest peak above {TOP_PEAK_FROM_CM1:g} cm^-1 (cm^-1) | "
        )
        + "Nyquist limit (cm^-1) |",
        "|---|---|" + "---|" * max(1, len(options.bands)),
    ]
    for run in have:
        w, d = run.vdos
        if options.bands:
            cells = [_f(run.band_peaks.get(band), ".0f") for band in options.bands]
        else:
            cells = [f"{band_peak(w, d, TOP_PEAK_FROM_CM1, float(w[-1])):.0f}"]
        lines.append(
            f"| {run.label} | " + " | ".join(cells) + f" | {0.5 / run.spacing_fs / C_CM_PER_FS:.0f} |"
        )
    comps = [compare_runs(a, b) for a, b in combinations(have, 2)] if pairwise else []
    if comps:
        lines += [
            "",
            "| runs | spectral distance (0 same, 1 disjoint) |"
            + "".join(f" peak shift {lo:g}-{hi:g} cm^-1 (cm^-1) |" for lo, hi in options.bands),
            "|---|---|" + "---|" * len(options.bands),
        ]
        for c in comps:
            cells = [_f(c.vdos_distance)] + [_f(c.band_shift.get(band), "+.0f") for band in options.bands]
            lines.append(f"| {c.b} vs {c.a} | " + " | ".join(cells) + " |")
    return lines


def _diffusion_section(runs, options, pairwise=True):
    groups = []
    for run in runs:
        groups += [g for g in run.diffusion if g not in groups]
    if not groups:
        return []
    lines = [
        "",
        "## Self-diffusion",
        "",
        "D from the slope of the MSD (Einstein, 3D), centre-of-mass drift "
        f"{'removed' if options.remove_com else 'kept'}; error: standard error over "
        f"{options.diffusion_blocks} time blocks. No finite-size correction.",
        "",
        "| group | " + " | ".join(f"{run.label}: D (1e-5 cm^2/s)" for run in runs) + " | fit window (ps) |",
        "|---|" + "---|" * (len(runs) + 1),
    ]
    for g in groups:
        cells = [
            f"{run.diffusion[g].D_cgs:.2f} +/- {run.diffusion[g].D_err_cgs:.2f}"
            if g in run.diffusion
            else "n/a"
            for run in runs
        ]
        windows = {
            tuple(round(x, 4) for x in run.diffusion[g].window_ps) for run in runs if g in run.diffusion
        }
        lines.append(
            f"| {g} | "
            + " | ".join(cells)
            + " | "
            + ", ".join(f"{a:g} - {b:g}" for a, b in sorted(windows))
            + " |"
        )
    comps = [compare_runs(a, b) for a, b in combinations(runs, 2)] if pairwise else []
    if comps:
        lines += [
            "",
            "| group | " + " | ".join(f"{c.b} - {c.a} (1e-5 cm^2/s)" for c in comps) + " |",
            "|---|" + "---|" * len(comps),
        ]
        for g in groups:
            cells = [
                f"{c.diffusion[g][0]:+.2f} ({c.diffusion[g][1]:.1f} sigma)" if g in c.diffusion else "n/a"
                for c in comps
            ]
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return lines


def _range(values) -> str:
    return f"{np.mean(values):.3f} ({np.min(values):.3f}-{np.max(values):.3f})"


def _replica_section(rep: ReplicaComparison, options) -> list[str]:
    rmin = options.compare_rmin
    where = "all r" if rmin is None else f"r > {rmin:g} A"
    lines = [
        "",
        f"## Replicas: {rep.b} against {rep.a}",
        "",
        f"{rep.n_a} runs of {rep.a} and {rep.n_b} of {rep.b}, each with its own starting velocities "
        f"and thermostat noise. RDFs ({where}): max |dg| for every pair of runs. Pairs within a "
        "setup measure the sampling noise directly (the difference between two independent runs "
        "of this length); pairs across the setups add any difference between the setups. Replica "
        "means: max |dg| between the RDFs averaged over each setup's runs. p: the fraction of the "
        f"{rep.n_splits} ways of splitting the pooled runs into groups of these sizes whose "
        f"statistic is at least the observed one (permutation test; the smallest p these runs allow "
        f"is {rep.smallest_p:.2g}). Within the noise when both p >= {ALPHA:g}.",
        "",
        f"| pair | within {rep.a}: max abs dg, mean (range) | within {rep.b} | across | across / within "
        f"| p (pairwise) | replica means: max abs dg | sampling alone, 95th percentile | p (means) "
        "| within the noise |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in rep.keys:
        lines.append(
            f"| g_{key} | {_range(rep.within_a[key])} | {_range(rep.within_b[key])} | "
            f"{_range(rep.across[key])} | {np.mean(rep.across[key]) / rep.noise(key):.2f} | "
            f"{rep.p_pairwise[key]:.3f} | {rep.mean_diff[key]:.3f} | {rep.mean_diff_null95[key]:.3f} | "
            f"{rep.p_mean[key]:.3f} | {'yes' if rep.within_noise(key) else 'no'} |"
        )

    def row(name, a, b, fmt):
        (ma, sa), (mb, sb) = a, b
        return (
            f"| {name} | {ma:{fmt}} +/- {sa:{fmt}} | {mb:{fmt}} +/- {sb:{fmt}} | "
            f"{mb - ma:+{fmt}} ({difference_sigma(a, b):.1f} sigma) |"
        )

    rows = []
    if rep.temperature_K:
        rows.append(row("mean T (K)", rep.temperature_K[rep.a], rep.temperature_K[rep.b], ".1f"))
    for el, (a, b) in rep.element_temperature_K.items():
        rows.append(row(f"T of {el} (K)", a, b, ".1f"))
    for (lo, hi), (a, b) in rep.band_peak_cm1.items():
        rows.append(row(f"VDOS peak in {lo:g}-{hi:g} cm^-1 (cm^-1)", a, b, ".0f"))
    for group in sorted(rep.diffusion):
        d = rep.diffusion[group]
        rows.append(row(f"D of {group} (1e-5 cm^2/s)", d[rep.a], d[rep.b], ".2f"))
    if rows:
        lines += [
            "",
            "Replica means with the standard error from their scatter:",
            "",
            f"| quantity | {rep.a} | {rep.b} | {rep.b} - {rep.a} |",
            "|---|---|---|---|",
            *rows,
        ]
    return lines


def replica_json(rep: ReplicaComparison) -> dict:
    """One replica comparison as JSON-ready data."""
    return {
        "a": rep.a,
        "b": rep.b,
        "n_a": rep.n_a,
        "n_b": rep.n_b,
        "n_splits": rep.n_splits,
        "rdf_within_a": rep.within_a,
        "rdf_within_b": rep.within_b,
        "rdf_across": rep.across,
        "rdf_noise": {k: rep.noise(k) for k in rep.keys},
        "p_pairwise": rep.p_pairwise,
        "rdf_replica_means_max_abs_diff": rep.mean_diff,
        "rdf_replica_means_null95": rep.mean_diff_null95,
        "p_means": rep.p_mean,
        "within_noise": {k: rep.within_noise(k) for k in rep.keys},
        "mean_temperature_K": rep.temperature_K,
        "element_temperature_K": {
            el: {rep.a: a, rep.b: b} for el, (a, b) in rep.element_temperature_K.items()
        },
        "vdos_band_peak_cm1": [
            {"band_cm1": list(band), rep.a: a, rep.b: b} for band, (a, b) in rep.band_peak_cm1.items()
        ],
        "diffusion_1e-5cm2_s": rep.diffusion,
        "diffusion_diff_sigma": {g: rep.diffusion_sigma(g) for g in rep.diffusion},
    }


def report_json(
    runs: Sequence[RunAnalysis],
    logs: Sequence[LogAnalysis] = (),
    options: AnalysisOptions | None = None,
    replicas: Sequence[ReplicaComparison] = (),
) -> dict:
    """The report's numbers as plain JSON-ready data (units in the key names)."""
    options = AnalysisOptions() if options is None else options
    rmin = options.compare_rmin

    def band_key(band):
        return f"{band[0]:g}-{band[1]:g}"

    out = {"runs": {}, "comparisons": [], "logs": {}, "replicas": [replica_json(r) for r in replicas]}
    for run in runs:
        entry = {
            "source": run.source,
            "n_frames": run.n_frames,
            "n_atoms": run.n_atoms,
            "frame_spacing_fs": run.spacing_fs,
            "t_start_ps": run.t_start_ps,
            "t_end_ps": run.t_end_ps,
            "frames_off_grid": run.dropped_off_grid,
            "frames_discarded": run.discarded,
            "mean_temperature_K": run.mean_temperature_K,
            "element_temperature_K": run.element_temperature_K,
            "molecules": run.molecules,
            "rdf_noise": run.rdf.noise(0.0),
            "rdf_noise_inter": run.rdf.noise(rmin) if rmin is not None else None,
            "vdos_peak_cm1": {band_key(b): v for b, v in run.band_peaks.items()},
            "diffusion_1e-5cm2_s": {
                g: {"D": d.D_cgs, "err": d.D_err_cgs, "window_ps": list(d.window_ps)}
                for g, d in run.diffusion.items()
            },
            "notes": run.notes,
        }
        out["runs"][run.label] = entry
    for a, b in combinations(runs, 2) if not replicas else ():  # replicas replace the pairs
        c = compare_runs(a, b, rmin)
        out["comparisons"].append(
            {
                "a": c.a,
                "b": c.b,
                "rdf_max_abs_diff": c.rdf_diff,
                "rdf_noise": c.rdf_noise,
                "rdf_max_abs_diff_inter": c.rdf_diff_inter,
                "rdf_noise_inter": c.rdf_noise_inter,
                "diffusion_diff_1e-5cm2_s": {g: v[0] for g, v in c.diffusion.items()},
                "diffusion_diff_sigma": {g: v[1] for g, v in c.diffusion.items()},
                "vdos_peak_shift_cm1": {band_key(k): v for k, v in c.band_shift.items()},
                "vdos_spectral_distance": c.vdos_distance,
            }
        )
    for lg in logs:
        d = lg.drift
        out["logs"][lg.label] = {
            "source": lg.source,
            "format": "MTSLogger" if lg.log.kind == "mts" else "ASE MDLogger",
            "drift_meV_atom_ps": d.slope,
            "stderr_meV_atom_ps": d.stderr,
            "stderr_ols_meV_atom_ps": d.stderr_ols,
            "fluctuation_meV_atom": d.fluctuation,
            "inefficiency": d.inefficiency,
            "n_lines": int(len(lg.t_ps)),
        }
    return out


def existing_report_files(outdir: str | PathLike) -> list[Path]:
    """The files in ``outdir`` that :func:`write_report` would replace."""
    outdir = Path(outdir)
    existing = [outdir / name for name in REPORT_FILES if (outdir / name).exists()]
    return existing + sorted(outdir.glob("rdf_replicas_*.png"))


def write_report(
    outdir: str | PathLike,
    runs: Sequence[RunAnalysis],
    logs: Sequence[LogAnalysis] = (),
    options: AnalysisOptions | None = None,
    command: str | None = None,
    overwrite: bool = False,
    plots: bool = True,
    groups: Mapping[str, Sequence[int]] | None = None,
) -> list[Path]:
    """Write ``report.md``, ``results.json`` and the PNGs into ``outdir``; return the paths.

    ``groups`` (setup label -> indices into ``runs``, at least 2 each) marks runs as
    replicas of one setup: every two setups are compared by
    :func:`~nequip_mts.analysis.replicas.compare_replicas`, and the RDF and VDOS plots
    show each setup's replica mean.

    Raises ValueError, before writing anything, if a result file exists and
    ``overwrite`` is false, or if plots are asked for without matplotlib.
    """
    options = AnalysisOptions() if options is None else options
    outdir = Path(outdir)
    existing = existing_report_files(outdir)
    if existing and not overwrite:
        raise ValueError(f"{existing[0]} exists; pass --overwrite or choose another --output directory")
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ValueError(
                "plots need matplotlib: pip install 'nequip-mts[analysis]', or pass --no-plots"
            ) from None
        from . import plots as plotting
    replicas = []
    if groups:
        members = {label: [runs[i] for i in idx] for label, idx in groups.items()}
        replicas = [
            compare_replicas(members[a], members[b], a, b, rmin=options.compare_rmin or 0.0)
            for a, b in combinations(members, 2)
        ]
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    pngs = []
    if plots:
        if runs:
            rdfs = {run.label: (run.rdf.r, run.rdf.g) for run in runs}
            vd = {run.label: run.vdos for run in runs if run.vdos is not None}
            if groups:  # one curve per setup: the mean of its replicas
                rdfs = {f"{label} (mean of {len(m)})": _mean_rdf(m) for label, m in members.items()}
                vd = {f"{label} (mean of {len(m)})": _mean_vdos(m) for label, m in members.items()}
                vd = {k: v for k, v in vd.items() if v is not None}
            plotting.plot_rdfs(rdfs, outdir / "rdf.png")
            pngs.append("rdf.png")
            for k, rep in enumerate(replicas):
                name = "rdf_replicas.png" if len(replicas) == 1 else f"rdf_replicas_{k + 1}.png"
                plotting.plot_rdf_differences(
                    rep.r,
                    {key: (rep.diff_curve[key], 2 * rep.se_curve[key]) for key in rep.keys},
                    outdir / name,
                    title=f"{rep.b} - {rep.a}",
                    rmin=options.compare_rmin or 0.0,
                )
                pngs.append(name)
            if vd:
                top = max(float(w[-1]) for w, _ in vd.values())
                plotting.plot_vdos(vd, outdir / "vdos.png", xlim=(0.0, min(4500.0, top)))
                pngs.append("vdos.png")
            curves = {f"{run.label} {g}": (d.t_ps, d.msd) for run in runs for g, d in run.diffusion.items()}
            fits = {f"{run.label} {g}": (d.D, d.window_ps) for run in runs for g, d in run.diffusion.items()}
            if groups:  # the replica mean of each setup's MSD, without fits
                curves, fits = _mean_msds(members), None
            if curves:
                plotting.plot_msd(curves, outdir / "msd.png", fits=fits)
                pngs.append("msd.png")
        if logs:
            plotting.plot_energy_drift(
                {lg.label: (lg.t_ps, lg.energy_meV_per_atom, lg.drift.slope) for lg in logs},
                outdir / "drift.png",
            )
            pngs.append("drift.png")
    written += [outdir / p for p in pngs]
    (outdir / "report.md").write_text(report_markdown(runs, logs, options, command, pngs, replicas))
    (outdir / "results.json").write_text(
        json.dumps(report_json(runs, logs, options, replicas), indent=2, default=_json_default) + "\n"
    )
    return [outdir / "report.md", outdir / "results.json", *written]


def _mean_rdf(runs):
    return runs[0].rdf.r, {k: np.mean([run.rdf.g[k] for run in runs], axis=0) for k in runs[0].rdf.g}


def _mean_vdos(runs):
    """Mean spectrum of runs on one wavenumber grid; None when a run has none or the grids differ."""
    if any(run.vdos is None for run in runs):
        return None
    w = runs[0].vdos[0]
    if any(run.vdos[0].shape != w.shape or not np.allclose(run.vdos[0], w) for run in runs):
        return None
    return w, np.mean([run.vdos[1] for run in runs], axis=0)


def _mean_msds(members):
    """Setup and group -> replica-mean MSD curve, where the runs share one time grid."""
    out = {}
    for label, runs in members.items():
        for g in set.intersection(*(set(run.diffusion) for run in runs)):
            t = runs[0].diffusion[g].t_ps
            if all(run.diffusion[g].t_ps.shape == t.shape for run in runs):
                msd = np.mean([run.diffusion[g].msd for run in runs], axis=0)
                out[f"{label} {g} (mean of {len(runs)})"] = (t, msd)
    return out


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


__all__ = [
    "REPORT_FILES",
    "AnalysisOptions",
    "Comparison",
    "LogAnalysis",
    "RunAnalysis",
    "analyze_log",
    "analyze_run",
    "compare_runs",
    "existing_report_files",
    "report_json",
    "report_markdown",
    "unique_labels",
    "write_report",
]
