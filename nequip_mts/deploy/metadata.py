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


def read_metadata(path) -> Dict[str, Any]:
    """Read ``mts_deploy.json`` (or the directory holding it); model files become absolute."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise FileNotFoundError(f"no nequip-mts deploy metadata at {path}")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
    for part in PARTS:
        if part in meta:
            meta[part] = dict(meta[part], path=str(path.parent / meta[part]["file"]))
    return meta
