"""Replicas: is the difference between two MD setups larger than between independent runs of one?

One run's sampling noise can only be estimated from within it (:mod:`.rdf` splits it
into halves), and that estimate is itself noisy: two runs of the same liquid can give
estimates a factor of 2 apart. Independent replicas measure the noise directly. Each
setup (say MTS and its single-step control) is run R times with its own starting
velocities and thermostat noise; then, for every pair of runs, the max |dg(r)| of
each RDF:

* pairs **within** one setup: the difference between two independent runs of this
  length from sampling alone, which is what "the sampling noise" means;
* pairs **across** the setups: the difference between the setups plus that noise.

Two statistics test whether the setups differ, each against its distribution over
every way of splitting the pooled runs into two groups of the same sizes (a
permutation test: if both setups sample the same distribution, the observed split is
one of these, all equally likely; exact for small R, a random subset of splits
beyond ``max_splits``):

* **pairwise**: the mean max |dg| across pairs minus the mean within pairs;
* **of the means**: max |mean_a(r) - mean_b(r)| of the replica-averaged RDFs, which
  finds a systematic shift smaller than one run's noise.

The p-value is the fraction of splits whose statistic is at least the observed one.
With R runs per setup the smallest possible p-value is 2 / C(2R, R): at least 4 runs
per setup are needed before p can fall below 0.05.

Self-diffusion, mean temperature, each element's kinetic temperature (equipartition:
r-RESPA resonance heats light, stiffly bonded atoms while a global thermostat cools the
rest) and the VDOS peak in each band (an outer step near a vibration's period shifts
it) are compared by their replica means, with the standard error from the replica
scatter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from math import comb

import numpy as np

from .rdf import rdf_max_abs_diff

#: a difference is within the sampling noise when both p-values are at least this
ALPHA = 0.05


def pair_differences(gs: Sequence[dict], r: np.ndarray, rmin: float = 0.0) -> dict[str, np.ndarray]:
    """max |g_i - g_j| for every pair of runs: key -> symmetric (n, n) matrix, zero diagonal."""
    n = len(gs)
    out = {key: np.zeros((n, n)) for key in gs[0]}
    for i, j in combinations(range(n), 2):
        for key, value in rdf_max_abs_diff(gs[i], gs[j], r=r, rmin=rmin).items():
            out[key][i, j] = out[key][j, i] = value
    return out


def label_splits(n_a: int, n_b: int, max_splits: int = 5000, seed: int = 0) -> np.ndarray:
    """Boolean masks (True: group a) over ``n_a + n_b`` pooled runs; row 0 is the observed split.

    Every split of the pooled runs into groups of ``n_a`` and ``n_b`` when there are at
    most ``max_splits``, else the observed one and ``max_splits - 1`` drawn at random.
    """
    n = n_a + n_b
    observed = np.arange(n) < n_a
    if comb(n, n_a) <= max_splits:
        rows = []
        for members in combinations(range(n), n_a):
            mask = np.zeros(n, bool)
            mask[list(members)] = True
            rows.append(mask)
        rows.sort(key=lambda m: not np.array_equal(m, observed))  # observed first
        return np.array(rows)
    rng = np.random.default_rng(seed)
    return np.array([observed] + [rng.permutation(observed) for _ in range(max_splits - 1)])


def _mean_se(values) -> tuple[float, float]:
    values = np.asarray(values, float)
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(np.mean(values)), se


def difference_sigma(a: tuple[float, float], b: tuple[float, float]) -> float:
    """|mean_b - mean_a| in combined standard errors, for two (mean, standard error) pairs."""
    err = float(np.hypot(a[1], b[1]))
    return abs(b[0] - a[0]) / err if err > 0 else float("inf")


@dataclass
class ReplicaComparison:
    """Replicas of setup ``b`` against replicas of setup ``a`` (see the module docstring).

    Attributes
    ----------
    a, b : str
        Setup labels.
    n_a, n_b : int
        Runs of each.
    within_a, within_b, across : dict of str -> ndarray
        max |dg| of every pair of runs within a, within b and across, per RDF.
    p_pairwise, p_mean : dict of str -> float
        Permutation p-values of the pairwise and the of-the-means statistic.
    mean_diff : dict of str -> float
        max |mean_b(r) - mean_a(r)| of the replica-averaged RDFs.
    mean_diff_null95 : dict of str -> float
        The 95th percentile of that statistic over the label splits: the difference of
        the means that sampling alone reaches once in 20.
    n_splits : int
        Label splits the p-values come from (the observed one included).
    r : ndarray
        Bin centres (Å) of the RDFs.
    diff_curve, se_curve : dict of str -> ndarray
        mean_b(r) - mean_a(r) per bin, and its standard error from the replica scatter.
    temperature_K : dict of str -> (mean, standard error)
    element_temperature_K : dict of str -> ((mean, se) of a, (mean, se) of b)
        Element -> its kinetic temperature in K (equipartition check).
    diffusion : dict of str -> dict of str -> (mean, standard error)
        Group -> setup label -> D in 10^-5 cm^2/s.
    band_peak_cm1 : dict of (float, float) -> ((mean, se) of a, (mean, se) of b)
        VDOS band (cm^-1) -> the wavenumber of its highest peak.
    """

    a: str
    b: str
    n_a: int
    n_b: int
    within_a: dict[str, np.ndarray]
    within_b: dict[str, np.ndarray]
    across: dict[str, np.ndarray]
    p_pairwise: dict[str, float]
    p_mean: dict[str, float]
    mean_diff: dict[str, float]
    mean_diff_null95: dict[str, float]
    n_splits: int
    r: np.ndarray | None = None
    diff_curve: dict[str, np.ndarray] = field(default_factory=dict)
    se_curve: dict[str, np.ndarray] = field(default_factory=dict)
    temperature_K: dict[str, tuple[float, float]] = field(default_factory=dict)
    diffusion: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    element_temperature_K: dict[str, tuple[tuple[float, float], tuple[float, float]]] = field(
        default_factory=dict
    )
    band_peak_cm1: dict[tuple[float, float], tuple[tuple[float, float], tuple[float, float]]] = field(
        default_factory=dict
    )

    @property
    def keys(self) -> list[str]:
        return list(self.across)

    def noise(self, key: str) -> float:
        """Mean max |dg| of the pairs within either setup: the sampling noise, measured."""
        return float(np.mean(np.concatenate([self.within_a[key], self.within_b[key]])))

    def within_noise(self, key: str, alpha: float = ALPHA) -> bool:
        """Whether neither statistic finds a difference at level ``alpha``."""
        return self.p_pairwise[key] >= alpha and self.p_mean[key] >= alpha

    @property
    def smallest_p(self) -> float:
        """The smallest p-value the label splits allow (the observed split and its mirror)."""
        return (2.0 if self.n_a == self.n_b else 1.0) / self.n_splits

    def diffusion_sigma(self, group: str) -> float:
        """|D_b - D_a| in combined standard errors of the replica means."""
        return difference_sigma(self.diffusion[group][self.a], self.diffusion[group][self.b])


def compare_replicas(
    runs_a: Sequence,
    runs_b: Sequence,
    a: str,
    b: str,
    rmin: float = 0.0,
    max_splits: int = 5000,
    seed: int = 0,
) -> ReplicaComparison:
    """Compare the replicas ``runs_b`` of setup ``b`` with ``runs_a`` of setup ``a``.

    Parameters
    ----------
    runs_a, runs_b : sequence of RunAnalysis
        Analysed runs (:func:`nequip_mts.analysis.report.analyze_run`), at least 2 each,
        on one RDF grid.
    a, b : str
        Setup labels.
    rmin : float
        Compare RDFs beyond this distance (Å) only.
    max_splits, seed
        See :func:`label_splits`.
    """
    n_a, n_b = len(runs_a), len(runs_b)
    if n_a < 2 or n_b < 2:
        raise ValueError(f"{a}: {n_a} run(s), {b}: {n_b}; replicas need at least 2 runs of each setup")
    pooled = [*runs_a, *runs_b]
    r = pooled[0].rdf.r
    if any(run.rdf.r.shape != r.shape or not np.allclose(run.rdf.r, r) for run in pooled):
        raise ValueError("the replicas have different RDF grids; analyse them with the same options")
    gs = [run.rdf.g for run in pooled]
    diffs = pair_differences(gs, r, rmin)
    splits = label_splits(n_a, n_b, max_splits, seed)
    upper = np.triu(np.ones((n_a + n_b,) * 2, bool), 1)
    mask_r = r >= rmin

    within_a, within_b, across, p_pair, p_mean, mean_diff, null95 = {}, {}, {}, {}, {}, {}, {}
    for key, d in diffs.items():
        stacked = np.stack([g[key][mask_r] for g in gs])
        pair_stat, mean_stat = [], []
        for m in splits:
            same = (m[:, None] == m[None, :]) & upper
            cross = (m[:, None] != m[None, :]) & upper
            pair_stat.append(d[cross].mean() - d[same].mean())
            mean_stat.append(np.max(np.abs(stacked[m].mean(0) - stacked[~m].mean(0))))
        pair_stat, mean_stat = np.array(pair_stat), np.array(mean_stat)
        obs = splits[0]
        within_a[key] = d[np.ix_(obs, obs)][np.triu_indices(n_a, 1)]
        within_b[key] = d[np.ix_(~obs, ~obs)][np.triu_indices(n_b, 1)]
        across[key] = d[np.ix_(obs, ~obs)].ravel()
        tol = 1e-12
        p_pair[key] = float(np.mean(pair_stat >= pair_stat[0] - tol))
        p_mean[key] = float(np.mean(mean_stat >= mean_stat[0] - tol))
        mean_diff[key] = float(mean_stat[0])
        null95[key] = float(np.percentile(mean_stat, 95))

    out = ReplicaComparison(
        a, b, n_a, n_b, within_a, within_b, across, p_pair, p_mean, mean_diff, null95, len(splits), r
    )
    for key in diffs:
        ga = np.stack([run.rdf.g[key] for run in runs_a])
        gb = np.stack([run.rdf.g[key] for run in runs_b])
        out.diff_curve[key] = gb.mean(0) - ga.mean(0)
        out.se_curve[key] = np.sqrt(ga.var(0, ddof=1) / n_a + gb.var(0, ddof=1) / n_b)
    if all(run.mean_temperature_K is not None for run in pooled):
        out.temperature_K = {
            a: _mean_se([run.mean_temperature_K for run in runs_a]),
            b: _mean_se([run.mean_temperature_K for run in runs_b]),
        }
    for el in [
        e for e in pooled[0].element_temperature_K if all(e in r.element_temperature_K for r in pooled)
    ]:
        out.element_temperature_K[el] = (
            _mean_se([run.element_temperature_K[el] for run in runs_a]),
            _mean_se([run.element_temperature_K[el] for run in runs_b]),
        )
    for band in [
        b for b in pooled[0].band_peaks if all(np.isfinite(r.band_peaks.get(b, np.nan)) for r in pooled)
    ]:
        out.band_peak_cm1[band] = (
            _mean_se([run.band_peaks[band] for run in runs_a]),
            _mean_se([run.band_peaks[band] for run in runs_b]),
        )
    for group in set.intersection(*(set(run.diffusion) for run in pooled)):
        out.diffusion[group] = {
            a: _mean_se([run.diffusion[group].D_cgs for run in runs_a]),
            b: _mean_se([run.diffusion[group].D_cgs for run in runs_b]),
        }
    return out


__all__ = [
    "ALPHA",
    "ReplicaComparison",
    "compare_replicas",
    "difference_sigma",
    "label_splits",
    "pair_differences",
]
