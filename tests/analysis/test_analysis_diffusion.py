"""MSD/diffusion against brute force and random walks with a known D."""

import numpy as np
import pytest
from ase import Atoms
from ase.geometry import wrap_positions

from nequip_mts.analysis.diffusion import msd, self_diffusion, self_diffusion_from_frames, unwrap_positions


def random_walk(d_a2ps, dt_fs, n_frames, n_atoms, seed):
    """Gaussian steps with variance 2 D dt per Cartesian component."""
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(2 * d_a2ps * dt_fs / 1000.0)
    steps = rng.normal(scale=sigma, size=(n_frames - 1, n_atoms, 3))
    start = rng.uniform(0, 10, size=(1, n_atoms, 3))
    return np.concatenate([start, start + np.cumsum(steps, axis=0)])


def test_fft_msd_matches_brute_force():
    x = np.random.default_rng(0).normal(size=(60, 150, 3)).cumsum(axis=0)  # > one FFT chunk
    brute = np.array([np.mean(np.sum((x[k:] - x[: len(x) - k]) ** 2, axis=2)) for k in range(60)])
    np.testing.assert_allclose(msd(x), brute, rtol=1e-9, atol=1e-9)
    per = msd(x, per_particle=True)
    assert per.shape == (60, 150)
    np.testing.assert_allclose(per.mean(axis=1), brute, rtol=1e-9, atol=1e-9)


def test_unwrap_triclinic_roundtrip():
    cell = np.array([[9.0, 0, 0], [2.5, 8.5, 0], [1.0, 1.5, 10.0]])
    x = random_walk(5.0, 10.0, 300, 20, seed=1)  # travels several boxes
    wrapped = np.stack([wrap_positions(p, cell) for p in x])
    assert np.abs(wrapped - x).max() > 5  # wrapping really happened
    np.testing.assert_allclose(unwrap_positions(wrapped, cell), x - x[0] + wrapped[0], atol=1e-9)


def test_random_walk_recovers_d():
    d_true, dt = 0.25, 20.0  # Å^2/ps (liquid-water-like), fs between frames
    x = random_walk(d_true, dt, 2000, 64, seed=2)
    res = self_diffusion(x, dt, window_ps=(1.0, 3.0), n_blocks=5)
    assert 0 < res.D_err < 0.1 * d_true
    assert abs(res.D - d_true) < 4 * res.D_err
    assert res.D == pytest.approx(d_true, rel=0.1)
    assert res.D_cgs == pytest.approx(10 * res.D)  # 1 Å^2/ps = 1e-4 cm^2/s
    # the MSD itself follows 6 D t
    t = res.t_ps
    sel = (t > 0.5) & (t < 4)
    np.testing.assert_allclose(res.msd[sel], 6 * d_true * t[sel], rtol=0.15)


def test_from_frames_unwraps_and_removes_com_drift():
    d_true, dt, nf, n = 0.5, 20.0, 1000, 48
    x = random_walk(d_true, dt, nf, n, seed=3)
    x += (np.arange(nf) * 0.05)[:, None, None]  # whole-box drift of 0.05 Å per frame
    cell = np.eye(3) * 12.0
    frames = [Atoms("OH2" * (n // 3), positions=wrap_positions(p, cell), cell=cell, pbc=True) for p in x]
    kw = dict(window_ps=(0.5, 2.0), n_blocks=4)
    res = self_diffusion_from_frames(frames, dt, symbols="O", **kw)
    assert res.D == pytest.approx(d_true, rel=0.15)
    drifting = self_diffusion_from_frames(frames, dt, symbols="O", remove_com=False, **kw)
    assert drifting.D > 2 * d_true


def test_window_must_fit_in_block():
    x = random_walk(0.2, 10.0, 100, 4, seed=4)
    with pytest.raises(ValueError, match="blocks last"):
        self_diffusion(x, 10.0, window_ps=(0.1, 0.5), n_blocks=5)
