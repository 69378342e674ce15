"""Analytic two-scale test systems for MTS integrators, and the resonance scan of docs/md.md.

The fast part is a stiff harmonic bond in each of a set of diatomic molecules;
the slow part is a soft harmonic anchor on every atom plus a soft Gaussian
repulsion between molecules. Both are cheap, exactly differentiable ASE
calculators, so integrator errors are not hidden behind model noise.

``benchmarks/respa_resonance.py`` prints the energy error of NVE r-RESPA as the
outer step sweeps through half the bond period (the numbers in docs/md.md).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes


class AnalyticCalculator(Calculator):
    """Base of the analytic potentials: subclasses give ``energy_and_forces(positions)``.

    The state check compares positions, numbers and cell exactly; ASE's generic
    check costs more than these potentials themselves.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def check_state(self, atoms, tol=1e-15):
        if self.atoms is None or len(self.atoms) != len(atoms):
            return list(all_changes)
        changes = []
        if not np.array_equal(self.atoms.positions, atoms.positions):
            changes.append("positions")
        if not np.array_equal(self.atoms.numbers, atoms.numbers):
            changes.append("numbers")
        if not np.array_equal(self.atoms.cell.array, atoms.cell.array):
            changes.append("cell")
        return changes

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.energy_and_forces(self.atoms.positions)
        self.results = {"energy": float(energy), "free_energy": float(energy), "forces": forces}

    def energy_and_forces(self, positions):
        raise NotImplementedError


class HarmonicBonds(AnalyticCalculator):
    """``E = sum_b k/2 (|r_j - r_i| - r0)^2`` over the bonds ``(i, j)``.

    Parameters
    ----------
    bonds : array of shape (n, 2)
        Atom index pairs.
    k : float
        Force constant in eV/A^2.
    r0 : float
        Rest length in A.
    """

    def __init__(self, bonds, k, r0, **kwargs):
        super().__init__(**kwargs)
        self.bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
        self.k = float(k)
        self.r0 = float(r0)

    def energy_and_forces(self, positions):
        i, j = self.bonds.T
        d = positions[j] - positions[i]
        r = np.linalg.norm(d, axis=1)
        stretch = r - self.r0
        fj = -(self.k * stretch / r)[:, None] * d
        forces = np.zeros_like(positions)
        np.add.at(forces, j, fj)
        np.add.at(forces, i, -fj)
        return 0.5 * self.k * np.sum(stretch**2), forces


class HarmonicAnchors(AnalyticCalculator):
    """``E = sum_i k/2 |r_i - a_i|^2``: every atom tied to its anchor ``a_i``.

    Parameters
    ----------
    anchors : array of shape (natoms, 3)
        Anchor positions in A.
    k : float
        Force constant in eV/A^2.
    """

    def __init__(self, anchors, k, **kwargs):
        super().__init__(**kwargs)
        self.anchors = np.array(anchors, dtype=float)
        self.k = float(k)

    def energy_and_forces(self, positions):
        d = positions - self.anchors
        return 0.5 * self.k * np.sum(d**2), -self.k * d


class GaussianRepulsion(AnalyticCalculator):
    """Soft repulsion ``E = sum_{i<j} eps exp(-r_ij^2 / (2 sigma^2))``, given pairs excluded.

    Parameters
    ----------
    eps : float
        Height in eV.
    sigma : float
        Width in A.
    exclude : array of shape (n, 2), optional
        Pairs that do not interact (e.g. the bonds).
    """

    def __init__(self, eps, sigma, exclude=(), **kwargs):
        super().__init__(**kwargs)
        self.eps = float(eps)
        self.sigma = float(sigma)
        self.exclude = np.asarray(exclude, dtype=int).reshape(-1, 2)

    def energy_and_forces(self, positions):
        n = len(positions)
        d = positions[None, :, :] - positions[:, None, :]  # d[i, j] = r_j - r_i
        pair = self.eps * np.exp(-np.sum(d**2, axis=-1) / (2.0 * self.sigma**2))
        interacting = ~np.eye(n, dtype=bool)
        interacting[self.exclude[:, 0], self.exclude[:, 1]] = False
        interacting[self.exclude[:, 1], self.exclude[:, 0]] = False
        pair = np.where(interacting, pair, 0.0)
        # the force on j from the pair (i, j) is +(r_j - r_i) / sigma^2 times the pair term
        forces = np.einsum("ij,ijk->jk", pair, d) / self.sigma**2
        return 0.5 * pair.sum(), forces


class AnalyticSum(AnalyticCalculator):
    """Sum of analytic potentials, evaluated together (no nested state checks)."""

    def __init__(self, terms, **kwargs):
        super().__init__(**kwargs)
        self.terms = list(terms)

    def energy_and_forces(self, positions):
        energy, forces = 0.0, np.zeros_like(positions)
        for term in self.terms:
            e, f = term.energy_and_forces(positions)
            energy += e
            forces += f
        return energy, forces


def diatomic_fluid(
    n_molecules=8,
    bond_k=30.0,
    bond_length=0.75,
    anchor_k=2.0,
    repulsion_eps=0.5,
    repulsion_sigma=1.0,
    spacing=2.0,
    temperature_K=300.0,
    seed=0,
):
    """Diatomic molecules with a stiff fast bond and a soft slow environment.

    Returns
    -------
    atoms : ase.Atoms
        ``2 * n_molecules`` hydrogen atoms with Maxwell-Boltzmann velocities.
    fast : HarmonicBonds
        The stiff bonds (period :func:`bond_period`, about 8.3 fs by default).
    slow : AnalyticSum
        Anchors of every atom to its start position plus intermolecular repulsion.
    """
    from ase.md.velocitydistribution import thermalize_momenta

    rng = np.random.default_rng(seed)
    side = math.ceil(n_molecules ** (1.0 / 3.0))
    grid = np.array([(a, b, c) for a in range(side) for b in range(side) for c in range(side)])
    centres = spacing * grid[:n_molecules].astype(float)
    axes = rng.normal(size=(n_molecules, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    # start the bonds slightly stretched so the fast mode carries energy
    half = 0.5 * bond_length * (1.0 + 0.05 * rng.standard_normal(n_molecules))[:, None] * axes
    positions = np.empty((2 * n_molecules, 3))
    positions[0::2] = centres - half
    positions[1::2] = centres + half
    atoms = Atoms(f"H{2 * n_molecules}", positions=positions)
    bonds = np.arange(2 * n_molecules).reshape(-1, 2)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    fast = HarmonicBonds(bonds, bond_k, bond_length)
    slow = AnalyticSum(
        [
            HarmonicAnchors(atoms.positions, anchor_k),
            GaussianRepulsion(repulsion_eps, repulsion_sigma, exclude=bonds),
        ]
    )
    return atoms, fast, slow


def bond_period(atoms, bond_k=30.0):
    """Period (ASE time units) of the harmonic bond of a homonuclear diatomic in ``atoms``."""
    reduced_mass = 0.5 * atoms.get_masses()[0]
    return 2.0 * math.pi * math.sqrt(reduced_mass / bond_k)


def nve_energy_error(atoms, fast, slow, timestep, inner_steps, duration):
    """Run NVE r-RESPA; return the RMS and max of ``E(t) - E(0)`` per atom (eV).

    ``atoms`` is copied, so one system can be reused for a whole scan.
    """
    from nequip_mts.md.providers import MTSCalculator
    from nequip_mts.md.respa import RESPA

    atoms = atoms.copy()
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    dyn = RESPA(atoms, timestep, inner_steps)
    errors = []
    dyn.attach(lambda: errors.append(dyn.get_conserved_energy_drift()))
    dyn.run(max(1, round(duration / timestep)))
    errors = np.asarray(errors) / len(atoms)
    if not np.isfinite(errors).all():
        return math.inf, math.inf
    return float(np.sqrt(np.mean(errors**2))), float(np.max(np.abs(errors)))


def resonance_scan(inner_per_period=50, ks=range(5, 36), duration_fs=1000.0, **system):
    """Energy error of NVE r-RESPA at a fixed inner step as the outer step grows.

    The inner step is ``T_bond / inner_per_period``; the outer step is ``K`` inner
    steps. Yields ``(K, outer step in fs, outer step / T_bond, rms, max)``, the
    errors in eV/atom.
    """
    atoms, fast, slow = diatomic_fluid(**system)
    period = bond_period(atoms, system.get("bond_k", 30.0))
    h = period / inner_per_period
    for k in ks:
        rms, worst = nve_energy_error(atoms, fast, slow, k * h, k, duration_fs * units.fs)
        yield k, k * h / units.fs, k * h / period, rms, worst


class BondWell(AnalyticCalculator):
    """A Gaussian well on each bond, ``E = -sum_b depth exp(-(r - r_w)^2 / (2 width^2))``.

    Added to :class:`HarmonicBonds` it makes a false minimum along the bond at ``r_w``,
    the defect ``nequip-mts validate`` looks for.

    Parameters
    ----------
    bonds : array of shape (n, 2)
        Atom index pairs.
    depth : float
        Depth of the well in eV.
    position : float
        Bond length at the bottom of the well, in A.
    width : float
        Width of the well in A.
    """

    def __init__(self, bonds, depth, position, width, **kwargs):
        super().__init__(**kwargs)
        self.bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
        self.depth = float(depth)
        self.position = float(position)
        self.width = float(width)

    def energy_and_forces(self, positions):
        i, j = self.bonds.T
        d = positions[j] - positions[i]
        r = np.linalg.norm(d, axis=1)
        gauss = self.depth * np.exp(-((r - self.position) ** 2) / (2.0 * self.width**2))
        # dE/dr = gauss (r - r_w) / width^2; the force on j is -dE/dr along d / r
        fj = -(gauss * (r - self.position) / self.width**2 / r)[:, None] * d
        forces = np.zeros_like(positions)
        np.add.at(forces, j, fj)
        np.add.at(forces, i, -fj)
        return -float(gauss.sum()), forces
