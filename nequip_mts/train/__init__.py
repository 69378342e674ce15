"""Co-training of multiscale models: training modules, loss fields, data statistics."""

from .lightning import MultiscaleEMALightningModule, MultiscaleLightningModule
from .metrics import EnergyForceLoss, EnergyForceMetrics
from .modifiers import FieldMagnitude, SlowStiffness
from .stats import MultiscaleDataStatisticsManager, NumNeighborsWithin

__all__ = [
    "MultiscaleLightningModule",
    "MultiscaleEMALightningModule",
    "EnergyForceLoss",
    "EnergyForceMetrics",
    "FieldMagnitude",
    "SlowStiffness",
    "MultiscaleDataStatisticsManager",
    "NumNeighborsWithin",
]
