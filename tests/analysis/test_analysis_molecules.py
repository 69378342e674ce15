"""Molecules from connectivity, molecule-aware groups, and intermolecular RDFs."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from nequip_mts.analysis.molecules import find_molecules, group_indices, parse_selector
from nequip_mts.analysis.rdf import partial_rdfs, running_coordination


def water_lattice(n_side=3, spacing=3.1, seed=0, shift=0.0):
    """Rigid H2O molecules on a cubic lattice, random orientations, wrapped into the box."""
    rng = np.random.default_rng(seed)
    length = n_side * spacing
    box = Atoms(cell=[length] * 3, pbc=True)
    for idx in np.ndindex(n_side, n_side, n_side):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3), center="COM")
        w.positions += (np.array(idx) + 0.5) * spacing - w.get_center_of_mass() + shift
        box += w
    box.wrap()  # molecules at the faces are split across the boundary
    return box


def test_molecules_whole_across_the_boundary():
    box = water_lattice(shift=1.4)  # puts many molecules across the faces
    mols = find_molecules(box)
    assert mols.n_molecules == 27
    assert set(mols.formulas) == {"H2O"}
    assert not mols.periodic.any()
    assert np.abs(mols.offsets).max() >= 1  # some molecules needed an image offset
    unwrapped = box.positions + mols.offsets @ box.cell.array
    for k in range(27):
        atoms = np.flatnonzero(mols.labels == k)
        o = atoms[box.numbers[atoms] == 8][0]
        d = np.linalg.norm(unwrapped[atoms] - unwrapped[o], axis=1)
        assert d.max() < 1.0  # O-H 0.97 A in ase's H2O


def test_formulas_and_selectors():
    box = Atoms(cell=[12.0] * 3, pbc=True)
    for mol, centre in (("H2O", 2.0), ("CH3OH", 6.0), ("H2O", 10.0)):
        m = molecule(mol)
        m.positions += centre - m.get_center_of_mass()
        box += m
    mols = find_molecules(box)
    assert sorted(mols.formulas) == ["CH4O", "H2O", "H2O"]
    assert len(group_indices(box, "O@H2O", mols)) == 2
    assert len(group_indices(box, "O@OH2", mols)) == 2  # any symbol order
    assert len(group_indices(box, "O@CH3OH")) == 1
    assert len(group_indices(box, "*@CH4O")) == 6
    assert len(group_indices(box, "H")) == 8
    for bad in ("Xx", "*", "O@NotAFormula1"):
        with pytest.raises(ValueError):
            parse_selector(bad)


def test_infinite_chain_is_flagged_periodic():
    chain = Atoms("C2", positions=[[0.0, 0, 0], [1.4, 0, 0]], cell=[2.8, 10, 10], pbc=True)
    mols = find_molecules(chain)
    assert mols.n_molecules == 1 and mols.periodic.all()


@pytest.mark.parametrize("shift", [0.0, 1.4])
def test_intermolecular_removes_exactly_the_own_molecule(shift):
    frames = [water_lattice(seed=s, shift=shift) for s in range(3)]
    r, full = partial_rdfs(frames, rmax=5.0, nbins=100)
    _, inter = partial_rdfs(frames, rmax=5.0, nbins=100, intermolecular=True)
    rho_h = 54 / frames[0].get_volume()
    # what intermolecular leaves out is the own molecule: 2 H per O and 1 H per H, all < 1.6 A
    n_oh = running_coordination(r, full["OH"] - inter["OH"], rho_h)
    n_hh = running_coordination(r, full["HH"] - inter["HH"], rho_h)
    assert n_oh[-1] == pytest.approx(2.0, abs=1e-9)
    assert n_hh[-1] == pytest.approx(1.0, abs=1e-9)
    assert np.all(full["OH"][r > 1.1] == inter["OH"][r > 1.1])
    assert np.all(full["HH"][r > 1.7] == inter["HH"][r > 1.7])
    np.testing.assert_array_equal(full["OO"], inter["OO"])
    assert np.all(inter["OH"][r < 1.1] == 0)


def test_own_periodic_images_are_intermolecular():
    """With rmax beyond the box, an atom's images (and its molecule's) are other molecules."""
    w = molecule("H2O")
    w.positions += 1.0
    box = Atoms(w, cell=[3.3] * 3, pbc=True)
    box.wrap()
    r, full = partial_rdfs([box], rmax=6.0, nbins=600)
    _, inter = partial_rdfs([box], rmax=6.0, nbins=600, intermolecular=True)
    # only the 2 same-image O-H bonds go; the O-O images at 3.3 A and beyond stay
    n_oh = running_coordination(r, full["OH"] - inter["OH"], 2 / box.get_volume())
    assert n_oh[-1] == pytest.approx(2.0, abs=1e-9)
    np.testing.assert_array_equal(full["OO"], inter["OO"])
    assert inter["OO"][np.searchsorted(r, 3.3) - 1 : np.searchsorted(r, 3.3) + 1].sum() > 0


def test_group_pairs_in_a_mixture():
    box = Atoms(cell=[14.0] * 3, pbc=True)
    rng = np.random.default_rng(3)
    for k, mol in enumerate(["H2O", "CH3OH"] * 8):
        m = molecule(mol)
        m.rotate(rng.uniform(0, 360), rng.normal(size=3))
        idx = np.array(np.unravel_index(k, (4, 2, 2)))
        m.positions += (idx + 0.5) * np.array([3.5, 7.0, 7.0]) - m.get_center_of_mass()
        box += m
    box.wrap()
    r, g = partial_rdfs([box], pairs=[("O@H2O", "O@CH4O"), ("O", "O")], rmax=8.0, nbins=80)
    assert set(g) == {"O@H2O-O@CH4O", "OO"}
    # the groups split the O-O pairs: 8 x 8 water-methanol pairs out of 16 x 15
    counts_group = g["O@H2O-O@CH4O"] * 8 * 8
    counts_all = g["OO"] * 16 * 15
    assert np.all(counts_group <= counts_all + 1e-9)
    assert counts_group.sum() > 0
