"""`nequip-mts analyze` end to end against systems with known answers.

One synthetic run holds all of them at once: independent random walks with a known
D from uniform starts (so an ideal gas, g = (N-1)/N for like pairs and 1 for unlike),
velocities of harmonic oscillators with known periods (VDOS peaks at known
wavenumbers, known temperature), frames stamped with ``md_time_fs`` as
``nequip-mts md`` writes them, and logs with a known linear drift in both formats.
"""

import argparse
import json

import numpy as np
import pytest
from ase import Atoms, units
from ase.geometry import wrap_positions
from ase.io import write

from nequip_mts.cli.analyze import add_parser
from nequip_mts.md.runner import STEP_KEY, TIME_KEY

C_CM_PER_FS = 2.99792458e-5
D_TRUE = 0.25  # A^2/ps
DT_FS = 2.0
N_O, N_H, LENGTH = 40, 80, 12.0
PERIOD_H, PERIOD_O = 9.5, 21.0  # fs: 3511 and 1588 cm^-1
AMP = 0.02  # A


def synthetic_run(seed, n_frames=600, with_time=True, final_off_grid=True):
    rng = np.random.default_rng(seed)
    n = N_O + N_H
    cell = np.eye(3) * LENGTH
    sigma = np.sqrt(2 * D_TRUE * DT_FS / 1000.0)
    x = rng.uniform(0, LENGTH, size=(1, n, 3)) + np.concatenate(
        [np.zeros((1, n, 3)), np.cumsum(rng.normal(scale=sigma, size=(n_frames - 1, n, 3)), axis=0)]
    )
    period = np.r_[np.full(N_O, PERIOD_O), np.full(N_H, PERIOD_H)][:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3))
    frames = []
    for k in range(n_frames):
        t = k * DT_FS
        atoms = Atoms("O" * N_O + "H" * N_H, positions=wrap_positions(x[k], cell), cell=cell, pbc=True)
        w = 2 * np.pi / period
        atoms.set_velocities(-AMP * w * np.sin(w * t + phase) / units.fs)
        if with_time:
            atoms.info[TIME_KEY] = 100.0 + t  # a run that does not start at 0
            atoms.info[STEP_KEY] = 4 * k
        frames.append(atoms)
    if final_off_grid:  # nequip-mts md writes the final state off the log interval
        last = frames[-1].copy()
        last.info[TIME_KEY] += 0.5 * DT_FS
        frames.append(last)
    return frames


def expected_temperature():
    # <v^2> per component = (A w)^2 / 2, so T = sum_i m_i (A w_i)^2 / 2 / (3 N k_B) x 3
    masses = np.r_[np.full(N_O, Atoms("O").get_masses()[0]), np.full(N_H, Atoms("H").get_masses()[0])]
    w = 2 * np.pi / np.r_[np.full(N_O, PERIOD_O), np.full(N_H, PERIOD_H)] / units.fs
    return np.sum(masses * (AMP * w) ** 2 / 2) / (len(masses) * units.kB)


def write_mts_log(path, slope_mev_atom_ps, n_lines=400, dt_fs=1.0, seed=0, restart_at=None):
    """A log in MTSLogger's format (the columns and header of nequip_mts.md.logger).

    With ``restart_at``, the run "crashes" after that line with 6 bad lines, and a
    restart from 6 lines earlier appends a header and repeats them correctly.
    """
    rng = np.random.default_rng(seed)
    header = "%-12s %14s %14s %14s %9s %14s %12s" % (
        "Time[fs]",
        "Etot[eV]",
        "Epot[eV]",
        "Ekin[eV]",
        "T[K]",
        "Econs[eV]",
        "Drift[meV/at]",
    )
    t = np.arange(n_lines) * dt_fs
    drift = slope_mev_atom_ps * t / 1000.0 + rng.normal(scale=1e-3, size=n_lines)

    def line(k, value):
        return "%-12.3f %14.6f %14.6f %14.6f %9.2f %14.6f %12.4f" % (
            t[k],
            -100.0,
            -110.0,
            10.0,
            300.0,
            -100.0 + value * 1e-3 * N_O,
            value,
        )

    if restart_at is None:
        lines = [header] + [line(k, drift[k]) for k in range(n_lines)]
    else:
        lines = [header] + [line(k, drift[k]) for k in range(restart_at - 5)]
        lines += [line(k, 999.0) for k in range(restart_at - 5, restart_at + 1)]
        lines += [header] + [line(k, drift[k]) for k in range(restart_at - 5, n_lines)]
    path.write_text("\n".join(lines) + "\n")


def write_ase_log(path, slope_mev_atom_ps, n_atoms, n_lines=300):
    """A log in ASE MDLogger's format (Time[ps], total energies)."""
    lines = ["%-9s %12s %12s %12s  %6s" % ("Time[ps]", "Etot[eV]", "Epot[eV]", "Ekin[eV]", "T[K]")]
    for k in range(n_lines):
        t_ps = k * 0.002
        e = -50.0 + slope_mev_atom_ps * 1e-3 * n_atoms * t_ps
        lines.append("%-10.4f %12.6f %12.6f %12.6f  %6.1f" % (t_ps, e, e - 1, 1.0, 300.0))
    path.write_text("\n".join(lines) + "\n")


def analyze(argv):
    parser = argparse.ArgumentParser(prog="nequip-mts")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["analyze", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyze")
    write(tmp / "a.traj", synthetic_run(0))
    write(tmp / "b.extxyz", synthetic_run(1))
    write_mts_log(tmp / "nve.log", slope_mev_atom_ps=0.8, restart_at=200)
    write_ase_log(tmp / "ase.log", slope_mev_atom_ps=-0.3, n_atoms=N_O + N_H)
    out = tmp / "out"
    analyze(
        [
            tmp / "a.traj",
            tmp / "b.extxyz",
            "--log",
            tmp / "nve.log",
            tmp / "ase.log",
            "-o",
            out,
            "--rmax",
            5.0,
            "--nbins",
            25,
            "--band",
            3000,
            4000,
            "--band",
            1200,
            2000,
            "--compare-rmin",
            1.0,
        ]
    )
    data = json.loads((out / "results.json").read_text())
    return tmp, out, data


def test_writes_report_and_plots(results):
    tmp, out, data = results
    report = (out / "report.md").read_text()
    for unit in ("(A)", "(fs)", "(ps)", "(cm^-1)", "(1e-5 cm^2/s)", "(meV/atom/ps)", "(K)"):
        assert unit in report, unit
    for name in ("rdf", "vdos", "msd", "drift"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert set(data["runs"]) == {"a", "b"}


def test_time_axis_from_the_frames(results):
    _, _, data = results
    run = data["runs"]["a"]
    assert run["frame_spacing_fs"] == pytest.approx(DT_FS)
    assert run["n_frames"] == 600 and run["frames_off_grid"] == 1
    assert run["t_start_ps"] == pytest.approx(0.1)
    assert run["t_end_ps"] == pytest.approx(0.1 + 599 * DT_FS / 1000)


def test_random_walk_diffusion(results):
    _, _, data = results
    for label in ("a", "b"):
        for group in ("O", "H"):
            d = data["runs"][label]["diffusion_1e-5cm2_s"][group]
            assert d["D"] == pytest.approx(10 * D_TRUE, rel=0.15), (label, group)
            assert abs(d["D"] - 10 * D_TRUE) < 4 * d["err"] + 0.02 * 10 * D_TRUE, (label, group)


def test_oscillator_vdos_peaks_and_temperature(results):
    _, _, data = results
    for label in ("a", "b"):
        peaks = data["runs"][label]["vdos_peak_cm1"]
        assert peaks["3000-4000"] == pytest.approx(1 / (PERIOD_H * C_CM_PER_FS), rel=0.005)
        assert peaks["1200-2000"] == pytest.approx(1 / (PERIOD_O * C_CM_PER_FS), rel=0.005)
        assert data["runs"][label]["mean_temperature_K"] == pytest.approx(expected_temperature(), rel=0.02)
        # per element: an oscillator of amplitude A and angular frequency w has T = m (A w)^2 / (2 k_B)
        for el, period in (("O", PERIOD_O), ("H", PERIOD_H)):
            m = Atoms(el).get_masses()[0]
            expect = m * (AMP * 2 * np.pi / period / units.fs) ** 2 / (2 * units.kB)
            assert data["runs"][label]["element_temperature_K"][el] == pytest.approx(expect, rel=0.02)


def ideal_gas_run(seed, n_frames=200):
    """Independent uniform frames: an ideal gas whose frames are uncorrelated."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        atoms = Atoms(
            "O" * N_O + "H" * N_H,
            positions=rng.uniform(0, LENGTH, size=(N_O + N_H, 3)),
            cell=np.eye(3) * LENGTH,
            pbc=True,
        )
        atoms.info[TIME_KEY] = k * 10.0
        frames.append(atoms)
    return frames


def test_ideal_gas_rdf_and_noise(tmp_path):
    write(tmp_path / "a.extxyz", ideal_gas_run(10))
    write(tmp_path / "b.extxyz", ideal_gas_run(11))
    analyze(
        [
            tmp_path / "a.extxyz",
            tmp_path / "b.extxyz",
            "-o",
            tmp_path / "out",
            "--no-plots",
            "--rmax",
            5.0,
            "--nbins",
            25,
            "--compare-rmin",
            1.0,
        ]
    )
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    (comparison,) = data["comparisons"]
    assert (comparison["a"], comparison["b"]) == ("a", "b")
    # two independent ideal gases differ by sampling noise only, and the block-half
    # estimate of that noise has the right size
    for pair in ("OO", "OH", "HH"):
        ratio = comparison["rdf_max_abs_diff_inter"][pair] / comparison["rdf_noise_inter"][pair]
        assert 0.4 < ratio < 2.5, (pair, ratio)
    # the g themselves are (N - 1) / N for like pairs and 1 for unlike ones
    from nequip_mts.analysis.report import AnalysisOptions, analyze_run

    run = analyze_run(ideal_gas_run(10), "a", AnalysisOptions(rmax=5.0, nbins=25, compare_rmin=1.0))
    sel = run.rdf.r > 1.0
    expect = {"OO": (N_O - 1) / N_O, "OH": 1.0, "HH": (N_H - 1) / N_H}
    for pair, value in expect.items():
        assert run.rdf.g[pair][sel].mean() == pytest.approx(value, abs=0.01), pair
    assert data["runs"]["a"]["rdf_noise"] == pytest.approx(run.rdf.noise())
    assert "VDOS not computed" in " ".join(data["runs"]["a"]["notes"])  # no velocities


def test_drift_of_both_log_formats(results):
    _, _, data = results
    nve = data["logs"]["nve"]
    assert nve["format"] == "MTSLogger"
    assert nve["drift_meV_atom_ps"] == pytest.approx(0.8, abs=4 * nve["stderr_meV_atom_ps"])
    assert nve["n_lines"] == 400  # the repeated line after the restart replaced, not added
    ase = data["logs"]["ase"]
    assert ase["format"] == "ASE MDLogger"
    # atom count from the trajectories (120); 6 decimals make the fit all but exact
    assert ase["drift_meV_atom_ps"] == pytest.approx(-0.3, rel=1e-3)


def test_dt_fallback_gives_the_same_numbers(tmp_path):
    write(tmp_path / "t.extxyz", synthetic_run(0, n_frames=200, final_off_grid=False))
    write(tmp_path / "n.extxyz", synthetic_run(0, n_frames=200, with_time=False, final_off_grid=False))
    common = ["--rmax", 5.0, "--nbins", 25, "--band", 3000, 4000, "--no-plots"]
    analyze([tmp_path / "t.extxyz", "-o", tmp_path / "t", *common])
    with pytest.raises(ValueError, match="dt-fs"):
        analyze([tmp_path / "n.extxyz", "-o", tmp_path / "n", *common])
    with pytest.raises(ValueError, match="contradicts"):
        analyze([tmp_path / "t.extxyz", "-o", tmp_path / "x", "--dt-fs", 3.0, *common])
    analyze([tmp_path / "n.extxyz", "-o", tmp_path / "n", "--dt-fs", DT_FS, *common])
    a = json.loads((tmp_path / "t" / "results.json").read_text())["runs"]["t"]
    b = json.loads((tmp_path / "n" / "results.json").read_text())["runs"]["n"]
    for key in ("rdf_noise", "vdos_peak_cm1", "diffusion_1e-5cm2_s", "mean_temperature_K", "n_frames"):
        assert a[key] == b[key], key


def test_equilibration_and_stride(tmp_path):
    write(tmp_path / "t.traj", synthetic_run(2, n_frames=300))
    analyze(
        [
            tmp_path / "t.traj",
            "-o",
            tmp_path,
            "--no-plots",
            "--equilibration-ps",
            0.1,
            "--stride",
            2,
            "--rmax",
            5.0,
            "--nbins",
            25,
        ]
    )
    run = json.loads((tmp_path / "results.json").read_text())["runs"]["t"]
    # 300 frames 2 fs apart from t = 100 fs: drop t < 200 fs (50 frames), keep every 2nd
    assert run["frames_discarded"] == 50 and run["n_frames"] == 125
    assert run["frame_spacing_fs"] == pytest.approx(2 * DT_FS)
    assert run["t_start_ps"] == pytest.approx(0.2)


def test_bad_input_messages(tmp_path):
    write(tmp_path / "t.traj", synthetic_run(3, n_frames=50))
    with pytest.raises(FileNotFoundError, match="missing.traj"):
        analyze([tmp_path / "missing.traj", "-o", tmp_path / "o"])
    with pytest.raises(ValueError, match="nothing to analyse"):
        analyze(["-o", tmp_path / "o"])
    with pytest.raises(ValueError, match="labels"):
        analyze([tmp_path / "t.traj", "--labels", "x", "y", "-o", tmp_path / "o"])
    with pytest.raises(ValueError, match="no Cu"):
        analyze([tmp_path / "t.traj", "--pairs", "Cu-O", "-o", tmp_path / "o", "--no-plots"])
    with pytest.raises(ValueError, match="not an element"):
        analyze([tmp_path / "t.traj", "--pairs", "Q-O", "-o", tmp_path / "o", "--no-plots"])
    with pytest.raises(ValueError, match="self-diffusion of Cu"):
        analyze([tmp_path / "t.traj", "--diffusion-groups", "Cu", "-o", tmp_path / "o", "--no-plots"])
    with pytest.raises(ValueError, match="blocks last"):
        analyze([tmp_path / "t.traj", "--diffusion-window-ps", 0.0, 1.0, "-o", tmp_path / "o", "--no-plots"])
    with pytest.raises(ValueError, match="VDOS of Cu"):
        analyze([tmp_path / "t.traj", "--vdos-groups", "Cu", "-o", tmp_path / "o", "--no-plots"])
    analyze([tmp_path / "t.traj", "-o", tmp_path / "o", "--no-plots", "--rmax", 5.0])
    with pytest.raises(ValueError, match="--overwrite"):
        analyze([tmp_path / "t.traj", "-o", tmp_path / "o", "--no-plots"])
    analyze([tmp_path / "t.traj", "-o", tmp_path / "o", "--no-plots", "--overwrite", "--rmax", 5.0])
    write_ase_log(tmp_path / "ase.log", 0.1, 10)
    with pytest.raises(ValueError, match="n-atoms"):
        analyze(["--log", tmp_path / "ase.log", "-o", tmp_path / "p", "--no-plots"])
    (tmp_path / "junk.log").write_text("hello world\n1 2\n")
    with pytest.raises(ValueError, match="neither MTSLogger"):
        analyze(["--log", tmp_path / "junk.log", "-o", tmp_path / "p", "--no-plots"])
