"""NVE r-RESPA: K = 1 equivalence, dt^2 error, reversibility, resonance, force counts, inputs."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.mixing import SumCalculator
from ase.constraints import FixAtoms, FixCom
from ase.io import Trajectory
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from md_helpers import CountingCalculator

from nequip_mts.md import RESPA, BussiRESPA, LangevinRESPA, MTSCalculator
from nequip_mts.testing.analytic import (
    HarmonicAnchors,
    bond_period,
    diatomic_fluid,
    nve_energy_error,
)


def test_k1_reproduces_velocity_verlet(fluid):
    atoms, fast, slow = fluid
    mts_atoms = atoms.copy()
    mts_atoms.calc = MTSCalculator.from_calculators(fast, slow)
    _, fast2, slow2 = diatomic_fluid(n_molecules=8, temperature_K=300.0, seed=0)
    vv_atoms = atoms.copy()
    vv_atoms.calc = SumCalculator([fast2, slow2])

    dt = 0.5 * units.fs
    mts, vv = RESPA(mts_atoms, dt, inner_steps=1), VelocityVerlet(vv_atoms, dt)
    for _ in range(200):
        mts.run(1)
        vv.run(1)
        assert np.abs(mts_atoms.positions - vv_atoms.positions).max() < 1e-10
        assert np.abs(mts_atoms.get_velocities() - vv_atoms.get_velocities()).max() < 1e-10
    # the run moved the atoms well beyond the tolerance
    assert np.abs(mts_atoms.positions - atoms.positions).max() > 0.05


def _emt_copper(seed=0):
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=seed)
    thermalize_momenta(atoms, temperature_K=500, rng=np.random.default_rng(seed))
    return atoms


@pytest.mark.parametrize("constraint", [FixAtoms(indices=[0, 7]), FixCom()], ids=["FixAtoms", "FixCom"])
def test_k1_reproduces_velocity_verlet_with_constraints(constraint):
    # provider (d): slow = EMT - fast, so the total force is EMT's own
    atoms = _emt_copper()
    atoms.set_constraint(constraint)
    mts_atoms, vv_atoms = atoms.copy(), atoms.copy()
    mts_atoms.calc = MTSCalculator.from_full_and_fast(EMT(), HarmonicAnchors(atoms.positions, 2.0))
    vv_atoms.calc = EMT()
    dt = 2 * units.fs
    mts, vv = RESPA(mts_atoms, dt, inner_steps=1), VelocityVerlet(vv_atoms, dt)
    mts.run(200)
    vv.run(200)
    assert np.abs(mts_atoms.positions - vv_atoms.positions).max() < 1e-10
    assert np.abs(mts_atoms.get_velocities() - vv_atoms.get_velocities()).max() < 1e-10


@pytest.mark.parametrize("cls", [RESPA, LangevinRESPA, BussiRESPA])
def test_constraints_hold_for_every_integrator(cls):
    kwargs = {}
    if cls is LangevinRESPA:
        kwargs = dict(temperature_K=500, friction=0.02 / units.fs, rng=1)
    elif cls is BussiRESPA:
        kwargs = dict(temperature_K=500, taut=20 * units.fs, rng=1)

    atoms = _emt_copper()
    fixed = [0, 3, 9]
    atoms.set_constraint(FixAtoms(indices=fixed))
    start = atoms.positions.copy()
    atoms.calc = MTSCalculator.from_full_and_fast(EMT(), HarmonicAnchors(start, 2.0))
    cls(atoms, 2 * units.fs, inner_steps=3, **kwargs).run(30)
    assert np.array_equal(atoms.positions[fixed], start[fixed])
    assert np.all(atoms.get_momenta()[fixed] == 0.0)
    assert np.abs(atoms.positions - start).max() > 0.02

    atoms = _emt_copper()
    atoms.set_constraint(FixCom())
    com = atoms.get_center_of_mass()
    atoms.calc = MTSCalculator.from_full_and_fast(EMT(), HarmonicAnchors(atoms.positions, 2.0))
    cls(atoms, 2 * units.fs, inner_steps=3, **kwargs).run(30)
    assert np.abs(atoms.get_center_of_mass() - com).max() < 1e-10
    assert np.abs(atoms.get_momenta().sum(axis=0)).max() < 1e-10


def test_energy_error_scales_as_dt_squared(fluid):
    atoms, fast, slow = fluid
    period = bond_period(atoms)
    timesteps = period * np.array([1 / 40, 1 / 30, 1 / 20, 1 / 15, 1 / 10])
    errors = [nve_energy_error(atoms, fast, slow, dt, 4, 200 * units.fs)[0] for dt in timesteps]
    exponent = np.polyfit(np.log(timesteps), np.log(errors), 1)[0]
    print(f"fitted exponent of the NVE energy error: {exponent:.3f}")
    assert 1.8 <= exponent <= 2.2


def test_time_reversible(fluid):
    atoms, fast, slow = fluid
    start = atoms.copy()
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    dyn = RESPA(atoms, 1.0 * units.fs, inner_steps=4)
    dyn.run(300)
    assert np.abs(atoms.positions - start.positions).max() > 0.1
    atoms.set_momenta(-atoms.get_momenta())
    dyn.run(300)
    error = np.abs(atoms.positions - start.positions).max()
    print(f"reversibility error after 300 + 300 outer steps: {error:.2e} A")
    assert error < 1e-8
    assert np.abs(atoms.get_momenta() + start.get_momenta()).max() < 1e-8


def test_resonance_near_half_the_fast_period(fluid):
    # Fixed inner step T/50; the outer step K h runs up to half the bond period T.
    # Away from resonance the error follows dt^2; near T/2 impulse MTS is unstable.
    atoms, fast, slow = fluid
    period = bond_period(atoms)
    h = period / 50
    errors = {k: nve_energy_error(atoms, fast, slow, k * h, k, 1000 * units.fs)[0] for k in (20, 24, 25)}
    expected = {k: errors[20] * (k / 20) ** 2 for k in (24, 25)}  # dt^2 scaling from 0.4 T
    print(
        "rms energy error (meV/atom): "
        + ", ".join(f"{k / 50:.2f} T: {1e3 * e:.3g}" for k, e in errors.items())
    )
    assert max(errors[24] / expected[24], errors[25] / expected[25]) > 10


@pytest.mark.parametrize("cls", [RESPA, LangevinRESPA, BussiRESPA])
@pytest.mark.parametrize("provider", ["two calculators", "full and fast"])
def test_force_evaluation_counts(cls, provider, fluid, tmp_path):
    atoms, fast, slow = fluid
    fast = CountingCalculator(fast)
    slow = CountingCalculator(slow)
    if provider == "two calculators":
        atoms.calc = MTSCalculator.from_calculators(fast, slow)
    else:
        atoms.calc = MTSCalculator.from_full_and_fast(slow, fast)  # "full" is just the slow part
    kwargs = {}
    if cls is LangevinRESPA:
        kwargs = dict(temperature_K=300, friction=0.01 / units.fs, rng=0)
    elif cls is BussiRESPA:
        kwargs = dict(temperature_K=300, taut=50 * units.fs, rng=0)
    K, n = 5, 12
    observed = []
    dyn = cls(
        atoms,
        2 * units.fs,
        inner_steps=K,
        trajectory=str(tmp_path / "md.traj"),
        logfile=str(tmp_path / "md.log"),
        loginterval=1,
        **kwargs,
    )
    dyn.attach(lambda: observed.append((atoms.get_potential_energy(), atoms.get_forces())))
    dyn.run(n)
    # one evaluation of each at the start, then one slow per outer and one fast per inner step
    assert slow.calls == n + 1
    assert fast.calls == n * K + 1
    assert len(observed) == n + 1
    assert len(Trajectory(str(tmp_path / "md.traj"))) == n + 1


def test_reports_conserved_energy_and_logs(fluid, tmp_path):
    atoms, fast, slow = fluid
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    log = tmp_path / "md.log"
    traj = tmp_path / "md.traj"
    dyn = RESPA(atoms, 1 * units.fs, 4, logfile=str(log), trajectory=str(traj), loginterval=5)
    dyn.run(20)
    etot = atoms.get_potential_energy() + atoms.get_kinetic_energy()
    assert dyn.get_conserved_energy() == pytest.approx(etot, abs=1e-12)
    assert atoms.get_potential_energy() == pytest.approx(
        fast.get_potential_energy(atoms) + slow.get_potential_energy(atoms), abs=1e-12
    )
    lines = log.read_text().splitlines()
    assert lines[0].split() == [
        "Time[fs]",
        "Etot[eV]",
        "Epot[eV]",
        "Ekin[eV]",
        "T[K]",
        "Econs[eV]",
        "Drift[meV/at]",
    ]
    rows = np.array([[float(x) for x in line.split()] for line in lines[1:]])
    assert np.allclose(rows[:, 0], [0, 5, 10, 15, 20])
    assert np.abs(rows[:, 6]).max() < 1.0  # drift in meV/atom, small at 1 fs
    frames = Trajectory(str(traj))
    assert len(frames) == 5
    assert frames[-1].get_potential_energy() == pytest.approx(atoms.get_potential_energy())


@pytest.mark.parametrize(
    "inner_steps, error",
    [(0, ValueError), (-2, ValueError), (2.5, TypeError), ("2", TypeError), (True, TypeError)],
)
def test_bad_inner_steps(fluid, inner_steps, error):
    atoms, fast, slow = fluid
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    with pytest.raises(error, match="inner_steps"):
        RESPA(atoms, 1 * units.fs, inner_steps)


@pytest.mark.parametrize("timestep", [-1 * units.fs, 0.0, float("nan"), float("inf")])
def test_bad_timestep(fluid, timestep):
    atoms, fast, slow = fluid
    atoms.calc = MTSCalculator.from_calculators(fast, slow)
    with pytest.raises(ValueError, match="timestep must be a positive"):
        RESPA(atoms, timestep, 2)


def test_needs_an_mts_calculator(fluid):
    atoms, fast, _ = fluid
    atoms.calc = fast
    with pytest.raises(TypeError, match="fast and slow forces"):
        RESPA(atoms, 1 * units.fs, 2)
