"""Distillation's stiffness term: the teacher's curvature along a probe, learnt by the fast model.

The labels come from central differences of a teacher's forces
(``nequip_mts.distill.stiffness_label``); the model's side from double backward
(``nequip_mts.train.StiffnessMatch``). Each is checked against an independent
reference: an analytic Hessian, and finite differences of the model's own forces.
"""

import pathlib
import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.emt import EMT
from nequip.data import AtomicDataDict

from nequip_mts.distill import stiffness_label
from nequip_mts.nn import STIFFNESS_PROBE_KEY, STIFFNESS_RESPONSE_KEY
from nequip_mts.testing.analytic import HarmonicBonds
from nequip_mts.train import DistillLightningModule, StiffnessMatch

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "model"))
from small_models import TYPE_NAMES, allegro_config, alloy_atoms, to_graph  # noqa: E402
from training_helpers import fit, force_change  # noqa: E402

R_MAX = 4.0


def test_stiffness_label_is_minus_the_analytic_hessian_times_the_probe():
    # one harmonic bond: H_ii = k [u u^T + (1 - r0/r)(I - u u^T)], H_ij = -H_ii
    k, r0 = 30.0, 1.0
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.9, 0.3, -0.2]])
    frame = atoms.copy()
    assert (
        stiffness_label(frame, HarmonicBonds([[0, 1]], k=k, r0=r0), np.random.default_rng(0), 0.005) is None
    )
    probe = frame.arrays[STIFFNESS_PROBE_KEY]
    d = atoms.positions[1] - atoms.positions[0]
    r = np.linalg.norm(d)
    u = d / r
    block = k * (np.outer(u, u) + (1 - r0 / r) * (np.eye(3) - np.outer(u, u)))
    hessian = np.block([[block, -block], [-block, block]])
    expected = -(hessian @ probe.reshape(-1)).reshape(2, 3)
    np.testing.assert_allclose(frame.arrays[STIFFNESS_RESPONSE_KEY], expected, rtol=1e-4, atol=1e-4)
    # positions of the frame are left as they were
    np.testing.assert_array_equal(frame.positions, atoms.positions)


def test_stiffness_label_reports_a_teacher_that_fails():
    class Broken(HarmonicBonds):
        def energy_and_forces(self, positions):
            raise RuntimeError("SCF did not converge")

    frame = Atoms("H2", positions=[[0, 0, 0], [0.9, 0, 0]])
    why = stiffness_label(frame, Broken([[0, 1]], k=1.0, r0=1.0), np.random.default_rng(0), 0.005)
    assert "SCF did not converge" in why
    assert STIFFNESS_RESPONSE_KEY not in frame.arrays


def _single_model(seed=5):
    from hydra.utils import instantiate

    return instantiate(
        dict(allegro_config(R_MAX), seed=seed, model_dtype="float64", type_names=TYPE_NAMES),
        _recursive_=False,
    )


def _emt_graphs(num, step_A=1e-3):
    rng = np.random.default_rng(7)
    graphs = []
    for seed in range(num):
        atoms = alloy_atoms(seed, rattle=0.12)
        calc = EMT()
        assert stiffness_label(atoms, calc, rng, step_A) is None
        atoms.calc = calc
        graphs.append(to_graph(atoms, R_MAX, include_keys=[STIFFNESS_PROBE_KEY, STIFFNESS_RESPONSE_KEY]))
    return graphs


def _fd_response(model, data):
    """The model's force change along the graph's probe, by central differences."""
    return force_change(model, data, data[STIFFNESS_PROBE_KEY])


def test_stiffness_match_is_the_models_force_change_along_the_probe():
    model = _single_model()
    model.train()  # forces with a double-backward graph, as in a training step
    data = _emt_graphs(1)[0]
    leaf = data.copy()
    leaf[AtomicDataDict.POSITIONS_KEY] = data[AtomicDataDict.POSITIONS_KEY].detach().requires_grad_(True)
    pred, target = StiffnessMatch()(model(leaf), leaf)
    model.eval()
    torch.testing.assert_close(pred.detach(), _fd_response(model, data), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(target, data[STIFFNESS_RESPONSE_KEY])
    # no force graph (val/test metrics): refused with a message, not a silent zero
    with pytest.raises(RuntimeError, match="autograd graph"):
        StiffnessMatch()(model(data.copy()), data)


def _fit(coeff, graphs, epochs=8):
    energy_force = {
        "_target_": "nequip.train.EnergyForceLoss",
        "per_atom_energy": True,
        "coeffs": {"total_energy": 1.0, "forces": 1.0},
    }
    stiffness = {
        "name": "stiffness_mse",
        "field": {"_target_": "nequip_mts.train.StiffnessMatch"},
        "metric": {"_target_": "nequip.train.MeanSquaredError"},
        "coeff": coeff,
    }
    module = DistillLightningModule(
        model=dict(allegro_config(R_MAX), seed=5, model_dtype="float64", type_names=TYPE_NAMES),
        num_datasets={"train": 1, "val": 0, "test": 0, "predict": 0},
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.02},
        loss=dict(energy_force, extra_metrics=[stiffness]),
    )
    return fit(module, epochs, graphs).model["sole_model"].eval()


def test_stiffness_term_teaches_the_teachers_curvature():
    # the same training with and without the term: with it, the model's force change
    # along held-out probes is closer to EMT's (measured by finite differences)
    graphs = _emt_graphs(6)
    held_out = _emt_graphs(8)[6:]

    def curvature_error(model):
        return float(
            np.mean(
                [
                    (_fd_response(model, g) - g[STIFFNESS_RESPONSE_KEY]).square().mean().sqrt().item()
                    for g in held_out
                ]
            )
        )

    plain = curvature_error(_fit(0.0, graphs))
    matched = curvature_error(_fit(0.5, graphs))
    assert matched < 0.8 * plain, (plain, matched)
