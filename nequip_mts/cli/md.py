"""``nequip-mts md``: multiple-time-step MD in ASE, on deployed models or a checkpoint.

Example::

    nequip-mts md water.xyz deployed/ --ensemble langevin --temperature-K 300 \\
        --timestep-fs 3 --inner-steps 6 --time-ps 10 --trajectory md.traj --log md.log

Run it again with ``--restart`` to continue from the last frame of ``md.traj``; an
existing ``md.traj`` or ``md.log`` is otherwise refused unless ``--overwrite`` is given.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from nequip_mts.errors import InputError
from nequip_mts.manifest import FILENAME as MANIFEST
from nequip_mts.md import settings as md_settings
from nequip_mts.md.topology import TOPOLOGY_INTERVAL


def add_parser(subparsers):
    """Register ``md`` on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "md", help="run multiple-time-step MD in ASE", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("structure", help="structure file readable by ase.io.read")
    parser.add_argument(
        "model",
        help=f"deploy directory (or its {MANIFEST}), or a multiscale checkpoint "
        "(.ckpt) or package (.nequip.zip), compiled once into the model cache (or --eager)",
    )
    parser.add_argument("--index", default="-1", help="frame of the structure file (default: last)")
    md_settings.add_arguments(parser, engine="ase")
    out = parser.add_argument_group("output and safety")
    out.add_argument("--trajectory", default="md.traj", help="ASE trajectory (default md.traj)")
    out.add_argument("--log", default="md.log", help="log file, '-' for stdout (default md.log)")
    again = out.add_mutually_exclusive_group()
    again.add_argument(
        "--restart", action="store_true", help="continue from the last complete frame of --trajectory"
    )
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --trajectory and --log (without it, and without --restart, they are refused)",
    )
    out.add_argument(
        "--allow-settings-change",
        action="store_true",
        help="let --restart change the timestep, K, ensemble or thermostat the trajectory "
        "recorded; time continues from the last frame",
    )
    out.add_argument("--device", default="cpu", help="torch device of the models (default cpu)")
    add_model_arguments(out)
    out.add_argument(
        "--max-temperature-K",
        type=float,
        help="stop if the temperature exceeds this (default: 5x the target, at least 5000 K)",
    )
    out.add_argument(
        "--max-drift-meV-per-atom",
        type=float,
        default=100.0,
        help="stop if the conserved energy drifts by more than this (default 100; inf: never)",
    )
    out.add_argument(
        "--no-topology-check",
        action="store_true",
        help="do not stop when a covalent bond breaks or forms (for reactive systems; the "
        "check is on by default when the start holds molecules)",
    )
    out.add_argument(
        "--topology-interval",
        type=int,
        default=TOPOLOGY_INTERVAL,
        help=f"steps between two bond-topology checks (default {TOPOLOGY_INTERVAL})",
    )
    out.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)
    return parser


def add_model_arguments(group):
    """``--eager`` and ``--cache-dir``: how a checkpoint or package is evaluated."""
    group.add_argument(
        "--eager",
        action="store_true",
        help="evaluate a checkpoint or package eagerly; by default it is compiled (AOTInductor, "
        "about twice as fast on CPU) once into the model cache, which takes about a minute "
        "per model the first time",
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="model cache directory (default $NEQUIP_MTS_CACHE_DIR, else "
        "$XDG_CACHE_HOME/nequip-mts or ~/.cache/nequip-mts)",
    )


def load_provider(model, device="cpu", *, eager=False, cache_dir=None):
    """An ``MTSCalculator`` for a deploy directory/manifest, a checkpoint or a package.

    A checkpoint or package is compiled through the model cache
    (:mod:`nequip_mts.deploy.cache`) unless ``eager``.
    """
    from nequip_mts.md.providers import MTSCalculator

    path = Path(model)
    if path.is_dir() or path.suffix == ".json":
        return MTSCalculator.from_deployed(path, device=device)
    if not path.is_file():
        raise InputError(
            f"no model at {path}: give a deploy directory, its {MANIFEST}, a .ckpt or a .nequip.zip"
        )
    return MTSCalculator.from_checkpoint(path, device=device, compiled=not eager, cache_dir=cache_dir)


def guard_limits(args, settings):
    """Blow-up thresholds: (max temperature in K, max drift in eV/atom or None)."""
    max_T = args.max_temperature_K
    if max_T is None:
        max_T = max(5.0 * (settings.reference_temperature_K or 1000.0), 5000.0)
    elif not max_T > 0:
        raise InputError(f"--max-temperature-K must be positive, got {max_T}")
    drift = args.max_drift_meV_per_atom
    if drift is not None and not drift > 0:
        raise InputError(f"--max-drift-meV-per-atom must be positive, got {drift}")
    return max_T, (None if drift is None or math.isinf(drift) else drift / 1000.0)


def topology_watch(args, atoms):
    """The bond-topology watch of the run: on when ``atoms`` holds molecules, unless
    ``--no-topology-check``; ``None`` when off."""
    from nequip_mts.md.topology import TopologyWatch, holds_molecules

    if args.topology_interval < 1:
        raise InputError(f"--topology-interval must be >= 1, got {args.topology_interval}")
    if args.no_topology_check or not holds_molecules(atoms):
        return None
    watch = TopologyWatch(atoms, interval=args.topology_interval)
    print(
        f"topology watch: {watch.num_bonds} bonds, checked every {watch.interval} steps "
        "(--no-topology-check for reactive systems)",
        file=sys.stderr,
    )
    return watch


def run(args):
    """Run the ``md`` subcommand; returns the integrator."""
    from nequip_mts.md.memory import tune_malloc
    from nequip_mts.md.providers import check_device
    from nequip_mts.md.runner import check_outputs, run_md
    from nequip_mts.md.structure import read_structure

    settings = md_settings.MDSettings.from_args(args, engine="ase")
    max_T, max_drift = guard_limits(args, settings)
    if args.allow_settings_change and not args.restart:
        raise InputError("--allow-settings-change only applies with --restart")
    atoms = read_structure(args.structure, args.index)
    outputs = dict(
        trajectory=args.trajectory,
        logfile=args.log,
        restart=args.restart,
        overwrite=args.overwrite,
        inputs=[args.structure],
    )
    check_outputs(**outputs)  # before the (slow) model loading
    check_device(args.device)
    tune_malloc()  # before the models allocate
    # the reference topology is the structure given, also when restarting
    topology = topology_watch(args, atoms)
    atoms.calc = load_provider(args.model, device=args.device, eager=args.eager, cache_dir=args.cache_dir)
    dyn = run_md(
        atoms,
        settings,
        **outputs,
        allow_settings_change=args.allow_settings_change,
        max_temperature_K=max_T,
        max_drift_per_atom=max_drift,
        progress=not args.no_progress,
        topology=topology,
    )
    if dyn.equipartition is not None:
        print(dyn.equipartition.line(), file=sys.stderr)
    return dyn
