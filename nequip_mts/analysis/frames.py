"""Turn trajectories (files or lists of ``ase.Atoms``) into stacked numpy arrays.

Units follow the rest of :mod:`nequip_mts.analysis`: positions in Å, velocities
in Å/fs, times in fs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike

import numpy as np
from ase import Atoms, units


def load_frames(source, index=":") -> list[Atoms]:
    """Return a list of frames from a file path, a single ``Atoms`` or an iterable.

    Parameters
    ----------
    source : str, PathLike, ase.Atoms or iterable of ase.Atoms
        Anything ``ase.io.read`` understands (``.traj``, ``.extxyz``, ``.xyz.gz``,
        LAMMPS dumps, ...) or frames already in memory.
    index : str or int or slice, optional
        Frame selection passed to ``ase.io.read`` for files.

    Returns
    -------
    list of ase.Atoms
    """
    if isinstance(source, Atoms):
        return [source]
    if isinstance(source, (str, PathLike)):
        from ase.io import read

        frames = read(source, index=index)
        return [frames] if isinstance(frames, Atoms) else list(frames)
    return list(source)


def _check_same_atoms(frames: Sequence[Atoms]) -> None:
    if not frames:
        raise ValueError("no frames")
    n = len(frames[0])
    if any(len(f) != n for f in frames):
        raise ValueError("all frames must have the same number of atoms")


def stack_positions(frames: Sequence[Atoms]) -> np.ndarray:
    """Positions as an array ``[frames, atoms, 3]`` in Å (as stored, wrapped or not)."""
    _check_same_atoms(frames)
    return np.stack([f.get_positions() for f in frames])


def stack_cells(frames: Sequence[Atoms]) -> np.ndarray:
    """Cell matrices as an array ``[frames, 3, 3]`` in Å (rows are cell vectors)."""
    return np.stack([f.cell.array for f in frames])


def stack_velocities(frames: Sequence[Atoms]) -> np.ndarray:
    """Velocities as an array ``[frames, atoms, 3]`` in Å/fs.

    Raises ``ValueError`` if a frame carries no momenta/velocities, since a
    silent array of zeros would give a meaningless VACF.
    """
    _check_same_atoms(frames)
    for k, f in enumerate(frames):
        if "momenta" not in f.arrays:
            raise ValueError(f"frame {k} has no momenta/velocities")
    # ASE velocities are Å per ASE time unit; one fs is `units.fs` ASE time units.
    return np.stack([f.get_velocities() for f in frames]) * units.fs


def select_indices(atoms: Atoms, symbols: str | Iterable[str] | None = None,
                   indices: Iterable[int] | None = None) -> np.ndarray:
    """Atom indices chosen by chemical symbol(s) or explicit indices (default: all)."""
    if indices is not None and symbols is not None:
        raise ValueError("give either symbols or indices, not both")
    if indices is not None:
        return np.asarray(list(indices), dtype=int)
    if symbols is None:
        return np.arange(len(atoms))
    wanted = {symbols} if isinstance(symbols, str) else set(symbols)
    return np.array([i for i, s in enumerate(atoms.get_chemical_symbols()) if s in wanted],
                    dtype=int)
