"""Plot helpers write real PNGs without a display (Agg)."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from nequip_mts.analysis import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    return path.stat().st_size > 2000 and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture
def figures(monkeypatch):
    """The figures the helpers save, by file stem, so their content can be checked."""
    saved = {}
    original = plots._save

    def keep(fig, path):
        saved[Path(path).stem] = fig
        original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def _lines(ax):
    return {
        line.get_label(): line.get_xydata() for line in ax.get_lines() if not line.get_label().startswith("_")
    }


def test_all_plots(tmp_path, figures):
    r = np.linspace(0.05, 6, 120)
    g = {k: 1 + np.exp(-((r - c) ** 2) / 0.05) for k, c in [("OO", 2.8), ("OH", 1.0), ("HH", 1.6)]}
    g2 = {k: v * 1.02 for k, v in g.items()}
    plots.plot_rdfs({"baseline": (r, g), "MTS 3 fs": (r, g2)}, tmp_path / "rdf.png")

    w = np.linspace(0, 5000, 500)
    d = np.exp(-((w - 3500) ** 2) / 1e4)
    plots.plot_vdos({"baseline": (w, d), "MTS": (w, np.roll(d, 5))}, tmp_path / "vdos.png")

    t = np.linspace(0, 5, 100)
    plots.plot_msd(
        {"baseline": (t, 1.5 * t), "MTS": (t, 1.6 * t)},
        tmp_path / "msd.png",
        fits={"baseline": (0.25, (1.0, 4.0))},
    )

    plots.plot_drift_vs_outer_step(
        {"MTS": ([1, 2, 3, 4], [0.01, 0.02, 0.05, 0.4], [0.005, 0.005, 0.01, 0.05])},
        tmp_path / "drift.png",
        reference=0.01,
    )
    for name in ("rdf", "vdos", "msd", "drift"):
        assert _is_png(tmp_path / f"{name}.png"), name

    # each RDF panel draws both runs' curves of its own pair, with units on the axis
    rdf_axes = [ax for ax in figures["rdf"].axes if ax.get_title()]
    assert [ax.get_title() for ax in rdf_axes] == ["OO", "OH", "HH"]
    for ax in rdf_axes:
        pair = ax.get_title()
        lines = _lines(ax)
        assert set(lines) >= {"baseline", "MTS 3 fs"}
        np.testing.assert_allclose(lines["baseline"][:, 1], g[pair])
        np.testing.assert_allclose(lines["MTS 3 fs"][:, 1], g2[pair])
        assert "Å" in ax.get_xlabel()
    vdos_lines = _lines(figures["vdos"].axes[0])
    np.testing.assert_allclose(vdos_lines["MTS"][:, 1], np.roll(d, 5))
    assert "cm" in figures["vdos"].axes[0].get_xlabel()
