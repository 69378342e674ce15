"""``nequip-package`` on a trained multiscale checkpoint.

The archive interns the source of every module the model's classes come from, and of
what those import. ``nequip_mts.nn`` must therefore import only what packaging can
follow: ``from nequip.data import register_fields`` (a name of the ``nequip.data``
package, unlike the submodule ``AtomicDataDict``) makes it follow
``nequip/data/__init__.py`` into ase, torchmetrics and lightning, and
``nequip-package build`` fails.
"""

import pytest
import torch
from ase.io import read
from e2e_helpers import _bin, run_command
from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
from nequip.model.saved_models import load_saved_model

from nequip_mts.model import FAST_KEY, SLOW_KEY, SUM_KEY

pytestmark = pytest.mark.slow


def test_package_holds_every_part_and_reproduces_the_checkpoint(trained_multiscale, emt_dataset, tmp_path):
    checkpoint, _ = trained_multiscale
    package = tmp_path / "multiscale.nequip.zip"
    run_command([_bin("nequip-package"), "build", str(checkpoint), str(package)], cwd=tmp_path)

    atoms = read(emt_dataset, index=0)
    energies = {}
    for key in (SUM_KEY, FAST_KEY, SLOW_KEY):
        outputs = []
        for source in (checkpoint, package):
            model = load_saved_model(str(source), compile_mode="eager", model_key=key)
            data = compute_neighborlist_(from_ase(atoms), r_max=float(model.metadata["r_max"]))
            data[AtomicDataDict.ATOM_TYPE_KEY] = torch.tensor(
                [model.type_names.index(s) for s in atoms.get_chemical_symbols()]
            )
            outputs.append(model(data))
        from_checkpoint, from_package = outputs
        for field in (AtomicDataDict.TOTAL_ENERGY_KEY, AtomicDataDict.FORCE_KEY):
            torch.testing.assert_close(from_package[field], from_checkpoint[field], atol=0, rtol=0)
        energies[key] = from_package[AtomicDataDict.TOTAL_ENERGY_KEY].item()
    # the packaged parts still add up to the packaged sum
    assert energies[SUM_KEY] == pytest.approx(energies[FAST_KEY] + energies[SLOW_KEY], abs=1e-5)
