"""benchmarks/xtb_comparison.py: the distances and their noise, and the comparison on tiny synthetic runs.

No model and no GFN1-xTB here: the trajectories are a 32-molecule water box
(make_liquid_data.build_box) moved molecule by molecule with random velocities, and the
reference JSON is written by xtb_reference_observables.to_json from one of them.
"""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_liquid_data  # noqa: E402
import systems  # noqa: E402
import xtb_comparison as xc  # noqa: E402
import xtb_reference_observables as xro  # noqa: E402

N_FRAMES, FRAME_FS, BLOCKS = 96, 3.0, 4


def test_rdf_distance_by_hand():
    r = np.array([0.5, 1.0, 1.5, 2.0])
    g_ref = np.array([0.0, 0.04, 1.0, 2.0])
    g_run = np.array([0.1, 0.04, 1.3, 1.6])
    se_run = np.array([0.1, 0.0, 0.3, 0.0])
    se_ref = np.array([0.0, 0.0, 0.4, 0.3])
    d = xc.rdf_distance(g_run, se_run, g_ref, se_ref, r, min_g=0.05)
    # dg = [0.1, 0, 0.3, -0.4]; combined SE = [0.1, 0, 0.5, 0.3]; bins with g_ref > 0.05: the last two
    assert d["max_abs"] == pytest.approx(0.4) and d["max_abs_r"] == 2.0
    assert d["noise_at_max_abs"] == pytest.approx(0.3)
    assert d["rms"] == pytest.approx(np.sqrt((0.3**2 + 0.4**2) / 2))
    assert d["noise_max"] == pytest.approx(0.5)
    assert d["noise_rms"] == pytest.approx(np.sqrt((0.5**2 + 0.3**2) / 2))
    # z = [0.3 / 0.5, 0.4 / 0.3]
    assert d["z_max"] == pytest.approx(4.0 / 3.0) and d["z_max_r"] == 2.0
    assert d["z_rms"] == pytest.approx(np.sqrt((0.6**2 + (4.0 / 3.0) ** 2) / 2))
    assert d["n_bins"] == 2
    # the first bin (g_ref = 0) counts for the max only
    d = xc.rdf_distance(np.array([0.9, 0.04, 1.3, 1.6]), se_run, g_ref, se_ref, r, min_g=0.05)
    assert d["max_abs"] == pytest.approx(0.9) and d["max_abs_r"] == 0.5
    assert d["rms"] == pytest.approx(np.sqrt((0.3**2 + 0.4**2) / 2))


def test_rdf_mask_and_short_contacts_by_hand():
    r = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
    g_ref = np.array([0.0, 0.0, 0.01, 1.0, 2.0])
    g_run = np.array([0.0, 0.3, 0.02, 1.1, 1.5])
    assert xc.rdf_mask([g_ref, g_run], min_g=0.05).tolist() == [False, True, False, True, True]
    d = xc.rdf_distance(g_run, np.zeros(5), g_ref, np.zeros(5), r, mask=xc.rdf_mask([g_ref, g_run], 0.05))
    assert d["n_bins"] == 3 and d["rms"] == pytest.approx(np.sqrt((0.09 + 0.01 + 0.25) / 3))
    assert d["bins_r"] == [1.5, 3.0]
    # below the reference's first peak (3.0 A) where g_ref <= 0.05: bins 1.0, 1.5, 2.0
    assert xc.short_contacts(g_run, g_ref, r, 3.0, min_g=0.05) == {"max_g": 0.3, "r": 1.5}
    assert xc.short_contacts(g_ref, g_ref, r, 3.0, min_g=0.05)["max_g"] == 0.01
    assert xc.short_contacts(np.zeros(5), g_ref, r, 3.0, min_g=0.05)["max_g"] == 0.0


def test_scalar_distance_and_closeness_by_hand():
    d = xc.scalar_distance(10.0, 3.0, 6.0, 4.0)
    assert d["diff"] == 4.0 and d["noise"] == pytest.approx(5.0) and d["sigma"] == pytest.approx(0.8)
    assert xc.scalar_distance(6.0, 3.0, 10.0, 4.0)["diff"] == -4.0
    assert xc.scalar_distance(1.0, 0.0, 1.0, 0.0)["sigma"] == 0.0

    v = xc.closeness(3.0, 1.0, 1.5)  # excess 2 <= 2 x 1.5
    assert v["excess"] == 2.0 and v["excess_sigma"] == pytest.approx(4.0 / 3.0) and v["as_close"]
    v = xc.closeness(5.0, 1.0, 1.5)  # excess 4 > 3
    assert v["excess"] == 4.0 and not v["as_close"]
    assert xc.closeness(1.0, 5.0, 0.1)["as_close"]  # closer
    assert xc.combined_noise([3.0, 0.0], [4.0, 2.0]) == pytest.approx([5.0, 2.0])


def test_temperatures_by_hand():
    from ase import units

    masses = np.array([2.0, 2.0])
    v = np.array([[[0.01, 0.0, 0.0], [-0.01, 0.0, 0.0]], [[0.01, 0.0, 0.0], [0.01, 0.0, 0.0]]])  # A/fs
    t_int, t_3n = xc.temperatures(v, masses)
    ekin = 0.5 * 2.0 * 2 * (0.01 / units.fs) ** 2  # eV
    assert t_3n == pytest.approx([2 * ekin / (6 * units.kB)] * 2)
    assert t_int == pytest.approx([2 * ekin / (3 * units.kB), 0.0], abs=1e-9)  # the second: all COM motion


def test_md_physics_thermostat_constant():
    # the trajectories do not record md_physics.py's production thermostat time: keep the two in step
    src = (ROOT / "benchmarks" / "md_physics.py").read_text()
    m = re.search(r"^TAUT_FS = ([\d.]+)", src, re.M)
    assert m and float(m.group(1)) == xc.MD_PHYSICS_TAUT_FS


def _write_run(path, atoms, rng, md_steps_per_frame):
    """A trajectory in md_physics.py's format: whole molecules take random steps, random velocities."""
    from ase import units
    from ase.io import write

    from nequip_mts.md.runner import STEP_KEY, TIME_KEY

    n = len(atoms)
    x = atoms.get_positions()
    frames = []
    for k in range(N_FRAMES):
        x = x + np.repeat(rng.normal(scale=0.05, size=(n // 3, 3)), 3, axis=0)
        a = atoms.copy()
        a.positions = x
        a.set_velocities(rng.normal(scale=0.01, size=(n, 3)) / units.fs)
        a.info[TIME_KEY] = FRAME_FS * (k + 1)
        a.info[STEP_KEY] = md_steps_per_frame * (k + 1)
        frames.append(a)
    write(path, frames)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Runs A (= baseline) and B (= control and MTS) and a reference JSON made from A."""
    tmp = tmp_path_factory.mktemp("xtb_comparison")
    rng = np.random.default_rng(3)
    atoms = make_liquid_data.build_box(make_liquid_data.molecule_template("H2O"), 32, 1.0, rng)
    runs = tmp / "runs"
    runs.mkdir()
    _write_run(runs / "physics_baseline.extxyz", atoms, np.random.default_rng(4), 6)
    _write_run(runs / "physics_control.extxyz", atoms, np.random.default_rng(5), 6)
    _write_run(runs / "physics_MTS.extxyz", atoms, np.random.default_rng(5), 1)

    system = systems.get("water")
    options = system.analysis_options()
    blen = N_FRAMES // options.diffusion_blocks  # self_diffusion's default window on A's blocks
    block_t = (blen - 1) * FRAME_FS / 1000.0
    window = (0.1 * block_t, 0.5 * block_t)
    a = xc.analyse_run(runs / "physics_baseline.extxyz", options, system.bands, BLOCKS, window)
    b = xc.analyse_run(runs / "physics_control.extxyz", options, system.bands, BLOCKS, window)
    obs = {
        "options": options,
        "rdf": a["rdf"],
        "vdos": a["vdos"],
        "diffusion": a["diffusion"],
        "epot": xro.epot_observables(np.random.default_rng(6).normal(size=N_FRAMES), BLOCKS),
        "temperature": a["temperature"],
    }
    info = {
        "command": "synthetic",
        "n_atoms": 96,
        "molecules": {"H2O": 32},
        "production_ps": N_FRAMES * FRAME_FS / 1000.0,
        "production_t_ps": [0.0, N_FRAMES * FRAME_FS / 1000.0],
        "complete": True,
        "n_position_frames": N_FRAMES,
        "position_spacing_fs": FRAME_FS,
        "n_velocity_frames": N_FRAMES,
        "velocity_spacing_fs": FRAME_FS,
        "blocks": BLOCKS,
        "settings": {"method": "GFN1-xTB", "timestep": 0.5, "temperature": 350.0, "taut": 200.0},
    }
    ref_path = tmp / "ref.json"
    ref_path.write_text(xro.dump_json(xro.to_json(info, obs)) + "\n")
    return {"tmp": tmp, "runs": runs, "ref_path": ref_path, "a": a, "b": b}


def test_comparison_on_synthetic_runs(synthetic):
    from nequip_mts.analysis.rdf import partial_rdfs

    out = synthetic["tmp"] / "out" / "cmp"
    argv = ["--runs-dir", str(synthetic["runs"]), "--reference", str(synthetic["ref_path"])]
    assert xc.main([*argv, "--blocks", str(BLOCKS), "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())

    # the baseline is the reference's own trajectory: zero distance everywhere (up to the JSON's 6 digits)
    for key, d in res["rdf"]["baseline"].items():
        assert d["max_abs"] < 1e-5 and d["rms"] < 1e-5 and d["z_rms"] < 1e-3, key
        assert d["first_peak"]["diff_r"] == 0.0
    for band in res["vdos"]["baseline"].values():
        assert abs(band["peak"]["diff"]) < 1e-2 and abs(band["centroid"]["diff"]) < 1e-2
    assert abs(res["diffusion"]["baseline"]["diff"]) < 1e-5
    assert abs(res["temperature"]["baseline"]["diff"]) < 1e-9

    # the control (run B) differs by what the analysis package gives for B against A
    def g(name):
        from ase.io import read

        frames = read(synthetic["runs"] / name, index=":")
        for f in frames:
            f.wrap()
        return partial_rdfs(frames, rmax=6.0, nbins=120, intermolecular=True)[1]

    ga, gb = g("physics_baseline.extxyz"), g("physics_control.extxyz")
    for key in ("OO", "OH", "HH"):
        d = res["rdf"]["control"][key]
        assert d["max_abs"] == pytest.approx(np.abs(gb[key] - ga[key]).max(), rel=1e-4)
        m = (ga[key] > xc.RDF_MIN_G) | (gb[key] > xc.RDF_MIN_G)  # the bins of either curve
        assert d["n_bins"] == m.sum()
        assert d["rms"] == pytest.approx(np.sqrt(np.mean((gb[key] - ga[key])[m] ** 2)), rel=1e-4)
        assert d["max_abs"] > 0.01
    # MTS holds the control's positions with 1 md_step per frame
    assert res["rdf"]["MTS"] == res["rdf"]["control"]
    assert res["runs"]["baseline"]["step_fs"] == 0.5 and res["runs"]["MTS"]["step_fs"] == 3.0

    # the answer follows its rule: excess = d_control - d_baseline against 2 x the two runs' noise
    for name, v in res["verdicts"]["control vs baseline"].items():
        assert v["as_close"] == (v["excess"] <= xc.SIGMAS * v["noise"]), name
    oo = res["verdicts"]["control vs baseline"]["g_OO (RMS)"]
    se_a, se_b = synthetic["a"]["rdf"]["pairs"]["OO"]["se"], synthetic["b"]["rdf"]["pairs"]["OO"]["se"]
    m = (ga["OO"] > xc.RDF_MIN_G) | (gb["OO"] > xc.RDF_MIN_G)
    assert oo["noise"] == pytest.approx(np.sqrt(np.mean(se_a[m] ** 2 + se_b[m] ** 2)), rel=1e-4)
    assert oo["excess"] == pytest.approx(res["rdf"]["control"]["OO"]["rms"], rel=1e-4)
    oo_max = res["verdicts"]["control vs baseline"]["g_OO (max)"]
    assert oo_max["noise"] == pytest.approx(np.sqrt(np.max(se_a**2 + se_b**2)), rel=1e-4)
    assert res["verdicts"]["MTS vs control"]["g_OO (RMS)"]["excess"] == 0.0

    text = out.with_suffix(".md").read_text()
    assert "--blocks 4" in text and "tau 200 fs" in text and f"tau {xc.MD_PHYSICS_TAUT_FS:g} fs" in text
    assert "**Is control as close to GFN1-xTB as baseline?**" in text
    assert out.with_suffix(".png").stat().st_size > 5000


def test_shifted_reference_gives_the_shift(synthetic):
    ref = json.loads(synthetic["ref_path"].read_text())
    ref["rdf"]["pairs"]["OO"]["g"] = (np.asarray(ref["rdf"]["pairs"]["OO"]["g"]) + 0.1).tolist()
    comp = xc.compare(ref, {"baseline": synthetic["a"]})
    d = comp["rdf"]["baseline"]["OO"]
    assert d["max_abs"] == pytest.approx(0.1, abs=1e-5) and d["rms"] == pytest.approx(0.1, abs=1e-5)
    assert d["n_bins"] == 120  # g_ref >= 0.1 everywhere now
    se = np.hypot(synthetic["a"]["rdf"]["pairs"]["OO"]["se"], ref["rdf"]["pairs"]["OO"]["se"])
    assert d["z_max"] == pytest.approx((0.1 / se[se > 0]).max(), rel=1e-3)
    assert comp["rdf"]["baseline"]["OH"]["max_abs"] < 1e-5  # the other pairs unchanged
    assert comp["verdicts"] == {}  # one run: no question to answer
