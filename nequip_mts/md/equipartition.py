"""Equipartition check: each element's kinetic temperature over an MD run.

In equilibrium every element has the system's temperature. r-RESPA with an outer step
close to a fast vibration's period pumps energy into that vibration (the light, stiffly
bonded atoms: H in O-H); a global thermostat (Bussi) then takes the excess out of all
atoms alike, so the H atoms run hot and the heavy atoms cold while the total sits at the
target. Short runs cannot see it (over 0.5 ps of 96 water atoms the H-O difference
scatters by 30 K), so :class:`ElementTemperatures` watches the whole run and
:meth:`ElementTemperatures.summary` judges the difference against its own block scatter.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from typing import Optional

import numpy as np
from ase import units

#: a pair of elements is flagged when it differs by more than this many standard errors ...
MAX_SIGMA = 4.0
#: ... and by more than this fraction of the mean temperature
MAX_RELATIVE = 0.05
#: elements with fewer atoms are left out (their temperature is too noisy to compare)
MIN_ATOMS = 8
#: the run is judged on blocks of its samples after discarding the first DISCARD of them
BLOCKS, DISCARD = 10, 0.2
#: fewer samples than this (after the discard) give no verdict
MIN_SAMPLES = 50


def element_kinetic_temperatures(atoms) -> dict[str, float]:
    """Element -> kinetic temperature (K) of its atoms in ``atoms`` (3 degrees of freedom each)."""
    symbols = np.array(atoms.get_chemical_symbols())
    ke = 0.5 * np.sum(atoms.get_momenta() ** 2, axis=1) / atoms.get_masses()
    return {el: float(ke[symbols == el].mean() / (1.5 * units.kB)) for el in dict.fromkeys(symbols)}


@dataclasses.dataclass
class EquipartitionSummary:
    """Per-element mean kinetic temperatures of a run, with standard errors from blocks.

    ``worst`` is the pair of elements (a, b, T_b - T_a in K, that difference in standard
    errors) that breaks equipartition the most: beyond both :data:`MAX_SIGMA` and
    :data:`MAX_RELATIVE` if any pair is (then ``broken``), else the most significant one.
    """

    temperature_K: dict[str, float]
    stderr_K: dict[str, float]
    samples: int
    worst: tuple[str, str, float, float]
    broken: bool

    def line(self) -> str:
        """One line for the end of a run."""
        parts = ", ".join(f"{el} {t:.1f} +/- {self.stderr_K[el]:.1f}" for el, t in self.temperature_K.items())
        return f"kinetic temperature per element (K, last {100 * (1 - DISCARD):.0f}% of the run): {parts}"

    def warning(self) -> Optional[str]:
        """The warning when equipartition is broken, else ``None``."""
        if not self.broken:
            return None
        a, b, diff, sigma = self.worst
        hot, cold = (b, a) if diff > 0 else (a, b)
        return (
            f"equipartition broken: {hot} atoms run {abs(diff):.0f} K hotter than {cold} atoms "
            f"({sigma:.1f} standard errors). The outer step likely resonates with a fast vibration, "
            "and a global thermostat (or none) cannot take the heat back from where it goes: use a "
            "smaller K, or --ensemble langevin (friction on every atom at every inner step); docs/md.md"
        )


class ElementTemperatures:
    """MD observer that records each element's kinetic temperature at every call.

    Attach it to an integrator (``dyn.attach(observer, interval=n)``); :meth:`summary`
    gives the means over the run without its first :data:`DISCARD`.
    """

    def __init__(self, atoms):
        self.atoms = atoms
        symbols = atoms.get_chemical_symbols()
        self.elements = [el for el in dict.fromkeys(symbols) if symbols.count(el) >= MIN_ATOMS]
        self.samples: list[list[float]] = []

    def __call__(self):
        if len(self.elements) < 2:
            return
        temps = element_kinetic_temperatures(self.atoms)
        self.samples.append([temps[el] for el in self.elements])

    def summary(self) -> Optional[EquipartitionSummary]:
        """Means and block standard errors, or ``None`` with too few samples or elements."""
        kept = np.asarray(self.samples[int(DISCARD * len(self.samples)) :])
        if len(self.elements) < 2 or len(kept) < MIN_SAMPLES:
            return None
        blocks = np.array([b.mean(axis=0) for b in np.array_split(kept, BLOCKS)])  # [blocks, elements]
        mean = kept.mean(axis=0)
        se = blocks.std(axis=0, ddof=1) / np.sqrt(BLOCKS)
        limit_K = MAX_RELATIVE * float(mean.mean())
        pairs = []
        for i, j in combinations(range(len(self.elements)), 2):
            # the pair's difference per block: its scatter carries the elements' correlation
            d = blocks[:, j] - blocks[:, i]
            diff, d_se = float(mean[j] - mean[i]), float(d.std(ddof=1) / np.sqrt(BLOCKS))
            sigma = abs(diff) / d_se if d_se > 0 else float("inf")
            pairs.append((self.elements[i], self.elements[j], diff, sigma))
        flagged = [p for p in pairs if p[3] > MAX_SIGMA and abs(p[2]) > limit_K]
        worst = max(flagged, key=lambda p: abs(p[2])) if flagged else max(pairs, key=lambda p: p[3])
        return EquipartitionSummary(
            {el: float(t) for el, t in zip(self.elements, mean)},
            {el: float(s) for el, s in zip(self.elements, se)},
            len(kept),
            worst,
            bool(flagged),
        )
