"""``nequip-mts analyze``: RDF, VDOS, MSD/diffusion and NVE drift of MD runs, as markdown and PNG.

Example::

    nequip-mts analyze md.traj --log md.log -o analysis/
    nequip-mts analyze baseline.traj mts.traj --intermolecular --equilibration-ps 1 -o compare/

Reads trajectories written by ``nequip-mts md`` (any file ``ase.io.read`` reads:
``.traj``, extxyz); the time axis comes from the frames' ``md_time_fs``. With
several trajectories the report compares them, each RDF difference beside its
sampling noise from block halves. Runs given one label are replicas of one setup
(independent starts of the same model and integrator): the report then compares
the setups against the scatter between their own replicas, a direct measure of
the noise (``nequip_mts.analysis.replicas``), for example

    nequip-mts analyze mts_*.extxyz control_*.extxyz --labels MTS MTS MTS MTS control control control control

Logs (``MTSLogger`` of ``nequip-mts md``, or
ASE ``MDLogger``) give the conserved-energy drift.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition("-")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"{text!r} is not a pair; write A-B, e.g. O-H or O@H2O-H@H2O")
    return a, b


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``analyze`` options to ``parser``."""
    parser.add_argument(
        "trajectories",
        nargs="*",
        metavar="TRAJ",
        help="trajectory files of the runs to analyse and compare (.traj, extxyz)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("analysis"),
        help="directory for report.md, results.json and the PNGs (default: analysis)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace result files already in --output")
    parser.add_argument(
        "--labels",
        nargs="+",
        metavar="LABEL",
        help="names of the runs in the report (default: the file names); runs given the same "
        "name are replicas of one setup, compared as a group (at least 2 per name)",
    )
    parser.add_argument(
        "--log",
        nargs="+",
        default=[],
        metavar="LOG",
        dest="logs",
        help="MD logs (MTSLogger of nequip-mts md, or ASE MDLogger) for the drift",
    )
    parser.add_argument(
        "--n-atoms",
        type=int,
        help="atoms of the system, for ASE MDLogger logs of total energies "
        "(default: the trajectories' atom count)",
    )
    time = parser.add_argument_group("time axis")
    time.add_argument(
        "--equilibration-ps",
        type=float,
        default=0.0,
        help="discard this much (ps) from the start of every trajectory and log (default 0)",
    )
    time.add_argument(
        "--dt-fs", type=float, help="time between frames (fs), only for frames without md_time_fs"
    )
    time.add_argument("--stride", type=int, default=1, help="use every N-th frame (default 1)")
    rdf = parser.add_argument_group("radial distribution functions")
    rdf.add_argument(
        "--pairs",
        nargs="+",
        type=_pair,
        metavar="A-B",
        help="pairs of groups: elements (O-H) or molecule-aware groups (O@H2O-O@CH4O, "
        "*@H2O-O); default every element pair",
    )
    rdf.add_argument(
        "--intermolecular",
        action="store_true",
        help="leave out pairs within one molecule (molecules from covalent connectivity)",
    )
    rdf.add_argument(
        "--bond-scale",
        type=float,
        default=1.2,
        help="bonded below this times the sum of covalent radii (default 1.2)",
    )
    rdf.add_argument("--rmax", type=float, default=6.0, help="RDF range in A (default 6)")
    rdf.add_argument("--nbins", type=int, default=120, help="RDF bins (default 120)")
    rdf.add_argument(
        "--compare-rmin",
        type=float,
        metavar="R",
        help="also compare RDFs for r > R A only (e.g. 1.7 for water, past the intramolecular peaks)",
    )
    vd = parser.add_argument_group("vibrational density of states")
    vd.add_argument("--vdos-groups", nargs="+", metavar="GROUP", help="atoms in the VDOS (default all)")
    vd.add_argument(
        "--band",
        nargs=2,
        type=float,
        action="append",
        default=[],
        metavar=("LO", "HI"),
        help="report the VDOS peak in LO-HI cm^-1 (repeatable), e.g. --band 2800 4200",
    )
    df = parser.add_argument_group("self-diffusion")
    df.add_argument(
        "--diffusion-groups",
        nargs="+",
        metavar="GROUP",
        help="groups for the MSD and D, e.g. O or O@H2O (default every element)",
    )
    df.add_argument(
        "--diffusion-window-ps",
        nargs=2,
        type=float,
        metavar=("T0", "T1"),
        help="MSD fit window in ps (default 10-50%% of a block)",
    )
    df.add_argument(
        "--diffusion-blocks", type=int, default=5, help="time blocks for the error of D (default 5)"
    )
    df.add_argument("--keep-com", action="store_true", help="do not remove the centre-of-mass drift")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs (no matplotlib needed)")
    return parser


def add_parser(subparsers):
    """Register the ``analyze`` subcommand on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "analyze",
        help="RDF, VDOS, diffusion and drift of MD runs (markdown + PNG)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def options_from_args(args):
    """The :class:`~nequip_mts.analysis.report.AnalysisOptions` of parsed arguments."""
    from nequip_mts.analysis.report import AnalysisOptions

    options = AnalysisOptions(
        pairs=args.pairs,
        rmax=args.rmax,
        nbins=args.nbins,
        intermolecular=args.intermolecular,
        bond_scale=args.bond_scale,
        compare_rmin=args.compare_rmin,
        vdos_groups=args.vdos_groups,
        bands=[tuple(b) for b in args.band],
        diffusion_groups=args.diffusion_groups,
        diffusion_window_ps=None if args.diffusion_window_ps is None else tuple(args.diffusion_window_ps),
        diffusion_blocks=args.diffusion_blocks,
        remove_com=not args.keep_com,
        equilibration_ps=args.equilibration_ps,
        dt_fs=args.dt_fs,
        stride=args.stride,
        n_atoms=args.n_atoms,
    )
    options.check()
    return options


def replica_groups(labels: list[str]) -> dict[str, list[int]] | None:
    """Setup label -> run indices when labels repeat (replicas), else None.

    Raises ValueError when some labels repeat and others do not, since a setup needs
    at least 2 replicas to measure its noise.
    """
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    if len(groups) == len(labels):
        return None
    single = [label for label, idx in groups.items() if len(idx) < 2]
    if single or len(groups) < 2:
        raise ValueError(
            f"--labels {' '.join(labels)}: repeated labels mark replicas, and every setup needs at "
            f"least 2 runs{' (' + ', '.join(single) + ' has 1)' if single else ''} and there must be "
            "2 setups or more; give each setup's runs one label, or every run its own"
        )
    return groups


def _command_line():
    """``nequip-mts analyze ...`` as typed, when this process is that command; else None."""
    argv = sys.argv[1:]
    if "analyze" not in argv[:1]:
        return None
    return "nequip-mts " + " ".join(shlex.quote(a) for a in argv)


def run(args):
    """Run the ``analyze`` subcommand; returns the paths written.

    Raises
    ------
    FileNotFoundError
        A trajectory or log does not exist.
    ValueError
        Bad input: no inputs, labels that do not match, existing results without
        ``--overwrite``, frames without a time axis, and so on (the message names
        the fix).
    """
    from nequip_mts.analysis.frames import load_frames
    from nequip_mts.analysis.report import analyze_log, analyze_run, unique_labels, write_report

    if not args.trajectories and not args.logs:
        raise ValueError("nothing to analyse; give trajectory files (TRAJ ...) and/or --log files")
    options = options_from_args(args)
    for path in [*args.trajectories, *args.logs]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} not found; give the trajectory or log written by nequip-mts md")
    if args.labels is not None and len(args.labels) != len(args.trajectories):
        raise ValueError(
            f"{len(args.labels)} --labels for {len(args.trajectories)} trajectories; "
            "give one label per trajectory"
        )
    labels = list(args.labels) if args.labels is not None else unique_labels(args.trajectories)
    groups = replica_groups(labels)
    if groups:  # replicas: number the runs of each setup
        for label, idx in groups.items():
            for n, i in enumerate(idx, 1):
                labels[i] = f"{label} {n}"
    # refuse early, before the (possibly long) analysis
    from nequip_mts.analysis.report import existing_report_files

    existing = existing_report_files(args.output)
    if existing and not args.overwrite:
        raise ValueError(f"{existing[0]} exists; pass --overwrite or choose another --output directory")

    runs = []
    for path, label in zip(args.trajectories, labels):
        try:
            frames = load_frames(path)
        except Exception as err:  # ase.io raises many kinds for unreadable files
            raise ValueError(
                f"cannot read {path} as a trajectory ({type(err).__name__}: {err}); "
                "give an ASE .traj or extxyz file"
            ) from None
        runs.append(analyze_run(frames, label, options, source=str(path)))
        print(f"analysed {label}: {runs[-1].n_frames} frames", flush=True)

    n_atoms = options.n_atoms
    if n_atoms is None and runs and len({r.n_atoms for r in runs}) == 1:
        n_atoms = runs[0].n_atoms
    log_labels = unique_labels(args.logs)
    logs = [
        analyze_log(path, label, n_atoms, options.equilibration_ps)
        for path, label in zip(args.logs, log_labels)
    ]

    written = write_report(
        args.output,
        runs,
        logs,
        options,
        command=_command_line(),
        overwrite=args.overwrite,
        plots=not args.no_plots,
        groups=groups,
    )
    print((args.output / "report.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written))
    return written
