"""LAMMPS support: build the ``allegro/mts`` plugin (:mod:`.build`), write inputs
(:mod:`.inputs`), command-line entry points (:mod:`.cli`), stand-in test models
(:mod:`.toy`).  Imported by LAMMPS' ``lammps.plugins`` entry point, so it imports nothing.
"""
