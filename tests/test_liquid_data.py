"""benchmarks/make_liquid_data.py without tblite: the box, the checks and the work file.

The GFN1-xTB labelling itself is not run here (it needs tblite and about 1 s per call);
frames get made-up single-point labels instead.
"""

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_liquid_data as liquid  # noqa: E402
import make_water_data as water  # noqa: E402


def _labelled(atoms, k):
    frame = atoms.copy()
    frame.set_momenta(np.full((len(frame), 3), 0.01 * k))
    frame.calc = SinglePointCalculator(
        frame, energy=-1.0 * k, forces=np.full((len(frame), 3), 0.1 * k), stress=np.full(6, 1e-3 * k)
    )
    frame.info["config_type"] = "md"
    frame.info["md_step"] = k
    return frame


@pytest.mark.parametrize(
    "name, n, density, lattice",
    [
        ("CH3OH", 16, 0.79, "bcc"),
        ("H2O", 32, 1.0, "fcc"),
        ("CH3CN", 27, 0.786, "sc"),
        ("NH3", 20, 0.68, "fcc subset"),
    ],
)
def test_box_density_and_intact_molecules(name, n, density, lattice):
    mol = liquid.molecule_template(name)
    assert np.allclose(mol.get_center_of_mass(), 0, atol=1e-12)
    assert liquid.lattice_sites(n, np.random.default_rng(0))[0] == lattice
    box = liquid.build_box(mol, n, density, np.random.default_rng(1))
    assert len(box) == n * len(mol) and box.pbc.all()
    assert box.get_masses().sum() / 6.02214076e23 / box.get_volume() * 1e24 == pytest.approx(
        density, rel=1e-3
    )
    check = liquid.intactness(box, len(mol), liquid.molecule_bonds(mol))
    assert check["intact"] and check["n_molecules"] == n and check["h_transfers"] == 0
    # every molecule is a rotated copy of the template: same bond lengths
    assert np.allclose(check["lengths"], check["lengths"][0])


def test_intactness_sees_a_broken_bond():
    mol = liquid.molecule_template("CH3OH")
    box = liquid.build_box(mol, 16, 0.79, np.random.default_rng(2))
    bonds = liquid.molecule_bonds(mol)
    o, h = 6 * 3 + 1, 6 * 3 + 3  # the hydroxyl O and H of molecule 3
    box.positions[h] = box.positions[o] + 2.0 * (box.positions[h] - box.positions[o])
    check = liquid.intactness(box, len(mol), bonds)
    assert not check["intact"] and check["n_molecules"] == 17


def test_water_is_the_same_case():
    """The wrapper keeps make_water_data.py's defaults (other scripts import them)."""
    args = water.parse_args([])
    assert (args.molecule, args.n_molecules, args.density, args.temperature) == ("H2O", 32, 1.0, 350.0)
    assert (args.timestep, args.stride, args.n_frames, args.seed) == (1.0, 2, 420, 20240611)
    assert (args.method, args.accuracy, args.electronic_temperature) == ("GFN1-xTB", 1.0, 300.0)
    assert args.output.name == "water_gfn1.extxyz.gz"
    assert liquid.work_path(args).name == "water_gfn1.partial.extxyz"
    box = water.build_water_box(32, 1.0, np.random.default_rng(20240611))
    assert box.get_chemical_symbols()[:3] == ["O", "H", "H"]
    assert box.cell[0, 0] == pytest.approx(9.855531056179064, abs=1e-12)  # the shipped data's box


def test_methanol_defaults():
    args = liquid.parse_args([])
    assert (args.molecule, args.n_molecules, args.density, args.temperature) == ("CH3OH", 16, 0.79, 300.0)
    assert (args.timestep, args.equil_steps, args.stride, args.n_frames) == (0.5, 4000, 10, 400)
    assert liquid.work_path(args).name == "methanol_gfn1.partial.extxyz.gz"


@pytest.mark.parametrize("suffix", [".partial.extxyz.gz", ".partial.extxyz"])
def test_work_file_append_truncate_and_read(tmp_path, suffix):
    box = liquid.build_box(liquid.molecule_template("CH3OH"), 2, 0.79, np.random.default_rng(3))
    work = tmp_path / f"w{suffix}"
    for k in range(3):
        liquid.append_frame(work, _labelled(box, k + 1))
    if suffix.endswith(".gz"):
        with gzip.open(work, "rt") as fh:  # a series of members is one readable gzip file
            assert fh.read().count("Lattice=") == 3
    size = work.stat().st_size
    with open(work, "ab") as fh:  # a killed write: half a frame
        fh.write((work.read_bytes()[: size // 5]))
    frames = liquid.read_complete_frames(work)
    assert work.stat().st_size == size  # the tail is cut off again
    assert [f.info["md_step"] for f in frames] == [1, 2, 3]
    last = frames[-1]
    assert last.get_potential_energy() == pytest.approx(-3.0)
    assert np.allclose(last.get_forces(), 0.3) and np.allclose(last.get_stress(), 3e-3)
    assert np.allclose(last.get_momenta(), 0.03)
    liquid.append_frame(work, _labelled(box, 4))
    assert len(liquid.read_complete_frames(work)) == 4


def test_empty_or_missing_work_file(tmp_path):
    assert liquid.read_complete_frames(tmp_path / "none.partial.extxyz.gz") == []
    (tmp_path / "e.partial.extxyz.gz").write_bytes(b"")
    assert liquid.read_complete_frames(tmp_path / "e.partial.extxyz.gz") == []
    assert isinstance(liquid.molecule_template("NH3"), Atoms)


def test_summary_reads_a_work_file_without_repairing_it(tmp_path, capsys):
    mol = liquid.molecule_template("CH3OH")
    box = liquid.build_box(mol, 2, 0.79, np.random.default_rng(4))
    work = tmp_path / "m.partial.extxyz.gz"
    for k in range(2):
        liquid.append_frame(work, _labelled(box, k + 1))
    with open(work, "ab") as fh:  # a frame being written by the job
        fh.write(work.read_bytes()[:100])
    size = work.stat().st_size
    stats = liquid.summarize(work, mol)
    assert work.stat().st_size == size
    assert stats["frames"] == 2 and stats["frames_not_intact"] == 0 and stats["molecules"] == 2
    assert stats["bond_C-O_mean_A"] == pytest.approx(mol.get_distance(0, 1))
    assert "bond_O-H_max_A" in capsys.readouterr().out


def test_one_job_per_work_file(tmp_path):
    work = tmp_path / "m.partial.extxyz.gz"
    held = liquid._lock(work)
    with pytest.raises(SystemExit, match="another job"):
        liquid._lock(work)
    held.close()
    liquid._lock(work).close()
