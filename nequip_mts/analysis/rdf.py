"""Partial radial distribution functions of periodic boxes, averaged over frames.

Pair distances come from matscipy's C neighbour list, which handles periodic
images to any cutoff, so ``rmax`` may exceed half the box length (ASE's
``ase.geometry.rdf.get_rdf`` refuses that).  The normalisation follows ASE
(>= 3.27) and LAMMPS ``compute rdf``:

    g_ab(r) = V / (N_a N_b) * <n_ab(r)> / (4/3 pi (r_hi^3 - r_lo^3)),

where n_ab counts, for every atom of group a, the atoms of group b in the
shell.  So g_ab = g_ba, and a finite ideal gas of N like atoms gives
g_aa -> (N - 1) / N rather than 1.

Groups are element symbols (``"O"``) or molecule-aware selectors
(``"O@H2O"``, ``"*@CH4O"``; see :mod:`.molecules`).  With
``intermolecular=True`` the pairs inside one molecule (found from covalent
connectivity in every frame) are left out of n_ab while the normalisation
stays the same, so the intermolecular g equals the full g wherever no
intramolecular pair falls, and a water g_OH loses its covalent peak only.

Sampling noise: :func:`rdf_halves` computes the RDF of each half of a run;
:func:`half_vs_half_noise` turns the two into the difference expected between
two independent full runs from sampling alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from matscipy.neighbours import neighbour_list

from .frames import load_frames
from .molecules import BOND_SCALE, find_molecules, group_mask, needs_molecules, parse_selector

WATER_PAIRS = (("O", "O"), ("O", "H"), ("H", "H"))


def pair_key(pair: tuple[str, str]) -> str:
    """Dictionary key of a pair: ``"OH"`` for two elements, ``"O@H2O-H@H2O"`` otherwise."""
    a, b = pair
    if a in atomic_numbers and b in atomic_numbers:
        return f"{a}{b}"
    return f"{a}-{b}"


def element_pairs(atoms: Atoms) -> list[tuple[str, str]]:
    """All unordered element pairs of ``atoms``, heaviest first (water: OO, OH, HH)."""
    syms = [chemical_symbols[z] for z in sorted(set(int(z) for z in atoms.numbers), reverse=True)]
    return [(a, b) for k, a in enumerate(syms) for b in syms[k:]]


def _histogram_sums(
    frames: Sequence[Atoms], pairs, edges, intermolecular: bool, bond_scale: float
) -> dict[str, np.ndarray]:
    """Sum over ``frames`` of every frame's g_ab on ``edges`` (not yet divided by frames)."""
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    rmax = float(edges[-1])
    selectors = {s for p in pairs for s in p}
    molecular = intermolecular or needs_molecules(selectors)
    acc = {pair_key(p): np.zeros(len(edges) - 1) for p in pairs}
    for atoms in frames:
        if not atoms.pbc.all():
            raise ValueError("partial_rdfs expects fully periodic boxes")
        mols = find_molecules(atoms, bond_scale) if molecular else None
        i, j, d, shifts = neighbour_list("ijdS", atoms, rmax)
        if intermolecular:
            keep = ~mols.intramolecular(i, j, shifts)
            i, j, d = i[keep], j[keep], d[keep]
        masks = {s: group_mask(atoms, s, mols) for s in selectors}
        vol = atoms.get_volume()
        for a, b in pairs:
            na, nb = np.count_nonzero(masks[a]), np.count_nonzero(masks[b])
            if na == 0 or nb == 0:
                raise ValueError(f"no {a} or no {b} atoms in a frame")
            # matscipy lists every ordered pair (i, j) once, so this counts b around each a.
            counts, _ = np.histogram(d[masks[a][i] & masks[b][j]], bins=edges)
            acc[pair_key((a, b))] += counts * vol / (na * nb * shell)
    return acc


def _check_pairs(pairs) -> list[tuple[str, str]]:
    pairs = [tuple(p) for p in pairs]
    for p in pairs:
        if len(p) != 2:
            raise ValueError(f"an RDF pair has two groups, got {p!r}")
        for s in p:
            parse_selector(s)
    return pairs


def _edges(rmax: float, nbins: int) -> np.ndarray:
    if not rmax > 0 or int(nbins) < 1:
        raise ValueError(f"need rmax > 0 and nbins >= 1, got rmax={rmax!r}, nbins={nbins!r}")
    return np.linspace(0.0, rmax, int(nbins) + 1)


def partial_rdfs(
    frames,
    pairs: Iterable[tuple[str, str]] = WATER_PAIRS,
    rmax: float = 6.0,
    nbins: int = 300,
    intermolecular: bool = False,
    bond_scale: float = BOND_SCALE,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frame-averaged partial RDFs g_ab(r).

    Parameters
    ----------
    frames : path, ase.Atoms or iterable of ase.Atoms
        Periodic configurations (any triclinic cell; the volume may vary).
    pairs : iterable of (str, str)
        Pairs of groups: element symbols, e.g. ``(("O", "O"), ("O", "H"))``, or
        molecule-aware selectors such as ``("O@H2O", "O@CH4O")`` (see
        :mod:`.molecules`).
    rmax : float
        Largest distance in Å; beyond half the box length is allowed.
    nbins : int
        Number of equal-width bins on ``[0, rmax]``.
    intermolecular : bool
        Leave out pairs within one molecule (same normalisation, see the
        module docstring).
    bond_scale : float
        Covalent-radius multiplier that defines the molecules.

    Returns
    -------
    r : ndarray, shape (nbins,)
        Bin centres in Å.
    g : dict of str -> ndarray
        Keyed by :func:`pair_key`: ``g["OH"]``, ``g["O@H2O-H@H2O"]``.
    """
    frames = load_frames(frames)
    if not frames:
        raise ValueError("no frames")
    pairs = _check_pairs(pairs)
    edges = _edges(rmax, nbins)
    acc = _histogram_sums(frames, pairs, edges, intermolecular, bond_scale)
    r = 0.5 * (edges[1:] + edges[:-1])
    return r, {k: v / len(frames) for k, v in acc.items()}


@dataclass
class RDFHalves:
    """RDFs of a run and of its two halves (first ``len // 2`` frames, the rest).

    Attributes
    ----------
    r : ndarray
        Bin centres in Å.
    g : dict of str -> ndarray
        The RDFs of all frames (the frame-weighted mean of the halves).
    first, second : dict of str -> ndarray
        The RDFs of each half.
    n_frames : int
    """

    r: np.ndarray
    g: dict[str, np.ndarray]
    first: dict[str, np.ndarray]
    second: dict[str, np.ndarray]
    n_frames: int

    def noise(self, rmin: float = 0.0) -> dict[str, float]:
        """Sampling noise of max |dg| per pair; see :func:`half_vs_half_noise`."""
        return half_vs_half_noise(self.first, self.second, self.r, rmin)

    def compare(self, other: "RDFHalves", rmin: float = 0.0) -> tuple[dict[str, float], dict[str, float]]:
        """Max |dg| between this run and ``other`` beyond ``rmin``, and its sampling noise.

        The noise of a difference of two runs is the mean of the two runs' own noises
        (:meth:`noise`). The runs must share their grid and pairs.
        """
        diff = rdf_max_abs_diff(self.g, other.g, r=self.r, rmin=rmin)
        mine, theirs = self.noise(rmin), other.noise(rmin)
        return diff, {k: 0.5 * (mine[k] + theirs[k]) for k in mine.keys() & theirs.keys()}


def rdf_halves(
    frames,
    pairs: Iterable[tuple[str, str]] = WATER_PAIRS,
    rmax: float = 6.0,
    nbins: int = 300,
    intermolecular: bool = False,
    bond_scale: float = BOND_SCALE,
) -> RDFHalves:
    """:func:`partial_rdfs` of a run and of its two halves, in one pass over the frames.

    Parameters are those of :func:`partial_rdfs`; the run needs at least 2 frames.
    """
    frames = load_frames(frames)
    if len(frames) < 2:
        raise ValueError("the RDF noise estimate needs at least 2 frames")
    pairs = _check_pairs(pairs)
    edges = _edges(rmax, nbins)
    half = len(frames) // 2
    s1 = _histogram_sums(frames[:half], pairs, edges, intermolecular, bond_scale)
    s2 = _histogram_sums(frames[half:], pairs, edges, intermolecular, bond_scale)
    n2 = len(frames) - half
    r = 0.5 * (edges[1:] + edges[:-1])
    return RDFHalves(
        r=r,
        g={k: (s1[k] + s2[k]) / len(frames) for k in s1},
        first={k: v / half for k, v in s1.items()},
        second={k: v / n2 for k, v in s2.items()},
        n_frames=len(frames),
    )


def half_vs_half_noise(
    first: dict[str, np.ndarray],
    second: dict[str, np.ndarray],
    r: np.ndarray | None = None,
    rmin: float = 0.0,
) -> dict[str, float]:
    """Max |dg| expected between two independent full runs from sampling alone.

    It is the max |g_first - g_second| of a run's two halves divided by sqrt(2):
    a half has twice the variance of the full run, and the difference of two
    independent full runs twice the variance of one, so the two factors of 2
    leave one sqrt(2).  To compare runs A and B, average the noise of A and B.

    Parameters
    ----------
    first, second : dict of str -> ndarray
        RDFs of the first and second half, on the same grid.
    r : ndarray, optional
        Bin centres; needed only with ``rmin``.
    rmin : float
        Ignore bins below this distance (Å).
    """
    return {k: v / np.sqrt(2.0) for k, v in rdf_max_abs_diff(first, second, r=r, rmin=rmin).items()}


def rdf_sampling_noise(frames, rmin: float = 0.0, **kwargs) -> dict[str, float]:
    """:func:`half_vs_half_noise` of one run; keyword arguments go to :func:`rdf_halves`."""
    return rdf_halves(frames, **kwargs).noise(rmin)


def running_coordination(r: np.ndarray, g: np.ndarray, density: float) -> np.ndarray:
    """Running coordination number n(r) = 4 pi rho * integral_0^r g(s) s^2 ds.

    Parameters
    ----------
    r, g : ndarray
        Bin centres (equal widths) and g(r) from :func:`partial_rdfs`.
    density : float
        Number density of the *neighbour* species (atoms/Å^3).

    Returns
    -------
    ndarray
        n at each bin's upper edge ``r + dr/2``.  The integral uses exact shell
        volumes, so it equals the mean neighbour count inside that edge.
    """
    dr = r[1] - r[0]
    lo, hi = r - 0.5 * dr, r + 0.5 * dr
    return np.cumsum(density * g * 4.0 / 3.0 * np.pi * (hi**3 - lo**3))


def rdf_max_abs_diff(
    g_ref: dict[str, np.ndarray],
    g_other: dict[str, np.ndarray],
    r: np.ndarray | None = None,
    rmin: float = 0.0,
) -> dict[str, float]:
    """Largest |g_ref(r) - g_other(r)| per pair, on a common r grid.

    Parameters
    ----------
    g_ref, g_other : dict of str -> ndarray
        Outputs of :func:`partial_rdfs` computed with the same bins.
    r : ndarray, optional
        Bin centres; needed only with ``rmin``.
    rmin : float
        Ignore bins below this distance (Å), e.g. to skip noisy empty regions.

    Returns
    -------
    dict of str -> float
        Keys present in both inputs.
    """
    out = {}
    for key in g_ref.keys() & g_other.keys():
        a, b = np.asarray(g_ref[key]), np.asarray(g_other[key])
        if a.shape != b.shape:
            raise ValueError(f"RDF {key}: grids differ ({a.shape} vs {b.shape})")
        mask = np.ones(a.shape, bool) if r is None else np.asarray(r) >= rmin
        out[key] = float(np.max(np.abs(a[mask] - b[mask])))
    return out


def first_peak(
    r: np.ndarray, g: np.ndarray, rmin: float = 0.0, rmax: float | None = None
) -> tuple[float, float]:
    """Position (Å) and height of the largest maximum of g in ``[rmin, rmax]``."""
    mask = (r >= rmin) & (r <= (r[-1] if rmax is None else rmax))
    k = np.argmax(np.where(mask, g, -np.inf))
    return float(r[k]), float(g[k])


def number_density(atoms: Atoms, symbol: str) -> float:
    """Number density (atoms/Å^3) of one element (or group selector) in a periodic box."""
    return np.count_nonzero(group_mask(atoms, symbol)) / atoms.get_volume()


__all__: Sequence[str] = (
    "WATER_PAIRS",
    "RDFHalves",
    "element_pairs",
    "first_peak",
    "half_vs_half_noise",
    "number_density",
    "pair_key",
    "partial_rdfs",
    "rdf_halves",
    "rdf_max_abs_diff",
    "rdf_sampling_noise",
    "running_coordination",
)
