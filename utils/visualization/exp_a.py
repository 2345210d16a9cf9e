"""Figures of Experiment A. They draw arrays the run saved; no science here."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D

from utils.runs import write_bytes

from .common import (arm_key, arm_panels, arm_style, names_as_typed, save_figure,
                     short_names, style, suptitle)


def plot_frequency_curves(path: Path, steps, mean, lo, hi, freqs, arms, eps: float,
                          n_seeds: int, title: str, ylabel: str = r"relative error $\Delta_k$",
                          reference: float | None = None, log_y: bool = False) -> Path:
    """One panel per arm: a per-frequency curve against step (log x), with
    the mean over seeds and its 95% band.

    Args:
        steps: ``(C,)`` checkpoint steps (> 0 drawn).
        mean, lo, hi: ``(A, C, K)`` mean and interval over seeds.
        freqs: ``(K,)``; arms: ``A`` labels (legends say exactly what each is).
        eps: threshold line (learned below it); ``reference``: an extra
            horizontal line (1.0 for gains).
    """
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, axes, grid = arm_panels(len(arms), 3.0, 2.6, extra_width=1.3)  # + the legend
        for a, (ax, arm) in enumerate(zip(axes, short_names(arms))):
            for j, k in enumerate(freqs):
                st = arm_style(j)
                ax.plot(steps[keep], mean[a, keep, j], color=st["color"],
                        linestyle=st["linestyle"], label=f"k = {k}")
                ax.fill_between(steps[keep], lo[a, keep, j], hi[a, keep, j],
                                color=st["color"], alpha=0.2, linewidth=0)
            if eps is not None:
                ax.axhline(eps, color="0.3", linewidth=0.8, linestyle=":",
                           label=f"eps = {eps:g} (learned below)")
            if reference is not None:
                ax.axhline(reference, color="0.3", linewidth=0.8, linestyle=":")
            ax.set_xscale("log")
            if log_y:
                ax.set_yscale("log")
            ax.set_title(arm, fontsize=8)
            ax.set_xlabel("training step (full batch)")
        for ax in grid[:, 0]:
            ax.set_ylabel(ylabel)
        # colour = frequency: one legend for every panel, beside them (the
        # arms' key takes the space below; two legends there overlap)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=8)
        arm_key(fig, arms)
        suptitle(fig, f"{title}\nmean and 95% interval over {n_seeds} seeds")
        out = save_figure(fig, path)
    return out


def plot_spectrum_heatmaps(path: Path, steps, residual, freqs, arms, title: str) -> Path:
    """Full-spectrum error maps: for each arm, frequency ``k`` (rows, up to
    ``residual.shape[-1] - 1``) against step (log x), colour = residual
    amplitude ``|H_k - Y_k| * 2 / N`` (sine-amplitude units), log colour scale
    shared by all arms. Target frequencies are marked on the k axis.

    Args:
        residual: ``(A, C, Kmax + 1)`` mean over seeds.
    """
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    r = np.asarray(residual)[:, keep, :]
    finite = r[np.isfinite(r) & (r > 0)]
    vmax = float(finite.max()) if finite.size else 1.0
    vmin = max(vmax * 1e-4, float(finite.min()) if finite.size else 1e-6)
    kk = np.arange(r.shape[-1])
    with style():
        fig, axes, grid = arm_panels(len(arms), 3.0, 2.8, extra_width=0.8)
        fig.get_layout_engine().set(wspace=0.08)  # room for the arrows between panels
        mesh = None
        for a, (ax, arm) in enumerate(zip(axes, short_names(arms))):
            mesh = ax.pcolormesh(steps[keep], kk, np.clip(r[a].T, vmin, None),
                                 norm=LogNorm(vmin=vmin, vmax=vmax), cmap="magma",
                                 shading="nearest", rasterized=True)
            ax.set_xscale("log")
            ax.set_title(arm, fontsize=8)
            ax.set_xlabel("training step")
            for k in freqs:  # arrows outside the panel keep the target rows visible
                ax.annotate("", xy=(1.0, k), xycoords=("axes fraction", "data"),
                            xytext=(1.06, k), textcoords=("axes fraction", "data"),
                            arrowprops={"arrowstyle": "->", "color": "0.2", "linewidth": 0.8})
        for ax in grid[:, 0]:
            ax.set_ylabel("frequency k (cycles per period)")
        fig.colorbar(mesh, ax=grid.ravel().tolist(), label=r"residual amplitude $2|H_k-Y_k|/N$")
        arm_key(fig, arms)
        suptitle(fig, title + "\n(arrows: target frequencies; dark = no error)")
        out = save_figure(fig, path)
    return out


def fit_figure(x, y, preds, y_amp, pred_amp, freqs, arms, title: str):
    """The figure of :func:`make_fit_gif`, laid out once, and ``show(f, step)``
    that sets it to frame ``f`` (titled with ``step``), draws it and returns
    its RGB pixels. Arms are laid out as A's static figures: a grid of at most
    :data:`~.common.PANEL_COLUMNS` cells a row, titled by short name, with the
    regimens in a key below; a cell is the fit over ``x`` above the amplitude
    spectrum. Arguments as in :func:`make_fit_gif`."""
    preds, pred_amp = np.asarray(preds), np.asarray(pred_amp)
    kk = np.arange(len(y_amp))
    ylim = 1.15 * max(np.abs(y).max(), 1e-9)
    amp_max = 1.2 * max(float(np.max(y_amp)), 1e-9)
    with style():
        fig, cells, grid = arm_panels(len(arms), 3.0, 4.2, extra_width=1.5, stacked=2)
        fig.set_dpi(64)  # keeps an 80-frame GIF under 2 MB
        canvas = FigureCanvasAgg(fig)
        lines, spectra = [], []
        for a, ((top, bot), arm) in enumerate(zip(cells, short_names(arms))):
            colour = arm_style(a)["color"]
            top.plot(x, y, color="0.6", linewidth=1.0)
            lines += top.plot(x, preds[a, 0], color=colour, linewidth=1.0)
            top.set_ylim(-ylim, ylim)
            top.set_xlim(x[0], x[-1])
            top.set_title(arm, fontsize=8)
            top.set_xlabel("x (rad)")
            bot.plot(kk, y_amp, color="0.6", marker="o", markersize=3, linestyle="none")
            spectra += bot.plot(kk, pred_amp[a, 0], color=colour, linewidth=1.0)
            for k in freqs:
                bot.axvline(k, color="0.3", linewidth=0.6, linestyle=":")
            bot.set_ylim(0, amp_max)
            bot.set_xlim(0, kk[-1])
            bot.set_xlabel("frequency k")
        for top, bot in grid[:, 0].reshape(-1, 2):
            top.set_ylabel("y(x)")
            bot.set_ylabel("amplitude")
        # one legend for every cell, beside them (the arms' key takes the space below)
        handles = [Line2D([], [], color="0.6", linewidth=1.0),
                   Line2D([], [], color="0.6", marker="o", markersize=3, linestyle="none"),
                   Line2D([], [], color=arm_style(0)["color"], linewidth=1.0),
                   Line2D([], [], color="0.3", linewidth=0.6, linestyle=":")]
        fig.legend(handles, ["target y(x)", "target |Y_k|", "network h(x), |H_k|\n(colour: arm)",
                             "target frequencies"], loc="outside right center", fontsize=7)
        arm_key(fig, arms)
        # laid out once, for the widest title: the axes stay put from frame to frame
        sup = suptitle(fig, f"{title}\nstep {10 ** 9:,}")
        head = sup.get_text().rsplit("\n", 1)[0]  # the title as wrapped to the figure
        names_as_typed(fig)
        canvas.draw()  # twice: the layout settles once the tick labels have been drawn
        canvas.draw()
        fig.set_layout_engine("none")

    def show(f: int, step: int) -> np.ndarray:
        for a, (line, spectrum) in enumerate(zip(lines, spectra)):
            line.set_ydata(preds[a, f])
            spectrum.set_ydata(pred_amp[a, f])
        sup.set_text(f"{head}\nstep {int(step):,}")
        with style():
            canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    return fig, show


def make_fit_gif(path: Path, x, y, preds, frame_steps, y_amp, pred_amp, freqs, arms,
                 title: str, duration_ms: int = 100) -> Path:
    """Animated fit: per arm, target and prediction over ``x`` above the
    amplitude spectrum ``|H_k|`` against ``|Y_k|`` with the target bins
    marked; fixed axes across frames, laid out by :func:`fit_figure`.

    Args:
        x, y: ``(N,)`` grid and target.
        preds: ``(A, F, N)`` predictions at ``F`` frames.
        frame_steps: ``(F,)`` step of each frame.
        y_amp: ``(Kmax + 1,)`` target amplitude spectrum; ``pred_amp``: ``(A, F, Kmax + 1)``.
        arms: ``A`` labels (``name (regimen)``): cells are titled by the short
            name, the regimens listed in a key under the figure.
        duration_ms: display time per frame, milliseconds (imageio v3 / Pillow).
    """
    _, show = fit_figure(x, y, preds, y_amp, pred_amp, freqs, arms, title)
    frames = np.stack([show(f, step) for f, step in enumerate(frame_steps)])
    path = Path(path)  # encoded in memory, written atomically, never through a link
    return write_bytes(path, iio.imwrite("<bytes>", frames, extension=".gif",
                                         duration=duration_ms, loop=0))
