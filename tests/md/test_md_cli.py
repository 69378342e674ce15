"""The ``md`` command: log, trajectory, restart, errors (run on EMT through provider (d))."""

import argparse
import subprocess
import sys

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.io import Trajectory, write

from nequip_mts.cli import md as md_cli
from nequip_mts.cli.main import main as cli_main
from nequip_mts.md import MTSCalculator


def md_main(args):
    return cli_main(["md", *args])


@pytest.fixture
def structure(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[0, 5, 9]] = "Au"
    atoms.rattle(0.05, seed=0)
    path = tmp_path / "start.xyz"
    write(path, atoms)
    return path


@pytest.fixture
def emt_provider(monkeypatch):
    """Replace model loading: slow = EMT - (short-ranged Lennard-Jones)."""
    used = []

    def load(model, device="cpu", **options):
        used.append((model, device))
        fast = LennardJones(sigma=2.3, epsilon=0.05, rc=3.0, smooth=True)
        return MTSCalculator.from_full_and_fast(EMT(), fast)

    monkeypatch.setattr(md_cli, "load_provider", load)
    return used


def _args(tmp_path, structure, *extra):
    return [
        str(structure),
        str(tmp_path / "deployed"),
        "--timestep-fs",
        "2",
        "--inner-steps",
        "2",
        "--trajectory",
        str(tmp_path / "md.traj"),
        "--log",
        str(tmp_path / "md.log"),
        "--loginterval",
        "5",
        "--no-progress",
        *extra,
    ]


def _log_rows(path):
    lines = [line for line in path.read_text().splitlines() if not line.startswith("Time")]
    return np.array([[float(x) for x in line.split()] for line in lines])


@pytest.mark.parametrize("ensemble", ["nve", "langevin", "bussi"])
def test_md_command_writes_log_and_trajectory(tmp_path, structure, emt_provider, ensemble):
    rc = md_main(
        _args(tmp_path, structure, "--ensemble", ensemble, "--temperature-K", "300", "--steps", "20")
    )
    assert rc == 0
    assert emt_provider == [(str(tmp_path / "deployed"), "cpu")]
    header = (tmp_path / "md.log").read_text().splitlines()[0].split()
    assert header == ["Time[fs]", "Etot[eV]", "Epot[eV]", "Ekin[eV]", "T[K]", "Econs[eV]", "Drift[meV/at]"]
    rows = _log_rows(tmp_path / "md.log")
    assert np.allclose(rows[:, 0], [0, 10, 20, 30, 40])
    assert np.all(rows[:, 4] > 0)
    frames = Trajectory(str(tmp_path / "md.traj"))
    assert [f.info["md_step"] for f in frames] == [0, 5, 10, 15, 20]
    assert frames[-1].get_potential_energy() == pytest.approx(rows[-1, 2], abs=1e-5)


def test_restart_continues_from_last_frame(tmp_path, structure, emt_provider):
    common = ("--ensemble", "langevin", "--temperature-K", "300")
    assert md_main(_args(tmp_path, structure, *common, "--steps", "12")) == 0
    frames = Trajectory(str(tmp_path / "md.traj"))
    # frames every 5 steps plus the final state, which a restart picks up
    assert [f.info["md_step"] for f in frames] == [0, 5, 10, 12]
    last = frames[-1]

    assert md_main(_args(tmp_path, structure, *common, "--steps", "30", "--restart")) == 0
    frames = Trajectory(str(tmp_path / "md.traj"))
    assert [f.info["md_step"] for f in frames] == [0, 5, 10, 12, 15, 20, 25, 30]
    assert np.allclose([f.info["md_time_fs"] for f in frames], [0, 10, 20, 24, 30, 40, 50, 60])
    # the continuation moved on from the saved frame, not from the input structure
    assert np.abs(frames[4].positions - last.positions).max() < 0.2
    assert np.abs(frames[4].positions - last.positions).max() > 0

    # a finished run has nothing left to do
    assert md_main(_args(tmp_path, structure, *common, "--steps", "30", "--restart")) == 0
    assert len(Trajectory(str(tmp_path / "md.traj"))) == 8


def test_time_and_inner_timestep_options(tmp_path, structure, emt_provider):
    args = _args(tmp_path, structure, "--ensemble", "nve", "--temperature-K", "300", "--time-ps", "0.02")
    args[args.index("--inner-steps") : args.index("--inner-steps") + 2] = ["--inner-timestep-fs", "0.5"]
    assert md_main(args) == 0
    frames = Trajectory(str(tmp_path / "md.traj"))
    assert frames[-1].info["md_time_fs"] == pytest.approx(20.0)
    assert frames.description["inner_steps"] == 4
    assert frames.description["timestep"] == pytest.approx(2 * units.fs)


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--inner-steps", "0"), "--inner-steps (K) must be a whole number >= 1"),
        (("--timestep-fs", "-1"), "--timestep-fs must be a positive number"),
        (("--inner-timestep-fs", "0"), "--inner-timestep-fs must be a positive number"),
        (("--thermostat-time-fs", "0"), "--thermostat-time-fs must be a positive number"),
        (("--init-temperature-K", "-5"), "--init-temperature-K must be >= 0"),
        (("--max-temperature-K", "-5"), "--max-temperature-K must be positive"),
        (("--ensemble", "langevin"), "needs --temperature-K"),
        (("--inner-timestep-fs", "0.3"), "does not divide"),
    ],
)
def test_bad_input_gives_a_clear_error(tmp_path, structure, emt_provider, capsys, extra, message):
    args = _args(tmp_path, structure, "--steps", "5", "--temperature-K", "300")
    if extra[0] == "--ensemble":
        args.remove("--temperature-K")
        args.remove("300")
    if extra[0] == "--inner-timestep-fs":
        i = args.index("--inner-steps")
        del args[i : i + 2]
    if extra[0] in ("--inner-steps", "--timestep-fs"):
        i = args.index(extra[0])
        del args[i : i + 2]
    assert md_main(args + list(extra)) == 2
    assert message in capsys.readouterr().err


def test_unknown_species_and_missing_model(tmp_path, structure, monkeypatch, capsys):
    from ase.io import read

    atoms = read(structure)
    atoms.symbols[1] = "H"
    write(structure, atoms)

    def load(model, device="cpu", **options):
        return MTSCalculator(EMT(), EMT(), type_names=["Au", "Cu"], species=["Au", "Cu"])

    monkeypatch.setattr(md_cli, "load_provider", load)
    assert md_main(_args(tmp_path, structure, "--steps", "5", "--temperature-K", "300")) == 2
    assert "['H']" in capsys.readouterr().err

    monkeypatch.undo()
    assert md_main(_args(tmp_path, structure, "--steps", "5", "--temperature-K", "300")) == 2
    assert "no model at" in capsys.readouterr().err


def test_blow_up_exits_with_the_step(tmp_path, structure, monkeypatch, capsys):
    from ase.io import read

    from nequip_mts.testing.analytic import HarmonicAnchors

    anchors = read(structure).positions

    def load(model, device="cpu", **options):
        return MTSCalculator.from_calculators(HarmonicAnchors(anchors, -30.0), EMT())

    monkeypatch.setattr(md_cli, "load_provider", load)
    rc = md_main(
        _args(tmp_path, structure, "--steps", "500", "--temperature-K", "300", "--max-temperature-K", "2000")
    )
    err = capsys.readouterr().err
    assert rc == 3
    assert "MD became unstable at step" in err and "last good frame saved" in err
    assert (tmp_path / "md.last_good.extxyz").is_file()
    assert len(Trajectory(str(tmp_path / "md.traj"))) >= 1


def test_registers_md_subcommand():
    parser = argparse.ArgumentParser()
    md_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["md", "a.xyz", "deployed", "--timestep-fs", "2", "--inner-steps", "4", "--steps", "10"]
    )
    assert args.func is md_cli.run and args.inner_steps == 4 and args.ensemble == "langevin"


def test_runs_as_a_module():
    proc = subprocess.run(
        [sys.executable, "-m", "nequip_mts", "md", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--inner-steps" in proc.stdout


def test_progress_bar_shows_ns_per_day(tmp_path, structure, emt_provider, capsys):
    args = _args(tmp_path, structure, "--ensemble", "nve", "--temperature-K", "300", "--steps", "20")
    args.remove("--no-progress")
    assert md_main(args) == 0
    assert "ns/day" in capsys.readouterr().err


@pytest.mark.slow
def test_md_command_on_deployed_models(tmp_path, deployed_ase):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[0, 5, 9]] = "Au"
    atoms.rattle(0.05, seed=0)
    write(tmp_path / "start.xyz", atoms)
    args = [
        str(tmp_path / "start.xyz"),
        str(deployed_ase),
        "--ensemble",
        "langevin",
        "--temperature-K",
        "300",
        "--timestep-fs",
        "2",
        "--inner-steps",
        "2",
        "--trajectory",
        str(tmp_path / "md.traj"),
        "--log",
        str(tmp_path / "md.log"),
        "--loginterval",
        "2",
        "--no-progress",
    ]
    assert md_main(args + ["--steps", "4"]) == 0
    assert md_main(args + ["--steps", "6", "--restart"]) == 0
    frames = Trajectory(str(tmp_path / "md.traj"))
    assert [f.info["md_step"] for f in frames] == [0, 2, 4, 6]
    assert np.isfinite(_log_rows(tmp_path / "md.log")).all()


def test_md_package_imports_no_training_code():
    # the MD side must run on deployed models alone: importing it pulls in no torch,
    # nequip, lightning or hydra (the nequip loaders are imported only when used)
    code = (
        "import sys, nequip_mts.md, nequip_mts.md.runner, nequip_mts.md.settings, nequip_mts.cli.md\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'lightning', 'hydra', 'nequip') or m.startswith('nequip_mts.train')]\n"
        "print(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_restart_with_other_settings_is_refused_naming_them(tmp_path, structure, emt_provider, capsys):
    common = ("--ensemble", "langevin", "--temperature-K", "300")
    assert md_main(_args(tmp_path, structure, *common, "--steps", "10")) == 0
    before = (tmp_path / "md.traj").read_bytes()
    changed = _args(tmp_path, structure, *common, "--steps", "20", "--restart")
    changed[changed.index("--timestep-fs") + 1] = "3"
    changed[changed.index("--inner-steps") + 1] = "3"
    capsys.readouterr()
    assert md_main(changed) == 2
    err = capsys.readouterr().err
    assert "--timestep-fs 2.0 (trajectory) -> 3.0" in err and "--inner-steps 2 (trajectory) -> 3" in err
    assert "--allow-settings-change" in err
    assert (tmp_path / "md.traj").read_bytes() == before
    thermostat = _args(tmp_path, structure, "--ensemble", "bussi", "--temperature-K", "350", "--steps", "20")
    assert md_main([*thermostat, "--restart"]) == 2
    err = capsys.readouterr().err
    assert (
        "--ensemble langevin (trajectory) -> bussi" in err
        and "--temperature-K 300.0 (trajectory) -> 350.0" in err
    )


def test_allowed_settings_change_keeps_time_monotonic(tmp_path, structure, emt_provider):
    common = ("--ensemble", "langevin", "--temperature-K", "300")
    assert md_main(_args(tmp_path, structure, *common, "--steps", "10")) == 0  # 2 fs: 20 fs
    args = _args(tmp_path, structure, *common, "--time-ps", "0.05", "--restart", "--allow-settings-change")
    args[args.index("--timestep-fs") + 1] = "1"
    assert md_main(args) == 0
    frames = Trajectory(str(tmp_path / "md.traj"))
    times = [f.info["md_time_fs"] for f in frames]
    assert np.all(np.diff(times) > 0)
    assert times[:3] == pytest.approx([0, 10, 20]) and times[-1] == pytest.approx(50.0)
    assert frames[-1].info["md_timestep_fs"] == 1.0 and frames[0].info["md_timestep_fs"] == 2.0
    log_times = _log_rows(tmp_path / "md.log")[:, 0]
    assert np.all(np.diff(log_times) > 0) and log_times[-1] == pytest.approx(50.0)


def test_truncated_trajectory_restarts_from_its_last_complete_frame(tmp_path, structure, emt_provider):
    import warnings

    common = ("--ensemble", "langevin", "--temperature-K", "300")
    assert md_main(_args(tmp_path, structure, *common, "--steps", "15")) == 0
    traj = tmp_path / "md.traj"
    data = traj.read_bytes()
    traj.write_bytes(data[:-300])  # a writer killed inside the last frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from nequip_mts.md.runner import last_complete_frame

        frame = last_complete_frame(traj)
    assert frame.info["md_step"] == 10
    assert any("complete frames, up to step 10" in str(w.message) for w in caught)
    assert (tmp_path / "md.traj.damaged").read_bytes() == data[:-300]
    # truncate again and restart through the command line
    traj.write_bytes(data[:-300])
    (tmp_path / "md.traj.damaged").unlink()
    assert md_main(_args(tmp_path, structure, *common, "--steps", "20", "--restart")) == 0
    frames = Trajectory(str(traj))
    assert [f.info["md_step"] for f in frames] == [0, 5, 10, 15, 20]


def test_long_outer_step_on_water_warns(tmp_path, emt_provider, capsys):
    from ase.io import read

    from nequip_mts.resources import water_data

    water = read(water_data(), index=0)
    write(tmp_path / "water.xyz", water)
    args = _args(tmp_path, tmp_path / "water.xyz", "--ensemble", "nve", "--steps", "0")
    args[args.index("--timestep-fs") + 1] = "5"
    args[args.index("--inner-steps") + 1] = "10"
    assert md_main(args) == 0
    err = capsys.readouterr().err
    assert "nequip-mts md: warning: the outer step of 5 fs is more than a third" in err
    assert "about 9.0 fs (H-O" in err and "see docs/md.md (resonance)" in err
    assert "check the step with `nequip-mts validate`" in err
    # 3 fs is below the limit
    args[args.index("--timestep-fs") + 1] = "3"
    args[args.index("--inner-steps") + 1] = "6"
    assert md_main([*args, "--overwrite"]) == 0
    assert "warning" not in capsys.readouterr().err
