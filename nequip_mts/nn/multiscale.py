"""Torch modules of the multiscale (fast + slow) model.

This file ends up inside ``nequip-package`` archives, so it imports only torch
and nequip's ``data``/``nn`` packages.
"""

import torch
from nequip.data import AtomicDataDict
from nequip.nn import GraphModuleMixin, with_edge_vectors_

from ._keys import FAST_ENERGY_KEY, FAST_FORCES_KEY, SLOW_ENERGY_KEY, SLOW_FORCES_KEY


class ZeroInitEnergyGate(GraphModuleMixin, torch.nn.Module):
    """Multiply per-atom and total energies by a trainable scalar that starts at zero.

    Appended to the slow model's energy model so that the slow part outputs exactly
    zero (energy, forces and stress) at initialisation: stage 1 of co-training then
    trains the fast model alone against the reference, and the slow model grows from
    zero in stage 2 to learn what the fast one cannot.
    """

    def __init__(self, irreps_in=None):
        super().__init__()
        self._init_irreps(irreps_in=irreps_in, irreps_out=irreps_in)
        self.gate = torch.nn.Parameter(torch.zeros(()))

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        for key in (AtomicDataDict.PER_ATOM_ENERGY_KEY, AtomicDataDict.TOTAL_ENERGY_KEY):
            if key in data:
                data[key] = data[key] * self.gate
        return data


class PruneEdges(GraphModuleMixin, torch.nn.Module):
    """Keep only the edges shorter than ``r_max``.

    The fast model is fed the slow model's (longer) neighbour list inside the
    composite; its cutoff envelope makes longer edges contribute exactly zero, so
    dropping them changes nothing but the cost.
    """

    def __init__(self, r_max: float, irreps_in=None):
        super().__init__()
        self._init_irreps(irreps_in=irreps_in, irreps_out=irreps_in)
        self.r_max = float(r_max)

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        data = data.copy()
        with torch.no_grad():
            lengths = with_edge_vectors_(data.copy(), with_lengths=True)[AtomicDataDict.EDGE_LENGTH_KEY].view(
                -1
            )
            keep = torch.nonzero(lengths < self.r_max).view(-1)
        data[AtomicDataDict.EDGE_INDEX_KEY] = torch.index_select(data[AtomicDataDict.EDGE_INDEX_KEY], 1, keep)
        if AtomicDataDict.EDGE_CELL_SHIFT_KEY in data:
            data[AtomicDataDict.EDGE_CELL_SHIFT_KEY] = torch.index_select(
                data[AtomicDataDict.EDGE_CELL_SHIFT_KEY], 0, keep
            )
        # derived edge fields would be stale after pruning; models recompute them
        for key in (
            AtomicDataDict.EDGE_VECTORS_KEY,
            AtomicDataDict.EDGE_LENGTH_KEY,
            AtomicDataDict.EDGE_TRANSPOSE_PERM_KEY,
        ):
            if key in data:
                del data[key]
        return data


class MultiscaleSum(GraphModuleMixin, torch.nn.Module):
    """``E = E_fast + E_slow`` with forces, virial and stress summed likewise.

    ``fast`` and ``slow`` are complete force models (``ForceStressOutput``) that are
    shared, parameter for parameter, with the standalone fast and slow
    ``GraphModel``s, so each part can be exported on its own.  Each part's energy
    and forces are also output under their own fields.  The two parts have
    disjoint autograd graphs, so two backward passes cost the same as one on the sum.

    The parts may also be nequip ``PartialForceOutput``s (per-atom energy
    derivatives); their partial forces are summed like the forces. nequip's model
    test mixins build such a partial-force twin of the sum.
    """

    def __init__(self, fast: GraphModuleMixin, slow: GraphModuleMixin, fast_r_max: float):
        super().__init__()
        self.prune = PruneEdges(fast_r_max, irreps_in=slow.irreps_in)
        self.fast = fast
        self.slow = slow
        irreps_out = dict(slow.irreps_out)
        irreps_out.update(
            {
                FAST_ENERGY_KEY: "0e",
                SLOW_ENERGY_KEY: "0e",
                FAST_FORCES_KEY: "1o",
                SLOW_FORCES_KEY: "1o",
            }
        )
        irreps_in = dict(fast.irreps_in)
        irreps_in.update(slow.irreps_in)
        self._init_irreps(irreps_in=irreps_in, irreps_out=irreps_out)

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        fast_out = self.fast(self.prune(data))
        slow_out = self.slow(data.copy())
        out = slow_out.copy()
        for key in (
            AtomicDataDict.TOTAL_ENERGY_KEY,
            AtomicDataDict.PER_ATOM_ENERGY_KEY,
            AtomicDataDict.FORCE_KEY,
            AtomicDataDict.VIRIAL_KEY,
            AtomicDataDict.STRESS_KEY,
            AtomicDataDict.PARTIAL_FORCE_KEY,
        ):
            if key in fast_out and key in slow_out:
                out[key] = fast_out[key] + slow_out[key]
        out[FAST_ENERGY_KEY] = fast_out[AtomicDataDict.TOTAL_ENERGY_KEY]
        out[SLOW_ENERGY_KEY] = slow_out[AtomicDataDict.TOTAL_ENERGY_KEY]
        if AtomicDataDict.FORCE_KEY in fast_out:
            out[FAST_FORCES_KEY] = fast_out[AtomicDataDict.FORCE_KEY]
            out[SLOW_FORCES_KEY] = slow_out[AtomicDataDict.FORCE_KEY]
        return out
