"""Partial radial distribution functions of periodic boxes, averaged over frames.

Pair distances come from matscipy's C neighbour list, which handles periodic
images to any cutoff, so ``rmax`` may exceed half the box length (ASE's
``ase.geometry.rdf.get_rdf`` refuses that).  The normalisation follows ASE
(>= 3.27) and LAMMPS ``compute rdf``:

    g_ab(r) = V / (N_a N_b) * <n_ab(r)> / (4/3 pi (r_hi^3 - r_lo^3)),

where n_ab counts, for every atom of species a, the atoms of species b in the
shell.  So g_ab = g_ba, and a finite ideal gas of N like atoms gives
g_aa -> (N - 1) / N rather than 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from matscipy.neighbours import neighbour_list

from .frames import load_frames

WATER_PAIRS = (("O", "O"), ("O", "H"), ("H", "H"))


def _pair_key(pair: tuple[str, str]) -> str:
    return f"{pair[0]}{pair[1]}"


def partial_rdfs(frames, pairs: Iterable[tuple[str, str]] = WATER_PAIRS, rmax: float = 6.0,
                 nbins: int = 300) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frame-averaged partial RDFs g_ab(r).

    Parameters
    ----------
    frames : path, ase.Atoms or iterable of ase.Atoms
        Periodic configurations (any triclinic cell; the volume may vary).
    pairs : iterable of (str, str)
        Element pairs, e.g. ``(("O", "O"), ("O", "H"), ("H", "H"))``.
    rmax : float
        Largest distance in Å; beyond half the box length is allowed.
    nbins : int
        Number of equal-width bins on ``[0, rmax]``.

    Returns
    -------
    r : ndarray, shape (nbins,)
        Bin centres in Å.
    g : dict of str -> ndarray
        ``g["OH"]`` etc. (key = the two symbols concatenated).
    """
    frames = load_frames(frames)
    pairs = [tuple(p) for p in pairs]
    edges = np.linspace(0.0, rmax, nbins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    acc = {_pair_key(p): np.zeros(nbins) for p in pairs}
    for atoms in frames:
        if not atoms.pbc.all():
            raise ValueError("partial_rdfs expects fully periodic boxes")
        i, j, d = neighbour_list("ijd", atoms, rmax)
        zi, zj = atoms.numbers[i], atoms.numbers[j]
        vol = atoms.get_volume()
        for a, b in pairs:
            za, zb = atomic_numbers[a], atomic_numbers[b]
            na = np.count_nonzero(atoms.numbers == za)
            nb = np.count_nonzero(atoms.numbers == zb)
            if na == 0 or nb == 0:
                raise ValueError(f"no {a} or no {b} atoms in a frame")
            # matscipy lists every ordered pair (i, j) once, so this counts b around each a.
            counts, _ = np.histogram(d[(zi == za) & (zj == zb)], bins=edges)
            acc[_pair_key((a, b))] += counts * vol / (na * nb * shell)
    r = 0.5 * (edges[1:] + edges[:-1])
    return r, {k: v / len(frames) for k, v in acc.items()}


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


def rdf_max_abs_diff(g_ref: dict[str, np.ndarray], g_other: dict[str, np.ndarray],
                     r: np.ndarray | None = None, rmin: float = 0.0) -> dict[str, float]:
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


def first_peak(r: np.ndarray, g: np.ndarray, rmin: float = 0.0,
               rmax: float | None = None) -> tuple[float, float]:
    """Position (Å) and height of the largest maximum of g in ``[rmin, rmax]``."""
    mask = (r >= rmin) & (r <= (r[-1] if rmax is None else rmax))
    k = np.argmax(np.where(mask, g, -np.inf))
    return float(r[k]), float(g[k])


def number_density(atoms: Atoms, symbol: str) -> float:
    """Number density (atoms/Å^3) of one element in a periodic box."""
    return np.count_nonzero(atoms.numbers == atomic_numbers[symbol]) / atoms.get_volume()


__all__: Sequence[str] = ("WATER_PAIRS", "partial_rdfs", "running_coordination",
                          "rdf_max_abs_diff", "first_peak", "number_density")
