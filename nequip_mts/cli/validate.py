"""``nequip-mts validate``: check a model before production MD (bond scans, MD probes).

Example::

    nequip-mts validate deployed/ water.extxyz --temperature-K 300 --timestep-fs 0.5 \\
        --ks 2 4 6 8 -o validation/

Scans each bonded element pair of the structure from 0.7x to 1.8x its length, with the
energy of the sum and of the fast and slow parts, and reports false minima (position,
depth, the part that causes them), and closes each bonded angle type until its outer
atoms touch (a folded molecule must cost energy). Then runs short MD probes at the temperature: single
step (K = 1) at the inner step --timestep-fs, and MTS at each of --ks with an outer
step of K x --timestep-fs, each with its mean temperature, conserved-energy drift and
bond-topology changes. Writes report.md, results.json and PNGs in --output. Exit 0 when
the model passes, 3 when it fails, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nequip_mts.cli.md import add_model_arguments
from nequip_mts.errors import InputError, ValidationFailed
from nequip_mts.manifest import FILENAME as MANIFEST

REPORT = "report.md"
RESULTS = "results.json"
SCANS_PNG = "bond_scans.png"
PROBES_PNG = "md_probes.png"


def load_provider(model, device="cpu", *, eager=False, cache_dir=None):
    """The model as an ``MTSCalculator`` (as ``nequip-mts md`` loads it; ``eager``,
    ``cache_dir``), or, for a conventional single-model checkpoint or package, that
    model's ASE calculator (bond scans and the single-step probe)."""
    from nequip_mts.cli.md import load_provider as load

    path = Path(model)
    if path.is_file() and path.suffix != ".json":
        from nequip_mts.deploy.split import NotMultiscaleError, inspect_multiscale

        try:
            inspect_multiscale(path)
        except NotMultiscaleError:
            from nequip_mts.md.providers import model_calculator

            print(
                f"validate: {path} is a single model: bond scans and the single-step MD probe",
                file=sys.stderr,
                flush=True,
            )
            return model_calculator(path, device, compiled=not eager, cache_dir=cache_dir)
    return load(model, device=device, eager=eager, cache_dir=cache_dir)


def add_parser(subparsers):
    """Register ``validate`` on an ``argparse`` subparsers object."""
    from nequip_mts.md import validate as lib
    from nequip_mts.md.settings import DEFAULT_SEED, DEFAULT_THERMOSTAT_TIME_FS, ENGINE_ENSEMBLES
    from nequip_mts.md.topology import TOPOLOGY_INTERVAL

    parser = subparsers.add_parser(
        "validate",
        help="check a model before production: bond scans and short MD probes",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "model",
        help=f"deploy directory (or its {MANIFEST}), or a multiscale checkpoint (.ckpt) or package (.nequip.zip)",
    )
    parser.add_argument("structure", help="structure file readable by ase.io.read")
    parser.add_argument("--index", default="-1", help="frame of the structure file (default: last)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("validation"),
        help=f"directory for {REPORT}, {RESULTS} and the PNGs (default: validation)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report in --output")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs (no matplotlib needed)")
    parser.add_argument("--device", default="cpu", help="torch device of the models (default cpu)")
    add_model_arguments(parser)

    scan = parser.add_argument_group("bond scans")
    scan.add_argument(
        "--compress-to",
        type=float,
        default=lib.COMPRESS_MIN,
        help=f"shortest scan distance, x the bond length (default {lib.COMPRESS_MIN:g})",
    )
    scan.add_argument(
        "--stretch-to",
        type=float,
        default=lib.STRETCH_MAX,
        help=f"longest scan distance, x the bond length (default {lib.STRETCH_MAX:g})",
    )
    scan.add_argument(
        "--scan-points",
        type=int,
        default=lib.SCAN_POINTS,
        help=f"points per scan (default {lib.SCAN_POINTS})",
    )
    scan.add_argument(
        "--scan-tolerance-eV",
        type=float,
        default=lib.TOLERANCE_EV,
        help=f"a fall of the energy by more than this is a false minimum (default {lib.TOLERANCE_EV:g} eV)",
    )
    scan.add_argument(
        "--min-compression-eV",
        type=float,
        default=lib.MIN_COMPRESSION_EV,
        help="the energy must rise at least this much under compression "
        f"(default {lib.MIN_COMPRESSION_EV:g} eV)",
    )

    md = parser.add_argument_group("MD probes (fs, K)")
    md.add_argument(
        "--ensemble",
        choices=ENGINE_ENSEMBLES["ase"],
        default="nve",
        help="nve (default: its drift measures the integration error best), langevin or bussi",
    )
    md.add_argument(
        "--temperature-K",
        type=float,
        default=300.0,
        help="temperature of the initial velocities and the thermostat (default 300)",
    )
    md.add_argument(
        "--timestep-fs",
        type=float,
        default=0.5,
        help="the inner (fast) step in fs; the single-step probe runs at it (default 0.5)",
    )
    md.add_argument(
        "--ks",
        type=int,
        nargs="+",
        default=[2, 4, 8],
        metavar="K",
        help="inner steps per outer step to probe; K = 1 (single step) is always run (default 2 4 8)",
    )
    md.add_argument("--time-ps", type=float, default=0.5, help="length of each probe in ps (default 0.5)")
    md.add_argument(
        "--thermostat-time-fs",
        type=float,
        default=DEFAULT_THERMOSTAT_TIME_FS,
        help=f"thermostat time constant in fs (default {DEFAULT_THERMOSTAT_TIME_FS:g})",
    )
    md.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    md.add_argument(
        "--max-drift-meV-per-atom-per-ps",
        type=float,
        default=lib.MAX_DRIFT,
        help=f"a probe fails when its conserved energy drifts faster (default {lib.MAX_DRIFT:g})",
    )
    md.add_argument(
        "--temperature-tolerance",
        type=float,
        default=lib.TEMPERATURE_TOLERANCE,
        help="a thermostatted probe fails when its mean temperature is off the target by more "
        f"than this fraction (default {lib.TEMPERATURE_TOLERANCE:g})",
    )
    md.add_argument(
        "--topology-interval",
        type=int,
        default=TOPOLOGY_INTERVAL,
        help=f"steps between two bond-topology checks (default {TOPOLOGY_INTERVAL})",
    )
    md.add_argument("--no-md", action="store_true", help="run the bond scans only")
    md.add_argument(
        "--strict",
        action="store_true",
        help="fail when any probed K fails (default: only the bond scans and the single-step "
        "probe decide; the report names the largest K that passes)",
    )
    parser.set_defaults(func=run)
    return parser


def probe_settings(args):
    """The :class:`~nequip_mts.md.validate.ProbeSettings` of the command line, checked."""
    from nequip_mts.md.validate import ProbeSettings

    if args.no_md:
        return None
    return ProbeSettings(
        ensemble=args.ensemble,
        temperature_K=args.temperature_K,
        inner_timestep_fs=args.timestep_fs,
        ks=tuple(sorted({1, *args.ks})),
        time_ps=args.time_ps,
        thermostat_time_fs=args.thermostat_time_fs,
        seed=args.seed,
        max_drift=args.max_drift_meV_per_atom_per_ps,
        temperature_tolerance=args.temperature_tolerance,
        topology_interval=args.topology_interval,
    ).check()


def run(args):
    """Run the ``validate`` subcommand; returns the :class:`~nequip_mts.md.validate.Validation`."""
    from nequip_mts.files import atomic_write, check_output_path, refuse_existing
    from nequip_mts.md import validate as lib
    from nequip_mts.md.providers import check_device
    from nequip_mts.md.structure import read_structure

    probe = probe_settings(args)
    scan_options = dict(
        compress_min=args.compress_to,
        stretch_max=args.stretch_to,
        points=args.scan_points,
        tolerance_eV=args.scan_tolerance_eV,
        min_compression_eV=args.min_compression_eV,
    )
    if not 0 < args.compress_to < 1 < args.stretch_to:
        raise InputError(
            f"need 0 < --compress-to {args.compress_to:g} < 1 < --stretch-to {args.stretch_to:g}"
        )
    if args.scan_points < 5:
        raise InputError(f"--scan-points must be at least 5, got {args.scan_points}")
    if not args.scan_tolerance_eV > 0:
        raise InputError(f"--scan-tolerance-eV must be positive, got {args.scan_tolerance_eV}")
    atoms = read_structure(args.structure, args.index)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"--output {out} is a file; give a directory")
    names = [REPORT, RESULTS] + ([] if args.no_plots else [SCANS_PNG, PROBES_PNG])
    if not args.overwrite:
        refuse_existing([out / name for name in names], hint="pass --overwrite or choose another --output")
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError(
                "plots need matplotlib: pip install 'nequip-mts[analysis]', or pass --no-plots"
            ) from None
    check_output_path(out / REPORT, "--output")
    check_device(args.device)
    from nequip_mts.md.memory import tune_malloc

    tune_malloc()  # before the models allocate
    calc = load_provider(args.model, device=args.device, eager=args.eager, cache_dir=args.cache_dir)

    def say(text):
        print(f"validate: {text}", file=sys.stderr, flush=True)

    result = lib.validate(atoms, calc, probe, strict=args.strict, progress=say, **scan_options)
    figures = []
    if not args.no_plots:
        if result.scans or result.angle_scans:
            lib.plot_scans(result, out / SCANS_PNG)
            figures.append(SCANS_PNG)
        if result.probes:
            lib.plot_probes(result, out / PROBES_PNG)
            figures.append(PROBES_PNG)
    inputs = {"model": args.model, "structure": f"{args.structure} (frame {args.index}, {len(atoms)} atoms)"}
    with atomic_write(out / RESULTS) as f:
        json.dump({"inputs": inputs, **result.to_dict()}, f, indent=1)
    with atomic_write(out / REPORT) as f:
        f.write(lib.report_markdown(result, inputs=inputs, figures=figures))
    if not result.passed:
        raise ValidationFailed(result.findings, report=out / REPORT)
    k = result.recommended_k
    print(
        "validate: pass"
        + (f"; the largest K that passes is {k}" if k is not None else "")
        + f"; report: {out / REPORT}"
    )
    return result
