"""``nequip-mts md``: multiple-time-step MD from deployed models or a trained checkpoint.

Example::

    nequip-mts md water.xyz deployed/ --ensemble langevin --temperature-K 300 \\
        --timestep-fs 2 --inner-steps 4 --time-ps 10 --trajectory md.traj --log md.log

Run it again with ``--restart`` to continue from the last frame of ``md.traj``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ase import units

ENSEMBLES = ("nve", "langevin", "bussi")


def add_arguments(parser):
    """Add the ``md`` options to ``parser``."""
    parser.add_argument("structure", help="structure file readable by ase.io.read")
    parser.add_argument(
        "model",
        help="deploy directory (or its mts_deploy.json), or a multiscale checkpoint "
        "(.ckpt) or package (.nequip.zip), evaluated eagerly",
    )
    parser.add_argument("--index", default="-1", help="frame of the structure file (default: last)")
    parser.add_argument("--ensemble", choices=ENSEMBLES, default="langevin")
    parser.add_argument("--temperature-K", type=float, help="thermostat target temperature")
    parser.add_argument(
        "--init-temperature-K",
        type=float,
        help="draw initial velocities at this temperature (default: --temperature-K, "
        "unless the structure carries velocities)",
    )
    parser.add_argument("--timestep-fs", type=float, required=True, help="outer time step")
    inner = parser.add_mutually_exclusive_group(required=True)
    inner.add_argument("--inner-steps", type=int, help="fast steps per outer step (K)")
    inner.add_argument(
        "--inner-timestep-fs", type=float, help="fast time step; must divide --timestep-fs"
    )
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="run length in outer steps")
    length.add_argument("--time-ps", type=float, help="run length in ps")
    parser.add_argument(
        "--friction-per-ps", type=float, default=1.0, help="Langevin friction (default 1/ps)"
    )
    parser.add_argument(
        "--taut-fs", type=float, default=100.0, help="Bussi time constant (default 100 fs)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (velocities, thermostat)")
    parser.add_argument("--trajectory", default="md.traj", help="ASE trajectory (default md.traj)")
    parser.add_argument("--log", default="md.log", help="log file, '-' for stdout")
    parser.add_argument("--loginterval", type=int, default=10, help="outer steps between frames")
    parser.add_argument("--restart", action="store_true", help="continue from --trajectory")
    parser.add_argument("--device", default="cpu", help="torch device of the models")
    parser.add_argument(
        "--max-temperature-K",
        type=float,
        help="stop if the temperature exceeds this (default: 5x the target, at least 5000 K)",
    )
    parser.add_argument(
        "--max-drift-meV-per-atom",
        type=float,
        default=100.0,
        help="stop if the conserved energy drifts by more than this (default 100)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def add_parser(subparsers):
    """Register the ``md`` subcommand on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "md", help="run multiple-time-step MD", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    parser.set_defaults(func=exit_with_checked_run)
    return parser


def load_provider(model, device="cpu"):
    """An ``MTSCalculator`` for a deploy directory/JSON, a checkpoint or a package."""
    from nequip_mts.md.providers import DEPLOY_METADATA, MTSCalculator

    path = Path(model)
    if path.is_dir() or path.name == DEPLOY_METADATA or path.suffix == ".json":
        return MTSCalculator.from_deployed(path, device=device)
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}")
    return MTSCalculator.from_checkpoint(path, device=device)


def _inner_steps(args):
    if args.inner_steps is not None:
        return args.inner_steps
    ratio = args.timestep_fs / args.inner_timestep_fs
    if not ratio >= 1 or abs(ratio - round(ratio)) > 1e-9 * ratio:
        raise ValueError(
            f"--inner-timestep-fs {args.inner_timestep_fs} does not divide "
            f"--timestep-fs {args.timestep_fs} into a whole number of inner steps"
        )
    return int(round(ratio))


def run(args):
    """Run the ``md`` subcommand; returns the integrator."""
    import numpy as np
    from ase.io import read
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from nequip_mts.md.runner import run_md

    if args.ensemble != "nve" and args.temperature_K is None:
        raise ValueError(f"--ensemble {args.ensemble} needs --temperature-K")
    if not args.timestep_fs > 0:
        raise ValueError(f"--timestep-fs must be positive, got {args.timestep_fs}")
    if args.loginterval < 1:
        raise ValueError(f"--loginterval must be >= 1, got {args.loginterval}")
    inner_steps = _inner_steps(args)
    timestep = args.timestep_fs * units.fs
    steps = args.steps if args.steps is not None else round(args.time_ps * 1000 / args.timestep_fs)
    if steps < 0:
        raise ValueError(f"run length must be >= 0, got {steps} steps")

    atoms = read(args.structure, index=int(args.index))
    atoms.calc = load_provider(args.model, device=args.device)

    if not args.restart:
        init_T = args.init_temperature_K
        if init_T is None and not atoms.get_momenta().any():
            init_T = args.temperature_K
        if init_T is not None:
            thermalize_momenta(atoms, temperature_K=init_T, rng=np.random.default_rng(args.seed))
            Stationary(atoms)

    max_T = args.max_temperature_K
    if max_T is None:
        reference_T = args.temperature_K or args.init_temperature_K or 1000.0
        max_T = max(5.0 * reference_T, 5000.0)
    return run_md(
        atoms,
        ensemble=args.ensemble,
        timestep=timestep,
        inner_steps=inner_steps,
        steps=steps,
        temperature_K=args.temperature_K,
        friction=args.friction_per_ps / (1000.0 * units.fs),
        taut=args.taut_fs * units.fs,
        seed=args.seed,
        trajectory=args.trajectory,
        logfile=args.log,
        loginterval=args.loginterval,
        max_temperature_K=max_T,
        max_drift_per_atom=(
            None
            if args.max_drift_meV_per_atom is None or not math.isfinite(args.max_drift_meV_per_atom)
            else args.max_drift_meV_per_atom / 1000.0
        ),
        restart=args.restart,
        progress=not args.no_progress,
    )


def checked_run(args):
    """``run`` with library errors turned into messages: exit 2 for bad input, 3 for a blow-up."""
    from nequip_mts.md.safety import MDInstabilityError

    try:
        run(args)
    except MDInstabilityError as err:
        print(f"nequip-mts md: {err}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"nequip-mts md: error: {err}", file=sys.stderr)
        return 2
    return 0


def exit_with_checked_run(args):
    sys.exit(checked_run(args))


def main(argv=None):
    """Standalone entry point: ``python -m nequip_mts.cli.md ...``."""
    parser = add_arguments(argparse.ArgumentParser(prog="nequip-mts md", description=__doc__))
    return checked_run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
