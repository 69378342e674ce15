"""Topology watch: stop MD when a covalent bond breaks or forms.

A model with a false minimum along a bond can dissociate every molecule while the
temperature stays normal under a strong thermostat; nothing else then stops the run.
:class:`TopologyWatch` compares the covalent bond graph with the one of the starting
structure.

Bonds are found as in :mod:`nequip_mts.analysis.molecules`: atoms ``a`` and ``b`` are
bonded at the start when closer than ``bond_scale * (r_a + r_b)`` (covalent radii from
``ase.neighborlist.natural_cutoffs``, ``bond_scale`` 1.2). The watch uses hysteresis, so
that thermal stretching and close contacts do not trigger it:

- a starting bond is **broken** once longer than ``break_scale * (r_a + r_b)``
  (default 1.4: O-H 1.36 A, C-H 1.50 A, C-O 1.99 A; thermal O-H stretches reach 1.1 A);
- a new bond is **formed** once two atoms not bonded at the start come closer than
  ``form_scale * (r_a + r_b)`` (default 1.0: O-H 0.97 A; a hydrogen bond's H...O is 1.6-2 A).

Import-light: numpy at import; ase, matscipy and scipy when a watch is built or used.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BREAK_SCALE", "FORM_SCALE", "TOPOLOGY_INTERVAL", "TopologyWatch", "holds_molecules"]

#: a starting bond is broken beyond this multiple of the covalent-radius sum
BREAK_SCALE = 1.4
#: a new bond forms below this multiple of the covalent-radius sum
FORM_SCALE = 1.0
#: default number of MD steps between two checks (one neighbour list each)
TOPOLOGY_INTERVAL = 10


def _has_cell(atoms) -> bool:
    return abs(np.linalg.det(atoms.cell.array)) > 1e-9


def _neighbour_list(quantities, atoms, cutoffs):
    """Pairs within ``cutoffs[i] + cutoffs[j]``: matscipy's list (fast) needs a cell,
    ASE's handles a molecule in vacuum without one."""
    if _has_cell(atoms):
        from matscipy.neighbours import neighbour_list
    else:
        from ase.neighborlist import neighbor_list as neighbour_list
    return neighbour_list(quantities, atoms, cutoffs)


def holds_molecules(atoms, bond_scale=None) -> bool:
    """Whether ``atoms`` holds molecules: some bonded group of more than one atom, and
    no group bonded to its own periodic image (a metal, a covalent crystal or a polymer
    is one periodic network, whose bond graph is not a molecular topology)."""
    from ase.neighborlist import natural_cutoffs

    from nequip_mts.analysis.molecules import BOND_SCALE, find_molecules

    bond_scale = BOND_SCALE if bond_scale is None else bond_scale
    if _has_cell(atoms):
        molecules = find_molecules(atoms, bond_scale)
        sizes = np.bincount(molecules.labels, minlength=molecules.n_molecules)
        return bool((sizes > 1).any() and not molecules.periodic.any())
    # no cell, so no periodic images: a bond is enough
    i, _ = _neighbour_list("ij", atoms, np.asarray(natural_cutoffs(atoms, mult=bond_scale)))
    return len(i) > 0


def _pair_name(atoms, i, j) -> str:
    symbols = atoms.get_chemical_symbols()
    return f"{symbols[i]}{i}-{symbols[j]}{j}"


class TopologyWatch:
    """The covalent bond graph of a starting structure, and a check against it.

    Parameters
    ----------
    reference : ase.Atoms
        The starting structure; its bonds are the ones that must persist.
    bond_scale, break_scale, form_scale : float, optional
        Multiples of the covalent-radius sum: bonded at the start, broken, formed
        (module docstring; ``bond_scale`` defaults to
        :data:`nequip_mts.analysis.molecules.BOND_SCALE`).
    interval : int
        Check every ``interval`` MD steps (see :class:`~nequip_mts.md.safety.StabilityGuard`).
    """

    def __init__(
        self,
        reference,
        bond_scale=None,
        break_scale=BREAK_SCALE,
        form_scale=FORM_SCALE,
        interval=TOPOLOGY_INTERVAL,
    ):
        from ase.neighborlist import natural_cutoffs

        from nequip_mts.analysis.molecules import BOND_SCALE

        bond_scale = BOND_SCALE if bond_scale is None else float(bond_scale)
        if not form_scale < bond_scale < break_scale:
            raise ValueError(
                f"topology watch: need form_scale < bond_scale < break_scale, got "
                f"{form_scale}, {bond_scale}, {break_scale}"
            )
        if int(interval) < 1:
            raise ValueError(f"topology watch: interval must be >= 1, got {interval}")
        self.radii = np.asarray(natural_cutoffs(reference), dtype=float)
        self.break_scale, self.form_scale = float(break_scale), float(form_scale)
        self.interval = int(interval)
        i, j = _neighbour_list("ij", reference, self.radii * bond_scale)
        keep = i < j
        self.bonds = np.stack([i[keep], j[keep]], axis=1)
        self._bonded = {(int(a), int(b)) for a, b in self.bonds}

    @property
    def num_bonds(self) -> int:
        """Bonds of the starting structure."""
        return len(self.bonds)

    def _lengths(self, atoms, pairs):
        from ase.geometry import find_mic

        vectors = atoms.positions[pairs[:, 1]] - atoms.positions[pairs[:, 0]]
        if atoms.pbc.any():
            vectors, _ = find_mic(vectors, atoms.cell, atoms.pbc)
        return np.linalg.norm(vectors, axis=1)

    def check(self, atoms):
        """Return a message naming the broken or formed bonds, or ``None`` if intact."""
        problems = []
        if self.num_bonds:
            limits = self.break_scale * self.radii[self.bonds].sum(axis=1)
            lengths = self._lengths(atoms, self.bonds)
            for k in np.flatnonzero(~(lengths <= limits)):
                i, j = self.bonds[k]
                problems.append(
                    f"bond {_pair_name(atoms, i, j)} broke ({lengths[k]:.2f} A > {limits[k]:.2f} A)"
                )
        i, j, d = _neighbour_list("ijd", atoms, self.radii * self.form_scale)
        for a, b, length in zip(i, j, d):
            if a < b and (int(a), int(b)) not in self._bonded:
                limit = self.form_scale * (self.radii[a] + self.radii[b])
                problems.append(f"bond {_pair_name(atoms, a, b)} formed ({length:.2f} A < {limit:.2f} A)")
        if not problems:
            return None
        shown = "; ".join(problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        return f"bond topology changed: {shown}{more}"
