"""``nequip-mts augment`` and :mod:`nequip_mts.augment`: each distortion against ASE's own
minimum-image distances and angles, labels against a fresh single point, the output file."""

import hashlib
import itertools
import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.io import read, write

from nequip_mts.augment import (
    AugmentSettings,
    Topology,
    bend_angle,
    closest_pair,
    distort,
    move_into_contact,
    plan_frames,
    set_bond_length,
)
from nequip_mts.calculators import calculator_factory, reference_calculator
from nequip_mts.cli.main import main
from nequip_mts.errors import EXIT_BAD_INPUT, InputError

EMT_SPEC = "ase.calculators.emt:EMT"


def split_ethanol():
    """Ethanol in a 9 A box, its C-C bond across the boundary (positions wrapped)."""
    atoms = molecule("CH3CH2OH")
    atoms.cell = [9.0, 9.0, 9.0]
    atoms.pbc = True
    c1, c2 = [a.index for a in atoms if a.symbol == "C"]
    # put the midpoint of C-C on the cell corner, then wrap every atom into the cell
    atoms.positions -= 0.5 * (atoms.positions[c1] + atoms.positions[c2])
    atoms.wrap()
    return atoms, c1, c2


def molecular_box(seed=0):
    """CH4, H2O, N2 and H2O (elements EMT knows) in an 8 A periodic box."""
    atoms = Atoms(cell=[8.0, 8.0, 8.0], pbc=True)
    for name, site in zip(["CH4", "H2O", "N2", "H2O"], [(2, 2, 2), (6, 2, 6), (2, 6, 6), (6, 6, 2)]):
        part = molecule(name)
        part.positions += np.array(site, dtype=float) - part.get_center_of_mass()
        atoms += part
    atoms.rattle(0.02, seed=seed)
    return atoms


def mic_distances(atoms, indices):
    return atoms.get_all_distances(mic=True)[np.ix_(indices, indices)]


def test_fixture_is_split_across_the_boundary():
    atoms, c1, c2 = split_ethanol()
    assert np.linalg.norm(atoms.positions[c1] - atoms.positions[c2]) > 4.0  # raw: far apart
    assert atoms.get_distance(c1, c2, mic=True) == pytest.approx(1.51, abs=0.02)


@pytest.mark.parametrize("factor", [1.55, 0.8])
def test_bond_length_is_set_and_both_sides_stay_rigid(factor):
    atoms, c1, c2 = split_ethanol()
    topology = Topology(atoms)
    before = atoms.copy()
    old = atoms.get_distance(c1, c2, mic=True)
    set_bond_length(atoms, c1, c2, factor, topology)
    assert atoms.get_distance(c1, c2, mic=True) == pytest.approx(factor * old, abs=1e-6)
    moved = np.flatnonzero(np.linalg.norm(atoms.positions - before.positions, axis=1) > 1e-9)
    fixed = np.setdiff1d(np.arange(len(atoms)), moved)
    # the smaller side moved: CH3 (4 atoms) rather than CH2OH (5)
    assert len(moved) == 4 and sorted(atoms[moved].get_chemical_symbols()) == ["C", "H", "H", "H"]
    for group in (moved, fixed):
        np.testing.assert_allclose(mic_distances(atoms, group), mic_distances(before, group), atol=1e-9)


def test_a_ring_bond_moves_one_atom():
    atoms = molecule("C6H6")
    atoms.cell, atoms.pbc = [12.0, 12.0, 12.0], True
    before = atoms.copy()
    c = [a.index for a in atoms if a.symbol == "C"]
    i, j = min(itertools.combinations(c, 2), key=lambda p: atoms.get_distance(*p))
    set_bond_length(atoms, i, j, 1.3)
    moved = np.flatnonzero(np.linalg.norm(atoms.positions - before.positions, axis=1) > 1e-9)
    assert moved.tolist() == [j]
    assert atoms.get_distance(i, j, mic=True) == pytest.approx(1.3 * before.get_distance(i, j), abs=1e-6)


@pytest.mark.parametrize("delta", [25.0, -30.0])
def test_bend_changes_the_angle_and_keeps_every_bond(delta):
    atoms, c1, c2 = split_ethanol()
    o = [a.index for a in atoms if a.symbol == "O"][0]
    topology = Topology(atoms)
    bonds = topology.bond_list()
    old_lengths = [atoms.get_distance(i, j, mic=True) for i, j in bonds[:, :2]]
    old = atoms.get_angle(c1, c2, o, mic=True)
    bend_angle(atoms, c1, c2, o, delta, topology)
    assert atoms.get_angle(c1, c2, o, mic=True) == pytest.approx(old + delta, abs=1e-6)
    new_lengths = [atoms.get_distance(i, j, mic=True) for i, j in bonds[:, :2]]
    np.testing.assert_allclose(new_lengths, old_lengths, atol=1e-9)


def test_bend_of_water_closes_the_angle():
    atoms = molecular_box()
    o = 5  # the O of the first water (CH4 is atoms 0-4)
    assert atoms[o].symbol == "O"
    old = atoms.get_angle(6, o, 7, mic=True)
    bend_angle(atoms, 6, o, 7, -40.0)
    assert atoms.get_angle(6, o, 7, mic=True) == pytest.approx(old - 40.0, abs=1e-6)


def test_contact_sets_the_closest_intermolecular_distance():
    atoms = molecular_box()
    before = atoms.copy()
    topology = Topology(atoms)
    labels = topology.molecules.labels
    mol_a = labels[5]  # the first water
    _, q, d0, _ = closest_pair(atoms, topology, mol_a)
    mol_b = labels[q]
    a, b = np.flatnonzero(labels == mol_a), np.flatnonzero(labels == mol_b)
    move_into_contact(atoms, mol_a, mol_b, 1.4, topology)
    between = atoms.get_all_distances(mic=True)[np.ix_(a, b)]
    assert d0 > 2.0 and between.min() == pytest.approx(1.4, abs=1e-6)
    np.testing.assert_allclose(mic_distances(atoms, a), mic_distances(before, a), atol=1e-9)
    others = np.setdiff1d(np.arange(len(atoms)), a)
    np.testing.assert_array_equal(atoms.positions[others], before.positions[others])


def test_distort_tags_and_final_rattle():
    base = molecular_box()
    settings = AugmentSettings(final_rattle_A=0.0)
    rng = np.random.default_rng(1)
    atoms, text = distort(base, "stretch", settings, rng)
    assert text.count("stretch") == settings.per_frame
    # without the final rattle only the stretched bonds' sides moved; with it, every atom
    atoms, _ = distort(base, "compress", AugmentSettings(), np.random.default_rng(1))
    assert (np.linalg.norm(atoms.positions - base.positions, axis=1) > 0).all()


def test_plan_spreads_kinds_and_bases():
    plan = plan_frames(50, AugmentSettings(n_frames=12))
    kinds = [k for k, _ in plan]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "stretch": 3,
        "compress": 3,
        "bend": 2,
        "contact": 2,
        "rattle": 2,
    }
    bases = [b for _, b in plan]
    assert bases[0] == 0 and bases[-1] == 49 and bases == sorted(bases)


# --------------------------------------------------------------------------- command line


@pytest.fixture
def frames_file(tmp_path, monkeypatch):
    """Three labelled EMT frames of the molecular box."""
    frames = []
    for seed in range(3):
        atoms = molecular_box(seed)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        frames.append(atoms)
    write(tmp_path / "md.extxyz", frames)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "md.extxyz"


ARGS = ["--n-frames", "10", "--hot-md-frames", "2", "--hot-md-stride", "3", "--no-progress"]


def test_emt_labels_equal_a_fresh_single_point(frames_file, capsys):
    assert main(["augment", str(frames_file), "-o", "train.extxyz", "--calculator", EMT_SPEC, *ARGS]) == 0
    out = capsys.readouterr().out
    assert "hot_md" in out and "skipped: 0 frames" in out
    inputs, written = read(frames_file, ":"), read("train.extxyz", ":")
    assert len(written) == 3 + 12
    for a, b in zip(inputs, written[:3]):
        assert b.info["config_type"] == "md"
        np.testing.assert_allclose(b.positions, a.positions, atol=1e-8)
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-6)
    kinds = [f.info["config_type"] for f in written[3:]]
    assert sorted(set(kinds)) == ["bend", "compress", "contact", "hot_md", "rattle", "stretch"]
    for frame in written[3:]:
        assert 0 <= frame.info["base_frame"] < 3 and frame.info["distortion"]
        fresh = frame.copy()
        fresh.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-5)
        np.testing.assert_allclose(frame.get_forces(), fresh.get_forces(), atol=1e-5)
        np.testing.assert_allclose(frame.get_stress(), fresh.get_stress(), atol=1e-6)
    record = json.loads((frames_file.parent / "train.extxyz.provenance.json").read_text())
    assert record["input"]["sha256"] == hashlib.sha256(frames_file.read_bytes()).hexdigest()
    assert record["counts"] == {k: kinds.count(k) for k in set(kinds)}
    assert record["calculator"]["spec"] == EMT_SPEC and record["seed"] == 0


def test_none_writes_unlabelled_frames_and_new_only(frames_file):
    assert (
        main(["augment", "md.extxyz", "-o", "new.extxyz.gz", "--calculator", "none", "--new-only", *ARGS[:2]])
        == 0
    )
    written = read("new.extxyz.gz", ":")
    assert len(written) == 10
    assert all(f.calc is None for f in written)
    assert all(f.info["config_type"] != "md" for f in written)


def test_same_seed_same_file(frames_file):
    for name in ("a.extxyz", "b.extxyz"):
        assert main(["augment", "md.extxyz", "-o", name, "--calculator", "none", "--no-progress"]) == 0
    assert (frames_file.parent / "a.extxyz").read_bytes() == (frames_file.parent / "b.extxyz").read_bytes()


def test_refuses_to_overwrite(frames_file, capsys):
    argv = ["augment", "md.extxyz", "-o", "out.extxyz", "--calculator", "none", "--n-frames", "5"]
    assert main(argv) == 0
    out = frames_file.parent / "out.extxyz"
    data = out.read_bytes()
    capsys.readouterr()
    assert main([*argv, "--seed", "3"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "already exist" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == data
    assert main([*argv, "--seed", "3", "--overwrite"]) == 0
    assert out.read_bytes() != data
    # and never over its input, consent or not
    before = frames_file.read_bytes()
    assert main(["augment", "md.extxyz", "-o", "md.extxyz", "--calculator", "none", "--overwrite"]) == 2
    assert frames_file.read_bytes() == before


def test_isolated_atoms(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    gas = Atoms("Ar4", positions=[[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 4]], cell=[8, 8, 8], pbc=True)
    write("gas.extxyz", gas)
    argv = ["augment", "gas.extxyz", "--calculator", "none", "--n-frames", "10"]
    assert main([*argv, "-o", "a.extxyz", "--kinds", "stretch", "bend"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "no covalent bonds" in err and "--kinds" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.extxyz").exists()
    # all kinds: bond kinds are skipped with a note, contacts and rattles made
    assert main([*argv, "-o", "b.extxyz"]) == 0
    out = capsys.readouterr().out
    assert "not made: 2 stretch frames: no covalent bonds" in out
    kinds = [f.info["config_type"] for f in read("b.extxyz", ":")[1:]]
    assert sorted(set(kinds)) == ["contact", "rattle"]


def test_calculator_specs():
    assert isinstance(reference_calculator("ase.calculators.emt.EMT"), EMT)
    assert reference_calculator("none") is None
    for spec, words in [
        ("no_such_module_xyz:Calc", "cannot import no_such_module_xyz"),
        ("ase.calculators.emt:Nope", "has no Nope"),
        ("numpy:pi", "not a calculator"),
        ("json:JSONDecoder", "not an ASE calculator"),
        ("what ever", "not a calculator name"),
    ]:
        with pytest.raises(InputError, match=words):
            calculator_factory(spec)
    with pytest.raises(InputError, match="cannot build it with --calc-kwargs"):
        calculator_factory("ase.build:molecule", {"no_such_option": 1})  # a TypeError
    with pytest.raises(InputError, match="--calc-kwargs given with --calculator none"):
        calculator_factory("none", {"a": 1})


@pytest.mark.slow
def test_gfn1_labels_equal_a_direct_tblite_single_point(tmp_path, monkeypatch):
    tblite = pytest.importorskip("tblite.ase")
    monkeypatch.chdir(tmp_path)
    atoms = Atoms(cell=[6.0, 6.0, 6.0], pbc=True)
    for site in [(1.5, 1.5, 1.5), (4.5, 4.5, 1.5), (1.5, 4.5, 4.5)]:
        part = molecule("H2O")
        part.positions += np.array(site)
        atoms += part
    write("water.extxyz", atoms)
    argv = ["augment", "water.extxyz", "-o", "out.extxyz", "--calculator", "gfn1", "--new-only"]
    assert main([*argv, "--n-frames", "5", "--no-progress"]) == 0
    written = read("out.extxyz", ":")
    assert len(written) == 5
    for frame in written:
        fresh = frame.copy()
        fresh.calc = tblite.TBLite(method="GFN1-xTB", accuracy=1.0, electronic_temperature=300.0, verbosity=0)
        # the run's calculator starts each SCF from the last frame's solution, the fresh one
        # from scratch: both converge within tblite's tolerance at accuracy 1.0
        assert frame.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-4)
        np.testing.assert_allclose(frame.get_forces(), fresh.get_forces(), atol=1e-3)
        assert frame.info["config_type"] in ("stretch", "compress", "bend", "contact", "rattle")


class _FlakyEMT(EMT):
    """EMT whose single points raise (every third call) or give NaN (every fifth)."""

    calls = 0

    def calculate(self, *args, **kwargs):
        type(self).calls += 1
        if type(self).calls % 3 == 0:
            raise RuntimeError("SCF did not converge")
        super().calculate(*args, **kwargs)
        if type(self).calls % 5 == 0:
            self.results["energy"] = float("nan")


def test_failed_single_points_are_skipped_and_counted():
    from nequip_mts.augment import augment
    from nequip_mts.cli.augment import summary_text

    _FlakyEMT.calls = 0
    frames = [molecular_box(seed) for seed in range(2)]
    result = augment(frames, AugmentSettings(n_frames=15, final_rattle_A=0.0), _FlakyEMT)
    skipped = sum(result.failed.values())
    assert skipped > 0 and len(result.frames) + skipped == 15
    assert any("SCF did not converge" in m for m in result.failures)
    assert any("non-finite" in m for m in result.failures)
    for frame in result.frames:  # what was kept is a clean EMT label
        fresh = frame.copy()
        fresh.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-9)
    assert f"skipped: {skipped} frames" in summary_text(result, "out.extxyz", 2, False, 1.0)
