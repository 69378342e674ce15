"""The fast part's neighbour count, against ASE's neighbour list."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list
from nequip.data import AtomicDataDict, from_ase
from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

from nequip_mts.train.stats import NumNeighborsWithin

TYPES = ["H", "O"]
R_SLOW = 4.0


@pytest.fixture
def atoms():
    rng = np.random.default_rng(3)
    n = 40
    cell = 7.0 * np.eye(3)
    return Atoms(
        symbols=rng.choice(TYPES, n),
        positions=rng.uniform(0.0, 7.0, (n, 3)),
        cell=cell,
        pbc=True,
    )


def _data(atoms):
    data = from_ase(atoms)
    data = ChemicalSpeciesToAtomTypeMapper(TYPES, {t: t for t in TYPES})(data)
    return NeighborListTransform(r_max=R_SLOW)(data)


def _ase_counts(atoms, cutoff_of_pair):
    i, j, d = neighbor_list("ijd", atoms, R_SLOW)
    sym = np.array(atoms.get_chemical_symbols())
    keep = d < np.array([cutoff_of_pair(a, b) for a, b in zip(sym[i], sym[j])])
    return np.bincount(i[keep], minlength=len(atoms))


def test_counts_neighbours_within_one_cutoff(atoms):
    counts = NumNeighborsWithin(2.5)(_data(atoms))
    np.testing.assert_array_equal(counts.numpy(), _ase_counts(atoms, lambda a, b: 2.5))


def test_counts_neighbours_within_each_pairs_cutoff(atoms):
    # the O-O cutoff is not given: it stays r_max, as in nequip's per_edge_type_cutoff
    per_type = {"H": {"H": 1.5, "O": 2.0}, "O": {"H": 2.0}}
    counts = NumNeighborsWithin(3.0, per_type, TYPES)(_data(atoms))
    table = {("H", "H"): 1.5, ("H", "O"): 2.0, ("O", "H"): 2.0, ("O", "O"): 3.0}
    expected = _ase_counts(atoms, lambda a, b: table[a, b])
    np.testing.assert_array_equal(counts.numpy(), expected)
    # and it is a real reduction against the plain cutoff
    assert expected.sum() < _ase_counts(atoms, lambda a, b: 3.0).sum()


def test_per_type_cutoff_needs_type_names():
    with pytest.raises(ValueError, match="type_names"):
        NumNeighborsWithin(3.0, {"H": 2.0})


def test_neighbour_count_is_a_node_field(atoms):
    data = _data(atoms)
    counts = NumNeighborsWithin(3.0, {"H": {"H": 1.5}}, TYPES)(data)
    assert counts.shape == (len(atoms),)
    assert counts.dtype in (torch.int64, torch.long)
    assert AtomicDataDict.EDGE_TYPE_KEY not in data  # the input is left as it was
