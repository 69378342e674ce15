"""Reference calculators named on the command line: ``gfn1``, ``gfn2``, ``module:Name`` or ``none``.

``nequip-mts augment`` labels its frames with one; a later ``distill`` names its teacher the
same way. A spec is one of

``gfn1``, ``gfn2``
    tblite's GFN1-xTB or GFN2-xTB, with the settings of the bundled data:
    ``TBLite(method=..., accuracy=1.0, electronic_temperature=300.0, verbosity=0)``
    (``pip install tblite``);
``module:Name`` or ``module.Name``
    any ASE calculator class (or factory function) by its import path, e.g.
    ``ase.calculators.emt:EMT``;
``none``
    no calculator: frames are written without labels, for the user's own reference code.

Keyword arguments (``--calc-kwargs``, a JSON object) go to the constructor; for
``gfn1``/``gfn2`` they replace the defaults above key by key.

Standard library at import; the calculator's module only when one is built.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Callable, Optional

from nequip_mts.errors import InputError, first_line

__all__ = [
    "NONE",
    "TBLITE_DEFAULTS",
    "TBLITE_METHODS",
    "calculator_factory",
    "calculator_versions",
    "parse_calc_kwargs",
    "reference_calculator",
]

#: the spec that means "write unlabelled frames"
NONE = "none"
#: spec -> tblite method
TBLITE_METHODS = {"gfn1": "GFN1-xTB", "gfn2": "GFN2-xTB"}
#: tblite settings of the bundled data (benchmarks/data/README.md)
TBLITE_DEFAULTS = {"accuracy": 1.0, "electronic_temperature": 300.0, "verbosity": 0}

_EXAMPLES = "gfn1, gfn2, none or an import path such as ase.calculators.emt:EMT"


def parse_calc_kwargs(text: Optional[str], option: str = "--calc-kwargs") -> dict:
    """The JSON object of ``--calc-kwargs`` as a dict (``None`` or empty: ``{}``)."""
    if text is None or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{option} is not valid JSON ({err.msg} at character {err.pos}); write an object such as "
            "'{\"accuracy\": 1.0}'"
        ) from None
    if not isinstance(value, dict):
        raise InputError(f"{option} must be a JSON object such as '{{\"accuracy\": 1.0}}', got {text!r}")
    return value


def _split(spec: str) -> tuple[str, str]:
    if ":" in spec:
        module, _, name = spec.partition(":")
    else:
        module, _, name = spec.rpartition(".")
    if not module or not name or not all(part.isidentifier() for part in [*module.split("."), name]):
        raise InputError(f"--calculator {spec!r} is not a calculator name; give {_EXAMPLES}")
    return module, name


def _tblite(method: str, kwargs: dict) -> Callable[[], Any]:
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise InputError(
            f"--calculator {method} needs tblite, which is not installed: pip install tblite "
            "(or pip install 'nequip-mts[xtb]')"
        ) from None
    settings = {**TBLITE_DEFAULTS, **kwargs, "method": TBLITE_METHODS[method]}
    return lambda: TBLite(**settings)


def calculator_factory(spec: str, kwargs: Optional[dict] = None) -> Optional[Callable[[], Any]]:
    """A function that returns a fresh calculator of ``spec`` each call (``None`` for ``none``).

    One instance is built at once, so that a wrong spec or wrong keyword arguments fail here
    with an :class:`~nequip_mts.errors.InputError`; a fresh one replaces a calculator whose
    single point raised (a failed SCF can leave it in a bad state).

    Parameters
    ----------
    spec : str
        ``gfn1``, ``gfn2``, ``none``, ``module:Name`` or ``module.Name`` (module docstring).
    kwargs : dict, optional
        Keyword arguments of the constructor.

    Raises
    ------
    InputError
        Unknown module or name, an object that is not an ASE calculator, tblite missing,
        keyword arguments the constructor refuses.
    """
    spec = str(spec).strip()
    kwargs = dict(kwargs or {})
    key = spec.lower()
    if key == NONE:
        if kwargs:
            raise InputError("--calc-kwargs given with --calculator none; drop one of them")
        return None
    if key in TBLITE_METHODS:
        factory = _tblite(key, kwargs)
    else:
        module_name, name = _split(spec)
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise InputError(
                f"--calculator {spec}: cannot import {module_name} ({err}); install the package "
                f"that provides it or check the spelling (e.g. {_EXAMPLES})"
            ) from None
        target = getattr(module, name, None)
        if target is None:
            raise InputError(f"--calculator {spec}: {module_name} has no {name}; check the spelling")
        if not callable(target):
            raise InputError(f"--calculator {spec}: {module_name}.{name} is not a calculator class")
        factory = lambda: target(**kwargs)  # noqa: E731
    try:
        calc = factory()
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - a constructor's complaint about its arguments
        detail = first_line(err)
        raise InputError(
            f"--calculator {spec}: cannot build it with --calc-kwargs {json.dumps(kwargs)} "
            f"({type(err).__name__}: {detail})"
        ) from None
    if not (hasattr(calc, "get_potential_energy") and hasattr(calc, "get_forces")):
        raise InputError(
            f"--calculator {spec} made a {type(calc).__name__}, not an ASE calculator "
            "(it has no get_potential_energy/get_forces)"
        )
    built = [calc]

    def make():
        # the checked instance first, then fresh ones
        return built.pop() if built else factory()

    return make


def reference_calculator(spec: str, kwargs: Optional[dict] = None):
    """One calculator of ``spec`` (``None`` for ``none``); see :func:`calculator_factory`."""
    factory = calculator_factory(spec, kwargs)
    return None if factory is None else factory()


def calculator_versions(spec: str) -> dict:
    """Versions of the packages behind ``spec`` (ase, numpy, tblite or the calculator's package)."""
    from importlib import metadata

    names = ["ase", "numpy"]
    key = str(spec).strip().lower()
    if key in TBLITE_METHODS:
        names.append("tblite")
    elif key != NONE:
        top = _split(str(spec).strip())[0].split(".")[0]
        if top not in names:
            names.append(top)
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            try:
                versions[name] = getattr(importlib.import_module(name), "__version__", None)
            except ImportError:
                versions[name] = None
    return versions
