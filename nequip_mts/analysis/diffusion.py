"""Mean-squared displacement and self-diffusion coefficients.

Positions in Å, times in fs on input (from the frames' ``md_time_fs`` for
trajectories); D is reported in Å^2/ps and in the
customary 10^-5 cm^2/s (1 Å^2/ps = 10 x 10^-5 cm^2/s).  Einstein relation in
3D: MSD(t) -> 6 D t.

D from a periodic box carries the usual finite-size (Yeh-Hummer) underestimate;
that cancels when baseline and MTS runs use the same box, which is what these
tools are for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.geometry import find_mic

from .frames import load_frames, regular_frames, stack_cells, stack_positions
from .molecules import group_indices

#: 1 Å^2/ps in units of 10^-5 cm^2/s
A2PS_TO_1E5CM2S = 10.0


def unwrap_positions(positions: np.ndarray, cells: np.ndarray, pbc=True) -> np.ndarray:
    """Undo periodic wrapping by accumulating minimum-image frame-to-frame steps.

    Valid while no atom moves more than half a box length between stored frames.

    Parameters
    ----------
    positions : ndarray, shape (frames, atoms, 3)
        Wrapped (or already unwrapped) positions in Å.
    cells : ndarray, shape (3, 3) or (frames, 3, 3)
        Cell vectors as rows; with a per-frame cell, the step into frame t
        uses frame t's cell.
    pbc : bool or sequence of 3 bool

    Returns
    -------
    ndarray, shape (frames, atoms, 3)
        Continuous trajectory starting at ``positions[0]``.
    """
    x = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    steps = np.diff(x, axis=0)
    nf, na = steps.shape[:2]
    if cells.ndim == 2 or np.allclose(cells, cells[0]):
        cell = cells if cells.ndim == 2 else cells[0]
        steps = find_mic(steps.reshape(-1, 3), cell, pbc)[0].reshape(nf, na, 3)
    else:
        steps = np.stack([find_mic(s, c, pbc)[0] for s, c in zip(steps, cells[1:])])
    out = np.empty_like(x)
    out[0] = x[0]
    out[1:] = x[0] + np.cumsum(steps, axis=0)
    return out


def remove_com_drift(unwrapped: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Subtract the displacement of the centre of mass of all given atoms.

    Thermostats and MTS integrators can let the whole box drift; that motion
    is not self-diffusion.
    """
    m = np.asarray(masses, dtype=float)
    com = np.einsum("fai,a->fi", unwrapped, m) / m.sum()
    return unwrapped - (com - com[0])[:, None, :]


def msd(unwrapped: np.ndarray, per_particle: bool = False) -> np.ndarray:
    """Multiple-time-origin MSD at every lag, by the FFT algorithm.

    MSD(m) = <|x(t + m) - x(t)|^2>_t, averaged over all F - m origins, computed
    as S1(m) - 2 S2(m) with S2 the FFT autocorrelation (Calandrini et al.,
    Collection SFN 12, 201 (2011)), O(F log F) instead of O(F^2).

    Parameters
    ----------
    unwrapped : ndarray, shape (frames, atoms, 3)
    per_particle : bool
        Return shape (frames, atoms) instead of the atom average.

    Returns
    -------
    ndarray
        MSD in Å^2 at lags 0..frames-1.
    """
    x = np.asarray(unwrapped, dtype=float)
    nf = x.shape[0]
    lags = np.arange(nf)
    nfft = 1 << int(np.ceil(np.log2(2 * nf)))
    s2 = np.empty(x.shape[:2])
    for s in range(0, x.shape[1], 128):  # atom chunks bound the complex FFT buffer
        f = np.fft.rfft(x[:, s : s + 128], n=nfft, axis=0)
        s2[:, s : s + 128] = np.fft.irfft((f.real**2 + f.imag**2).sum(axis=2), n=nfft, axis=0)[:nf]
    s2 /= (nf - lags)[:, None]
    d = (x**2).sum(axis=2)  # (frames, atoms)
    # S1(m) = sum_{t=0}^{F-m-1} [d(t) + d(t+m)] / (F-m), via running sums from both ends.
    csum = np.concatenate([np.zeros((1, d.shape[1])), np.cumsum(d, axis=0)])
    head = csum[nf - lags]  # sum of d[0 : F-m]
    tail = csum[nf] - csum[lags]  # sum of d[m : F]
    s1 = (head + tail) / (nf - lags)[:, None]
    out = s1 - 2.0 * s2
    return out if per_particle else out.mean(axis=1)


def fit_diffusion(
    t_ps: np.ndarray, msd_a2: np.ndarray, window_ps: tuple[float, float], dim: int = 3
) -> float:
    """D in Å^2/ps from a least-squares line MSD = 2 dim D t + c on ``window_ps``."""
    m = (t_ps >= window_ps[0]) & (t_ps <= window_ps[1])
    if m.sum() < 3:
        raise ValueError(f"fit window {window_ps} ps holds fewer than 3 points")
    slope = np.polyfit(t_ps[m], msd_a2[m], 1)[0]
    return float(slope / (2 * dim))


@dataclass
class DiffusionResult:
    """Self-diffusion estimate.  ``D``/``D_err`` in Å^2/ps; ``*_cgs`` in 10^-5 cm^2/s."""

    D: float
    D_err: float
    t_ps: np.ndarray
    msd: np.ndarray
    window_ps: tuple[float, float]
    block_D: np.ndarray

    @property
    def D_cgs(self) -> float:
        return self.D * A2PS_TO_1E5CM2S

    @property
    def D_err_cgs(self) -> float:
        return self.D_err * A2PS_TO_1E5CM2S


def self_diffusion(
    unwrapped: np.ndarray,
    dt_fs: float,
    window_ps: tuple[float, float] | None = None,
    n_blocks: int = 5,
    dim: int = 3,
) -> DiffusionResult:
    """D from the MSD slope, with a block-averaging error bar.

    The full trajectory gives the MSD and D.  The error is the standard error
    of the mean of D fitted independently in ``n_blocks`` contiguous time
    blocks (blocks longer than the velocity memory are close to independent).

    Parameters
    ----------
    unwrapped : ndarray, shape (frames, atoms, 3)
        Unwrapped positions (Å) of the atoms to analyse, e.g. water oxygens.
    dt_fs : float
        Time between frames in fs.
    window_ps : (float, float), optional
        Fit window in ps; must fit inside one block.  Default: 10 % to 50 % of
        the block duration (skips the ballistic start and the poorly averaged
        long lags).
    n_blocks : int
        Number of time blocks for the error (>= 2).
    dim : int
        Dimensionality of the Einstein relation.
    """
    x = np.asarray(unwrapped, dtype=float)
    nf = x.shape[0]
    if n_blocks < 2:
        raise ValueError("n_blocks must be >= 2 for an error estimate")
    blen = nf // n_blocks
    block_t = (blen - 1) * dt_fs / 1000.0
    if window_ps is None:
        window_ps = (0.1 * block_t, 0.5 * block_t)
    if window_ps[1] > block_t:
        raise ValueError(f"fit window ends at {window_ps[1]} ps but blocks last {block_t:.3f} ps")
    t_ps = np.arange(nf) * dt_fs / 1000.0
    full = msd(x)
    d_full = fit_diffusion(t_ps, full, window_ps, dim)
    block_d = np.array(
        [
            fit_diffusion(t_ps[:blen], msd(x[k * blen : (k + 1) * blen]), window_ps, dim)
            for k in range(n_blocks)
        ]
    )
    err = float(block_d.std(ddof=1) / np.sqrt(n_blocks))
    return DiffusionResult(d_full, err, t_ps, full, tuple(window_ps), block_d)


def self_diffusion_from_frames(
    frames, dt_fs: float | None = None, symbols="O", remove_com: bool = True, **kwargs
) -> DiffusionResult:
    """:func:`self_diffusion` of a trajectory (path or list of ``ase.Atoms``).

    Unwraps positions, optionally removes the whole-system centre-of-mass drift
    (using all atoms), then analyses the atoms of ``symbols`` (default: water
    oxygens, i.e. molecular diffusion).

    Parameters
    ----------
    frames : path, ase.Atoms or iterable of ase.Atoms
        The trajectory.  The frame spacing comes from ``atoms.info["md_time_fs"]``;
        frames off the regular grid (the final state that ``nequip-mts md``
        writes off its log interval) are left out.
    dt_fs : float, optional
        Time between frames in fs, only for frames without ``md_time_fs``.
    symbols : str or iterable of str
        Groups to analyse: element symbols or selectors such as ``"O@H2O"``
        (see :mod:`.molecules`; molecules are taken from the first frame).
    remove_com : bool
        Subtract the centre-of-mass displacement of the whole system.
    **kwargs
        Passed to :func:`self_diffusion` (``window_ps``, ``n_blocks``, ``dim``).
    """
    frames, spacing, _ = regular_frames(load_frames(frames), dt_fs)
    x = unwrap_positions(stack_positions(frames), stack_cells(frames), frames[0].pbc)
    if remove_com:
        x = remove_com_drift(x, frames[0].get_masses())
    groups = [symbols] if isinstance(symbols, str) else list(symbols)
    idx = np.unique(np.concatenate([group_indices(frames[0], g) for g in groups]))
    if idx.size == 0:
        raise ValueError(f"no atoms in group(s) {groups}")
    return self_diffusion(x[:, idx], spacing, **kwargs)
