"""Validation of MD trajectories: baseline vs multiple-time-step runs.

Modules (one concern each; units Å, fs, eV, cm^-1 unless noted):

- :mod:`.frames` -- load trajectories, stack positions/velocities/cells; the time
  axis from the frames' ``md_time_fs``.
- :mod:`.molecules` -- molecules from covalent connectivity; groups such as ``O@H2O``.
- :mod:`.rdf` -- partial RDFs g_OO, g_OH, g_HH (or of groups, intermolecular);
  max |dg| between runs and its sampling noise from block halves.
- :mod:`.vdos` -- VACF and vibrational density of states (cm^-1).
- :mod:`.diffusion` -- unwrapped MSD, self-diffusion (Å^2/ps, 10^-5 cm^2/s) with error.
- :mod:`.drift` -- NVE energy drift (meV/atom/ps) with standard error; MTSLogger
  and ASE MDLogger logs.
- :mod:`.report` -- all of the above for runs and logs, as markdown, JSON and PNG
  (``nequip-mts analyze``).
- :mod:`.plots` -- PNG overlays (needs the optional ``analysis`` extra, matplotlib);
  not imported here.
"""

from .diffusion import DiffusionResult, msd, self_diffusion, self_diffusion_from_frames, unwrap_positions
from .drift import DriftResult, drift_from_log, energy_drift, read_md_log
from .frames import (
    discard_equilibration,
    frame_times_fs,
    load_frames,
    regular_frames,
    stack_positions,
    stack_velocities,
)
from .molecules import find_molecules, group_indices
from .rdf import (
    half_vs_half_noise,
    partial_rdfs,
    rdf_halves,
    rdf_max_abs_diff,
    rdf_sampling_noise,
    running_coordination,
)
from .vdos import band_peak, vacf, vdos, vdos_from_frames

__all__ = [
    "DiffusionResult",
    "DriftResult",
    "band_peak",
    "discard_equilibration",
    "drift_from_log",
    "energy_drift",
    "find_molecules",
    "frame_times_fs",
    "group_indices",
    "half_vs_half_noise",
    "load_frames",
    "msd",
    "partial_rdfs",
    "rdf_halves",
    "rdf_max_abs_diff",
    "rdf_sampling_noise",
    "read_md_log",
    "regular_frames",
    "running_coordination",
    "self_diffusion",
    "self_diffusion_from_frames",
    "stack_positions",
    "stack_velocities",
    "unwrap_positions",
    "vacf",
    "vdos",
    "vdos_from_frames",
]
