"""The composite model: E = E_fast + E_slow, zero-initialised slow part, config errors."""

import numpy as np
import pytest
import torch
from nequip.data import AtomicDataDict
from small_models import TYPE_NAMES, allegro_config, alloy_graph, nequip_config

from nequip_mts.manifest import SUM_KEY
from nequip_mts.model import MultiscaleConfigError, MultiscaleModel
from nequip_mts.nn import FAST_ENERGY_KEY, FAST_FORCES_KEY, SLOW_ENERGY_KEY, SLOW_FORCES_KEY

R_FAST, R_SLOW = 3.0, 4.5
ZBL = dict(_target_="nequip.nn.pair_potential.ZBL", units="metal", chemical_species=TYPE_NAMES)
E, F, S = AtomicDataDict.TOTAL_ENERGY_KEY, AtomicDataDict.FORCE_KEY, AtomicDataDict.STRESS_KEY


def build(fast=None, slow=None, **kwargs):
    return MultiscaleModel(
        fast=fast
        if fast is not None
        else allegro_config(R_FAST, per_type_energy_shifts={"Au": -1.0, "Cu": -2.0}),
        slow=slow if slow is not None else allegro_config(R_SLOW),
        seed=7,
        model_dtype="float64",
        type_names=TYPE_NAMES,
        **kwargs,
    )


def open_gate(models, value=0.8):
    with torch.no_grad():
        models["slow"].model.func.zero_init_gate.gate.fill_(value)


def test_slow_part_is_exactly_zero_at_initialisation():
    models = build()
    out = models[SUM_KEY](alloy_graph(R_SLOW))
    assert out[SLOW_ENERGY_KEY].abs().max().item() == 0.0
    assert out[SLOW_FORCES_KEY].abs().max().item() == 0.0
    slow = models["slow"](alloy_graph(R_SLOW))
    assert slow[E].abs().max().item() == 0.0
    assert slow[S].abs().max().item() == 0.0
    # ...while the fast part alone is not trivial
    assert out[FAST_FORCES_KEY].abs().max().item() > 1e-3


@pytest.mark.parametrize(
    "fast_cfg,slow_cfg",
    [
        (allegro_config, allegro_config),
        (nequip_config, allegro_config),
        (allegro_config, nequip_config),
    ],
    ids=["allegro+allegro", "nequip+allegro", "allegro+nequip"],
)
def test_sum_equals_standalone_parts(fast_cfg, slow_cfg):
    models = build(
        fast=fast_cfg(R_FAST, per_type_energy_shifts={"Au": -1.0, "Cu": -2.0}), slow=slow_cfg(R_SLOW)
    )
    open_gate(models)
    total = models[SUM_KEY](alloy_graph(R_SLOW))
    # standalone parts on neighbour lists built at their own cutoffs
    fast = models["fast"](alloy_graph(R_FAST))
    slow = models["slow"](alloy_graph(R_SLOW))
    assert slow[F].abs().max() > 1e-4  # the gate is open: the slow part contributes
    torch.testing.assert_close(total[E], fast[E] + slow[E], atol=1e-10, rtol=0)
    torch.testing.assert_close(total[F], fast[F] + slow[F], atol=1e-10, rtol=0)
    torch.testing.assert_close(total[S], fast[S] + slow[S], atol=1e-10, rtol=0)
    torch.testing.assert_close(total[FAST_ENERGY_KEY], fast[E], atol=1e-10, rtol=0)
    torch.testing.assert_close(total[FAST_FORCES_KEY], fast[F], atol=1e-10, rtol=0)
    torch.testing.assert_close(total[SLOW_FORCES_KEY], slow[F], atol=1e-10, rtol=0)


def test_zbl_in_the_fast_part_adds_the_analytic_pair_term():
    # ZBL (as the repulsive core prior) lives in the fast part: the fast part with it
    # minus the same fast part without it is the screened Coulomb energy of all pairs
    shifts = {"Au": -1.0, "Cu": -2.0}
    with_zbl = build(fast=allegro_config(R_FAST, per_type_energy_shifts=shifts, pair_potential=ZBL))
    without = build(fast=allegro_config(R_FAST, per_type_energy_shifts=shifts))
    graph = alloy_graph(R_SLOW, seed=3)
    e_zbl = with_zbl[SUM_KEY](dict(graph))[E] - without[SUM_KEY](dict(graph))[E]

    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[0, 5, 9, 17, 30]] = "Au"
    atoms.rattle(0.15, seed=3)
    i, j, d = neighbor_list("ijd", atoms, R_FAST)
    z = atoms.numbers
    a = 0.46850 / (z[i] ** 0.23 + z[j] ** 0.23)
    x = d / a
    phi = (
        0.18175 * np.exp(-3.19980 * x)
        + 0.50986 * np.exp(-0.94229 * x)
        + 0.28022 * np.exp(-0.40290 * x)
        + 0.02817 * np.exp(-0.20162 * x)
    )
    u = d / R_FAST  # nequip's polynomial envelope, p = 6
    envelope = 1 - 28 * u**6 + 48 * u**7 - 21 * u**8
    pair = 14.399645 * z[i] * z[j] / d * phi * envelope
    expected = 0.5 * pair.sum()  # each pair appears twice in the full list
    assert expected > 1e-3
    assert abs(e_zbl.item() - expected) < 1e-6 * max(1.0, expected)


def test_fast_part_prunes_to_its_own_cutoff():
    models = build()
    seen = {}
    fast_model = models["fast"].model

    def record(module, args):
        seen["edges"] = args[0][AtomicDataDict.EDGE_INDEX_KEY].shape[1]

    hook = fast_model.register_forward_pre_hook(record)
    try:
        models[SUM_KEY](alloy_graph(R_SLOW))
    finally:
        hook.remove()
    expected = alloy_graph(R_FAST)[AtomicDataDict.EDGE_INDEX_KEY].shape[1]
    assert seen["edges"] == expected < alloy_graph(R_SLOW)[AtomicDataDict.EDGE_INDEX_KEY].shape[1]


def test_parts_share_parameters_and_carry_their_own_cutoff():
    models = build()
    sum_params = {id(p) for p in models[SUM_KEY].parameters()}
    part_params = {id(p) for p in models["fast"].parameters()} | {id(p) for p in models["slow"].parameters()}
    assert sum_params == part_params
    assert float(models["fast"].metadata["r_max"]) == R_FAST
    assert float(models["slow"].metadata["r_max"]) == R_SLOW
    assert float(models[SUM_KEY].metadata["r_max"]) == R_SLOW
    assert models["fast"].type_names == models["slow"].type_names == TYPE_NAMES


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(fast=allegro_config(R_SLOW)), "fast cutoff"),
        (dict(fast=allegro_config(5.0)), "must be smaller than the slow cutoff"),
        (dict(slow=allegro_config(R_SLOW, type_names=["Cu", "Au"])), "type names"),
        (
            dict(
                fast=allegro_config(R_FAST, per_type_energy_shifts=-1.0),
                slow=allegro_config(R_SLOW, per_type_energy_shifts={"Au": -1.0, "Cu": -2.0}),
            ),
            "both parts",
        ),
        (dict(slow=allegro_config(R_SLOW, per_type_energy_shifts=-1.0)), "fast part only"),
        (dict(fast=allegro_config(R_FAST, model_dtype="float32")), "dtype"),
        (dict(slow=allegro_config(R_SLOW, pair_potential=ZBL)), "must live in the fast part"),
        (
            dict(fast=allegro_config(R_FAST, per_edge_type_cutoff={"Au": {"Cu": 3.2}})),
            r"`fast.per_edge_type_cutoff` gives Au-Cu the cutoff 3.2, not in \(0, 3.0\]",
        ),
        (dict(fast=allegro_config(R_FAST, per_edge_type_cutoff={"Ag": 2.0})), "names type 'Ag'"),
    ],
    ids=[
        "equal-cutoffs",
        "fast-longer",
        "type-names",
        "shifts-both",
        "shifts-slow",
        "dtype",
        "zbl-slow",
        "per-type-too-long",
        "per-type-unknown",
    ],
)
def test_inconsistent_configs_fail_at_build_time(kwargs, message):
    with pytest.raises(MultiscaleConfigError, match=message):
        build(**kwargs)


@pytest.mark.parametrize("missing", ["fast", "slow"])
def test_missing_sub_model_config(missing):
    parts = {"fast": allegro_config(R_FAST), "slow": allegro_config(R_SLOW)}
    del parts[missing]
    with pytest.raises(MultiscaleConfigError, match=f"`{missing}` sub-model config is missing"):
        MultiscaleModel(**parts, seed=1, model_dtype="float64", type_names=TYPE_NAMES)


def test_fast_part_with_per_edge_type_cutoffs_matches_its_own_neighbour_list():
    # inside the composite the fast part gets every edge within its r_max; standalone (as
    # a deployed model through nequip's calculator) it gets nequip's per-edge-type list
    from nequip.data.transforms import NeighborListTransform

    per_type = {"Au": {"Au": 2.2, "Cu": 2.6}, "Cu": {"Cu": 2.4}}
    models = build(fast=allegro_config(R_FAST, per_edge_type_cutoff=per_type))
    open_gate(models)
    out = models[SUM_KEY](alloy_graph(R_SLOW))

    data = alloy_graph(R_SLOW)
    for key in (AtomicDataDict.EDGE_INDEX_KEY, AtomicDataDict.EDGE_CELL_SHIFT_KEY):
        data.pop(key, None)
    pruned = NeighborListTransform(r_max=R_FAST, per_edge_type_cutoff=per_type, type_names=TYPE_NAMES)(data)
    assert (
        pruned[AtomicDataDict.EDGE_INDEX_KEY].shape[1]
        < alloy_graph(R_FAST)[AtomicDataDict.EDGE_INDEX_KEY].shape[1]
    )
    alone = models["fast"](pruned)
    assert torch.allclose(out[FAST_ENERGY_KEY], alone[E], atol=1e-10)
    assert torch.allclose(out[FAST_FORCES_KEY], alone[F], atol=1e-10)
