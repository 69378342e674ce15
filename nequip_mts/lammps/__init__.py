"""LAMMPS support: build the ``allegro/mts`` plugin (:mod:`.build`) from the C++ sources
shipped in ``plugin_src/``, and write inputs (:mod:`.inputs`).  Imported by LAMMPS'
``lammps.plugins`` entry point, so it imports nothing.
"""
