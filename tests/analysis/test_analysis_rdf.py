"""RDFs against analytic references: ideal gas (g = 1), fcc shells, ASE's own get_rdf."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.geometry.rdf import get_rdf

from nequip_mts.analysis.rdf import (
    first_peak,
    number_density,
    partial_rdfs,
    rdf_max_abs_diff,
    running_coordination,
)


def random_box(n_o, n_h, length, seed):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, length, size=(n_o + n_h, 3))
    return Atoms("O" * n_o + "H" * n_h, positions=pos, cell=[length] * 3, pbc=True)


@pytest.mark.parametrize("length,rmax", [(20.0, 8.0), (8.0, 7.0)])  # second: rmax > L/2
def test_ideal_gas_is_one(length, rmax):
    n_o, n_h = int(0.05 * length**3), int(0.1 * length**3)
    frames = [random_box(n_o, n_h, length, s) for s in range(40 if length < 10 else 4)]
    r, g = partial_rdfs(frames, rmax=rmax, nbins=35)
    sel = r > 2.0
    # LAMMPS/ASE normalisation: like pairs tend to (N-1)/N, unlike pairs to 1.
    expect = {"OO": (n_o - 1) / n_o, "OH": 1.0, "HH": (n_h - 1) / n_h}
    for key, g_ab in g.items():
        assert abs(g_ab[sel].mean() - expect[key]) < 0.01, key
        assert np.abs(g_ab[sel] - expect[key]).max() < 0.12, key


def test_fcc_shells_and_coordination():
    a = 3.6
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(4)  # L = 14.4 Å
    atoms.rattle(0.01, seed=1)  # keep peaks off bin edges
    r, g = partial_rdfs([atoms], pairs=[("Cu", "Cu")], rmax=5.5, nbins=550)
    g = g["CuCu"]
    r1, _ = first_peak(r, g)
    assert r1 == pytest.approx(a / np.sqrt(2), abs=0.02)
    n = running_coordination(r, g, number_density(atoms, "Cu"))
    upper = r + 0.5 * (r[1] - r[0])
    assert n[np.searchsorted(upper, 3.0)] == pytest.approx(12.0, abs=1e-9)  # first shell
    assert n[np.searchsorted(upper, 4.0)] == pytest.approx(18.0, abs=1e-9)  # + 6 at a
    assert n[np.searchsorted(upper, 4.8)] == pytest.approx(42.0, abs=1e-9)  # + 24 at a*sqrt(3/2)
    assert n[np.searchsorted(upper, 5.3)] == pytest.approx(54.0, abs=1e-9)  # + 12 at a*sqrt(2)
    assert np.all(g[r < 2.3] == 0.0)


def test_matches_ase_get_rdf():
    frames = [random_box(30, 60, 10.0, s) for s in range(3)]
    r, g = partial_rdfs(frames, rmax=4.9, nbins=49)
    for a, b in [("O", "O"), ("O", "H"), ("H", "H")]:
        g_ase, r_ase = get_rdf(frames, rmax=4.9, nbins=49, elements=(a, b))
        np.testing.assert_allclose(r, r_ase)
        np.testing.assert_allclose(g[a + b], g_ase, rtol=1e-10, atol=1e-12)


def test_max_abs_diff():
    r = np.linspace(0.05, 5.95, 60)
    g1 = {"OO": np.ones(60), "OH": np.zeros(60)}
    g2 = {"OO": np.ones(60), "OH": np.where(r < 1.0, 0.5, 0.1)}
    d = rdf_max_abs_diff(g1, g2)
    assert d == {"OO": 0.0, "OH": 0.5}
    assert rdf_max_abs_diff(g1, g2, r=r, rmin=1.0)["OH"] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        rdf_max_abs_diff(g1, {"OO": np.ones(10)})
