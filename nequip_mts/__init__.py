"""nequip-mts: multiple-time-step molecular dynamics with co-trained fast/slow potentials.

Imported by nequip while nequip itself initialises (entry point ``nequip.extension``),
so this module must stay import-light: builders, modules and integrators live in
submodules and are reached by their full path (``nequip_mts.model.MultiscaleModel``).
"""

__version__ = "0.1.0"
