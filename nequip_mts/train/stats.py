"""Data statistics for the multiscale model.

The fast model normalises its edge sums by the average number of neighbours
within *its own* cutoff, which the data's (slow-cutoff) neighbour list overcounts.
"""

from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Union

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
from nequip.nn import with_edge_type_, with_edge_vectors_
from nequip.nn.embedding.utils import cutoff_partialdict_to_tensor

PerEdgeTypeCutoff = Dict[str, Union[float, Dict[str, float]]]


def _plain(value):
    # a config's nested mapping (omegaconf) as plain dicts and floats
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return float(value)


class NumNeighborsWithin(BaseModifier):
    """Number of neighbours of each atom closer than ``r_max``.

    With ``per_edge_type_cutoff`` (nequip's format, ``{"H": {"H": 1.8, "O": 2.4}, ...}``;
    pairs not given keep ``r_max``) and the ``type_names`` it refers to, a neighbour
    counts when it is closer than the cutoff of its pair of types, as nequip's
    neighbour list keeps it.
    """

    def __init__(
        self,
        r_max: float,
        per_edge_type_cutoff: Optional[PerEdgeTypeCutoff] = None,
        type_names: Optional[List[str]] = None,
    ) -> None:
        super().__init__(AtomicDataDict.EDGE_INDEX_KEY)
        self.r_max = float(r_max)
        self.cutoffs = None
        if per_edge_type_cutoff is not None:
            if type_names is None:
                raise ValueError("NumNeighborsWithin: per_edge_type_cutoff needs type_names")
            self.cutoffs = cutoff_partialdict_to_tensor(
                _plain(per_edge_type_cutoff), list(type_names), self.r_max
            )

    def _func(self, data: AtomicDataDict.Type) -> torch.Tensor:
        lengths = with_edge_vectors_(data.copy(), with_lengths=True)[AtomicDataDict.EDGE_LENGTH_KEY].view(-1)
        if self.cutoffs is None:
            cutoff = self.r_max
        else:
            edge_type = with_edge_type_(data.copy())[AtomicDataDict.EDGE_TYPE_KEY]
            cutoff = self.cutoffs.to(lengths.dtype)[edge_type[0], edge_type[1]]
        centers = data[AtomicDataDict.EDGE_INDEX_KEY][0][lengths < cutoff]
        num_atoms = data[AtomicDataDict.POSITIONS_KEY].shape[0]
        return torch.bincount(centers, minlength=num_atoms)

    def __str__(self) -> str:
        return f"num_neighbors_within_{self.r_max}" + ("_per_edge_type" if self.cutoffs is not None else "")

    @property
    def type(self) -> str:
        return "node"


def MultiscaleDataStatisticsManager(
    fast_r_max: float,
    dataloader_kwargs: Optional[Dict[str, Any]] = None,
    type_names: Optional[List[str]] = None,
    fast_per_edge_type_cutoff: Optional[PerEdgeTypeCutoff] = None,
) -> DataStatisticsManager:
    """The statistics a multiscale config interpolates with ``${training_data_stats:...}``.

    ``num_neighbors_mean``, ``per_atom_energy_mean``, ``forces_rms`` and
    ``per_type_forces_rms`` as in nequip's ``CommonDataStatisticsManager``, plus
    ``fast_num_neighbors_mean``: the mean number of neighbours within
    ``fast_r_max`` (and ``fast_per_edge_type_cutoff``, when the fast part has one),
    for the fast model's ``avg_num_neighbors``.
    """
    metrics = [
        {"name": "num_neighbors_mean", "field": NumNeighbors(), "metric": Mean()},
        {
            "name": "fast_num_neighbors_mean",
            "field": NumNeighborsWithin(fast_r_max, fast_per_edge_type_cutoff, type_names),
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
