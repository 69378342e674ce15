"""Shared helpers of the MD tests (imported by the test modules)."""

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from nequip_mts.testing.analytic import HarmonicAnchors


class CountingCalculator(Calculator):
    """Wraps a calculator and counts how often it really evaluates."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        self.results = {
            "energy": self.inner.get_potential_energy(self.atoms),
            "forces": self.inner.get_forces(self.atoms),
        }
        self.results["free_energy"] = self.results["energy"]


class PoisonedCalculator(Calculator):
    """Wraps a calculator; from its ``n``-th evaluation on, the forces are NaN."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, inner, n):
        super().__init__()
        self.inner = inner
        self.n = n
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        forces = self.inner.get_forces(self.atoms)
        if self.calls >= self.n:
            forces = np.full_like(forces, np.nan)
        energy = self.inner.get_potential_energy(self.atoms)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def anchored_atoms(n, k_fast, k_slow, mass=1.0, seed=0, spacing=3.0):
    """``n`` independent atoms, each on a fast and a slow harmonic anchor.

    Every Cartesian coordinate is an oscillator of stiffness ``k_fast + k_slow``.
    """
    rng = np.random.default_rng(seed)
    side = int(np.ceil(n ** (1 / 3)))
    grid = np.array([(a, b, c) for a in range(side) for b in range(side) for c in range(side)])
    sites = spacing * grid[:n].astype(float)
    atoms = Atoms(f"X{n}", positions=sites + 0.05 * rng.standard_normal((n, 3)))
    atoms.set_masses(np.full(n, mass))
    return atoms, HarmonicAnchors(sites, k_fast), HarmonicAnchors(sites, k_slow), sites


def block_mean_and_error(samples, n_blocks=20):
    """Mean of a correlated series and its standard error from block averages."""
    samples = np.asarray(samples, dtype=float)
    blocks = np.array_split(samples, n_blocks)
    means = np.array([b.mean() for b in blocks])
    return samples.mean(), means.std(ddof=1) / np.sqrt(n_blocks)
