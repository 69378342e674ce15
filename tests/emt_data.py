"""Small synthetic training data from ASE's EMT potential (tests only)."""

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution


def make_emt_alloy(path, num_frames=40, seed=0, temperature_K=1200.0):
    """Write ``num_frames`` frames of a 32-atom Cu/Au fcc box from hot EMT Langevin MD."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2))
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.choice(len(atoms), size=8, replace=False)] = "Au"
    atoms.set_chemical_symbols(symbols)
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    dyn = Langevin(atoms, 2.0 * units.fs, temperature_K=temperature_K, friction=0.02, rng=rng)
    frames = []
    for _ in range(num_frames):
        dyn.run(5)
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(
            frame,
            energy=atoms.get_potential_energy(),
            forces=atoms.get_forces(),
            stress=atoms.get_stress(),
        )
        frames.append(frame)
    write(path, frames, format="extxyz")
    return path
