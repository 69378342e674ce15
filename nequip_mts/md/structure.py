"""The start structure of a run: reading it with clear errors, and its fastest bond stretch.

:func:`read_structure` is how every command (``md``, ``write-lammps-input``) reads its
structure file. :func:`fastest_stretch` estimates the period of the fastest bond
stretch from the bonded pairs of the structure, which
:meth:`~nequip_mts.md.settings.MDSettings.outer_step_warning` compares with the outer
step (docs/md.md, section "Resonance").

Import-light: ASE only inside the functions, no torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Optional

from nequip_mts.errors import InputError, first_line

# Typical stretch wavenumbers (cm^-1) of bonds between two elements, gas-phase or
# liquid fundamentals rounded up (the faster end of each range): H2 4160, HF 3960,
# O-H 3700 (water 3657/3756), N-H 3400, C-H 3000-3100, S-H 2600, Cl-H 2890, ...
# Multiple bonds between heavy atoms (C=O 1700-1750, C#N 2250, N#N 2330) cannot be told
# from single ones by distance alone; the faster value is used.
STRETCH_WAVENUMBERS_CM = {
    ("H", "H"): 4160.0,
    ("F", "H"): 3960.0,
    ("H", "O"): 3700.0,
    ("H", "N"): 3400.0,
    ("C", "H"): 3100.0,
    ("Cl", "H"): 2890.0,
    ("Br", "H"): 2650.0,
    ("H", "S"): 2600.0,
    ("B", "H"): 2600.0,
    ("H", "P"): 2350.0,
    ("H", "Si"): 2200.0,
    ("N", "N"): 2330.0,
    ("C", "N"): 2250.0,
    ("C", "O"): 1750.0,
    ("C", "C"): 2100.0,
    ("O", "O"): 1580.0,
    ("N", "O"): 1900.0,
}

# For a pair not in the table: a harmonic bond of a typical single-bond stiffness,
# 500 N/m (5 mdyn/A), on the reduced mass of the pair; about 2900 cm^-1 for X-H and
# 1200 cm^-1 for C-C, faster than most bonds between heavy atoms (so it errs on the
# side of a warning).
GENERIC_STIFFNESS_N_PER_M = 500.0

# speed of light in cm/fs: period_fs = 1 / (SPEED_OF_LIGHT_CM_PER_FS * wavenumber)
SPEED_OF_LIGHT_CM_PER_FS = 2.99792458e-5


class Stretch(NamedTuple):
    """The fastest bond stretch of a structure."""

    period_fs: float
    pair: tuple
    wavenumber_cm: float
    source: str  # "table" or "generic stiffness"


def read_structure(path, index="-1", what="structure"):
    """Read one frame of a structure file, with an :class:`InputError` for each mistake.

    Parameters
    ----------
    path : path
        Any file ``ase.io.read`` reads.
    index : int or str
        The frame (``--index``); negative counts from the end.
    what : str
        How to name the file in messages.

    Raises
    ------
    InputError
        No such file, an unknown format, an unreadable file, a frame past the end, a
        structure with no atoms or with non-finite positions.
    """
    import ase.io
    import numpy as np
    from ase.io.formats import UnknownFileTypeError

    path = Path(path)
    if not path.exists():
        raise InputError(f"no {what} file at {path}")
    if path.is_dir():
        raise InputError(f"the {what} {path} is a directory; give a structure file")
    try:
        i = int(index)
    except (TypeError, ValueError):
        raise InputError(f"--index must be a whole number (a frame of {path}), got {index!r}") from None
    try:
        atoms = ase.io.read(path, index=i)
    except UnknownFileTypeError as err:
        raise InputError(
            f"cannot tell the format of the {what} {path} ({err}); give a file ase.io.read "
            "knows by its extension, e.g. .xyz, .extxyz, .traj, .cif, .pdb or POSCAR"
        ) from None
    except (IndexError, StopIteration):
        n = _count_frames(path)
        raise InputError(
            f"--index {i} is past the end of {path}, which holds {n} frame{'s' if n != 1 else ''} "
            f"(use 0..{n - 1} or -{n}..-1)"
        ) from None
    except Exception as err:  # noqa: BLE001 - a parser's error on a file it cannot read
        detail = first_line(err)
        raise InputError(f"cannot read the {what} {path}: {type(err).__name__}: {detail}") from None
    if isinstance(atoms, list):  # a format that ignores the index
        atoms = atoms[i]
    if len(atoms) == 0:
        raise InputError(f"the {what} {path} (frame {i}) holds no atoms")
    if not np.isfinite(atoms.positions).all():
        raise InputError(f"the {what} {path} (frame {i}) has non-finite positions")
    return atoms


def _count_frames(path) -> int:
    import ase.io

    try:
        return len(ase.io.read(path, index=":"))
    except Exception:  # noqa: BLE001 - only for the message
        return 0


def stretch_wavenumber_cm(a: str, b: str) -> Optional[float]:
    """The tabulated stretch wavenumber of an ``a``-``b`` bond, or ``None``."""
    return STRETCH_WAVENUMBERS_CM.get(tuple(sorted((a, b))))


def fastest_stretch(atoms) -> Optional[Stretch]:
    """Estimate the period of the fastest bond stretch in ``atoms``.

    Bonds are those of :class:`~nequip_mts.md.topology.TopologyWatch`: pairs closer than
    :data:`nequip_mts.analysis.molecules.BOND_SCALE` times the sum of their covalent radii
    (``ase.neighborlist.natural_cutoffs``). Each bonded element pair gets
    the wavenumber of :data:`STRETCH_WAVENUMBERS_CM`, or, if it is not listed, that of a
    harmonic bond of stiffness :data:`GENERIC_STIFFNESS_N_PER_M` on the pair's reduced
    mass. This is an estimate of the fastest mode, not a measurement; a validation run
    (docs/md.md, section "Resonance") is what shows whether an outer step is stable.

    Returns
    -------
    Stretch or None
        The fastest one, or ``None`` when no two atoms are bonded.
    """
    from ase import units

    from nequip_mts.md.topology import TopologyWatch

    if len(atoms) < 2:
        return None
    probe = atoms.copy()
    probe.calc = None
    if probe.cell.rank < 3:
        # no (full) cell: a bounding box, so that the neighbour search does not fail
        probe.pbc = False
    bonds = TopologyWatch(probe).bonds
    if len(bonds) == 0:
        return None
    numbers = probe.numbers
    pairs = {tuple(sorted(p)) for p in numbers[bonds].tolist()}
    masses = probe.get_masses()
    mass_of = {int(z): float(m) for z, m in zip(numbers, masses)}
    symbols = dict(zip(numbers.tolist(), probe.get_chemical_symbols()))
    best = None
    for za, zb in pairs:
        a, b = symbols[za], symbols[zb]
        nu = stretch_wavenumber_cm(a, b)
        source = "table"
        if nu is None:
            mu = mass_of[za] * mass_of[zb] / (mass_of[za] + mass_of[zb])
            k = GENERIC_STIFFNESS_N_PER_M * units.J / units.m**2  # eV/A^2
            omega = math.sqrt(k / mu)  # rad per ASE time unit
            period_fs = 2.0 * math.pi / omega / units.fs
            nu = 1.0 / (SPEED_OF_LIGHT_CM_PER_FS * period_fs)
            source = "generic stiffness"
        period_fs = 1.0 / (SPEED_OF_LIGHT_CM_PER_FS * nu)
        if best is None or period_fs < best.period_fs:
            best = Stretch(period_fs, tuple(sorted((a, b))), nu, source)
    return best
