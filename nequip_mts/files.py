"""Output files that never lose a user's data: the one place for these rules.

* :func:`check_output_path` refuses an output path that is a directory or sits under a
  file, and creates missing parent directories.
* :func:`refuse_existing` refuses files that exist unless the user consented
  (``--overwrite``).
* :func:`atomic_write` writes a file under a temporary name beside it and renames it into
  place only when the writing succeeded, so a failure leaves no partial file and the old
  file, if any, intact.

Standard library only: MD, the LAMMPS tools, deploy and the manifest all use it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import Iterable, Optional

from nequip_mts.errors import InputError


def check_output_path(path, what: str = "output file") -> pathlib.Path:
    """Check that a file can be written at ``path``; create its parent directories.

    Parameters
    ----------
    path : path
        The file to be written.
    what : str
        How to name it in the error (``"--trajectory"``, ``"the data file"``, ...).

    Raises
    ------
    InputError
        ``path`` is a directory, or one of its parents is a file.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{what} {path} sits under {parent}, which is a file, not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def refuse_existing(paths: Iterable, hint: str = "pass --overwrite to replace them") -> None:
    """Raise :class:`InputError` naming the files of ``paths`` that already exist.

    ``None`` entries are skipped. ``hint`` says how to go on.
    """
    existing = [str(p) for p in paths if p is not None and pathlib.Path(p).exists()]
    if existing:
        files = existing[0] if len(existing) == 1 else ", ".join(existing)
        raise InputError(f"{files} already exist{'s' if len(existing) == 1 else ''}; {hint}")


def same_file(a, b) -> bool:
    """Whether two paths name the same file (both must exist to be the same)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", temp_dir: Optional[os.PathLike] = None):
    """Open a temporary file beside ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was::

        with atomic_write("system.data") as fd:
            fd.write(text)

    Parameters
    ----------
    path : path
        The final file.
    mode : {'w', 'wb'}
        Text or binary.
    temp_dir : path, optional
        Where the temporary file goes (default: ``path``'s directory, so that the rename
        stays on one file system).
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=temp_dir or path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (for provenance records)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
