"""Matplotlib figures overlaying baseline and MTS results (PNG, Agg backend).

Requires the optional dependency group ``analysis`` (matplotlib).  Figures are
built with the object-oriented API on an Agg canvas, so nothing here touches
pyplot's global backend or needs a display.

Every ``curves`` argument maps a legend label (e.g. ``"baseline 0.5 fs"``,
``"MTS 3 fs"``) to the arrays returned by the analysis functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np


def _figure(ncols: int = 1, width: float = 4.5, height: float = 3.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def _save(fig, path) -> None:
    fig.savefig(path, dpi=120)


def plot_rdfs(
    curves: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
    path: str | PathLike,
    pairs: Sequence[str] | None = None,
) -> None:
    """One panel per pair (g_OO, g_OH, g_HH, ...), all runs overlaid.

    Parameters
    ----------
    curves : {label: (r, g_dict)}
        Output of :func:`nequip_mts.analysis.rdf.partial_rdfs` per run.
    path : str or PathLike
        PNG to write.
    pairs : sequence of str, optional
        Keys of ``g_dict`` to draw (default: those of the first run).
    """
    first = next(iter(curves.values()))[1]
    pairs = list(first) if pairs is None else list(pairs)
    fig, axes = _figure(len(pairs))
    for ax, key in zip(axes, pairs):
        for label, (r, g) in curves.items():
            ax.plot(r, g[key], label=label, lw=1.2)
        ax.axhline(1.0, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel("r (Å)")
        # element pairs as a subscript (g_OH); group pairs (O@H2O-H@H2O) as plain text
        ax.set_ylabel(f"g$_{{\\mathrm{{{key}}}}}$(r)" if key.isalnum() else "g(r)")
        ax.set_title(key)
    axes[0].legend(fontsize=8)
    _save(fig, path)


def plot_rdf_differences(
    r: np.ndarray,
    diffs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | PathLike,
    title: str = "",
    rmin: float = 0.0,
) -> None:
    """One panel per pair: a difference of RDFs against r, inside a band of its noise.

    Parameters
    ----------
    r : ndarray
        Bin centres in Å.
    diffs : {pair: (dg, band)}
        The difference per bin and the half-width of the band drawn around zero
        (e.g. two standard errors).
    path : str or PathLike
        PNG to write.
    title : str
        Prefix of each panel's title (e.g. ``"MTS - control"``).
    rmin : float
        Draw only r >= rmin (Å).
    """
    sel = r >= rmin
    fig, axes = _figure(len(diffs))
    for ax, (key, (dg, band)) in zip(axes, diffs.items()):
        ax.fill_between(r[sel], -band[sel], band[sel], color="0.85", label="2 standard errors")
        ax.plot(r[sel], dg[sel], lw=1.2, label="difference of the replica means")
        ax.axhline(0.0, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("Δg(r)")
        ax.set_title(f"{title} {key}".strip())
    axes[0].legend(fontsize=8)
    _save(fig, path)


def plot_vdos(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | PathLike,
    xlim: tuple[float, float] = (0.0, 4500.0),
) -> None:
    """Overlay vibrational densities of states ``{label: (wavenumber_cm1, dos)}``."""
    fig, (ax,) = _figure(width=6.0)
    for label, (w, d) in curves.items():
        ax.plot(w, d, label=label, lw=1.0)
    ax.set_xlim(*xlim)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel("VDOS (unit area over cm$^{-1}$)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_msd(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | PathLike,
    fits: Mapping[str, tuple[float, tuple[float, float]]] | None = None,
) -> None:
    """Overlay MSD curves ``{label: (t_ps, msd_A2)}``.

    ``fits`` optionally maps a label to ``(D in Å^2/ps, (t0, t1) ps)``; the line
    6 D t through the curve's mean on that window is drawn dashed.
    """
    fig, (ax,) = _figure()
    for label, (t, m) in curves.items():
        (line,) = ax.plot(t, m, label=label, lw=1.2)
        if fits and label in fits:
            d, (t0, t1) = fits[label]
            sel = (t >= t0) & (t <= t1)
            c = np.mean(m[sel] - 6.0 * d * t[sel])
            tt = np.array([t0, t1])
            ax.plot(
                tt,
                6.0 * d * tt + c,
                ls="--",
                color=line.get_color(),
                lw=1.0,
                label=f"{label}: D = {d:.3g} Å$^2$/ps",
            )
    ax.set_xlabel("t (ps)")
    ax.set_ylabel("MSD (Å$^2$)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_drift_vs_outer_step(
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]],
    path: str | PathLike,
    reference: float | None = None,
) -> None:
    """Energy drift against outer time step.

    Parameters
    ----------
    series : {label: (outer_step_fs, drift_meV_per_atom_per_ps, stderr or None)}
        One line per integrator/model combination.
    path : str or PathLike
    reference : float, optional
        Drift of the baseline (meV/atom/ps), drawn as a horizontal line.
    """
    fig, (ax,) = _figure()
    for label, (dt, drift, err) in series.items():
        ax.errorbar(
            np.asarray(dt),
            np.asarray(drift),
            yerr=None if err is None else np.asarray(err),
            marker="o",
            capsize=3,
            label=label,
        )
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=0.8, label="baseline")
    ax.axhline(0.0, color="0.7", lw=0.5)
    ax.set_xlabel("outer time step (fs)")
    ax.set_ylabel("energy drift (meV/atom/ps)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_energy_drift(
    series: Mapping[str, tuple[np.ndarray, np.ndarray, float | None]], path: str | PathLike
) -> None:
    """Conserved energy against time, one line per log, with the fitted drift.

    Parameters
    ----------
    series : {label: (t_ps, energy_meV_per_atom, slope_meV_per_atom_per_ps or None)}
        Energy relative to its start, per atom; the fitted line is drawn dashed
        when a slope is given.
    path : str or PathLike
        PNG to write.
    """
    fig, (ax,) = _figure(width=6.0)
    for label, (t, e, slope) in series.items():
        t, e = np.asarray(t), np.asarray(e)
        (line,) = ax.plot(t, e, lw=0.8, label=label)
        if slope is not None:
            c = np.mean(e - slope * t)
            ax.plot(
                t[[0, -1]],
                slope * t[[0, -1]] + c,
                ls="--",
                lw=1.0,
                color=line.get_color(),
                label=f"{label}: {slope:+.3g} meV/atom/ps",
            )
    ax.axhline(0.0, color="0.7", lw=0.5)
    ax.set_xlabel("t (ps)")
    ax.set_ylabel("conserved energy - start (meV/atom)")
    ax.legend(fontsize=8)
    _save(fig, path)
