"""Fixtures of the MD tests (MD-only; project-wide fixtures live in tests/conftest.py)."""

import os
import sys

import pytest

# the test modules import md_helpers from this directory
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def fluid():
    """Eight diatomic molecules: stiff bonds (fast) and a soft environment (slow)."""
    from nequip_mts.testing.analytic import diatomic_fluid

    return diatomic_fluid(n_molecules=8, temperature_K=300.0, seed=0)
