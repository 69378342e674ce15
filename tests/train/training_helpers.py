"""Shared by the training tests: in-process Lightning fits and finite-difference force changes."""

import lightning
import torch
from nequip.data import AtomicDataDict


def fit(module, epochs, graphs, callbacks=()):
    """Train ``module`` on ``graphs`` (batches of 2) for ``epochs``, seeded, without validation."""
    lightning.seed_everything(0)
    loader = torch.utils.data.DataLoader(graphs, batch_size=2, collate_fn=AtomicDataDict.batched_from_list)
    trainer = lightning.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=list(callbacks),
    )
    trainer.fit(module, train_dataloaders=loader)
    return module


def force_change(model, data, probe, h=1e-4):
    """``model``'s force change along ``probe`` at ``data``, by central differences
    (independent of autograd): ``(F(x + h v) - F(x - h v)) / 2h``."""
    forces = []
    for sign in (1.0, -1.0):
        shifted = data.copy()
        shifted[AtomicDataDict.POSITIONS_KEY] = data[AtomicDataDict.POSITIONS_KEY] + sign * h * probe
        forces.append(model(shifted)[AtomicDataDict.FORCE_KEY].detach())
    return (forces[0] - forces[1]) / (2 * h)
