"""``nequip-mts distill``: MTS for a model you already have (slow = full - fast).

Example::

    nequip-mts distill my_model.nequip.zip structures.extxyz -o distilled/ --temperature-K 300

Labels the structures, --md-frames frames of MD with the teacher at --temperature-K and
--distorted-frames distorted frames (stretched, compressed and bent bonds, close contacts)
with the teacher, trains a small fast model on them with ``nequip-train`` (the shipped
``distill`` config), compiles it and the teacher, and writes a deploy directory whose
``mts_deploy.json`` says ``split: full-fast``. MD on it (``nequip-mts md``,
``MTSCalculator.from_deployed``, ``write-lammps-input``) integrates the teacher exactly,
with the fast model at every inner step. Check it with ``nequip-mts validate`` before
production. Units: A, K, fs, eV.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nequip_mts.manifest import TARGETS


def add_parser(subparsers):
    """Register ``distill`` on an ``argparse`` subparsers object."""
    from nequip_mts.distill import DistillSettings

    d = DistillSettings()
    parser = subparsers.add_parser(
        "distill",
        help="train a fast model for a model you already have: MTS with slow = full - fast",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "teacher",
        help="the full model: a nequip checkpoint (.ckpt), package (.nequip.zip) or compiled model "
        "(.nequip.pt2, for its own target), or an ASE calculator class as module:Name",
    )
    parser.add_argument(
        "structures", help="structures of your system (extxyz or any ase.io format); labels are replaced"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="deploy directory to write")
    parser.add_argument(
        "--target", choices=tuple(TARGETS), default="ase", help="ase (default) or pair_allegro (LAMMPS)"
    )
    data = parser.add_argument_group("training data (labelled by the teacher)")
    data.add_argument(
        "--temperature-K",
        type=float,
        default=d.temperature_K,
        help=f"teacher MD temperature (default {d.temperature_K:g})",
    )
    data.add_argument(
        "--md-frames", type=int, default=d.md_frames, help=f"teacher MD frames (default {d.md_frames})"
    )
    data.add_argument(
        "--md-stride",
        type=int,
        default=d.md_stride,
        help=f"MD steps of 0.5 fs between two stored frames (default {d.md_stride})",
    )
    data.add_argument(
        "--distorted-frames",
        type=int,
        default=d.distorted_frames,
        help=f"distorted frames (default {d.distorted_frames})",
    )
    data.add_argument(
        "--max-given",
        type=int,
        default=d.max_given,
        help=f"use at most this many of the structures (default {d.max_given})",
    )
    data.add_argument("--calc-kwargs", help="JSON keyword arguments of a calculator teacher")
    train = parser.add_argument_group("fast model")
    train.add_argument(
        "--r-max-fast", type=float, help="cutoff of the fast model in A (default: the config's, 3.0)"
    )
    train.add_argument("--max-epochs", type=int, help="training epochs (default: the config's, 15)")
    train.add_argument(
        "--train-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="further nequip-train override (repeatable), e.g. +trainer.limit_train_batches=50 (+ adds a key)",
    )
    parser.add_argument(
        "--seed", type=int, default=d.seed, help="seed of the MD and the distortions (default 0)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier deploy in --output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from nequip_mts.calculators import parse_calc_kwargs
    from nequip_mts.cli.augment import read_frames
    from nequip_mts.deploy.split import check_output_dir
    from nequip_mts.distill import DistillSettings, distill, load_teacher

    settings = DistillSettings(
        temperature_K=args.temperature_K,
        md_frames=args.md_frames,
        md_stride=args.md_stride,
        distorted_frames=args.distorted_frames,
        max_given=args.max_given,
        r_max_fast=args.r_max_fast,
        max_epochs=args.max_epochs,
        overrides=list(args.train_override),
        seed=args.seed,
    ).check()
    check_output_dir(args.output, args.overwrite)
    frames = read_frames(args.structures)
    teacher = load_teacher(args.teacher, parse_calc_kwargs(args.calc_kwargs), device=args.device)

    def say(text):
        print(f"nequip-mts distill: {text}", file=sys.stderr, flush=True)

    progress = not args.no_progress and sys.stderr.isatty()
    manifest = distill(
        teacher,
        frames,
        args.output,
        settings,
        target=args.target,
        device=args.device,
        progress=progress,
        say=say,
        source=Path(args.structures),
    )
    print(f"wrote {manifest} (split full-fast: slow = full - fast)")
    if args.target == "ase":
        print(
            f"next: nequip-mts validate {args.output} {args.structures} --temperature-K "
            f"{args.temperature_K:g} --timestep-fs 0.5 --ks 2 4 6 8 -o {args.output}/validation"
        )
    return manifest
