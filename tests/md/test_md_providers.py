"""Force providers: sums, full - fast, deployed metadata, checkpoints, type and species checks."""

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from nequip_mts.manifest import FORMAT, read_manifest
from nequip_mts.md import RESPA, MTSCalculator, providers
from nequip_mts.testing.analytic import HarmonicAnchors


def _alloy(seed=0):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[0, 5, 9]] = "Au"
    atoms.rattle(0.1, seed=seed)
    return atoms


def test_two_calculators_sum():
    atoms = _alloy()
    fast, slow = LennardJones(sigma=2.3, epsilon=0.05, rc=3.0, smooth=True), EMT()
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    e_fast = fast.get_potential_energy(atoms)
    e_slow = slow.get_potential_energy(atoms)
    assert atoms.calc.get_fast_energy(atoms) == pytest.approx(e_fast)
    assert atoms.calc.get_slow_energy(atoms) == pytest.approx(e_slow)
    assert atoms.get_potential_energy() == pytest.approx(e_fast + e_slow)
    assert np.allclose(atoms.get_forces(), fast.get_forces(atoms) + slow.get_forces(atoms))
    assert np.allclose(atoms.calc.get_slow_forces(atoms), slow.get_forces(atoms))


def test_full_minus_fast():
    atoms = _alloy()
    fast = HarmonicAnchors(atoms.positions + 0.1, 3.0)
    full = EMT()
    atoms.calc = MTSCalculator.from_full_and_fast(full, fast)
    atoms.rattle(0.05, seed=3)
    assert atoms.get_potential_energy() == pytest.approx(full.get_potential_energy(atoms))
    assert np.allclose(atoms.get_forces(), full.get_forces(atoms))
    assert np.allclose(atoms.calc.get_slow_forces(atoms), full.get_forces(atoms) - fast.get_forces(atoms))
    assert atoms.calc.get_slow_energy(atoms) == pytest.approx(
        full.get_potential_energy(atoms) - fast.get_potential_energy(atoms)
    )


def test_needs_exactly_one_of_slow_and_full():
    with pytest.raises(ValueError, match="exactly one"):
        MTSCalculator(EMT())
    with pytest.raises(ValueError, match="exactly one"):
        MTSCalculator(EMT(), EMT(), full=EMT())


# ---------------------------------------------------------------- type names and species
def _mapper(type_names):
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    return ChemicalSpeciesToAtomTypeMapper(
        model_type_names=type_names,
        chemical_species_to_atom_type_map={t: t for t in type_names},
    )


class FakeNequIP(EMT):
    """EMT dressed like a NequIPCalculator: its transforms carry the model type names."""

    def __init__(self, type_names):
        super().__init__()
        self.transforms = [_mapper(type_names)]


def test_different_type_names_are_refused():
    with pytest.raises(ValueError, match="different type names"):
        MTSCalculator.from_calculators(FakeNequIP(["Au", "Cu"]), FakeNequIP(["Cu", "Au"]))
    with pytest.raises(ValueError, match="different type names"):
        MTSCalculator.from_full_and_fast(FakeNequIP(["Au", "Cu"]), FakeNequIP(["Au", "Cu", "H"]))


def test_unknown_species_is_refused():
    calc = MTSCalculator.from_calculators(FakeNequIP(["Au", "Cu"]), FakeNequIP(["Au", "Cu"]))
    assert calc.species == {"Au", "Cu"}
    atoms = _alloy()
    atoms.symbols[3] = "Ni"
    atoms.calc = calc
    with pytest.raises(ValueError, match=r"\['Ni'\].*models do not know"):
        RESPA(atoms, 1 * units.fs, 2)
    with pytest.raises(ValueError, match="Ni"):
        atoms.get_forces()


# ---------------------------------------------------------------- deployed models (a)
def _deploy_dir(tmp_path, **changes):
    meta = {
        "format": FORMAT,
        "target": "ase",
        "type_names": ["Au", "Cu"],
        "model_dtype": "float32",
        "fast": {"file": "fast.nequip.pt2", "r_max": 3.0},
        "slow": {"file": "slow.nequip.pt2", "r_max": 4.5},
        "sum": {"file": "sum.nequip.pt2", "r_max": 4.5},
        "provenance": {"note": "test"},
    }
    meta.update(changes)
    for part in ("fast", "slow", "sum"):
        (tmp_path / meta[part]["file"]).write_bytes(b"not a real model")
    (tmp_path / "mts_deploy.json").write_text(json.dumps(meta))
    return tmp_path


@pytest.fixture
def fake_loader(monkeypatch):
    loaded = []

    def load(path, device, species_map, stress=True):
        loaded.append((path.name, device))
        return FakeNequIP(["Au", "Cu"])

    monkeypatch.setattr(providers, "compiled_model_calculator", load)
    return loaded


def test_from_deployed_reads_metadata(tmp_path, fake_loader):
    directory = _deploy_dir(tmp_path)
    for path in (directory, directory / "mts_deploy.json", str(directory)):
        calc = MTSCalculator.from_deployed(path)
        assert calc.type_names == ["Au", "Cu"]
        assert calc.species == {"Au", "Cu"}
    assert fake_loader[:2] == [("fast.nequip.pt2", "cpu"), ("slow.nequip.pt2", "cpu")]
    atoms = _alloy()
    atoms.calc = calc
    RESPA(atoms, 1 * units.fs, 2).run(2)


def test_from_deployed_refuses_models_with_other_type_names(tmp_path, monkeypatch):
    directory = _deploy_dir(tmp_path)
    monkeypatch.setattr(
        providers,
        "compiled_model_calculator",
        lambda path, device, m, stress=True: FakeNequIP(
            ["Au", "Cu"] if "fast" in path.name else ["Cu", "Au"]
        ),
    )
    with pytest.raises(ValueError, match="type names"):
        MTSCalculator.from_deployed(directory)


@pytest.mark.parametrize(
    "changes, error, match",
    [
        (dict(format="nequip-mts-deploy/99"), ValueError, "format"),
        (dict(target="pair_allegro"), ValueError, "--target ase"),
    ],
)
def test_bad_deploy_metadata(tmp_path, fake_loader, changes, error, match):
    with pytest.raises(error, match=match):
        MTSCalculator.from_deployed(_deploy_dir(tmp_path, **changes))


def test_deploy_metadata_missing_pieces(tmp_path, fake_loader):
    with pytest.raises(FileNotFoundError, match="mts_deploy.json"):
        read_manifest(tmp_path)
    directory = _deploy_dir(tmp_path)
    (directory / "slow.nequip.pt2").unlink()
    with pytest.raises(FileNotFoundError, match="slow model"):
        read_manifest(directory)
    meta = json.loads((directory / "mts_deploy.json").read_text())
    del meta["fast"]
    (directory / "mts_deploy.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"lacks the entries \['fast'\]"):
        read_manifest(directory)
    (directory / "mts_deploy.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        read_manifest(directory)


# ---------------------------------------------------------------- checkpoints (b)
def _tiny_nequip(r_max, seed):
    from nequip.model import NequIPGNNModel

    return NequIPGNNModel(
        seed=seed,
        model_dtype="float64",
        type_names=["Au", "Cu"],
        r_max=r_max,
        l_max=1,
        num_layers=1,
        num_features=4,
        radial_mlp_depth=1,
        radial_mlp_width=4,
        avg_num_neighbors=10.0,
        per_type_energy_scales=1.0,
        per_type_energy_shifts={"Au": 0.0, "Cu": 0.0},
    )


def test_from_checkpoint_builds_fast_and_slow(monkeypatch, tmp_path):
    # No trained checkpoint here: stand the loader in with two tiny NequIP models and
    # check what from_checkpoint builds on top of it (cutoffs, type names, forces).
    import zipfile

    import torch
    from nequip.model.saved_models import load_utils
    from nequip.utils.global_state import set_global_state

    set_global_state(allow_tf32=False)
    models = torch.nn.ModuleDict({"fast": _tiny_nequip(3.0, 1), "slow": _tiny_nequip(4.5, 2)})
    calls = []

    def fake_load(path, compile_mode, model_key):
        calls.append((path, compile_mode, model_key))
        return models[model_key]

    monkeypatch.setattr(load_utils, "load_saved_model", fake_load)
    # checkpoints are zip archives (checked before loading); an empty one stands in
    zipfile.ZipFile(tmp_path / "model.ckpt", "w").close()
    calc = MTSCalculator.from_checkpoint(tmp_path / "model.ckpt")
    path = str(tmp_path / "model.ckpt")
    assert calls == [(path, "eager", "fast"), (path, "eager", "slow")]
    assert calc.type_names == ["Au", "Cu"] and calc.species == {"Au", "Cu"}
    cutoffs = [
        [t.r_max for t in c.transforms if hasattr(t, "r_max")] for c in (calc.fast_calc, calc.slow_calc)
    ]
    assert cutoffs == [[3.0], [4.5]]

    atoms = _alloy()
    atoms.calc = calc
    forces = atoms.get_forces()
    assert np.isfinite(forces).all() and np.abs(calc.get_slow_forces(atoms)).max() > 0
    assert np.allclose(forces, calc.get_fast_forces(atoms) + calc.get_slow_forces(atoms))
    RESPA(atoms, 1 * units.fs, 2).run(2)

    monkeypatch.setattr(
        load_utils,
        "load_saved_model",
        lambda p, compile_mode, model_key: torch.nn.ModuleDict({"sole_model": models["fast"]})[model_key],
    )
    zipfile.ZipFile(tmp_path / "single.ckpt", "w").close()
    with pytest.raises(ValueError, match="'fast' and 'slow'"):
        MTSCalculator.from_checkpoint(tmp_path / "single.ckpt")


def test_compiled_from_checkpoint_goes_through_the_cache(tmp_path, monkeypatch, fake_loader):
    from nequip_mts.deploy import cache

    (tmp_path / "entry").mkdir()
    directory = _deploy_dir(tmp_path / "entry")
    asked = []

    def deployed(path, parts, device="cpu", cache_dir=None, **kw):
        asked.append((path.name, tuple(parts), device, cache_dir))
        return directory

    monkeypatch.setattr(cache, "deployed", deployed)
    (tmp_path / "model.nequip.zip").write_bytes(b"zip")
    calc = MTSCalculator.from_checkpoint(tmp_path / "model.nequip.zip", compiled=True, cache_dir="c")
    assert asked == [("model.nequip.zip", ("fast", "slow"), "cpu", "c")]
    assert fake_loader[:2] == [("fast.nequip.pt2", "cpu"), ("slow.nequip.pt2", "cpu")]
    assert calc.type_names == ["Au", "Cu"]
    with pytest.raises(FileNotFoundError):
        MTSCalculator.from_checkpoint(tmp_path / "missing.ckpt", compiled=True)


def test_model_calculator_compiled_or_eager(tmp_path, monkeypatch):
    from nequip_mts.deploy import cache

    seen = []
    monkeypatch.setattr(
        cache, "compiled_single", lambda path, **kw: seen.append(kw) or tmp_path / "m.nequip.pt2"
    )
    monkeypatch.setattr(
        providers,
        "compiled_model_calculator",
        lambda path, device, m, stress=True: ("compiled", path.name, stress),
    )
    monkeypatch.setattr(providers, "saved_model_calculator", lambda path, **kw: ("eager", path))
    assert providers.model_calculator("b.zip", compiled=True) == ("compiled", "m.nequip.pt2", False)
    assert seen == [dict(stress=False, device="cpu", cache_dir=None)]
    assert providers.model_calculator("b.zip")[0] == "eager"


def test_md_cli_compiles_checkpoints_unless_eager(tmp_path, monkeypatch):
    from nequip_mts.cli.md import load_provider

    seen = []
    monkeypatch.setattr(
        MTSCalculator, "from_checkpoint", classmethod(lambda cls, path, device="cpu", **kw: seen.append(kw))
    )
    (tmp_path / "m.ckpt").write_bytes(b"")
    load_provider(tmp_path / "m.ckpt")
    load_provider(tmp_path / "m.ckpt", eager=True, cache_dir=tmp_path)
    assert seen == [dict(compiled=True, cache_dir=None), dict(compiled=False, cache_dir=tmp_path)]


# ---------------------------------------------------------------- end to end (trained model)
@pytest.mark.slow
def test_checkpoint_and_deployed_models_agree_with_the_sum(trained_multiscale, deployed_ase):
    from nequip.integrations.ase import NequIPCalculator

    checkpoint, _ = trained_multiscale
    atoms = _alloy()
    eager = MTSCalculator.from_checkpoint(checkpoint)
    deployed = MTSCalculator.from_deployed(deployed_ase)
    meta = read_manifest(deployed_ase, target="ase")
    whole = NequIPCalculator.from_compiled_model(
        meta["sum"]["path"], device="cpu", chemical_species_to_atom_type_map=True
    )
    reference_e = whole.get_potential_energy(atoms)
    reference_f = whole.get_forces(atoms)
    for calc in (eager, deployed):
        e = calc.get_fast_energy(atoms) + calc.get_slow_energy(atoms)
        f = calc.get_fast_forces(atoms) + calc.get_slow_forces(atoms)
        assert e == pytest.approx(reference_e, rel=1e-4, abs=1e-3)
        assert np.abs(f - reference_f).max() < 1e-3
    atoms.calc = deployed
    RESPA(atoms, 2 * units.fs, 2).run(3)
