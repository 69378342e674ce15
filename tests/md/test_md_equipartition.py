"""The equipartition check of MD runs (`nequip_mts.md.equipartition`).

References: kinetic temperatures computed by hand (T = m v^2 / (3 k_B) for one velocity
component), free atoms, which never exchange energy, so elements started at different
temperatures keep them exactly, and synthetic temperature series whose difference is
known (none, or a shift far beyond the noise).
"""

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.lj import LennardJones
from ase.io import Trajectory

from nequip_mts.errors import MDWarning
from nequip_mts.md import MTSCalculator
from nequip_mts.md.equipartition import (
    DISCARD,
    MIN_SAMPLES,
    ElementTemperatures,
    element_kinetic_temperatures,
)
from nequip_mts.md.runner import run_md
from nequip_mts.md.settings import MDSettings


def _gas(n_o=16, n_h=32, t_o=300.0, t_h=450.0, seed=0):
    """O and H atoms in a box, each element with exactly its temperature (3 dof per atom)."""
    rng = np.random.default_rng(seed)
    n = n_o + n_h
    atoms = Atoms("O" * n_o + "H" * n_h, positions=rng.uniform(0, 12, (n, 3)), cell=[12] * 3, pbc=True)
    v = rng.normal(size=(n, 3))
    masses = atoms.get_masses()
    for sel, t in ((slice(0, n_o), t_o), (slice(n_o, n), t_h)):
        v[sel] -= v[sel].mean(axis=0)
        ke = 0.5 * np.sum(masses[sel, None] * v[sel] ** 2)
        v[sel] *= np.sqrt(1.5 * len(v[sel]) * units.kB * t / ke)
    atoms.set_velocities(v)
    return atoms


def test_element_temperatures_are_m_v2_over_3_kB():
    atoms = Atoms("OOHHH", positions=np.zeros((5, 3)))
    v = np.zeros((5, 3))
    v[:, 0] = [0.01, 0.03, 0.02, 0.04, 0.0]  # A per ASE time unit
    atoms.set_velocities(v)
    m = atoms.get_masses()
    expect_o = np.mean(m[:2] * v[:2, 0] ** 2) / (3 * units.kB)
    expect_h = np.mean(m[2:] * v[2:, 0] ** 2) / (3 * units.kB)
    assert element_kinetic_temperatures(atoms) == pytest.approx({"O": expect_o, "H": expect_h})


def _free_provider():
    off = LennardJones(sigma=1.0, epsilon=0.0, rc=2.0)
    return MTSCalculator.from_full_and_fast(off, LennardJones(sigma=1.0, epsilon=0.0, rc=2.0))


def test_run_md_warns_when_free_atoms_keep_unequal_temperatures(tmp_path):
    atoms = _gas(t_o=300.0, t_h=450.0)
    atoms.calc = _free_provider()
    settings = MDSettings(ensemble="nve", timestep_fs=2.0, inner_steps=2, steps=100, loginterval=1)
    with pytest.warns(MDWarning, match="H atoms run 150 K hotter than O atoms"):
        dyn = run_md(atoms, settings)
    summary = dyn.equipartition
    assert summary.broken
    assert summary.temperature_K == pytest.approx({"O": 300.0, "H": 450.0}, rel=1e-9)


def test_run_md_is_silent_when_free_atoms_share_one_temperature(tmp_path, recwarn):
    atoms = _gas(t_o=350.0, t_h=350.0)
    atoms.calc = _free_provider()
    settings = MDSettings(ensemble="nve", timestep_fs=2.0, inner_steps=2, steps=100, loginterval=1)
    dyn = run_md(atoms, settings)
    assert not dyn.equipartition.broken
    assert not [w for w in recwarn if issubclass(w.category, MDWarning)]


def _series(rng, n, shift=0.0, noise=8.0, rho=0.95):
    """Two elements' temperatures: correlated (AR(1)) noise, common and per element, around 350 K."""

    def ar1(size):
        x = np.zeros(size)
        e = rng.normal(size=size) * np.sqrt(1 - rho**2)
        for i in range(1, size):
            x[i] = rho * x[i - 1] + e[i]
        return x

    common = ar1(n)
    return np.stack([350 + noise * (common + ar1(n)), 350 + shift + noise * (common + ar1(n))], axis=1)


def _observer(samples):
    temps = ElementTemperatures(Atoms("O8H8"))
    assert temps.elements == ["O", "H"]
    temps.samples = list(map(list, samples))
    return temps.summary()


def test_summary_finds_a_shift_beyond_the_noise_and_rarely_a_false_one():
    rng = np.random.default_rng(0)
    n = 1000
    alarms = sum(_observer(_series(rng, n)).broken for _ in range(200))
    assert alarms <= 4  # limits of 4 standard errors and 5%: false alarms should be rare
    for _ in range(20):
        summary = _observer(_series(rng, n, shift=40.0))
        assert (
            summary.broken
            and summary.worst[:2] == ("O", "H")
            and summary.worst[2] == pytest.approx(40, abs=8)
        )
    # a significant but small difference (below 5% of T) is not flagged
    assert not _observer(_series(rng, n, shift=10.0, noise=0.5)).broken


def test_summary_needs_enough_samples_and_two_elements():
    rng = np.random.default_rng(1)
    short = int(MIN_SAMPLES / (1 - DISCARD)) - 2
    assert _observer(_series(rng, short, shift=40.0)) is None
    one = ElementTemperatures(Atoms("O8H2"))  # too few H atoms to compare
    assert one.elements == ["O"]
    one()
    assert one.summary() is None


def test_md_command_prints_the_element_temperatures_of_its_trajectory(tmp_path, capsys, monkeypatch):
    from ase.io import write

    from nequip_mts.cli import md as md_cli
    from nequip_mts.cli.main import main as cli_main

    atoms = _gas(t_o=300.0, t_h=300.0)
    atoms.set_velocities(np.zeros((len(atoms), 3)))
    write(tmp_path / "gas.extxyz", atoms)
    monkeypatch.setattr(md_cli, "load_provider", lambda *a, **k: _free_provider())
    code = cli_main(
        [
            "md", str(tmp_path / "gas.extxyz"), str(tmp_path / "deployed"), "--ensemble", "langevin",
            "--temperature-K", "300", "--timestep-fs", "2", "--inner-steps", "2", "--steps", "100",
            "--loginterval", "1", "--trajectory", str(tmp_path / "md.traj"), "--no-progress", "--no-topology-check", "--log", str(tmp_path / "md.log"),
        ]
    )  # fmt: skip
    assert code == 0
    line = [x for x in capsys.readouterr().err.splitlines() if "kinetic temperature per element" in x]
    assert len(line) == 1
    # the same means, from the trajectory's frames with numpy
    frames = list(Trajectory(tmp_path / "md.traj"))
    kept = frames[int(DISCARD * len(frames)) :]
    symbols = np.array(frames[0].get_chemical_symbols())
    for el in ("O", "H"):
        sel = symbols == el
        t = np.mean([np.sum(f.get_masses()[sel, None] * f.get_velocities()[sel] ** 2) for f in kept])
        t /= 3 * sel.sum() * units.kB
        assert f"{el} {t:.1f} +/-" in line[0]
