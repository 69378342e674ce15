"""nequip_mts.md.memory.tune_malloc: once per process, skipped on the user's MALLOC_* or opt-out."""

import platform
import subprocess
import sys

import pytest

from nequip_mts.md import memory


@pytest.fixture
def fresh(monkeypatch):
    """A process state in which tune_malloc has not run, and a recording mallopt."""
    calls = []
    monkeypatch.setattr(memory, "_state", {"result": None})
    monkeypatch.setattr(
        memory, "_glibc_mallopt", lambda: lambda param, value: calls.append((param, value)) or 1
    )
    for name in (memory.OPT_OUT_ENV, *memory.GLIBC_ENV):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_tunes_once(fresh):
    assert memory.tune_malloc() == "tuned"
    assert len(fresh) == 3
    assert memory.tune_malloc() == "tuned"  # a second call changes nothing
    assert len(fresh) == 3


@pytest.mark.parametrize("name", memory.GLIBC_ENV)
def test_user_malloc_settings_win(fresh, monkeypatch, name):
    monkeypatch.setenv(name, "1000000000")
    assert memory.tune_malloc() == "user MALLOC_* settings"
    assert fresh == []


@pytest.mark.parametrize("value, result", [("0", "opted out"), ("off", "opted out"), ("1", "tuned")])
def test_opt_out(fresh, monkeypatch, value, result):
    monkeypatch.setenv(memory.OPT_OUT_ENV, value)
    assert memory.tune_malloc() == result
    assert len(fresh) == (3 if result == "tuned" else 0)


def test_no_glibc_is_a_no_op(fresh, monkeypatch):
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: None)
    assert memory.tune_malloc() == "not glibc"


def test_failed_mallopt_is_reported(fresh, monkeypatch):
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: lambda param, value: 0)
    assert memory.tune_malloc() == "mallopt failed"


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_real_mallopt_in_a_fresh_process():
    code = "from nequip_mts.md.memory import tune_malloc; print(tune_malloc(), tune_malloc())"
    env = {
        k: v for k, v in __import__("os").environ.items() if k not in (memory.OPT_OUT_ENV, *memory.GLIBC_ENV)
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["tuned", "tuned"]
