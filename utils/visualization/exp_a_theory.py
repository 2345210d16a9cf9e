"""Figures of experiment A's modes: theory overlay, kernel spectrum, label
noise, held-out points (experiments/exp_a_modes.py). Arrays in, file out.

The per-arm curve figures share one layout (:func:`_panels`,
:func:`_step_panel`): panels titled by the arms' short names with the arms'
key under them, and one legend beside them (:func:`_key_legend`): colour =
frequency, line style = what the curve is, the dotted ``eps`` line; a
legend inside a panel covered its curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from .common import (arm_key, arm_panels, arm_style, new_figure, save_figure, short_names,
                     style, suptitle)

EPS_LINE = {"color": "0.3", "linewidth": 0.8, "linestyle": ":"}
KEY_COLOR = "0.2"          # line-style entries of the key (colour-neutral)


def _panels(n_arms: int, rows: int = 1, height: float = 3.0, ylabels=()):
    """A's arm grid (:func:`arm_panels`: at most 4 arms a row), a cell of
    ``rows`` panels per arm; panels of one kind share their y axis (same
    scale: the arms compare at a glance) and carry ``ylabels`` (one per kind)
    in the grid's first column. Panels are titled by the arms' short names;
    :func:`arm_key` under them says what each is.

    Returns (figure, per arm its ``rows`` axes, top first)."""
    fig, cells, grid = arm_panels(n_arms, 3.2, height * rows, extra_width=1.4,  # + the legend
                                  stacked=rows)
    cells = [np.atleast_1d(c) for c in cells]
    for i, label in enumerate(ylabels):
        for ax in grid[i::rows, 0]:
            ax.set_ylabel(label)
    return fig, cells


def _step_panel(ax, title: str, eps: float | None) -> None:
    """What every per-arm curve panel has: the ``eps`` line, a log step axis
    from 1, the arm as title, the x label, ``Delta >= 0`` from 0."""
    if eps is not None:
        ax.axhline(eps, **EPS_LINE)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0.0)
    ax.set_title(title, fontsize=7)
    ax.set_xlabel("training step (full batch)")


def _key_legend(fig, entries: list[tuple], eps: float | None) -> None:
    """One legend beside the panels (the arms' key takes the space below):
    ``entries`` ``(label, colour, linestyle)`` or ``(label, colour,
    linestyle, line kwargs)`` (``colour=None``: the key's neutral colour, for
    a line-style entry), then the eps line."""
    handles = [Line2D([], [], **{"color": KEY_COLOR if e[1] is None else e[1], "linestyle": e[2],
                                 "linewidth": 1.6, **(e[3] if len(e) > 3 else {})}, label=e[0])
               for e in entries]
    if eps is not None:
        handles.append(Line2D([], [], **EPS_LINE, label=f"eps = {eps:g}"))
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)


def _k_entries(freqs, offset: int = 0, prefix: str = "k = ", linestyle="-") -> list:
    """Colour entries of the key, one per frequency (colour = frequency)."""
    return [(f"{prefix}{k}", arm_style(offset + j)["color"], linestyle)
            for j, k in enumerate(freqs)]


def plot_theory_overlay(path: Path, steps, measured, predicted, freqs, arms, eps: float,
                        title: str) -> Path:
    """One panel per arm: measured ``Delta_k`` (solid) and predicted (dashed),
    ``measured``/``predicted`` ``(A, C, K)``, log step axis."""
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, cells = _panels(len(arms), ylabels=[r"relative error $\Delta_k$"])
        for a, ((ax,), arm) in enumerate(zip(cells, short_names(arms))):
            for j in range(len(freqs)):
                color = arm_style(j)["color"]
                ax.plot(steps[keep], measured[a, keep, j], color=color)
                ax.plot(steps[keep], predicted[a, keep, j], color=color, linestyle="--",
                        linewidth=1.6)
            _step_panel(ax, arm, eps)
        _key_legend(fig, _k_entries(freqs) + [("measured", None, "-"),
                                              ("predicted (linearised network)", None, "--")], eps)
        arm_key(fig, arms)
        suptitle(fig, title, fontsize=8)
        return save_figure(fig, path)


def plot_ntk_spectrum(path: Path, eigenvalues, rayleigh, freqs, title: str) -> Path:
    """Kernel eigenvalues (descending, log y) against index, with each target
    mode's Rayleigh quotient as a horizontal line."""
    lam = np.asarray(eigenvalues, dtype=float)
    with style():
        fig = new_figure(5.0, 3.4)
        ax = fig.subplots()
        pos = lam > 0
        ax.plot(np.arange(lam.size)[pos], lam[pos], color="0.2", label="eigenvalue")
        for j, k in enumerate(freqs):
            st = arm_style(j)
            ax.axhline(rayleigh[j], color=st["color"], linestyle="--",
                       label=f"k = {k}: Rayleigh quotient {rayleigh[j]:.3g}")
        ax.set_yscale("log")
        ax.set_xlabel("eigenvalue index i (descending)")
        ax.set_ylabel(r"$\lambda_i$ of $\Theta_0$")
        ax.legend(loc="lower left", fontsize=6)
        suptitle(fig, title, fontsize=8)
        return save_figure(fig, path)


def plot_noise_curves(path: Path, steps, delta_signal, delta_noise, freqs, noise_freqs, arms,
                      eps: float, title: str) -> Path:
    """Per arm: signal ``Delta_k`` (solid, ``(A, C, K)``) and ``Delta`` towards
    the noise at the noise frequencies (dashed, ``(A, C, Kn)``)."""
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, cells = _panels(len(arms), ylabels=[r"relative error $\Delta$"])
        for a, ((ax,), arm) in enumerate(zip(cells, short_names(arms))):
            for j in range(len(freqs)):
                ax.plot(steps[keep], delta_signal[a, keep, j], color=arm_style(j)["color"])
            for j in range(len(noise_freqs)):
                ax.plot(steps[keep], delta_noise[a, keep, j],
                        color=arm_style(len(freqs) + j)["color"], linestyle="--", linewidth=1.6)
            _step_panel(ax, arm, eps)
        _key_legend(fig, _k_entries(freqs, prefix="signal k = ")
                    + _k_entries(noise_freqs, len(freqs), prefix="noise k = ", linestyle="--"),
                    eps)
        arm_key(fig, arms)
        suptitle(fig, title, fontsize=8)
        return save_figure(fig, path)


# Held-out figure: the training-points curve broad and light, the held-out one
# thin and dashed on top, so that both stay visible where they coincide.
TRAIN_LINE = {"linewidth": 3.0, "alpha": 0.4}
HELDOUT_LINE = {"linewidth": 1.2, "linestyle": "--"}


def plot_heldout(path: Path, steps, delta_train, delta_heldout, ks, amp_train, amp_heldout,
                 freqs, arms, eps: float, title: str) -> Path:
    """Per arm, above: ``Delta_k`` on the training (broad, light) and held-out (thin,
    dashed) points, ``(A, C, K)``; below: final amplitude spectra
    ``(A, k)``, the same line styles in the key's neutral colour."""
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, cells = _panels(len(arms), rows=2, ylabels=[r"$\Delta_k$", r"final $2|H_k|/N$"])
        for a, ((ax, spectrum), arm) in enumerate(zip(cells, short_names(arms))):
            for j in range(len(freqs)):
                color = arm_style(j)["color"]
                ax.plot(steps[keep], delta_train[a, keep, j], color=color, **TRAIN_LINE)
                ax.plot(steps[keep], delta_heldout[a, keep, j], color=color, **HELDOUT_LINE)
            _step_panel(ax, arm, eps)
            spectrum.plot(ks, amp_train[a], color=KEY_COLOR, **TRAIN_LINE)
            spectrum.plot(ks, amp_heldout[a], color=KEY_COLOR, **HELDOUT_LINE)
            spectrum.set_xlabel("frequency k")
        _key_legend(fig, _k_entries(freqs) + [("training (even) points", None, "-", TRAIN_LINE),
                                              ("held-out (odd) points", None, "--",
                                               HELDOUT_LINE)], eps)
        arm_key(fig, arms)
        suptitle(fig, title, fontsize=8)
        return save_figure(fig, path)
