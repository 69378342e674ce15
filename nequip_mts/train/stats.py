"""Data statistics for the multiscale model.

The fast model normalises its edge sums by the average number of neighbours
within *its own* cutoff, which the data's (slow-cutoff) neighbour list overcounts.
"""

from typing import Any, Dict, List, Optional

import torch
from nequip.data import (
    AtomicDataDict,
    BaseModifier,
    DataStatisticsManager,
    Mean,
    NumNeighbors,
    PerAtomModifier,
    RootMeanSquare,
)
from nequip.nn import with_edge_vectors_


class NumNeighborsWithin(BaseModifier):
    """Number of neighbours of each atom closer than ``r_max``."""

    def __init__(self, r_max: float) -> None:
        super().__init__(AtomicDataDict.EDGE_INDEX_KEY)
        self.r_max = float(r_max)

    def _func(self, data: AtomicDataDict.Type) -> torch.Tensor:
        lengths = with_edge_vectors_(data.copy(), with_lengths=True)[AtomicDataDict.EDGE_LENGTH_KEY].view(-1)
        centers = data[AtomicDataDict.EDGE_INDEX_KEY][0][lengths < self.r_max]
        num_atoms = data[AtomicDataDict.POSITIONS_KEY].shape[0]
        return torch.bincount(centers, minlength=num_atoms)

    def __str__(self) -> str:
        return f"num_neighbors_within_{self.r_max}"

    @property
    def type(self) -> str:
        return "node"


def MultiscaleDataStatisticsManager(
    fast_r_max: float,
    dataloader_kwargs: Optional[Dict[str, Any]] = None,
    type_names: Optional[List[str]] = None,
) -> DataStatisticsManager:
    """The statistics a multiscale config interpolates with ``${training_data_stats:...}``.

    ``num_neighbors_mean``, ``per_atom_energy_mean``, ``forces_rms`` and
    ``per_type_forces_rms`` as in nequip's ``CommonDataStatisticsManager``, plus
    ``fast_num_neighbors_mean``: the mean number of neighbours within
    ``fast_r_max``, for the fast model's ``avg_num_neighbors``.
    """
    metrics = [
        {"name": "num_neighbors_mean", "field": NumNeighbors(), "metric": Mean()},
        {
            "name": "fast_num_neighbors_mean",
            "field": NumNeighborsWithin(fast_r_max),
            "metric": Mean(),
        },
        {
            "name": "per_atom_energy_mean",
            "field": PerAtomModifier(AtomicDataDict.TOTAL_ENERGY_KEY),
            "metric": Mean(),
        },
        {"name": "forces_rms", "field": AtomicDataDict.FORCE_KEY, "metric": RootMeanSquare()},
        {
            "name": "per_type_forces_rms",
            "field": AtomicDataDict.FORCE_KEY,
            "metric": RootMeanSquare(),
            "per_type": True,
        },
    ]
    return DataStatisticsManager(metrics, dataloader_kwargs, type_names)
