"""VACF/VDOS against harmonic oscillators with analytic frequencies."""

import numpy as np
import pytest
from ase import Atoms, units

from nequip_mts.analysis.frames import stack_velocities
from nequip_mts.analysis.vdos import band_peak, spectral_distance, trapezoid, vacf, vdos, vdos_from_frames


def oscillator_velocities(period_fs, dt_fs, n_frames, n_atoms, seed, amp=None):
    """v(t) = -A w sin(w t + phi) per atom and component, random phases."""
    rng = np.random.default_rng(seed)
    w = 2 * np.pi / period_fs
    t = np.arange(n_frames) * dt_fs
    phi = rng.uniform(0, 2 * np.pi, size=(n_atoms, 3))
    a = np.ones((n_atoms, 1)) if amp is None else np.asarray(amp)[:, None]
    return -(a * w)[None] * np.sin(w * t[:, None, None] + phi[None])


def test_vacf_is_cosine():
    period, dt = 9.5, 0.5
    v = oscillator_velocities(period, dt, 4000, 64, seed=0)
    c = vacf(v, max_lag=200)
    lags = np.arange(201) * dt
    np.testing.assert_allclose(c, np.cos(2 * np.pi * lags / period), atol=0.02)


def test_vacf_matches_direct_sum():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(50, 200, 3))  # > one 128-atom FFT chunk
    m = rng.uniform(1, 16, size=200)
    direct = np.array(
        [np.mean(np.einsum("tai,tai,a->t", v[: 50 - k], v[k:], m)) / m.sum() for k in range(20)]
    )
    np.testing.assert_allclose(vacf(v, masses=m, max_lag=19, normalize=False), direct, rtol=1e-10)


@pytest.mark.parametrize("period_fs", [9.5, 21.0, 60.0])
def test_vdos_peak_at_analytic_wavenumber(period_fs):
    dt = 0.5
    v = oscillator_velocities(period_fs, dt, 8000, 16, seed=1)
    w, d = vdos(v, dt)
    expected = 1e15 / period_fs / 2.99792458e10  # Hz / (c in cm/s): 9.5 fs -> 3511 cm^-1
    assert band_peak(w, d, 100, 6000) == pytest.approx(expected, rel=0.005)
    assert trapezoid(d, w) == pytest.approx(1.0)
    # nearly all weight within +-150 cm^-1 of the line (Hann-broadened delta)
    near = np.abs(w - expected) < 150
    assert trapezoid(d[near], w[near]) > 0.95


def test_mass_weighting_equipartition():
    """O and H oscillators at equal kinetic energy: mass weighting gives equal band areas."""
    dt, nf = 0.5, 8000
    m_h, m_o = 1.008, 15.999
    v_h = oscillator_velocities(
        9.5, dt, nf, 20, seed=2, amp=np.full(20, 1 / np.sqrt(m_h)) / (2 * np.pi / 9.5)
    )
    v_o = oscillator_velocities(
        50.0, dt, nf, 20, seed=3, amp=np.full(20, 1 / np.sqrt(m_o)) / (2 * np.pi / 50.0)
    )
    v = np.concatenate([v_h, v_o], axis=1)
    masses = np.r_[np.full(20, m_h), np.full(20, m_o)]

    def areas(w, d):
        hi, lo = w > 2000, (w > 300) & (w < 1200)
        return trapezoid(d[hi], w[hi]), trapezoid(d[lo], w[lo])

    a_h, a_o = areas(*vdos(v, dt, masses=masses))
    assert a_h / a_o == pytest.approx(1.0, rel=0.03)
    a_h, a_o = areas(*vdos(v, dt))  # unweighted: <v^2> ratio = m_O / m_H
    assert a_h / a_o == pytest.approx(m_o / m_h, rel=0.03)


def test_nyquist_warning():
    v = oscillator_velocities(9.5, 5.0, 200, 2, seed=4)
    with pytest.warns(UserWarning, match="alias"):
        vdos(v, 5.0)


def test_frames_velocity_units_and_spectral_distance():
    rng = np.random.default_rng(5)
    v = rng.normal(scale=0.01, size=(3, 3))  # Å/fs
    atoms = Atoms("OH2", positions=rng.normal(size=(3, 3)))
    atoms.set_velocities(v / units.fs)
    # 1 amu Å^2/fs^2 = 103.6427 eV: independent check of the Å/fs conversion
    ke = 0.5 * np.sum(atoms.get_masses()[:, None] * v**2) * 103.642697
    assert atoms.get_kinetic_energy() == pytest.approx(ke, rel=1e-6)
    np.testing.assert_allclose(stack_velocities([atoms])[0], v, rtol=1e-12)

    frames = []
    vel = oscillator_velocities(9.5, 0.5, 1000, 3, seed=6) * 0.01
    for k in range(1000):
        a = atoms.copy()
        a.set_velocities(vel[k] / units.fs)
        frames.append(a)
    w, d = vdos_from_frames(frames, 0.5)
    w2, d2 = vdos(vel, 0.5, masses=atoms.get_masses())
    np.testing.assert_allclose(d, d2, rtol=1e-8)
    assert spectral_distance(w, d, d2) == pytest.approx(0.0, abs=1e-9)
    shifted = vdos(oscillator_velocities(12.0, 0.5, 1000, 3, seed=6), 0.5)[1]
    assert spectral_distance(w, d, shifted) > 0.8


def test_trapezoid_works_with_numpy_1_and_2(monkeypatch):
    """numpy.trapezoid is NumPy >= 2; on NumPy 1.x the module falls back to numpy.trapz."""
    import importlib

    # (the package's `vdos` attribute is the function; take the module itself)
    module = importlib.import_module("nequip_mts.analysis.vdos")

    x = np.linspace(0, 2, 21)
    assert trapezoid(x**2, x) == pytest.approx(np.sum(0.5 * (x[1:] ** 2 + x[:-1] ** 2) * np.diff(x)))
    calls = []

    def old_trapz(y, x):
        calls.append(1)
        return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))

    try:
        monkeypatch.delattr(np, "trapezoid", raising=False)
        monkeypatch.setattr(np, "trapz", old_trapz, raising=False)
        importlib.reload(module)
        assert module.trapezoid is old_trapz
        w, d = module.vdos(oscillator_velocities(9.5, 0.5, 400, 2, seed=7), 0.5)
        assert calls and old_trapz(d, w) == pytest.approx(1.0)
    finally:
        monkeypatch.undo()
        importlib.reload(module)
