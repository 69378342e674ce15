"""Tiny sub-model configs and a test structure shared by the model and training tests."""

import torch
from ase.build import bulk
from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase

TYPE_NAMES = ["Au", "Cu"]


def allegro_config(r_max, **overrides):
    cfg = dict(
        _target_="allegro.model.AllegroModel",
        r_max=r_max,
        l_max=1,
        num_layers=1,
        num_scalar_features=8,
        num_tensor_features=4,
        radial_chemical_embed=dict(_target_="allegro.nn.TwoBodyBesselScalarEmbed", num_bessels=4),
        allegro_mlp_hidden_layers_width=8,
        readout_mlp_hidden_layers_width=8,
        avg_num_neighbors=10.0,
    )
    cfg.update(overrides)
    return cfg


def nequip_config(r_max, **overrides):
    cfg = dict(
        _target_="nequip.model.NequIPGNNModel",
        r_max=r_max,
        l_max=1,
        num_layers=2,
        num_features=8,
        radial_mlp_depth=1,
        radial_mlp_width=8,
        avg_num_neighbors=10.0,
    )
    cfg.update(overrides)
    return cfg


def alloy_atoms(seed=0, rattle=0.15):
    """A rattled 32-atom Cu/Au fcc box (ase.Atoms)."""
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[0, 5, 9, 17, 30]] = "Au"
    atoms.rattle(rattle, seed=seed)
    return atoms


def to_graph(atoms, r_max, include_keys=()):
    """``atoms`` as a nequip data dict with a neighbour list and atom types; with the
    calculator's energy and forces (float64) when ``atoms`` has one."""
    data = compute_neighborlist_(from_ase(atoms, include_keys=list(include_keys)), r_max=r_max)
    data[AtomicDataDict.ATOM_TYPE_KEY] = torch.tensor(
        [TYPE_NAMES.index(s) for s in atoms.get_chemical_symbols()], dtype=torch.long
    )
    if atoms.calc is not None:
        data[AtomicDataDict.TOTAL_ENERGY_KEY] = torch.tensor(
            [[atoms.get_potential_energy()]], dtype=torch.float64
        )
        data[AtomicDataDict.FORCE_KEY] = torch.tensor(atoms.get_forces(), dtype=torch.float64)
    return data


def alloy_graph(r_max, seed=0):
    """A rattled 32-atom Cu/Au fcc box as a nequip data dict with a neighbour list."""
    return to_graph(alloy_atoms(seed), r_max)
