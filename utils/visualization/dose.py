"""Dose-response figures: a measurement against the strength of one
regulariser (a sweep), with intervals over seeds.

The strength axis is logarithmic, with the zero point (the baseline) drawn
apart on a narrow axis of its own at the left, since log(0) has no place on
a log axis. Non-numeric sweeps (e.g. ``dropout_at``) get a categorical axis.
Each panel shows the mean over seeds with its 95% interval as error bars and
every seed as a small dot beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from utils import stats
from utils.visualization.common import OKABE_ITO, new_figure, save_figure, style


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
               for v in values)


def _draw(ax, x, per_seed: np.ndarray, color: str, label: str | None = None) -> None:
    """Mean, interval and seed dots at positions ``x`` (V,); per_seed (V, S)."""
    m, lo, hi = stats.mean_ci(per_seed, axis=1)
    ok = np.isfinite(m)
    if ok.any():
        ax.errorbar(np.asarray(x)[ok], m[ok], yerr=[m[ok] - lo[ok], hi[ok] - m[ok]], color=color,
                    marker="o", capsize=3, lw=1.4, label=label)
    for j in range(per_seed.shape[1]):
        ax.plot(x, per_seed[:, j], ls="none", marker=".", ms=3, color=color, alpha=0.45)


def plot_dose_panels(path: Path, knob: str, values, panels: list[dict], title: str,
                     ncols: int | None = None) -> Path:
    """Panels against the sweep's values, in one row (or rows of ``ncols``).

    ``panels``: dicts with ``title``, ``ylabel``, ``per_seed`` (V, S) array
    (NaN for a seed without a value), optional ``reference`` (a horizontal
    line, e.g. 0 for paired differences) and ``series``: a list of
    ``(label, per_seed)`` to draw several lines in one panel instead, with
    optional ``dodge`` (True: the series side by side around each value).
    """
    values = list(values)
    numeric = _numeric(values)
    has_zero = numeric and any(v == 0 for v in values)
    pos = [v for v in values if not numeric or v > 0]
    with style():
        n = len(panels)
        ncols = max(1, min(ncols or n, n))
        nrows = -(-n // ncols)
        fig = new_figure(3.6 * ncols, 3.2 * nrows)
        outer = fig.add_gridspec(nrows, ncols)
        for p, panel in enumerate(panels):
            series = panel.get("series") or [(None, panel["per_seed"])]
            cell = outer[p // ncols, p % ncols]
            if has_zero:
                inner = cell.subgridspec(1, 2, width_ratios=[1, 5], wspace=0.05)
                ax0 = fig.add_subplot(inner[0])
                ax = fig.add_subplot(inner[1], sharey=ax0)
                ax.tick_params(labelleft=False)
            else:
                ax0, ax = None, fig.add_subplot(cell)
            for i, (label, per_seed) in enumerate(series):
                per_seed = np.asarray(per_seed, dtype=float)
                color = OKABE_ITO[i % len(OKABE_ITO)]
                # "dodge": series side by side around each value, so that
                # overlaid runs' intervals do not hide one another
                off = (i - (len(series) - 1) / 2) if panel.get("dodge") else 0.0
                if numeric:
                    keep = [j for j, v in enumerate(values) if v > 0]
                    if keep:
                        _draw(ax, [values[j] * 10 ** (0.05 * off) for j in keep], per_seed[keep],
                              color, label)
                    if has_zero:
                        z = [j for j, v in enumerate(values) if v == 0]
                        _draw(ax0, [0.12 * off] * len(z), per_seed[z], color)
                else:
                    _draw(ax, np.arange(len(values)) + 0.08 * off, per_seed, color, label)
            if all(not np.isfinite(np.asarray(ps, dtype=float)).any() for _, ps in series):
                ax.text(0.5, 0.5, "no values\n(e.g. not learned in any seed)", ha="center",
                        va="center", transform=ax.transAxes, color="0.4")
            if numeric and pos:
                ax.set_xscale("log")
                if panel.get("dodge"):  # the offsets must not narrow the axis to one value
                    pad = 10 ** (1.0 if len(set(pos)) == 1 else 0.3)
                    ax.set_xlim(min(pos) / pad, max(pos) * pad)
            if not numeric:
                ax.set_xticks(np.arange(len(values)), [str(v) for v in values])
            if ax0 is not None:
                ax0.set_xticks([0.0], ["0\n(baseline)"])
                ax0.set_xlim(-1, 1)
                ax0.set_ylabel(panel["ylabel"])
                ax0.spines["right"].set_visible(False)
            else:
                ax.set_ylabel(panel["ylabel"])
            for a in (ax0, ax):
                if a is not None and panel.get("reference") is not None:
                    a.axhline(panel["reference"], color="0.5", lw=0.8, ls=":")
            ax.set_xlabel(f"{knob} (log scale)" if numeric and pos else knob)
            ax.set_title(panel["title"], loc="left")
            if len(series) > 1 and ax.get_legend_handles_labels()[0]:
                ax.legend(frameon=False, fontsize=7)
        fig.suptitle(title)
        return save_figure(fig, path)


def plot_dose_heatmap(path: Path, knob: str, values, ks, matrix: np.ndarray, text: list[list[str]],
                      title: str, cbar_label: str) -> Path:
    """Strength (rows) x frequency k (columns) heat map of ``matrix`` (V, K)
    with each cell's text (e.g. the median delay, or "not learned")."""
    matrix = np.asarray(matrix, dtype=float)
    with style():
        fig = new_figure(1.2 + 1.1 * len(ks), 1.2 + 0.45 * len(values))
        ax = fig.add_subplot()
        finite = matrix[np.isfinite(matrix)]
        lim = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
        im = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-lim, vmax=lim,
                       aspect="auto")
        ax.set_facecolor("0.85")  # not learned: grey
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
        ax.set_yticks(range(len(values)), [f"{v:g}" if _numeric([v]) else str(v) for v in values])
        ax.set_ylabel(knob)
        ax.set_title(title, loc="left")
        fig.colorbar(im, ax=ax, label=cbar_label)
        return save_figure(fig, path)
