"""Validation of a model before production MD: bond scans and short MD probes.

:func:`validate` is what ``nequip-mts validate`` runs once it has the structure and the
calculator (an :class:`~nequip_mts.md.providers.MTSCalculator`, or any ASE calculator
for the bond scans of the sum alone). It checks two things a training loss does not:

**Bond scans.** For each element pair bonded in the structure (covalent bonds as in
:class:`~nequip_mts.md.topology.TopologyWatch`; one representative bond per pair, the one
closest to the pair's median length) one atom is moved along the bond, the rest held
fixed, from :data:`COMPRESS_MIN` to :data:`STRETCH_MAX` times the bond length. The energy
of the sum, and of the fast and slow parts, is evaluated at each point. The scan passes
when the energy rises monotonically from the minimum nearest the bond length out to the
stretch limit and inward to the compression limit (each within ``tolerance_eV``), and
rises by at least ``min_compression_eV`` under compression. A fall of more than
``tolerance_eV`` beyond the minimum is a *false minimum*: it is reported with its
position (A), its depth (the fall from the barrier before it, eV) and the part whose
energy falls there (fast or slow).

**Angle scans.** For each bonded angle type (A-B-C, with A and C both bonded to B; one
representative angle per type, the one whose moved atom has the fewest bonds and whose
angle is closest to the type's median) the outer atom C is turned about B in the A-B-C
plane, its bond length kept, from a little beyond the structure's angle down to where
A and C are :data:`CLOSE_FRACTION` times the sum of their covalent radii apart (0.62 A
for the two H of a water molecule). Closing a molecule onto itself must cost energy all
the way: a fall of more than ``tolerance_eV`` on the way in is a false minimum (a model
fitted only near equilibrium can make a folded molecule more stable than a straight
one), and the energy must rise by at least ``min_compression_eV`` in all.

**MD probes.** Short runs at the user's temperature and inner step: K = 1 (single-step
MD on the sum of the parts) and MTS at each K of a list, with the outer step K times the
inner step. Each run reports the mean temperature, the drift of the integrator's
conserved energy (meV/atom/ps, linear fit) and bond-topology changes (which bonds broke
or formed, and when). A run passes when it stays stable with its bond topology intact,
drifts less than ``max_drift`` and (thermostatted runs) holds the target temperature
within ``temperature_tolerance``. NVE (the default) measures the integration error
best: its conserved energy only oscillates when the step is sound. With a thermostat the
conserved energy (total energy minus the heat put in) also drifts by the "shadow work"
of the step, which grows as the square of the outer step even where sampling is fine. The largest K that passes together with every smaller
K is the recommended one.

Import-light: numpy at import; ASE and the integrators inside the functions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

__all__ = [
    "AngleScan",
    "BondScan",
    "FalseMinimum",
    "MDProbe",
    "ProbeSettings",
    "Validation",
    "bond_scan",
    "angle_scan",
    "md_probe",
    "representative_angles",
    "representative_bonds",
    "validate",
]

#: scan limits, as multiples of the bond length in the structure
COMPRESS_MIN = 0.7
STRETCH_MAX = 1.8
#: points of a scan
SCAN_POINTS = 56
#: an angle scan closes the angle until the outer atoms are this fraction of the sum of
#: their covalent radii apart
CLOSE_FRACTION = 1.0
#: and starts this much (degrees) beyond the structure's angle, to find its minimum
OPEN_DEG = 20.0
#: angles straighter than this (degrees) define no plane to close in: not scanned
MAX_ANGLE_DEG = 170.0
#: a fall of the energy by more than this (eV) along a scan is a false minimum
TOLERANCE_EV = 0.1
#: the energy must rise at least this much (eV) from the minimum to the compression limit
MIN_COMPRESSION_EV = 0.5
#: an MD probe passes when its conserved energy drifts less than this (meV/atom/ps)
MAX_DRIFT = 2.0
#: and, thermostatted, its mean temperature is within this fraction of the target
TEMPERATURE_TOLERANCE = 0.2


def _is_mts(calc) -> bool:
    return hasattr(calc, "get_fast_energy") and hasattr(calc, "get_slow_energy")


# ---------------------------------------------------------------------- bond scans
@dataclasses.dataclass
class FalseMinimum:
    """An energy fall along a bond scan: where, how deep, and which part causes it."""

    pair: str  # "H-O" for a bond scan, "H-O-H" for an angle scan
    side: str  # "stretch" or "compression" (bond scans), "closing" (angle scans)
    position_A: float
    barrier_A: float
    depth_eV: float
    part: Optional[str]  # "fast", "slow", "full" (a distilled split's sum) or None (no parts)
    fast_fall_eV: Optional[float] = None
    slow_fall_eV: Optional[float] = None
    above_eV: Optional[float] = None  # energy of the false minimum above the equilibrium one

    def describe(self) -> str:
        if self.side == "closing":
            outer = "-".join(self.pair.split("-")[::2])
            text = (
                f"false minimum closing the {self.pair} angle: the energy falls by {self.depth_eV:.2f} eV "
                f"as the {outer} distance shrinks from {self.barrier_A:.2f} A to {self.position_A:.2f} A"
            )
            if self.above_eV is not None:
                text += (
                    " (a folded molecule more stable than the unfolded one)"
                    if self.above_eV < 0
                    else f" ({self.above_eV:.2f} eV above the unfolded molecule)"
                )
        else:
            where = "beyond" if self.side == "stretch" else "inside"
            text = (
                f"false minimum along {self.pair}: the energy falls by {self.depth_eV:.2f} eV "
                f"from {self.barrier_A:.2f} A to {self.position_A:.2f} A ({where} the equilibrium)"
            )
        if self.part == "full":
            text += (
                ", in the full model itself (slow = full - fast: the fall is the teacher's own, "
                "and no fast model can remove it)"
            )
        elif self.part is not None:
            text += (
                f", caused by the {self.part} part (fast falls {self.fast_fall_eV:.2f} eV, "
                f"slow {self.slow_fall_eV:.2f} eV)"
            )
        return text


@dataclasses.dataclass
class BondScan:
    """One bond scan: distances (A) and energies (eV, relative to the structure's)."""

    pair: str
    atoms: tuple  # (fixed atom, moved atom)
    length_A: float
    distances_A: np.ndarray
    energy: np.ndarray
    fast: Optional[np.ndarray]
    slow: Optional[np.ndarray]
    equilibrium_A: float
    compression_rise_eV: float
    false_minima: list
    problems: list
    clearance_A: float = math.nan

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        out = {
            "pair": self.pair,
            "atoms": [int(a) for a in self.atoms],
            "length_A": self.length_A,
            "equilibrium_A": self.equilibrium_A,
            "compression_rise_eV": self.compression_rise_eV,
            "clearance_A": self.clearance_A,
            "passed": self.passed,
            "problems": list(self.problems),
            "false_minima": [dataclasses.asdict(m) for m in self.false_minima],
            "distances_A": self.distances_A.tolist(),
            "energy_eV": self.energy.tolist(),
        }
        if self.fast is not None:
            out["fast_eV"], out["slow_eV"] = self.fast.tolist(), self.slow.tolist()
        return out


def _bond_vector(atoms, i, j):
    vector = atoms.positions[j] - atoms.positions[i]
    if atoms.pbc.any():
        from ase.geometry import find_mic

        vector = find_mic(vector[None, :], atoms.cell, atoms.pbc)[0][0]
    return vector


def clearance(atoms, fixed, moved, stretch=STRETCH_MAX) -> float:
    """Distance (A) from the moved atom at ``stretch`` x the bond length to the nearest
    atom other than the two of the bond: how close the scan comes to a neighbour."""
    from ase.geometry import get_distances

    vector = _bond_vector(atoms, fixed, moved)
    end = atoms.positions[fixed] + stretch * vector
    others = np.setdiff1d(np.arange(len(atoms)), [fixed, moved])
    if len(others) == 0:
        return math.inf
    periodic = bool(atoms.pbc.any())
    _, d = get_distances(
        end[None, :],
        atoms.positions[others],
        cell=atoms.cell if periodic else None,
        pbc=atoms.pbc if periodic else None,
    )
    return float(d.min())


def representative_bonds(atoms, bond_scale=None, stretch=STRETCH_MAX) -> dict:
    """One bond per bonded element pair: ``{"C-O": (fixed, moved), ...}``.

    Bonds are those of :class:`~nequip_mts.md.topology.TopologyWatch`. The atom with
    fewer bonds (a terminal H, say) is the one that moves, so that the scan distorts
    little else. Of a pair's bonds the one with the most room along its stretch is
    taken (the largest :func:`clearance` at ``stretch``): in a liquid, an O-H stretched
    towards the O it donates a hydrogen bond to ends in a proton transfer, a real lower
    minimum that is no defect of the model. Ties go to the bond closest to the pair's
    median length.
    """
    from nequip_mts.md.topology import TopologyWatch

    bonds = TopologyWatch(atoms, bond_scale=bond_scale).bonds
    if len(bonds) == 0:
        return {}
    degree = np.bincount(bonds.ravel(), minlength=len(atoms))
    symbols = atoms.get_chemical_symbols()
    lengths = np.array([np.linalg.norm(_bond_vector(atoms, i, j)) for i, j in bonds])
    groups = {}
    for k, (i, j) in enumerate(bonds):
        groups.setdefault("-".join(sorted((symbols[i], symbols[j]))), []).append(k)
    chosen = {}
    for pair in sorted(groups):
        ks = groups[pair]
        median = np.median(lengths[ks])
        candidates = []
        for k in ks:
            i, j = (int(a) for a in bonds[k])
            # move the atom with fewer bonds; keep the better-connected one fixed
            fixed, moved = (i, j) if degree[j] <= degree[i] else (j, i)
            room = round(clearance(atoms, fixed, moved, stretch), 2)
            candidates.append((-room, abs(lengths[k] - median), fixed, moved))
        _, _, fixed, moved = min(candidates)
        chosen[pair] = (fixed, moved)
    return chosen


def _downhill(energy, start) -> int:
    """The index of the local minimum reached walking downhill from ``start``."""
    eq = start
    while True:
        lower = [k for k in (eq - 1, eq + 1) if 0 <= k < len(energy) and energy[k] < energy[eq]]
        if not lower:
            return eq
        eq = min(lower, key=lambda k: energy[k])


def _blame(calc, fast, slow, top, bottom):
    """(part, fast fall, slow fall) of a fall from index ``top`` to ``bottom``: the part
    whose energy falls more; ``"full"`` for a distilled split (the sum is the full model,
    which the split cannot change); ``None`` without parts."""
    if not _is_mts(calc):
        return None, None, None
    if getattr(calc, "full_calc", None) is not None:
        return "full", None, None
    fast_fall = float(fast[top] - fast[bottom])
    slow_fall = float(slow[top] - slow[bottom])
    return ("fast" if fast_fall >= slow_fall else "slow"), fast_fall, slow_fall


def _falls(energy, start, stop, step):
    """The largest fall of ``energy`` walking from index ``start`` to ``stop`` (exclusive)
    by ``step``: (fall, index of the barrier, index of the bottom)."""
    best = (0.0, start, start)
    peak = start
    for k in range(start, stop, step):
        if energy[k] > energy[peak]:
            peak = k
        if energy[peak] - energy[k] > best[0]:
            best = (float(energy[peak] - energy[k]), peak, k)
    return best


def _scan_energies(atoms, calc, positions, i0):
    """Energies (eV) of ``atoms`` at each of ``positions`` with ``calc``, relative to the
    ``i0``-th: ``(energy, fast, slow)``, the two parts ``None`` unless ``calc`` is an
    MTS calculator. The structure's constraints are not applied."""
    probe = atoms.copy()
    probe.calc = calc
    mts = _is_mts(calc)
    energy, fast, slow = [], [], []
    for pos in positions:
        probe.set_positions(pos, apply_constraint=False)
        if mts:
            fast.append(calc.get_fast_energy(probe))
            slow.append(calc.get_slow_energy(probe))
            energy.append(fast[-1] + slow[-1])
        else:
            energy.append(probe.get_potential_energy())
    energy = np.asarray(energy) - energy[i0]
    if not mts:
        return energy, None, None
    return energy, np.asarray(fast) - fast[i0], np.asarray(slow) - slow[i0]


def bond_scan(
    atoms,
    calc,
    fixed,
    moved,
    *,
    compress_min=COMPRESS_MIN,
    stretch_max=STRETCH_MAX,
    points=SCAN_POINTS,
    tolerance_eV=TOLERANCE_EV,
    min_compression_eV=MIN_COMPRESSION_EV,
) -> BondScan:
    """Scan the bond ``fixed``-``moved`` of ``atoms`` with ``calc`` (module docstring)."""
    from nequip_mts.errors import InputError

    if not 0 < compress_min < 1 < stretch_max:
        raise InputError(f"bond scan: need 0 < compression {compress_min} < 1 < stretch {stretch_max}")
    if int(points) < 5:
        raise InputError(f"bond scan: need at least 5 points, got {points}")
    vector = _bond_vector(atoms, fixed, moved)
    length = float(np.linalg.norm(vector))
    unit = vector / length
    fractions = np.union1d(np.linspace(compress_min, stretch_max, int(points)), [1.0])
    positions = np.repeat(atoms.positions[None], len(fractions), axis=0)
    positions[:, moved] = atoms.positions[fixed] + np.outer(fractions * length, unit)
    distances = fractions * length
    i0 = int(np.argmin(np.abs(fractions - 1.0)))
    energy, fast, slow = _scan_energies(atoms, calc, positions, i0)
    symbols = atoms.get_chemical_symbols()
    pair = "-".join(sorted((symbols[fixed], symbols[moved])))
    room = clearance(atoms, fixed, moved, fractions[-1])
    problems, minima = [], []
    if not np.isfinite(energy).all():
        bad = distances[~np.isfinite(energy)]
        problems.append(f"{pair}: non-finite energy at {bad[0]:.2f} A")
        return BondScan(
            pair, (fixed, moved), length, distances, energy, fast, slow, math.nan, math.nan, minima, problems
        )
    eq = _downhill(energy, i0)  # the minimum nearest the structure's bond length
    n = len(energy)
    if eq in (0, n - 1):
        problems.append(
            f"{pair}: no minimum between {distances[0]:.2f} and {distances[-1]:.2f} A; the energy "
            f"falls all the way to {distances[eq]:.2f} A"
        )
    for side, stop, step in (("stretch", n, 1), ("compression", -1, -1)):
        fall, top, bottom = _falls(energy, eq, stop, step)
        if fall > tolerance_eV:
            part, fast_fall, slow_fall = _blame(calc, fast, slow, top, bottom)
            found = FalseMinimum(
                pair, side, float(distances[bottom]), float(distances[top]), fall, part, fast_fall, slow_fall
            )
            minima.append(found)
            problems.append(found.describe())
    rise = float(energy[0] - energy[eq])
    if eq > 0 and rise < min_compression_eV:
        problems.append(
            f"{pair}: soft under compression, the energy rises only {rise:.2f} eV from "
            f"{distances[eq]:.2f} A to {distances[0]:.2f} A (at least {min_compression_eV:g} eV expected)"
        )
    return BondScan(
        pair,
        (fixed, moved),
        length,
        distances,
        energy,
        fast,
        slow,
        float(distances[eq]),
        rise,
        minima,
        problems,
        room,
    )


# ---------------------------------------------------------------------- angle scans
@dataclasses.dataclass
class AngleScan:
    """One angle scan: angles (degrees), the outer atoms' distances (A) and energies (eV,
    relative to the structure's), closing from the open end to the closed one."""

    angle: str  # "H-O-H": outer, centre, outer (the moved atom last)
    atoms: tuple  # (fixed outer atom, centre, moved atom)
    angle_deg: float
    angles_deg: np.ndarray
    distances_A: np.ndarray
    energy: np.ndarray
    fast: Optional[np.ndarray]
    slow: Optional[np.ndarray]
    equilibrium_deg: float
    closing_rise_eV: float
    false_minima: list
    problems: list

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        out = {
            "angle": self.angle,
            "atoms": [int(a) for a in self.atoms],
            "angle_deg": self.angle_deg,
            "equilibrium_deg": self.equilibrium_deg,
            "closing_rise_eV": self.closing_rise_eV,
            "passed": self.passed,
            "problems": list(self.problems),
            "false_minima": [dataclasses.asdict(m) for m in self.false_minima],
            "angles_deg": self.angles_deg.tolist(),
            "distances_A": self.distances_A.tolist(),
            "energy_eV": self.energy.tolist(),
        }
        if self.fast is not None:
            out["fast_eV"], out["slow_eV"] = self.fast.tolist(), self.slow.tolist()
        return out


def _angle_deg(u, v) -> float:
    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def representative_angles(atoms, bond_scale=None) -> dict:
    """One bonded angle per type: ``{"H-O-H": (fixed, centre, moved), ...}``.

    Angles are pairs of bonds (:class:`~nequip_mts.md.topology.TopologyWatch`) that
    share an atom, the centre; the type names the outer elements in sorted order around
    the centre's. The moved atom is the outer one with fewer bonds (a terminal H, say);
    of a type's angles the one closest to the type's median angle is taken. Angles over
    :data:`MAX_ANGLE_DEG` are left out (no plane to close them in).
    """
    from nequip_mts.md.topology import TopologyWatch

    bonds = TopologyWatch(atoms, bond_scale=bond_scale).bonds
    if len(bonds) == 0:
        return {}
    degree = np.bincount(bonds.ravel(), minlength=len(atoms))
    symbols = atoms.get_chemical_symbols()
    neighbours = {}
    for i, j in bonds:
        neighbours.setdefault(int(i), []).append(int(j))
        neighbours.setdefault(int(j), []).append(int(i))
    groups = {}
    for centre, around in sorted(neighbours.items()):
        for x, a in enumerate(around):
            for c in around[x + 1 :]:
                theta = _angle_deg(_bond_vector(atoms, centre, a), _bond_vector(atoms, centre, c))
                if theta > MAX_ANGLE_DEG:
                    continue
                # move the outer atom with fewer bonds (ties: the higher index)
                fixed, moved = (a, c) if (degree[c], c) <= (degree[a], a) else (c, a)
                outer = sorted((symbols[a], symbols[c]))
                name = f"{outer[0]}-{symbols[centre]}-{outer[1]}"
                groups.setdefault(name, []).append((theta, fixed, centre, moved))
    chosen = {}
    for name in sorted(groups):
        entries = groups[name]
        median = np.median([e[0] for e in entries])
        best = min(entries, key=lambda e: (degree[e[3]], abs(e[0] - median)))
        chosen[name] = best[1:]
    return chosen


def angle_scan(
    atoms,
    calc,
    fixed,
    centre,
    moved,
    *,
    points=SCAN_POINTS,
    tolerance_eV=TOLERANCE_EV,
    min_compression_eV=MIN_COMPRESSION_EV,
    close_fraction=CLOSE_FRACTION,
    open_deg=OPEN_DEG,
) -> AngleScan:
    """Close the angle ``fixed``-``centre``-``moved`` of ``atoms`` with ``calc`` (module docstring).

    ``moved`` turns about ``centre`` in the plane of the three atoms at its bond length;
    the scan runs from ``open_deg`` beyond the structure's angle (at most
    :data:`MAX_ANGLE_DEG`) down to the angle where ``fixed`` and ``moved`` are
    ``close_fraction`` times the sum of their covalent radii apart.
    """
    from ase.data import covalent_radii

    from nequip_mts.errors import InputError

    if int(points) < 5:
        raise InputError(f"angle scan: need at least 5 points, got {points}")
    a = _bond_vector(atoms, centre, fixed)
    c = _bond_vector(atoms, centre, moved)
    ra, rc = float(np.linalg.norm(a)), float(np.linalg.norm(c))
    u = a / ra
    w = c - np.dot(c, u) * u
    w /= np.linalg.norm(w)
    theta0 = _angle_deg(a, c)
    numbers = atoms.numbers
    close = close_fraction * (covalent_radii[numbers[fixed]] + covalent_radii[numbers[moved]])
    # the law of cosines: the angle at which the outer atoms are `close` apart
    cos_close = (ra**2 + rc**2 - close**2) / (2 * ra * rc)
    theta_close = float(np.degrees(np.arccos(np.clip(cos_close, -1.0, 1.0))))
    if theta_close >= theta0:
        raise InputError(
            f"angle scan: the outer atoms {fixed} and {moved} are already {close:.2f} A apart or closer"
        )
    top = min(theta0 + open_deg, MAX_ANGLE_DEG) if theta0 < MAX_ANGLE_DEG else theta0
    angles = np.union1d(np.linspace(theta_close, top, int(points)), [theta0])[::-1]
    theta = np.radians(angles)[:, None]
    positions = np.repeat(atoms.positions[None], len(angles), axis=0)
    positions[:, moved] = atoms.positions[centre] + rc * (np.cos(theta) * u + np.sin(theta) * w)
    distances = np.sqrt(ra**2 + rc**2 - 2 * ra * rc * np.cos(np.radians(angles)))
    i0 = int(np.argmin(np.abs(angles - theta0)))
    energy, fast, slow = _scan_energies(atoms, calc, positions, i0)
    symbols = atoms.get_chemical_symbols()
    name = f"{symbols[fixed]}-{symbols[centre]}-{symbols[moved]}"
    outer = f"{symbols[fixed]}-{symbols[moved]}"
    problems, minima = [], []
    if not np.isfinite(energy).all():
        bad = distances[~np.isfinite(energy)]
        problems.append(f"{name}: non-finite energy at {outer} {bad[0]:.2f} A")
        return AngleScan(
            name,
            (fixed, centre, moved),
            theta0,
            angles,
            distances,
            energy,
            fast,
            slow,
            math.nan,
            math.nan,
            minima,
            problems,
        )
    eq = _downhill(energy, i0)  # the minimum nearest the structure's angle
    n = len(energy)
    if eq == n - 1:
        problems.append(
            f"{name}: the energy falls all the way as the angle closes, to {outer} {distances[-1]:.2f} A"
        )
    fall, barrier, bottom = _falls(energy, eq, n, 1)
    if fall > tolerance_eV:
        part, fast_fall, slow_fall = _blame(calc, fast, slow, barrier, bottom)
        found = FalseMinimum(
            name,
            "closing",
            float(distances[bottom]),
            float(distances[barrier]),
            fall,
            part,
            fast_fall,
            slow_fall,
            above_eV=float(energy[bottom] - energy[eq]),
        )
        minima.append(found)
        problems.append(found.describe())
    rise = float(energy[-1] - energy[eq])
    if eq < n - 1 and rise < min_compression_eV:
        problems.append(
            f"{name}: soft when closed, the energy rises only {rise:.2f} eV from {angles[eq]:.0f} deg "
            f"to {outer} {distances[-1]:.2f} A (at least {min_compression_eV:g} eV expected)"
        )
    return AngleScan(
        name,
        (fixed, centre, moved),
        theta0,
        angles,
        distances,
        energy,
        fast,
        slow,
        float(angles[eq]),
        rise,
        minima,
        problems,
    )


# ---------------------------------------------------------------------- MD probes
@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """The MD probes: ensemble, temperature, inner step, the Ks, length and limits."""

    ensemble: str = "nve"
    temperature_K: float = 300.0
    inner_timestep_fs: float = 0.5
    ks: tuple = (1, 2, 4, 8)
    time_ps: float = 0.5
    thermostat_time_fs: float = 100.0
    seed: int = 0
    max_drift: float = MAX_DRIFT
    temperature_tolerance: float = TEMPERATURE_TOLERANCE
    topology_interval: int = 10

    def settings(self, k):
        """The :class:`~nequip_mts.md.settings.MDSettings` of the probe at ``k``."""
        from nequip_mts.md.settings import MDSettings

        thermostat = self.ensemble != "nve"
        return MDSettings.from_options(
            ensemble=self.ensemble,
            timestep_fs=self.inner_timestep_fs * k,
            inner_steps=int(k),
            time_ps=self.time_ps,
            temperature_K=self.temperature_K if thermostat else None,
            init_temperature_K=self.temperature_K,
            thermostat_time_fs=self.thermostat_time_fs,
            seed=self.seed,
            loginterval=1,
            engine="ase",
        )

    def check(self) -> "ProbeSettings":
        from nequip_mts.errors import InputError

        if not self.ks or any(not isinstance(k, int) or k < 1 for k in self.ks):
            raise InputError(f"--ks must be whole numbers >= 1, got {list(self.ks)}")
        for k in self.ks:
            self.settings(k)  # names the first bad setting
        if not self.time_ps > 0:
            raise InputError(f"--time-ps must be positive, got {self.time_ps}")
        if not self.max_drift > 0:
            raise InputError(f"--max-drift-meV-per-atom-per-ps must be positive, got {self.max_drift}")
        if not self.temperature_tolerance > 0:
            raise InputError(f"--temperature-tolerance must be positive, got {self.temperature_tolerance}")
        if int(self.topology_interval) < 1:
            raise InputError(f"--topology-interval must be >= 1, got {self.topology_interval}")
        return self


@dataclasses.dataclass
class MDProbe:
    """One short MD run: K, steps, mean temperature, drift, topology and verdict."""

    k: int
    timestep_fs: float
    steps_done: int
    steps: int
    mean_temperature_K: float
    drift: float  # meV/atom/ps
    drift_stderr: float
    stopped: Optional[str]  # why the run stopped early (the guard's message)
    stopped_at_fs: Optional[float]
    problems: list

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return "single step" if self.k == 1 else f"MTS K={self.k}"

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["passed"] = self.passed
        return out


def _single_step_conserved_energy(dyn, ensemble):
    """The conserved quantity of ASE's single-step integrator ``dyn``, as a callable.

    NVE: the total energy. Bussi: the total energy less the thermostat's
    ``transferred_energy``. ASE's Langevin integrator keeps no such account: ``None``
    (no drift is measured).
    """
    if ensemble == "nve":
        return dyn.atoms.get_total_energy
    if ensemble == "bussi":
        return lambda: dyn.atoms.get_total_energy() - dyn.transferred_energy
    return None


def md_probe(atoms, calc, k, probe: ProbeSettings, watch=None) -> MDProbe:
    """Run one MD probe at ``k`` on a copy of ``atoms`` (module docstring).

    ``watch`` is a :class:`~nequip_mts.md.topology.TopologyWatch` of the structure (none
    when it holds no molecules).
    """
    from ase import units

    from nequip_mts.analysis.drift import energy_drift
    from nequip_mts.errors import MDInstabilityError
    from nequip_mts.md.runner import initial_velocities, make_integrator, make_single_step_integrator
    from nequip_mts.md.safety import StabilityGuard

    settings = probe.settings(k)
    system = atoms.copy()
    system.set_momenta(np.zeros((len(system), 3)))
    system.calc = calc
    initial_velocities(system, settings)
    rng = np.random.default_rng([settings.seed, k])
    if _is_mts(calc):
        dyn = make_integrator(system, settings, rng=rng)
        conserved_energy = dyn.get_conserved_energy
    else:
        # a conventional model: ASE's own single-step integrator, as a user would run it
        dyn = make_single_step_integrator(system, settings, rng=rng)
        conserved_energy = _single_step_conserved_energy(dyn, settings.ensemble)
    max_T = max(5.0 * probe.temperature_K, 5000.0)
    guard = StabilityGuard(dyn, max_temperature_K=max_T, topology=watch)
    times, conserved, temperatures = [], [], []

    def record():
        times.append(dyn.get_time() / units.fs)
        conserved.append(conserved_energy() if conserved_energy is not None else math.nan)
        temperatures.append(system.get_temperature())

    dyn.attach(guard, interval=1)
    dyn.attach(record, interval=1)
    stopped = stopped_at = None
    try:
        dyn.run(settings.steps)
    except MDInstabilityError as err:
        stopped, stopped_at = err.reason, err.step * settings.timestep_fs
    problems = []
    n = len(system)
    mean_T = float(np.mean(temperatures)) if temperatures else math.nan
    drift = stderr = math.nan
    if len(times) >= 3 and conserved_energy is not None:
        fit = energy_drift(np.asarray(times), np.asarray(conserved), n)
        drift, stderr = fit.slope, fit.stderr
    if stopped is not None:
        problems.append(f"K={k}: stopped at {stopped_at:g} fs: {stopped}")
    else:
        if conserved_energy is not None and not abs(drift) <= probe.max_drift:
            problems.append(
                f"K={k}: conserved energy drifts {drift:.3g} meV/atom/ps (limit {probe.max_drift:g})"
            )
        if settings.ensemble != "nve":
            target = probe.temperature_K
            if not abs(mean_T - target) <= probe.temperature_tolerance * target:
                problems.append(
                    f"K={k}: mean temperature {mean_T:.0f} K, not within "
                    f"{100 * probe.temperature_tolerance:g}% of {target:g} K"
                )
    return MDProbe(
        int(k),
        settings.timestep_fs,
        int(dyn.nsteps),
        settings.steps,
        mean_T,
        drift,
        stderr,
        stopped,
        stopped_at,
        problems,
    )


# ---------------------------------------------------------------------- all together
@dataclasses.dataclass
class Validation:
    """All checks of one model on one structure, and the verdict."""

    n_atoms: int
    scans: list
    probes: list
    probe_settings: Optional[ProbeSettings]
    strict: bool = False
    notes: list = dataclasses.field(default_factory=list)
    angle_scans: list = dataclasses.field(default_factory=list)

    @property
    def recommended_k(self) -> Optional[int]:
        """The largest K whose probe passes together with those of every smaller K."""
        best = None
        for probe in sorted(self.probes, key=lambda p: p.k):
            if not probe.passed:
                break
            best = probe.k
        return best

    @property
    def findings(self) -> list:
        """The failed checks that fail the validation (empty: it passes)."""
        found = [p for scan in (*self.scans, *self.angle_scans) for p in scan.problems]
        for probe in self.probes:
            if probe.k == 1 or self.strict:
                found.extend(probe.problems)
        if self.probes and self.recommended_k is None and not any(p.k == 1 for p in self.probes):
            found.append("no MD probe passed")
        return found

    @property
    def passed(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "findings": self.findings,
            "recommended_k": self.recommended_k,
            "n_atoms": self.n_atoms,
            "strict": self.strict,
            "notes": list(self.notes),
            "probe_settings": None
            if self.probe_settings is None
            else dataclasses.asdict(self.probe_settings),
            "bond_scans": [s.to_dict() for s in self.scans],
            "angle_scans": [s.to_dict() for s in self.angle_scans],
            "md_probes": [p.to_dict() for p in self.probes],
        }


def validate(
    atoms,
    calc,
    probe: Optional[ProbeSettings] = ProbeSettings(),
    *,
    strict=False,
    progress=None,
    **scan_options,
) -> Validation:
    """Bond scans and MD probes of ``calc`` on ``atoms`` (module docstring).

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (positions as given; velocities are drawn for each probe).
    calc : MTSCalculator or ase Calculator
        The model. A plain ASE calculator (a conventional single model) gets the bond
        scans of its energy and the single-step probe (K = 1, ASE's own integrator).
    probe : ProbeSettings or None
        The MD probes; ``None`` runs none. K = 1 (single-step MD) is always added.
    strict : bool
        Fail when any probed K fails; otherwise only the bond scans and the single-step
        probe decide, and the largest passing K is the recommendation.
    progress : callable, optional
        Called with one line of text as each check starts.
    **scan_options
        ``compress_min``, ``stretch_max``, ``points``, ``tolerance_eV``,
        ``min_compression_eV`` of :func:`bond_scan`.
    """
    from nequip_mts.md.topology import TopologyWatch, holds_molecules

    say = progress or (lambda text: None)
    notes = []
    scans = []
    bonds = representative_bonds(atoms, stretch=scan_options.get("stretch_max", STRETCH_MAX))
    if not bonds:
        notes.append("no bonded atom pairs in the structure: no bond scans")
    for pair, (fixed, moved) in bonds.items():
        say(f"bond scan {pair} (atoms {fixed}-{moved})")
        scans.append(bond_scan(atoms, calc, fixed, moved, **scan_options))
    shared = {k: v for k, v in scan_options.items() if k in ("points", "tolerance_eV", "min_compression_eV")}
    angle_scans = []
    for name, (fixed, centre, moved) in representative_angles(atoms).items():
        say(f"angle scan {name} (atoms {fixed}-{centre}-{moved})")
        angle_scans.append(angle_scan(atoms, calc, fixed, centre, moved, **shared))
    probes = []
    single = not _is_mts(calc)
    if probe is not None and single:
        notes.append("the model has no fast and slow parts: bond scans and the single-step probe only")
    if probe is not None:
        ks = (1,) if single else tuple(sorted({1, *(int(k) for k in probe.ks)}))
        probe = dataclasses.replace(probe, ks=ks).check()
        watch = None
        if holds_molecules(atoms):
            watch = TopologyWatch(atoms, interval=probe.topology_interval)
        else:
            notes.append("the structure holds no molecules: the MD probes watch no bond topology")
        for k in ks:
            say(f"MD probe K={k} ({probe.inner_timestep_fs * k:g} fs outer step)")
            probes.append(md_probe(atoms, calc, k, probe, watch))
    return Validation(len(atoms), scans, probes, probe, strict=strict, notes=notes, angle_scans=angle_scans)


# ---------------------------------------------------------------------- report
def _fmt(value, spec=".3g"):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _minima_cell(minima) -> str:
    """A report cell listing false minima: depth, where, and which part."""
    return (
        "; ".join(f"{m.depth_eV:.2f} eV at {m.position_A:.2f} A ({m.part or 'sum'})" for m in minima)
        or "none"
    )


def _problem_lines(checks) -> list:
    """The problems of a list of scans or probes as markdown bullets (after a blank line)."""
    problems = [p for check in checks for p in check.problems]
    return [""] + [f"- {p}" for p in problems] if problems else []


def report_markdown(result: Validation, title="Model validation", inputs=None, figures=()) -> str:
    """The markdown report of a :class:`Validation`."""
    lines = [f"# {title}", ""]
    for name, value in (inputs or {}).items():
        lines.append(f"- {name}: `{value}`")
    verdict = "PASS" if result.passed else "FAIL"
    lines += ["", f"**Verdict: {verdict}**", ""]
    for finding in result.findings:
        lines.append(f"- {finding}")
    if result.probes:
        k = result.recommended_k
        lines.append(f"- largest K that passes (with every smaller K): {k if k is not None else 'none'}")
    for note in result.notes:
        lines.append(f"- note: {note}")
    lines += ["", "## Bond scans", ""]
    if result.scans:
        lines += [
            "One atom moved along one representative bond per element pair, the rest fixed; "
            "energies relative to the structure's.",
            "",
            "| pair | atoms | length (A) | minimum (A) | rise under compression (eV) | "
            "nearest other atom at the stretch limit (A) | false minima | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for scan in result.scans:
            minima = _minima_cell(scan.false_minima)
            lines.append(
                f"| {scan.pair} | {scan.atoms[0]}-{scan.atoms[1]} | {scan.length_A:.3f} | "
                f"{_fmt(scan.equilibrium_A, '.3f')} | {_fmt(scan.compression_rise_eV, '.2f')} | "
                f"{_fmt(scan.clearance_A, '.2f')} | {minima} | {'pass' if scan.passed else 'FAIL'} |"
            )
        lines += _problem_lines(result.scans)
    else:
        lines.append("No bonded pairs.")
    lines += ["", "## Angle scans", ""]
    if result.angle_scans:
        lines += [
            "One representative angle per type closed by turning its last atom about the centre "
            f"(bond length kept) until the outer atoms are {CLOSE_FRACTION:g}x their covalent radii apart; "
            "energies relative to the structure's.",
            "",
            "| angle | atoms | angle (deg) | minimum (deg) | outer distance when closed (A) | "
            "rise when closed (eV) | false minima | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for scan in result.angle_scans:
            minima = _minima_cell(scan.false_minima)
            lines.append(
                f"| {scan.angle} | {'-'.join(str(a) for a in scan.atoms)} | {scan.angle_deg:.1f} | "
                f"{_fmt(scan.equilibrium_deg, '.1f')} | {scan.distances_A[-1]:.2f} | "
                f"{_fmt(scan.closing_rise_eV, '.2f')} | {minima} | {'pass' if scan.passed else 'FAIL'} |"
            )
        lines += _problem_lines(result.angle_scans)
    else:
        lines.append("No bonded angles.")
    lines += ["", "## MD probes", ""]
    if result.probes:
        ps = result.probe_settings
        lines += [
            f"{ps.ensemble}, {ps.temperature_K:g} K, inner step {ps.inner_timestep_fs:g} fs, "
            f"{ps.time_ps:g} ps each; outer step K x inner step; K = 1 is single-step MD on the "
            f"sum. Limits: drift {ps.max_drift:g} meV/atom/ps"
            + (
                f", mean temperature within {100 * ps.temperature_tolerance:g}%"
                if ps.ensemble != "nve"
                else ""
            )
            + ".",
            "",
            "| run | outer step (fs) | steps | mean T (K) | drift (meV/atom/ps) | topology | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in result.probes:
            topology = "intact" if p.stopped is None else f"stopped at {p.stopped_at_fs:g} fs: {p.stopped}"
            drift = f"{_fmt(p.drift)} +- {_fmt(p.drift_stderr, '.2g')}"
            lines.append(
                f"| {p.label} | {p.timestep_fs:g} | {p.steps_done}/{p.steps} | "
                f"{_fmt(p.mean_temperature_K, '.0f')} | {drift} | {topology} | "
                f"{'pass' if p.passed else 'FAIL'} |"
            )
        lines += _problem_lines(result.probes)
    else:
        lines.append("No MD probes were run.")
    for figure in figures:
        lines += ["", f"![{figure}]({figure})"]
    return "\n".join(lines) + "\n"


def plot_scans(result: Validation, path) -> None:
    """Bond- and angle-scan curves, one panel per scan: the sum and the fast and slow parts,
    against the bond length or (angle scans) the outer atoms' distance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, len(result.scans) + len(result.angle_scans))
    fig = Figure(figsize=(4.2 * n, 3.4), constrained_layout=True)
    FigureCanvasAgg(fig)
    for k, scan in enumerate(result.scans):
        ax = fig.add_subplot(1, n, k + 1)
        ax.plot(scan.distances_A, scan.energy, "k-", label="sum")
        if scan.fast is not None:
            ax.plot(scan.distances_A, scan.fast, "C0--", label="fast")
            ax.plot(scan.distances_A, scan.slow, "C1:", label="slow")
        ax.axvline(scan.length_A, color="0.7", lw=0.8)
        for m in scan.false_minima:
            ax.plot([m.position_A], [np.interp(m.position_A, scan.distances_A, scan.energy)], "rv")
        ax.set_xlabel(f"{scan.pair} distance (A)")
        ax.set_ylabel("energy (eV)")
        ax.set_title(f"{scan.pair}: {'pass' if scan.passed else 'FAIL'}")
        ax.legend(fontsize=8)
    for k, scan in enumerate(result.angle_scans, start=len(result.scans)):
        ax = fig.add_subplot(1, n, k + 1)
        ax.plot(scan.distances_A, scan.energy, "k-", label="sum")
        if scan.fast is not None:
            ax.plot(scan.distances_A, scan.fast, "C0--", label="fast")
            ax.plot(scan.distances_A, scan.slow, "C1:", label="slow")
        ax.axvline(scan.distances_A[np.argmin(np.abs(scan.angles_deg - scan.angle_deg))], color="0.7", lw=0.8)
        for m in scan.false_minima:
            ax.plot(
                [m.position_A], [np.interp(m.position_A, scan.distances_A[::-1], scan.energy[::-1])], "rv"
            )
        outer = "-".join(scan.angle.split("-")[::2])
        ax.set_xlabel(f"{outer} distance closing {scan.angle} (A)")
        ax.set_ylabel("energy (eV)")
        ax.set_title(f"{scan.angle}: {'pass' if scan.passed else 'FAIL'}")
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def plot_probes(result: Validation, path) -> None:
    """Conserved-energy drift and mean temperature against K."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 3.4), constrained_layout=True)
    FigureCanvasAgg(fig)
    ks = [p.k for p in result.probes]
    colours = ["C2" if p.passed else "C3" for p in result.probes]
    ax = fig.add_subplot(1, 2, 1)
    ax.errorbar(ks, [p.drift for p in result.probes], yerr=[p.drift_stderr for p in result.probes], fmt="k-")
    ax.scatter(ks, [p.drift for p in result.probes], c=colours, zorder=3)
    if result.probe_settings is not None:
        for sign in (1, -1):
            ax.axhline(sign * result.probe_settings.max_drift, color="0.6", ls="--", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("K (inner steps per outer step)")
    ax.set_ylabel("drift (meV/atom/ps)")
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(ks, [p.mean_temperature_K for p in result.probes], "k-")
    ax.scatter(ks, [p.mean_temperature_K for p in result.probes], c=colours, zorder=3)
    if result.probe_settings is not None:
        ax.axhline(result.probe_settings.temperature_K, color="0.6", ls="--", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("K")
    ax.set_ylabel("mean temperature (K)")
    fig.savefig(path, dpi=120)
