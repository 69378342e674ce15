"""Split a trained multiscale model into compiled fast, slow and sum models.

Each part is compiled by nequip's own ``nequip-compile`` (``--model fast|slow|sole_model``);
:func:`deploy` checks the input, runs the compiles and writes the manifest
(:mod:`nequip_mts.manifest`). The command line is ``nequip-mts deploy``.
"""

import os
import pathlib
import tempfile
import time
import zipfile
from typing import Dict, List, Optional, Sequence

from nequip_mts.errors import InputError, reading_model
from nequip_mts.files import check_output_path, sha256_file
from nequip_mts.manifest import FILENAME, MODEL_KEYS, MULTISCALE_PARTS, TARGETS, part_filename, write_manifest

#: nequip-compile target of ASE models that give energies and forces but no stress: the
#: ``ase`` target without its stress output, so the compiled model drops the cell-strain
#: derivative that MD in a fixed cell never reads (:func:`register_compile_targets`)
ASE_NO_STRESS_TARGET = "nequip_mts_ase_no_stress"


def ase_compile_target(stress: bool = True) -> str:
    """The nequip-compile target of an ASE model, with or without the stress output."""
    if not stress:
        register_compile_targets()
    return "ase" if stress else ASE_NO_STRESS_TARGET


def register_compile_targets() -> Dict:
    """Register :data:`ASE_NO_STRESS_TARGET` with nequip-compile (idempotent); returns it."""
    from nequip.data import AtomicDataDict
    from nequip.scripts import _compile_utils

    if ASE_NO_STRESS_TARGET not in _compile_utils.COMPILE_TARGET_DICT:
        ase = _compile_utils.COMPILE_TARGET_DICT["ase"]
        target = dict(ase, output=[k for k in ase["output"] if k != AtomicDataDict.STRESS_KEY])
        _compile_utils.register_compile_targets({ASE_NO_STRESS_TARGET: target})
    return _compile_utils.COMPILE_TARGET_DICT[ASE_NO_STRESS_TARGET]


class NotMultiscaleError(ValueError):
    """The model given to the deploy step is not a nequip-mts multiscale model."""


def inspect_multiscale(model_path) -> Dict:
    """Load a checkpoint or package and return each part's metadata.

    Raises
    ------
    NotMultiscaleError
        If the file does not hold a ``{sole_model, fast, slow}`` model dict.
    """
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.utils.global_state import set_global_state

    set_global_state()
    if not zipfile.is_zipfile(model_path):
        raise InputError(
            f"{model_path} is not a nequip checkpoint (.ckpt) or package (.nequip.zip): it is no "
            "zip archive; give the file nequip-train wrote"
        )
    with reading_model(model_path, "a nequip checkpoint or package", fix="give the file nequip-train wrote"):
        models = load_saved_model(str(model_path), model_key=None)
    if not hasattr(models, "keys"):
        raise NotMultiscaleError(f"{model_path} holds a single model, not a nequip-mts multiscale model")
    missing = [k for k in MODEL_KEYS.values() if k not in models]
    if missing:
        raise NotMultiscaleError(
            f"{model_path} is not a nequip-mts multiscale model: it holds models "
            f"{sorted(models.keys())}, but the deploy step needs {sorted(MODEL_KEYS.values())} "
            "(train with `_target_: nequip_mts.model.MultiscaleModel`); for a "
            "single model use `nequip-compile` directly"
        )
    return {part: dict(models[key].metadata) for part, key in MODEL_KEYS.items()}


def _provenance(model_path: pathlib.Path) -> Dict:
    import nequip
    import torch

    import nequip_mts

    info = {
        "source_file": model_path.name,
        "source_sha256": sha256_file(model_path),
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {
            "nequip_mts": nequip_mts.__version__,
            "nequip": nequip.__version__,
            "torch": torch.__version__,
        },
    }
    if not model_path.name.endswith(".nequip.zip"):
        ckpt = torch.load(model_path, map_location="cpu", weights_only=False)
        info["epoch"] = ckpt.get("epoch")
        info["global_step"] = ckpt.get("global_step")
        hparams = ckpt.get("hyper_parameters", {})
        info["training_module"] = str(
            hparams.get("info_dict", {}).get("training_module", {}).get("_target_", "")
        )
    return info


def deploy(
    model_path,
    output_dir,
    target: str = "ase",
    parts: Sequence[str] = MULTISCALE_PARTS,
    device: str = "cpu",
    extra_compile_args: Optional[List[str]] = None,
    overwrite: bool = False,
    stress: bool = True,
    verbose: bool = True,
) -> pathlib.Path:
    """Compile the parts of a multiscale checkpoint/package and write ``mts_deploy.json``.

    Parameters
    ----------
    model_path : path
        Checkpoint (``.ckpt``) or package (``.nequip.zip``) of a ``MultiscaleModel``.
    output_dir : path
        Directory for ``{fast,slow,sum}.nequip.pt2`` and ``mts_deploy.json``.
    target : {"ase", "pair_allegro"}
        nequip-compile target: the ASE calculator or the LAMMPS pair style.
    parts : sequence of {"fast", "slow", "sum"}
        Which parts to compile (the sum is only needed for single-step reference runs).
    overwrite : bool
        Replace the models and manifest of an earlier deploy in ``output_dir``; without
        it a directory holding any of them is refused. The parts are compiled into a
        temporary directory and moved in, and the manifest written, only when all
        compiles succeeded, so a failed deploy leaves ``output_dir`` as it was.
    stress : bool
        ``target="ase"`` only: compile the stress output too (``False``: energies and
        forces only, which is all MD in a fixed cell needs, and a little cheaper; the
        manifest then says ``"stress": false``). LAMMPS models always give the virial.
    verbose : bool
        Print a line before and after each part's compile.

    Returns
    -------
    pathlib.Path
        Path of the written metadata file.
    """
    model_path = pathlib.Path(model_path)
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {tuple(TARGETS)}")
    unknown = set(parts) - set(MULTISCALE_PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be among {MULTISCALE_PARTS}, got {list(parts)}")
    if not model_path.exists():
        raise FileNotFoundError(f"model file {model_path} does not exist")
    if model_path.is_dir():
        raise InputError(f"{model_path} is a directory; give a checkpoint (.ckpt) or package (.nequip.zip)")
    if not stress and target != "ase":
        raise InputError(
            "--no-stress (stress=False) is for --target ase; LAMMPS models always give the virial"
        )
    output_dir = pathlib.Path(output_dir)
    check_output_dir(output_dir, overwrite)
    from nequip_mts.md.providers import check_device

    check_device(device)

    part_metadata = inspect_multiscale(model_path)
    type_names = part_metadata["sum"]["type_names"].split()
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".deploy-", dir=output_dir) as staging:
        entries = _compile_parts(
            model_path,
            pathlib.Path(staging),
            target,
            parts,
            device,
            extra_compile_args,
            part_metadata,
            compile_target=ase_compile_target(stress) if target == "ase" else target,
            verbose=verbose,
        )
        for entry in entries.values():
            os.replace(pathlib.Path(staging) / entry["file"], output_dir / entry["file"])
    for part in set(MULTISCALE_PARTS) - set(entries):  # a part of an earlier deploy that is not redeployed
        (output_dir / part_filename(part)).unlink(missing_ok=True)
    return write_manifest(
        output_dir,
        target=target,
        type_names=type_names,
        parts=entries,
        model_dtype=part_metadata["sum"]["model_dtype"],
        provenance=_provenance(model_path),
        **({} if target != "ase" else {"stress": bool(stress)}),
    )


def check_output_dir(output_dir: pathlib.Path, overwrite: bool = False) -> None:
    """Refuse a deploy directory that holds models or a manifest, unless ``overwrite``.

    Also refuses an ``output_dir`` that is a file or sits under one.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"the output directory {output_dir} is a file")
    check_output_path(output_dir / FILENAME, "the output directory's manifest")
    if overwrite:
        return
    found = sorted(
        p.name for p in output_dir.iterdir() if p.name == FILENAME or p.name.endswith(".nequip.pt2")
    )
    if found:
        raise InputError(
            f"{output_dir} already holds a deploy ({', '.join(found)}); pass --overwrite to replace "
            "it, or give an empty directory"
        )


def _compile_parts(
    model_path,
    out_dir,
    target,
    parts,
    device,
    extra_compile_args,
    part_metadata,
    compile_target=None,
    verbose=True,
):
    """Compile each part into ``out_dir``; return the manifest entries."""
    entries = {
        part: {"file": part_filename(part), "r_max": float(part_metadata[part]["r_max"])}
        for part in MULTISCALE_PARTS
        if part in parts
    }
    for part, entry in entries.items():
        if verbose:
            print(
                f"nequip-mts deploy: compiling the {part} model ({MODEL_KEYS[part]}) for {target} -> {entry['file']}",
                flush=True,
            )
        start = time.perf_counter()
        compile_model(
            model_path,
            out_dir / entry["file"],
            compile_target or target,
            MODEL_KEYS[part],
            device,
            extra_compile_args,
        )
        if verbose:
            print(
                f"nequip-mts deploy: compiled the {part} model in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    return entries


def compile_model(model_path, out, compile_target, model_key, device="cpu", extra_compile_args=None):
    """``nequip-compile --mode aotinductor`` of one model of a checkpoint or package.

    ``compile_target`` is a nequip-compile ``--target`` (``ase``, ``pair_allegro``, or
    :data:`ASE_NO_STRESS_TARGET`); ``model_key`` the model (``sole_model``, ``fast``, ``slow``).
    """
    from nequip.scripts.compile import main as nequip_compile

    if compile_target == ASE_NO_STRESS_TARGET:
        register_compile_targets()
    nequip_compile(
        [
            str(model_path),
            str(out),
            "--mode",
            "aotinductor",
            "--device",
            device,
            "--target",
            compile_target,
            "--model",
            model_key,
            *(extra_compile_args or []),
        ]
    )
