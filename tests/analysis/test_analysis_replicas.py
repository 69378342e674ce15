"""Replica comparison (`nequip_mts.analysis.replicas`, `nequip-mts analyze` with repeated labels).

References: synthetic RDFs whose difference is known (none, or a shift far beyond the
noise), the test's false-alarm rate over many data sets drawn from one distribution,
and max |dg| and standard errors computed directly with numpy.
"""

import json
from math import comb
from types import SimpleNamespace

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from test_analysis_analyze import LENGTH, N_H, N_O, analyze, ideal_gas_run

from nequip_mts.analysis.replicas import compare_replicas, label_splits, pair_differences
from nequip_mts.md.runner import TIME_KEY

R = np.linspace(0.05, 6.0, 60)


def fake_run(rng, shift=0.0, noise=0.05, temperature=300.0, d=2.0, stretch=3500.0):
    """A run as compare_replicas reads it: two RDFs with independent per-bin noise."""
    base = 1.0 + np.exp(-((R - 3.0) ** 2) / 0.1)
    g = {
        "OO": base + shift * np.exp(-((R - 3.0) ** 2) / 0.1) + rng.normal(scale=noise, size=R.size),
        "OH": 1.0 + rng.normal(scale=noise, size=R.size),
    }
    return SimpleNamespace(
        rdf=SimpleNamespace(r=R, g=g),
        mean_temperature_K=temperature + rng.normal(scale=2.0),
        diffusion={"O": SimpleNamespace(D_cgs=d + rng.normal(scale=0.2))},
        element_temperature_K={},
        band_peaks={(2800.0, 4200.0): stretch + rng.normal(scale=15.0), (1300.0, 1900.0): float("nan")},
    )


def test_label_splits_enumerate_every_split_observed_first():
    splits = label_splits(4, 4)
    assert splits.shape == (comb(8, 4), 8)
    assert np.array_equal(splits[0], np.arange(8) < 4)
    assert (splits.sum(1) == 4).all()
    assert len({tuple(s) for s in splits}) == comb(8, 4)
    sampled = label_splits(10, 10, max_splits=300)  # C(20, 10) = 184756 splits: a random subset
    assert sampled.shape == (300, 20) and np.array_equal(sampled[0], np.arange(20) < 10)


def test_pair_differences_are_the_max_abs_difference_of_each_pair():
    rng = np.random.default_rng(0)
    gs = [fake_run(rng).rdf.g for _ in range(3)]
    d = pair_differences(gs, R, rmin=1.0)
    sel = R >= 1.0
    for i in range(3):
        for j in range(3):
            expect = np.max(np.abs(gs[i]["OO"][sel] - gs[j]["OO"][sel]))
            assert d["OO"][i, j] == pytest.approx(expect)


def test_a_shift_far_beyond_the_noise_is_found_and_reported_by_the_smallest_p():
    rng = np.random.default_rng(1)
    a = [fake_run(rng) for _ in range(4)]
    b = [fake_run(rng, shift=0.5, temperature=320.0, d=3.0, stretch=3450.0) for _ in range(4)]
    rep = compare_replicas(a, b, "single", "MTS")
    assert rep.n_splits == 70 and rep.smallest_p == pytest.approx(2 / 70)
    assert rep.p_pairwise["OO"] == pytest.approx(2 / 70) and rep.p_mean["OO"] == pytest.approx(2 / 70)
    assert not rep.within_noise("OO")
    assert rep.mean_diff["OO"] == pytest.approx(0.5, abs=0.1)  # the shift, through the noise
    assert np.mean(rep.across["OO"]) > 2 * rep.noise("OO")
    # the replica means and their standard errors, as numpy gives them
    t_b = [run.mean_temperature_K for run in b]
    assert rep.temperature_K["MTS"] == pytest.approx((np.mean(t_b), np.std(t_b, ddof=1) / 2))
    d_a = [run.diffusion["O"].D_cgs for run in a]
    assert rep.diffusion["O"]["single"] == pytest.approx((np.mean(d_a), np.std(d_a, ddof=1) / 2))
    assert rep.diffusion_sigma("O") > 3
    # VDOS band peaks: replica means and errors; a band without a peak in some run is left out
    stretch = [[run.band_peaks[2800.0, 4200.0] for run in runs] for runs in (a, b)]
    assert rep.band_peak_cm1 == {
        (2800.0, 4200.0): tuple((np.mean(v), np.std(v, ddof=1) / 2) for v in stretch)
    }
    # the difference curve of the plot and its standard error, per bin
    ga, gb = (np.stack([run.rdf.g["OO"] for run in runs]) for runs in (a, b))
    assert rep.diff_curve["OO"] == pytest.approx(gb.mean(0) - ga.mean(0))
    expect_se = np.sqrt(ga.var(0, ddof=1) / 4 + gb.var(0, ddof=1) / 4)
    assert rep.se_curve["OO"] == pytest.approx(expect_se)


def test_false_alarm_rate_when_both_setups_sample_one_distribution():
    rng = np.random.default_rng(2)
    alarms, p_values = 0, []
    trials = 300
    for _ in range(trials):
        runs = [fake_run(rng) for _ in range(8)]
        rep = compare_replicas(runs[:4], runs[4:], "a", "b")
        alarms += not rep.within_noise("OH")
        p_values.append(rep.p_pairwise["OH"])
    # each statistic alone rejects with probability 2/70; either of the two at most twice that
    assert alarms / trials < 2 * 2 / 70 + 0.03
    assert 0.4 < np.mean(p_values) < 0.62  # p roughly uniform under the null


def test_replicas_need_two_runs_each():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="at least 2 runs"):
        compare_replicas([fake_run(rng)], [fake_run(rng), fake_run(rng)], "a", "b")


def lattice_gas_run(seed, n_frames=60):
    """O atoms on random sites of a 3 A cubic lattice (a peaked g_OO), H uniform."""
    rng = np.random.default_rng(seed)
    sites = np.stack(np.meshgrid(*[np.arange(4) * 3.0] * 3, indexing="ij"), -1).reshape(-1, 3)
    frames = []
    for k in range(n_frames):
        o = sites[rng.choice(len(sites), N_O, replace=False)] + rng.normal(scale=0.15, size=(N_O, 3))
        h = rng.uniform(0, LENGTH, size=(N_H, 3))
        atoms = Atoms("O" * N_O + "H" * N_H, positions=np.vstack([o, h]), cell=np.eye(3) * LENGTH, pbc=True)
        atoms.info[TIME_KEY] = k * 10.0
        frames.append(atoms)
    return frames


def test_analyze_with_repeated_labels_compares_the_setups_by_their_replicas(tmp_path):
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"gas{i}.extxyz")
        write(paths[-1], ideal_gas_run(20 + i, n_frames=60))
    for i in range(4):
        paths.append(tmp_path / f"lattice{i}.extxyz")
        write(paths[-1], lattice_gas_run(30 + i))
    out = tmp_path / "out"
    analyze([*paths, "--labels", *["gas"] * 4, *["lattice"] * 4, "--rmax", 5.0, "--nbins", 25, "-o", out])
    data = json.loads((out / "results.json").read_text())
    assert list(data["runs"]) == [f"gas {i}" for i in range(1, 5)] + [f"lattice {i}" for i in range(1, 5)]
    assert data["comparisons"] == []  # the replica section replaces every pair of runs
    (rep,) = data["replicas"]
    assert (rep["a"], rep["b"], rep["n_splits"]) == ("gas", "lattice", 70)
    assert rep["within_noise"]["OO"] is False and rep["p_pairwise"]["OO"] == pytest.approx(2 / 70)
    # H is uniform in both setups, so g_OH and g_HH are the same up to noise
    assert rep["within_noise"]["HH"] is True
    report = (out / "report.md").read_text()
    assert "## Replicas: lattice against gas" in report
    assert (out / "rdf.png").exists() and (out / "rdf_replicas.png").exists()


def test_analyze_refuses_a_setup_with_one_replica(tmp_path):
    for name in ("a", "b", "c"):
        write(tmp_path / f"{name}.extxyz", ideal_gas_run(1, n_frames=20))
    runs = [tmp_path / f"{name}.extxyz" for name in ("a", "b", "c")]
    with pytest.raises(ValueError, match="at least 2 runs .x has 1"):
        analyze([*runs, "--labels", "x", "y", "y", "-o", tmp_path / "o", "--no-plots"])
