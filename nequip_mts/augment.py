"""Distorted frames for training data: stretched, compressed and bent bonds, close contacts.

MD frames at the working temperature never sample the repulsive wall of a short contact or
a bond stretched far past its thermal range, so a potential trained on them alone may have
false minima there (``nequip-mts validate`` scans bonds from 0.7x to 1.8x). This module
makes frames that sample those regions from base frames (the user's MD frames); the
command line is ``nequip-mts augment`` (docs/augment.md).

Bonds and molecules come from covalent radii as everywhere in the package
(:mod:`nequip_mts.analysis.molecules`): atoms ``a`` and ``b`` are bonded closer than
``bond_scale * (r_a + r_b)`` (``ase.neighborlist.natural_cutoffs``, default 1.2). The kinds
of distortion, each tagged in ``atoms.info["config_type"]``:

``stretch``, ``compress``
    set a random bond i-j to a factor times its length. When cutting the bond splits the
    molecule, the smaller side moves rigidly along the bond; in a ring or a periodic
    network atom j moves alone.
``bend``
    rotate one side of an angle j-i-k (the smaller of j's and k's, or the atom alone in a
    ring) about the axis through i normal to the plane of the angle.
``contact``
    translate a random molecule rigidly towards its nearest neighbour molecule until their
    closest atoms are a factor times their covalent-radius sum apart (H...H: a distance).
``rattle``
    a Gaussian displacement of every atom.
``hot_md``
    frames of Langevin MD with the reference calculator at a high temperature.

All moves work on bond vectors with their periodic image shifts, so a molecule split across
the cell boundary is handled; positions are never wrapped. Every distorted frame also gets a
small rattle of all atoms. Units: A, degrees, K, eV, fs.

Import-light: numpy at import; ase, matscipy and scipy inside the functions.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from nequip_mts.errors import InputError, first_line

__all__ = [
    "DISTORTION_KINDS",
    "KINDS",
    "AugmentResult",
    "AugmentSettings",
    "NotApplicable",
    "Topology",
    "augment",
    "bend_angle",
    "distort",
    "label",
    "move_into_contact",
    "plan_frames",
    "set_bond_length",
]

#: the geometric distortions, in the order frames are dealt out
DISTORTION_KINDS = ("stretch", "compress", "bend", "contact", "rattle")
#: every config_type a new frame can get
KINDS = (*DISTORTION_KINDS, "hot_md")


class NotApplicable(ValueError):
    """A distortion that the frame offers nothing for (no bonds, a single molecule)."""


@dataclass
class AugmentSettings:
    """What ``nequip-mts augment`` makes; the defaults are the command line's.

    Attributes
    ----------
    n_frames : int
        Distorted frames in all, dealt out over ``kinds`` in turn (so each kind gets
        ``n_frames / len(kinds)``, the first kinds one more when it does not divide), on
        base frames evenly spread over the input.
    kinds : tuple of str
        Of :data:`DISTORTION_KINDS`.
    per_frame : int
        Bonds, angles or molecule pairs distorted in each stretch, compress, bend or contact
        frame.
    stretch, compress : (float, float)
        Range of the factor on the bond length (uniform).
    bend_deg : (float, float)
        Range of the magnitude of the angle change, degrees (sign at random).
    angle_limits_deg : (float, float)
        The new angle stays within these, degrees.
    contact : (float, float)
        Range of the closest distance, in multiples of the covalent-radius sum.
    contact_hh_A : (float, float)
        Range of the closest distance when both closest atoms are H, A.
    rattle_A : float
        Standard deviation of the ``rattle`` kind's displacement, A.
    final_rattle_A : float
        Standard deviation of the displacement every distorted frame gets, A.
    bond_scale : float
        Multiplier of the covalent radii for bonds.
    hot_md_frames, hot_md_temperature_K, hot_md_stride, hot_md_timestep_fs, hot_md_friction_per_fs
        Langevin MD frames: how many, temperature, MD steps between stored frames, time
        step, friction. One run per :data:`HOT_MD_FRAMES_PER_RUN` frames, each from an
        evenly spaced base frame with Maxwell-Boltzmann velocities at the temperature.
    seed : int
        Frame ``k`` draws from ``numpy.random.default_rng([seed, k])``.
    """

    n_frames: int = 100
    kinds: tuple = DISTORTION_KINDS
    per_frame: int = 3
    stretch: tuple = (1.15, 1.7)
    compress: tuple = (0.72, 0.92)
    bend_deg: tuple = (15.0, 45.0)
    angle_limits_deg: tuple = (40.0, 175.0)
    contact: tuple = (1.3, 2.2)
    contact_hh_A: tuple = (0.8, 1.4)
    rattle_A: float = 0.08
    final_rattle_A: float = 0.02
    bond_scale: float = 1.2
    hot_md_frames: int = 0
    hot_md_temperature_K: float = 600.0
    hot_md_stride: int = 20
    hot_md_timestep_fs: float = 0.5
    hot_md_friction_per_fs: float = 0.01
    seed: int = 0

    def check(self) -> "AugmentSettings":
        """Raise :class:`InputError`, naming the option, for a setting out of range."""
        unknown = [k for k in self.kinds if k not in DISTORTION_KINDS]
        if unknown:
            raise InputError(
                f"--kinds: unknown kind {unknown[0]!r}; choose from {' '.join(DISTORTION_KINDS)}"
            )
        if self.n_frames < 0 or self.hot_md_frames < 0:
            raise InputError("--n-frames and --hot-md-frames must be >= 0")
        if self.n_frames and not self.kinds:
            raise InputError("--kinds is empty; name at least one of " + " ".join(DISTORTION_KINDS))
        if self.n_frames + self.hot_md_frames == 0:
            raise InputError("nothing to make: --n-frames and --hot-md-frames are both 0")
        if self.per_frame < 1:
            raise InputError(f"--per-frame must be at least 1, got {self.per_frame}")

        def ordered(name, pair, low, high):
            a, b = pair
            if not (low <= a <= b <= high):
                raise InputError(
                    f"{name} must be two numbers with {low:g} <= MIN <= MAX <= {high:g}, got {a:g} {b:g}"
                )

        ordered("--stretch-range", self.stretch, 1.0, 10.0)
        ordered("--compress-range", self.compress, 0.1, 1.0)
        ordered("--bend-deg", self.bend_deg, 0.0, 180.0)
        ordered("--angle-limits-deg", self.angle_limits_deg, 0.0, 180.0)
        ordered("--contact-range", self.contact, 0.1, 10.0)
        ordered("--contact-hh-A", self.contact_hh_A, 0.1, 10.0)
        for name, value in (("--rattle-A", self.rattle_A), ("--final-rattle-A", self.final_rattle_A)):
            if not value >= 0:
                raise InputError(f"{name} must be >= 0 A, got {value}")
        if not self.bond_scale > 0:
            raise InputError(f"--bond-scale must be positive, got {self.bond_scale}")
        if self.hot_md_frames:
            if not self.hot_md_temperature_K > 0:
                raise InputError(f"--hot-md-temperature-K must be positive, got {self.hot_md_temperature_K}")
            if self.hot_md_stride < 1:
                raise InputError(f"--hot-md-stride must be at least 1, got {self.hot_md_stride}")
            if not self.hot_md_timestep_fs > 0:
                raise InputError(f"--hot-md-timestep-fs must be positive, got {self.hot_md_timestep_fs}")
        return self


#: hot-MD frames per Langevin run (each run starts from its own base frame)
HOT_MD_FRAMES_PER_RUN = 10


# --------------------------------------------------------------------------- topology


class Topology:
    """Covalent bonds (with their periodic image shifts) and molecules of one frame.

    A bond ``(i, j, S)`` has the vector ``x_j - x_i + S @ cell``; both directions are
    stored. It stays valid while atoms move by less than half a cell and are not wrapped.

    Parameters
    ----------
    atoms : ase.Atoms
    bond_scale : float
        Multiplier of the covalent radii.
    """

    def __init__(self, atoms, bond_scale: float = 1.2):
        from ase.neighborlist import natural_cutoffs

        from nequip_mts.analysis.molecules import find_molecules
        from nequip_mts.md.topology import _has_cell, _neighbour_list

        self.cell = np.array(atoms.cell.array, dtype=float)
        self.n_atoms = len(atoms)
        self.radii = np.asarray(natural_cutoffs(atoms), dtype=float)
        i, j, shifts = _neighbour_list("ijS", atoms, self.radii * bond_scale)
        self.i, self.j, self.shifts = np.asarray(i), np.asarray(j), np.asarray(shifts, dtype=int)
        self.neighbours = [[] for _ in range(self.n_atoms)]
        for a, b, s in zip(self.i, self.j, self.shifts):
            self.neighbours[a].append((int(b), tuple(int(x) for x in s)))
        probe = atoms.copy()
        probe.calc = None
        if not _has_cell(probe):
            # no cell, no images: a box around the atoms for matscipy (labels do not move)
            probe.pbc = False
            probe.center(vacuum=2.0 * bond_scale * float(self.radii.max()) + 1.0)
        self.molecules = find_molecules(probe, bond_scale)

    def bond_list(self) -> np.ndarray:
        """Each bond between two atoms once, rows ``(i, j, S0, S1, S2)`` with ``i < j``."""
        keep = self.i < self.j
        return np.column_stack([self.i[keep], self.j[keep], self.shifts[keep]])

    def bond_vector(self, positions, i, j, shift) -> np.ndarray:
        return positions[j] - positions[i] + np.asarray(shift) @ self.cell

    def side(self, i: int, j: int, shift) -> Optional[dict]:
        """The atoms on j's side of bond ``(i, j, shift)`` with their image shifts, or ``None``.

        Returns ``{atom: S}`` such that ``x_atom + S @ cell`` are whole coordinates of the
        fragment with ``x_j + shift @ cell`` the image of j bonded to ``i``; ``None`` when
        cutting the bond does not split the molecule (a ring, a periodic network).
        """
        start = tuple(int(x) for x in shift)
        back = tuple(-x for x in start)
        found = {j: np.array(start)}
        queue = deque([j])
        while queue:
            a = queue.popleft()
            for b, s in self.neighbours[a]:
                if (a == j and b == i and s == back) or (a == i and b == j and s == start):
                    continue
                if b == i:
                    return None
                image = found[a] + np.array(s)
                if b in found:
                    if not np.array_equal(found[b], image):
                        return None  # reached again through a periodic image
                    continue
                found[b] = image
                queue.append(b)
        return found

    def molecule_size(self, atom: int) -> int:
        return int(np.count_nonzero(self.molecules.labels == self.molecules.labels[atom]))


def _name(symbols, a) -> str:
    return f"{symbols[a]}{a}"


# --------------------------------------------------------------------------- distortions


def set_bond_length(
    atoms, i: int, j: int, factor: float, topology: Optional[Topology] = None, shift=None
) -> str:
    """Set bond i-j to ``factor`` times its length, in place; returns a description.

    The smaller side of the bond moves rigidly along it when cutting the bond splits the
    molecule; otherwise atom j moves alone. ``shift`` picks the image of j (default: the
    shift of a bond ``(i, j)`` in ``topology``, or the minimum image).
    """
    topology = Topology(atoms) if topology is None else topology
    shift = _bond_shift(atoms, topology, i, j) if shift is None else np.asarray(shift, dtype=int)
    pos = atoms.get_positions()
    vector = topology.bond_vector(pos, i, j, shift)
    old = float(np.linalg.norm(vector))
    step = (factor - 1.0) * vector
    j_side = topology.side(i, j, shift)
    if j_side is None:
        pos[j] += step
    else:
        i_side = topology.side(j, i, -shift)
        if i_side is not None and len(i_side) < len(j_side):
            pos[list(i_side)] -= step
        else:
            pos[list(j_side)] += step
    atoms.set_positions(pos)
    kind = "stretch" if factor >= 1 else "compress"
    symbols = atoms.get_chemical_symbols()
    return f"{kind} {_name(symbols, i)}-{_name(symbols, j)} {old:.2f}->{factor * old:.2f} A"


def _bond_shift(atoms, topology, i, j):
    rows = [s for b, s in topology.neighbours[i] if b == j]
    if rows:
        return np.array(
            min(rows, key=lambda s: np.linalg.norm(topology.bond_vector(atoms.positions, i, j, s)))
        )
    from ase.geometry import find_mic

    if not atoms.pbc.any():
        return np.zeros(3, dtype=int)
    d = atoms.positions[j] - atoms.positions[i]
    v, _ = find_mic(d, atoms.cell, atoms.pbc)
    return np.rint(np.linalg.solve(atoms.cell.array.T, v - d)).astype(int)


def _rotation(axis, angle_rad) -> np.ndarray:
    """Rotation matrix by ``angle_rad`` about the unit vector ``axis`` (right-hand rule)."""
    x, y, z = axis
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return c * np.eye(3) + s * k + (1 - c) * np.outer(axis, axis)


def bend_angle(atoms, j: int, i: int, k: int, delta_deg: float, topology: Optional[Topology] = None) -> str:
    """Open the angle j-i-k by ``delta_deg`` degrees (close it when negative), in place.

    The smaller of j's and k's sides rotates rigidly about the axis through ``i`` normal to
    the plane of the angle; when neither side splits off (a ring), atom j moves alone.
    Returns a description.
    """
    topology = Topology(atoms) if topology is None else topology
    pos = atoms.get_positions()
    s_j, s_k = _bond_shift(atoms, topology, i, j), _bond_shift(atoms, topology, i, k)
    side_j, side_k = topology.side(i, j, s_j), topology.side(i, k, s_k)
    if side_j is not None and k in side_j:
        side_j = None
    if side_k is not None and j in side_k:
        side_k = None
    v_j, v_k = topology.bond_vector(pos, i, j, s_j), topology.bond_vector(pos, i, k, s_k)
    old = _angle(v_j, v_k)
    normal = np.cross(v_j, v_k)
    if np.linalg.norm(normal) < 1e-8 * np.linalg.norm(v_j) * np.linalg.norm(v_k):
        normal = np.cross(v_j, [1.0, 0.0, 0.0])
        if np.linalg.norm(normal) < 1e-8:
            normal = np.cross(v_j, [0.0, 1.0, 0.0])
    normal /= np.linalg.norm(normal)
    # rotating v_j about v_j x v_k by +theta turns it towards v_k: closing the angle
    if side_k is not None and (side_j is None or len(side_k) < len(side_j)):
        moved = side_k  # turning v_k about the normal by +theta opens the angle
        rot = _rotation(normal, np.deg2rad(delta_deg))
    elif side_j is not None:
        moved = side_j
        rot = _rotation(normal, -np.deg2rad(delta_deg))
    else:
        moved = {j: s_j}
        rot = _rotation(normal, -np.deg2rad(delta_deg))
    atoms_moved = list(moved)
    whole = pos[atoms_moved] + np.array([moved[a] for a in atoms_moved]) @ topology.cell - pos[i]
    pos[atoms_moved] += whole @ rot.T - whole
    atoms.set_positions(pos)
    symbols = atoms.get_chemical_symbols()
    return (
        f"bend {_name(symbols, j)}-{_name(symbols, i)}-{_name(symbols, k)} "
        f"{old:.1f}->{old + delta_deg:.1f} deg"
    )


def _angle(a, b) -> float:
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def closest_pair(atoms, topology: Topology, mol_a: int, mol_b: Optional[int] = None):
    """The closest atoms ``p`` of molecule ``mol_a`` and ``q`` of another molecule.

    ``mol_b`` ``None`` means any other molecule. Returns ``(p, q, distance, pairs)`` with
    ``pairs`` the minimum-image vectors from each atom of ``mol_a`` to each atom of ``q``'s
    molecule, shape (|a|, |b|, 3).
    """
    from ase.geometry import find_mic

    labels = topology.molecules.labels
    a = np.flatnonzero(labels == mol_a)
    b = np.flatnonzero(labels != mol_a) if mol_b is None else np.flatnonzero(labels == mol_b)
    if len(b) == 0:
        raise NotApplicable("fewer than two molecules")
    pos = atoms.get_positions()
    d = (pos[b][None, :, :] - pos[a][:, None, :]).reshape(-1, 3)
    if atoms.pbc.any():
        v, lengths = find_mic(d, atoms.cell, atoms.pbc)
    else:
        v, lengths = d, np.linalg.norm(d, axis=1)
    best = int(np.argmin(lengths))
    p, q = int(a[best // len(b)]), int(b[best % len(b)])
    if mol_b is None:
        return closest_pair(atoms, topology, mol_a, int(labels[q]))
    return p, q, float(lengths[best]), v.reshape(len(a), len(b), 3)


def move_into_contact(
    atoms, mol_a: int, mol_b: int, distance: float, topology: Optional[Topology] = None
) -> str:
    """Translate molecule ``mol_a`` rigidly towards ``mol_b`` until their closest atoms are
    ``distance`` A apart, in place; returns a description.

    The move is along the line between the closest atoms ``p`` (in a) and ``q`` (in b) now;
    it stops where any pair of the two molecules first reaches ``distance`` (another pair may
    become the closest on the way). ``distance`` must be below the present closest distance.
    """
    topology = Topology(atoms) if topology is None else topology
    if mol_a == mol_b:
        raise ValueError("move_into_contact needs two different molecules")
    if topology.molecules.periodic[mol_a]:
        raise NotApplicable("a periodic network cannot be moved rigidly")
    p, q, d0, pairs = closest_pair(atoms, topology, mol_a, mol_b)
    if not distance < d0:
        raise ValueError(f"the molecules are {d0:.3f} A apart already, not more than {distance:.3f} A")
    flat = pairs.reshape(-1, 3)
    direction = flat[np.argmin(np.linalg.norm(flat, axis=1))] / d0

    def gap(s):
        return float(np.linalg.norm(flat - s * direction, axis=1).min())

    # the first s at which the gap reaches the distance: scan, then bisect
    end = d0 - distance  # the closest pair alone reaches it here
    grid = np.linspace(0.0, end, max(2, int(math.ceil(end / 0.01)) + 1))
    lo = 0.0
    hi = end
    for s in grid[1:]:
        if gap(s) <= distance:
            hi = s
            break
        lo = s
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if gap(mid) > distance:
            lo = mid
        else:
            hi = mid
    s = hi
    pos = atoms.get_positions()
    members = np.flatnonzero(topology.molecules.labels == mol_a)
    pos[members] += s * direction
    atoms.set_positions(pos)
    symbols = atoms.get_chemical_symbols()
    return f"contact {_name(symbols, p)}...{_name(symbols, q)} {d0:.2f}->{gap(s):.2f} A (moved {len(members)} atoms)"


# --------------------------------------------------------------------------- frames


def _angles(topology: Topology):
    """Every angle ``(j, i, k)`` of two bonds at i (j < k), as a list."""
    out = []
    for i, nbrs in enumerate(topology.neighbours):
        partners = sorted({b for b, _ in nbrs if b != i})
        for x in range(len(partners)):
            for y in range(x + 1, len(partners)):
                out.append((partners[x], i, partners[y]))
    return out


def distort(base, kind: str, settings: AugmentSettings, rng: np.random.Generator, topology=None):
    """A distorted copy of ``base`` of one kind; returns ``(atoms, description)``.

    Raises
    ------
    NotApplicable
        The frame has nothing for this kind (no bonds, no angles, a single molecule).
    """
    atoms = base.copy()
    atoms.calc = None
    atoms.set_constraint()
    if "momenta" in atoms.arrays:
        del atoms.arrays["momenta"]
    if kind != "rattle":
        topology = Topology(atoms, settings.bond_scale) if topology is None else topology
    done = []
    if kind in ("stretch", "compress"):
        bonds = topology.bond_list()
        if len(bonds) == 0:
            raise NotApplicable("no covalent bonds")
        low, high = settings.stretch if kind == "stretch" else settings.compress
        for row in rng.choice(len(bonds), size=min(settings.per_frame, len(bonds)), replace=False):
            i, j, shift = int(bonds[row, 0]), int(bonds[row, 1]), bonds[row, 2:]
            if rng.random() < 0.5:
                i, j, shift = j, i, -shift
            done.append(set_bond_length(atoms, i, j, rng.uniform(low, high), topology, shift))
    elif kind == "bend":
        angles = _angles(topology)
        if not angles:
            raise NotApplicable("no two bonds share an atom")
        low, high = settings.angle_limits_deg
        for row in rng.permutation(len(angles)):
            if len(done) == settings.per_frame:
                break
            j, i, k = angles[row]
            pos = atoms.get_positions()
            s_j, s_k = _bond_shift(atoms, topology, i, j), _bond_shift(atoms, topology, i, k)
            old = _angle(topology.bond_vector(pos, i, j, s_j), topology.bond_vector(pos, i, k, s_k))
            delta = rng.uniform(*settings.bend_deg) * rng.choice([-1.0, 1.0])
            if not low <= old + delta <= high:
                delta = -delta
            if not low <= old + delta <= high:
                continue
            done.append(bend_angle(atoms, j, i, k, delta, topology))
        if not done:
            raise NotApplicable(f"no angle can change within {low:g}-{high:g} deg")
    elif kind == "contact":
        done = _contacts(atoms, topology, settings, rng)
    elif kind == "rattle":
        atoms.positions += rng.normal(0.0, settings.rattle_A, atoms.positions.shape)
        done.append(f"rattle {settings.rattle_A:g} A")
    else:
        raise ValueError(f"unknown distortion kind {kind!r}")
    if settings.final_rattle_A > 0:
        atoms.positions += rng.normal(0.0, settings.final_rattle_A, atoms.positions.shape)
    return atoms, "; ".join(done)


def _contacts(atoms, topology, settings, rng):
    molecules = topology.molecules
    if molecules.n_molecules < 2:
        raise NotApplicable("fewer than two molecules")
    movable = np.flatnonzero(~molecules.periodic)
    if len(movable) == 0:
        raise NotApplicable("no molecule that is not a periodic network")
    symbols = atoms.get_chemical_symbols()
    done = []
    for mol_a in rng.permutation(movable):
        if len(done) == settings.per_frame:
            break
        p, q, d0, _ = closest_pair(atoms, topology, int(mol_a))
        mol_b = int(molecules.labels[q])
        if symbols[p] == "H" and symbols[q] == "H":
            low, high = settings.contact_hh_A
        else:
            total = topology.radii[p] + topology.radii[q]
            low, high = settings.contact[0] * total, settings.contact[1] * total
        high = min(high, d0 - 1e-3)
        if high <= low:
            continue  # in close contact already
        done.append(move_into_contact(atoms, int(mol_a), mol_b, rng.uniform(low, high), topology))
    if not done:
        raise NotApplicable("every molecule is in close contact already")
    return done


def plan_frames(n_input: int, settings: AugmentSettings) -> list:
    """``(kind, base frame)`` of every distorted frame: kinds in turn, bases evenly spread."""
    n = settings.n_frames
    if n == 0:
        return []
    bases = np.linspace(0, n_input - 1, n).round().astype(int)
    return [(settings.kinds[k % len(settings.kinds)], int(bases[k])) for k in range(n)]


# --------------------------------------------------------------------------- labels


def label(atoms, calc):
    """``atoms`` with energy, forces (and stress, when periodic in 3D and offered) of ``calc``
    frozen in a SinglePointCalculator, as extxyz writes them for nequip's ASEDataModule.

    Returns ``(frame, None)`` or ``(None, reason)`` when the single point raised or gave a
    non-finite value.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    work = atoms.copy()
    work.calc = calc
    try:
        results = {"energy": float(work.get_potential_energy()), "forces": np.array(work.get_forces())}
        if work.pbc.all() and "stress" in getattr(calc, "implemented_properties", ()):
            results["stress"] = np.array(work.get_stress())
    except Exception as err:  # noqa: BLE001 - an SCF that fails on an extreme geometry
        detail = first_line(err, 120)
        return None, f"{type(err).__name__}: {detail}"
    if not all(np.isfinite(v).all() for v in results.values()):
        return None, "non-finite label"
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(frame, **results)
    return frame, None


@dataclass
class AugmentResult:
    """What :func:`augment` made.

    Attributes
    ----------
    frames : list of ase.Atoms
        The new frames, labelled unless the calculator was ``None``.
    counts : dict
        New frames per kind.
    not_applicable : dict
        Per kind, planned frames not made and why (``{kind: {reason: count}}``).
    failed : dict
        Per kind, frames whose single point raised or gave non-finite values.
    failures : list of str
        The first few failure messages.
    reference_energy_per_atom : float or None
        Mean energy per atom of a few base frames with the same calculator.
    input_mismatch_per_atom : float or None
        Largest difference per atom between the input frames' own energies and the
        calculator's on those frames (a sign of a different reference).
    """

    frames: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    not_applicable: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    reference_energy_per_atom: Optional[float] = None
    input_mismatch_per_atom: Optional[float] = None

    def summary_rows(self) -> list:
        """Per kind: (kind, frames, median and max E/atom above the reference, max |F|)."""
        rows = []
        for kind in KINDS:
            frames = [f for f in self.frames if f.info.get("config_type") == kind]
            if not frames and kind not in self.counts:
                continue
            e_med = e_max = f_max = None
            if frames and frames[0].calc is not None and self.reference_energy_per_atom is not None:
                e = (
                    np.array([f.get_potential_energy() / len(f) for f in frames])
                    - self.reference_energy_per_atom
                )
                e_med, e_max = float(np.median(e)), float(e.max())
            if frames and frames[0].calc is not None:
                f_max = max(float(np.linalg.norm(f.get_forces(), axis=1).max()) for f in frames)
            rows.append((kind, len(frames), e_med, e_max, f_max))
        return rows


REFERENCE_FRAMES = 3


def augment(
    inputs: list,
    settings: AugmentSettings,
    make_calculator: Optional[Callable] = None,
    progress: bool = False,
) -> AugmentResult:
    """Make the distorted (and hot-MD) frames of ``inputs`` and label them.

    Parameters
    ----------
    inputs : list of ase.Atoms
        The base frames (not changed).
    settings : AugmentSettings
    make_calculator : callable, optional
        Returns a fresh reference calculator (:func:`nequip_mts.calculators.calculator_factory`);
        ``None`` writes unlabelled frames (and no ``hot_md``).
    progress : bool
        A tqdm bar over the frames.

    Returns
    -------
    AugmentResult
        Kinds that a frame offers nothing for (no bonds, one molecule) are skipped and
        counted in ``not_applicable``, failed single points in ``failed``; neither raises.
    """
    from tqdm.auto import tqdm

    settings.check()
    if settings.hot_md_frames and make_calculator is None:
        raise InputError("--hot-md-frames needs a --calculator (MD runs on it); not none")
    result = AugmentResult()
    calc = make_calculator() if make_calculator is not None else None
    if calc is not None:
        result.reference_energy_per_atom, result.input_mismatch_per_atom = _reference(inputs, calc)
    topologies = {}
    plan = plan_frames(len(inputs), settings)
    for kind in settings.kinds:
        result.counts.setdefault(kind, 0)
    bar = tqdm(total=len(plan) + settings.hot_md_frames, desc="augment", unit="frame", disable=not progress)
    for k, (kind, base) in enumerate(plan):
        rng = np.random.default_rng([settings.seed, k])
        try:
            if kind != "rattle" and base not in topologies:
                topologies[base] = Topology(inputs[base], settings.bond_scale)
            atoms, text = distort(inputs[base], kind, settings, rng, topologies.get(base))
        except NotApplicable as why:
            reasons = result.not_applicable.setdefault(kind, {})
            reasons[str(why)] = reasons.get(str(why), 0) + 1
            bar.update()
            continue
        atoms.info = {key: value for key, value in atoms.info.items() if key not in _FRAME_KEYS}
        atoms.info.update(config_type=kind, base_frame=base, distortion=text)
        if calc is not None:
            labelled, why = label(atoms, calc)
            if labelled is None:
                _failed(result, kind, f"frame {k} ({text}): {why}")
                calc = make_calculator()
                bar.update()
                continue
            atoms = labelled
        result.frames.append(atoms)
        result.counts[kind] += 1
        bar.update()
    if settings.hot_md_frames:
        _hot_md(inputs, settings, make_calculator, result, bar)
    bar.close()
    return result


# info keys of an input frame that describe the input frame, not a new one
_FRAME_KEYS = ("config_type", "base_frame", "distortion", "md_step", "md_time_fs", "energy", "free_energy")


def _failed(result, kind, message):
    result.failed[kind] = result.failed.get(kind, 0) + 1
    if len(result.failures) < 5:
        result.failures.append(message)


def _reference(inputs, calc):
    """Mean E/atom of up to :data:`REFERENCE_FRAMES` input frames with ``calc``, and the largest
    difference from their own energies (if they have them)."""
    picks = sorted(
        set(np.linspace(0, len(inputs) - 1, min(REFERENCE_FRAMES, len(inputs))).round().astype(int))
    )
    energies, mismatch = [], []
    for index in picks:
        frame, _ = label(_bare(inputs[index]), calc)
        if frame is None:
            continue
        e = frame.get_potential_energy() / len(frame)
        energies.append(e)
        own = _own_energy(inputs[index])
        if own is not None:
            mismatch.append(abs(own / len(frame) - e))
    return (float(np.mean(energies)) if energies else None, float(max(mismatch)) if mismatch else None)


def _bare(atoms):
    copy = atoms.copy()
    copy.calc = None
    copy.set_constraint()
    return copy


def _own_energy(atoms):
    calc = atoms.calc
    if calc is not None and "energy" in getattr(calc, "results", {}):
        return float(calc.results["energy"])
    return None


def _hot_md(inputs, settings, make_calculator, result, bar):
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    total = settings.hot_md_frames
    runs = max(1, math.ceil(total / HOT_MD_FRAMES_PER_RUN))
    bases = np.linspace(0, len(inputs) - 1, runs).round().astype(int)
    sizes = [total // runs + (1 if r < total % runs else 0) for r in range(runs)]
    result.counts.setdefault("hot_md", 0)
    made = 0
    for run, (base, size) in enumerate(zip(bases, sizes)):
        rng = np.random.default_rng([settings.seed, 1_000_000 + run])
        atoms = _bare(inputs[int(base)])
        atoms.calc = make_calculator()
        thermalize_momenta(atoms, temperature_K=settings.hot_md_temperature_K, rng=rng)
        Stationary(atoms)
        atoms.set_constraint(FixCom())
        dyn = Langevin(
            atoms,
            timestep=settings.hot_md_timestep_fs * units.fs,
            temperature_K=settings.hot_md_temperature_K,
            friction=settings.hot_md_friction_per_fs / units.fs,
            fixcm=False,
            rng=rng,
        )
        for n in range(size):
            try:
                dyn.run(settings.hot_md_stride)
            except Exception as err:  # noqa: BLE001 - the SCF of a hot geometry failed
                detail = first_line(err, 120)
                for _ in range(size - n):
                    _failed(
                        result,
                        "hot_md",
                        f"hot-MD run {run} from frame {base}: {type(err).__name__}: {detail}",
                    )
                bar.update(size - n)
                break
            frame, why = label(_bare(atoms), atoms.calc)
            bar.update()
            if frame is None:
                _failed(result, "hot_md", f"hot-MD run {run} from frame {base}: {why}")
                continue
            step = (n + 1) * settings.hot_md_stride
            frame.info = {key: value for key, value in frame.info.items() if key not in _FRAME_KEYS}
            frame.info.update(
                config_type="hot_md",
                base_frame=int(base),
                distortion=f"Langevin {settings.hot_md_temperature_K:g} K, {step} steps of "
                f"{settings.hot_md_timestep_fs:g} fs",
            )
            result.frames.append(frame)
            made += 1
    result.counts["hot_md"] = made
