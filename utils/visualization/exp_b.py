"""Figures of Experiment B (first-layer spectrum on images). They draw arrays
the run saved; means and intervals over seeds are computed by the experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize

from .common import (arm_key, arm_style, arm_ticks, integer_ticks, legend_below, new_figure, save_figure,
                     short_names, style, wrap_text)


def plot_arm_curves(path: Path, x, mean, lo, hi, arms, *, xlabel: str, ylabel: str, title: str,
                    reference: float | None = None, reference_label: str | None = None,
                    ylim=None, integer_x: bool = False) -> Path:
    """One line per arm with its 95% band over seeds; the legend sits under
    the axes so that it never covers a curve, however many arms.

    Args:
        x: ``(T,)``; mean, lo, hi: ``(A, T)``; arms: ``A`` labels.
        integer_x: ticks at whole numbers only (epoch axes).
    """
    with style():
        fig = new_figure(6.0, 3.2)
        ax = fig.add_subplot()
        for a, arm in enumerate(arms):
            st = arm_style(a)
            ax.plot(x, mean[a], color=st["color"], linestyle=st["linestyle"],
                    marker=st["marker"], markersize=3, label=arm)
            ax.fill_between(x, lo[a], hi[a], color=st["color"], alpha=0.18, linewidth=0)
        if reference is not None:
            ax.axhline(reference, color="0.35", linewidth=0.9, linestyle=":",
                       label=reference_label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if integer_x:
            integer_ticks(ax.xaxis)
        legend_below(fig, ax)
        ax.set_title(wrap_text(title, 5.6, 10), fontsize=10)  # long titles wrap, never clip
        out = save_figure(fig, path)
    return out


def plot_spectrum_evolution(path: Path, freqs, epochs, profiles, arms, title: str,
                            fmax: float = 0.5, *, cutoff: float) -> Path:
    """Heat maps, one panel per arm: frequency (c/p, up to ``fmax``) against
    epoch, colour = log10 of the ring's share of the layer's energy (each
    epoch's profile divided by its total, so arms with different weight
    norms compare on one shared colour scale).

    Args:
        freqs: ``(R,)`` ring frequencies; epochs: ``(E+1,)`` (0 = init);
        profiles: ``(A, E+1, R)`` normalised mean power (mean over seeds).
        cutoff: the run's HFF cut in c/p, drawn dashed and named in the title
            (required: a hard-coded 0.25 mislabels runs made at another cut).
    """
    freqs = np.asarray(freqs)
    keep = freqs <= fmax + 1e-9
    logp = np.log10(np.clip(np.asarray(profiles)[..., keep], 1e-12, None))
    norm = Normalize(vmin=float(np.percentile(logp, 1)), vmax=float(logp.max()))
    n = len(arms)
    with style():
        fig = new_figure(2.4 * n + 1.4, 3.5)
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        mesh = None
        for a, (ax, arm) in enumerate(zip(axes, short_names(arms))):
            mesh = ax.pcolormesh(freqs[keep], epochs, logp[a], norm=norm, cmap="viridis",
                                 shading="nearest", rasterized=True)
            ax.set_title(arm, fontsize=8)
            ax.set_xlabel("frequency (c/p)")
            ax.axvline(cutoff, color="w", linewidth=0.6, linestyle="--")
        axes[0].set_ylabel("epoch (0 = initialisation)")
        integer_ticks(axes[0].yaxis)  # shared y: one locator serves every panel
        fig.colorbar(mesh, ax=axes.tolist(),
                     label="log10 power per ring\n/ layer energy")
        arm_key(fig, arms)
        fig.suptitle(wrap_text(title, 2.4 * n + 1.2, 10)
                     + f"\n(dashed: HFF cut {cutoff:g} c/p; one shared colour scale)")
        out = save_figure(fig, path)
    return out


def plot_ssr_comparison(path: Path, arms, panels: dict, title: str) -> Path:
    """Grouped bars: for each panel (comparison), SSR per arm in both flavours
    with 95% intervals over seeds and the per-seed values as dots.

    Args:
        panels: ``{panel title: {flavour: {"mean": (A,), "lo": (A,), "hi": (A,),
            "values": (A, S)}}}``; NaN bars (e.g. baseline vs itself) are skipped.
    """
    n = len(panels)
    flavours = list(next(iter(panels.values())))
    width = 0.8 / len(flavours)
    x = np.arange(len(arms))
    with style():
        fig = new_figure(max(4.2 * n, 0.5 * len(arms) + 2.5), 3.8)
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (ptitle, flav) in zip(axes, panels.items()):
            for f, name in enumerate(flavours):
                d = flav[name]
                mean = np.asarray(d["mean"], dtype=float)
                ok = np.isfinite(mean)
                xs = x + (f - (len(flavours) - 1) / 2) * width
                err = np.vstack([mean - d["lo"], np.asarray(d["hi"]) - mean])
                ax.bar(xs[ok], mean[ok], width * 0.92, color=arm_style(f)["color"],
                       alpha=0.75, hatch=["", "//", "..", "xx"][f % 4], label=name,
                       yerr=err[:, ok], capsize=3, error_kw={"linewidth": 0.9})
                vals = np.asarray(d["values"], dtype=float)
                for a in np.flatnonzero(ok):
                    ax.plot(np.full(vals.shape[1], xs[a]), vals[a], "k.", markersize=3)
            ax.axhline(0, color="0.2", linewidth=0.8)
            arm_ticks(ax, x, arms)
            ax.set_ylabel(wrap_text("SSR  (> 0: high frequencies suppressed)", 2.4))
            ax.set_title(wrap_text(ptitle, 3.8), fontsize=9)
        legend_below(fig, axes[0])
        arm_key(fig, arms)
        fig.suptitle(wrap_text(title, 4.0 * n, 10)
                     + "\nbars: mean, whiskers: 95% interval over seeds, dots: seeds")
        out = save_figure(fig, path)
    return out


def plot_radial_profiles(path: Path, freqs, init, final_mean, final_lo, final_hi, arms,
                         title: str) -> Path:
    """Normalised radial profile at initialisation and at the end per arm
    (log y), with 95% bands over seeds.

    Args:
        init: ``(R,)``; final_*: ``(A, R)``.
    """
    with style():
        fig = new_figure(6.0, 3.2)
        ax = fig.add_subplot()
        ax.plot(freqs, init, color="0.5", linewidth=1.2, label="initialisation")
        for a, arm in enumerate(arms):
            st = arm_style(a)
            ax.plot(freqs, final_mean[a], color=st["color"], linestyle=st["linestyle"],
                    label=arm)
            ax.fill_between(freqs, final_lo[a], final_hi[a], color=st["color"], alpha=0.18,
                            linewidth=0)
        ax.axvline(0.5, color="0.3", linewidth=0.7, linestyle=":", label="Nyquist")
        ax.set_yscale("log")
        ax.set_xlabel("frequency (cycles/pixel)")
        ax.set_ylabel("mean power per ring / layer energy")
        legend_below(fig, ax, fontsize=7)  # under the axes: never over a profile
        ax.set_title(wrap_text(title + " (arms: final epoch)", 5.6, 10), fontsize=10)
        out = save_figure(fig, path)
    return out


def plot_kernels(path: Path, kernels, arms, title: str, n_show: int = 16) -> Path:
    """First-layer kernels per arm (rows), the first ``n_show`` filters.
    Each kernel is scaled symmetrically by its own max |w| (grey = 0) so the
    shape, not the norm, is what one compares; the norm is in the label.

    Args:
        kernels: ``(A, O, C, k, k)``.
    """
    kernels = np.asarray(kernels, dtype=float)
    n_arms, n_out = kernels.shape[:2]
    n_show = min(n_show, n_out)
    with style():
        fig = new_figure(0.55 * n_show + 1.2, 0.7 * n_arms + 0.8)
        axes = fig.subplots(n_arms, n_show, squeeze=False)
        for a in range(n_arms):
            for j in range(n_show):
                w = kernels[a, j]
                scale = np.abs(w).max() or 1.0
                img = 0.5 + 0.5 * w / scale
                img = img.transpose(1, 2, 0) if img.shape[0] in (3, 4) else img[0]
                ax = axes[a, j]
                ax.imshow(img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1,
                          interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
            norm = np.sqrt((kernels[a] ** 2).sum())
            axes[a, 0].set_ylabel(f"{short_names(arms)[a]}\n||W||={norm:.2f}", fontsize=6,
                                  rotation=0, ha="right", va="center")
        arm_key(fig, arms, fontsize=6)
        fig.suptitle(wrap_text(title, 0.55 * n_show + 1.0, 9), fontsize=9)
        out = save_figure(fig, path)
    return out
