"""Figures of Experiment A. They draw arrays the run saved; no science here."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm

from utils.runs import write_bytes

from .common import arm_key, arm_style, new_figure, save_figure, short_names, style

PANEL_COLUMNS = 4  # arms per row of panels: 8 arms make two rows, not one 26-inch strip


def _arm_panels(n_arms: int, width: float, height: float, extra_width: float = 0.0):
    """A grid of one panel per arm (at most :data:`PANEL_COLUMNS` a row), all
    sharing their y axis; panels left over in the last row are hidden.
    Returns (figure, the arms' axes in order, the grid)."""
    cols = min(n_arms, PANEL_COLUMNS)
    rows = -(-n_arms // cols)
    fig = new_figure(width * cols + extra_width, height * rows)
    grid = fig.subplots(rows, cols, sharey=True, squeeze=False)
    for ax in grid.ravel()[n_arms:]:
        ax.set_visible(False)
    return fig, list(grid.ravel()[:n_arms]), grid


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
        fig, axes, grid = _arm_panels(len(arms), 3.0, 2.6)
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
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
        arm_key(fig, arms)
        fig.suptitle(f"{title}\nmean and 95% interval over {n_seeds} seeds")
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
        fig, axes, grid = _arm_panels(len(arms), 3.0, 2.8, extra_width=0.8)
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
        fig.suptitle(title + "\n(arrows: target frequencies; dark = no error)")
        out = save_figure(fig, path)
    return out


def make_fit_gif(path: Path, x, y, preds, frame_steps, y_amp, pred_amp, freqs, arms,
                 title: str, duration_ms: int = 100) -> Path:
    """Animated fit: top row target and prediction over ``x``; bottom row the
    amplitude spectrum ``|H_k|`` against ``|Y_k|`` with the target bins
    marked. One column per arm, fixed axes across frames.

    Args:
        x, y: ``(N,)`` grid and target.
        preds: ``(A, F, N)`` predictions at ``F`` frames.
        frame_steps: ``(F,)`` step of each frame.
        y_amp: ``(Kmax + 1,)`` target amplitude spectrum; ``pred_amp``: ``(A, F, Kmax + 1)``.
        duration_ms: display time per frame, milliseconds (imageio v3 / Pillow).
    """
    preds = np.asarray(preds)
    n_arms, n_frames = preds.shape[:2]
    kk = np.arange(len(y_amp))
    ylim = 1.15 * max(np.abs(y).max(), 1e-9)
    amp_max = 1.2 * max(float(np.max(y_amp)), 1e-9)
    with style():
        fig = new_figure(3.3 * n_arms, 4.6)
        fig.set_dpi(64)  # keeps an 80-frame GIF under 2 MB
        canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(2, n_arms, squeeze=False)
        lines, bars = [], []
        for a, arm in enumerate(arms):
            top, bot = axes[0, a], axes[1, a]
            top.plot(x, y, color="0.6", linewidth=1.0, label="target")
            (ln,) = top.plot(x, preds[a, 0], color=arm_style(a)["color"], linewidth=1.0,
                             label="network")
            top.set_ylim(-ylim, ylim)
            top.set_xlim(x[0], x[-1])
            top.set_title(arm, fontsize=8)
            top.set_xlabel("x (rad)")
            bot.plot(kk, y_amp, color="0.6", marker="o", markersize=3, linestyle="none",
                     label="|Y_k| target")
            (bl,) = bot.plot(kk, pred_amp[a, 0], color=arm_style(a)["color"], linewidth=1.0,
                             label="|H_k| network")
            for k in freqs:
                bot.axvline(k, color="0.3", linewidth=0.6, linestyle=":")
            bot.set_ylim(0, amp_max)
            bot.set_xlim(0, kk[-1])
            bot.set_xlabel("frequency k")
            lines.append(ln)
            bars.append(bl)
            if a == 0:
                top.legend(loc="upper right", fontsize=7)
                bot.legend(loc="upper right", fontsize=7)
                bot.set_ylabel("amplitude")
        sup = fig.suptitle(title)
        frames = []
        for f in range(n_frames):
            for a in range(n_arms):
                lines[a].set_ydata(preds[a, f])
                bars[a].set_ydata(pred_amp[a, f])
            sup.set_text(f"{title}\nstep {int(frame_steps[f]):,}")
            canvas.draw()
            frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    path = Path(path)  # encoded in memory, written atomically, never through a link
    return write_bytes(path, iio.imwrite("<bytes>", np.stack(frames), extension=".gif",
                                         duration=duration_ms, loop=0))
