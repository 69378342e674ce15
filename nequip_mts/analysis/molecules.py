"""Molecules from covalent connectivity, and atom groups that know about them.

Two atoms are bonded when their distance is below the sum of their covalent
radii (``ase.neighborlist.natural_cutoffs``, scaled by ``bond_scale``,
default 1.2); a molecule is a connected component of that bond graph.  Periodic images are
followed: every atom gets the integer image offset that makes its molecule
whole, so a pair of atoms counts as *intramolecular* only for the one image
in which they are bonded through the molecule, and an atom's own periodic
image (or another image of its molecule) is an intermolecular neighbour.

Group selectors, used by the RDF and diffusion functions:

``"O"``
    every oxygen atom;
``"O@H2O"``
    the oxygens of molecules whose formula is H2O (any order of symbols:
    ``"O@OH2"`` is the same; formulas are compared in Hill order);
``"*@H2O"``
    every atom of an H2O molecule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from ase.formula import Formula
from ase.neighborlist import natural_cutoffs


@dataclass
class Molecules:
    """Molecules of one frame.

    Attributes
    ----------
    labels : ndarray of int, shape (atoms,)
        Molecule index of every atom (0 .. n_molecules - 1).
    offsets : ndarray of int, shape (atoms, 3)
        Image offsets, in cell vectors, that make each molecule whole:
        ``positions + offsets @ cell`` are unwrapped molecule coordinates.
    formulas : list of str
        Hill formula of every molecule (``"H2O"``, ``"CH4O"``).
    periodic : ndarray of bool, shape (n_molecules,)
        Molecules bonded to their own periodic image (an infinite chain or
        network); for these, every pair of their atoms counts as intramolecular.
    """

    labels: np.ndarray
    offsets: np.ndarray
    formulas: list[str]
    periodic: np.ndarray

    @property
    def n_molecules(self) -> int:
        return len(self.formulas)

    def atom_formulas(self) -> np.ndarray:
        """Formula of the molecule of every atom, shape (atoms,)."""
        return np.asarray(self.formulas, dtype=object)[self.labels]

    def intramolecular(self, i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """Which neighbour-list pairs ``(i, j, shift)`` lie within one molecule.

        ``shifts`` are the cell shifts of matscipy's ``"S"`` (the vector of a
        pair is ``x_j - x_i + S @ cell``).
        """
        same = self.labels[i] == self.labels[j]
        whole = np.all(np.asarray(shifts) == self.offsets[j] - self.offsets[i], axis=1)
        return same & (whole | self.periodic[self.labels[i]])


def hill_formula(formula: str) -> str:
    """``formula`` in Hill order (``"OH2"`` -> ``"H2O"``); ValueError if it is not one."""
    try:
        return Formula(formula).format("hill")
    except ValueError as err:
        raise ValueError(f"{formula!r} is not a chemical formula ({err})") from None


#: default multiplier of the covalent radii: bonds O-H up to 1.16 Å and C-H up to
#: 1.28 Å (thermal O-H stretches reach 1.1 Å; a hydrogen bond's H...O is 1.6-2 Å)
BOND_SCALE = 1.2


def find_molecules(atoms: Atoms, bond_scale: float = BOND_SCALE) -> Molecules:
    """Molecules of ``atoms`` from covalent radii (see the module docstring).

    Parameters
    ----------
    atoms : ase.Atoms
        Any cell and periodicity.
    bond_scale : float
        Multiplier of the covalent radii (``ase.neighborlist.natural_cutoffs``):
        atoms a and b are bonded below ``bond_scale * (r_a + r_b)``; with 1.2,
        O-H below 1.16 Å and H-H below 0.74 Å.

    Returns
    -------
    Molecules
    """
    from matscipy.neighbours import neighbour_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not bond_scale > 0:
        raise ValueError(f"bond_scale must be > 0, got {bond_scale!r}")
    n = len(atoms)
    radii = np.asarray(natural_cutoffs(atoms, mult=bond_scale), dtype=float)
    i, j, shifts = neighbour_list("ijS", atoms, radii)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    n_mol, labels = connected_components(graph, directed=False)

    # breadth-first over all molecules at once: each newly reached atom j takes
    # the offset of the atom i it was reached from, plus the bond's cell shift
    offsets = np.zeros((n, 3), dtype=int)
    visited = np.zeros(n, dtype=bool)
    visited[np.unique(labels, return_index=True)[1]] = True
    while True:
        edge = visited[i] & ~visited[j]
        if not edge.any():
            break
        new, first = np.unique(j[edge], return_index=True)
        offsets[new] = offsets[i[edge][first]] + shifts[edge][first]
        visited[new] = True
    bad = np.any(offsets[j] - offsets[i] != shifts, axis=1)
    periodic = np.zeros(n_mol, dtype=bool)
    periodic[labels[i[bad]]] = True

    # formulas from element counts per molecule (one Formula call per composition)
    elements, z_index = np.unique(atoms.numbers, return_inverse=True)
    counts = np.zeros((n_mol, len(elements)), dtype=int)
    np.add.at(counts, (labels, z_index.ravel()), 1)
    rows, inverse = np.unique(counts, axis=0, return_inverse=True)
    names = [
        Formula.from_dict({chemical_symbols[z]: int(c) for z, c in zip(elements, row) if c}).format("hill")
        for row in rows
    ]
    formulas = [names[k] for k in np.asarray(inverse).ravel()]
    return Molecules(labels=labels, offsets=offsets, formulas=formulas, periodic=periodic)


def parse_selector(selector: str) -> tuple[str, str | None]:
    """Split a group selector into ``(element or "*", Hill formula or None)``.

    Raises ValueError for an unknown element or formula, naming the valid forms.
    """
    text = str(selector).strip()
    element, _, formula = text.partition("@")
    if element != "*" and element not in atomic_numbers:
        raise ValueError(
            f"group {selector!r}: {element!r} is not an element symbol; write e.g. O, O@H2O or *@H2O"
        )
    if element == "*" and not formula:
        raise ValueError(f"group {selector!r}: '*' needs a molecule, e.g. *@H2O")
    return element, (hill_formula(formula) if formula else None)


def needs_molecules(selectors: Iterable[str]) -> bool:
    """Whether any selector names a molecule (``EL@FORMULA``)."""
    return any(parse_selector(s)[1] is not None for s in selectors)


def group_mask(
    atoms: Atoms, selector: str, molecules: Molecules | None = None, bond_scale: float = BOND_SCALE
) -> np.ndarray:
    """Boolean mask of the atoms that ``selector`` picks in ``atoms``.

    ``molecules`` (from :func:`find_molecules`) is needed, and computed with
    ``bond_scale`` if not given, for selectors that name a molecule.
    """
    element, formula = parse_selector(selector)
    mask = np.ones(len(atoms), dtype=bool) if element == "*" else atoms.numbers == atomic_numbers[element]
    if formula is not None:
        molecules = find_molecules(atoms, bond_scale) if molecules is None else molecules
        mask &= molecules.atom_formulas() == formula
    return mask


def group_indices(
    atoms: Atoms, selector: str, molecules: Molecules | None = None, bond_scale: float = BOND_SCALE
) -> np.ndarray:
    """Indices of the atoms that ``selector`` picks (see :func:`group_mask`)."""
    return np.flatnonzero(group_mask(atoms, selector, molecules, bond_scale))


__all__ = [
    "BOND_SCALE",
    "Molecules",
    "find_molecules",
    "group_indices",
    "group_mask",
    "hill_formula",
    "needs_molecules",
    "parse_selector",
]
