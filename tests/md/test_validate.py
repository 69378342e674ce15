"""``nequip-mts validate``: bond scans find a false minimum, MD probes, exit codes."""

import json
import re

import numpy as np
import pytest
from ase.build import molecule
from ase.io import write

from nequip_mts.cli import validate as validate_cli
from nequip_mts.cli.main import main as cli_main
from nequip_mts.errors import EXIT_UNSTABLE, ValidationFailed, exit_code
from nequip_mts.md import MTSCalculator
from nequip_mts.md.validate import (
    ProbeSettings,
    angle_scan,
    bond_scan,
    clearance,
    representative_angles,
    representative_bonds,
    validate,
)
from nequip_mts.testing.analytic import AnalyticSum, BondWell, HarmonicAnchors, HarmonicBonds, diatomic_fluid

BOND = 0.6  # A; below 1.2 x the H-H covalent-radius sum (0.74 A), so every bond is found
WELL_AT = 1.6 * BOND
SHORT = ProbeSettings(ensemble="nve", ks=(2, 4), time_ps=0.1)


def fluid():
    return diatomic_fluid(n_molecules=27, bond_k=40.0, bond_length=BOND, spacing=2.2)


@pytest.fixture
def good():
    atoms, fast, slow = fluid()
    return atoms, MTSCalculator.from_calculators(fast, slow)


@pytest.fixture
def holed():
    """The fast part has a 4 eV Gaussian well at 1.6x the bond length: a false minimum."""
    atoms, fast, slow = fluid()
    hole = BondWell(fast.bonds, depth=4.0, position=WELL_AT, width=0.08)
    return atoms, MTSCalculator.from_calculators(AnalyticSum([fast, hole]), slow)


def test_the_scan_finds_the_false_minimum_and_its_part(holed):
    atoms, calc = holed
    bonds = representative_bonds(atoms)
    assert list(bonds) == ["H-H"]
    scan = bond_scan(atoms, calc, *bonds["H-H"])
    assert not scan.passed
    (hole,) = scan.false_minima
    assert hole.pair == "H-H" and hole.side == "stretch" and hole.part == "fast"
    assert hole.position_A == pytest.approx(WELL_AT, abs=0.05)
    # the fall from the barrier to the bottom of the well, measured on the scan itself
    r, e = scan.distances_A, scan.energy
    beyond = r > scan.equilibrium_A
    assert hole.depth_eV == pytest.approx(
        np.max(e[beyond & (r < hole.position_A)]) - e[r == hole.position_A][0]
    )
    assert 1.0 < hole.depth_eV < 4.0
    assert hole.fast_fall_eV > hole.depth_eV > hole.slow_fall_eV
    assert scan.equilibrium_A == pytest.approx(BOND, abs=0.03)


def test_a_good_model_passes_and_recommends_a_k(good):
    atoms, calc = good
    result = validate(atoms, calc, SHORT)
    assert result.passed, result.findings
    (scan,) = result.scans
    assert scan.passed and scan.compression_rise_eV > 0.5
    assert [p.k for p in result.probes] == [1, 2, 4]
    assert all(p.stopped is None and p.steps_done == p.steps for p in result.probes)
    assert result.recommended_k in (1, 2, 4)
    assert result.probes[0].label == "single step" and result.probes[0].passed


def test_validation_fails_on_the_hole_and_names_pair_and_depth(holed):
    atoms, calc = holed
    result = validate(atoms, calc, None)
    assert not result.passed
    err = ValidationFailed(result.findings)
    assert exit_code(err) == EXIT_UNSTABLE == 3
    depth = result.scans[0].false_minima[0].depth_eV
    assert "false minimum along H-H" in str(err) and f"falls by {depth:.2f} eV" in str(err)
    assert "fast part" in str(err)


def test_a_soft_compression_fails():
    atoms, fast, slow = fluid()
    fast.k = 2.0  # a floppy bond
    scan = bond_scan(atoms, MTSCalculator.from_calculators(fast, slow), *representative_bonds(atoms)["H-H"])
    assert any("soft under compression" in p for p in scan.problems)


def test_the_scanned_bond_is_the_one_with_most_room(holed):
    """Not one stretched into a neighbour (in water: towards a hydrogen-bond acceptor)."""
    atoms, calc = holed
    fixed, moved = representative_bonds(atoms)["H-H"]
    rooms = [clearance(atoms, i, j) for i, j in np.arange(len(atoms)).reshape(-1, 2)]
    assert clearance(atoms, fixed, moved) == pytest.approx(max(rooms), abs=0.006)
    scan = bond_scan(atoms, calc, fixed, moved)
    assert scan.clearance_A == pytest.approx(max(rooms), abs=0.006)


def test_the_moved_atom_is_the_terminal_one():
    water = molecule("H2O")
    ((pair, (fixed, moved)),) = representative_bonds(water).items()
    assert pair == "H-O" and water[fixed].symbol == "O" and water[moved].symbol == "H"


def test_a_topology_change_fails_the_probe():
    """A bond that breaks in the first femtoseconds: the probe stops and says which."""
    atoms, fast, slow = fluid()
    calc = MTSCalculator.from_calculators(fast, slow)
    # a floppy bond, and an anchor 1 A away that pulls atom 1 off its partner
    fast.k = 2.0
    slow.terms[0].anchors[1] += [1.0, 0.0, 0.0]
    result = validate(atoms, calc, ProbeSettings(ks=(2,), time_ps=0.1))
    single = result.probes[0]
    assert single.stopped is not None and "bond H0-H1 broke" in single.stopped
    assert not result.passed and any("K=1: stopped at" in f for f in result.findings)


# ---------------------------------------------------------------------- the command
@pytest.fixture
def structure(tmp_path):
    atoms, _, _ = fluid()
    path = tmp_path / "fluid.extxyz"
    write(path, atoms)
    return path


def _loader(monkeypatch, calc):
    used = []

    def load(model, device="cpu", **options):
        used.append((model, device))
        return calc

    monkeypatch.setattr(validate_cli, "load_provider", load)
    return used


def _args(tmp_path, structure, *extra):
    return ["validate", str(tmp_path / "deployed"), str(structure), "-o", str(tmp_path / "val"),
            "--ks", "2", "4", "--time-ps", "0.1", *extra]  # fmt: skip


def test_validate_command_exits_3_on_a_false_minimum(tmp_path, structure, holed, monkeypatch, capsys):
    used = _loader(monkeypatch, holed[1])
    assert cli_main(_args(tmp_path, structure)) == 3
    assert used == [(str(tmp_path / "deployed"), "cpu")]
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if x.startswith("nequip-mts validate: error:")][0]
    assert "false minimum along H-H" in line and "fast part" in line
    depth = float(re.search(r"falls by ([0-9.]+) eV", line).group(1))
    assert 1.0 < depth < 4.0
    report = (tmp_path / "val" / "report.md").read_text()
    assert "**Verdict: FAIL**" in report and "H-H" in report
    results = json.loads((tmp_path / "val" / "results.json").read_text())
    assert results["passed"] is False
    assert results["bond_scans"][0]["false_minima"][0]["depth_eV"] == pytest.approx(depth, abs=0.006)
    for png in ("bond_scans.png", "md_probes.png"):
        assert (tmp_path / "val" / png).stat().st_size > 1000


def test_validate_command_passes_a_good_model(tmp_path, structure, good, monkeypatch, capsys):
    _loader(monkeypatch, good[1])
    assert cli_main(_args(tmp_path, structure, "--no-plots")) == 0
    out = capsys.readouterr().out
    assert "validate: pass; the largest K that passes is" in out
    report = (tmp_path / "val" / "report.md").read_text()
    assert "**Verdict: PASS**" in report and "| MTS K=4 |" in report
    assert not (tmp_path / "val" / "bond_scans.png").exists()
    # the report is not written over without --overwrite
    assert cli_main(_args(tmp_path, structure, "--no-plots")) == 2
    assert "already exist" in capsys.readouterr().err
    assert cli_main(_args(tmp_path, structure, "--no-plots", "--overwrite", "--no-md")) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ks", "0"], "--ks"),
        (["--timestep-fs", "-1"], "--timestep-fs"),
        (["--stretch-to", "0.9"], "--stretch-to"),
    ],
)
def test_validate_command_bad_input_exits_2(tmp_path, structure, good, monkeypatch, capsys, extra, message):
    _loader(monkeypatch, good[1])
    assert cli_main(_args(tmp_path, structure, *extra)) == 2
    assert message in capsys.readouterr().err


def test_validate_command_missing_structure_exits_2(tmp_path, good, monkeypatch, capsys):
    _loader(monkeypatch, good[1])
    assert cli_main(_args(tmp_path, tmp_path / "nothing.xyz")) == 2
    assert "no structure file" in capsys.readouterr().err


def test_validate_imports_no_training_code():
    """The library and the command (parser built) import no torch, nequip, lightning or hydra."""
    import subprocess
    import sys

    code = (
        "import sys, argparse, nequip_mts.md.validate, nequip_mts.cli.validate as v\n"
        "v.add_parser(argparse.ArgumentParser().add_subparsers())\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'lightning', 'hydra', 'nequip', 'matplotlib') or m.startswith('nequip_mts.train')]\n"
        "print(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_single_model_gets_the_bond_scans(holed):
    # a conventional model (no fast and slow parts): the hole is still found by the scan
    atoms, mts = holed
    single = AnalyticSum([mts.fast_calc, mts.slow_calc])
    result = validate(atoms, single, SHORT)
    assert not result.passed
    (scan,) = result.scans
    assert scan.false_minima and scan.false_minima[0].pair == "H-H"
    assert any("single-step probe only" in note for note in result.notes)


def test_a_single_model_gets_the_single_step_probe(good):
    """K = 1 only, with ASE's velocity Verlet: its drift is that of ASE's own run."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    from nequip_mts.analysis.drift import energy_drift

    atoms, mts = good
    single = AnalyticSum([mts.fast_calc, mts.slow_calc])
    probe = ProbeSettings(ensemble="nve", ks=(2, 4), time_ps=0.05)
    result = validate(atoms, single, probe)
    (run,) = result.probes
    assert run.k == 1 and run.passed and run.steps_done == run.steps == 100
    # the same run by hand: the same velocities, ASE's integrator, the total energy
    ref = atoms.copy()
    ref.calc = single
    thermalize_momenta(ref, temperature_K=probe.temperature_K, rng=np.random.default_rng(probe.seed))
    Stationary(ref)
    dyn = VelocityVerlet(ref, timestep=probe.inner_timestep_fs * units.fs)
    times, energies = [], []

    def record():
        times.append(dyn.get_time() / units.fs)
        energies.append(ref.get_total_energy())

    dyn.attach(record, interval=1)
    dyn.run(100)
    expected = energy_drift(np.asarray(times), np.asarray(energies), len(ref)).slope
    assert run.drift == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_a_single_model_whose_bond_breaks_fails_the_probe():
    atoms, fast, slow = fluid()
    fast.k = 2.0
    slow.terms[0].anchors[1] += [1.0, 0.0, 0.0]
    result = validate(atoms, AnalyticSum([fast, slow]), ProbeSettings(ks=(2,), time_ps=0.1))
    (run,) = result.probes
    assert run.k == 1 and run.stopped is not None and "bond H0-H1 broke" in run.stopped
    assert not result.passed and any("K=1: stopped at" in f for f in result.findings)


def test_a_distilled_split_names_the_full_model(holed):
    # slow = full - fast: a hole of the sum is the full model's own, whatever the fast part
    atoms, mts = holed
    full = AnalyticSum([mts.fast_calc, mts.slow_calc])
    distilled = MTSCalculator.from_full_and_fast(full, fluid()[1])
    scan = bond_scan(atoms, distilled, *representative_bonds(atoms)["H-H"])
    (hole,) = scan.false_minima
    assert hole.part == "full" and "full model itself" in hole.describe()


# ---------------------------------------------------------------------- angle scans
def bent_molecule(hh_k=10.0, well=None):
    """One water-shaped molecule: stiff O-H bonds, an H-H spring (the angle's stiffness) and,
    with ``well=(depth, position)``, a Gaussian well in the H-H distance (a false minimum
    of the folded molecule) in the fast part."""
    atoms = molecule("H2O")
    o, h1, h2 = 0, 1, 2
    d_oh = atoms.get_distance(o, h1)
    d_hh = atoms.get_distance(h1, h2)
    terms = [HarmonicBonds([[o, h1], [o, h2]], k=40.0, r0=d_oh), HarmonicBonds([[h1, h2]], k=hh_k, r0=d_hh)]
    if well is not None:
        terms.append(BondWell([[h1, h2]], depth=well[0], position=well[1], width=0.04))
    slow = HarmonicAnchors(atoms.positions, k=0.0)
    return atoms, MTSCalculator.from_calculators(AnalyticSum(terms), slow), d_hh


def test_the_angle_scan_closes_to_the_covalent_contact_and_rises_as_the_spring():
    from ase.data import covalent_radii

    atoms, calc, d_hh = bent_molecule()
    angles = representative_angles(atoms)
    assert list(angles) == ["H-O-H"]
    fixed, centre, moved = angles["H-O-H"]
    assert centre == 0 and {fixed, moved} == {1, 2}
    scan = angle_scan(atoms, calc, fixed, centre, moved)
    assert scan.passed, scan.problems
    close = 2 * covalent_radii[1]
    assert scan.distances_A[-1] == pytest.approx(close)
    # only the H-H spring changes: O-H lengths are kept by the rotation
    assert scan.closing_rise_eV == pytest.approx(0.5 * 10.0 * (close - d_hh) ** 2, rel=1e-6)
    assert scan.equilibrium_deg == pytest.approx(atoms.get_angle(1, 0, 2), abs=1e-6)
    for k, theta in enumerate(scan.angles_deg):  # the geometry of each point, recomputed
        assert np.degrees(2 * np.arcsin(scan.distances_A[k] / 2 / atoms.get_distance(0, 1))) == pytest.approx(
            theta
        )


def test_the_angle_scan_finds_a_folded_minimum_and_its_part():
    atoms, calc, _ = bent_molecule(hh_k=3.0, well=(4.0, 0.8))
    result = validate(atoms, calc, None)
    (scan,) = result.angle_scans
    (hole,) = scan.false_minima
    assert hole.side == "closing" and hole.part == "fast" and hole.pair == "H-O-H"
    assert hole.position_A == pytest.approx(0.8, abs=0.03)
    assert hole.above_eV < 0  # deeper than the unfolded molecule: 1.5 * 0.8**2 - 4 eV
    assert not result.passed
    assert any(
        "closing the H-O-H angle" in f and "more stable than the unfolded" in f for f in result.findings
    )


def test_a_soft_angle_fails_and_a_diatomic_has_no_angle():
    atoms, calc, _ = bent_molecule(hh_k=0.5)
    (scan,) = validate(atoms, calc, None).angle_scans
    assert any("soft when closed" in p for p in scan.problems)
    assert representative_angles(fluid()[0]) == {}


def test_each_angle_type_of_methanol_moves_a_terminal_atom():
    from nequip_mts.md.topology import TopologyWatch

    methanol = molecule("CH3OH")
    angles = representative_angles(methanol)
    assert sorted(angles) == ["C-O-H", "H-C-H", "H-C-O"]
    degree = np.bincount(TopologyWatch(methanol).bonds.ravel(), minlength=len(methanol))
    for name, (fixed, centre, moved) in angles.items():
        assert methanol[moved].symbol == "H" and degree[moved] == 1
        assert methanol[centre].symbol == name.split("-")[1]
