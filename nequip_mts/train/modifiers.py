"""Metric fields for co-training: used in nequip ``MetricsManager`` configs as ``field:``.

nequip metrics compare a prediction with a target; these modifiers return a pair
whose target is zero, so that e.g. ``RootMeanSquaredError`` gives an RMS magnitude
and ``MeanSquaredError`` a quadratic penalty.
"""

import torch
from nequip.data import ABBREV, AtomicDataDict, BaseModifier

from ..nn import SLOW_FORCES_KEY, STIFFNESS_PROBE_KEY, STIFFNESS_RESPONSE_KEY


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


def _needs_force_graph(forces, pos, who: str) -> None:
    if not (torch.is_grad_enabled() and pos.requires_grad and forces.requires_grad):
        raise RuntimeError(
            f"{who} needs the autograd graph of the forces with respect to positions: use it "
            "only in the training `loss` of nequip_mts.train.MultiscaleLightningModule or "
            "DistillLightningModule (not in val/test metrics)"
        )


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
        _needs_force_graph(slow_forces, pos, "SlowStiffness")
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


class StiffnessMatch(BaseModifier):
    """The model's force change along each frame's stored probe, against the teacher's.

    Distillation data (``nequip-mts distill``) holds, per atom, a probe direction ``v``
    (``stiffness_probe``) and the teacher's force change along it, ``dF/de`` at
    ``x + e v`` (``stiffness_response``, from central differences of the teacher's
    forces). This modifier computes the same for the model being trained,
    ``d(F . v)/dx`` by double backward (which is ``dF/de`` since the Hessian is
    symmetric), and pairs the two. A ``MeanSquaredError`` on it asks the fast model to
    have the teacher's curvature as well as its forces: then ``full - fast``, the slow
    force of the MTS split, varies little along the stiff bond motions, which is what
    lets the outer step be long. Units: eV/A^2 (the probe is dimensionless).
    """

    def __init__(self) -> None:
        super().__init__(AtomicDataDict.FORCE_KEY)

    def __call__(self, data1, data2=None):
        if data2 is None:
            raise RuntimeError("StiffnessMatch is a loss term and needs (prediction, target)")
        forces = data1[self.field]
        pos = data2[AtomicDataDict.POSITIONS_KEY]
        _needs_force_graph(forces, pos, "StiffnessMatch")
        for key in (STIFFNESS_PROBE_KEY, STIFFNESS_RESPONSE_KEY):
            if key not in data2:
                raise KeyError(
                    f"StiffnessMatch: the data has no `{key}`; make the data with "
                    "`nequip-mts distill` (it labels the teacher's stiffness along a probe)"
                )
        probe = data2[STIFFNESS_PROBE_KEY].to(forces.dtype)
        (response,) = torch.autograd.grad((forces * probe).sum(), pos, create_graph=True)
        return response, data2[STIFFNESS_RESPONSE_KEY].to(response.dtype)

    def __str__(self) -> str:
        return "stiffness"

    @property
    def type(self) -> str:
        return "node"
