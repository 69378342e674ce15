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


def test_drift_from_the_projects_own_mtslogger_log(tmp_path):
    """A log written by nequip_mts.md.MTSLogger during a Langevin RESPA run.

    The thermostat keeps changing the total energy, so only the conserved-energy
    column gives a small drift; the fit must equal a fit of the conserved energies
    recorded independently at every step.
    """
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from nequip_mts.md import LangevinRESPA, MTSCalculator, MTSLogger

    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=0)
    atoms.calc = MTSCalculator.from_full_and_fast(EMT(), EMT())
    dyn = LangevinRESPA(
        atoms, 4 * units.fs, inner_steps=2, temperature_K=600, friction=0.05 / units.fs, rng=1
    )
    path = tmp_path / "md.log"
    logger = MTSLogger(dyn, atoms, str(path), mode="w")
    dyn.attach(logger, interval=1)
    times, econs = [], []
    dyn.attach(
        lambda: (times.append(dyn.get_time() / units.fs), econs.append(dyn.get_conserved_energy())),
        interval=1,
    )
    dyn.run(150)
    logger.close()

    res = drift_from_log(path)  # no atom count needed
    direct = energy_drift(np.array(times), np.array(econs), len(atoms))
    # the log rounds Drift to 1e-4 meV/atom: the fits agree to a small part of the error bar
    assert res.slope == pytest.approx(direct.slope, abs=0.02 * direct.stderr)
    assert res.stderr == pytest.approx(direct.stderr, rel=0.05)
    total = drift_from_log(path, time_col=0, energy_col=1, skiprows=1, n_atoms=len(atoms))
    assert abs(total.slope) > 10 * abs(res.slope)  # Etot is not conserved under a thermostat


def test_read_md_log_formats_and_restarts(tmp_path):
    from nequip_mts.analysis.drift import read_md_log

    mts = tmp_path / "mts.log"
    header = "Time[fs]  Etot[eV]  Epot[eV]  Ekin[eV]  T[K]  Econs[eV]  Drift[meV/at]"
    rows = [f"{t:.3f} -1.0 -2.0 1.0 300.0 -1.0 {0.01 * t:.4f}" for t in range(0, 50, 5)]
    # a restart from t = 30 appends a header and repeats 30..45 (last lines cut by a crash)
    again = [f"{t:.3f} -1.0 -2.0 1.0 300.0 -1.0 {0.01 * t + 0.5:.4f}" for t in range(30, 80, 5)]
    mts.write_text("\n".join([header, *rows, "12.0 -1.0", header, *again]) + "\n")
    log = read_md_log(mts)
    assert log.kind == "mts" and log.per_atom
    np.testing.assert_allclose(log.time_fs, np.arange(0, 80, 5.0))
    assert np.all(log.conserved[log.time_fs >= 30] > 0.5 + 0.29)  # the restarted values won
    assert drift_from_log(mts).slope > 0

    per_atom = tmp_path / "ase_peratom.log"
    per_atom.write_text(
        "Time[ps]  Etot/N[eV]  Epot/N[eV]  Ekin/N[eV]  T[K]\n"
        + "".join(f"{0.001 * k:.4f} {-3 + 1e-4 * k:.4f} -3.1 0.1 300\n" for k in range(20))
    )
    res = drift_from_log(per_atom)  # per-atom energies: no atom count needed
    assert res.slope == pytest.approx(100.0, rel=1e-6)  # 1e-4 eV/atom per fs = 100 meV/atom/ps

    with pytest.raises(ValueError, match="n_atoms"):
        drift_from_log(tmp_path / "x.log", time_col=0)
    with pytest.raises(FileNotFoundError):
        read_md_log(tmp_path / "missing.log")
