"""Metric fields for co-training: used in nequip ``MetricsManager`` configs as ``field:``.

nequip metrics compare a prediction with a target; these modifiers return a pair
whose target is zero, so that e.g. ``RootMeanSquaredError`` gives an RMS magnitude
and ``MeanSquaredError`` a quadratic penalty.
"""

import torch
from nequip.data import ABBREV, AtomicDataDict, BaseModifier

from ..nn import SLOW_FORCES_KEY


class FieldMagnitude(BaseModifier):
    """A predicted field against zero, e.g. the slow forces' RMS or penalty.

    Parameters
    ----------
    field : str
        Output field, e.g. ``slow_forces``.
    """

    def __init__(self, field: str = SLOW_FORCES_KEY) -> None:
        super().__init__(field)

    def __call__(self, data1, data2=None):
        pred = data1[self.field]
        if data2 is None:
            return pred
        return pred, torch.zeros_like(pred)

    def __str__(self) -> str:
        return f"{ABBREV.get(self.field, self.field)}_magnitude"


class SlowStiffness(BaseModifier):
    """Hessian-vector products of the slow energy along random probe vectors.

    For a probe ``v`` with unit-variance Gaussian components, ``H_slow v`` is the
    change of the slow forces along ``v``: ``-d(F_slow . v)/dx``, computed by double
    backward through the slow forces. A ``MeanSquaredError`` on it penalises the
    slow part's curvature, i.e. the fast-varying content the outer MTS step cannot
    follow. Only meaningful inside a training ``loss``: it needs the autograd graph
    of the forces, which ``MultiscaleLightningModule`` keeps in its training step.

    Parameters
    ----------
    num_probes : int
        Number of random probe vectors per batch (their products are concatenated).
    """

    def __init__(self, num_probes: int = 1) -> None:
        super().__init__(SLOW_FORCES_KEY)
        if int(num_probes) < 1:
            raise ValueError(f"SlowStiffness: num_probes must be >= 1, got {num_probes}")
        self.num_probes = int(num_probes)

    def __call__(self, data1, data2=None):
        if data2 is None:
            raise RuntimeError("SlowStiffness is a loss term and needs (prediction, target)")
        slow_forces = data1[self.field]
        pos = data2[AtomicDataDict.POSITIONS_KEY]
        if not (torch.is_grad_enabled() and pos.requires_grad and slow_forces.requires_grad):
            raise RuntimeError(
                "SlowStiffness needs the autograd graph of the slow forces with respect to "
                "positions: use it only in the training `loss` of "
                "nequip_mts.train.MultiscaleLightningModule (not in val/test metrics)"
            )
        hvps = []
        for _ in range(self.num_probes):
            probe = torch.randn_like(slow_forces)
            (hvp,) = torch.autograd.grad((slow_forces * probe).sum(), pos, create_graph=True)
            hvps.append(hvp)
        hvp = torch.cat(hvps, dim=-1)
        return hvp, torch.zeros_like(hvp)

    def __str__(self) -> str:
        return "slow_hvp"

    @property
    def type(self) -> str:
        return "node"
