"""Compile once, reuse after: a cache of compiled models, keyed by the model file's content.

``nequip-mts demo``, ``nequip-mts md`` (given a checkpoint or package), the examples and
the benchmarks run compiled models (AOTInductor, about twice as fast as eager ones on
CPU). Compiling takes about a minute per model, so each compile is kept in a user cache
directory and reused while the source file is unchanged:

- :func:`deployed` gives the deploy directory (with ``mts_deploy.json``) of the parts of
  a multiscale checkpoint/package, made by :func:`nequip_mts.deploy.split.deploy`;
- :func:`compiled_single` gives the ``.nequip.pt2`` of a single model (``sole_model``),
  e.g. a single-step baseline.

An entry is named by the sha256 of the source file, the target, whether it has the
stress output, the device type and the torch/nequip versions (a compiled model is only
valid for the torch that wrote it). A changed source file has another sha256, so it
misses and is compiled anew; the old entry stays until the cache directory is removed.
A deploy entry with more parts than asked for is a hit.

Entries are built in a temporary directory beside them and renamed into place when
complete, so an interrupted compile never leaves an entry that looks finished; two
processes that compile the same entry at once both succeed, and one of the two copies
is kept.

The cache directory is, first to last: the ``cache_dir`` argument (``--cache-dir`` on the
command line), ``$NEQUIP_MTS_CACHE_DIR``, ``$XDG_CACHE_HOME/nequip-mts``,
``~/.cache/nequip-mts``. Remove it to free the space (a few MB per model).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Optional, Sequence

from nequip_mts.manifest import FAST, MULTISCALE_PARTS, SLOW

#: environment variable naming the cache directory
CACHE_ENV = "NEQUIP_MTS_CACHE_DIR"
#: the record each entry holds of what it was made from; written last, before the rename
ENTRY_FILE = "cache_entry.json"
#: file name of a single compiled model inside its entry
SINGLE_FILE = "model.nequip.pt2"
_FORMAT = "nequip-mts-cache/1"


def cache_root(cache_dir=None) -> pathlib.Path:
    """The cache directory: ``cache_dir``, ``$NEQUIP_MTS_CACHE_DIR``, ``$XDG_CACHE_HOME/nequip-mts``
    or ``~/.cache/nequip-mts`` (not created here)."""
    if cache_dir:
        return pathlib.Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "nequip-mts"


def deployed(
    source,
    parts: Sequence[str] = (FAST, SLOW),
    *,
    target: str = "ase",
    stress: bool = False,
    device: str = "cpu",
    cache_dir=None,
) -> pathlib.Path:
    """The deploy directory of a multiscale checkpoint/package's ``parts``, compiled on a miss.

    Parameters
    ----------
    source : path
        The multiscale ``.ckpt`` or ``.nequip.zip``.
    parts : sequence of {"fast", "slow", "sum"}
        Parts needed; an entry holding more of them is reused.
    target : {"ase", "pair_allegro"}
    stress : bool
        ASE models with the stress output (MD in a fixed cell does not need it).
    device : str
        Device the models are compiled for.
    cache_dir : path, optional
        Cache directory (default: see :func:`cache_root`).
    """
    parts = tuple(p for p in MULTISCALE_PARTS if p in set(parts))
    if not parts or len(parts) != len(set(parts)):
        raise ValueError(f"parts must be among {MULTISCALE_PARTS}")
    key = _key("deploy", source, target, stress, device)
    found = _lookup(key, cache_dir, lambda entry: set(parts) <= set(entry["parts"]))
    if found is not None:
        return found
    label = f"{pathlib.Path(source).name} ({', '.join(parts)})"
    return _build(
        key,
        cache_dir,
        label,
        lambda staging: _compile_deploy(source, staging, target, parts, device, stress),
        parts,
    )


def compiled_single(
    source, *, target: str = "ase", stress: bool = False, device: str = "cpu", cache_dir=None
) -> pathlib.Path:
    """The compiled ``.nequip.pt2`` of a single-model checkpoint/package (its ``sole_model``)."""
    key = _key("single", source, target, stress, device)
    found = _lookup(key, cache_dir, lambda entry: True)
    if found is None:
        found = _build(
            key,
            cache_dir,
            pathlib.Path(source).name,
            lambda staging: _compile_single(source, staging / SINGLE_FILE, target, device, stress),
        )
    return found / SINGLE_FILE


# ---------------------------------------------------------------------- the compile steps
# (module functions, so that tests replace them and never compile)
def _compile_deploy(source, staging: pathlib.Path, target, parts, device, stress):
    from nequip_mts.deploy.split import deploy

    deploy(source, staging, target=target, parts=parts, device=device, stress=stress, verbose=False)


def _compile_single(source, out: pathlib.Path, target, device, stress):
    from nequip_mts.deploy.split import ase_compile_target, compile_model
    from nequip_mts.manifest import SUM_KEY

    compile_target = ase_compile_target(stress) if target == "ase" else target
    compile_model(source, out, compile_target, SUM_KEY, device)


# ---------------------------------------------------------------------- entries
def _key(kind, source, target, stress, device) -> dict:
    import nequip
    import torch

    from nequip_mts.files import sha256_file

    source = pathlib.Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"no model file at {source}")
    if target != "ase":
        stress = True  # LAMMPS models always give the virial
    return {
        "format": _FORMAT,
        "kind": kind,
        "source_sha256": sha256_file(source),
        "target": target,
        "stress": bool(stress),
        "device": torch.device(device).type,
        "torch": torch.__version__,
        "nequip": nequip.__version__,
    }


def _prefix(key) -> str:
    """Entry-name prefix of a key: what tells entries apart at a glance."""
    import hashlib

    rest = json.dumps({k: v for k, v in key.items() if k not in ("kind", "source_sha256")}, sort_keys=True)
    return "-".join(
        (
            key["kind"],
            key["source_sha256"][:16],
            key["target"],
            "stress" if key["stress"] else "nostress",
            hashlib.sha256(rest.encode()).hexdigest()[:8],
        )
    )


def _lookup(key, cache_dir, accept) -> Optional[pathlib.Path]:
    root = cache_root(cache_dir)
    if not root.is_dir():
        return None
    for path in sorted(root.glob(_prefix(key) + "*")):
        entry = _read_entry(path)
        if entry is not None and all(entry.get(k) == v for k, v in key.items()) and accept(entry):
            return path
    return None


def _read_entry(path: pathlib.Path) -> Optional[dict]:
    try:
        entry = json.loads((path / ENTRY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict):
        return None
    if entry.get("kind") == "single":
        return entry if (path / SINGLE_FILE).is_file() else None
    try:
        from nequip_mts.manifest import read_manifest

        manifest = read_manifest(path, required=entry.get("parts", ()))
    except (OSError, ValueError):
        return None
    if manifest.get("provenance", {}).get("source_sha256") != entry.get("source_sha256"):
        return None
    return entry


def _build(key, cache_dir, label, compile_into, parts=None) -> pathlib.Path:
    root = cache_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = _prefix(key) + ("" if parts is None else "-" + "+".join(parts))
    final = root / name
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    print(
        f"nequip-mts: compiling {label} for {key['target']} once, into the model cache {root} "
        "(one to two minutes per model) ...",
        end="",
        flush=True,
    )
    start = time.perf_counter()
    try:
        with _quiet_nequip_logs():
            compile_into(staging)
        entry = dict(key, parts=list(parts) if parts is not None else None, source=str(label))
        (staging / ENTRY_FILE).write_text(json.dumps(entry, indent=2) + "\n")
        if final.exists():
            # an old incomplete or stale entry of the same name (or another process's copy)
            if _read_entry(final) is not None:
                shutil.rmtree(staging, ignore_errors=True)
                staging = None
            else:
                shutil.rmtree(final, ignore_errors=True)
        if staging is not None:
            try:
                os.rename(staging, final)
            except OSError:
                if _read_entry(final) is None:  # not another process's complete copy
                    raise
                shutil.rmtree(staging, ignore_errors=True)
            staging = None
    except BaseException:
        print(" failed", flush=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    print(f" done in {time.perf_counter() - start:.0f} s", flush=True)
    return final


class _quiet_nequip_logs:
    """nequip-compile and torch log each step (INFO) and a few harmless warnings; keep the
    cache's compile to its one line. Errors still raise."""

    def __enter__(self):
        import logging
        import warnings

        sys.stdout.flush()
        self._disabled = logging.root.manager.disable
        logging.disable(logging.WARNING)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc):
        import logging

        self._warnings.__exit__(*exc)
        logging.disable(self._disabled)
        return False
