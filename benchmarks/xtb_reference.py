#!/usr/bin/env python
"""Long GFN1-xTB reference MD of the bundled 32-molecule water box, resumable in chunks.

Bussi stochastic velocity rescaling (``ase.md.bussi.Bussi``, a velocity-Verlet
integrator with a global thermostat that leaves the dynamics almost untouched
and tracks a conserved energy) at 350 K and a 0.5 fs step, with GFN1-xTB from
tblite's ASE calculator.  The tblite settings (method, accuracy, electronic
temperature), the target temperature and the dataset come from the defaults of
``make_water_data.py`` (``make_water_data.parse_args([])``), so this run and the
training data are labelled alike; the calculator is ``make_water_data.make_calculator``.

The run starts from one ``config_type=md`` frame of the bundled data
(``make_water_data.py``'s output, ``nequip_mts/data/water_gfn1.extxyz.gz``;
positions and momenta; by default the last one, which already has 1.14 ps of
350 K GFN1-xTB Langevin history) and
runs ``--chunk-steps`` MD steps per chunk.  After each chunk it writes, each
atomically (temporary file + ``os.replace``),

* ``OUTDIR/chunk_NNNNN.npz``: the frames of that chunk (format below);
* ``OUTDIR/state.npz``: the restart state (positions, momenta, cell, step,
  time, the thermostat's RNG state and transferred energy, the settings).

Running the same command again continues after the last complete chunk (a
killed run loses at most the chunk in progress) and refuses to continue if any
setting that defines the trajectory differs from the stored one.  Only
``--total-ps`` (the length to reach) may change between sessions.  A restarted
run is a statistically valid continuation, not a bitwise one (tblite's SCF
starts from a fresh guess after a restart instead of the previous wavefunction).

Chunk format (``numpy.load``; time t = 0 at the starting frame)::

    step, time_fs            (n_v,)    every --vel-stride steps (the "saved steps")
    velocities               (n_v,N,3) float16, Å/fs
    epot_eV, ekin_eV, econs_eV (n_v,)  float64; econs = Epot + Ekin - (energy the
                                       thermostat put in), conserved up to integration error
    temperature_K            (n_v,)    2 Ekin / (ndof kB), ndof = 3N - 3 (fixed centre of mass)
    stress_eV_A3             (n_v,6)   float32, Voigt xx yy zz yz xz xy, ASE sign
    equil                    (n_v,)    bool, True during the equilibration (t <= --equil-ps)
    pos_step, pos_time_fs, pos_equil   (n_p,)  every --pos-stride steps
    positions                (n_p,N,3) float32, Å, unwrapped (continuous in time; for MSDs)
    numbers (N,), masses (N,), cell (3,3) Å, settings (JSON string)

:func:`load` concatenates all chunks; :func:`position_frames` returns them as
``ase.Atoms`` (wrapped into the box) for the RDF tools in ``nequip_mts.analysis``.

Examples, from the project root::

    # energy-conservation check first: plain NVE from the starting frame
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/xtb_reference.py --check-drift 400

    # the run itself, in the background; run the same line again to continue
    mkdir -p runs && OMP_NUM_THREADS=1 nohup .venv/bin/python benchmarks/xtb_reference.py \\
        > runs/xtb_reference.out 2>&1 &

    # progress and statistics of what is stored
    .venv/bin/python benchmarks/xtb_reference.py --summary

Set ``OMP_NUM_THREADS`` explicitly: tblite uses OpenMP and oversubscribing the
cores makes it dramatically slower.  Units: Å, eV, fs, K.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import make_water_data  # noqa: E402

LOG = logging.getLogger("xtb_reference")

# settings that define the trajectory: a continuation must use the same ones
FIXED = (
    "start_frame",
    "method",
    "accuracy",
    "electronic_temperature",
    "temperature",
    "timestep",
    "taut",
    "seed",
    "equil_ps",
    "chunk_steps",
    "vel_stride",
    "pos_stride",
)


def parse_args(argv=None) -> argparse.Namespace:
    md = make_water_data.parse_args([])  # tblite settings, temperature and data of the training set
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--outdir", type=Path, default=HERE / "data" / "xtb_reference", help="chunk files and restart state"
    )
    p.add_argument(
        "--log", type=Path, default=ROOT / "runs" / "xtb_reference.log", help="log file (appended to)"
    )
    p.add_argument(
        "--dataset",
        type=Path,
        default=md.output,
        help="source of the starting frame (read only when a run starts)",
    )
    p.add_argument(
        "--start-frame",
        type=int,
        default=-1,
        help="index among the dataset's config_type=md frames (-1: the last)",
    )
    p.add_argument("--method", default=md.method)
    p.add_argument(
        "--accuracy",
        type=float,
        default=md.accuracy,
        help="tblite accuracy (lower = tighter SCC convergence)",
    )
    p.add_argument(
        "--electronic-temperature", type=float, default=md.electronic_temperature, help="Fermi smearing, K"
    )
    p.add_argument("--temperature", type=float, default=md.temperature, help="thermostat, K")
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--taut", type=float, default=200.0, help="Bussi time constant, fs")
    p.add_argument("--seed", type=int, default=20260614, help="thermostat RNG seed")
    p.add_argument(
        "--equil-ps",
        type=float,
        default=1.0,
        help="equilibration at the start of the run (frames marked equil=True)",
    )
    p.add_argument(
        "--total-ps",
        type=float,
        # planned as 13 ps; ended at 12.2 ps (11.2 ps of production, g_OO block SE below 0.1)
        # when the CPU went to the trainings of the budget comparison
        default=12.2,
        help="stop when the run (equilibration included) reaches this length",
    )
    p.add_argument("--chunk-steps", type=int, default=400, help="MD steps per chunk file")
    p.add_argument(
        "--vel-stride",
        type=int,
        default=4,
        help="steps between saved velocities/energies (4 x 0.5 fs = 2 fs)",
    )
    p.add_argument(
        "--pos-stride", type=int, default=20, help="steps between saved positions (20 x 0.5 fs = 10 fs)"
    )
    p.add_argument(
        "--check-drift",
        type=int,
        default=0,
        metavar="STEPS",
        help="instead of the run: STEPS of NVE from the starting frame, report the "
        "energy drift and append it to OUTDIR/drift_check.json",
    )
    p.add_argument("--summary", action="store_true", help="print statistics of the stored run")
    a = p.parse_args(argv)
    if a.chunk_steps % a.vel_stride or a.chunk_steps % a.pos_stride:
        p.error("--chunk-steps must be a multiple of --vel-stride and --pos-stride")
    return a


def settings_of(args) -> dict:
    """The settings that define the trajectory (compared on every continuation)."""
    return {k: getattr(args, k) for k in FIXED}


def dataset_provenance(path: Path) -> dict:
    """Where the starting frame came from (stored, not compared: the file may move)."""
    import hashlib

    path = Path(path).resolve()
    try:
        name = str(path.relative_to(ROOT))
    except ValueError:
        name = path.name
    return {"dataset": name, "dataset_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def versions() -> dict:
    from importlib.metadata import version

    import ase

    return {
        "tblite": version("tblite"),
        "ase": ase.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


def starting_atoms(args):
    """The chosen config_type=md frame with its momenta, and its index in the file."""
    from ase.io import read

    frames = read(args.dataset, index=":")
    md = [i for i, f in enumerate(frames) if f.info.get("config_type", "md") == "md"]
    idx = md[args.start_frame]
    atoms = frames[idx].copy()
    atoms.set_constraint()
    atoms.calc = None
    return atoms, idx, len(md)


def setup_atoms(atoms, args):
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import Stationary

    Stationary(atoms)
    atoms.set_constraint(FixCom())  # fixed centre of mass; 3N - 3 degrees of freedom
    atoms.calc = make_water_data.make_calculator(args)
    return atoms


def atomic_write_npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def temperature_of(ekin: float, ndof: int) -> float:
    from ase import units

    return 2.0 * ekin / (ndof * units.kB)


def linear_drift(t_fs: np.ndarray, e_eV: np.ndarray, n_atoms: int) -> float:
    """Slope of a least-squares line, meV/atom/ps."""
    return float(np.polyfit(t_fs / 1000.0, e_eV * 1000.0 / n_atoms, 1)[0])


# ----------------------------------------------------------------------------- drift check
def check_drift(args) -> int:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms, idx, _ = starting_atoms(args)
    setup_atoms(atoms, args)
    n = len(atoms)
    dyn = VelocityVerlet(atoms, args.timestep * units.fs)
    t0 = time.perf_counter()
    e = [atoms.get_potential_energy() + atoms.get_kinetic_energy()]
    LOG.info(
        "NVE check from dataset frame %d: %d steps of %.2f fs, %s accuracy %g, etemp %g K; first call %.2f s",
        idx,
        args.check_drift,
        args.timestep,
        args.method,
        args.accuracy,
        args.electronic_temperature,
        time.perf_counter() - t0,
    )
    temps = []
    t1 = time.perf_counter()
    for i in range(1, args.check_drift + 1):
        dyn.step()
        ekin = atoms.get_kinetic_energy()
        e.append(atoms.get_potential_energy() + ekin)
        temps.append(temperature_of(ekin, atoms.get_number_of_degrees_of_freedom()))
        if i % 50 == 0:
            LOG.info(
                "NVE step %d  Etot %.5f eV  dE %.3f meV/atom  T %.1f K  %.2f s/step",
                i,
                e[-1],
                (e[-1] - e[0]) * 1000 / n,
                temps[-1],
                (time.perf_counter() - t1) / i,
            )
    e = np.array(e)
    t = np.arange(len(e)) * args.timestep
    res = {
        "start_frame_in_file": idx,
        "steps": args.check_drift,
        "timestep_fs": args.timestep,
        "method": args.method,
        "accuracy": args.accuracy,
        "electronic_temperature_K": args.electronic_temperature,
        "drift_meV_per_atom_per_ps": linear_drift(t, e, n),
        "etot_std_meV_per_atom": float(e.std() * 1000 / n),
        "etot_max_dev_meV_per_atom": float(np.abs(e - e[0]).max() * 1000 / n),
        "T_mean_K": float(np.mean(temps)),
        "s_per_step": (time.perf_counter() - t1) / args.check_drift,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        **versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    LOG.info("NVE result: %s", json.dumps(res))
    args.outdir.mkdir(parents=True, exist_ok=True)
    path = args.outdir / "drift_check.json"
    old = json.loads(path.read_text()) if path.exists() else []
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(old + [res], indent=1) + "\n")
    os.replace(tmp, path)
    return 0


# ----------------------------------------------------------------------------- the run
def load_state(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        st = {k: z[k] for k in z.files}
    for k in ("settings", "rng_state", "versions", "provenance"):
        st[k] = json.loads(str(st[k]))
    for k in ("step", "n_chunks"):
        st[k] = int(st[k])
    for k in ("time_fs", "transferred_energy", "econs0", "wall_s"):
        st[k] = float(st[k])
    return st


def run(args) -> int:
    from ase import Atoms, units
    from ase.md.bussi import Bussi

    out = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.npz"
    settings = settings_of(args)
    rng = np.random.default_rng(args.seed)

    if state_path.exists():
        st = load_state(state_path)
        diff = {
            k: (st["settings"].get(k), settings[k]) for k in FIXED if st["settings"].get(k) != settings[k]
        }
        if diff:
            raise SystemExit(
                "refusing to continue: settings differ from the stored run "
                f"(stored, now): {diff}. Use the stored ones or another --outdir."
            )
        if st["versions"] != versions():
            LOG.warning("software versions differ: stored %s, now %s", st["versions"], versions())
        atoms = Atoms(
            numbers=st["numbers"], positions=st["positions"], cell=st["cell"], pbc=True, momenta=st["momenta"]
        )
        provenance = st["provenance"]
        rng.bit_generator.state = st["rng_state"]
        step, n_chunks, econs0 = st["step"], st["n_chunks"], st["econs0"]
        missing = [i for i in range(n_chunks) if not (out / f"chunk_{i:05d}.npz").exists()]
        if missing:
            raise SystemExit(
                f"state.npz counts {n_chunks} chunks but chunk files {missing} are "
                "missing: the state and the chunks were copied at different times"
            )
        transferred, wall_total = st["transferred_energy"], st["wall_s"]
        LOG.info("resuming at step %d (t = %.1f fs) after %d chunks", step, step * args.timestep, n_chunks)
    else:
        if list(out.glob("chunk_*.npz")):
            raise SystemExit(f"{out} has chunk files but no state.npz: refusing to overwrite them")
        atoms, start_index, n_md = starting_atoms(args)
        provenance = dataset_provenance(args.dataset)
        provenance.update(
            start_index_in_file=start_index, start_md_frame=args.start_frame % n_md, n_md_frames=n_md
        )
        step, n_chunks, transferred, wall_total = 0, 0, 0.0, 0.0
        LOG.info(
            "new run from dataset frame %d (md frame %d of %d)", start_index, args.start_frame % n_md, n_md
        )
    setup_atoms(atoms, args)
    n = len(atoms)
    ndof = atoms.get_number_of_degrees_of_freedom()
    dyn = Bussi(
        atoms, args.timestep * units.fs, temperature_K=args.temperature, taut=args.taut * units.fs, rng=rng
    )
    dyn.transferred_energy = transferred
    if step == 0:
        econs0 = atoms.get_potential_energy() + atoms.get_kinetic_energy()

    equil_steps = round(args.equil_ps * 1000 / args.timestep)
    total_steps = round(args.total_ps * 1000 / args.timestep)
    masses = atoms.get_masses()
    LOG.info("start %s", json.dumps(provenance))
    LOG.info(
        "OMP_NUM_THREADS=%s settings %s; %d atoms, ndof %d; equilibration %d steps, "
        "target %d steps (%.1f ps); versions %s",
        os.environ.get("OMP_NUM_THREADS"),
        json.dumps(settings),
        n,
        ndof,
        equil_steps,
        total_steps,
        args.total_ps,
        versions(),
    )

    t_proc, steps_proc = time.perf_counter(), 0
    while step < total_steps:
        t_chunk = time.perf_counter()
        rec = {k: [] for k in ("step", "vel", "epot", "ekin", "econs", "stress")}
        prec = {k: [] for k in ("step", "pos")}
        for _ in range(args.chunk_steps):
            dyn.step()
            step += 1
            if step % args.vel_stride == 0:
                epot = atoms.get_potential_energy()
                ekin = atoms.get_kinetic_energy()
                rec["step"].append(step)
                rec["vel"].append(atoms.get_velocities() * units.fs)  # Å/fs
                rec["epot"].append(epot)
                rec["ekin"].append(ekin)
                rec["econs"].append(epot + ekin - dyn.transferred_energy)
                rec["stress"].append(atoms.calc.results["stress"].copy())
            if step % args.pos_stride == 0:
                prec["step"].append(step)
                prec["pos"].append(atoms.get_positions())
        dt_chunk = time.perf_counter() - t_chunk
        wall_total += dt_chunk
        steps_proc += args.chunk_steps

        vstep = np.array(rec["step"])
        pstep = np.array(prec["step"])
        ekin = np.array(rec["ekin"])
        temps = temperature_of(ekin, ndof)
        atomic_write_npz(
            out / f"chunk_{n_chunks:05d}.npz",
            step=vstep,
            time_fs=vstep * args.timestep,
            velocities=np.array(rec["vel"], dtype=np.float16),
            epot_eV=np.array(rec["epot"]),
            ekin_eV=ekin,
            econs_eV=np.array(rec["econs"]),
            temperature_K=temps,
            stress_eV_A3=np.array(rec["stress"], dtype=np.float32),
            equil=vstep <= equil_steps,
            pos_step=pstep,
            pos_time_fs=pstep * args.timestep,
            pos_equil=pstep <= equil_steps,
            positions=np.array(prec["pos"], dtype=np.float32),
            numbers=atoms.numbers,
            masses=masses,
            cell=np.array(atoms.cell),
            settings=json.dumps(settings),
            provenance=json.dumps(provenance),
        )
        n_chunks += 1
        atomic_write_npz(
            state_path,
            positions=atoms.get_positions(),
            momenta=atoms.get_momenta(),
            cell=np.array(atoms.cell),
            numbers=atoms.numbers,
            step=step,
            time_fs=step * args.timestep,
            n_chunks=n_chunks,
            transferred_energy=dyn.transferred_energy,
            econs0=econs0,
            wall_s=wall_total,
            rng_state=json.dumps(rng.bit_generator.state),
            settings=json.dumps(settings),
            versions=json.dumps(versions()),
            provenance=json.dumps(provenance),
        )

        rate = steps_proc / (time.perf_counter() - t_proc)
        eta_h = (total_steps - step) / rate / 3600
        t_ps = step * args.timestep / 1000
        LOG.info(
            "chunk %d  step %d  t %.2f ps (%s)  T %.1f K (chunk mean %.1f)  Epot %.5f eV/atom  "
            "econs-econs0 %+.3f meV/atom (%+.3f meV/atom/ps)  %.2f s/step  %.3f steps/s  "
            "%.2f ps/day  ETA %.1f h to %.1f ps",
            n_chunks - 1,
            step,
            t_ps,
            "equil" if step <= equil_steps else "prod",
            temps[-1],
            temps.mean(),
            rec["epot"][-1] / n,
            (rec["econs"][-1] - econs0) * 1000 / n,
            (rec["econs"][-1] - econs0) * 1000 / n / t_ps,
            dt_chunk / args.chunk_steps,
            rate,
            rate * args.timestep * 86400 / 1000,
            eta_h,
            args.total_ps,
        )
    LOG.info("done: %d steps (%.2f ps) in %d chunks", step, step * args.timestep / 1000, n_chunks)
    return 0


# ----------------------------------------------------------------------------- reading
def load(outdir: Path | str = HERE / "data" / "xtb_reference") -> dict:
    """All complete chunks of a run, concatenated in time order.

    Chunk files beyond the restart state's chunk count (left by a run killed
    between writing a chunk and the state) are ignored.
    """
    outdir = Path(outdir)
    n_chunks = load_state(outdir / "state.npz")["n_chunks"]
    paths = [outdir / f"chunk_{i:05d}.npz" for i in range(n_chunks)]
    parts = [dict(np.load(p, allow_pickle=False)) for p in paths]
    static = ("numbers", "masses", "cell", "settings", "provenance")
    d = {k: np.concatenate([c[k] for c in parts]) for k in parts[0] if k not in static}
    d.update({k: parts[0][k] for k in static})
    d["settings"] = json.loads(str(d["settings"]))
    d["provenance"] = json.loads(str(d["provenance"]))
    return d


def position_frames(data: dict, production_only: bool = True, wrap: bool = True):
    """The saved positions as ``ase.Atoms`` (with ``info['time_fs']`` and ``info['equil']``)."""
    from ase import Atoms

    frames = []
    for i in range(len(data["pos_step"])):
        if production_only and data["pos_equil"][i]:
            continue
        a = Atoms(
            numbers=data["numbers"], positions=data["positions"][i].astype(float), cell=data["cell"], pbc=True
        )
        if wrap:
            a.wrap()
        a.info.update(time_fs=float(data["pos_time_fs"][i]), equil=bool(data["pos_equil"][i]))
        frames.append(a)
    return frames


def summary(args) -> int:
    from ase import units

    d = load(args.outdir)
    n = len(d["numbers"])
    t, prod = d["time_fs"], ~d["equil"]
    size = sum(p.stat().st_size for p in args.outdir.glob("chunk_*.npz")) / 1e6
    st = load_state(args.outdir / "state.npz")
    print(f"settings            {json.dumps(d['settings'])}")
    print(f"start               {json.dumps(d['provenance'])}")
    print(
        f"stored              {t[-1] / 1000:.3f} ps ({st['n_chunks']} chunks), "
        f"production {prod.sum() * d['settings']['vel_stride'] * d['settings']['timestep'] / 1000:.3f} ps, "
        f"{len(d['pos_step'])} position frames, {len(t)} velocity frames, {size:.2f} MB"
    )
    print(f"wall time           {st['wall_s'] / 3600:.2f} h, {st['wall_s'] / st['step']:.2f} s/step")
    for label, m in (("all", np.ones_like(prod)), ("production", prod)):
        if m.sum() < 2:
            continue
        print(
            f"{label:11s} T       mean {d['temperature_K'][m].mean():.1f} K, "
            f"std {d['temperature_K'][m].std():.1f} K"
        )
        print(
            f"{label:11s} Epot    mean {d['epot_eV'][m].mean() / n:.5f} eV/atom, "
            f"std {d['epot_eV'][m].std() / n * 1000:.2f} meV/atom"
        )
        print(f"{label:11s} P       mean {-d['stress_eV_A3'][m, :3].mean() / units.bar:.0f} bar")
        print(f"{label:11s} econs   drift {linear_drift(t[m], d['econs_eV'][m], n):+.4f} meV/atom/ps")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summary:
        return summary(args)
    handlers = [logging.StreamHandler(sys.stdout)]
    args.log.parent.mkdir(parents=True, exist_ok=True)
    handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers)
    if "OMP_NUM_THREADS" not in os.environ:
        LOG.warning("OMP_NUM_THREADS is not set: tblite may oversubscribe the cores and crawl")
    if args.check_drift:
        return check_drift(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
