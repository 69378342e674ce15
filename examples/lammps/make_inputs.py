"""Write the example LAMMPS inputs of this directory.

    python examples/lammps/make_inputs.py                       # refresh the committed examples
    python examples/lammps/make_inputs.py --deploy deployed_lmp/ -o run/ --structure my.xyz

Without ``--deploy`` the inputs name ``deployed_lmp/{fast,slow,sum}.nequip.pt2`` next to
them (create that directory with ``nequip-mts deploy MODEL examples/lammps/deployed_lmp
--target pair_allegro``) and load the plugin from ``LAMMPS_PLUGIN_PATH``.  The data file
is the first frame of the bundled water data (96 atoms, with its velocities).
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from nequip_mts.deploy.split import inspect_multiscale  # noqa: E402
from nequip_mts.lammps.inputs import integrator_name, lammps_input, read_deploy, write_data_file  # noqa: E402
from nequip_mts.manifest import MULTISCALE_PARTS, part_filename  # noqa: E402
from nequip_mts.md.settings import MDSettings  # noqa: E402
from nequip_mts.resources import bundled_model, water_data  # noqa: E402

WATER = water_data()

# outer 2 fs / inner 0.5 fs: inside the clean window for flexible water (docs/md.md)
RESPA = dict(timestep_fs=2.0, inner_steps=4, steps=5000, loginterval=100)
VARIANTS = [
    MDSettings(ensemble="nve", **RESPA),
    MDSettings(ensemble="langevin", temperature_K=300.0, thermostat_time_fs=500.0, **RESPA),
    MDSettings(ensemble="bussi", temperature_K=300.0, thermostat_time_fs=100.0, **RESPA),
    MDSettings(ensemble="nose-hoover", temperature_K=300.0, thermostat_time_fs=100.0, **RESPA),
    # K = 1: plain verlet on the sum model, the single-step reference
    MDSettings(ensemble="nve", timestep_fs=0.5, inner_steps=1, steps=20000, loginterval=100),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deploy", type=Path, default=None, help="deploy directory (target pair_allegro)")
    p.add_argument("--structure", type=Path, default=WATER)
    p.add_argument("--index", default="0")
    p.add_argument("-o", "--output", type=Path, default=HERE)
    p.add_argument("--plugin", default=None, help="path for `plugin load` (default: LAMMPS_PLUGIN_PATH)")
    args = p.parse_args(argv)

    import ase.io

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    if args.deploy is not None:
        meta = read_deploy(args.deploy)
    else:
        # the type names and cutoffs of the bundled water model, read from it
        parts = inspect_multiscale(bundled_model("multiscale", "water"))
        meta = {"type_names": parts["sum"]["type_names"].split()}
        for part in MULTISCALE_PARTS:
            path = out / "deployed_lmp" / part_filename(part)
            meta[part] = {"path": str(path), "r_max": float(parts[part]["r_max"])}
    atoms = ase.io.read(args.structure, index=args.index)
    data = write_data_file(atoms, out / "water.data", meta["type_names"])
    for settings in VARIANTS:
        name = f"in.{integrator_name(settings)}_{settings.ensemble}"
        text = lammps_input(
            meta,
            data,
            settings,
            plugin=args.plugin,
            relative_to=out,
            periodic=tuple(bool(x) for x in atoms.pbc),
        )
        (out / name).write_text(text)
        print(out / name)
    print(data)


if __name__ == "__main__":
    main()
