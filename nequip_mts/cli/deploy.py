"""``nequip-mts deploy`` (also ``nequip-mts-deploy``): compile the parts of a trained model.

Example::

    nequip-mts deploy best.ckpt deployed/ --target ase
"""

from __future__ import annotations

import pathlib

from nequip_mts.manifest import FILENAME, MULTISCALE_PARTS, TARGETS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "deploy",
        help="split a trained multiscale model into compiled fast, slow and sum models",
        description="Split a trained nequip-mts multiscale model into separately compiled "
        f"fast, slow and sum models (nequip-compile, AOTInductor) and write {FILENAME}.",
    )
    parser.add_argument(
        "model", type=pathlib.Path, help="trained multiscale checkpoint (.ckpt) or package (.nequip.zip)"
    )
    parser.add_argument(
        "output_dir", type=pathlib.Path, help=f"directory for the compiled models and {FILENAME}"
    )
    parser.add_argument(
        "--target",
        choices=tuple(TARGETS),
        default="ase",
        help="ase (ASE calculator) or pair_allegro (LAMMPS); default ase",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=MULTISCALE_PARTS,
        default=list(MULTISCALE_PARTS),
        help="parts to compile (default: all three)",
    )
    parser.add_argument("--device", default="cpu", help="device to compile for (default cpu)")
    parser.add_argument(
        "--no-stress",
        action="store_true",
        help="--target ase: compile energies and forces only, without the stress output "
        "(MD in a fixed cell never reads it); LAMMPS models always give the virial",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace the models and {FILENAME} of an earlier deploy in output_dir "
        "(without it such a directory is refused)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args):
    from nequip_mts.deploy.split import deploy

    path = deploy(
        args.model,
        args.output_dir,
        target=args.target,
        parts=args.parts,
        device=args.device,
        overwrite=args.overwrite,
        stress=not args.no_stress,
    )
    print(f"wrote {path}")
