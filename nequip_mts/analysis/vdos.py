"""Velocity autocorrelation (VACF) and vibrational density of states (VDOS).

The VDOS is the cosine transform of the VACF; it is the validation quantity most
sensitive to MTS resonances (shifted or broadened O-H stretch, spurious peaks).
Inputs are velocities ``[frames, atoms, 3]`` (any length unit per fs) and the time
between stored frames in fs; frequencies come out in cm^-1.  From a trajectory
(:func:`vdos_from_frames`) the frame spacing comes from the frames' own
``md_time_fs``.

Sampling note: the highest resolvable wavenumber is 1 / (2 dt c); with frames
every 2 fs that is 8339 cm^-1, every 5 fs only 3336 cm^-1, below the O-H
stretch (~3400-3700 cm^-1), which then aliases to a wrong frequency.
"""

from __future__ import annotations

import warnings

import numpy as np

from .frames import load_frames, regular_frames, stack_velocities
from .molecules import group_indices

#: ``numpy.trapezoid`` (NumPy >= 2) or its older name ``numpy.trapz`` (NumPy 1.x)
trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")

#: speed of light in cm/fs; wavenumber [cm^-1] = frequency [1/fs] / C_CM_PER_FS
C_CM_PER_FS = 2.99792458e-5
_ATOM_CHUNK = 128


def vacf(
    velocities: np.ndarray,
    masses: np.ndarray | None = None,
    max_lag: int | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Velocity autocorrelation averaged over time origins and atoms.

    C(tau) = sum_i w_i <v_i(t) . v_i(t + tau)>_t / sum_i w_i, with w_i = m_i if
    ``masses`` is given (mass-weighted, so C(0) = 3 k_B T / <m> in equilibrium)
    else w_i = 1.  Computed with zero-padded FFTs (Wiener-Khinchin), O(F log F),
    and each lag divided by its number of time origins (unbiased estimator).

    Parameters
    ----------
    velocities : ndarray, shape (frames, atoms, 3)
    masses : ndarray, shape (atoms,), optional
    max_lag : int, optional
        Largest lag in frames (default: frames - 1).
    normalize : bool
        Divide by C(0).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
        C at lags 0..max_lag frames.
    """
    v = np.asarray(velocities, dtype=float)
    if v.ndim != 3 or v.shape[2] != 3:
        raise ValueError("velocities must have shape (frames, atoms, 3)")
    nf = v.shape[0]
    max_lag = nf - 1 if max_lag is None else int(max_lag)
    if not 0 < max_lag < nf:
        raise ValueError(f"max_lag must be in [1, {nf - 1}]")
    nfft = 1 << int(np.ceil(np.log2(2 * nf)))  # >= 2F: no wrap-around of the circular correlation
    w = np.ones(v.shape[1]) if masses is None else np.asarray(masses, dtype=float)
    power = np.zeros(nfft // 2 + 1)
    for s in range(0, v.shape[1], _ATOM_CHUNK):  # chunks bound the complex FFT buffer
        spec = np.fft.rfft(v[:, s : s + _ATOM_CHUNK], n=nfft, axis=0)
        power += (spec.real**2 + spec.imag**2).sum(axis=2) @ w[s : s + _ATOM_CHUNK]
    acf = np.fft.irfft(power, n=nfft)[: max_lag + 1] / w.sum()
    acf /= nf - np.arange(max_lag + 1)
    return acf / acf[0] if normalize else acf


def vdos(
    velocities: np.ndarray,
    dt_fs: float,
    masses: np.ndarray | None = None,
    max_lag: int | None = None,
    window: str | None = "hann",
    pad_factor: int = 4,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational density of states from the windowed cosine transform of the VACF.

    Parameters
    ----------
    velocities : ndarray, shape (frames, atoms, 3)
    dt_fs : float
        Time between frames in fs.
    masses : ndarray, optional
        Mass-weight the VACF (the usual VDOS definition; recommended for water).
    max_lag : int, optional
        VACF length used (default: half the frames: longer lags add noise, not
        information).  The resolution is about 1 / (max_lag dt c) cm^-1.
    window : {"hann", None}
        Taper applied to the VACF before the transform to suppress truncation
        ripples (at the price of some broadening).
    pad_factor : int
        Zero padding of the transform (interpolates the frequency grid only).
    normalize : bool
        Scale to unit area over wavenumber (cm^-1), so curves from runs with
        different temperatures/masses can be overlaid.

    Returns
    -------
    wavenumber : ndarray
        In cm^-1, from 0 to the Nyquist limit.
    dos : ndarray
        Unit area if ``normalize``; else the one-sided spectrum
        2 * integral_0^inf C(t) cos(2 pi f t) dt with t in fs.
    """
    nf = len(velocities)
    max_lag = max(1, nf // 2) if max_lag is None else int(max_lag)
    nyquist = 0.5 / dt_fs / C_CM_PER_FS
    if nyquist < 4000.0:
        warnings.warn(
            f"frame spacing {dt_fs} fs resolves only up to {nyquist:.0f} cm^-1; O-H stretches will alias",
            stacklevel=2,
        )
    c = vacf(velocities, masses=masses, max_lag=max_lag, normalize=False)
    if window == "hann":
        c = c * 0.5 * (1.0 + np.cos(np.pi * np.arange(max_lag + 1) / max_lag))
    elif window is not None:
        raise ValueError(f"unknown window {window!r}")
    nfft = pad_factor * (1 << int(np.ceil(np.log2(2 * max_lag))))
    # Even extension c(-t) = c(t): sum_t c cos = 2 Re(rfft) - c(0).
    spectrum = (2.0 * np.fft.rfft(c, n=nfft).real - c[0]) * dt_fs
    freq = np.fft.rfftfreq(nfft, d=dt_fs) / C_CM_PER_FS
    if normalize:
        spectrum = spectrum / trapezoid(spectrum, freq)
    return freq, spectrum


def vdos_from_frames(
    frames, dt_fs: float | None = None, symbols=None, mass_weighted: bool = True, **kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`vdos` of a trajectory (path or list of ``ase.Atoms`` with momenta).

    Parameters
    ----------
    frames : path, ase.Atoms or iterable of ase.Atoms
        Frames with momenta.  Their spacing comes from ``atoms.info["md_time_fs"]``;
        frames off the regular grid (the final state that ``nequip-mts md``
        writes off its log interval) are left out.
    dt_fs : float, optional
        Time between frames in fs, only for frames without ``md_time_fs``.
    symbols : str or iterable of str, optional
        Groups to include (element symbols or selectors such as ``"H@H2O"``,
        see :mod:`.molecules`); default all atoms.
    mass_weighted : bool
        Mass-weight the VACF.
    **kwargs
        Passed to :func:`vdos`.
    """
    frames, spacing, _ = regular_frames(load_frames(frames), dt_fs)
    idx = np.arange(len(frames[0]))
    if symbols is not None:
        groups = [symbols] if isinstance(symbols, str) else list(symbols)
        idx = np.unique(np.concatenate([group_indices(frames[0], g) for g in groups]))
        if idx.size == 0:
            raise ValueError(f"no atoms in group(s) {groups}")
    v = stack_velocities(frames)[:, idx]
    m = frames[0].get_masses()[idx] if mass_weighted else None
    return vdos(v, spacing, masses=m, **kwargs)


def band_peak(wavenumber: np.ndarray, dos: np.ndarray, lo: float, hi: float) -> float:
    """Wavenumber (cm^-1) of the highest point of ``dos`` within ``[lo, hi]``.

    E.g. ``band_peak(w, d, 3000, 4000)`` for the O-H stretch, 1400-1900 for the bend.
    """
    mask = (wavenumber >= lo) & (wavenumber <= hi)
    if not mask.any():
        raise ValueError("band outside the frequency grid")
    return float(wavenumber[mask][np.argmax(dos[mask])])


def spectral_distance(
    wavenumber: np.ndarray, dos_a: np.ndarray, dos_b: np.ndarray, lo: float = 0.0, hi: float | None = None
) -> float:
    """Half the L1 distance between two unit-area spectra on the same grid.

    0 for identical spectra, 1 for spectra with no overlap; restricted to
    ``[lo, hi]`` cm^-1 (both spectra renormalised there first).
    """
    hi = wavenumber[-1] if hi is None else hi
    m = (wavenumber >= lo) & (wavenumber <= hi)
    w, a, b = wavenumber[m], np.clip(dos_a[m], 0, None), np.clip(dos_b[m], 0, None)
    a, b = a / trapezoid(a, w), b / trapezoid(b, w)
    return float(0.5 * trapezoid(np.abs(a - b), w))
