"""Figures of Experiment C (robustness of B's models). They draw arrays the
run saved; means, intervals and correlations are computed by the experiment
(``experiments/exp_c_analysis.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.ticker import MaxNLocator

from .common import (arm_key, arm_panels, arm_style, arm_ticks, legend_below, new_figure,
                     save_figure, short_names, style, suptitle, wrap_text)


def plot_curve_panels(path: Path, panels: list[dict], arms, title: str, *,
                      ylabel: str = "accuracy", chance: float | None = None) -> Path:
    """One panel per curve, one line per arm with its 95% band over seeds.

    Args:
        panels: dicts with ``title``, ``xlabel``, ``x`` ``(L,)``, ``mean``,
            ``lo``, ``hi`` ``(A, L)``; optional ``reference`` ``(A,)`` drawn
            as thin horizontal lines in the arm's colour (e.g. clean
            accuracy) and ``xticklabels`` ``(L,)``.
        arms: ``A`` labels; chance: a grey dotted line (1 / classes).
    """
    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    with style():
        fig = new_figure(max(3.6 * cols + 0.4, 7.6), 3.0 * rows + 0.6)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, p in zip(axes, panels):
            for a in range(len(arms)):
                st = arm_style(a)
                ax.plot(p["x"], p["mean"][a], color=st["color"], linestyle=st["linestyle"],
                        marker=st["marker"], markersize=3, label=arms[a])
                ax.fill_between(p["x"], p["lo"][a], p["hi"][a], color=st["color"], alpha=0.18,
                                linewidth=0)
                if p.get("reference") is not None:
                    ax.axhline(p["reference"][a], color=st["color"], linewidth=0.7, alpha=0.6,
                               linestyle=st["linestyle"])
            if chance is not None:
                ax.axhline(chance, color="0.4", linewidth=0.8, linestyle=":", label="chance")
            if p.get("xticklabels") is not None:
                ax.set_xticks(p["x"], p["xticklabels"], fontsize=7)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(p["xlabel"])
            ax.set_ylabel(ylabel)
            ax.set_title(p["title"], fontsize=9)
            for xv, text in p.get("vlines", ()):
                ax.axvline(xv, color="0.5", linewidth=0.7, linestyle="--")
                ax.text(xv, 1.0, f" {text}", fontsize=7, color="0.4", va="top")
        for ax in axes[n:]:
            ax.set_visible(False)
        legend_below(fig, axes[0])  # the key: every arm's regimen, wrapped to fit
        fig.suptitle(title)
        out = save_figure(fig, path)
    return out


def plot_heatmaps(path: Path, maps, freqs, arms, title: str, *, diverging: bool = False,
                  label: str = "error rate", noise: float | None = None) -> Path:
    """One Fourier heat map per arm on one shared colour scale, spanning the
    maps' own range (a fixed [0, 1] makes maps whose errors lie in a narrow
    band look uniform); at most :data:`~.common.PANEL_COLUMNS` maps a row,
    titled by short name, the regimens in a key below.

    Args:
        maps: ``(A, P, P)``, row ``i`` = vertical frequency ``freqs[i]``,
            column ``j`` = horizontal frequency ``freqs[j]`` (DC centred).
        freqs: ``(P,)`` in cycles/pixel.
        arms: labels (``name (regimen)``): panels are titled by the short
            name, the regimens listed in a key under the figure.
        diverging: a scale centred at 0 with symmetric limits (difference
            maps); otherwise the shared range of the maps (error rates).
        noise: the seed-to-seed noise level of a difference map (standard
            error); marked on the colour bar and named in its label, so a
            difference inside it reads as noise.
    """
    maps = np.asarray(maps, dtype=float)
    finite = maps[np.isfinite(maps)]
    if diverging:
        m = float(np.max(np.abs(finite))) if finite.size else 0.0
        m = max(m, 2 * noise if noise and np.isfinite(noise) else 0.0) or 1e-3
        norm, cmap = TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m), "RdBu_r"
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        norm, cmap = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1e-3), "viridis"
    with style():
        fig, axes, grid = arm_panels(len(arms), 2.4, 3.3, extra_width=1.3)
        mesh = None
        for ax, arm, img in zip(axes, short_names(arms), maps):
            mesh = ax.pcolormesh(freqs, freqs, img, norm=norm, cmap=cmap, shading="nearest",
                                 rasterized=True)
            ax.set_aspect("equal")
            ax.set_title(arm, fontsize=8)
            ax.set_xlabel("horizontal (c/p)")
            ax.xaxis.set_major_locator(MaxNLocator(3))
        for ax in grid[:, 0]:
            ax.set_ylabel("vertical frequency (c/p)")
        if diverging and noise is not None and np.isfinite(noise):
            label = f"{label}\n(dotted: \u00b1 seed noise {noise:.3f})"
        bar = fig.colorbar(mesh, ax=grid.ravel().tolist(), label=label, shrink=0.9)
        if diverging and noise is not None and np.isfinite(noise):
            for level in (-noise, noise):
                bar.ax.axhline(level, color="k", linewidth=0.8, linestyle=":")
        arm_key(fig, arms)
        suptitle(fig, title)
        out = save_figure(fig, path)
    return out


def plot_scatter(path: Path, panels: list[dict], arms, title: str) -> Path:
    """Scatter panels, one marker and colour per arm, one point per seed;
    one legend for all panels, under them, so that it covers no point.

    Args:
        panels: dicts with ``x``, ``y`` ``(A, S)`` (NaN points skipped),
            ``xlabel``, ``ylabel``, ``title``; optional ``hline``/``vline``.
    """
    with style():
        fig = new_figure(4.0 * len(panels), 3.6)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, p in zip(axes, panels):
            x, y = np.asarray(p["x"], float), np.asarray(p["y"], float)
            for a, arm in enumerate(arms):
                ok = np.isfinite(x[a]) & np.isfinite(y[a])
                if ok.any():
                    st = arm_style(a)
                    ax.scatter(x[a][ok], y[a][ok], color=st["color"], marker=st["marker"],
                               s=24, label=arm)
            for key, line in (("hline", ax.axhline), ("vline", ax.axvline)):
                if p.get(key) is not None:
                    line(p[key], color="0.4", linewidth=0.8, linestyle=":")
            ax.set_xlabel(wrap_text(p["xlabel"], 3.4))
            ax.set_ylabel(wrap_text(p["ylabel"], 2.2))
            ax.set_title(wrap_text(p["title"], 3.6, 8), fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(4))
        legend_below(fig, list(axes), fontsize=7)
        fig.suptitle(title)
        out = save_figure(fig, path)
    return out


def plot_grouped_bars(path: Path, arms, groups: dict, title: str, *, ylabel: str,
                      chance: float | None = None) -> Path:
    """Bars per arm (x) and group (hatch): mean, 95% whiskers, seeds as dots.

    Args:
        groups: ``{name: {"mean": (A,), "lo": (A,), "hi": (A,), "values": (A, S)}}``.
    """
    names = list(groups)
    width = 0.8 / len(names)
    x = np.arange(len(arms))
    with style():
        fig = new_figure(1.3 * len(arms) + 2.5, 3.4)
        ax = fig.add_subplot()
        for g, name in enumerate(names):
            d = groups[name]
            mean = np.asarray(d["mean"], float)
            xs = x + (g - (len(names) - 1) / 2) * width
            err = np.vstack([mean - np.asarray(d["lo"]), np.asarray(d["hi"]) - mean])
            ax.bar(xs, mean, width * 0.92, color=arm_style(g)["color"], alpha=0.8,
                   hatch=["", "//", "xx", ".."][g % 4], label=name, yerr=err, capsize=3,
                   error_kw={"linewidth": 0.9})
            vals = np.asarray(d["values"], float)
            for a in range(len(arms)):
                ax.plot(np.full(vals.shape[1], xs[a]), vals[a], "k.", markersize=3)
        if chance is not None:
            ax.axhline(chance, color="0.4", linewidth=0.8, linestyle=":", label="chance")
        arm_ticks(ax, x, arms)
        ax.set_ylim(0, 1)
        ax.set_ylabel(ylabel)
        legend_below(fig, ax, fontsize=7)
        arm_key(fig, arms)
        ax.set_title(wrap_text(title, 1.3 * len(arms) + 2), fontsize=9)
        out = save_figure(fig, path)
    return out
