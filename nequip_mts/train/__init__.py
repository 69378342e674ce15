"""Co-training of multiscale models: training modules, loss fields, data statistics."""

from .lightning import DistillLightningModule, MultiscaleEMALightningModule, MultiscaleLightningModule
from .metrics import EnergyForceLoss, EnergyForceMetrics
from .modifiers import FieldMagnitude, SlowStiffness, StiffnessMatch
from .stats import MultiscaleDataStatisticsManager, NumNeighborsWithin

__all__ = [
    "MultiscaleLightningModule",
    "MultiscaleEMALightningModule",
    "DistillLightningModule",
    "EnergyForceLoss",
    "EnergyForceMetrics",
    "FieldMagnitude",
    "SlowStiffness",
    "StiffnessMatch",
    "MultiscaleDataStatisticsManager",
    "NumNeighborsWithin",
]
