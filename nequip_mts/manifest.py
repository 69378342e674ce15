"""The part vocabulary and the deploy manifest, ``mts_deploy.json``: one definition each.

A multiscale model has three parts: ``fast`` (short cutoff, every inner step), ``slow``
(every outer step) and ``sum`` (fast + slow, for single-step runs). A *distilled* deploy
(``nequip-mts distill``) has a ``fast`` part and the user's ``full`` model instead, and
its slow force is ``full - fast``; the manifest's ``split`` entry (:data:`SPLITS`) says
which of the two a deploy is. Training stores them
as one ``torch.nn.ModuleDict`` whose keys are :data:`MODEL_KEYS` (nequip runs and exports
``sole_model`` by default, so the sum lives there). The deploy step compiles each part to
its own file and describes them in the manifest, which ASE MD and the LAMMPS tools read
back with :func:`read_manifest`.

Standard library (and :mod:`nequip_mts.files`) only: MD, LAMMPS and the nequip extension hook import this module.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, Iterable, Optional

from nequip_mts.files import atomic_write

FAST, SLOW, SUM, FULL = "fast", "slow", "sum", "full"
PARTS = (FAST, SLOW, SUM, FULL)
#: the parts of a co-trained multiscale model (what ``nequip-mts deploy`` compiles)
MULTISCALE_PARTS = (FAST, SLOW, SUM)

#: how the slow force is made: from a slow model (co-trained, E = E_fast + E_slow), or as
#: the difference of a full model and the fast one (distilled, E_slow = E_full - E_fast)
FAST_PLUS_SLOW, FULL_MINUS_FAST = "fast+slow", "full-fast"
SPLITS = {FAST_PLUS_SLOW: (FAST, SLOW), FULL_MINUS_FAST: (FAST, FULL)}

# part -> key of the part in the trained ModuleDict
MODEL_KEYS = {FAST: "fast", SLOW: "slow", SUM: "sole_model"}
FAST_KEY, SLOW_KEY, SUM_KEY = MODEL_KEYS[FAST], MODEL_KEYS[SLOW], MODEL_KEYS[SUM]

FORMAT = "nequip-mts-deploy/1"
FILENAME = "mts_deploy.json"

# nequip-compile targets, and who reads each
TARGETS = {"ase": "ASE MD", "pair_allegro": "LAMMPS"}


def split_of(manifest: Dict[str, Any]) -> str:
    """The :data:`SPLITS` entry of a manifest (manifests without one are ``fast+slow``)."""
    return manifest.get("split", FAST_PLUS_SLOW)


def single_step_part(manifest: Dict[str, Any]) -> Optional[str]:
    """The part that gives the whole potential in one model (``sum`` or ``full``), if deployed."""
    part = FULL if split_of(manifest) == FULL_MINUS_FAST else SUM
    return part if part in manifest else None


def part_filename(part: str) -> str:
    """File name of a compiled part inside a deploy directory."""
    return f"{part}.nequip.pt2"


def manifest_path(path) -> pathlib.Path:
    """The manifest file for a deploy directory or the manifest itself."""
    path = pathlib.Path(path)
    return path / FILENAME if path.is_dir() else path


def write_manifest(
    directory,
    *,
    target: str,
    type_names: Iterable[str],
    parts: Dict[str, Dict],
    split: str = FAST_PLUS_SLOW,
    **extra,
) -> pathlib.Path:
    """Write ``<directory>/mts_deploy.json``.

    Parameters
    ----------
    directory : path
        The deploy directory (must exist).
    target : {"ase", "pair_allegro"}
        The nequip-compile target of the model files.
    type_names : iterable of str
        Model type names, in the models' order.
    parts : dict
        ``{part: {"file": name, "r_max": cutoff_A}}`` for each compiled part. A distilled
        deploy's ``full`` part may instead name an ASE calculator, ``{"calculator":
        "module:Name", "kwargs": {...}}`` (ASE only).
    split : {"fast+slow", "full-fast"}
        How the slow force is made (:data:`SPLITS`); MTS needs both of its parts.
    **extra
        Further top-level entries (``model_dtype``, ``provenance``).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {tuple(TARGETS)}")
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; parts are {PARTS}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(SPLITS)}")
    manifest = {"format": FORMAT, "target": target, "split": split, "type_names": list(type_names), **extra}
    for part, entry in parts.items():
        manifest[part] = dict(entry, file=str(entry.get("file", "")))
        if entry.get("r_max") is not None:
            manifest[part]["r_max"] = float(entry["r_max"])
    path = pathlib.Path(directory) / FILENAME
    with atomic_write(path) as fd:  # a failure leaves the old manifest (or none), never half a file
        fd.write(json.dumps(manifest, indent=2) + "\n")
    return path


def read_manifest(
    path, target: Optional[str] = None, required: Optional[Iterable[str]] = None
) -> Dict[str, Any]:
    """Read and check a deploy manifest (or the directory holding it).

    Parameters
    ----------
    path : path
        Deploy directory or ``mts_deploy.json``.
    target : {"ase", "pair_allegro"}, optional
        The target the caller needs; another one is an error that says how to redeploy.
    required : iterable of str, optional
        Parts the manifest must list (default: the two of its ``split``). The model file
        of every listed part must exist.

    Returns
    -------
    dict
        The manifest. Each part entry gains ``path``, the absolute path of its model
        file, and ``root`` is the directory the file names are relative to.

    Raises
    ------
    FileNotFoundError
        No manifest, or a required model file is missing.
    ValueError
        Not valid JSON, another format, missing keys, or another target.
    """
    path = manifest_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no deploy manifest at {path}: give a directory written by `nequip-mts deploy`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a deploy manifest (not JSON: {err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ValueError(f"{path} has format {found!r}; this version reads {FORMAT!r}")
    split = manifest.get("split", FAST_PLUS_SLOW)
    if split not in SPLITS:
        raise ValueError(f"{path} has split {split!r}; this version reads {tuple(SPLITS)}")
    required = SPLITS[split] if required is None else tuple(required)
    missing = [k for k in ("target", "type_names", *required) if k not in manifest]
    if missing:
        raise ValueError(f"{path} lacks the entries {missing}; redeploy with `nequip-mts deploy`")
    if target is not None and manifest["target"] != target:
        raise ValueError(
            f"{path} was deployed for {manifest['target']!r}, but {TARGETS[target]} needs "
            f"models deployed with `nequip-mts deploy ... --target {target}`"
        )
    root = path.parent.resolve()
    manifest["root"] = str(root)
    for part in PARTS:
        if part not in manifest:
            continue
        entry = manifest[part]
        if isinstance(entry, dict) and entry.get("calculator"):
            continue  # an ASE calculator by import path (a distilled deploy's teacher)
        if not isinstance(entry, dict) or not entry.get("file"):
            raise ValueError(f"{path}: entry {part!r} names no model file")
        manifest[part] = dict(entry, path=str(root / entry["file"]))
        if not pathlib.Path(manifest[part]["path"]).is_file():
            raise FileNotFoundError(f"{path}: the {part} model {manifest[part]['path']} is missing")
    return manifest
