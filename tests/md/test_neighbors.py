"""The neighbour list kept across steps: the same edges as nequip's fresh list, fewer builds."""

import numpy as np
import pytest
import torch
from ase import Atoms
from nequip.data import AtomicDataDict, from_ase
from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

from nequip_mts.md.neighbors import SkinNeighborList, use_skin_neighbor_list

TYPES = ["H", "O"]
R_MAX, SKIN = 3.0, 0.4
PER_TYPE = {"H": {"H": 1.8, "O": 2.4}, "O": {"O": 3.0}}


def _data(atoms):
    return ChemicalSpeciesToAtomTypeMapper(TYPES, {t: t for t in TYPES})(from_ase(atoms))


def _edges(data):
    """The edges as a set of (i, j, cell shift)."""
    ei = data[AtomicDataDict.EDGE_INDEX_KEY].numpy()
    shifts = data.get(AtomicDataDict.EDGE_CELL_SHIFT_KEY)
    shifts = np.zeros((ei.shape[1], 3)) if shifts is None else shifts.numpy()
    return {(int(i), int(j), *map(int, np.round(s))) for i, j, s in zip(ei[0], ei[1], shifts)}


def _liquid(seed=0, n=48, box=7.5):
    rng = np.random.default_rng(seed)
    return Atoms(rng.choice(TYPES, n), positions=rng.uniform(0, box, (n, 3)), cell=box * np.eye(3), pbc=True)


@pytest.mark.parametrize("per_type", [None, PER_TYPE])
def test_same_edges_as_a_fresh_list_along_a_trajectory(per_type):
    atoms = _liquid()
    fresh = NeighborListTransform(r_max=R_MAX, per_edge_type_cutoff=per_type, type_names=TYPES)
    kept = SkinNeighborList(R_MAX, SKIN, per_edge_type_cutoff=per_type, type_names=TYPES)
    rng = np.random.default_rng(1)
    velocities = rng.standard_normal(atoms.positions.shape)
    for _ in range(60):
        # about 0.03 A per step and atom, unwrapped, as ASE's integrators leave positions
        atoms.positions += 0.02 * velocities
        data = _data(atoms)
        assert _edges(kept(data)) == _edges(fresh(data))
    assert 1 < kept.builds < kept.calls // 3  # it rebuilt, but far less than every step


def test_rebuilds_once_atoms_have_moved_half_the_skin():
    # two O atoms beyond the cutoff plus skin: not even candidates
    d0 = R_MAX + SKIN + 0.05
    atoms = Atoms("O2", positions=[[1.0, 1.0, 1.0], [1.0 + d0, 1.0, 1.0]], cell=12 * np.eye(3), pbc=False)
    kept = SkinNeighborList(R_MAX, SKIN)
    assert _edges(kept(_data(atoms))) == set()
    # each moves 0.3 skin closer: still beyond the cutoff, the list is reused
    atoms.positions[:, 0] += [0.3 * SKIN, -0.3 * SKIN]
    assert _edges(kept(_data(atoms))) == set() and kept.builds == 1
    # 0.6 skin each: now within the cutoff; only a rebuild can find them
    atoms.positions[:, 0] += [0.3 * SKIN, -0.3 * SKIN]
    assert np.linalg.norm(atoms.positions[1] - atoms.positions[0]) < R_MAX
    assert _edges(kept(_data(atoms))) == {(0, 1, 0, 0, 0), (1, 0, 0, 0, 0)}
    assert kept.builds == 2


def test_rebuilds_when_the_cell_or_the_atoms_change():
    atoms = _liquid(seed=2)
    kept = SkinNeighborList(R_MAX, SKIN)
    kept(_data(atoms))
    strained = atoms.copy()
    strained.set_cell(atoms.cell * 0.97, scale_atoms=True)
    assert _edges(kept(_data(strained))) == _edges(NeighborListTransform(r_max=R_MAX)(_data(strained)))
    other = atoms.copy()
    other.symbols[0] = "O" if other.symbols[0] == "H" else "H"
    kept(_data(other))
    assert kept.builds == 3


def test_rejects_a_skin_that_is_not_positive():
    with pytest.raises(ValueError, match="skin"):
        SkinNeighborList(R_MAX, 0.0)


def test_calculator_forces_equal_those_with_a_fresh_list():
    from nequip.integrations.ase import NequIPCalculator
    from nequip.utils.global_state import set_global_state

    from nequip_mts.model import MultiscaleModel

    set_global_state()
    allegro = dict(
        _target_="allegro.model.AllegroModel",
        l_max=1,
        num_layers=1,
        num_scalar_features=8,
        num_tensor_features=4,
        radial_chemical_embed=dict(_target_="allegro.nn.TwoBodyBesselScalarEmbed", num_bessels=4),
        allegro_mlp_hidden_layers_width=8,
        readout_mlp_hidden_layers_width=8,
        avg_num_neighbors=5.0,
    )
    models = MultiscaleModel(
        fast=dict(allegro, r_max=R_MAX, per_edge_type_cutoff=PER_TYPE),
        slow=dict(allegro, r_max=4.0),
        seed=3,
        model_dtype="float64",
        type_names=TYPES,
    )
    fast = models["fast"].eval()

    def calculator():
        return NequIPCalculator(
            fast,
            device="cpu",
            transforms=[
                ChemicalSpeciesToAtomTypeMapper(TYPES, {t: t for t in TYPES}),
                NeighborListTransform(r_max=R_MAX, per_edge_type_cutoff=PER_TYPE, type_names=TYPES),
            ],
        )

    fresh, kept = calculator(), use_skin_neighbor_list(calculator(), SKIN)
    assert isinstance(kept.transforms[1], SkinNeighborList)
    atoms = _liquid(seed=4)
    velocities = np.random.default_rng(5).standard_normal(atoms.positions.shape)
    for _ in range(12):
        atoms.positions += 0.03 * velocities
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = fresh, kept
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-10)
        assert abs(b.get_potential_energy() - a.get_potential_energy()) < 1e-10
    assert torch.is_tensor(kept.transforms[1]._stored["edge_index"]) and kept.transforms[1].builds < 12
