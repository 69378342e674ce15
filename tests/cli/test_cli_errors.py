"""Every bad input to the command line: its exit code, the key words of its one-line
message, no traceback, and, where data could be lost, files left byte for byte as they were.

Cheap inputs only: EMT through a monkeypatched ``load_provider`` (as tests/md/test_md_cli.py
does), tiny fake deploy directories and junk model files; nothing is trained or compiled.
"""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.io import Trajectory, write

from nequip_mts.cli import md as md_cli
from nequip_mts.cli.main import main
from nequip_mts.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, InputError
from nequip_mts.manifest import FORMAT
from nequip_mts.md import MTSCalculator


def _emt_provider(model, device="cpu", **options):
    fast = LennardJones(sigma=2.3, epsilon=0.05, rc=3.0, smooth=True)
    return MTSCalculator.from_full_and_fast(EMT(), fast)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A directory with a start structure, junk files and fake deploy directories."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[0, 5]] = "Au"
    atoms.rattle(0.05, seed=0)
    write(tmp_path / "start.xyz", atoms)
    write(tmp_path / "start.traj", atoms)
    write(tmp_path / "nocell.xyz", molecule("H2O"))
    (tmp_path / "start.unknownext").write_text("Cu 0 0 0\n")
    (tmp_path / "empty.xyz").write_text('0\nProperties=species:S:1:pos:R:3 pbc="F F F"\n')
    (tmp_path / "junk.ckpt").write_bytes(b"\x80\x02not a checkpoint" * 10)
    with zipfile.ZipFile(tmp_path / "notes.nequip.zip", "w") as z:
        z.writestr("notes/readme.txt", "a zip archive, but no model")
    (tmp_path / "a_file").write_text("a file, not a directory\n")
    (tmp_path / "traj_dir").mkdir()
    for target in ("ase", "pair_allegro"):
        root = tmp_path / f"deploy_{target}"
        root.mkdir()
        for part in ("fast", "slow", "sum"):
            (root / f"{part}.nequip.pt2").write_bytes(b"junk, not a compiled model")
        manifest = {"format": FORMAT, "target": target, "type_names": ["H", "O"]}
        for part, r in (("fast", 3.0), ("slow", 5.0), ("sum", 5.0)):
            manifest[part] = {"file": f"{part}.nequip.pt2", "r_max": r}
        (root / "mts_deploy.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(tmp_path)
    return tmp_path


MD = ["md", "start.xyz", "deployed", "--timestep-fs", "2", "--no-progress", "--loginterval", "5"]
MD_RUN = [*MD, "--inner-steps", "2", "--steps", "5", "--temperature-K", "300"]


def _without(args, *options):
    """``args`` without each option of ``options`` and its value."""
    args = list(args)
    for option in options:
        i = args.index(option)
        del args[i : i + 2]
    return args


# (id, argv, key words of the message, use the EMT provider)
CASES = [
    # --- augment
    ("augment-no-structures", ["augment", "missing.xyz", "-o", "aug.extxyz", "--calculator", "none"], ["no structures file", "missing.xyz"], False),
    ("augment-unknown-module", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "no_such_pkg:Calc"], ["cannot import no_such_pkg", "install"], False),
    ("augment-no-such-class", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "ase.calculators.emt:EMTT"], ["has no EMTT", "spelling"], False),
    ("augment-not-a-calculator", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "json:JSONDecoder"], ["not an ASE calculator"], False),
    ("augment-not-a-spec", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "gfn"], ["not a calculator name", "gfn1"], False),
    ("augment-bad-json", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "ase.calculators.emt:EMT", "--calc-kwargs", "{bad"], ["--calc-kwargs", "not valid JSON"], False),
    ("augment-json-not-an-object", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "ase.calculators.emt:EMT", "--calc-kwargs", "[1]"], ["--calc-kwargs", "JSON object"], False),
    ("augment-output-not-extxyz", ["augment", "nocell.xyz", "-o", "aug.traj", "--calculator", "none"], ["--output", "extxyz"], False),
    ("augment-output-under-a-file", ["augment", "nocell.xyz", "-o", "a_file/aug.extxyz", "--calculator", "none"], ["sits under", "a_file"], False),
    ("augment-unknown-kind", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "none", "--kinds", "twist"], ["--kinds", "twist", "stretch"], False),
    ("augment-bad-stretch-range", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "none", "--stretch-range", "0.9", "1.5"], ["--stretch-range"], False),
    ("augment-hot-md-without-calculator", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "none", "--hot-md-frames", "4"], ["--hot-md-frames", "--calculator"], False),
    ("augment-one-molecule-contact", ["augment", "nocell.xyz", "-o", "aug.extxyz", "--calculator", "none", "--kinds", "contact"], ["no frames could be made", "fewer than two molecules"], False),
    # --- md: the MD settings
    ("inner-timestep-zero", [*_without(MD_RUN, "--inner-steps"), "--inner-timestep-fs", "0"], ["--inner-timestep-fs", "positive"], True),
    ("inner-timestep-negative", [*_without(MD_RUN, "--inner-steps"), "--inner-timestep-fs", "-0.5"], ["--inner-timestep-fs", "positive"], True),
    ("nve-negative-temperature", [*_without(MD_RUN, "--temperature-K"), "--ensemble", "nve", "--temperature-K", "-5"], ["--temperature-K", "positive"], True),
    ("negative-init-temperature", [*MD_RUN, "--init-temperature-K", "-5"], ["--init-temperature-K", ">= 0"], True),
    ("negative-max-temperature", [*MD_RUN, "--max-temperature-K", "-5"], ["--max-temperature-K", "positive"], True),
    ("langevin-without-temperature", _without(MD_RUN, "--temperature-K"), ["needs --temperature-K"], True),
    # --- md: the structure
    ("index-past-the-end", [*MD_RUN, "--index", "3"], ["--index 3", "past the end", "1 frame"], True),
    ("index-not-a-number", [*MD_RUN, "--index", "last"], ["--index", "whole number"], True),
    ("unknown-format", ["md", "start.unknownext", *MD_RUN[2:]], ["cannot tell the format", "start.unknownext"], True),
    ("no-atoms", ["md", "empty.xyz", *MD_RUN[2:]], ["empty.xyz", "holds no atoms"], True),
    ("no-structure", ["md", "missing.xyz", *MD_RUN[2:]], ["no structure file", "missing.xyz"], True),
    # --- md: outputs
    ("trajectory-is-a-directory", [*MD_RUN, "--trajectory", "traj_dir"], ["--trajectory", "is a directory"], True),
    ("trajectory-under-a-file", [*MD_RUN, "--trajectory", "a_file/md.traj"], ["sits under", "a_file"], True),
    ("log-under-a-file", [*MD_RUN, "--log", "a_file/md.log"], ["--log", "sits under"], True),
    ("restart-without-trajectory", [*MD_RUN, "--restart"], ["cannot restart", "no trajectory"], True),
    ("settings-change-without-restart", [*MD_RUN, "--allow-settings-change"], ["only applies with --restart"], True),
    # --- md: models and devices
    ("device-not-a-device", [*MD_RUN, "--device", "gpu0"], ["--device", "not a torch device"], True),
    ("no-model", MD_RUN, ["no model at", "deployed"], False),
    ("corrupt-checkpoint", [*MD_RUN[:2], "junk.ckpt", *MD_RUN[3:]], ["junk.ckpt", "not a nequip checkpoint"], False),
    ("structure-as-model", [*MD_RUN[:2], "start.xyz", *MD_RUN[3:]], ["start.xyz", "not a nequip checkpoint"], False),
    ("zip-that-is-no-model", [*MD_RUN[:2], "notes.nequip.zip", *MD_RUN[3:]], ["cannot read notes.nequip.zip", "checkpoint or package"], False),
    ("pair-allegro-deploy-in-ase", [*MD_RUN[:2], "deploy_pair_allegro", *MD_RUN[3:]], ["deployed for 'pair_allegro'", "--target ase"], False),
    ("corrupt-compiled-model", [*MD_RUN[:2], "deploy_ase", *MD_RUN[3:]], ["cannot read", "fast.nequip.pt2", "redeploy"], False),
    # --- deploy
    ("deploy-corrupt-checkpoint", ["deploy", "junk.ckpt", "out"], ["junk.ckpt", "not a nequip checkpoint"], False),
    ("deploy-zip-that-is-no-model", ["deploy", "notes.nequip.zip", "out"], ["cannot read notes.nequip.zip"], False),
    ("deploy-model-is-a-directory", ["deploy", "traj_dir", "out"], ["traj_dir", "is a directory"], False),
    ("deploy-output-is-a-file", ["deploy", "junk.ckpt", "a_file"], ["a_file", "is a file"], False),
    ("deploy-bad-device", ["deploy", "junk.ckpt", "out", "--device", "gpu0"], ["--device", "not a torch device"], False),
    # --- write-lammps-input
    ("lammps-langevin-without-temperature", ["write-lammps-input", "deploy_pair_allegro", "nocell.xyz", "-o", "run", "--timestep-fs", "1", "-K", "2", "--steps", "10"], ["needs --temperature-K"], False),
    ("lammps-structure-without-cell", ["write-lammps-input", "deploy_pair_allegro", "nocell.xyz", "-o", "run", "--ensemble", "nve", "--timestep-fs", "1", "-K", "2", "--steps", "10"], ["no full cell", "box"], False),
    ("lammps-ase-deploy", ["write-lammps-input", "deploy_ase", "nocell.xyz", "-o", "run", "--ensemble", "nve", "--timestep-fs", "1", "-K", "2", "--steps", "10"], ["deployed for 'ase'", "--target pair_allegro"], False),
    ("lammps-index-past-the-end", ["write-lammps-input", "deploy_pair_allegro", "nocell.xyz", "-o", "run", "--ensemble", "nve", "--timestep-fs", "1", "-K", "2", "--steps", "10", "--index", "4"], ["past the end"], False),
]  # fmt: skip


@pytest.mark.parametrize("argv, words, emt", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input_exits_2_with_one_line(work, monkeypatch, capsys, argv, words, emt):
    if emt:
        monkeypatch.setattr(md_cli, "load_provider", _emt_provider)
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"nequip-mts {argv[0]}: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    assert not (work / "run" / "system.data").exists()  # no partial LAMMPS file
    assert not (work / "aug.extxyz").exists()  # no augment output


def test_cuda_device_without_cuda(work, monkeypatch, capsys):
    if pytest.importorskip("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr(md_cli, "load_provider", _emt_provider)
    assert main([*MD_RUN, "--device", "cuda"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "--device cpu" in err


def _snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


def _assert_unchanged(snapshot):
    for path, data in snapshot.items():
        assert path.read_bytes() == data, f"{path} changed"


def test_md_refuses_existing_trajectory_and_log(work, monkeypatch, capsys):
    monkeypatch.setattr(md_cli, "load_provider", _emt_provider)
    assert main(MD_RUN) == 0
    files = _snapshot(work / "md.traj", work / "md.log")
    capsys.readouterr()
    assert main(MD_RUN) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "md.traj" in err and "already exist" in err and "--restart" in err and "--overwrite" in err
    _assert_unchanged(files)
    # a log alone is refused too
    (work / "md.traj").unlink()
    assert main(MD_RUN) == EXIT_BAD_INPUT
    assert "md.log already exists" in capsys.readouterr().err
    _assert_unchanged({work / "md.log": files[work / "md.log"]})
    # with consent both are replaced, and the log starts afresh
    assert main([*MD_RUN, "--overwrite"]) == 0
    assert (work / "md.log").read_text().count("Time[fs]") == 1


def test_md_never_writes_over_its_input(work, monkeypatch, capsys):
    monkeypatch.setattr(md_cli, "load_provider", _emt_provider)
    files = _snapshot(work / "start.traj", work / "start.xyz")
    for args in (
        ["--trajectory", "start.traj"],
        ["--trajectory", "start.traj", "--overwrite"],
        ["--log", "start.traj", "--overwrite"],
    ):
        assert main(["md", "start.traj", *MD_RUN[2:], *args]) == EXIT_BAD_INPUT
        assert "is the input structure; nequip-mts md never writes over its input" in capsys.readouterr().err
    _assert_unchanged(files)


def test_deploy_refuses_an_earlier_deploy(work, capsys):
    root = work / "deploy_ase"
    files = _snapshot(*sorted(root.iterdir()))
    assert main(["deploy", "junk.ckpt", str(root)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "already holds a deploy" in err and "--overwrite" in err and "mts_deploy.json" in err
    _assert_unchanged(files)
    # --overwrite gets past the check; the junk model then fails before anything is written
    assert main(["deploy", "junk.ckpt", str(root), "--overwrite"]) == EXIT_BAD_INPUT
    assert "not a nequip checkpoint" in capsys.readouterr().err
    _assert_unchanged(files)
    assert sorted(root.iterdir()) == sorted(files)  # no staging directory left behind


def test_write_lammps_input_refuses_existing_files(work, capsys):
    atoms = bulk("O", "sc", a=3.0).repeat((2, 2, 2))
    atoms.symbols[::2] = "H"
    write(work / "box.xyz", atoms)
    argv = ["write-lammps-input", "deploy_pair_allegro", "box.xyz", "-o", "run", "--plugin", "none"]
    argv += ["--ensemble", "nve", "--timestep-fs", "1", "-K", "2", "--steps", "10"]
    assert main(argv) == 0
    files = _snapshot(work / "run" / "in.respa_nve", work / "run" / "system.data")
    capsys.readouterr()
    assert main([*argv[:-1], "20"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "already exist" in err and "--overwrite" in err
    _assert_unchanged(files)
    assert main([*argv[:-1], "20", "--overwrite"]) == 0
    assert "run             20" in (work / "run" / "in.respa_nve").read_text()
    assert sorted(p.name for p in (work / "run").iterdir()) == ["in.respa_nve", "system.data"]


class _InterruptAfter(LennardJones):
    """A fast part that presses Ctrl-C at its ``n``-th force evaluation."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.calls, self.n = 0, n

    def calculate(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        super().calculate(*args, **kwargs)


def test_ctrl_c_exits_130_with_how_to_restart(work, monkeypatch, capsys):
    def provider(model, device="cpu", **options):
        fast = _InterruptAfter(60, sigma=2.3, epsilon=0.05, rc=3.0, smooth=True)
        return MTSCalculator.from_full_and_fast(EMT(), fast)

    monkeypatch.setattr(md_cli, "load_provider", provider)
    argv = [*_without(MD_RUN, "--steps"), "--steps", "40"]
    assert main(argv) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "interrupted: stopped at step" in err and "of 40" in err and "--restart" in err
    frames = Trajectory(str(work / "md.traj"))
    last = frames[-1].info["md_step"]
    assert 0 < last < 40 and [f.info["md_step"] for f in frames] == list(range(0, last + 1, 5))
    assert f"md.traj is valid up to its frame of step {last} ({2 * last:g} fs)" in err
    # and the restart the message proposes finishes the run
    monkeypatch.setattr(md_cli, "load_provider", _emt_provider)
    assert main([*argv, "--restart"]) == 0
    assert Trajectory(str(work / "md.traj"))[-1].info["md_step"] == 40


def test_python_api_errors(work):
    with pytest.raises(InputError, match="is a checkpoint or package, not a deploy directory"):
        MTSCalculator.from_deployed(work / "notes.nequip.zip")
    with pytest.raises(TypeError, match="slow part must be an ASE calculator.*from_deployed"):
        MTSCalculator.from_calculators(EMT(), "slow.nequip.pt2")
    with pytest.raises(TypeError, match="fast part must be an ASE calculator"):
        MTSCalculator.from_full_and_fast(EMT(), None)


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            [
                "md",
                "missing.xyz",
                "deployed",
                "--ensemble",
                "nve",
                "--timestep-fs",
                "2",
                "-K",
                "2",
                "--steps",
                "5",
            ],
            ["no structure file"],
        ),
        (["deploy", "junk.ckpt", "out"], ["not a nequip checkpoint"]),
    ],
)
def test_no_traceback_in_a_subprocess(work, argv, words):
    proc = subprocess.run(
        [sys.executable, "-m", "nequip_mts", *argv], capture_output=True, text=True, cwd=work
    )
    assert proc.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for word in words:
        assert word in proc.stderr


def test_empty_structure_file_in_api(work):
    from nequip_mts.md.structure import read_structure

    with pytest.raises(InputError, match="holds no atoms"):
        read_structure(work / "empty.xyz")
    assert len(read_structure(work / "start.xyz", "0")) == 32
    assert np.isfinite(read_structure(work / "start.traj").positions).all()
