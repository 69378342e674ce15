"""A neighbour list kept across MD steps with a skin (a Verlet list).

nequip's ASE calculator builds a new neighbour list at every call. For the fast part of
an MTS split that costs as much as a third of the call (768 water atoms, 3 A: about
1.6 ms of list against 3-8 ms of model). :class:`SkinNeighborList` builds the list once
out to the cutoff plus a skin and, while no atom has moved more than half the skin
since, only picks from it the pairs that are within the cutoff now: no pair can have
come within the cutoff from beyond the skin. The edges it gives are exactly those of a
fresh list (their order may differ, which changes sums only by rounding).

It replaces the ``NeighborListTransform`` of a ``NequIPCalculator`` (same cutoff and
per-edge-type cutoffs; :func:`use_skin_neighbor_list`), and builds its lists with that
transform's machinery.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Union

import torch
from nequip.data import AtomicDataDict
from nequip.data.transforms import NeighborListTransform
from nequip.nn.embedding.utils import cutoff_partialdict_to_tensor

from nequip_mts.md.settings import DEFAULT_NEIGHBOR_SKIN


class SkinNeighborList(torch.nn.Module):
    """Neighbour list transform that reuses its last list while atoms stay within the skin.

    Parameters
    ----------
    r_max : float
        Cutoff (A).
    skin : float
        Extra distance (A) the stored list reaches beyond each cutoff; the list is rebuilt
        once any atom has moved more than ``skin / 2`` since it was built, or the cell,
        the periodicity, the number or the types of the atoms change.
    per_edge_type_cutoff : dict, optional
        nequip's per-edge-type cutoffs (each at most ``r_max``), with ``type_names``.
    type_names : list of str, optional
    backend : str
        nequip neighbour-list backend for the rebuilds.
    """

    def __init__(
        self,
        r_max: float,
        skin: float = DEFAULT_NEIGHBOR_SKIN,
        per_edge_type_cutoff: Optional[Dict[str, Union[float, Dict[str, float]]]] = None,
        type_names: Optional[List[str]] = None,
        backend: Optional[str] = None,
    ):
        super().__init__()
        if not skin > 0:
            raise ValueError(f"skin must be positive, got {skin}")
        self.r_max = float(r_max)
        self.skin = float(skin)
        self.per_edge_type_cutoff = per_edge_type_cutoff
        self.type_names = type_names
        kwargs = {} if backend is None else {"backend": backend}
        self._build = NeighborListTransform(r_max=self.r_max + self.skin, **kwargs)
        self._cutoffs = None
        if per_edge_type_cutoff is not None:
            if type_names is None:
                raise ValueError("per_edge_type_cutoff needs type_names")
            self._cutoffs = cutoff_partialdict_to_tensor(per_edge_type_cutoff, list(type_names), self.r_max)
        self._stored = None
        self.builds = 0  # number of lists built (for tests and benchmarks)
        self.calls = 0

    def _pair_cutoffs(self, data, edge_index):
        if self._cutoffs is None:
            return self.r_max
        types = data[AtomicDataDict.ATOM_TYPE_KEY].view(-1)
        return self._cutoffs.to(data[AtomicDataDict.POSITIONS_KEY].dtype)[
            types[edge_index[0]], types[edge_index[1]]
        ]

    def _still_valid(self, data) -> bool:
        s = self._stored
        if s is None:
            return False
        pos = data[AtomicDataDict.POSITIONS_KEY]
        if pos.shape != s["pos"].shape:
            return False
        for key in (AtomicDataDict.CELL_KEY, AtomicDataDict.PBC_KEY, AtomicDataDict.ATOM_TYPE_KEY):
            if (key in data) != (key in s) or (key in data and not torch.equal(data[key], s[key])):
                return False
        moved = torch.linalg.vector_norm(pos - s["pos"], dim=-1).max()
        return bool(moved <= 0.5 * self.skin)

    def _rebuild(self, data):
        built = self._build(data.copy())
        edge_index = built[AtomicDataDict.EDGE_INDEX_KEY]
        shifts = built.get(AtomicDataDict.EDGE_CELL_SHIFT_KEY)
        if self._cutoffs is not None:
            # keep only the pairs within their own cutoff plus the skin
            reach = self._pair_cutoffs(data, edge_index) + self.skin
            keep = torch.nonzero(self._squared_lengths(data, edge_index, shifts) < reach * reach).view(-1)
            edge_index = edge_index[:, keep]
            shifts = None if shifts is None else shifts[keep]
        self._stored = {"pos": data[AtomicDataDict.POSITIONS_KEY].clone(), "edge_index": edge_index}
        if shifts is not None:
            self._stored["shifts"] = shifts
        for key in (AtomicDataDict.CELL_KEY, AtomicDataDict.PBC_KEY, AtomicDataDict.ATOM_TYPE_KEY):
            if key in data:
                self._stored[key] = data[key].clone()
        self.builds += 1

    def _squared_lengths(self, data, edge_index, shifts):
        # the edge vectors as nequip's with_edge_vectors_ forms them, for one frame
        pos = data[AtomicDataDict.POSITIONS_KEY]
        vec = torch.index_select(pos, 0, edge_index[1]) - torch.index_select(pos, 0, edge_index[0])
        if shifts is not None:
            vec = vec + shifts.to(pos.dtype) @ data[AtomicDataDict.CELL_KEY].view(3, 3)
        return (vec * vec).sum(-1)

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        self.calls += 1
        if not self._still_valid(data):
            self._rebuild(data)
        s = self._stored
        edge_index, shifts = s["edge_index"], s.get("shifts")
        with torch.no_grad():
            cutoff = self._pair_cutoffs(data, edge_index)
            keep = torch.nonzero(self._squared_lengths(data, edge_index, shifts) < cutoff * cutoff).view(-1)
        data = data.copy()
        data[AtomicDataDict.EDGE_INDEX_KEY] = torch.index_select(edge_index, 1, keep)
        if shifts is not None:
            data[AtomicDataDict.EDGE_CELL_SHIFT_KEY] = torch.index_select(shifts, 0, keep)
        return data


def use_skin_neighbor_list(calc, skin: float = DEFAULT_NEIGHBOR_SKIN):
    """Give a ``NequIPCalculator`` a :class:`SkinNeighborList` in place of its neighbour list.

    The cutoff, per-edge-type cutoffs and backend are those of the calculator's own
    ``NeighborListTransform``. Returns ``calc``; a calculator without one is returned as is.
    """
    transforms = list(getattr(calc, "transforms", []))
    for i, t in enumerate(transforms):
        if isinstance(t, NeighborListTransform):
            transforms[i] = SkinNeighborList(
                t.r_max,
                skin,
                per_edge_type_cutoff=t.per_edge_type_cutoff,
                type_names=t.type_names,
                backend=t.backend,
            )
            calc.transforms = transforms
            break
    return calc
