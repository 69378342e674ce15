"""Blow-up handling: non-finite forces, runaway temperature and energy; files stay valid."""

import numpy as np
import pytest
from ase import units
from ase.io import Trajectory, read
from md_helpers import PoisonedCalculator

from nequip_mts.md import RESPA, MDInstabilityError, MTSCalculator
from nequip_mts.md.runner import last_good_path, run_md
from nequip_mts.md.settings import MDSettings
from nequip_mts.testing.analytic import HarmonicAnchors, bond_period


def nve(timestep_fs, inner_steps, steps, **kwargs):
    return MDSettings(ensemble="nve", timestep_fs=timestep_fs, inner_steps=inner_steps, steps=steps, **kwargs)


def test_integrator_names_the_step_of_non_finite_forces(fluid):
    atoms, fast, slow = fluid
    # evaluation 1 is the start; step s uses evaluations 2s and 2s + 1 (K = 2)
    atoms.calc = MTSCalculator.from_calculators(PoisonedCalculator(fast, 20), slow)
    dyn = RESPA(atoms, 1 * units.fs, 2)
    with pytest.raises(MDInstabilityError, match="at step 10: non-finite fast forces") as info:
        dyn.run(50)
    assert info.value.step == 10


def test_run_md_keeps_trajectory_valid_and_saves_last_good_frame(fluid, tmp_path):
    atoms, fast, slow = fluid
    atoms.calc = MTSCalculator.from_calculators(fast, PoisonedCalculator(slow, 12))
    traj = tmp_path / "md.traj"
    with pytest.raises(MDInstabilityError, match="at step 11: non-finite slow forces") as info:
        run_md(atoms, nve(1.0, 3, 50, loginterval=2), trajectory=str(traj))
    saved = last_good_path(traj)
    assert info.value.last_good_file == str(saved)
    assert str(saved) in str(info.value)
    frames = Trajectory(str(traj))
    assert [f.info["md_step"] for f in frames] == [0, 2, 4, 6, 8, 10]
    assert all(np.isfinite(f.get_forces()).all() for f in frames)
    last_good = read(saved)
    assert last_good.info["md_step"] == 10
    assert np.allclose(last_good.positions, frames[-1].positions)
    assert np.isfinite(last_good.get_forces()).all()


def test_runaway_temperature_stops_the_run(fluid, tmp_path):
    atoms, fast, slow = fluid
    # an inverted spring on every atom: the system flies apart exponentially
    runaway = HarmonicAnchors(atoms.positions, -3.0)
    atoms.calc = MTSCalculator.from_calculators(runaway, slow)
    traj = tmp_path / "md.traj"
    with pytest.raises(MDInstabilityError, match=r"at step \d+: temperature .* exceeds 3000 K") as info:
        run_md(atoms, nve(1.0, 2, 2000, loginterval=1), trajectory=str(traj), max_temperature_K=3000)
    last_good = read(last_good_path(traj))
    assert last_good.get_temperature() <= 3000
    assert last_good.info["md_step"] == info.value.step - 1
    assert len(Trajectory(str(traj))) == info.value.step  # frames 0 .. step - 1


def test_energy_blow_up_from_too_long_a_step_stops_the_run(fluid, tmp_path):
    atoms, fast, slow = fluid
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    # a single inner step of 0.7 bond periods: velocity Verlet is unstable beyond T/pi
    dt = 0.7 * bond_period(atoms)
    with pytest.raises(MDInstabilityError, match="conserved energy drifted") as info:
        run_md(
            atoms, nve(dt / units.fs, 1, 1000), trajectory=str(tmp_path / "a.traj"), max_drift_per_atom=0.1
        )
    assert 0 < info.value.step < 1000
    assert "step" in str(info.value)
