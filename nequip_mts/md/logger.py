"""Log file for MTS molecular dynamics: energies, temperature and conserved-energy drift."""

from __future__ import annotations

from ase import units
from ase.md.logger import MDLogger


class MTSLogger(MDLogger):
    """Like :class:`ase.md.MDLogger`, with time in fs and the conserved quantity.

    Columns: time (fs), total, potential and kinetic energy (eV), temperature (K),
    the integrator's conserved energy (eV) and its drift since the start of the
    run (meV/atom). For NVE the conserved energy is the total energy; with a
    thermostat it subtracts the energy the thermostat put in.

    Parameters
    ----------
    dyn : nequip_mts.md.mts.MTSDynamics
        The integrator (only a weak reference is kept).
    atoms : ase.Atoms
        The atoms.
    logfile : str or file
        File name or open file, '-' for stdout.
    header : bool
        Write the column header.
    mode : str
        How a named file is opened.
    """

    def __init__(self, dyn, atoms, logfile, header=True, mode="a", comm=None):
        extra = {} if comm is None else {"comm": comm}
        super().__init__(dyn, atoms, logfile, header=False, mode=mode, **extra)
        self.hdr = "%-12s %14s %14s %14s %9s %14s %12s" % (
            "Time[fs]",
            "Etot[eV]",
            "Epot[eV]",
            "Ekin[eV]",
            "T[K]",
            "Econs[eV]",
            "Drift[meV/at]",
        )
        self.fmt = "%-12.3f %14.6f %14.6f %14.6f %9.2f %14.6f %12.4f\n"
        if header:
            self.logfile.write(self.hdr + "\n")
            self.logfile.flush()

    def __call__(self):
        atoms = self.atoms
        epot = atoms.get_potential_energy()
        ekin = atoms.get_kinetic_energy()
        drift = self.dyn.get_conserved_energy_drift()
        self.logfile.write(
            self.fmt
            % (
                self.dyn.get_time() / units.fs,
                epot + ekin,
                epot,
                ekin,
                atoms.get_temperature(),
                self.dyn.get_conserved_energy(),
                1000.0 * drift / len(atoms),
            )
        )
        self.logfile.flush()
