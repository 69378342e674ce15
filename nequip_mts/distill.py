"""Distillation: MTS for a model a user already has, with slow = full - fast.

The user's trained model (the *teacher*) stays the whole potential. A small,
short-cutoff fast model is trained on the teacher's own energies and forces, and MTS
integrates the fast model every inner step and ``full - fast`` every outer step
(:meth:`nequip_mts.md.MTSCalculator.from_full_and_fast`). The sum is the teacher, so MTS
changes only the integration, never the potential; the fast model's errors decide how
large the outer step can be, not what is sampled.

:func:`distill` does the whole route, which the command line ``nequip-mts distill`` runs:

1. **Data.** The given frames, teacher MD frames at a temperature and distorted frames
   (stretched, compressed and bent bonds, close contacts, rattles; :mod:`nequip_mts.augment`),
   each labelled with the teacher: energy, forces, and the teacher's *stiffness* along a
   random probe direction ``v`` (the force change ``dF/de`` at ``x + e v``, from central
   differences). Labels cost three teacher evaluations per frame.
2. **Training.** ``nequip-train`` with the shipped ``distill`` config (the fast part of
   the multiscale template trained alone, ``nequip_mts/configs/distill.yaml``), on the
   teacher's forces and its stiffness. Forces alone leave the fast model's error free to
   vary as fast as the bonds vibrate; that error is the slow force ``full - fast`` of the
   split, and an outer step resonates with it. Matching the curvature as well makes
   ``full - fast`` smoother along the stiff motions (the co-training's slow-stiffness
   penalty, with the teacher in place of the sum), as far as the fast model can follow
   the teacher's curvature (``benchmarks/results/distill_water/README.md``).
3. **Deploy.** The fast model and the teacher compiled with ``nequip-compile`` (a teacher
   that is already compiled is referenced, not copied), and ``mts_deploy.json`` with
   ``split: full-fast`` and the provenance: the teacher file's hash, the data, the config.

Units: A, K, fs, eV.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Callable, Optional

from nequip_mts.errors import InputError, first_line
from nequip_mts.files import sha256_file
from nequip_mts.manifest import FAST, FULL, FULL_MINUS_FAST, SUM_KEY, part_filename, write_manifest

__all__ = ["Teacher", "DistillSettings", "load_teacher", "teacher_dataset", "distill", "CONFIG_NAME"]

#: the shipped config that trains the fast model
CONFIG_NAME = "distill"
#: files inside a distill output directory
DATA_FILE = "distill_data.extxyz"
TRAIN_DIR = "train"
#: config_type of the given frames and of the teacher MD frames in the written data
GIVEN, TEACHER_MD = "given", "teacher_md"
#: suffixes of the nequip files a teacher can be
SAVED_SUFFIXES = (".ckpt", ".nequip.zip")
COMPILED_SUFFIX = ".nequip.pt2"


@dataclasses.dataclass
class Teacher:
    """The model to distil.

    Attributes
    ----------
    spec : str
        What the user named: a nequip file or an ASE calculator's import path.
    kind : {"saved", "compiled", "calculator"}
        A checkpoint or package (``.ckpt``, ``.nequip.zip``), a compiled model
        (``.nequip.pt2``), or an ASE calculator given by import path.
    make : callable
        Returns a calculator of the teacher.
    type_names : list of str, optional
        The teacher's type names (nequip models), in its order.
    path : pathlib.Path, optional
        The teacher's file.
    kwargs : dict
        Keyword arguments of a calculator teacher.
    """

    spec: str
    kind: str
    make: Callable
    type_names: Optional[list] = None
    path: Optional[pathlib.Path] = None
    kwargs: dict = dataclasses.field(default_factory=dict)

    def provenance(self) -> dict:
        info = {"spec": self.spec if self.path is None else self.path.name, "kind": self.kind}
        if self.path is not None:
            info["sha256"] = sha256_file(self.path)
        if self.kwargs:
            info["kwargs"] = self.kwargs
        return info


def load_teacher(spec, calc_kwargs=None, device="cpu") -> Teacher:
    """The teacher named by ``spec``: a nequip checkpoint, package or compiled model (ASE
    target), or an ASE calculator by import path (``module:Name``, with ``calc_kwargs``).

    Raises
    ------
    InputError
        No such file, or a spec that names no calculator.
    """
    from nequip_mts.md.providers import _nequip_type_names, compiled_model_calculator, saved_model_calculator

    text = str(spec)
    path = pathlib.Path(text)
    if text.endswith(SAVED_SUFFIXES + (COMPILED_SUFFIX,)) or path.exists():
        if not path.is_file():
            raise InputError(f"no teacher model at {path}: give a .ckpt, .nequip.zip or .nequip.pt2 file")
        if calc_kwargs:
            raise InputError("--calc-kwargs is for a teacher given as a calculator import path, not a file")
        if text.endswith(COMPILED_SUFFIX):
            make = lambda: compiled_model_calculator(path, device)  # noqa: E731
            kind = "compiled"
        elif text.endswith(SAVED_SUFFIXES):
            make = lambda: saved_model_calculator(path, SUM_KEY, device)  # noqa: E731
            kind = "saved"
        else:
            raise InputError(
                f"{path}: not a nequip model file (.ckpt, .nequip.zip or .nequip.pt2); a calculator "
                "is named by import path, e.g. ase.calculators.emt:EMT"
            )
        calc = make()
        built = [calc]
        teacher = Teacher(
            spec=text,
            kind=kind,
            make=lambda: built.pop() if built else make(),
            type_names=_nequip_type_names(calc),
            path=path.resolve(),
        )
        return teacher
    from nequip_mts.calculators import calculator_factory

    if text.strip().lower() == "none":
        raise InputError("the teacher cannot be `none`: distillation labels every frame with it")
    factory = calculator_factory(text, calc_kwargs)
    return Teacher(spec=text, kind="calculator", make=factory, kwargs=dict(calc_kwargs or {}))


@dataclasses.dataclass
class DistillSettings:
    """How the training set is made and the fast model trained.

    Attributes
    ----------
    temperature_K : float
        Temperature of the teacher MD frames (K).
    md_frames : int
        Teacher MD frames (Langevin, from the given frames, ``md_stride`` steps of
        ``md_timestep_fs`` apart).
    md_stride : int
    md_timestep_fs : float
    distorted_frames : int
        Distorted frames (:class:`nequip_mts.augment.AugmentSettings` ``n_frames``).
    max_given : int, optional
        Use at most this many of the given frames (evenly spaced); ``None``: all.
    r_max_fast : float, optional
        Cutoff of the fast model (A); default the config's.
    max_epochs : int, optional
        Default the config's.
    stiffness_step_A : float
        Step of the central differences that label the teacher's stiffness (A per unit
        probe component).
    overrides : list of str
        Further ``nequip-train`` overrides (``key=value``).
    seed : int
    """

    temperature_K: float = 300.0
    md_frames: int = 200
    md_stride: int = 20
    md_timestep_fs: float = 0.5
    distorted_frames: int = 100
    max_given: Optional[int] = 200
    r_max_fast: Optional[float] = None
    max_epochs: Optional[int] = None
    stiffness_step_A: float = 0.005
    overrides: list = dataclasses.field(default_factory=list)
    seed: int = 0

    def check(self) -> "DistillSettings":
        if not self.temperature_K > 0:
            raise InputError(f"--temperature-K must be positive, got {self.temperature_K}")
        if self.md_frames < 0 or self.distorted_frames < 0:
            raise InputError("--md-frames and --distorted-frames must be >= 0")
        if self.max_given is not None and self.max_given < 1:
            raise InputError(f"--max-given must be at least 1, got {self.max_given}")
        if self.r_max_fast is not None and not self.r_max_fast > 0:
            raise InputError(f"--r-max-fast must be positive (A), got {self.r_max_fast}")
        if not 0 < self.stiffness_step_A <= 0.05:
            raise InputError(f"the stiffness step must lie in (0, 0.05] A, got {self.stiffness_step_A}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise InputError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        for item in self.overrides:
            if "=" not in item:
                raise InputError(f"--train-override {item!r}: give key=value, e.g. max_epochs=4")
        return self


def _evenly(frames, limit):
    if limit is None or len(frames) <= limit:
        return list(frames)
    import numpy as np

    picks = np.unique(np.linspace(0, len(frames) - 1, limit).round().astype(int))
    return [frames[i] for i in picks]


def stiffness_label(frame, calc, rng, step_A: float):
    """Add the teacher's stiffness along a random probe to ``frame.arrays``.

    The probe ``v`` has unit-variance Gaussian components (``stiffness_probe``); the
    response is ``(F(x + h v) - F(x - h v)) / 2h`` (``stiffness_response``, eV/A^2), the
    force change along ``v``, i.e. ``-H v``. Returns ``None``, or the reason the teacher
    could not evaluate a displaced geometry.
    """
    import numpy as np

    from nequip_mts.nn import STIFFNESS_PROBE_KEY, STIFFNESS_RESPONSE_KEY

    probe = rng.standard_normal((len(frame), 3))
    work = frame.copy()
    work.calc = calc
    forces = []
    for sign in (1.0, -1.0):
        work.set_positions(frame.positions + sign * step_A * probe)
        try:
            forces.append(np.array(work.get_forces()))
        except Exception as err:  # noqa: BLE001 - a teacher that fails on a geometry
            return f"{type(err).__name__}: {first_line(err, 120)}"
    response = (forces[0] - forces[1]) / (2.0 * step_A)
    if not np.isfinite(response).all():
        return "non-finite stiffness"
    frame.arrays[STIFFNESS_PROBE_KEY] = probe
    frame.arrays[STIFFNESS_RESPONSE_KEY] = response
    return None


def teacher_dataset(frames, teacher: Teacher, settings: DistillSettings, progress=False, say=print):
    """The training frames: the given ones, teacher MD and distorted frames, all labelled
    by the teacher (energy, forces, stiffness along a probe: :func:`stiffness_label`).
    Returns ``(frames, counts)``; ``counts`` per ``config_type``."""
    import numpy as np
    from tqdm.auto import tqdm

    from nequip_mts.augment import AugmentSettings, augment, label

    settings.check()
    given = _evenly(frames, settings.max_given)
    calc = teacher.make()
    out, counts, failed = [], {}, 0
    for index, atoms in enumerate(tqdm(given, desc="teacher labels", unit="frame", disable=not progress)):
        bare = atoms.copy()
        bare.calc = None
        bare.set_constraint()
        frame, why = label(bare, calc)
        if frame is None:
            failed += 1
            continue
        frame.info = {k: v for k, v in frame.info.items() if k in ("pbc",)}
        frame.info.update(config_type=GIVEN, base_frame=index)
        out.append(frame)
    counts[GIVEN] = len(out)
    if failed:
        say(f"{failed} given frame(s) the teacher could not evaluate were left out")
    if settings.md_frames or settings.distorted_frames:
        made = augment(
            given,
            AugmentSettings(
                n_frames=settings.distorted_frames,
                hot_md_frames=settings.md_frames,
                hot_md_temperature_K=settings.temperature_K,
                hot_md_stride=settings.md_stride,
                hot_md_timestep_fs=settings.md_timestep_fs,
                seed=settings.seed,
            ),
            make_calculator=lambda: calc,
            progress=progress,
        )
        for kind, reasons in made.not_applicable.items():
            for why, n in reasons.items():
                say(f"{kind}: {n} frame(s) not made: {why}")
        for frame in made.frames:
            if frame.info.get("config_type") == "hot_md":
                frame.info["config_type"] = TEACHER_MD
            kind = frame.info["config_type"]
            counts[kind] = counts.get(kind, 0) + 1
            out.append(frame)
        lost = sum(made.failed.values())
        if lost:
            say(f"{lost} generated frame(s) the teacher could not evaluate were left out")
    rng = np.random.default_rng(settings.seed + 1)
    kept = []
    for frame in tqdm(out, desc="teacher stiffness", unit="frame", disable=not progress):
        if stiffness_label(frame, calc, rng, settings.stiffness_step_A) is None:
            kept.append(frame)
        else:
            counts[frame.info["config_type"]] -= 1
    if len(kept) < len(out):
        say(
            f"{len(out) - len(kept)} frame(s) whose displaced geometries the teacher could not evaluate were left out"
        )
    return kept, counts


def _type_names(teacher: Teacher, frames) -> list:
    if teacher.type_names:
        return list(teacher.type_names)
    from ase.data import atomic_numbers

    symbols = {s for atoms in frames for s in atoms.get_chemical_symbols()}
    return sorted(symbols, key=lambda s: atomic_numbers[s])


def _bin(name) -> str:
    candidate = pathlib.Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def train_command(data_file, type_names, run_dir, settings: DistillSettings, progress=True) -> list:
    """The ``nequip-train`` command line of the fast model."""
    from nequip_mts.resources import CONFIG_PATH

    cmd = [
        _bin("nequip-train"),
        "-cp",
        CONFIG_PATH,
        "-cn",
        CONFIG_NAME,
        f"data_file={pathlib.Path(data_file).resolve()}",
        f"model_type_names=[{','.join(type_names)}]",
        f"hydra.run.dir={pathlib.Path(run_dir).resolve()}",
    ]
    if settings.r_max_fast is not None:
        cmd.append(f"r_max_fast={settings.r_max_fast}")
    if settings.max_epochs is not None:
        cmd.append(f"max_epochs={settings.max_epochs}")
    if not progress:
        cmd.append("trainer.enable_progress_bar=false")
    return cmd + list(settings.overrides)


def _compile(model, out, target, device, model_key=None):
    from nequip.scripts.compile import main as nequip_compile

    args = [str(model), str(out), "--mode", "aotinductor", "--device", device, "--target", target]
    if model_key is not None:
        args += ["--model", model_key]
    nequip_compile(args)


def _r_max(path, model_key=SUM_KEY) -> float:
    from nequip.model.saved_models.load_utils import load_saved_model

    model = load_saved_model(str(path), model_key=model_key)
    return float(model.metadata["r_max"])


def distill(
    teacher: Teacher,
    frames,
    output_dir,
    settings: DistillSettings,
    target: str = "ase",
    device: str = "cpu",
    progress: bool = False,
    say=print,
    source: Optional[pathlib.Path] = None,
) -> pathlib.Path:
    """Make the training set, train the fast model, compile and write the deploy directory.

    Parameters
    ----------
    teacher : Teacher
    frames : list of ase.Atoms
        The user's structures (labels, if any, are replaced by the teacher's).
    output_dir : path
        Must hold no earlier deploy (the caller checks, see
        :func:`nequip_mts.deploy.split.check_output_dir`). Receives the data
        (``distill_data.extxyz``), the training run (``train/``), the compiled models and
        ``mts_deploy.json``.
    settings : DistillSettings
    target : {"ase", "pair_allegro"}
    source : path, optional
        The structures' file, for the provenance.

    Returns
    -------
    pathlib.Path
        The manifest.
    """
    from ase.io import write

    settings.check()
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if target == "pair_allegro" and teacher.kind == "calculator":
        raise InputError(
            "a teacher given as a Python calculator cannot run in LAMMPS; distil a nequip model "
            "file for --target pair_allegro, or use --target ase"
        )
    if teacher.kind == "compiled":
        say("note: the teacher is a compiled model; it is referenced as it is, for its own target only")

    start = time.perf_counter()
    data, counts = teacher_dataset(frames, teacher, settings, progress=progress, say=say)
    if len(data) < 10:
        raise InputError(
            f"only {len(data)} labelled frames; give more structures or raise --md-frames / "
            "--distorted-frames (the split needs at least 10)"
        )
    data_path = out / DATA_FILE
    write(data_path, data, format="extxyz")
    say(
        f"wrote {data_path} ({len(data)} frames: "
        + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        + f") in {time.perf_counter() - start:.0f} s"
    )

    type_names = _type_names(teacher, data)
    run_dir = out / TRAIN_DIR
    cmd = train_command(data_path, type_names, run_dir, settings, progress=progress)
    say("training the fast model: " + " ".join(cmd[1:]))
    env = dict(os.environ)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=out, env=env)
    if proc.returncode != 0:
        raise InputError(
            f"nequip-train failed (exit {proc.returncode}) on {data_path}; its messages are above, "
            f"and its run directory is {run_dir}"
        )
    checkpoint = run_dir / "best.ckpt"
    if not checkpoint.is_file():
        raise InputError(f"nequip-train wrote no {checkpoint}; see its messages above")
    train_s = time.perf_counter() - started

    parts = {}
    say(f"compiling the fast model for {target}")
    _compile(checkpoint, out / part_filename(FAST), target, device)
    parts[FAST] = {"file": part_filename(FAST), "r_max": _r_max(checkpoint)}  # nequip's key of a single model
    if teacher.kind == "saved":
        say(f"compiling the teacher for {target}")
        _compile(teacher.path, out / part_filename(FULL), target, device, SUM_KEY)
        parts[FULL] = {"file": part_filename(FULL), "r_max": _r_max(teacher.path, SUM_KEY)}
    elif teacher.kind == "compiled":
        parts[FULL] = {"file": str(teacher.path), "r_max": None}
    else:
        parts[FULL] = {"calculator": teacher.spec, "kwargs": teacher.kwargs}

    import nequip
    import torch

    import nequip_mts

    provenance = {
        "made_by": "nequip-mts distill",
        "teacher": teacher.provenance(),
        "data": {
            "file": DATA_FILE,
            "sha256": sha256_file(data_path),
            "frames": counts,
            "structures": None if source is None else pathlib.Path(source).name,
            "structures_sha256": None if source is None else sha256_file(source),
        },
        "settings": dataclasses.asdict(settings),
        "config": {"name": CONFIG_NAME, "command": cmd[1:]},
        "training_s": round(train_s, 1),
        "distilled_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {
            "nequip_mts": nequip_mts.__version__,
            "nequip": nequip.__version__,
            "torch": torch.__version__,
        },
    }
    # machine paths stay out of the provenance: the command names files relative to out
    provenance["config"]["command"] = [
        part.replace(str(out.resolve()) + os.sep, "") for part in provenance["config"]["command"]
    ]
    return write_manifest(
        out,
        target=target,
        type_names=type_names,
        parts=parts,
        split=FULL_MINUS_FAST,
        provenance=json.loads(json.dumps(provenance, default=str)),
    )
