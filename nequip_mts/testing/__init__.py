"""Test systems for MTS integrators: exact analytic potentials as ASE calculators.

Nothing here is needed to run MD. The tests, the resonance benchmark
(``benchmarks/respa_resonance.py``) and the docs use these systems because their
forces carry no model noise that could hide an integrator error.
"""
