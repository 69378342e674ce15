"""Two-stage co-training and the slow-part regularisers, trained in-process with Lightning."""

import pathlib
import sys

import lightning
import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT
from nequip.data import AtomicDataDict

from nequip_mts.manifest import SUM_KEY
from nequip_mts.nn import SLOW_FORCES_KEY
from nequip_mts.train import MultiscaleEMALightningModule, MultiscaleLightningModule

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "model"))
from small_models import TYPE_NAMES, allegro_config, alloy_atoms, to_graph  # noqa: E402
from training_helpers import fit, force_change  # noqa: E402

R_FAST, R_SLOW = 3.0, 4.5


def emt_graphs(num=6):
    graphs = []
    for seed in range(num):
        atoms = alloy_atoms(seed, rattle=0.12)
        atoms.calc = EMT()
        graphs.append(to_graph(atoms, R_SLOW))
    return graphs


def mse(name, field, coeff):
    return {
        "name": name,
        "field": field,
        "metric": {"_target_": "nequip.train.MeanSquaredError"},
        "coeff": coeff,
    }


def make_module(stage1_epochs, extra_loss=(), seed=3, module_class=MultiscaleLightningModule):
    energy_force = {
        "_target_": "nequip.train.EnergyForceLoss",
        "per_atom_energy": True,
        "coeffs": {"total_energy": 1.0, "forces": 1.0},
    }
    return module_class(
        model={
            "_target_": "nequip_mts.model.MultiscaleModel",
            "seed": seed,
            "model_dtype": "float64",
            "type_names": TYPE_NAMES,
            "fast": allegro_config(R_FAST, per_type_energy_shifts={"Au": 0.0, "Cu": 0.0}),
            "slow": allegro_config(R_SLOW),
        },
        num_datasets={"train": 1, "val": 0, "test": 0, "predict": 0},
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.02},
        stage1_epochs=stage1_epochs,
        stage1_loss=energy_force,
        loss=dict(energy_force, extra_metrics=list(extra_loss)),
    )


def snapshot(model):
    return [p.detach().clone() for p in model.parameters()]


def test_stage1_trains_fast_part_only_then_stage2_trains_slow():
    graphs = emt_graphs()
    module = make_module(stage1_epochs=2)
    fast0, slow0 = snapshot(module.model["fast"]), snapshot(module.model["slow"])
    fit(module, 2, graphs)
    assert all(torch.equal(a, b) for a, b in zip(slow0, snapshot(module.model["slow"])))
    assert not all(torch.equal(a, b) for a, b in zip(fast0, snapshot(module.model["fast"])))
    out = module.model[SUM_KEY](graphs[0].copy())
    assert out[SLOW_FORCES_KEY].abs().max().item() == 0.0

    module = make_module(stage1_epochs=2)
    fit(module, 3, graphs)
    assert not all(torch.equal(a, b) for a, b in zip(slow0, snapshot(module.model["slow"])))
    assert module.model["slow"].model.func.zero_init_gate.gate.item() != 0.0


class _LoggedLossTerms(lightning.Callback):
    """Records, per training batch, the epoch, the loss terms logged and the slow part's trainability."""

    def __init__(self):
        self.records = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        terms = {k.split("/", 1)[1] for k in trainer.callback_metrics if k.startswith("train_loss_step/")}
        slow_trainable = any(p.requires_grad for p in pl_module.model["slow"].parameters())
        self.records.append((trainer.current_epoch, terms, slow_trainable))


@pytest.mark.parametrize(
    "module_class", [MultiscaleLightningModule, MultiscaleEMALightningModule], ids=["plain", "ema"]
)
def test_each_stage_minimises_its_own_loss(module_class):
    # the stage-2 loss has a term the stage-1 loss lacks; nequip's training step logs
    # the terms of the loss it minimises, so the logs show which loss each stage used
    fast_term = mse(
        "fast_forces_mse",
        {
            "_target_": "nequip.data.MappedFieldModifier",
            "pred_field": "fast_forces",
            "target_field": "forces",
        },
        0.5,
    )
    recorder = _LoggedLossTerms()
    module = fit(
        make_module(stage1_epochs=1, extra_loss=[fast_term], module_class=module_class),
        2,
        emt_graphs(4),
        callbacks=[recorder],
    )
    stage1 = [r for r in recorder.records if r[0] == 0]
    stage2 = [r for r in recorder.records if r[0] == 1]
    assert len(stage1) == len(stage2) == 2
    for _, terms, slow_trainable in stage1:
        assert "forces_mse" in terms and "fast_forces_mse" not in terms
        assert not slow_trainable
    for _, terms, slow_trainable in stage2:
        assert {"forces_mse", "fast_forces_mse"} <= terms
        assert slow_trainable
    # nequip's epoch-end hook computed the stage-2 loss; the stage is logged beside it
    metrics = module.trainer.callback_metrics
    assert "train_loss_epoch/fast_forces_mse" in metrics
    assert metrics["train_stage"].item() == 2.0
    # the stage-2 loss stays registered under `loss`, the stage-1 loss under `stage1_loss`
    assert module.loss is module._modules["loss"] and "fast_forces_mse" in module.loss.keys()
    assert "fast_forces_mse" not in module.stage1_loss.keys()


def test_stage1_forward_equals_the_full_sum():
    graphs = emt_graphs(1)
    module = make_module(stage1_epochs=5)
    module.eval()
    assert module.in_stage1
    fast_only = module(graphs[0].copy())
    full = module.model[SUM_KEY](graphs[0].copy())
    for key in (AtomicDataDict.TOTAL_ENERGY_KEY, AtomicDataDict.FORCE_KEY, SLOW_FORCES_KEY):
        torch.testing.assert_close(fast_only[key], full[key], atol=1e-12, rtol=0)


def slow_hvp_norm(slow_model, graphs):
    """RMS of H_slow v by central finite differences of the slow forces (independent of autograd)."""
    rng = np.random.default_rng(1)
    norms = []
    for data in graphs:
        probe = torch.tensor(rng.normal(size=data[AtomicDataDict.POSITIONS_KEY].shape))
        norms.append(force_change(slow_model, data, probe).square().mean().sqrt().item())
    return float(np.mean(norms))


def test_stiffness_penalty_lowers_slow_hessian_vector_norm():
    graphs = emt_graphs()
    stiffness = mse("slow_stiffness", {"_target_": "nequip_mts.train.SlowStiffness", "num_probes": 2}, 1.0)
    plain = fit(make_module(stage1_epochs=0), 6, graphs)
    stiff = fit(make_module(stage1_epochs=0, extra_loss=[stiffness]), 6, graphs)
    plain_norm = slow_hvp_norm(plain.model["slow"], graphs)
    stiff_norm = slow_hvp_norm(stiff.model["slow"], graphs)
    assert plain_norm > 0
    assert stiff_norm < 0.8 * plain_norm, (plain_norm, stiff_norm)


def test_slow_force_penalty_lowers_slow_forces():
    graphs = emt_graphs()
    penalty = mse(
        "slow_forces_penalty", {"_target_": "nequip_mts.train.FieldMagnitude", "field": "slow_forces"}, 1.0
    )
    plain = fit(make_module(stage1_epochs=0), 6, graphs)
    small = fit(make_module(stage1_epochs=0, extra_loss=[penalty]), 6, graphs)

    def slow_rms(module):
        return np.mean(
            [
                module.model["slow"](g.copy())[AtomicDataDict.FORCE_KEY].square().mean().sqrt().item()
                for g in graphs
            ]
        )

    assert slow_rms(small) < 0.8 * slow_rms(plain)


def test_stiffness_term_refuses_to_run_without_a_force_graph():
    from nequip_mts.train import SlowStiffness

    graphs = emt_graphs(1)
    module = make_module(stage1_epochs=0)
    module.eval()  # forces without a double-backward graph, as in val/test metrics
    out = module.model[SUM_KEY](graphs[0].copy())
    with pytest.raises(RuntimeError, match="autograd graph"):
        SlowStiffness()(out, graphs[0])
