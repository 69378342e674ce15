"""Model builders of nequip-mts, reached from configs by ``_target_``."""

from .multiscale import FAST_KEY, SLOW_KEY, SUM_KEY, MultiscaleConfigError, MultiscaleModel

__all__ = ["MultiscaleModel", "MultiscaleConfigError", "SUM_KEY", "FAST_KEY", "SLOW_KEY"]
