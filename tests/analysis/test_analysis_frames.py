"""The time axis from the frames' md_time_fs, with dt_fs only as a fallback."""

import numpy as np
import pytest
from ase import Atoms

from nequip_mts.analysis.frames import TIME_KEY, discard_equilibration, frame_times_fs, regular_frames


def frames_at(times):
    out = []
    for t in times:
        a = Atoms("H", positions=[[0, 0, 0]])
        if t is not None:
            a.info[TIME_KEY] = float(t)
        out.append(a)
    return out


def test_times_from_frames_and_fallback():
    np.testing.assert_allclose(frame_times_fs(frames_at([10, 13, 16])), [10, 13, 16])
    np.testing.assert_allclose(frame_times_fs(frames_at([None] * 3), dt_fs=2.5), [0, 2.5, 5])
    assert frame_times_fs(frames_at([10, 13, 16]), dt_fs=3.0)[0] == 10  # consistent: fine
    with pytest.raises(ValueError, match="dt-fs"):
        frame_times_fs(frames_at([None] * 3))
    with pytest.raises(ValueError, match="contradicts"):
        frame_times_fs(frames_at([10, 13, 16]), dt_fs=2.0)
    with pytest.raises(ValueError, match="frame 1 has no"):
        frame_times_fs(frames_at([10, None, 16]))


def test_regular_frames_drop_the_off_grid_final_state():
    # nequip-mts md: every 30 fs, plus the final state at 95 fs
    frames, spacing, dropped = regular_frames(frames_at([0, 30, 60, 90, 95]))
    assert spacing == pytest.approx(30.0) and dropped == 1 and len(frames) == 4
    with pytest.raises(ValueError, match="gap before frame 3"):
        regular_frames(frames_at([0, 30, 60, 120, 150, 180]))
    with pytest.raises(ValueError, match="do not increase"):
        regular_frames(frames_at([0, 30, 60, 30, 60]))


def test_discard_equilibration_in_ps():
    frames = frames_at(np.arange(100, 1100, 100.0))  # 100 .. 1000 fs
    kept = discard_equilibration(frames, 0.3)
    assert [f.info[TIME_KEY] for f in kept][0] == 400.0 and len(kept) == 7
    assert discard_equilibration(frames, 0.0) == frames
    with pytest.raises(ValueError, match="leaves no frames"):
        discard_equilibration(frames, 2.0)
