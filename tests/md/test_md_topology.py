"""The topology watch: a broken or formed covalent bond stops MD, keeping the last good frame."""

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.io import read, write

from nequip_mts.cli import md as md_cli
from nequip_mts.cli.main import build_parser
from nequip_mts.cli.main import main as cli_main
from nequip_mts.md import MDInstabilityError, MTSCalculator, TopologyWatch
from nequip_mts.md.runner import last_good_path, run_md
from nequip_mts.md.settings import MDSettings
from nequip_mts.md.topology import holds_molecules
from nequip_mts.testing.analytic import HarmonicBonds, diatomic_fluid

BOND = 0.65  # A: H-H bonded below 1.2 x 0.62 = 0.744 A, broken beyond 1.4 x 0.62 = 0.868 A


def h2_fluid():
    return diatomic_fluid(n_molecules=8, bond_length=BOND, temperature_K=300.0, seed=0)


def nve(steps):
    return MDSettings(ensemble="nve", timestep_fs=0.5, inner_steps=2, steps=steps, loginterval=5)


def test_a_normal_run_keeps_its_topology(tmp_path):
    atoms, fast, slow = h2_fluid()
    watch = TopologyWatch(atoms, interval=5)
    assert watch.num_bonds == 8
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    dyn = run_md(atoms, nve(400), trajectory=str(tmp_path / "md.traj"), topology=watch)
    assert dyn.nsteps == 400
    assert not last_good_path(tmp_path / "md.traj").exists()


def test_dissociating_molecules_stop_md_naming_atoms_bond_and_step(tmp_path):
    atoms, _, slow = h2_fluid()
    watch = TopologyWatch(atoms, interval=5)
    # an inverted bond: the molecules fly apart while the rest stays the same
    repulsive = HarmonicBonds(np.arange(len(atoms)).reshape(-1, 2), k=-30.0, r0=BOND)
    atoms.calc = MTSCalculator.from_calculators(repulsive, slow)
    traj = tmp_path / "md.traj"
    with pytest.raises(
        MDInstabilityError, match=r"at step \d+: bond topology changed: bond H\d+-H\d+ broke"
    ) as info:
        run_md(atoms, nve(2000), trajectory=str(traj), topology=watch)
    err = info.value
    assert err.step % 5 == 0 and 0 < err.step < 2000
    assert f"(intact at step {err.step - 5})" in str(err)
    assert err.last_good_file == str(last_good_path(traj))
    last_good = read(err.last_good_file)
    assert last_good.info["md_step"] == err.step - 5
    assert watch.check(last_good) is None  # the kept frame has every starting bond


def test_a_formed_bond_is_named():
    atoms, _, _ = h2_fluid()
    watch = TopologyWatch(atoms)
    moved = atoms.copy()
    moved.positions[2] = moved.positions[1] + [0.5, 0.0, 0.0]  # H2 of molecule 1 onto H1
    reason = watch.check(moved)
    assert "bond H1-H2 formed (0.50 A < 0.62 A)" in reason


def test_molecules_are_told_from_periodic_networks():
    assert holds_molecules(h2_fluid()[0])
    water = molecule("H2O")
    water.center(vacuum=4.0)
    water.pbc = True
    assert holds_molecules(water)
    assert not holds_molecules(bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2))  # one periodic network
    assert not holds_molecules(bulk("Ar", "fcc", a=5.3))  # single atoms


def test_the_md_command_watches_molecules_unless_told_not_to():
    parser = build_parser()
    atoms = h2_fluid()[0]
    base = ["md", "start.xyz", "deployed", "--timestep-fs", "1", "--inner-steps", "2", "--steps", "10"]
    watch = md_cli.topology_watch(parser.parse_args(base), atoms)
    assert isinstance(watch, TopologyWatch) and watch.interval == 10
    assert md_cli.topology_watch(parser.parse_args([*base, "--no-topology-check"]), atoms) is None
    metal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    assert md_cli.topology_watch(parser.parse_args(base), metal) is None
    assert md_cli.topology_watch(parser.parse_args([*base, "--topology-interval", "3"]), atoms).interval == 3


@pytest.mark.parametrize("flag,code", [([], 3), (["--no-topology-check"], 0)])
def test_the_md_command_exits_3_when_molecules_dissociate(tmp_path, monkeypatch, capsys, flag, code):
    atoms, _, slow = h2_fluid()
    start = tmp_path / "start.extxyz"
    write(start, atoms)
    # the bond force removed: only the soft anchors hold the atoms, so the molecules come
    # apart thermally, but nothing blows up (the run ends normally without the watch)
    unbonded = HarmonicBonds(np.arange(len(atoms)).reshape(-1, 2), k=0.0, r0=BOND)
    monkeypatch.setattr(
        md_cli,
        "load_provider",
        lambda model, device="cpu", **options: MTSCalculator.from_calculators(unbonded, slow),
    )
    traj = tmp_path / "md.traj"
    args = [str(start), "deployed", "--ensemble", "nve", "--timestep-fs", "0.5", "--inner-steps", "2", "--steps", "400",
            "--init-temperature-K", "1500", "--seed", "0", "--topology-interval", "5", "--max-drift-meV-per-atom", "inf",
            "--max-temperature-K", "1e9", "--trajectory", str(traj), "--log", str(tmp_path / "md.log"),
            "--no-progress", *flag]  # fmt: skip
    assert cli_main(["md", *args]) == code
    stderr = capsys.readouterr().err
    if code == 3:
        assert "topology watch: 8 bonds" in stderr
        assert "bond topology changed: bond H" in stderr and "broke" in stderr
        assert read(last_good_path(traj)).info["md_step"] % 5 == 0
    else:
        assert "topology watch" not in stderr
