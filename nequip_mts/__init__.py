"""nequip-mts: multiple-time-step molecular dynamics with co-trained fast/slow potentials.

Imported by nequip while nequip itself initialises (entry point ``nequip.extension``),
so this module must stay import-light: builders, modules and integrators live in
submodules and are reached by their full path (``nequip_mts.model.MultiscaleModel``).
"""

__version__ = "0.1.0"

import sys as _sys

# The shipped configs name their data with ``${nequip_mts.data:FILE}``. nequip imports
# omegaconf before it loads its extensions, so when nequip loads this module the
# resolver costs nothing; other importers (the LAMMPS entry point, the CLI) skip it.
if "omegaconf" in _sys.modules:
    from .resources import register_resolvers as _register_resolvers

    _register_resolvers()
