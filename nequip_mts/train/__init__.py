"""Co-training of multiscale models: training modules, loss fields, data statistics."""

from .lightning import MultiscaleEMALightningModule, MultiscaleLightningModule
from .modifiers import FieldMagnitude, SlowStiffness
from .stats import MultiscaleDataStatisticsManager, NumNeighborsWithin

__all__ = [
    "MultiscaleLightningModule",
    "MultiscaleEMALightningModule",
    "FieldMagnitude",
    "SlowStiffness",
    "MultiscaleDataStatisticsManager",
    "NumNeighborsWithin",
]
