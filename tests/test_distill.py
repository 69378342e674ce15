"""``nequip-mts distill``: a fast model for an existing teacher, MTS with slow = full - fast.

The end-to-end test distils the session's trained model (a real nequip checkpoint) with a
very short training, and checks on held-out frames that the MTS sum of the deploy is the
teacher itself (independently evaluated from its checkpoint) to float32 precision, that
the inner force is the fast model's and not the teacher's, and that the provenance names
the teacher by its hash.
"""

import hashlib
import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from nequip_mts.cli.main import main
from nequip_mts.errors import InputError
from nequip_mts.manifest import FAST, FULL, FULL_MINUS_FAST, read_manifest, write_manifest
from nequip_mts.md import MTSCalculator


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_fast_manifest_gives_full_minus_fast(tmp_path):
    # a full-fast deploy whose two parts are ASE calculators: the slow force is full - fast
    write_manifest(
        tmp_path,
        target="ase",
        type_names=["Cu"],
        split=FULL_MINUS_FAST,
        parts={
            FAST: {"calculator": "ase.calculators.emt:EMT", "r_max": 3.0},
            FULL: {"calculator": "ase.calculators.lj:LennardJones", "kwargs": {"sigma": 2.3, "rc": 5.0}},
        },
    )
    meta = read_manifest(tmp_path, target="ase")
    assert meta["split"] == FULL_MINUS_FAST
    calc = MTSCalculator.from_deployed(tmp_path)
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    full, fast = LennardJones(sigma=2.3, rc=5.0), EMT()
    f_full = _forces(atoms, full)
    f_fast = _forces(atoms, fast)
    np.testing.assert_allclose(calc.get_fast_forces(atoms), f_fast, atol=1e-10)
    np.testing.assert_allclose(calc.get_slow_forces(atoms), f_full - f_fast, atol=1e-10)
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_forces(), f_full, atol=1e-10)
    assert atoms.get_potential_energy() == pytest.approx(_energy(atoms, full), abs=1e-10)


def _forces(atoms, calc):
    a = atoms.copy()
    a.calc = calc
    return a.get_forces()


def _energy(atoms, calc):
    a = atoms.copy()
    a.calc = calc
    return a.get_potential_energy()


def test_teacher_errors(tmp_path):
    from nequip_mts.distill import load_teacher

    with pytest.raises(InputError, match="no teacher model"):
        load_teacher(tmp_path / "missing.nequip.zip")
    with pytest.raises(InputError, match="cannot be `none`"):
        load_teacher("none")
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(InputError, match="not a nequip model file"):
        load_teacher(tmp_path / "model.txt")


@pytest.mark.slow
def test_distill_sum_is_the_teacher(tmp_path, trained_multiscale, emt_dataset, capsys):
    from ase.io import read, write
    from e2e_helpers import R_FAST

    from nequip_mts.md.providers import saved_model_calculator

    checkpoint, _ = trained_multiscale
    frames = read(emt_dataset, index=":")
    given, held_out = frames[:16], frames[-4:]
    structures = tmp_path / "structures.extxyz"
    write(structures, given)
    out = tmp_path / "distilled"
    argv = [
        "distill",
        str(checkpoint),
        str(structures),
        "-o",
        str(out),
        "--md-frames",
        "10",
        "--md-stride",
        "4",
        "--distorted-frames",
        "8",
        "--r-max-fast",
        str(R_FAST),
        "--max-epochs",
        "1",
        "--train-override",
        "+trainer.limit_train_batches=4",
        "--no-progress",
    ]
    assert main(argv) == 0
    meta = read_manifest(out, target="ase")
    assert meta["split"] == FULL_MINUS_FAST
    assert meta[FAST]["r_max"] == pytest.approx(R_FAST)
    assert meta["provenance"]["teacher"]["sha256"] == _sha256(checkpoint)
    counts = meta["provenance"]["data"]["frames"]
    assert counts["given"] == 16 and counts["teacher_md"] == 10 and sum(counts.values()) >= 30
    assert "/" not in " ".join(
        a for a in meta["provenance"]["config"]["command"] if a.startswith("data_file")
    )
    data = read(out / "distill_data.extxyz", index=":")
    assert len(data) == sum(counts.values())
    # every frame carries the teacher's stiffness along its probe, for the loss term
    assert all(a.arrays["stiffness_response"].shape == (len(a), 3) for a in data)
    assert all(np.abs(a.arrays["stiffness_probe"]).max() > 0 for a in data)

    mts = MTSCalculator.from_deployed(out)
    teacher = saved_model_calculator(checkpoint)
    worst_fast_gap = 0.0
    for atoms in held_out:
        atoms = atoms.copy()
        ref_e, ref_f = _energy(atoms, teacher), _forces(atoms, teacher)
        atoms.calc = mts
        assert abs(atoms.get_potential_energy() - ref_e) / len(atoms) < 1e-5
        assert np.abs(atoms.get_forces() - ref_f).max() < 1e-4
        worst_fast_gap = max(worst_fast_gap, np.abs(mts.get_fast_forces(atoms) - ref_f).max())
    # the inner force is the fast model's own, not the teacher's
    assert worst_fast_gap > 1e-3

    # an existing deploy is not overwritten
    assert main(argv) == 2
    assert "already holds a deploy" in capsys.readouterr().err
    assert json.loads((out / "mts_deploy.json").read_text())["provenance"]["teacher"]["sha256"]


@pytest.mark.slow
def test_distill_an_ase_calculator_teacher(tmp_path, emt_dataset):
    # the teacher given only as an ASE calculator (EMT) by import path: the deploy keeps it
    # as the full part, and the MTS sum is EMT itself
    from ase.io import read, write
    from e2e_helpers import R_FAST

    frames = read(emt_dataset, index=":")
    structures = tmp_path / "structures.extxyz"
    write(structures, frames[:12])
    out = tmp_path / "distilled"
    argv = ["distill", "ase.calculators.emt:EMT", str(structures), "-o", str(out)]
    argv += ["--md-frames", "6", "--md-stride", "4", "--distorted-frames", "4", "--r-max-fast", str(R_FAST)]
    argv += ["--max-epochs", "1", "--train-override", "+trainer.limit_train_batches=3", "--no-progress"]
    assert main(argv) == 0
    meta = read_manifest(out, target="ase")
    assert meta[FULL]["calculator"] == "ase.calculators.emt:EMT"
    mts = MTSCalculator.from_deployed(out)
    for atoms in frames[-3:]:
        atoms = atoms.copy()
        ref_e, ref_f = _energy(atoms, EMT()), _forces(atoms, EMT())
        atoms.calc = mts
        assert atoms.get_potential_energy() == pytest.approx(ref_e, abs=1e-5 * len(atoms))
        assert np.abs(atoms.get_forces() - ref_f).max() < 1e-4
    # LAMMPS cannot run a Python teacher: refused with one line
    assert main([*argv[:5], "-o", str(tmp_path / "lmp"), "--target", "pair_allegro", *argv[5:]]) == 2
