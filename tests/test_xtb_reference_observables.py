"""benchmarks/xtb_reference_observables.py: the block errors, and the report on a tiny synthetic run.

No GFN1-xTB here: the chunk files are made up in xtb_reference.py's format, from a
32-molecule water box (make_liquid_data.build_box) moved molecule by molecule.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_liquid_data  # noqa: E402
import xtb_reference  # noqa: E402
import xtb_reference_observables as obs  # noqa: E402


def test_block_standard_error_of_iid_data_is_sigma_over_sqrt_n():
    # 4000 independent runs of 605 unit-variance samples (axis 0 is time); the last 5 are dropped
    x = np.random.default_rng(0).normal(size=(605, 4000))
    blocks = obs.block_values(x, 6)
    np.testing.assert_allclose(blocks[1], x[100:200].mean(axis=0))
    for b in (blocks, obs.merge_pairs(blocks)):  # 6 blocks and 3 blocks of twice the length
        se = obs.standard_error(b)
        assert np.mean(se**2) * 600 == pytest.approx(1.0, rel=0.05)


def test_block_standard_error_sees_correlation():
    # AR(1) with phi = 0.8: the variance of the mean is (1 + phi) / (1 - phi) = 9 times the naive one
    rng = np.random.default_rng(1)
    phi, n, runs = 0.8, 3000, 2000
    x = np.empty((n, runs))
    x[0] = rng.normal(size=runs) / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal(size=runs)
    se = obs.standard_error(obs.block_values(x, 6))
    naive = x.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.mean(se**2) / np.mean(naive**2) == pytest.approx(9.0, rel=0.1)


def _fake_run(path, n_chunks=4, equil_ps=0.1):
    """Chunk files and a state.npz in xtb_reference.py's format, with marked equilibration energies."""
    rng = np.random.default_rng(2)
    atoms = make_liquid_data.build_box(make_liquid_data.molecule_template("H2O"), 32, 1.0, rng)
    n = len(atoms)
    assert list(atoms.numbers[:6]) == [8, 1, 1, 8, 1, 1]  # O, H, H per molecule
    settings = dict(
        xtb_reference.settings_of(xtb_reference.parse_args([])),
        chunk_steps=400,
        equil_ps=equil_ps,
    )
    s = settings["chunk_steps"]
    equil_steps = round(equil_ps * 1000 / settings["timestep"])
    x = atoms.get_positions()
    path.mkdir()
    for c in range(n_chunks):
        vstep = np.arange(c * s + 4, (c + 1) * s + 1, 4)
        pstep = np.arange(c * s + 20, (c + 1) * s + 1, 20)
        pos = []
        for _ in pstep:  # whole molecules (O, H, H) take random steps
            x = x + np.repeat(rng.normal(scale=0.05, size=(n // 3, 3)), 3, axis=0)
            pos.append(x)
        equil = vstep <= equil_steps
        xtb_reference.atomic_write_npz(
            path / f"chunk_{c:05d}.npz",
            step=vstep,
            time_fs=vstep * 0.5,
            velocities=rng.normal(scale=0.01, size=(len(vstep), n, 3)).astype(np.float16),
            epot_eV=np.where(equil, 1000.0, -5000.0 + rng.normal(size=len(vstep))),
            ekin_eV=np.full(len(vstep), 4.0),
            econs_eV=np.zeros(len(vstep)),
            temperature_K=np.where(equil, 1000.0, 350.0 + rng.normal(size=len(vstep))),
            stress_eV_A3=np.zeros((len(vstep), 6), np.float32),
            equil=equil,
            pos_step=pstep,
            pos_time_fs=pstep * 0.5,
            pos_equil=pstep <= equil_steps,
            positions=np.array(pos, dtype=np.float32),
            numbers=atoms.numbers,
            masses=atoms.get_masses(),
            cell=np.array(atoms.cell),
            settings=json.dumps(settings),
            provenance=json.dumps({"dataset": "synthetic"}),
        )
    xtb_reference.atomic_write_npz(
        path / "state.npz",
        step=n_chunks * s,
        time_fs=n_chunks * s * 0.5,
        n_chunks=n_chunks,
        transferred_energy=0.0,
        econs0=0.0,
        wall_s=1.0,
        rng_state=json.dumps({}),
        settings=json.dumps(settings),
        versions=json.dumps({}),
        provenance=json.dumps({"dataset": "synthetic"}),
    )


def test_report_on_a_synthetic_run(tmp_path):
    from nequip_mts.analysis.rdf import partial_rdfs

    data_dir, out = tmp_path / "run", tmp_path / "out" / "ref"
    _fake_run(data_dir)
    assert obs.main(["--data", str(data_dir), "--out", str(out), "--blocks", "4"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    d = xtb_reference.load(data_dir)
    prod = ~d["equil"]

    # the production only: 0.1-0.8 ps, 70 position and 350 velocity frames
    run = result["run"]
    assert run["production_ps"] == pytest.approx(0.7)
    assert run["n_position_frames"] == 70 and run["n_velocity_frames"] == 350
    assert result["epot_eV_per_atom"]["mean"] == pytest.approx(d["epot_eV"][prod].mean() / 96, rel=1e-12)
    assert result["temperature_K"]["mean"] == pytest.approx(d["temperature_K"][prod].mean(), rel=1e-12)

    # the RDFs are the analysis package's, on the production frames, and their SE from 4 blocks of them
    frames = xtb_reference.position_frames(d)
    r, g = partial_rdfs(frames, rmax=6.0, nbins=120, intermolecular=True)
    oo = result["rdf"]["pairs"]["OO"]
    np.testing.assert_allclose(result["rdf"]["r_A"], r, rtol=1e-5)
    np.testing.assert_allclose(oo["g"], g["OO"], rtol=1e-5, atol=1e-9)
    blocks = [
        partial_rdfs(frames[k * 17 : (k + 1) * 17], rmax=6.0, nbins=120, intermolecular=True)[1]["OO"]
        for k in range(4)
    ]
    se = np.std(blocks, axis=0, ddof=1) / 2.0
    np.testing.assert_allclose(oo["se"], se, rtol=1e-5, atol=1e-9)
    assert oo["se_max"] == pytest.approx(se.max(), rel=1e-5)

    # the report states the length it used, from the data
    text = out.with_suffix(".md").read_text()
    assert "**0.70 ps**" in text and "in progress" in text and "--blocks 4" in text
    for kind in ("rdf", "vdos", "msd", "epot"):
        assert out.with_name(f"ref_{kind}.png").stat().st_size > 2000
