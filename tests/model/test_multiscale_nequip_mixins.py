"""nequip's model test mixins on the composite model and on each of its parts.

``EnergyModelTestsMixin`` (``nequip.utils.unittests``) builds a model from a config and
checks what every nequip energy model must satisfy: equivariance, batching, periodic
images, translation invariance and additivity of separated systems, forces against
finite differences of the energy, partial forces and their locality, forces vanishing
at the model's cutoff, isolated-atom energies. It takes one ``GraphModel``, so the
configs use ``nequip_mts.model.MultiscaleGraphModel``, which builds the composite and
returns one entry of it.

The slow part starts at exactly zero, which would make most checks of it and of its
share in the sum trivially true, so every model here is built with the slow part's
gate opened (``make_model``).

Beyond the mixins: the stress against finite differences of the energy under strain,
and, for the sum, smoothness where the fast part's edges are pruned (an atom crossing
the fast cutoff).
"""

import copy

import numpy as np
import pytest
import torch
from ase.build import bulk
from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase, from_dict
from nequip.nn import PartialForceOutput

# nequip's own fixtures for these mixins (test molecules, bulk carbon, Cu bulk, ...)
from nequip.utils.unittests.conftest import (  # noqa: F401
    Cu_bulk,
    atomic_batch,
    default_dtype,
    diamond_carbon,
    molecules,
    nequip_dataset,
)
from nequip.utils.unittests.model_tests_basic import EnergyModelTestsMixin
from small_models import allegro_config, nequip_config

from nequip_mts.model import FAST_KEY, SLOW_KEY, SUM_KEY
from nequip_mts.nn import FAST_ENERGY_KEY, FAST_FORCES_KEY, MultiscaleSum, ZeroInitEnergyGate

# nequip's test data hold H, C and O
TYPE_NAMES = ["H", "C", "O"]
R_FAST, R_SLOW = 2.5, 4.0
SLOW_GATE = 0.7


def allegro_part(r_max, **overrides):
    return allegro_config(r_max, **{"avg_num_neighbors": 5.0, **overrides})


def nequip_part(r_max, **overrides):
    return nequip_config(r_max, **{"avg_num_neighbors": 5.0, **overrides})


# the fast part carries the energy shifts and a ZBL core repulsion, as in the water config
FAST = allegro_part(
    R_FAST,
    per_type_energy_shifts={"H": -1.5, "C": -3.0, "O": -4.5},
    pair_potential=dict(_target_="nequip.nn.pair_potential.ZBL", units="metal", chemical_species=TYPE_NAMES),
)


@pytest.fixture(scope="module")
def model_dtype():
    # float64 only: the checks are numerical, and float32 doubles the run time
    return "float64"


class _MultiscaleEnergyModelTests(EnergyModelTestsMixin):
    """The mixin's tests on one entry of a small multiscale model, plus the stress check."""

    model_key = SUM_KEY
    slow = allegro_part(R_SLOW)

    @pytest.fixture(scope="class")
    @classmethod
    def config(cls):
        return dict(
            _target_="nequip_mts.model.MultiscaleGraphModel",
            model_key=cls.model_key,
            seed=11,
            type_names=TYPE_NAMES,
            fast=copy.deepcopy(FAST),
            slow=copy.deepcopy(cls.slow),
        )

    @pytest.fixture
    def strict_locality(self):
        # Allegro parts are strictly local (forces depend only on listed neighbours)
        return True

    @staticmethod
    def make_model(model_config, device):
        model = EnergyModelTestsMixin.make_model(model_config, device)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, ZeroInitEnergyGate):
                    module.gate.fill_(SLOW_GATE)
        return model

    def test_stress_matches_finite_differences(self, model, device):
        """``stress = (1/V) dE/d(strain)``, by central differences of the energy."""
        instance, _, _ = model
        r_max = self._r_max_from_model(instance)
        atoms = bulk("C", "diamond", a=3.57, cubic=True)
        atoms.symbols[[1, 6]] = "O"
        atoms.symbols[[3]] = "H"
        atoms.rattle(0.08, seed=4)
        # a skin beyond r_max: pairs that a strain moves across the cutoff stay listed
        # (the cutoff envelope makes them contribute smoothly)
        data = compute_neighborlist_(from_ase(atoms), r_max=r_max + 0.5)
        data[AtomicDataDict.ATOM_TYPE_KEY] = torch.tensor(
            [TYPE_NAMES.index(s) for s in atoms.get_chemical_symbols()]
        )
        data = AtomicDataDict.to_(data, device)
        pos, cell = data[AtomicDataDict.POSITIONS_KEY], data[AtomicDataDict.CELL_KEY]
        stress = instance(from_dict(data))[AtomicDataDict.STRESS_KEY].view(3, 3)
        assert stress.abs().max() > 1e-3  # not trivially zero

        def strained_energy(strain):
            strained = dict(data)
            deformation = torch.eye(3, dtype=pos.dtype, device=device) + strain
            # rows are vectors: positions and cell deform alike
            strained[AtomicDataDict.POSITIONS_KEY] = pos @ deformation
            strained[AtomicDataDict.CELL_KEY] = cell @ deformation
            return instance(strained)[AtomicDataDict.TOTAL_ENERGY_KEY].sum().item()

        h = 1e-5
        volume = abs(np.linalg.det(atoms.cell.array))
        numeric = torch.zeros(3, 3, dtype=torch.float64)
        for a in range(3):
            for b in range(3):
                step = torch.zeros(3, 3, dtype=pos.dtype, device=device)
                step[a, b] = h
                numeric[a, b] = (strained_energy(step) - strained_energy(-step)) / (2 * h * volume)
        torch.testing.assert_close(stress.detach().cpu(), numeric, atol=1e-7, rtol=1e-5)


class _MultiscaleSumTests(_MultiscaleEnergyModelTests):
    """The sum: a partial-force twin for the mixin, and smoothness across the fast cutoff."""

    @pytest.fixture(scope="class")
    @classmethod
    def partial_model(cls, model, device):
        # the mixin would replace the first ForceStressOutput it finds (the fast part's)
        # by partial forces of that part alone; the sum's twin sums both parts' instead
        _, config, _ = model
        twin = cls.make_model(copy.deepcopy(config), device=device)
        total = twin.model
        twin.model = MultiscaleSum(
            PartialForceOutput(total.fast.func), PartialForceOutput(total.slow.func), total.prune.r_max
        )
        return twin, twin.model.irreps_out.keys()

    @staticmethod
    def _three_atoms(types, distance, device):
        """Atom 2 at ``distance`` from atom 0; every other pair off the fast cutoff.

        Atoms 0 and 1 are bonded (0.5 r_fast); atom 2 sits at 120 degrees from that
        bond, so that only the 0-2 pair crosses the fast cutoff while all three pairs
        stay inside the slow one.
        """
        angle = np.radians(120.0)
        pos = np.array(
            [
                [0.0, 0.0, 0.0],
                [0.5 * R_FAST, 0.0, 0.0],
                [distance * np.cos(angle), distance * np.sin(angle), 0.0],
            ]
        )
        assert np.linalg.norm(pos[2] - pos[1]) > 1.1 * R_FAST
        data = compute_neighborlist_(from_dict({"pos": pos, "atom_types": np.array(types)}), r_max=R_SLOW)
        assert data[AtomicDataDict.EDGE_INDEX_KEY].shape[1] == 6
        return AtomicDataDict.to_(data, device)

    @pytest.mark.parametrize("types", [(1, 0, 2), (2, 2, 0)], ids=["C-H", "O-O"])
    def test_smooth_across_the_fast_cutoff(self, model, device, types):
        """Energy and forces stay continuous as a pair crosses the fast cutoff.

        Inside the sum the fast part sees only the edges shorter than its cutoff: an
        atom leaving the fast cutoff drops out of its neighbour list. That is smooth
        only if the fast part's share of the pair vanishes there with its derivatives:
        with nequip's polynomial envelope the energy jump across the cutoff goes as
        eps^3 and the force jump as eps^2 for points eps either side.
        """
        instance, _, _ = model
        composite = instance.model

        def fast_share(distance):
            out = instance(self._three_atoms(types, distance, device))
            return out[FAST_ENERGY_KEY].sum().item(), out[FAST_FORCES_KEY].detach()

        # control: the fast part does see the pair well inside its cutoff
        _, inside = fast_share(0.8 * R_FAST)
        _, beyond = fast_share(1.05 * R_FAST)
        assert (inside - beyond)[2].abs().max() > 1e-4

        # beyond the cutoff the fast part is blind to atom 2: no force, constant energy
        e_out, f_out = fast_share(R_FAST * (1 + 1e-4))
        e_far, _ = fast_share(1.05 * R_FAST)
        assert abs(e_out - e_far) < 1e-12
        assert f_out[2].abs().max().item() == 0.0

        jumps = {}
        for eps in (1e-2, 1e-3):
            e_in, f_in = fast_share(R_FAST - eps)
            e_out, f_out = fast_share(R_FAST + eps)
            jumps[eps] = (abs(e_in - e_out), (f_in - f_out).abs().max().item())
        # a discontinuity would leave the jumps at a finite size as eps shrinks
        assert jumps[1e-3][0] <= jumps[1e-2][0] / 100 + 1e-12, jumps
        assert jumps[1e-3][1] <= jumps[1e-2][1] / 20 + 1e-12, jumps

        # pruning only saves time: just inside and outside the cutoff the pruned fast
        # part equals the fast part fed the full (slow-cutoff) neighbour list
        for distance in (R_FAST * (1 - 1e-3), R_FAST * (1 + 1e-3), 0.8 * R_FAST):
            data = self._three_atoms(types, distance, device)
            pruned = instance(dict(data))[FAST_FORCES_KEY]
            unpruned = composite.fast(dict(data))[AtomicDataDict.FORCE_KEY]
            torch.testing.assert_close(pruned, unpruned, atol=1e-12, rtol=0)


class TestMultiscaleSum(_MultiscaleSumTests):
    """Allegro fast part + Allegro slow part."""


class TestMultiscaleSumNequIPSlow(_MultiscaleSumTests):
    """Allegro fast part + NequIP (message-passing) slow part."""

    slow = nequip_part(R_SLOW)

    @pytest.fixture
    def strict_locality(self):
        # message passing: forces reach beyond the listed neighbours
        return False


class TestFastPart(_MultiscaleEnergyModelTests):
    """The fast part alone, as ``nequip-compile --model fast`` exports it."""

    model_key = FAST_KEY


class TestSlowPart(_MultiscaleEnergyModelTests):
    """The slow part alone (gate opened), as ``nequip-compile --model slow`` exports it."""

    model_key = SLOW_KEY
