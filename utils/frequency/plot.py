"""Notebook plots of the library's results: Fourier heat maps and their
paired differences, robustness curves, radial and per-filter spectra.

Imported on its own (``from utils.frequency import plot``), never by the
package: matplotlib is loaded only when a function here runs, and its
backend is the caller's. Every function takes an optional ``ax`` (or
``axes``), draws with constrained layout when it makes the figure, and
returns the figure. Names given by the caller (labels, titles) are shown as
they are, never read as mathtext.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._grid import as_float_array, describe
from .conv_spectra import FilterSpectra
from .heatmap import HeatmapDifference
from .spectrum import RadialSpectrum

__all__ = ["plot_heatmap", "plot_heatmap_difference", "plot_robustness_curves", "plot_spectrum"]

_C_P = "cycles/pixel"


def _plain(text) -> str:
    """User text shown literally: ``$`` would start mathtext."""
    return str(text).replace("$", r"\$")


def _figure_ax(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {describe(ax)}")
    return ax.figure, ax


def _heat_extent(P: int) -> list[float]:
    """imshow extent in c/p: position ``i`` holds frequency ``(i - P//2) / P``."""
    lo, hi = (-(P // 2) - 0.5) / P, (P - P // 2 - 0.5) / P
    return [lo, hi, hi, lo]  # rows downwards: u grows down, like the array


def _square_map(heat, name: str) -> np.ndarray:
    h = as_float_array(heat, name)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or h.size == 0:
        raise ValueError(f"{name}: expected a square (P, P) map, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError(f"{name}: contains non-finite values (NaN or inf)")
    return h


def plot_heatmap(heat, *, ax=None, title=None, vmin: float = 0.0, vmax: float = 1.0,
                 cmap: str = "viridis", colorbar: bool = True, label: str = "error rate"):
    """A Fourier heat map (:func:`fourier_heatmap`), DC in the middle, axes
    in c/p, on the fixed colour scale ``[vmin, vmax]`` (``[0, 1]`` for
    error rates, so maps of different models compare by eye)."""
    h = _square_map(heat, "heat")
    fig, ax = _figure_ax(ax, (4.2, 3.6))
    im = ax.imshow(h, extent=_heat_extent(h.shape[0]), vmin=vmin, vmax=vmax, cmap=cmap,
                   interpolation="nearest")
    ax.set_xlabel(f"v ({_C_P})")
    ax.set_ylabel(f"u ({_C_P})")
    if title is not None:
        ax.set_title(_plain(title))
    if colorbar:
        fig.colorbar(im, ax=ax, label=label)
    return fig


def plot_heatmap_difference(diff, *, ax=None, title=None, limit=None, colorbar: bool = True):
    """The mean paired difference map of :func:`paired_heatmap_difference`
    on a diverging scale centred at 0 (symmetric, ``limit`` or the largest
    ``|mean|``); cells whose interval excludes 0 are dotted, and the title
    line says the effect against the noise reference."""
    if not isinstance(diff, HeatmapDifference):
        raise TypeError(f"diff: expected a HeatmapDifference, got {describe(diff)}")
    m = diff.mean
    lim = float(np.abs(m).max()) if limit is None else float(limit)
    if not np.isfinite(lim) or lim < 0:
        raise ValueError(f"limit: expected None or a finite number >= 0, got {describe(limit)}")
    lim = lim or 1.0
    fig, ax = _figure_ax(ax, (4.6, 4.2))
    P = m.shape[0]
    extent = _heat_extent(P)
    im = ax.imshow(m, extent=extent, vmin=-lim, vmax=lim, cmap="RdBu_r", interpolation="nearest")
    i, j = np.nonzero(diff.excludes_zero)
    if len(i):
        ax.plot((j - P // 2) / P, (i - P // 2) / P, ".", color="black", markersize=2.5)
    ax.set_xlabel(f"v ({_C_P})")
    ax.set_ylabel(f"u ({_C_P})")
    head = "" if title is None else _plain(title) + "\n"
    ax.set_title(f"{head}mean |diff| {diff.effect:.3g} vs seed noise {diff.noise:.3g}, n = {diff.n}"
                 f"\ndots: {100 * diff.confidence:g}% interval excludes 0 (uncorrected)",
                 fontsize="small")
    if colorbar:
        fig.colorbar(im, ax=ax, label="treated - baseline")
    return fig


def _runs(results) -> dict[str, dict]:
    """``{label: robustness_curves result}`` from one result or a mapping."""
    if not isinstance(results, Mapping) or not results:
        raise TypeError(f"results: expected robustness_curves' dict or {{label: that dict}}, "
                        f"got {describe(results)}")
    first = next(iter(results.values()))
    if isinstance(first, Mapping) and "x" in first:
        return {"": results}
    if not all(isinstance(r, Mapping) and r for r in results.values()):
        raise TypeError("results: expected robustness_curves' dict or {label: that dict}")
    return dict(results)


def plot_robustness_curves(results, curves=None, *, metric: str = "acc", axes=None,
                           definitions=None):
    """Accuracy (``metric="acc"``) or mean cross-entropy (``"loss"``)
    against each curve's level, one panel per curve, one line per model.

    Args:
        results: the dict of :func:`robustness_curves`, or ``{label: that
            dict}`` for several models (same curves).
        curves: curve names to draw (default all, in order).
        axes: ``None`` (a new figure, one panel per curve), one Axes (one
            curve) or a sequence of Axes, one per curve.
        definitions: the :class:`Curve` list that was evaluated: its titles
            and axis labels name the panels (default: the curve names and
            "level").
    """
    runs = _runs(results)
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric: expected 'acc' or 'loss', got {describe(metric)}")
    first = next(iter(runs.values()))
    names = list(first) if curves is None else ([curves] if isinstance(curves, str) else list(curves))
    for label, run in runs.items():
        missing = [n for n in names if n not in run]
        if missing:
            raise ValueError(f"curves: {missing} not in the results of {label or 'the model'} "
                             f"(it has {list(run)})")
        if any(metric not in run[n] for n in names):
            raise ValueError(f"metric: {metric!r} not in the results of {label or 'the model'}")
    if not names:
        raise ValueError("curves: expected at least one curve name")
    defs = {}
    for c in definitions or ():
        if not hasattr(c, "xlabel") or not hasattr(c, "title"):
            raise TypeError(f"definitions: expected a list of Curve, got {describe(definitions)}")
        defs[c.name] = c
    import matplotlib.pyplot as plt

    if axes is None:
        cols = min(len(names), 3)
        rows = -(-len(names) // cols)
        fig, grid = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), layout="constrained",
                                 squeeze=False)
        axs = list(grid.ravel())
        for extra in axs[len(names):]:
            extra.set_visible(False)
    else:
        axs = [axes] if hasattr(axes, "plot") else list(axes)
        if len(axs) != len(names) or not all(hasattr(a, "plot") for a in axs):
            raise TypeError(f"axes: expected {len(names)} matplotlib Axes (one per curve), "
                            f"got {describe(axes)}")
        fig = axs[0].figure
    for ax, name in zip(axs, names):
        for label, run in runs.items():
            r = run[name]
            ax.plot(r["x"], r[metric], marker="o", markersize=3, label=_plain(label) or None)
        d = defs.get(name)
        ax.set_title(_plain(d.title if d else name), fontsize="medium")
        ax.set_xlabel(_plain(d.xlabel) if d else "level", fontsize="small")
        ax.set_ylabel("accuracy" if metric == "acc" else "mean cross-entropy")
        if metric == "acc":
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    if len(runs) > 1:
        axs[0].legend(fontsize="small")
    return fig


def _spectrum_line(spec, name: str):
    """(frequency, values, per-filter band or None, y label)."""
    if isinstance(spec, RadialSpectrum):
        mp = spec.mean_power.detach().cpu().double().numpy()
        if mp.ndim != 1:
            raise ValueError(f"{name}: expected a reduced spectrum (reduce='mean'), got mean_power "
                             f"of shape {mp.shape}")
        return spec.frequency.cpu().double().numpy(), mp, None, "mean power per bin"
    if isinstance(spec, FilterSpectra):
        per_bin = spec.fraction / spec.count
        live = np.isfinite(per_bin).all(axis=1)
        band = (np.percentile(per_bin[live], 10, axis=0), np.percentile(per_bin[live], 90, axis=0)) \
            if live.sum() > 1 else None
        return spec.frequency, spec.mean_fraction / spec.count, band, \
            "power fraction per bin (filter mean)"
    if isinstance(spec, tuple) and len(spec) == 2:  # get_radial_spectrum's (power, frequencies)
        power, freq = as_float_array(spec[0], name), as_float_array(spec[1], name)
        if power.ndim != 1 or power.shape != freq.shape:
            raise ValueError(f"{name}: expected (power, frequencies) of equal 1D shapes, got "
                             f"{power.shape} and {freq.shape}")
        return freq, power, None, "mean power per bin"
    raise TypeError(f"{name}: expected a RadialSpectrum, FilterSpectra or (power, frequencies), "
                    f"got {describe(spec)}")


def plot_spectrum(spectra, *, ax=None, title=None, nyquist: bool = True, logy: bool = True,
                  cutoff=None):
    """Radial spectra against frequency in c/p, one line per entry.

    Args:
        spectra: a :class:`RadialSpectrum` (``reduce="mean"``), a
            :class:`FilterSpectra` (mean over filters per bin, with the
            10-90% band of the filters), ``get_radial_spectrum``'s
            ``(power, frequencies)``, or ``{label: any of those}``.
        nyquist: stop at 0.5 c/p (the corner rings are left out of the plot
            only; energies include them).
        logy: logarithmic power axis.
        cutoff: draw the HFF cutoff (c/p) as a dashed line.
    """
    items = dict(spectra) if isinstance(spectra, Mapping) else {"": spectra}
    if not items:
        raise ValueError("spectra: expected at least one spectrum")
    lines = {label: _spectrum_line(s, "spectra") for label, s in items.items()}
    fig, ax = _figure_ax(ax, (4.6, 3.4))
    ylabel = None
    for label, (f, y, band, ylab) in lines.items():
        keep = f <= 0.5 + 1e-12 if nyquist else np.ones_like(f, bool)
        yy = np.where(y > 0, y, np.nan) if logy else y
        (line,) = ax.plot(f[keep], yy[keep], marker="o", markersize=2.5, label=_plain(label) or None)
        if band is not None:
            lo, hi = band
            if logy:
                lo, hi = np.where(lo > 0, lo, np.nan), np.where(hi > 0, hi, np.nan)
            ax.fill_between(f[keep], lo[keep], hi[keep], color=line.get_color(), alpha=0.2,
                            linewidth=0)
        ylabel = ylab if ylabel in (None, ylab) else "power per bin"
    if cutoff is not None:
        ax.axvline(float(cutoff), color="grey", linestyle="--", linewidth=1,
                   label=f"cutoff {float(cutoff):g} c/p")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(f"frequency ({_C_P})")
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(_plain(title), fontsize="medium")
    if len(lines) > 1 or cutoff is not None:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig
