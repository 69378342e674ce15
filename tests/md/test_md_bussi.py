"""r-RESPA with Bussi velocity rescaling: conserved quantity, temperature, inputs."""

import numpy as np
import pytest
from ase import units
from ase.md.velocitydistribution import thermalize_momenta
from md_helpers import block_mean_and_error

from nequip_mts.md import BussiRESPA, MTSCalculator
from nequip_mts.testing.analytic import diatomic_fluid


def _fluid(n_molecules=8, start_K=1000.0):
    atoms, fast, slow = diatomic_fluid(n_molecules=n_molecules, temperature_K=300.0, seed=0)
    thermalize_momenta(atoms, temperature_K=start_K, rng=np.random.default_rng(0))
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    return atoms


def test_conserved_energy_accounts_for_thermostat():
    atoms = _fluid()
    dyn = BussiRESPA(atoms, 0.5 * units.fs, 4, temperature_K=300, taut=20 * units.fs, rng=0)
    start = dyn.get_conserved_energy()
    dyn.run(600)
    drift = dyn.get_conserved_energy() - start
    print(f"Bussi: heat {dyn.transferred_energy:.3f} eV, conserved drift {drift:.2e} eV")
    assert dyn.transferred_energy < -1.0
    assert abs(drift) < 1e-3 * abs(dyn.transferred_energy)


def test_reaches_and_holds_target_temperature():
    atoms = _fluid(n_molecules=27)
    dyn = BussiRESPA(atoms, 1 * units.fs, 4, temperature_K=300, taut=20 * units.fs, rng=1)
    dyn.run(300)
    temps = []
    dyn.attach(lambda: temps.append(atoms.get_temperature()))
    dyn.run(2000)
    mean, error = block_mean_and_error(temps)
    print(f"Bussi mean temperature {mean:.1f} +- {error:.1f} K")
    assert abs(mean - 300) < max(4 * error, 0.01 * 300)
    assert error < 0.02 * 300


def test_reproducible_with_rng():
    runs = []
    for rng in (3, np.random.default_rng(3)):
        atoms = _fluid()
        BussiRESPA(atoms, 1 * units.fs, 2, temperature_K=300, taut=20 * units.fs, rng=rng).run(40)
        runs.append(atoms.get_momenta())
    assert np.array_equal(runs[0], runs[1])


def test_needs_velocities_and_sane_input():
    atoms = _fluid()
    atoms.set_momenta(np.zeros((len(atoms), 3)))
    with pytest.raises(ValueError, match="kinetic energy is zero"):
        BussiRESPA(atoms, 1 * units.fs, 2, temperature_K=300, taut=20 * units.fs)
    atoms = _fluid()
    with pytest.raises(ValueError, match="taut"):
        BussiRESPA(atoms, 1 * units.fs, 2, temperature_K=300, taut=0.0)
    with pytest.raises(ValueError, match="temperature_K"):
        BussiRESPA(atoms, 1 * units.fs, 2, temperature_K=-5, taut=20 * units.fs)
