"""Two-stage co-training of the fast + slow model inside ``nequip-train``.

Stage 1 (epochs ``< stage1_epochs``): the fast model alone learns the reference
energies and forces with ``stage1_loss``; every slow parameter is frozen. Since
the slow part is exactly zero at initialisation, the sum equals the fast model in
this stage, and only the fast model is evaluated.

Stage 2: the sum is trained with ``loss`` (energies, forces, stress, plus e.g. a
fast-only force term and the slow-part regularisers of ``nequip_mts.train.modifiers``).
"""

from typing import Dict, Optional

import torch

from nequip.data import AtomicDataDict
from nequip.train import EMALightningModule, NequIPLightningModule
from nequip.utils import RankedLogger
from hydra.utils import instantiate

from ..model.multiscale import FAST_KEY, SLOW_KEY, SUM_KEY
from ..nn import FAST_ENERGY_KEY, FAST_FORCES_KEY, SLOW_ENERGY_KEY, SLOW_FORCES_KEY

logger = RankedLogger(__name__, rank_zero_only=True)


class _MultiscaleTraining:
    """Stage switch and fast-only stage 1, mixed into nequip's training modules."""

    def __init__(
        self,
        *args,
        stage1_epochs: int = 0,
        stage1_loss: Optional[Dict] = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        for key in (SUM_KEY, FAST_KEY, SLOW_KEY):
            if key not in self.model:
                raise ValueError(
                    f"{type(self).__name__} needs a multiscale model "
                    f"(nequip_mts.model.MultiscaleModel); model entry `{key}` is missing"
                )
        if int(stage1_epochs) < 0:
            raise ValueError(f"stage1_epochs must be >= 0, got {stage1_epochs}")
        if int(stage1_epochs) > 0 and stage1_loss is None and self.loss is not None:
            raise ValueError("stage1_epochs > 0 needs a `stage1_loss` (fast model vs reference)")
        self.stage1_epochs = int(stage1_epochs)
        self.stage1_loss = instantiate(stage1_loss, type_names=self.model[SUM_KEY].type_names)
        self._frozen_for = None

    # --- stage bookkeeping ---
    @property
    def in_stage1(self) -> bool:
        return self.current_epoch < self.stage1_epochs

    @property
    def active_loss(self):
        return self.stage1_loss if self.in_stage1 else self.loss

    def _set_slow_trainable(self, trainable: bool) -> None:
        if self._frozen_for == (not trainable):
            return
        for p in self.model[SLOW_KEY].parameters():
            p.requires_grad_(trainable)
        self._frozen_for = not trainable
        logger.info(
            "multiscale co-training: "
            + ("stage 2, joint fast + slow" if trainable else "stage 1, fast model alone (slow frozen)")
        )

    def on_train_epoch_start(self):
        super_hook = getattr(super(), "on_train_epoch_start", None)
        if super_hook is not None:
            super_hook()
        self._set_slow_trainable(not self.in_stage1)

    # --- forward ---
    def forward(self, inputs: AtomicDataDict.Type):
        if not self.in_stage1:
            return super().forward(inputs)
        # stage 1: the slow part is zero and frozen, so the sum is the fast part;
        # skipping the slow evaluation changes nothing but the cost
        sum_model = self.model[SUM_KEY]
        data = {k: v for k, v in inputs.items() if k in sum_model.model_input_fields}
        composite = sum_model.model
        with torch.enable_grad():
            out = composite.fast(composite.prune(data))
        out = out.copy()
        out[FAST_ENERGY_KEY] = out[AtomicDataDict.TOTAL_ENERGY_KEY]
        out[FAST_FORCES_KEY] = out[AtomicDataDict.FORCE_KEY]
        out[SLOW_ENERGY_KEY] = torch.zeros_like(out[AtomicDataDict.TOTAL_ENERGY_KEY])
        out[SLOW_FORCES_KEY] = torch.zeros_like(out[AtomicDataDict.FORCE_KEY])
        return out

    # --- training step with the stage's loss ---
    def training_step(self, batch: AtomicDataDict.Type, batch_idx: int, dataloader_idx: int = 0):
        self._set_slow_trainable(not self.in_stage1)
        batch = batch.copy()
        # positions require grad so that loss terms (SlowStiffness) can differentiate
        # the forces once more with respect to them
        batch[AtomicDataDict.POSITIONS_KEY] = (
            batch[AtomicDataDict.POSITIONS_KEY].detach().requires_grad_(True)
        )
        target = self.process_target(batch, batch_idx, dataloader_idx)
        output = self(batch)
        if self.train_metrics is not None:
            with torch.no_grad():
                self.log_dict(self.train_metrics(output, target, prefix="train_metric_step/"))
        loss_dict = self.active_loss(output, target, prefix="train_loss_step/")
        self.log_dict(loss_dict)
        return loss_dict["train_loss_step/weighted_sum"] * self.world_size

    def on_train_epoch_end(self):
        if self.train_metrics is not None:
            self.log_dict(self.train_metrics.compute(prefix="train_metric_epoch/"))
            self.train_metrics.reset()
        loss = self.active_loss
        self.log_dict(loss.compute(prefix="train_loss_epoch/"))
        loss.reset()
        self.log("train_stage", float(1 if self.in_stage1 else 2))


class MultiscaleLightningModule(_MultiscaleTraining, NequIPLightningModule):
    """nequip's ``NequIPLightningModule`` with two-stage multiscale co-training.

    Parameters
    ----------
    stage1_epochs : int
        Number of epochs in which the fast model is trained alone (stage 1).
    stage1_loss : dict
        nequip ``MetricsManager`` config for stage 1 (on the fast model's outputs,
        which are the model's outputs during that stage).
    **kwargs
        As for ``nequip.train.NequIPLightningModule``; ``loss`` is the stage-2 loss.
    """


class MultiscaleEMALightningModule(_MultiscaleTraining, EMALightningModule):
    """``MultiscaleLightningModule`` with nequip's exponential moving average of weights.

    Parameters are those of ``MultiscaleLightningModule`` plus ``ema_decay``.
    """
