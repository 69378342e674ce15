"""Validation of MD trajectories: baseline vs multiple-time-step runs.

Modules (one concern each; units Å, fs, eV, cm^-1 unless noted):

- :mod:`.frames` -- load trajectories, stack positions/velocities/cells.
- :mod:`.rdf` -- partial RDFs g_OO, g_OH, g_HH; max |dg| between runs.
- :mod:`.vdos` -- VACF and vibrational density of states (cm^-1).
- :mod:`.diffusion` -- unwrapped MSD, self-diffusion (Å^2/ps, 10^-5 cm^2/s) with error.
- :mod:`.drift` -- NVE energy drift (meV/atom/ps) with standard error.
- :mod:`.plots` -- PNG overlays (needs the optional ``analysis`` extra, matplotlib);
  not imported here.
"""

from .diffusion import (DiffusionResult, msd, self_diffusion, self_diffusion_from_frames,
                        unwrap_positions)
from .drift import DriftResult, energy_drift
from .frames import load_frames, stack_positions, stack_velocities
from .rdf import partial_rdfs, rdf_max_abs_diff, running_coordination
from .vdos import band_peak, vacf, vdos, vdos_from_frames

__all__ = [
    "DiffusionResult", "DriftResult", "band_peak", "energy_drift", "load_frames", "msd",
    "partial_rdfs", "rdf_max_abs_diff", "running_coordination", "self_diffusion",
    "self_diffusion_from_frames", "stack_positions", "stack_velocities", "unwrap_positions",
    "vacf", "vdos", "vdos_from_frames",
]
