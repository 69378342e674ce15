"""The model cache (nequip_mts.deploy.cache): hit, miss, invalidation, half-written entries.

The compile steps are replaced by fakes that write placeholder files, so nothing here
compiles; tests/cli/test_demo.py runs the real thing (slow).
"""

import json
import os

import pytest

from nequip_mts.deploy import cache
from nequip_mts.files import sha256_file
from nequip_mts.manifest import part_filename, read_manifest, write_manifest


@pytest.fixture
def compiles(monkeypatch):
    """Replace the compile steps; returns the list of what was compiled."""
    done = []

    def fake_deploy(source, staging, target, parts, device, stress):
        done.append(("deploy", source.name if hasattr(source, "name") else source, tuple(parts), stress))
        for part in parts:
            (staging / part_filename(part)).write_bytes(b"model")
        write_manifest(
            staging,
            target=target,
            type_names=["H", "O"],
            parts={part: {"file": part_filename(part), "r_max": 3.0} for part in parts},
            provenance={"source_sha256": sha256_file(source)},
            stress=stress,
        )

    def fake_single(source, out, target, device, stress):
        done.append(("single", source.name, stress))
        out.write_bytes(b"model")

    monkeypatch.setattr(cache, "_compile_deploy", fake_deploy)
    monkeypatch.setattr(cache, "_compile_single", fake_single)
    return done


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "model.nequip.zip"
    path.write_bytes(b"weights v1")
    return path


def _entries(root):
    return sorted(p.name for p in root.iterdir())


def test_miss_compiles_once_then_hits(tmp_path, source, compiles, capsys):
    root = tmp_path / "cache"
    first = cache.deployed(source, cache_dir=root)
    out = capsys.readouterr().out
    assert out.count("compiling") == 1 and "once" in out and " done in " in out
    assert read_manifest(first)["stress"] is False
    second = cache.deployed(source, cache_dir=root)
    assert second == first
    assert capsys.readouterr().out == ""  # a hit says nothing
    assert compiles == [("deploy", "model.nequip.zip", ("fast", "slow"), False)]
    assert not [name for name in _entries(root) if name.startswith(".tmp")]


def test_changed_source_misses(tmp_path, source, compiles):
    root = tmp_path / "cache"
    first = cache.deployed(source, cache_dir=root)
    source.write_bytes(b"weights v2, retrained")
    second = cache.deployed(source, cache_dir=root)
    assert second != first and len(compiles) == 2
    assert read_manifest(second)["provenance"]["source_sha256"] == sha256_file(source)
    # the same content again is a hit, whatever the file is called
    copy = tmp_path / "copy.nequip.zip"
    copy.write_bytes(source.read_bytes())
    assert cache.deployed(copy, cache_dir=root) == second and len(compiles) == 2


def test_parts_target_and_stress_are_part_of_the_key(tmp_path, source, compiles):
    root = tmp_path / "cache"
    everything = cache.deployed(source, ("fast", "slow", "sum"), cache_dir=root)
    assert cache.deployed(source, ("slow", "fast"), cache_dir=root) == everything  # a superset is a hit
    assert len(compiles) == 1
    with_stress = cache.deployed(source, cache_dir=root, stress=True)
    assert with_stress != everything and len(compiles) == 2
    lammps = cache.deployed(source, cache_dir=root, target="pair_allegro")
    assert lammps not in (everything, with_stress) and len(compiles) == 3
    single = cache.compiled_single(source, cache_dir=root)
    assert single.name == cache.SINGLE_FILE and single.parent not in (everything, with_stress)
    assert cache.compiled_single(source, cache_dir=root) == single and len(compiles) == 4


def test_half_written_entries_are_never_trusted(tmp_path, source, compiles):
    root = tmp_path / "cache"
    entry = cache.deployed(source, cache_dir=root)
    # an entry whose model file went missing, or whose record is cut short, is rebuilt
    (entry / "slow.nequip.pt2").unlink()
    assert cache.deployed(source, cache_dir=root) == entry and len(compiles) == 2
    assert (entry / "slow.nequip.pt2").is_file()
    (entry / cache.ENTRY_FILE).write_text('{"format": "nequip-mts-cache/1", "ki')
    assert cache.deployed(source, cache_dir=root) == entry and len(compiles) == 3
    # a manifest of another source in the entry (copied in by hand) is no hit either
    manifest = json.loads((entry / "mts_deploy.json").read_text())
    manifest["provenance"]["source_sha256"] = "0" * 64
    (entry / "mts_deploy.json").write_text(json.dumps(manifest))
    assert cache.deployed(source, cache_dir=root) == entry and len(compiles) == 4


def test_failed_compile_leaves_nothing(tmp_path, source, monkeypatch, capsys):
    root = tmp_path / "cache"

    def broken(source, staging, *args):
        (staging / "fast.nequip.pt2").write_bytes(b"half")
        raise RuntimeError("compiler crashed")

    monkeypatch.setattr(cache, "_compile_deploy", broken)
    with pytest.raises(RuntimeError, match="compiler crashed"):
        cache.deployed(source, cache_dir=root)
    assert "failed" in capsys.readouterr().out
    assert _entries(root) == []


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "nequip-mts"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "nequip-mts"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "option") == tmp_path / "option"


def test_missing_source_is_an_error(tmp_path, compiles):
    with pytest.raises(FileNotFoundError):
        cache.deployed(tmp_path / "nope.ckpt", cache_dir=tmp_path)
    assert compiles == [] and not os.listdir(tmp_path)


def test_the_no_stress_target_is_the_ase_target_without_stress():
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT

    from nequip_mts.deploy.split import ASE_NO_STRESS_TARGET, ase_compile_target, register_compile_targets

    assert ase_compile_target(stress=True) == "ase"
    assert ase_compile_target(stress=False) == ASE_NO_STRESS_TARGET
    target = register_compile_targets()
    assert register_compile_targets() is target  # idempotent
    ase = COMPILE_TARGET_DICT["ase"]
    assert target["input"] == ase["input"] and "stress" in ase["output"]
    assert target["output"] == [k for k in ase["output"] if k != "stress"]


def test_no_stress_is_for_ase_only(tmp_path):
    from nequip_mts.deploy.split import deploy
    from nequip_mts.errors import InputError

    model = tmp_path / "model.ckpt"
    model.write_bytes(b"")
    with pytest.raises(InputError, match="--target ase"):
        deploy(model, tmp_path / "out", target="pair_allegro", stress=False)
