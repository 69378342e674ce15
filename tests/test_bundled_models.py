"""The pretrained models shipped in the package (water; methanol): consistent parts, trained, no short-range hole."""

import numpy as np
import pytest

from nequip_mts.resources import bundled_model, water_data

DATA = water_data()
BASELINE, MULTISCALE = bundled_model("baseline"), bundled_model("multiscale")

pytestmark = pytest.mark.skipif(
    not (BASELINE.exists() and MULTISCALE.exists() and DATA.exists()), reason="bundled models or data missing"
)


@pytest.fixture(scope="module")
def calculators():
    from nequip_mts.md import MTSCalculator
    from nequip_mts.md.providers import saved_model_calculator

    return {
        "baseline": saved_model_calculator(BASELINE),
        "sum": saved_model_calculator(MULTISCALE),
        "mts": MTSCalculator.from_checkpoint(MULTISCALE),
    }


@pytest.fixture(scope="module")
def frames():
    from ase.io import read

    return read(DATA, index="0:420:60")  # MD frames


def test_fast_plus_slow_equals_the_packaged_sum(calculators, frames):
    mts = calculators["mts"]
    for atoms in frames[:2]:
        ref = atoms.copy()
        ref.calc = calculators["sum"]
        e_parts = mts.get_fast_energy(atoms) + mts.get_slow_energy(atoms)
        f_parts = mts.get_fast_forces(atoms) + mts.get_slow_forces(atoms)
        assert abs(e_parts - ref.get_potential_energy()) < 1e-3  # float32, ~5000 eV total
        np.testing.assert_allclose(f_parts, ref.get_forces(), atol=1e-4)


@pytest.mark.parametrize("model", ["baseline", "sum"])
def test_trained_against_gfn1(calculators, frames, model):
    # forces of the liquid are fitted: an untrained or wrong model is off by ~1 eV/A
    errors = []
    for atoms in frames:
        pred = atoms.copy()
        pred.calc = calculators[model]
        errors.append(np.abs(pred.get_forces() - atoms.get_forces()).mean())
    assert np.mean(errors) < 0.15


@pytest.mark.parametrize("model", ["baseline", "sum"])
def test_closing_a_molecule_costs_energy(calculators, frames, model):
    # the defect of the first models: bending one molecule until its two H are 0.6 A apart
    # lowered the energy. With ZBL and the distorted frames it must cost well over kT.
    atoms = frames[0].copy()
    o, h1, h2 = 0, 1, 2  # molecules are stored O, H, H
    energies = []
    for hh in (1.5, 0.6):
        a = atoms.copy()
        pos = a.get_positions()
        v1 = a.get_distance(o, h1, mic=True, vector=True)
        v2 = a.get_distance(o, h2, mic=True, vector=True)
        bis = v1 / np.linalg.norm(v1) + v2 / np.linalg.norm(v2)
        bis /= np.linalg.norm(bis)
        across = v1 - v1.dot(bis) * bis
        across /= np.linalg.norm(across)
        half = np.arcsin(hh / 2 / 0.97)
        pos[h1] = pos[o] + 0.97 * (np.cos(half) * bis + np.sin(half) * across)
        pos[h2] = pos[o] + 0.97 * (np.cos(half) * bis - np.sin(half) * across)
        a.set_positions(pos)
        a.calc = calculators[model]
        energies.append(a.get_potential_energy())
    assert energies[1] - energies[0] > 1.0  # eV; GFN1-xTB gives several eV here


# --- the second bundled system: methanol (issue 10; after two rounds of active learning) ---


@pytest.fixture(scope="module")
def methanol():
    from ase.io import read

    from nequip_mts.md import MTSCalculator
    from nequip_mts.md.providers import saved_model_calculator
    from nequip_mts.resources import bundled_data

    multiscale = bundled_model("multiscale", "methanol")
    frames = [a for a in read(bundled_data("methanol"), index=":") if a.info.get("config_type") == "md"]
    return {
        "baseline": saved_model_calculator(bundled_model("baseline", "methanol")),
        "sum": saved_model_calculator(multiscale),
        "mts": MTSCalculator.from_checkpoint(multiscale),
        "frames": frames[::50],
    }


def test_methanol_parts_add_up_to_the_packaged_sum(methanol):
    for atoms in methanol["frames"][:2]:
        ref = atoms.copy()
        ref.calc = methanol["sum"]
        mts = methanol["mts"]
        e_parts = mts.get_fast_energy(atoms) + mts.get_slow_energy(atoms)
        f_parts = mts.get_fast_forces(atoms) + mts.get_slow_forces(atoms)
        assert abs(e_parts - ref.get_potential_energy()) < 1e-3
        np.testing.assert_allclose(f_parts, ref.get_forces(), atol=1e-4)


@pytest.mark.parametrize("model", ["baseline", "sum"])
def test_methanol_trained_against_gfn1(methanol, model):
    errors = []
    for atoms in methanol["frames"]:
        pred = atoms.copy()
        pred.calc = methanol[model]
        errors.append(np.abs(pred.get_forces() - atoms.get_forces()).mean())
    assert np.mean(errors) < 0.25  # eV/A; an untrained model is off by ~1 eV/A
