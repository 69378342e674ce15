"""``nequip-mts augment``: add distorted frames (stretched, bent, close contacts) to training data.

Example::

    nequip-mts augment md_frames.extxyz -o train.extxyz --calculator gfn1 --n-frames 100

Takes base frames evenly spread over STRUCTURES and makes --n-frames distorted frames,
dealt out in turn over --kinds (stretch, compress, bend, contact, rattle), plus
--hot-md-frames frames of Langevin MD at --hot-md-temperature-K; labels them with
--calculator (gfn1, gfn2, an ASE calculator class as module:Name, or none for unlabelled
frames) and writes the input frames followed by the new ones to --output (extxyz, .gz
allowed), with a provenance file beside it. Units: A, degrees, K, eV, fs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from nequip_mts.errors import InputError, first_line
from nequip_mts.files import sha256_file

PROVENANCE_SUFFIX = ".provenance.json"
OUTPUT_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz")


def add_parser(subparsers):
    """Register ``augment`` on an ``argparse`` subparsers object."""
    from nequip_mts.augment import DISTORTION_KINDS, AugmentSettings

    d = AugmentSettings()
    parser = subparsers.add_parser(
        "augment",
        help="make training data: distorted frames (bonds, angles, contacts) labelled by a reference",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("structures", help="frames to start from (extxyz or any file ase.io.read reads)")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="the extxyz file to write (.extxyz or .extxyz.gz)"
    )
    parser.add_argument(
        "--calculator",
        required=True,
        metavar="SPEC",
        help="labels: gfn1 or gfn2 (tblite), an ASE calculator by import path (ase.calculators.emt:EMT), "
        "or none for unlabelled frames",
    )
    parser.add_argument(
        "--calc-kwargs",
        default=None,
        metavar="JSON",
        help="keyword arguments of the calculator, a JSON object",
    )
    parser.add_argument(
        "--new-only", action="store_true", help="write only the new frames (default: the input frames first)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument(
        "--seed", type=int, metavar="SEED", default=d.seed, help=f"random seed (default {d.seed})"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    what = parser.add_argument_group("what to make")
    what.add_argument(
        "--n-frames",
        metavar="N",
        type=int,
        default=d.n_frames,
        help=f"distorted frames in all, dealt out over --kinds in turn (default {d.n_frames})",
    )
    what.add_argument(
        "--kinds",
        nargs="+",
        default=list(d.kinds),
        metavar="KIND",
        help=f"distortions: {' '.join(DISTORTION_KINDS)} (default: all)",
    )
    what.add_argument(
        "--per-frame",
        metavar="N",
        type=int,
        default=d.per_frame,
        help=f"bonds, angles or molecules distorted per frame (default {d.per_frame})",
    )
    what.add_argument(
        "--bond-scale",
        metavar="SCALE",
        type=float,
        default=d.bond_scale,
        help=f"bonded below this times the covalent-radius sum (default {d.bond_scale:g})",
    )

    def pair(name, value, text):
        what.add_argument(
            name,
            type=float,
            nargs=2,
            default=list(value),
            metavar=("MIN", "MAX"),
            help=f"{text} (default {value[0]:g} {value[1]:g})",
        )

    pair("--stretch-range", d.stretch, "stretch factor on the bond length")
    pair("--compress-range", d.compress, "compress factor on the bond length")
    pair("--bend-deg", d.bend_deg, "size of the angle change, degrees, either sign")
    pair("--angle-limits-deg", d.angle_limits_deg, "a bent angle stays within these, degrees")
    pair("--contact-range", d.contact, "closest intermolecular distance, x the covalent-radius sum")
    pair("--contact-hh-A", d.contact_hh_A, "closest distance when both atoms are H, A")
    what.add_argument(
        "--rattle-A",
        metavar="SIGMA",
        type=float,
        default=d.rattle_A,
        help=f"sigma of the rattle kind's displacement, A (default {d.rattle_A:g})",
    )
    what.add_argument(
        "--final-rattle-A",
        metavar="SIGMA",
        type=float,
        default=d.final_rattle_A,
        help=f"sigma of the displacement every distorted frame gets, A (default {d.final_rattle_A:g})",
    )

    hot = parser.add_argument_group("hot MD (needs a calculator)")
    hot.add_argument(
        "--hot-md-frames",
        metavar="N",
        type=int,
        default=d.hot_md_frames,
        help="Langevin MD frames (default 0)",
    )
    hot.add_argument(
        "--hot-md-temperature-K",
        metavar="K",
        type=float,
        default=d.hot_md_temperature_K,
        help=f"their temperature (default {d.hot_md_temperature_K:g})",
    )
    hot.add_argument(
        "--hot-md-stride",
        metavar="STEPS",
        type=int,
        default=d.hot_md_stride,
        help=f"MD steps between stored frames (default {d.hot_md_stride})",
    )
    hot.add_argument(
        "--hot-md-timestep-fs",
        metavar="FS",
        type=float,
        default=d.hot_md_timestep_fs,
        help=f"time step, fs (default {d.hot_md_timestep_fs:g})",
    )
    parser.set_defaults(func=run)
    return parser


def settings_of(args):
    """The :class:`~nequip_mts.augment.AugmentSettings` of the command line, checked."""
    from nequip_mts.augment import AugmentSettings

    return AugmentSettings(
        n_frames=args.n_frames,
        kinds=tuple(dict.fromkeys(args.kinds)),
        per_frame=args.per_frame,
        stretch=tuple(args.stretch_range),
        compress=tuple(args.compress_range),
        bend_deg=tuple(args.bend_deg),
        angle_limits_deg=tuple(args.angle_limits_deg),
        contact=tuple(args.contact_range),
        contact_hh_A=tuple(args.contact_hh_A),
        rattle_A=args.rattle_A,
        final_rattle_A=args.final_rattle_A,
        bond_scale=args.bond_scale,
        hot_md_frames=args.hot_md_frames,
        hot_md_temperature_K=args.hot_md_temperature_K,
        hot_md_stride=args.hot_md_stride,
        hot_md_timestep_fs=args.hot_md_timestep_fs,
        seed=args.seed,
    ).check()


def provenance_path(output) -> Path:
    """The provenance file written beside ``output``: ``<output>.provenance.json``."""
    output = Path(output)
    return output.with_name(output.name + PROVENANCE_SUFFIX)


def read_frames(path):
    """Every frame of ``path``, with an :class:`InputError` for a missing or unreadable file."""
    import ase.io
    import numpy as np

    from nequip_mts.md.structure import read_structure

    read_structure(path, 0, what="structures")  # the clear errors: missing, format, empty
    try:
        frames = ase.io.read(path, index=":")
    except Exception as err:  # noqa: BLE001 - a parser's error on a later frame
        detail = first_line(err)
        raise InputError(f"cannot read every frame of {path}: {type(err).__name__}: {detail}") from None
    for k, frame in enumerate(frames):
        if len(frame) == 0 or not np.isfinite(frame.positions).all():
            raise InputError(f"frame {k} of {path} has no atoms or non-finite positions")
    return frames


def write_frames(path, frames):
    """Write ``frames`` as extxyz (gzipped for a ``.gz`` name), atomically."""
    import gzip
    import io

    import ase.io

    from nequip_mts.files import atomic_write

    with atomic_write(path, "wb") as raw:
        if str(path).endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb") as gz, io.TextIOWrapper(gz, encoding="utf-8") as text:
                ase.io.write(text, frames, format="extxyz")
        else:
            text = io.TextIOWrapper(raw, encoding="utf-8")
            ase.io.write(text, frames, format="extxyz")
            text.flush()
            text.detach()  # atomic_write closes the file


def run(args):
    """Run the ``augment`` subcommand; returns the :class:`~nequip_mts.augment.AugmentResult`."""
    from nequip_mts import __version__
    from nequip_mts.augment import augment
    from nequip_mts.calculators import calculator_factory, calculator_versions, parse_calc_kwargs
    from nequip_mts.files import atomic_write, check_output_path, refuse_existing, same_file

    settings = settings_of(args)
    out = Path(args.output)
    if not any(out.name.endswith(s) for s in OUTPUT_SUFFIXES) or out.name in OUTPUT_SUFFIXES:
        raise InputError(f"--output {out} must be an extxyz file: a name ending in .extxyz or .extxyz.gz")
    sidecar = provenance_path(out)
    if same_file(out, args.structures):
        raise InputError(f"--output {out} is the input file; nequip-mts augment never writes over its input")
    if not args.overwrite:
        refuse_existing([out, sidecar], hint="pass --overwrite to replace, or choose another --output")
    check_output_path(out, "--output")
    kwargs = parse_calc_kwargs(args.calc_kwargs)
    factory = calculator_factory(args.calculator, kwargs)
    if settings.hot_md_frames and factory is None:
        raise InputError("--hot-md-frames needs a --calculator to run MD with, not none")
    inputs = read_frames(args.structures)

    def say(text):
        print(f"augment: {text}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    progress = not args.no_progress and sys.stderr.isatty()
    result = augment(inputs, settings, factory, progress=progress)
    if not result.frames:
        raise InputError(
            f"no frames could be made from {args.structures}: "
            + _not_made_text(result)
            + "; choose other --kinds (rattle works on any structure)"
        )
    if result.input_mismatch_per_atom is not None and result.input_mismatch_per_atom > 1e-3:
        say(
            f"the input frames' own energies differ from --calculator {args.calculator} by up to "
            f"{result.input_mismatch_per_atom:.3g} eV/atom: the output mixes two references "
            "(use --new-only, or label the input frames with the same method)"
        )
    frames = list(result.frames)
    if not args.new_only:
        for frame in inputs:
            frame.info.setdefault("config_type", "md")
        frames = inputs + frames
    write_frames(out, frames)
    seconds = time.perf_counter() - start

    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    record = {
        "nequip_mts_version": __version__,
        "command": "nequip-mts augment",
        "arguments": options,
        "input": {
            "path": str(args.structures),
            "sha256": sha256_file(args.structures),
            "frames": len(inputs),
        },
        "output": {
            "path": str(out),
            "input_frames": 0 if args.new_only else len(inputs),
            "new_frames": len(result.frames),
        },
        "seed": settings.seed,
        "calculator": {
            "spec": args.calculator,
            "kwargs": kwargs,
            "versions": calculator_versions(args.calculator),
        },
        "counts": result.counts,
        "not_made": result.not_applicable,
        "failed": result.failed,
        "failures": result.failures,
        "reference_energy_per_atom_eV": result.reference_energy_per_atom,
        "seconds": round(seconds, 1),
    }
    with atomic_write(sidecar) as f:
        json.dump(record, f, indent=1)
    print(summary_text(result, out, len(inputs), args.new_only, seconds))
    return result


def _not_made_text(result) -> str:
    parts = []
    for kind, reasons in result.not_applicable.items():
        parts.extend(f"{kind}: {why} ({n} frames)" for why, n in reasons.items())
    if result.failed:
        parts.append(f"{sum(result.failed.values())} single points failed ({'; '.join(result.failures[:1])})")
    return "; ".join(parts) or "nothing planned"


def summary_text(result, out, n_inputs, new_only, seconds) -> str:
    """The table printed at the end: frames, energy above the base frames, max |F| per kind."""

    def num(x, width, digits):
        return "-".rjust(width) if x is None else f"{x:{width}.{digits}f}"

    lines = [
        f"augment: wrote {out}: {'' if new_only else f'{n_inputs} input frames + '}{len(result.frames)} new "
        f"frames in {seconds:.0f} s",
        f"{'kind':<10} {'frames':>6} {'dE median':>10} {'dE max':>8} {'max |F|':>8}   (dE: eV/atom above the "
        "mean of the base frames; |F|: eV/A)",
    ]
    for kind, n, e_med, e_max, f_max in result.summary_rows():
        lines.append(f"{kind:<10} {n:>6} {num(e_med, 10, 3)} {num(e_max, 8, 3)} {num(f_max, 8, 1)}")
    for kind, reasons in result.not_applicable.items():
        for why, n in reasons.items():
            lines.append(f"not made: {n} {kind} frame{'s' if n != 1 else ''}: {why}")
    skipped = sum(result.failed.values())
    lines.append(
        f"skipped: {skipped} frame{'s' if skipped != 1 else ''} whose single point failed or was non-finite"
    )
    lines.extend(f"  {message}" for message in result.failures)
    return "\n".join(lines)
