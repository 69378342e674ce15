"""Losses and metrics with stress switched by one flag.

nequip's ``EnergyForceStressLoss`` and a metric on ``stress`` fail on data without
stress (``KeyError: 'stress'``), and Hydra cannot drop one entry of a list from the
command line. The shipped configs therefore name these factories with
``stress: ${with_stress}``, which the config's ``stress`` key (true, false or auto)
decides; see :func:`nequip_mts.checks.resolve_stress`.
"""

from typing import Any, Dict, List, Optional

from nequip.data import AtomicDataDict, PerAtomModifier
from nequip.train import (
    EnergyForceLoss as _EnergyForceLoss,
)
from nequip.train import (
    EnergyForceStressLoss as _EnergyForceStressLoss,
)
from nequip.train import (
    MeanAbsoluteError,
    MetricsManager,
    RootMeanSquaredError,
)

__all__ = ["EnergyForceLoss", "EnergyForceMetrics"]


def EnergyForceLoss(
    stress: bool,
    coeffs: Optional[Dict[str, float]] = None,
    per_atom_energy: bool = True,
    extra_metrics: Optional[List[Dict[str, Any]]] = None,
    type_names: Optional[List[str]] = None,
    **kwargs,
) -> MetricsManager:
    """nequip's energy + forces (+ stress) MSE loss, stress switched by ``stress``.

    Parameters
    ----------
    stress : bool
        Include the stress term (``nequip.train.EnergyForceStressLoss``) or not
        (``nequip.train.EnergyForceLoss``; a ``stress`` coefficient is then dropped).
    coeffs : dict, optional
        Relative weights of ``total_energy``, ``forces`` and ``stress`` (default 1 each).
    per_atom_energy : bool
        Energy error per atom (``per_atom_energy_mse``) rather than per frame.
    extra_metrics : list of dict, optional
        Further loss terms (nequip ``MetricsManager`` entries).
    type_names : list of str, optional
        Passed by nequip's training module.
    **kwargs
        Other arguments of nequip's loss functions (``per_type_forces_coeffs``, ...).
    """
    keys = [AtomicDataDict.TOTAL_ENERGY_KEY, AtomicDataDict.FORCE_KEY]
    if stress:
        keys.append(AtomicDataDict.STRESS_KEY)
    given = dict(coeffs) if coeffs is not None else {}
    coeffs = {key: given.get(key, 1.0) for key in keys}
    build = _EnergyForceStressLoss if stress else _EnergyForceLoss
    return build(
        coeffs=coeffs,
        per_atom_energy=per_atom_energy,
        extra_metrics=extra_metrics,
        type_names=type_names,
        **kwargs,
    )


def EnergyForceMetrics(
    stress: bool,
    extra_metrics: Optional[List[Dict[str, Any]]] = None,
    type_names: Optional[List[str]] = None,
) -> MetricsManager:
    """The metrics the shipped configs watch, with ``stress_MAE`` only if ``stress``.

    ``E_per_atom_MAE`` and ``F_MAE`` (coefficient 1 each: their sum is the monitored
    ``weighted_sum``), ``F_RMSE``, ``stress_MAE`` if ``stress``, then ``extra_metrics``
    (e.g. the fast part's ``fast_F_MAE`` and the slow part's ``slow_F_RMS``).
    """
    metrics = [
        {
            "name": "E_per_atom_MAE",
            "field": PerAtomModifier(AtomicDataDict.TOTAL_ENERGY_KEY),
            "metric": MeanAbsoluteError(),
            "coeff": 1.0,
        },
        {"name": "F_MAE", "field": AtomicDataDict.FORCE_KEY, "metric": MeanAbsoluteError(), "coeff": 1.0},
        {"name": "F_RMSE", "field": AtomicDataDict.FORCE_KEY, "metric": RootMeanSquaredError()},
    ]
    if stress:
        metrics.append(
            {"name": "stress_MAE", "field": AtomicDataDict.STRESS_KEY, "metric": MeanAbsoluteError()}
        )
    return MetricsManager([*metrics, *(extra_metrics or [])], type_names=type_names)
