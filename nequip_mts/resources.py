"""The files that ship inside the package: configs, water data, pretrained models, plugin sources.

Everything that needs one of them finds it here, through :mod:`importlib.resources`, so
that the same code works from a source checkout, an editable install and an installed
wheel, whatever the working directory.

=====================  ============================================  ======================
what                   where in the package                          found by
=====================  ============================================  ======================
training configs       ``nequip_mts/configs/{,parts/}*.yaml``        :func:`config_dir`
GFN1-xTB liquid data   ``nequip_mts/data/{water,methanol}_gfn1...``  :func:`bundled_data`
pretrained models      ``nequip_mts/pretrained/*.nequip.zip``        :func:`bundled_model`
LAMMPS plugin sources  ``nequip_mts/lammps/plugin_src/``             :func:`plugin_sources`
=====================  ============================================  ======================

The configs are also a Hydra config package: ``nequip-train -cp pkg://nequip_mts.configs
-cn tutorial``. They name their data with OmegaConf resolvers, registered by
:func:`register_resolvers` when nequip loads the extension:

- ``${nequip_mts.data:FILE}``: a file in ``nequip_mts/data/``;
- ``${nequip_mts.file:PATH}``: ``PATH`` if that file exists, else an error naming it
  (a mistyped ``data_file=`` fails at once, by name);
- ``${nequip_mts.checked_data:PATH}``: the same, and then the whole config is checked
  against the data (:func:`nequip_mts.checks.check_training_config`): the shipped
  configs use it for ``data.split_dataset.file_path``, which ``nequip-train`` resolves
  before it loads anything;
- ``${nequip_mts.stress:SETTING,PATH}``: ``true``/``false``/``auto`` to a bool
  (:func:`nequip_mts.checks.resolve_stress`).

Standard library only at import time: the nequip extension hook and the LAMMPS entry
point import this module.
"""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path
from typing import Tuple

__all__ = [
    "CONFIG_PACKAGE",
    "CONFIG_PATH",
    "CONFIGS",
    "BUNDLED_MODELS",
    "BUNDLED_SYSTEMS",
    "DATA_RESOLVER",
    "FILE_RESOLVER",
    "CHECKED_DATA_RESOLVER",
    "STRESS_RESOLVER",
    "package_path",
    "config_dir",
    "config_file",
    "data_file",
    "bundled_data",
    "water_data",
    "bundled_model",
    "plugin_sources",
    "register_resolvers",
]

#: the configs as an importable package (Hydra: ``-cp pkg://nequip_mts.configs``)
CONFIG_PACKAGE = "nequip_mts.configs"
#: the Hydra config path of the shipped configs
CONFIG_PATH = "pkg://" + CONFIG_PACKAGE
#: names of the shipped configs (``-cn NAME``)
CONFIGS: Tuple[str, ...] = (
    "multiscale",
    "baseline",
    "distill",
    "tutorial",
    "water_multiscale",
    "water_baseline",
)
#: names accepted by :func:`bundled_model`
BUNDLED_MODELS: Tuple[str, ...] = ("baseline", "multiscale")
#: liquids with bundled GFN1-xTB data and pretrained models
BUNDLED_SYSTEMS: Tuple[str, ...] = ("water", "methanol")
#: OmegaConf resolver for the bundled data files: ``${nequip_mts.data:FILE}``
DATA_RESOLVER = "nequip_mts.data"
#: OmegaConf resolver that passes a path through if the file exists, else fails naming it:
#: ``${nequip_mts.file:${data_file}}``
FILE_RESOLVER = "nequip_mts.file"
#: OmegaConf resolver: :data:`FILE_RESOLVER`, then the config checked against the data:
#: ``${nequip_mts.checked_data:${data_file}}``
CHECKED_DATA_RESOLVER = "nequip_mts.checked_data"
#: OmegaConf resolver of the stress switch: ``${nequip_mts.stress:${stress},${data_file}}``
STRESS_RESOLVER = "nequip_mts.stress"


def package_path(*parts: str) -> Path:
    """Path of ``nequip_mts/<parts...>`` on disk (whether or not it exists).

    Raises :class:`RuntimeError` when the package is not installed as plain files (a
    zipped import): CMake and Hydra need real directories.
    """
    ref = _resources.files("nequip_mts")
    for part in parts:
        ref = ref.joinpath(part)
    if not isinstance(ref, Path):
        raise RuntimeError(
            f"nequip_mts is not installed as plain files ({ref!r}); "
            "install it with pip (not as a zipped import) to use its bundled files"
        )
    return ref


def config_dir() -> Path:
    """The directory holding the shipped configs (``nequip-train -cp <this> -cn tutorial``)."""
    return package_path("configs")


def config_file(name: str) -> Path:
    """The shipped config ``name`` (one of :data:`CONFIGS`)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; the package ships {', '.join(CONFIGS)}")
    return config_dir() / f"{name}.yaml"


def data_file(name: str) -> Path:
    """A file in ``nequip_mts/data/`` (no ``..`` or absolute names)."""
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"{name!r} is not a file name inside nequip_mts/data/")
    return package_path("data", *rel.parts)


def bundled_data(system: str = "water") -> Path:
    """The bundled GFN1-xTB data of a liquid of :data:`BUNDLED_SYSTEMS` (extxyz, gzipped).

    ``"water"``: 600 frames of 32 H2O (96 atoms); ``"methanol"``: 16 CH3OH (96 atoms).
    How they were made: ``benchmarks/data/README.md`` in the source repository.
    """
    if system not in BUNDLED_SYSTEMS:
        raise ValueError(f"unknown bundled system {system!r}; choose one of {', '.join(BUNDLED_SYSTEMS)}")
    return data_file(f"{system}_gfn1.extxyz.gz")


def water_data() -> Path:
    """``bundled_data("water")``: the bundled GFN1-xTB liquid-water data."""
    return bundled_data("water")


def bundled_model(name: str, system: str = "water") -> Path:
    """The pretrained model ``"baseline"`` (single Allegro) or ``"multiscale"`` (fast +
    slow) of a bundled system (:data:`BUNDLED_SYSTEMS`), as a ``.nequip.zip`` package."""
    if name not in BUNDLED_MODELS:
        raise ValueError(f"unknown bundled model {name!r}; choose one of {', '.join(BUNDLED_MODELS)}")
    if system not in BUNDLED_SYSTEMS:
        raise ValueError(f"unknown bundled system {system!r}; choose one of {', '.join(BUNDLED_SYSTEMS)}")
    return package_path("pretrained", f"{system}_{name}.nequip.zip")


def plugin_sources() -> Path:
    """The directory with the ``allegro/mts`` pair style's C++ sources and CMakeLists.txt."""
    return package_path("lammps", "plugin_src")


def _resolve_data(name: str) -> str:
    path = data_file(str(name))
    if not path.is_file():
        raise FileNotFoundError(f"bundled data file {path} does not exist (${{{DATA_RESOLVER}:{name}}})")
    return str(path)


def _resolve_existing_file(path: str) -> str:
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"data file {str(path)!r} not found (resolved to {p.absolute()}); "
            "give an existing extxyz file with data_file=/path/to/data.extxyz"
        )
    return str(path)


def _resolve_checked_data(path: str, *, _root_) -> str:
    path = _resolve_existing_file(path)
    from .checks import check_training_config

    check_training_config(_root_, path)
    return path


def _resolve_stress(setting, path) -> bool:
    from .checks import resolve_stress

    return resolve_stress(setting, _resolve_existing_file(path))


def register_resolvers() -> None:
    """Register the OmegaConf resolvers the shipped configs use (idempotent).

    Called by ``nequip_mts/__init__.py`` when nequip loads the extension; call it
    yourself before composing the configs with Hydra in a process where
    ``nequip_mts`` was imported before ``nequip``.
    """
    from omegaconf import OmegaConf

    for name, func in (
        (DATA_RESOLVER, _resolve_data),
        (FILE_RESOLVER, _resolve_existing_file),
        (CHECKED_DATA_RESOLVER, _resolve_checked_data),
        (STRESS_RESOLVER, _resolve_stress),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, func)
