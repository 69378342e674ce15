"""Keep freed model memory in the process: glibc ``mallopt``, as the LAMMPS plugin does.

Each model call allocates its large intermediates anew. With glibc's defaults, big
blocks are ``mmap``-ed and unmapped on every call, and the top of the heap is trimmed
back to the kernel, so the next call page-faults the same memory in again: on 768
water atoms and one thread that was about a third of the slow part's cost
(``benchmarks/results/compiled_vs_eager.md``). :func:`tune_malloc` raises the
thresholds once, before the models allocate; the MD entry points (``nequip-mts demo``,
``md``, ``validate`` and the benchmarks) call it.

It does nothing

- off glibc (macOS, Windows, musl);
- when the user tunes glibc already through ``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_TOP_PAD_`` (their values win);
- when ``NEQUIP_MTS_MALLOC_TUNING=0`` (or ``no``, ``false``, ``off``) is set.

The values are those of ``pair_style allegro/mts`` (``malloc_tuning yes``), so ASE and
LAMMPS runs behave alike. The process keeps up to that much freed memory (a few hundred
MB) instead of returning it to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: environment variable that turns the tuning off (``0``, ``no``, ``false``, ``off``)
OPT_OUT_ENV = "NEQUIP_MTS_MALLOC_TUNING"
#: the user's own glibc tuning variables; any of them set: leave glibc alone
GLIBC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

# <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = (
    (_M_MMAP_THRESHOLD, 32 * 1024 * 1024),  # blocks below 32 MiB come from the heap, not mmap
    (_M_TRIM_THRESHOLD, 2**31 - 1),  # never trim the top of the heap
    (_M_TOP_PAD, 256 * 1024 * 1024),  # grow the heap in 256 MiB steps
)

_state = {"result": None}


def tune_malloc() -> str:
    """Set glibc's malloc to keep freed memory, once per process; returns what it did.

    Safe to call any number of times: the first call decides, later ones return its
    answer. Returns ``"tuned"``, or why not: ``"opted out"`` (:data:`OPT_OUT_ENV`),
    ``"user MALLOC_* settings"`` (:data:`GLIBC_ENV`), ``"not glibc"`` or
    ``"mallopt failed"``.
    """
    if _state["result"] is None:
        _state["result"] = _tune()
    return _state["result"]


def _tune() -> str:
    if os.environ.get(OPT_OUT_ENV, "").strip().lower() in ("0", "no", "false", "off"):
        return "opted out"
    if any(name in os.environ for name in GLIBC_ENV):
        return "user MALLOC_* settings"
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return "not glibc"
    # mallopt returns 1 on success
    if not all(mallopt(param, value) == 1 for param, value in _SETTINGS):
        return "mallopt failed"
    return "tuned"


def _glibc_mallopt():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
