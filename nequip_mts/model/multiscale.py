"""Builder of the composite fast + slow model."""

from typing import Any, Dict, Optional, Sequence

import torch
from hydra.utils import get_method
from nequip.nn import ForceStressOutput, GraphModel, SequentialGraphNetwork
from nequip.utils import dtype_from_name, torch_default_dtype

# entries of the ModuleDict returned by `MultiscaleModel` (one definition, in the manifest)
from ..checks import MultiscaleConfigError, check_cutoffs, check_per_edge_type_cutoff, check_slow_part
from ..manifest import FAST_KEY, SLOW_KEY, SUM_KEY
from ..nn import MultiscaleSum, ZeroInitEnergyGate


def _checked_part_config(name: str, cfg: Optional[Dict], common: Dict[str, Any]) -> Dict:
    if cfg is None:
        raise MultiscaleConfigError(
            f"multiscale model: the `{name}` sub-model config is missing; give a full "
            f"nequip/allegro builder config (with `_target_`) under `{name}:`"
        )
    cfg = dict(cfg)
    if "_target_" not in cfg:
        raise MultiscaleConfigError(
            f"multiscale model: the `{name}` sub-model config has no `_target_` "
            "(e.g. `allegro.model.AllegroModel` or `nequip.model.NequIPGNNModel`)"
        )
    if "r_max" not in cfg:
        raise MultiscaleConfigError(f"multiscale model: `{name}.r_max` is missing")
    for key, value in common.items():
        if key not in cfg:
            cfg[key] = value
        elif key == "type_names" and list(cfg[key]) != list(value):
            raise MultiscaleConfigError(
                f"multiscale model: type names of the `{name}` part {list(cfg[key])} "
                f"do not match the composite's {list(value)}"
            )
        elif key == "model_dtype" and cfg[key] != value:
            raise MultiscaleConfigError(
                f"multiscale model: `{name}.model_dtype` is {cfg[key]} but the "
                f"composite's is {value}; both parts must share one dtype"
            )
    return cfg


def _build_part(cfg: Dict) -> GraphModel:
    cfg = dict(cfg)
    builder = get_method(cfg.pop("_target_"))
    model = builder(**cfg)
    if not isinstance(getattr(model, "model", None), ForceStressOutput):
        raise MultiscaleConfigError(
            f"multiscale model: builder {builder.__name__} must return a nequip "
            "GraphModel wrapping a ForceStressOutput (an energy model with forces)"
        )
    return model


def MultiscaleModel(
    fast: Optional[Dict] = None,
    slow: Optional[Dict] = None,
    seed: int = 0,
    model_dtype: str = "float32",
    type_names: Optional[Sequence[str]] = None,
    compile_mode: Optional[str] = None,
) -> torch.nn.ModuleDict:
    """Build a fast + slow composite potential, ``E = E_fast + E_slow``.

    Parameters
    ----------
    fast, slow : dict
        Full nequip/allegro model builder configs (``_target_`` plus arguments), e.g.
        ``allegro.model.AllegroModel`` or ``nequip.model.NequIPGNNModel``. ``seed``,
        ``model_dtype`` and ``type_names`` are inherited when not given. The fast
        cutoff ``r_max`` must be smaller than the slow one. Per-type energy shifts
        and pair potentials (e.g. ``nequip.nn.pair_potential.ZBL``) belong to the
        fast part only.
    seed : int
        Seed of the fast part; the slow part uses ``seed + 1`` unless it sets its own.
    model_dtype : str
        ``float32`` or ``float64``.
    type_names : list of str
        Atom type names shared by both parts.

    Returns
    -------
    torch.nn.ModuleDict
        ``{"sole_model": sum, "fast": fast, "slow": slow}``. The three ``GraphModel``s
        share parameters; each carries its own ``r_max`` in its metadata, so
        ``nequip-compile --model fast`` exports the fast part alone. The slow part is
        exactly zero at initialisation (a zero-initialised energy gate).
    """
    if type_names is None:
        raise MultiscaleConfigError("multiscale model: `type_names` is required")
    common = {"model_dtype": model_dtype, "type_names": list(type_names)}
    if compile_mode is not None:
        common["compile_mode"] = compile_mode
    fast_cfg = _checked_part_config("fast", fast, dict(common, seed=seed))
    slow_cfg = _checked_part_config("slow", slow, dict(common, seed=seed + 1))

    # the same checks (and messages) that nequip-train runs before loading data
    fast_r_max, slow_r_max = float(fast_cfg["r_max"]), float(slow_cfg["r_max"])
    check_cutoffs(fast_r_max, slow_r_max)
    for name, cfg in (("fast", fast_cfg), ("slow", slow_cfg)):
        check_per_edge_type_cutoff(cfg.get("per_edge_type_cutoff"), cfg["r_max"], type_names, where=name)
    check_slow_part(fast_cfg, slow_cfg)

    fast_model = _build_part(fast_cfg)
    slow_raw = _build_part(slow_cfg)

    with torch_default_dtype(dtype_from_name(model_dtype)):
        energy = slow_raw.model.func
        gate = ZeroInitEnergyGate(irreps_in=energy.irreps_out)
        slow_force_model = ForceStressOutput(
            SequentialGraphNetwork({"energy": energy, "zero_init_gate": gate}),
            do_derivatives=slow_raw.model.do_derivatives,
        )
        slow_model = GraphModel(
            slow_force_model,
            model_config=_metadata_config(slow_cfg),
            model_input_fields=slow_raw.model.irreps_in,
        )
        sum_model = GraphModel(
            MultiscaleSum(fast_model.model, slow_force_model, fast_r_max),
            model_config=_metadata_config(slow_cfg),
            model_input_fields=slow_raw.model.irreps_in,
        )
    return torch.nn.ModuleDict({SUM_KEY: sum_model, FAST_KEY: fast_model, SLOW_KEY: slow_model})


def MultiscaleGraphModel(model_key: str = SUM_KEY, **kwargs) -> GraphModel:
    """One entry of :func:`MultiscaleModel` as a standalone ``GraphModel``.

    nequip's single-model tools take a ``GraphModel`` rather than a ``ModuleDict``:
    its model test mixins (``nequip.utils.unittests``) build a model from a config
    and call it on data. This builder gives them the sum, or one part, of exactly
    the composite that :func:`MultiscaleModel` builds from the same arguments.

    Parameters
    ----------
    model_key : {"sole_model", "fast", "slow"}
        The entry: the sum ``E_fast + E_slow`` (default), the fast or the slow part.
    **kwargs
        The arguments of :func:`MultiscaleModel` (``fast``, ``slow``, ``seed``,
        ``model_dtype``, ``type_names``, ``compile_mode``).

    Returns
    -------
    nequip.nn.GraphModel
        The entry, with the metadata (``r_max``, type names) it carries inside the
        ``ModuleDict``.
    """
    models = MultiscaleModel(**kwargs)
    if model_key not in models:
        raise MultiscaleConfigError(
            f"multiscale model: unknown model_key {model_key!r}; choose one of {list(models.keys())}"
        )
    return models[model_key]


def _metadata_config(cfg: Dict) -> Dict:
    # the keys nequip's GraphModel turns into exported metadata
    return {
        key: cfg[key] for key in ("model_dtype", "type_names", "r_max", "per_edge_type_cutoff") if key in cfg
    }
