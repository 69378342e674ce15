"""The deploy step's metadata file, ``mts_deploy.json`` (read by MD and LAMMPS tools).

Kept free of torch/nequip imports so that readers stay light.
"""

import json
import pathlib
from typing import Any, Dict

FORMAT = "nequip-mts-deploy/1"
FILENAME = "mts_deploy.json"
PARTS = ("fast", "slow", "sum")


def write_metadata(directory, metadata: Dict[str, Any]) -> pathlib.Path:
    path = pathlib.Path(directory) / FILENAME
    path.write_text(json.dumps(dict(metadata, format=FORMAT), indent=2) + "\n")
    return path


def read_metadata(path, required_parts=("fast", "slow")) -> Dict[str, Any]:
    """Read and check ``mts_deploy.json`` (or the directory holding it).

    Each part entry gains ``path``, the absolute path of its model file; the parts in
    ``required_parts`` must exist on disk.

    Raises
    ------
    FileNotFoundError
        No metadata file, or a required model file is missing.
    ValueError
        Not valid JSON, another format, or missing keys.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"no deploy metadata at {path} (expected {FILENAME})")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has format {meta.get('format')!r}; this version reads {FORMAT!r}")
    missing = [k for k in ("target", "type_names", *required_parts) if k not in meta]
    if missing:
        raise ValueError(f"{path} lacks the keys {missing}")
    for part in PARTS:
        if part not in meta:
            continue
        if "file" not in meta[part]:
            raise ValueError(f"{path}: entry {part!r} names no file")
        meta[part] = dict(meta[part], path=str(path.parent / meta[part]["file"]))
        if part in required_parts and not pathlib.Path(meta[part]["path"]).is_file():
            raise FileNotFoundError(f"{part} model {meta[part]['path']} is missing")
    return meta
