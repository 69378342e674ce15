"""Energy drift against synthetic linear + noise energies with known slope."""

import numpy as np
import pytest

from nequip_mts.analysis.drift import drift_from_log, energy_drift, statistical_inefficiency


def test_slope_and_units():
    t = np.arange(0, 10000, 2.0)  # fs
    n_atoms = 96
    slope_ev_fs = 2.4e-7  # 2.4e-7 eV/fs * 1e6 / 96 = 0.0025 meV/atom/ps
    e = -500.0 + slope_ev_fs * t
    res = energy_drift(t, e, n_atoms)
    assert res.slope == pytest.approx(0.0025, rel=1e-9)
    assert res.intercept == pytest.approx(-500.0)
    assert res.stderr_ols < 1e-9


def test_white_noise_error_bar():
    rng = np.random.default_rng(0)
    t = np.arange(5000) * 1.0
    sigma = 2e-3  # eV
    e = 3e-7 * t + rng.normal(scale=sigma, size=t.size)
    res = energy_drift(t, e, 1)
    analytic = sigma / np.sqrt(np.sum((t - t.mean()) ** 2)) * 1e6  # meV/ps
    assert res.stderr_ols == pytest.approx(analytic, rel=0.05)
    assert abs(res.slope - 0.3) < 4 * res.stderr
    assert res.inefficiency < 1.3  # white noise: g ~ 1
    assert res.fluctuation == pytest.approx(sigma * 1e3, rel=0.05)


def test_correlated_noise_inflates_error():
    rng = np.random.default_rng(1)
    phi, n = 0.9, 20000
    noise = np.empty(n)
    noise[0] = 0.0
    eps = rng.normal(scale=1e-3, size=n)
    for k in range(1, n):
        noise[k] = phi * noise[k - 1] + eps[k]
    assert statistical_inefficiency(noise) == pytest.approx((1 + phi) / (1 - phi), rel=0.25)
    t = np.arange(n) * 1.0
    res = energy_drift(t, -1e-7 * t + noise, 10)
    assert res.stderr > 3 * res.stderr_ols
    assert abs(res.slope - (-0.01)) < 4 * res.stderr


def test_drift_from_ase_mdlogger_file(tmp_path):
    t_ps = np.arange(0, 5, 0.01)
    e = -10.0 + 0.002 * t_ps  # eV, 0.002 eV/ps
    path = tmp_path / "md.log"
    with open(path, "w") as fh:
        fh.write("Time[ps]      Etot[eV]     Epot[eV]     Ekin[eV]    T[K]\n")
        for ti, ei in zip(t_ps, e):
            fh.write(f"{ti:10.4f} {ei:12.6f} {ei - 1:12.6f} {1.0:12.6f} {300.0:6.1f}\n")
    res = drift_from_log(path, n_atoms=4, skiprows=1, time_to_fs=1000.0)
    assert res.slope == pytest.approx(0.5, rel=1e-3)  # 2 meV/ps / 4 atoms
