"""NVE conserved-energy drift from a linear fit, in meV/atom/ps.

Input: times in fs and conserved energies (kinetic + potential, plus any
thermostat/barostat bookkeeping term) in eV, or an MD log file
(:func:`read_md_log`, :func:`drift_from_log`) in either of two formats:

``MTSLogger`` (``nequip-mts md``, :class:`nequip_mts.md.logger.MTSLogger`)
    ``Time[fs] Etot[eV] Epot[eV] Ekin[eV] T[K] Econs[eV] Drift[meV/at]``.  The
    drift is fitted to the ``Drift[meV/at]`` column (the conserved energy per
    atom, relative to the start of the run), so no atom count is needed, and
    it holds for thermostatted runs too.
ASE ``MDLogger``
    ``Time[ps] Etot[eV] Epot[eV] Ekin[eV] T[K]`` (or ``Etot/N[eV]`` ... with
    ``peratom=True``).  The drift is fitted to ``Etot``, conserved in NVE only;
    the total-energy columns need the number of atoms.  MDLogger prints 3
    decimals (eV) for 101-1000 atoms, coarse for small drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

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


def energy_drift(
    times_fs: np.ndarray, energies_ev: np.ndarray, n_atoms: int, correlated: bool = True
) -> DriftResult:
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


#: column names of the two log formats
MTS_LOG_COLUMNS = ("Time[fs]", "Etot[eV]", "Epot[eV]", "Ekin[eV]", "T[K]", "Econs[eV]", "Drift[meV/at]")


@dataclass
class MDLog:
    """An MD log read by :func:`read_md_log`.

    Attributes
    ----------
    kind : {"mts", "ase"}
        ``MTSLogger`` or ASE ``MDLogger``.
    columns : dict of str -> ndarray
        Every column by its header name, as written.
    time_fs : ndarray
        Times in fs.
    conserved : ndarray
        The fitted quantity: the conserved energy per atom relative to the start
        in meV (``"mts"``), total energy in eV (``"ase"``), or total energy per
        atom in eV (``"ase"`` with ``peratom``).
    per_atom : bool
        Whether ``conserved`` is already per atom.
    """

    kind: str
    columns: dict
    time_fs: np.ndarray
    conserved: np.ndarray
    per_atom: bool


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_md_log(path: str | PathLike) -> MDLog:
    """Read an ``MTSLogger`` or ASE ``MDLogger`` log (see the module docstring).

    Header lines may repeat (a restart appends with a new header).  When the
    time goes back (a restart from an earlier frame repeats some lines), the
    earlier lines from that time on are replaced by the later ones.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file has no recognised header, or fewer than 3 data lines.
    """
    path = str(path)
    header, rows = None, []
    with open(path) as fh:
        for line in fh:
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            if not _is_number(tokens[0]):
                names = tokens
                if header is not None and names != header:
                    raise ValueError(f"{path}: the header changes mid-file ({header} -> {names})")
                header = names
                continue
            if header is None:
                raise ValueError(
                    f"{path}: data before any header line; not an MTSLogger or "
                    "ASE MDLogger log (use drift_from_log with time_col/energy_col)"
                )
            if len(tokens) < len(header) or not all(_is_number(t) for t in tokens[: len(header)]):
                continue  # a line cut short by a crash
            rows.append([float(t) for t in tokens[: len(header)]])
    if header is None:
        raise ValueError(f"{path}: no header line; not an MTSLogger or ASE MDLogger log")
    data = np.array(rows, dtype=float).reshape(-1, len(header))
    if "Time[fs]" in header and "Drift[meV/at]" in header:
        kind, time_name, scale = "mts", "Time[fs]", 1.0
        energy_name, per_atom = "Drift[meV/at]", True
    elif "Time[ps]" in header and ("Etot[eV]" in header or "Etot/N[eV]" in header):
        kind, time_name, scale = "ase", "Time[ps]", 1000.0
        per_atom = "Etot/N[eV]" in header
        energy_name = "Etot/N[eV]" if per_atom else "Etot[eV]"
    else:
        raise ValueError(
            f"{path}: header {' '.join(header)!r} is neither MTSLogger's "
            f"({' '.join(MTS_LOG_COLUMNS)}) nor ASE MDLogger's (Time[ps] Etot[eV] ...)"
        )
    t = data[:, header.index(time_name)] * scale
    # a restart that repeats lines: later lines win from their first time on
    keep = np.ones(len(t), dtype=bool)
    for k in range(1, len(t)):
        if t[k] <= t[k - 1]:
            keep[:k] &= t[:k] < t[k]
    data, t = data[keep], t[keep]
    if len(t) < 3:
        raise ValueError(f"{path}: {len(t)} data lines; the drift fit needs at least 3")
    columns = {name: data[:, c] for c, name in enumerate(header)}
    return MDLog(kind=kind, columns=columns, time_fs=t, conserved=columns[energy_name], per_atom=per_atom)


def drift_from_log(
    path,
    n_atoms: int | None = None,
    time_col: int | None = None,
    energy_col: int | None = None,
    time_to_fs: float | None = None,
    skiprows: int | None = None,
    **kwargs,
) -> DriftResult:
    """:func:`energy_drift` from an MD log file, in meV/atom/ps.

    With none of ``time_col``, ``energy_col``, ``time_to_fs`` or ``skiprows``
    the format is recognised from the header (:func:`read_md_log`):
    ``MTSLogger`` logs need no atom count; ASE ``MDLogger`` logs with total
    energies need ``n_atoms``.

    Giving any of those four reads a plain whitespace-separated table instead
    (lines starting with ``#`` ignored; defaults: time in column 0, in fs,
    energy in eV in column 1, no header): ``skiprows=1, time_to_fs=1000`` for
    an ASE ``MDLogger`` file.

    Parameters
    ----------
    path : str or PathLike
    n_atoms : int, optional
        Atoms in the system; needed for total energies, ignored for MTSLogger logs.
    **kwargs
        Passed to :func:`energy_drift` (``correlated``).
    """
    if any(v is not None for v in (time_col, energy_col, time_to_fs, skiprows)):
        if n_atoms is None:
            raise ValueError("n_atoms is needed to read a plain table of total energies")
        data = np.loadtxt(path, comments="#", skiprows=skiprows or 0, ndmin=2)
        t = data[:, 0 if time_col is None else time_col] * (1.0 if time_to_fs is None else time_to_fs)
        return energy_drift(t, data[:, 1 if energy_col is None else energy_col], n_atoms, **kwargs)
    log = read_md_log(path)
    return drift_from_md_log(log, n_atoms, source=str(path), **kwargs)


def drift_from_md_log(
    log: MDLog, n_atoms: int | None = None, source: str = "the log", **kwargs
) -> DriftResult:
    """:func:`energy_drift` of an :class:`MDLog` (see :func:`drift_from_log`)."""
    if log.kind == "mts":
        # conserved energy per atom in meV -> eV per atom, one "atom"
        return energy_drift(log.time_fs, log.conserved / 1000.0, 1, **kwargs)
    if log.per_atom:
        return energy_drift(log.time_fs, log.conserved, 1, **kwargs)
    if n_atoms is None:
        raise ValueError(
            f"{source} is an ASE MDLogger log of total energies; give the number "
            "of atoms (n_atoms, or --n-atoms on the command line)"
        )
    return energy_drift(log.time_fs, log.conserved, int(n_atoms), **kwargs)
