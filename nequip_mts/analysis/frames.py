"""Turn trajectories (files or lists of ``ase.Atoms``) into stacked numpy arrays.

Units follow the rest of :mod:`nequip_mts.analysis`: positions in Å, velocities
in Å/fs, times in fs.

Time axis: frames written by ``nequip-mts md`` (:func:`nequip_mts.md.runner.run_md`)
carry their simulation time in ``atoms.info["md_time_fs"]`` and their step in
``atoms.info["md_step"]``.  :func:`frame_times_fs` reads it; an explicit frame
spacing (``dt_fs``) is only a fallback for frames without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike

import numpy as np
from ase import Atoms, units

# the atoms.info keys that nequip-mts md stamps on every frame (one definition, in md.runner)
from nequip_mts.md.runner import TIME_KEY


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


def select_indices(
    atoms: Atoms, symbols: str | Iterable[str] | None = None, indices: Iterable[int] | None = None
) -> np.ndarray:
    """Atom indices chosen by chemical symbol(s) or explicit indices (default: all)."""
    if indices is not None and symbols is not None:
        raise ValueError("give either symbols or indices, not both")
    if indices is not None:
        return np.asarray(list(indices), dtype=int)
    if symbols is None:
        return np.arange(len(atoms))
    wanted = {symbols} if isinstance(symbols, str) else set(symbols)
    return np.array([i for i, s in enumerate(atoms.get_chemical_symbols()) if s in wanted], dtype=int)


def frame_times_fs(frames: Sequence[Atoms], dt_fs: float | None = None) -> np.ndarray:
    """Simulation time of every frame in fs.

    Parameters
    ----------
    frames : sequence of ase.Atoms
    dt_fs : float, optional
        Time between frames, used only when no frame carries ``md_time_fs``
        (times are then ``0, dt_fs, 2 dt_fs, ...``).  When the frames carry
        times too, ``dt_fs`` must agree with their spacing.

    Returns
    -------
    ndarray, shape (frames,)

    Raises
    ------
    ValueError
        If some frames carry ``md_time_fs`` and others do not, if neither the
        frames nor ``dt_fs`` give a time, or if ``dt_fs`` contradicts the frames.
    """
    if not frames:
        raise ValueError("no frames")
    has = [TIME_KEY in f.info for f in frames]
    if not any(has):
        if dt_fs is None:
            raise ValueError(
                f"the frames carry no atoms.info['{TIME_KEY}'] (not written by nequip-mts md); "
                "give the time between frames explicitly (dt_fs, or --dt-fs on the command line)"
            )
        if not (np.isfinite(dt_fs) and dt_fs > 0):
            raise ValueError(f"dt_fs must be a positive number of fs, got {dt_fs!r}")
        return np.arange(len(frames)) * float(dt_fs)
    if not all(has):
        k = has.index(False)
        raise ValueError(
            f"frame {k} has no atoms.info['{TIME_KEY}'] while others do; analyse one run's frames at a time"
        )
    t = np.array([float(f.info[TIME_KEY]) for f in frames])
    if dt_fs is not None and len(t) > 1:
        spacing = float(np.median(np.diff(t)))
        if not np.isclose(spacing, dt_fs, rtol=1e-6, atol=1e-6):
            raise ValueError(
                f"dt_fs = {dt_fs} fs contradicts the frames' own times "
                f"({TIME_KEY}, {spacing:g} fs apart); leave dt_fs out"
            )
    return t


def regular_frames(
    frames: Sequence[Atoms], dt_fs: float | None = None, rtol: float = 1e-6
) -> tuple[list[Atoms], float, int]:
    """The frames on one regular time grid, their spacing, and how many were dropped.

    Time correlations (VACF, MSD) need equally spaced frames.  ``nequip-mts md``
    writes a frame every ``loginterval`` steps plus the final state, which can
    lie off that grid; such frames are dropped.  A gap in the grid (a frame
    missing in the middle) or times that are not increasing is an error.

    Parameters
    ----------
    frames : sequence of ase.Atoms
    dt_fs : float, optional
        Fallback spacing for frames without ``md_time_fs`` (see :func:`frame_times_fs`).
    rtol : float
        Relative tolerance on the grid, in units of the spacing.

    Returns
    -------
    frames : list of ase.Atoms
        The frames on the grid ``t0 + k * spacing``, in order.
    spacing_fs : float
    dropped : int
        Frames left out because they were off the grid.
    """
    frames = list(frames)
    t = frame_times_fs(frames, dt_fs)
    if len(frames) < 2:
        raise ValueError("need at least 2 frames for a time series")
    steps = np.diff(t)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise ValueError(
            f"frame times do not increase at frame {k} ({t[k - 1]:g} fs -> {t[k]:g} fs); "
            "a restarted run written twice? give each run once, in order"
        )
    spacing = float(np.median(steps))
    k = (t - t[0]) / spacing
    on_grid = np.abs(k - np.round(k)) <= max(rtol, 1e-9) * np.maximum(1.0, np.abs(k))
    kept = np.flatnonzero(on_grid)
    slots = np.round(k[kept]).astype(int)
    if np.any(np.diff(slots) != 1):
        gap = int(kept[np.flatnonzero(np.diff(slots) != 1)[0] + 1])
        raise ValueError(
            f"frames are not evenly spaced: a gap before frame {gap} (t = {t[gap]:g} fs, "
            f"spacing {spacing:g} fs); analyse the contiguous part only"
        )
    return [frames[i] for i in kept], spacing, len(frames) - len(kept)


def discard_equilibration(
    frames: Sequence[Atoms], equilibration_ps: float, dt_fs: float | None = None
) -> list[Atoms]:
    """Drop the frames of the first ``equilibration_ps`` ps after the first frame.

    A frame at ``t`` is kept if ``t - t_first >= equilibration_ps``.  Times come
    from ``md_time_fs`` (or ``dt_fs``, see :func:`frame_times_fs`).
    """
    if not equilibration_ps >= 0:
        raise ValueError(f"equilibration must be >= 0 ps, got {equilibration_ps!r}")
    frames = list(frames)
    if equilibration_ps == 0:
        return frames
    t = frame_times_fs(frames, dt_fs)
    keep = (t - t[0]) >= 1000.0 * equilibration_ps - 1e-9
    if not keep.any():
        raise ValueError(
            f"discarding {equilibration_ps} ps of equilibration leaves no frames "
            f"(the run spans {(t[-1] - t[0]) / 1000:.4g} ps); shorten the equilibration"
        )
    return [f for f, k in zip(frames, keep) if k]
