"""Small synthetic training data and structures from ASE's EMT potential (tests only)."""

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution


def make_emt_alloy(path, num_frames=40, seed=0, temperature_K=1200.0, stress=True):
    """Write ``num_frames`` frames of a 32-atom Cu/Au fcc box from hot EMT Langevin MD
    (energies and forces, and the stress if ``stress``)."""
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
        labels = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        if stress:
            labels["stress"] = atoms.get_stress()
        frame.calc = SinglePointCalculator(frame, **labels)
        frames.append(frame)
    write(path, frames, format="extxyz")
    return path


def random_alloy(size=3, species=("Cu", "Ag"), fraction=0.3, a=3.7, rattle=0.08, seed=0):
    """An fcc supercell of ``species[0]`` with a random ``fraction`` of ``species[1]``, rattled."""
    rng = np.random.default_rng(seed)
    atoms = bulk(species[0], "fcc", a=a, cubic=True).repeat((size, size, size))
    symbols = np.array(atoms.get_chemical_symbols())
    n_sub = int(round(fraction * len(atoms)))
    symbols[rng.choice(len(atoms), n_sub, replace=False)] = species[1]
    atoms.set_chemical_symbols(symbols.tolist())
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def write_random_alloys(path, n_frames=24, size=2, species=("Cu", "Ag"), seed=0):
    """Write ``n_frames`` EMT-labelled :func:`random_alloy` structures (lattice constant and
    rattle varied; energy, forces, stress) to extxyz; returns the path."""
    from pathlib import Path

    frames = []
    for i in range(n_frames):
        atoms = random_alloy(
            size=size,
            species=species,
            a=3.7 + 0.05 * ((i % 5) - 2),
            rattle=0.05 + 0.1 * (i % 3) / 2,
            seed=seed + i,
        )
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(
            atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress()
        )
        frames.append(atoms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, frames, format="extxyz")
    return path
