"""The LAMMPS form of a distilled (``full-fast``) deploy: slow = full - fast.

``write-lammps-input`` writes three ``allegro/mts`` sub-styles under ``pair_style
hybrid/scaled`` (fast +1 on the inner respa level; fast -1 and full +1 on the outer one)
and ``run_style respa 2 K hybrid 1 2 2``; K = 1 runs verlet on the full model alone.
The toy deploy's short-cutoff model plays ``fast`` and its long-cutoff one ``full``.
The input-text tests need no LAMMPS; the rest run it and are marked slow.
"""

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from lmp_helpers import alloy_structure as _structure
from lmp_helpers import ase_calculator as _ase_calc
from lmp_helpers import header, read_dump, run_lmp, thermo_table

from nequip_mts.manifest import FULL_MINUS_FAST, part_filename, write_manifest

# ----------------------------------------------------------------------------- helpers


def _full_fast_deploy(directory, fast_file, full_file, r_fast=3.0, r_full=4.5, target="pair_allegro"):
    """A full-fast deploy directory whose two model files link to the given ones."""
    directory.mkdir(parents=True, exist_ok=True)
    for part, src in (("fast", fast_file), ("full", full_file)):
        link = directory / part_filename(part)
        if not link.exists():
            link.symlink_to(src)
    write_manifest(
        directory,
        target=target,
        type_names=("Cu", "Ag"),
        parts={
            "fast": {"file": part_filename("fast"), "r_max": r_fast},
            "full": {"file": part_filename("full"), "r_max": r_full},
        },
        split=FULL_MINUS_FAST,
        model_dtype="float32",
    )
    return directory


def _forces(frame):
    return np.stack([frame["fx"], frame["fy"], frame["fz"]], axis=1)


@pytest.fixture(scope="session")
def full_fast_lmp(toy_models):
    """The toy models as a distilled deploy for LAMMPS: fast = r_max 3.0, full = r_max 4.5."""
    src = toy_models / "pair_allegro"
    return _full_fast_deploy(
        toy_models / "full_fast" / "pair_allegro", src / "fast.nequip.pt2", src / "slow.nequip.pt2"
    )


@pytest.fixture(scope="session")
def full_fast_ase(toy_models):
    src = toy_models / "ase"
    return _full_fast_deploy(
        toy_models / "full_fast" / "ase", src / "fast.nequip.pt2", src / "slow.nequip.pt2", target="ase"
    )


# ----------------------------------------------------------------------------- input text


@pytest.fixture
def dummy_deploys(tmp_path):
    """A full-fast and a fast+slow deploy of empty model files (enough for the writer)."""
    models = tmp_path / "models"
    models.mkdir()
    for part in ("fast", "slow", "sum", "full"):
        (models / part_filename(part)).write_text("")
    full_fast = _full_fast_deploy(tmp_path / "ff", models / "fast.nequip.pt2", models / "full.nequip.pt2")
    (tmp_path / "fs").mkdir()
    for part in ("fast", "slow", "sum"):
        (tmp_path / "fs" / part_filename(part)).symlink_to(models / part_filename(part))
    write_manifest(
        tmp_path / "fs",
        target="pair_allegro",
        type_names=("Cu", "Ag"),
        parts={
            p: {"file": part_filename(p), "r_max": r} for p, r in (("fast", 3.0), ("slow", 4.5), ("sum", 4.5))
        },
    )
    return full_fast, tmp_path / "fs"


def _write(deploy, outdir, k, ensemble="nve"):
    from ase.build import bulk

    from nequip_mts.lammps.inputs import write_lammps_input
    from nequip_mts.md.settings import MDSettings

    settings = MDSettings(ensemble=ensemble, temperature_K=300.0, timestep_fs=3.0, inner_steps=k, steps=10)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    return write_lammps_input(deploy, atoms, outdir, settings)["input"].read_text()


@pytest.mark.parametrize("k", [2, 3, 4])
def test_full_fast_respa_input(dummy_deploys, tmp_path, k):
    full_fast, _ = dummy_deploys
    text = _write(full_fast, tmp_path / f"run{k}", k, ensemble="langevin")
    lines = text.splitlines()
    assert "pair_style      hybrid/scaled 1.0 allegro/mts -1.0 allegro/mts 1.0 allegro/mts" in lines
    coeffs = [line.split() for line in lines if line.startswith("pair_coeff")]
    assert [c[3:5] for c in coeffs] == [["allegro/mts", "1"], ["allegro/mts", "2"], ["allegro/mts", "3"]]
    assert [c[5].rsplit("/", 1)[-1] for c in coeffs] == [  # the deploy's links, resolved
        "fast.nequip.pt2",
        "fast.nequip.pt2",
        "full.nequip.pt2",
    ]
    assert f"run_style       respa 2 {k} hybrid 1 2 2" in lines
    # the comments say what each sub-style is, with its cutoff
    assert "#   1: fast model (r_max 3.0 A), scale +1, inner level (every inner step)" in lines
    assert "#   2: fast model (r_max 3.0 A), scale -1, outer level" in lines
    assert "#   3: full model (r_max 4.5 A), scale +1, outer level" in lines
    # thermostat as for any respa input
    assert "fix             thermostat all langevin 300 300 0.1 2 zero yes" in lines


def test_full_fast_k1_is_verlet_on_the_full_model(dummy_deploys, tmp_path):
    full_fast, _ = dummy_deploys
    text = _write(full_fast, tmp_path / "run", 1)
    assert "run_style       verlet" in text and "respa" not in text
    assert "hybrid" not in text and "fast.nequip.pt2" not in text
    coeffs = [line.split() for line in text.splitlines() if line.startswith("pair_coeff")]
    assert len(coeffs) == 1 and coeffs[0][3].endswith("full.nequip.pt2")
    assert "pair_style      allegro/mts" in text


def test_full_fast_cli(dummy_deploys, tmp_path, capsys):
    import ase.io
    from ase.build import bulk

    from nequip_mts.cli.main import main

    full_fast, _ = dummy_deploys
    ase.io.write(tmp_path / "s.xyz", bulk("Cu", "fcc", a=3.6, cubic=True))
    argv = ["write-lammps-input", str(full_fast), str(tmp_path / "s.xyz"), "-o", str(tmp_path / "run")]
    argv += ["--ensemble", "bussi", "--temperature-K", "300", "--timestep-fs", "2", "-K", "4"]
    assert main([*argv, "--steps", "10", "--plugin", "none"]) == 0
    script = (tmp_path / "run" / "in.respa_bussi").read_text()
    assert "run_style       respa 2 4 hybrid 1 2 2" in script
    assert "pair_style      hybrid/scaled 1.0 allegro/mts -1.0 allegro/mts 1.0 allegro/mts" in script
    assert "fix             thermostat all temp/csvr 300 300 0.1 2" in script
    capsys.readouterr()


def _benchmark():
    """benchmarks/lammps_speed.py as a module (it is a script, not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "lammps_speed.py"
    spec = importlib.util.spec_from_file_location("lammps_speed_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pair_files(text):
    return [
        line.split()[-3].rsplit("/", 1)[-1] for line in text.splitlines() if line.startswith("pair_coeff")
    ]


def test_speed_benchmark_inputs_for_a_distilled_deploy(dummy_deploys, tmp_path):
    """benchmarks/lammps_speed.py on a full-fast deploy: respa is the three hybrid/scaled
    sub-styles with levels 1 2 2, and each verlet case runs the one model it names (the
    fast model alone is not the full model, which is the deploy's single-step part)."""
    from nequip_mts.lammps.inputs import read_deploy

    bench = _benchmark()
    full_fast, _ = dummy_deploys
    meta = read_deploy(full_fast)
    data = tmp_path / "s.data"

    def written(integrator, part, k):
        return bench.bench_input(meta, data, None, integrator, part, 0.5 * k, k, 6, 2, 3)

    respa = written("respa", None, 4)
    assert "pair_style      hybrid/scaled 1.0 allegro/mts -1.0 allegro/mts 1.0 allegro/mts" in respa
    assert "run_style       respa 2 4 hybrid 1 2 2" in respa.splitlines()
    assert _pair_files(respa) == ["fast.nequip.pt2", "fast.nequip.pt2", "full.nequip.pt2"]
    assert "timestep        0.002\n" in respa  # the outer step, K x 0.5 fs
    # a warm-up run, then the timed runs
    assert [line for line in respa.splitlines() if line.startswith("run ")] == ["run             2"] + [
        "run             6"
    ] * 3
    for part in ("full", "fast"):
        text = written("verlet", part, 1)
        assert "run_style       verlet" in text and "hybrid" not in text
        assert _pair_files(text) == [f"{part}.nequip.pt2"]
    # the bounds: the outer level's extra fast call costs one more f
    assert bench.bounds(4, 0.1, True) == pytest.approx({"bound": 4 / 1.4, "bound_outer_fast": 4 / 1.5})
    assert set(bench.bounds(4, 0.1, False)) == {"bound"}


def test_speed_benchmark_checks_the_teacher_of_a_distilled_deploy(dummy_deploys, tmp_path):
    """Compiling a distilled ASE deploy for LAMMPS needs the distillation's checkpoint and
    the very teacher it recorded (sha256); a wrong one is refused before any compile."""
    import json

    bench = _benchmark()
    full_fast, _ = dummy_deploys
    manifest = json.loads((full_fast / "mts_deploy.json").read_text())
    manifest.update(target="ase", provenance={"teacher": {"sha256": "0" * 64}})
    (full_fast / "mts_deploy.json").write_text(json.dumps(manifest))
    other = tmp_path / "other_teacher.nequip.zip"
    other.write_text("not the teacher")
    with pytest.raises(SystemExit, match="train"):  # no checkpoint to recompile
        bench.distilled_for_lammps(full_fast, other, tmp_path / "out")
    (full_fast / "train").mkdir()
    (full_fast / "train" / "best.ckpt").write_text("")
    with pytest.raises(SystemExit, match="--teacher"):
        bench.distilled_for_lammps(full_fast, None, tmp_path / "out")
    with pytest.raises(SystemExit, match="sha256"):
        bench.distilled_for_lammps(full_fast, other, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fast_plus_slow_input_unchanged(dummy_deploys, tmp_path):
    _, fast_slow = dummy_deploys
    text = _write(fast_slow, tmp_path / "respa", 3)
    assert "pair_style      hybrid/overlay allegro/mts allegro/mts" in text
    assert "run_style       respa 2 3 hybrid 1 2\n" in text
    assert "hybrid/scaled" not in text and "full.nequip.pt2" not in text
    text = _write(fast_slow, tmp_path / "verlet", 1)
    assert "pair_style      allegro/mts\n" in text and "sum.nequip.pt2" in text


# ----------------------------------------------------------------------------- LAMMPS


def _settings(k, steps, dt_fs=4.0, ensemble="nve"):
    from nequip_mts.md.settings import MDSettings

    return MDSettings(ensemble=ensemble, timestep_fs=dt_fs, inner_steps=k, steps=steps, loginterval=1)


def _run_written(meta, workdir, atoms, settings, plugin, nprocs=1, **options):
    """Write data + input with nequip-mts, run LAMMPS on ``nprocs`` MPI ranks; return
    (input text, output, dump frames)."""
    from nequip_mts.lammps.inputs import lammps_input, write_data_file

    workdir.mkdir(parents=True, exist_ok=True)
    write_data_file(atoms, workdir / "s.data", meta["type_names"], velocities=True)
    text = lammps_input(
        meta, workdir / "s.data", settings, plugin=plugin, dump_every=1, dump_file="traj.dump", **options
    )
    text = text.replace("format float %.10g", "format float %.15g")
    _, out = run_lmp(text, workdir, nprocs=nprocs)
    return text, out, read_dump(workdir / "traj.dump")


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3])
def test_full_fast_pair_lines_give_the_full_model(lammps_plugin, full_fast_lmp, full_fast_ase, tmp_path, k):
    """``run 0`` with the written input (hybrid/scaled under respa for K = 3, the full
    model alone under verlet for K = 1) = the full model alone in LAMMPS = ASE on the
    full model, energy and forces, to float32 precision."""
    from nequip_mts.lammps.inputs import read_deploy, write_data_file
    from nequip_mts.manifest import read_manifest

    meta, meta_a = read_deploy(full_fast_lmp), read_manifest(full_fast_ase)
    atoms = _structure(size=3, seed=7)
    text, out, frames = _run_written(meta, tmp_path / "written", atoms, _settings(k, 0), lammps_plugin)
    assert ("hybrid/scaled" in text) == (k > 1)
    e_written, f_written = thermo_table(out)["PotEng"][0], _forces(frames[0])

    alone = tmp_path / "alone"
    alone.mkdir()
    write_data_file(atoms, alone / "s.data", meta["type_names"])
    _, out = run_lmp(
        header("s.data", lammps_plugin)
        + f"pair_style allegro/mts\npair_coeff * * {meta['full']['path']} Cu Ag\n"
        "dump d all custom 1 f.dump id fx fy fz\ndump_modify d sort id format float %.15g\n"
        "thermo_style custom step pe\nthermo_modify format float %.15g\nrun 0\n",
        alone,
    )
    e_alone, f_alone = thermo_table(out)["PotEng"][0], _forces(read_dump(alone / "f.dump")[0])

    a = atoms.copy()
    a.calc = _ase_calc(meta_a["full"]["path"])
    e_ase, f_ase = a.get_potential_energy(), a.get_forces()
    print(
        f"K={k}: written vs full alone max|dF| = {np.abs(f_written - f_alone).max():.2e} eV/A, "
        f"dE = {e_written - e_alone:.2e} eV; vs ASE max|dF| = {np.abs(f_written - f_ase).max():.2e}, "
        f"dE = {e_written - e_ase:.2e} eV"
    )
    assert abs(e_written - e_alone) < 1e-5 * len(atoms)
    assert np.abs(f_written - f_alone).max() < 1e-5
    assert abs(e_written - e_ase) < 1e-4 * len(atoms)
    assert np.abs(f_written - f_ase).max() < 1e-4


@pytest.mark.slow
def test_full_fast_levels_evaluate_each_model_where_it_belongs(lammps_plugin, full_fast_lmp, tmp_path):
    """Under respa with K = 3, each sub-style runs on its level: the fast model K + 1
    times per outer step (K inner, once at -1 on the outer level), the full model once."""
    from nequip_mts.lammps.inputs import lammps_input, read_deploy, write_data_file

    meta = read_deploy(full_fast_lmp)
    k, n = 3, 4
    write_data_file(_structure(size=2, temperature_K=300.0), tmp_path / "s.data", meta["type_names"])
    text = lammps_input(meta, tmp_path / "s.data", _settings(k, n), plugin=lammps_plugin)
    scaled = "hybrid/scaled 1.0 allegro/mts -1.0 allegro/mts 1.0 allegro/mts"
    assert scaled in text
    text = text.replace(scaled, scaled.replace("allegro/mts", "allegro/mts verbose yes"))
    _, out = run_lmp(text, tmp_path)
    calls = Counter()
    for line in out.splitlines():
        match = re.match(r"allegro/mts\[(.+?)\] rank 0 step (\d+):", line)
        if match:
            calls[(match.group(1).rsplit("/", 1)[-1], int(match.group(2)))] += 1
    # the written paths are resolved (here through the deploy's links to the toy files)
    fast_name, full_name = (Path(meta[part]["path"]).resolve().name for part in ("fast", "full"))
    assert fast_name != full_name
    fast = sum(c for (name, _), c in calls.items() if name == fast_name)
    full = sum(c for (name, _), c in calls.items() if name == full_name)
    # setup evaluates every level once: fast twice (+1 and -1), full once
    assert full == n + 1
    assert fast == (k + 1) * n + 2
    for step in range(1, n + 1):
        assert calls[(full_name, step)] == 1 and calls[(fast_name, step)] == k + 1


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 3, 4])
def test_full_fast_respa_nve_matches_ase_respa(lammps_plugin, full_fast_lmp, full_fast_ase, tmp_path, k):
    """The written NVE respa run follows nequip_mts.md.RESPA on
    MTSCalculator.from_full_and_fast(full, fast) (ASE calculators of the same models)."""
    from ase import units

    from nequip_mts.lammps.inputs import read_deploy
    from nequip_mts.manifest import read_manifest
    from nequip_mts.md import RESPA, MTSCalculator

    n_outer, dt_fs = 12, 4.0
    meta, meta_a = read_deploy(full_fast_lmp), read_manifest(full_fast_ase)
    atoms = _structure(size=3, seed=11, temperature_K=300.0)
    _, out, frames = _run_written(
        meta, tmp_path, atoms, _settings(k, n_outer, dt_fs), lammps_plugin, skin=0.4
    )
    thermo = thermo_table(out)
    assert [f["step"] for f in frames] == list(range(n_outer + 1))

    a = atoms.copy()
    a.calc = MTSCalculator.from_full_and_fast(
        _ase_calc(meta_a["full"]["path"]), _ase_calc(meta_a["fast"]["path"])
    )
    dyn = RESPA(a, dt_fs * units.fs, inner_steps=k)
    x_ref, v_ref, e_ref = [a.positions.copy()], [a.get_velocities().copy()], [a.get_total_energy()]
    for _ in range(n_outer):
        dyn.run(1)
        x_ref.append(a.positions.copy())
        v_ref.append(a.get_velocities().copy())
        e_ref.append(a.get_total_energy())

    to_A_per_ps = 1000.0 * units.fs  # ASE velocity unit -> LAMMPS metal (A/ps)
    dx = max(np.abs(np.stack([f["xu"], f["yu"], f["zu"]], 1) - x).max() for f, x in zip(frames, x_ref))
    dv = max(
        np.abs(np.stack([f["vx"], f["vy"], f["vz"]], 1) - v * to_A_per_ps).max()
        for f, v in zip(frames, v_ref)
    )
    de = np.abs(thermo["TotEng"] - np.array(e_ref)).max() / len(atoms)
    moved = np.abs(x_ref[-1] - atoms.positions).max()
    v_scale = np.abs(v_ref[0] * to_A_per_ps).max()
    print(
        f"full-fast respa K={k}, {n_outer} outer steps of {dt_fs} fs: max|dx| = {dx:.2e} A (moved "
        f"{moved:.3f} A), max|dv| = {dv:.2e} A/ps (of {v_scale:.1f}), max|dE|/N = {de:.2e} eV"
    )
    assert moved > 0.05
    # measured: dx ~1.5e-8 A. The tolerance separates the wrong forms: LAMMPS with K = 2
    # against RESPA with K = 4 differs by 4e-5 A, every sub-style on the outer level
    # (hybrid 2 2 2) by 2e-4 A, every one on the inner level (1 1 1) by 3e-4 A
    assert dx < 1e-6
    assert dv < 1e-5 * v_scale
    assert de < 1e-6


# ----------------------------------------------------------------------------- MPI


@pytest.mark.slow
def test_full_fast_two_ranks_match_one_rank(lammps_plugin, full_fast_lmp, tmp_path):
    """The written NVE respa run (K = 3, three sub-styles under hybrid/scaled) gives the
    same trajectory and energies on 2 MPI ranks as on 1."""
    from nequip_mts.lammps.inputs import read_deploy

    k, n_outer = 3, 8
    meta = read_deploy(full_fast_lmp)
    atoms = _structure(size=4, seed=2, temperature_K=300.0)
    runs = {}
    for nprocs in (1, 2):
        text, out, frames = _run_written(
            meta,
            tmp_path / f"np{nprocs}",
            atoms,
            _settings(k, n_outer),
            lammps_plugin,
            nprocs=nprocs,
            skin=0.4,
        )
        assert "hybrid/scaled" in text and f"respa 2 {k} hybrid 1 2 2" in text
        # LAMMPS reports its decomposition: "1 by 1 by 2 MPI processor grid" for 2 ranks
        grid = re.search(r"(\d+) by (\d+) by (\d+) MPI processor grid", out)
        assert grid is not None and np.prod([int(g) for g in grid.groups()]) == nprocs
        assert [f["step"] for f in frames] == list(range(n_outer + 1))
        runs[nprocs] = thermo_table(out), frames
    (t1, f1), (t2, f2) = runs[1], runs[2]
    n = len(atoms)
    dx = max(
        np.abs(np.stack([a["xu"], a["yu"], a["zu"]], 1) - np.stack([b["xu"], b["yu"], b["zu"]], 1)).max()
        for a, b in zip(f1, f2)
    )
    moved = np.abs(np.stack([f1[-1][c] - f1[0][c] for c in ("xu", "yu", "zu")], 1)).max()
    print(
        f"full-fast respa K={k}, {n_outer} outer steps, 1 vs 2 ranks: max |dx| = {dx:.3e} A (moved {moved:.3f} A)"
    )
    for col in ("PotEng", "TotEng", "Press"):
        print(f"1 vs 2 ranks: max |d{col}| = {np.abs(t1[col] - t2[col]).max():.3e}")
    assert moved > 0.01
    assert dx < 1e-6
    assert np.abs(t1["PotEng"] - t2["PotEng"]).max() < 1e-6 * n
    assert np.abs(t1["TotEng"] - t2["TotEng"]).max() < 1e-6 * n
