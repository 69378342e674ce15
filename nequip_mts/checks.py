"""Checks of a training config against its data, run before anything is loaded.

``nequip-train`` resolves the ``data:`` section first, before it loads any data or
computes statistics, and the shipped configs name their data file there with
``${nequip_mts.checked_data:${data_file}}``. That resolver (registered by
:func:`nequip_mts.resources.register_resolvers`) runs :func:`check_training_config`
on the whole config, so that a wrong setting stops ``nequip-train`` within seconds,
with a :class:`ConfigError` naming the key, instead of after the data loading and
statistics (about 45 s for the bundled water data) or never:

- the data file does not exist (its resolved path is named);
- a type name the data does not hold, or a species of the data with no type name;
- the fast cutoff not smaller than the slow one;
- per-type energy shifts or a pair potential in the slow part;
- ``stress: true`` for data without stress;
- data in which only some frames carry a stress (nequip cannot batch them).

The data is scanned by :func:`scan_data`, a line reader for extended XYZ that reads
only the species column and the comment lines (600 frames of 96 atoms in well under a
second, where ``ase.io.read`` takes about 30 s here). The model builder
(:mod:`nequip_mts.model.multiscale`) raises the same errors with the same messages,
from the functions here, for configs built without ``nequip-train``.

Import-light (standard library and omegaconf; ase only for files that are not extxyz):
the resolver is registered while nequip initialises.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Optional, Tuple

__all__ = [
    "ConfigError",
    "MultiscaleConfigError",
    "DataSummary",
    "scan_data",
    "resolve_stress",
    "check_training_config",
    "check_cutoffs",
    "check_slow_part",
    "has_nonzero_shifts",
    "STRESS_KEY",
    "MULTISCALE_TARGET",
]

#: the config key that switches stress in the loss and the metrics: true, false or auto
STRESS_KEY = "stress"
#: ``_target_`` of the composite model builder
MULTISCALE_TARGET = "nequip_mts.model.MultiscaleModel"
#: how many frames of a file that is not extxyz are read with ase (extxyz is read whole)
NON_EXTXYZ_SAMPLE = 50


class ConfigError(ValueError):
    """A training config that does not fit its data or itself; the message names the key."""


class MultiscaleConfigError(ConfigError):
    """An inconsistent multiscale model configuration."""


@dataclass(frozen=True)
class DataSummary:
    """What :func:`scan_data` found in a data file.

    Attributes
    ----------
    path : str
        The file.
    num_frames : int
        Frames read (all of an extxyz file; at most ``NON_EXTXYZ_SAMPLE`` otherwise).
    species : frozenset of str
        Chemical symbols present in those frames.
    frames_with_stress : int
        Frames that carry a stress (or virial).
    complete : bool
        Whether every frame of the file was read.
    """

    path: str
    num_frames: int
    species: FrozenSet[str]
    frames_with_stress: int
    complete: bool

    @property
    def has_stress(self) -> bool:
        """Every frame read carries a stress."""
        return self.num_frames > 0 and self.frames_with_stress == self.num_frames


_SCANS: Dict[Tuple[str, float, int], DataSummary] = {}
_STRESS_IN_COMMENT = re.compile(r"(?:^|\s)(?:stress|virial)\s*=", re.IGNORECASE)
_PROPERTIES = re.compile(r"(?:^|\s)properties\s*=\s*(\"[^\"]*\"|\S+)", re.IGNORECASE)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt")
    return open(path, "r")


def _species_column(comment: str) -> int:
    # Properties=species:S:1:pos:R:3:... -> the column of `species` (0 without the key)
    match = _PROPERTIES.search(comment)
    if match is None:
        return 0
    fields = match.group(1).strip('"').split(":")
    column = 0
    for name, _, count in zip(fields[0::3], fields[1::3], fields[2::3]):
        if name.lower() in ("species", "symbols"):
            return column
        column += int(count)
    return 0


def _scan_extxyz(path: Path) -> DataSummary:
    species, frames, with_stress = set(), 0, 0
    with _open_text(path) as f:
        while True:
            header = f.readline()
            if not header.strip():
                if not header:
                    break
                continue
            natoms = int(header.split()[0])
            comment = f.readline()
            column = _species_column(comment)
            with_stress += bool(_STRESS_IN_COMMENT.search(comment))
            for _ in range(natoms):
                species.add(f.readline().split(None, column + 1)[column])
            frames += 1
    return DataSummary(str(path), frames, frozenset(species), with_stress, True)


def _scan_with_ase(path: Path) -> DataSummary:
    from ase.io import iread

    species, frames, with_stress = set(), 0, 0
    for atoms in iread(str(path), index=f":{NON_EXTXYZ_SAMPLE}"):
        frames += 1
        species.update(atoms.get_chemical_symbols())
        results = atoms.calc.results if atoms.calc is not None else {}
        with_stress += "stress" in results or "stress" in atoms.info or "virial" in atoms.info
    return DataSummary(str(path), frames, frozenset(species), with_stress, frames < NON_EXTXYZ_SAMPLE)


def scan_data(path) -> DataSummary:
    """Species, frame count and stress of a data file, cheaply (cached per file version).

    Extended XYZ (``.xyz``, ``.extxyz``, optionally gzipped) is read whole by a line
    reader that parses only the comment lines and the species column; other formats
    are read with ``ase.io`` (the first ``NON_EXTXYZ_SAMPLE`` frames).
    """
    path = Path(str(path)).expanduser()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    if key not in _SCANS:
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        try:
            if not name.endswith((".xyz", ".extxyz")):
                raise ValueError
            summary = _scan_extxyz(path)
        except (ValueError, IndexError):
            summary = _scan_with_ase(path)
        _SCANS[key] = summary
    return _SCANS[key]


def resolve_stress(setting: Any, data_file) -> bool:
    """Whether stress goes into the loss and the metrics: the value of the ``stress`` key.

    Parameters
    ----------
    setting : bool or str
        ``true``, ``false`` or ``auto`` (on when every frame of the data carries a stress).
    data_file : str
        The data file (scanned only for ``auto`` and ``true``).
    """
    text = str(setting).strip().lower()
    if text in ("false", "off", "no", "0"):
        return False
    if text not in ("true", "on", "yes", "1", "auto"):
        raise ConfigError(f"`{STRESS_KEY}: {setting}` is not one of true, false, auto")
    summary = scan_data(data_file)
    if text == "auto":
        return summary.has_stress
    if not summary.has_stress:
        raise ConfigError(
            f"`{STRESS_KEY}: true` but only {summary.frames_with_stress} of the "
            f"{summary.num_frames} frames of {summary.path} carry a stress; set "
            f"{STRESS_KEY}=false (or {STRESS_KEY}=auto to decide from the data)"
        )
    return True


def has_nonzero_shifts(shifts) -> bool:
    """Whether ``per_type_energy_shifts`` sets any shift (an unresolved interpolation counts)."""
    if shifts is None:
        return False
    if isinstance(shifts, str):
        return True  # e.g. ${training_data_stats:per_atom_energy_mean}
    if isinstance(shifts, (int, float)):
        return shifts != 0
    return any(float(v) != 0 for v in dict(shifts).values())


def check_cutoffs(fast_r_max: float, slow_r_max: float, fast_key="fast.r_max", slow_key="slow.r_max"):
    """Raise :class:`MultiscaleConfigError` unless the fast cutoff is below the slow one."""
    if not float(fast_r_max) < float(slow_r_max):
        raise MultiscaleConfigError(
            f"multiscale model: the fast cutoff `{fast_key}` ({float(fast_r_max)} A) must be "
            f"smaller than the slow cutoff `{slow_key}` ({float(slow_r_max)} A)"
        )


def check_per_edge_type_cutoff(cutoffs, r_max, type_names, where: str = "fast") -> None:
    """Raise :class:`MultiscaleConfigError` unless ``where.per_edge_type_cutoff`` is usable.

    nequip's format: ``{center type: cutoff or {neighbour type: cutoff}}``, every cutoff
    positive and at most the part's ``r_max``, every name one of ``type_names``.
    """
    if cutoffs is None:
        return
    key = f"`{where}.per_edge_type_cutoff`"
    fix = "give {type: {type: cutoff}} in A, each cutoff in (0, r_max]"
    if not hasattr(cutoffs, "items"):
        raise MultiscaleConfigError(f"multiscale model: {key} is {cutoffs!r}, not a mapping; {fix}")
    names = None if type_names is None else [str(t) for t in type_names]
    for center, value in cutoffs.items():
        pairs = value.items() if hasattr(value, "items") else [(None, value)]
        for neighbour, cutoff in pairs:
            for name in (center, neighbour):
                if name is not None and names is not None and str(name) not in names:
                    raise MultiscaleConfigError(
                        f"multiscale model: {key} names type {name!r}, not one of the type names {names}"
                    )
            try:
                ok = 0.0 < float(cutoff) <= float(r_max)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                pair = center if neighbour is None else f"{center}-{neighbour}"
                raise MultiscaleConfigError(
                    f"multiscale model: {key} gives {pair} the cutoff {cutoff!r}, not in (0, {float(r_max)}] "
                    f"(the part's r_max); {fix}"
                )


def check_slow_part(fast: Dict, slow: Dict, where: str = "slow") -> None:
    """Raise :class:`MultiscaleConfigError` for energy shifts or a pair potential in the slow part."""
    if has_nonzero_shifts(slow.get("per_type_energy_shifts")):
        parts = "both parts" if has_nonzero_shifts(fast.get("per_type_energy_shifts")) else "the slow part"
        raise MultiscaleConfigError(
            f"multiscale model: per-type energy shifts are set in {parts}; they must "
            "live in the fast part only (else E0 is counted twice, and the fast part "
            f"alone must fit absolute energies in stage 1). Remove `{where}.per_type_energy_shifts`."
        )
    if slow.get("pair_potential") is not None:
        raise MultiscaleConfigError(
            f"multiscale model: `{where}.pair_potential` is set; a pair potential such as "
            "ZBL is a stiff short-range term and must live in the fast part (it would "
            "be integrated with the outer time step in the slow part). Move it to "
            "`fast.pair_potential`."
        )


# --- the config side -------------------------------------------------------------------


def _raw(root, path: str):
    """The value at ``path`` without resolving it (an interpolation stays a string)."""
    from omegaconf import OmegaConf

    parent_path, _, leaf = path.rpartition(".")
    parent = OmegaConf.select(root, parent_path, throw_on_missing=False) if parent_path else root
    if not OmegaConf.is_dict(parent) or leaf not in parent:
        return None
    node = parent._get_node(leaf)
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=False)
    return node._value()


def _key_name(root, path: str) -> str:
    """``r_max_fast`` when ``path`` holds just ``${r_max_fast}``, else ``path`` itself."""
    raw = _raw(root, path)
    if isinstance(raw, str):
        match = re.fullmatch(r"\$\{([\w.]+)\}", raw.strip())
        if match:
            return match.group(1)
    return path


def _type_names_key(root) -> Tuple[str, Optional[list]]:
    from omegaconf import OmegaConf

    for path in ("chemical_species", "model_type_names", "training_module.model.type_names"):
        if OmegaConf.select(root, path, throw_on_missing=False) is not None:
            key = _key_name(root, path)
            return key, list(OmegaConf.select(root, path))
    return "model_type_names", None


def check_training_config(root, data_file) -> None:
    """Check a composed training config against itself and its data; raise :class:`ConfigError`.

    Reads only the keys it checks and resolves none that need data statistics, so it can
    run while ``nequip-train`` resolves its ``data:`` section (see the module docstring).

    Parameters
    ----------
    root : omegaconf.DictConfig
        The whole config.
    data_file : str
        The data file, which exists.
    """
    from omegaconf import OmegaConf

    summary = scan_data(data_file)
    if summary.num_frames == 0:
        raise ConfigError(f"data file {summary.path} holds no frames (`data_file`)")

    if 0 < summary.frames_with_stress < summary.num_frames:
        # nequip cannot batch frames with and without a stress, whatever the loss asks
        raise ConfigError(
            f"only {summary.frames_with_stress} of the {summary.num_frames} frames of {summary.path} "
            "carry a stress, and nequip cannot batch frames with and without one; label every "
            "frame with a stress or remove it from all (`data_file`)"
        )

    key, type_names = _type_names_key(root)
    if type_names is not None:
        absent = [name for name in type_names if name not in summary.species]
        if absent and summary.complete:
            raise ConfigError(
                f"`{key}` names {absent}, absent from all {summary.num_frames} frames of "
                f"{summary.path} (it holds {sorted(summary.species)}); a type without data "
                "gets NaN statistics. Give only the species of the data."
            )
        unknown = sorted(summary.species - set(type_names))
        if unknown:
            raise ConfigError(
                f"{summary.path} holds species {unknown} that `{key}` ({type_names}) lacks; "
                f"add them to `{key}`"
            )

    if STRESS_KEY in root:
        resolve_stress(OmegaConf.select(root, STRESS_KEY), data_file)

    model = "training_module.model"
    if _raw(root, model + "._target_") == MULTISCALE_TARGET:
        fast, slow = (_raw(root, f"{model}.{part}") or {} for part in ("fast", "slow"))
        fast_r, slow_r = (OmegaConf.select(root, f"{model}.{part}.r_max") for part in ("fast", "slow"))
        if fast_r is not None and slow_r is not None:
            check_cutoffs(
                fast_r, slow_r, _key_name(root, f"{model}.fast.r_max"), _key_name(root, f"{model}.slow.r_max")
            )
        for part, r_max in (("fast", fast_r), ("slow", slow_r)):
            if r_max is not None:
                check_per_edge_type_cutoff(
                    OmegaConf.select(root, f"{model}.{part}.per_edge_type_cutoff"),
                    r_max,
                    type_names,
                    where=f"{model}.{part}",
                )
        check_slow_part(fast, slow, where=f"{model}.slow")
