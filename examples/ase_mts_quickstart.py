"""Run MTS Langevin MD in ASE with the bundled multiscale water model.

    OMP_NUM_THREADS=1 .venv/bin/python examples/ase_mts_quickstart.py

0.5 fs inner step, K = 6 (3 fs outer step), 350 K, on the bundled 96-atom
GFN1-xTB water box; logs time (fs), energies (eV) and temperature (K) every outer
step and writes a trajectory.
"""

from ase import units
from ase.io import read

from nequip_mts.md import LangevinRESPA, MTSCalculator
from nequip_mts.md.memory import tune_malloc
from nequip_mts.resources import bundled_model, water_data

atoms = read(water_data(), index=0)
# keep freed model memory in the process (glibc), before the models allocate
tune_malloc()
# a trained checkpoint or package, compiled once into the model cache (about a minute per
# part the first time; compiled=False evaluates it eagerly, about half as fast); or
# MTSCalculator.from_deployed("deployed/") for models written by nequip-mts-deploy
atoms.calc = MTSCalculator.from_checkpoint(bundled_model("multiscale"), compiled=True)
dyn = LangevinRESPA(
    atoms,
    timestep=3.0 * units.fs,  # outer step
    inner_steps=6,  # fast steps per outer step: 0.5 fs inner step
    temperature_K=350,
    friction=0.01 / units.fs,
    rng=0,
    logfile="-",
    trajectory="quickstart.traj",
)
dyn.run(20)
print(
    f"ran {dyn.nsteps} outer steps ({dyn.get_time() / units.fs:.0f} fs); T = {atoms.get_temperature():.0f} K"
)
