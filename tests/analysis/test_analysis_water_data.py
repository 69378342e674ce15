"""Sanity of the committed GFN1-xTB water dataset through the analysis code."""

import numpy as np
import pytest

from nequip_mts.analysis.frames import load_frames
from nequip_mts.analysis.rdf import first_peak, number_density, partial_rdfs, running_coordination
from nequip_mts.resources import water_data

DATA = water_data()


@pytest.mark.skipif(not DATA.exists(), reason="dataset not generated")
def test_water_dataset_structure():
    frames = [f for f in load_frames(DATA, index="::20") if f.info["config_type"] == "md"]
    assert len(frames) >= 20
    assert all(len(f) == 96 and f.pbc.all() for f in frames)
    for f in frames:
        assert set(f.calc.results) >= {"energy", "forces", "stress"}
        assert np.isfinite(f.get_forces()).all()
    r, g = partial_rdfs(frames, rmax=4.5, nbins=225)
    # intact molecules: covalent O-H peak near 1 Å holding exactly 2 H per O
    r_oh, _ = first_peak(r, g["OH"], rmax=1.3)
    assert 0.9 < r_oh < 1.1
    n_oh = running_coordination(r, g["OH"], number_density(frames[0], "H"))
    assert n_oh[np.searchsorted(r, 1.25)] == pytest.approx(2.0, abs=1e-6)
    # liquid: first O-O shell between 2.6 and 3.0 Å
    r_oo, _ = first_peak(r, g["OO"], rmin=2.3)
    assert 2.6 < r_oo < 3.0


@pytest.mark.skipif(not DATA.exists(), reason="dataset not generated")
def test_distorted_frames_cover_short_hh_distances():
    # the augmentation exists to put reference data below the thermal H-H range
    frames = load_frames(DATA, index="::5")
    md = [f for f in frames if f.info["config_type"] == "md"]
    distorted = [f for f in frames if f.info["config_type"] == "distorted"]
    assert len(md) >= 80 and len(distorted) >= 20

    def min_hh(f):
        h = np.flatnonzero(f.numbers == 1)
        d = f.get_all_distances(mic=True)[np.ix_(h, h)]
        return d[np.triu_indices(len(h), 1)].min()

    closest_md = min(min_hh(f) for f in md)
    assert closest_md > 1.2
    assert np.median([min_hh(f) for f in distorted]) < closest_md
    assert min(min_hh(f) for f in distorted) < 1.0
    e_md = np.mean([f.get_potential_energy() for f in md])
    assert all(f.get_potential_energy() > e_md for f in distorted)
    assert all(set(f.calc.results) >= {"energy", "forces", "stress"} for f in distorted)
