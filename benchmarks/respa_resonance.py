"""Resonance scan of NVE r-RESPA on the analytic two-scale system (the table in docs/md.md).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/respa_resonance.py     # about a minute

The inner step is fixed at a fraction of the bond period T; the outer step grows
through T/2, where impulse MTS becomes unstable.
"""

import argparse

from ase import units

from nequip_mts.testing.analytic import bond_period, diatomic_fluid, resonance_scan


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inner-per-period", type=int, default=50)
    parser.add_argument("--duration-fs", type=float, default=1000.0)
    parser.add_argument("--molecules", type=int, default=8)
    args = parser.parse_args(argv)
    atoms, _, _ = diatomic_fluid(n_molecules=args.molecules)
    print(
        f"bond period T = {bond_period(atoms) / units.fs:.3f} fs, "
        f"inner step = T/{args.inner_per_period}, {args.duration_fs:g} fs NVE per row"
    )
    print(f"{'K':>3} {'dt[fs]':>8} {'dt/T':>6} {'rms dE[meV/atom]':>17} {'max dE[meV/atom]':>17}")
    for k, dt_fs, ratio, rms, worst in resonance_scan(
        args.inner_per_period, duration_fs=args.duration_fs, n_molecules=args.molecules
    ):
        print(f"{k:>3} {dt_fs:>8.3f} {ratio:>6.3f} {1e3 * rms:>17.4g} {1e3 * worst:>17.4g}")


if __name__ == "__main__":
    main()
