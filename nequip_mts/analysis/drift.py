"""NVE conserved-energy drift from a linear fit, in meV/atom/ps.

Input: times in fs and conserved energies (kinetic + potential, plus any
thermostat/barostat bookkeeping term) in eV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import linregress

#: eV/fs -> meV/ps
EV_PER_FS_TO_MEV_PER_PS = 1.0e6


@dataclass
class DriftResult:
    """Linear-fit drift.

    Attributes
    ----------
    slope : float
        Drift in meV/atom/ps.
    stderr : float
        Standard error of ``slope``; inflated by sqrt(statistical inefficiency)
        of the residuals when ``correlated=True`` was used.
    stderr_ols : float
        Plain least-squares standard error (assumes independent residuals).
    intercept : float
        Fitted energy at t = 0, eV (total, not per atom).
    fluctuation : float
        RMS of the residuals about the line, meV/atom (the non-drifting noise).
    inefficiency : float
        Statistical inefficiency g = 1 + 2 sum_k rho_k of the residuals (1 if
        not estimated).
    """

    slope: float
    stderr: float
    stderr_ols: float
    intercept: float
    fluctuation: float
    inefficiency: float


def statistical_inefficiency(x: np.ndarray) -> float:
    """g = 1 + 2 sum_k (1 - k/N) rho_k, summed until rho first drops below zero.

    The number of effectively independent samples is N / g.  The sum is cut
    at the first negative autocorrelation (initial-positive-sequence style) so
    noise in the tail does not dominate.
    """
    x = np.asarray(x, dtype=float) - np.mean(x)
    n = len(x)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, n=nfft)
    acf = np.fft.irfft(f.real**2 + f.imag**2, n=nfft)[:n] / (n - np.arange(n))
    if acf[0] <= 0:
        return 1.0
    rho = acf[1:] / acf[0]
    neg = np.flatnonzero(rho < 0)
    kmax = neg[0] if neg.size else len(rho)
    k = np.arange(1, kmax + 1)
    g = 1.0 + 2.0 * np.sum(rho[:kmax] * (1.0 - k / n))
    return float(max(g, 1.0))


def energy_drift(times_fs: np.ndarray, energies_ev: np.ndarray, n_atoms: int,
                 correlated: bool = True) -> DriftResult:
    """Drift of the conserved energy in meV/atom/ps.

    Parameters
    ----------
    times_fs : ndarray
        Times in fs.
    energies_ev : ndarray
        Conserved (total) energy in eV, same length.
    n_atoms : int
        Atoms in the system (for the per-atom normalisation).
    correlated : bool
        MD energy fluctuations are time-correlated, which makes the plain OLS
        error too small; if True, inflate it by sqrt(g) of the residuals.

    Returns
    -------
    DriftResult
    """
    t = np.asarray(times_fs, dtype=float)
    e = np.asarray(energies_ev, dtype=float)
    if t.shape != e.shape or t.ndim != 1 or len(t) < 3:
        raise ValueError("need >= 3 matching times and energies")
    fit = linregress(t, e)
    resid = e - (fit.intercept + fit.slope * t)
    g = statistical_inefficiency(resid) if correlated else 1.0
    scale = EV_PER_FS_TO_MEV_PER_PS / n_atoms
    return DriftResult(
        slope=float(fit.slope * scale),
        stderr=float(fit.stderr * np.sqrt(g) * scale),
        stderr_ols=float(fit.stderr * scale),
        intercept=float(fit.intercept),
        fluctuation=float(resid.std() * 1000.0 / n_atoms),
        inefficiency=g,
    )


def drift_from_log(path, n_atoms: int, time_col: int = 0, energy_col: int = 1,
                   time_to_fs: float = 1.0, skiprows: int = 0, **kwargs) -> DriftResult:
    """:func:`energy_drift` from a whitespace-separated text log.

    Lines starting with ``#`` are ignored.  ``time_to_fs`` converts the time
    column to fs.  For an ASE ``MDLogger`` file (header line, ``Time[ps]``,
    ``Etot[eV]``) use ``skiprows=1, time_to_fs=1000``.  Keyword arguments go
    to :func:`energy_drift`.
    """
    data = np.loadtxt(path, comments="#", skiprows=skiprows, ndmin=2)
    return energy_drift(data[:, time_col] * time_to_fs, data[:, energy_col], n_atoms, **kwargs)
