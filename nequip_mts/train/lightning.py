"""Two-stage co-training of the fast + slow model inside ``nequip-train``.

Stage 1 (epochs ``< stage1_epochs``): the fast model alone learns the reference
energies and forces with ``stage1_loss``; every slow parameter is frozen. Since
the slow part is exactly zero at initialisation, the sum equals the fast model in
this stage, and only the fast model is evaluated.

Stage 2: the sum is trained with ``loss`` (energies, forces, stress, plus e.g. a
fast-only force term and the slow-part regularisers of ``nequip_mts.train.modifiers``).

nequip's ``NequIPLightningModule`` runs the training step itself; the stage logic
lives in the hooks it reads (``loss``, ``forward``, ``process_target``,
``on_train_epoch_start``), so nequip's step, logging and DDP scaling are used as is.
"""

from typing import Dict, Optional

import torch
from hydra.utils import instantiate
from nequip.data import AtomicDataDict
from nequip.train import EMALightningModule, NequIPLightningModule
from nequip.utils import RankedLogger

from ..manifest import FAST_KEY, SLOW_KEY, SUM_KEY
from ..nn import FAST_ENERGY_KEY, FAST_FORCES_KEY, SLOW_ENERGY_KEY, SLOW_FORCES_KEY

logger = RankedLogger(__name__, rank_zero_only=True)


class _DifferentiablePositions:
    """Makes the batch positions a differentiable leaf shared by model and target in
    training, for loss terms that differentiate the forces once more (``SlowStiffness``,
    ``StiffnessMatch``)."""

    def process_target(
        self, batch: AtomicDataDict.Type, batch_idx: int, dataloader_idx: int = 0
    ) -> AtomicDataDict.Type:
        if self.training:
            # ForceStressOutput differentiates a given leaf and resets requires_grad only on
            # leaves it switched on itself. nequip's training_step passes this same dict to
            # forward after this hook, so the entry replaced here is the one the model sees.
            batch[AtomicDataDict.POSITIONS_KEY] = (
                batch[AtomicDataDict.POSITIONS_KEY].detach().requires_grad_(True)
            )
        return super().process_target(batch, batch_idx, dataloader_idx)


class _MultiscaleTraining(_DifferentiablePositions):
    """Stage switch and fast-only stage 1, mixed into nequip's training modules.

    nequip's own ``training_step`` and ``on_train_epoch_end`` do the work; this mixin
    changes only what they read:

    - ``loss`` is the current stage's loss (``stage1_loss`` in stage 1), so nequip's
      step computes, logs and returns the right one, and its epoch-end hook computes
      and resets it. The stage-2 loss stays registered under ``loss`` and the stage-1
      loss under ``stage1_loss``, so checkpoints keep their layout.
    - ``forward`` evaluates only the fast part in stage 1.
    - ``process_target`` makes the batch positions a differentiable leaf in training
      (``_DifferentiablePositions``).
    - ``on_train_epoch_start`` freezes or thaws the slow part.
    """

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
        # `self.loss` still resolves to the stage-2 loss here: `stage1_epochs` is unset
        if int(stage1_epochs) > 0 and stage1_loss is None and self.loss is not None:
            raise ValueError("stage1_epochs > 0 needs a `stage1_loss` (fast model vs reference)")
        self.stage1_loss = instantiate(stage1_loss, type_names=self.model[SUM_KEY].type_names)
        if self.stage1_loss is not None:
            # what nequip's module requires of, and sets on, its own `loss`
            if not self.stage1_loss.do_weighted_sum:
                raise ValueError(
                    "every entry of `stage1_loss` needs a `coeff` (it is minimised as a weighted sum)"
                )
            for metric in self.stage1_loss.values():
                metric.dist_sync_on_step = True
        self.stage1_epochs = int(stage1_epochs)
        self._frozen_for = None

    # --- stage bookkeeping ---
    @property
    def in_stage1(self) -> bool:
        # `stage1_epochs` is unset while nequip's __init__ runs: stage 2 until then
        return self.current_epoch < self.__dict__.get("stage1_epochs", 0)

    @property
    def loss(self):
        """The loss of the current stage.

        nequip's ``training_step`` and ``on_train_epoch_end`` read ``self.loss``, and
        so do its loss callbacks (``LossCoefficientScheduler``, ``SoftAdapt``,
        ``LossCoefficientMonitor``): all of them act on the loss being minimised.
        """
        modules = self.__dict__["_modules"]
        if self.in_stage1:
            return modules["stage1_loss"]
        return modules.get("loss")

    @loss.setter
    def loss(self, value):
        # ``nn.Module.__setattr__`` registers a module value under ``_modules["loss"]``
        # itself; this setter is reached only for a ``None`` loss (e.g. test runs)
        self.__dict__["_modules"]["loss"] = value

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
        super().on_train_epoch_start()
        self._set_slow_trainable(not self.in_stage1)

    def on_train_epoch_end(self):
        # nequip's hook computes, logs and resets `self.loss`, i.e. this stage's loss
        super().on_train_epoch_end()
        self.log("train_stage", float(1 if self.in_stage1 else 2))

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


class DistillLightningModule(_DifferentiablePositions, NequIPLightningModule):
    """nequip's ``NequIPLightningModule`` for a single model whose loss differentiates its
    forces once more (the distillation config's ``StiffnessMatch`` term).

    Parameters are those of ``nequip.train.NequIPLightningModule``.
    """
