"""Figures of experiment A's modes: theory overlay, kernel spectrum, label
noise, held-out points (experiments/exp_a_modes.py). Arrays in, file out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import arm_style, new_figure, save_figure, style


def _panels(n_arms: int, rows: int = 1, height: float = 3.0):
    fig = new_figure(3.2 * n_arms, height * rows)
    axes = fig.subplots(rows, n_arms, squeeze=False)
    return fig, axes


def plot_theory_overlay(path: Path, steps, measured, predicted, freqs, arms, eps: float,
                        title: str) -> Path:
    """One panel per arm: measured ``Delta_k`` (solid) and predicted (dashed),
    ``measured``/``predicted`` ``(A, C, K)``, log step axis."""
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, axes = _panels(len(arms))
        for a, (ax, arm) in enumerate(zip(axes[0], arms)):
            for j, k in enumerate(freqs):
                color = arm_style(j)["color"]
                ax.plot(steps[keep], measured[a, keep, j], color=color, label=f"k = {k} measured")
                ax.plot(steps[keep], predicted[a, keep, j], color=color, linestyle="--",
                        label=f"k = {k} predicted")
            ax.axhline(eps, color="0.3", linewidth=0.8, linestyle=":")
            ax.set_xscale("log")
            ax.set_title(arm, fontsize=7)
            ax.set_xlabel("training step (full batch)")
        axes[0, 0].set_ylabel(r"relative error $\Delta_k$")
        axes[0, 0].legend(loc="best", fontsize=6)
        fig.suptitle(title, fontsize=8)
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
        ax.legend(loc="best", fontsize=6)
        fig.suptitle(title, fontsize=8)
        return save_figure(fig, path)


def plot_noise_curves(path: Path, steps, delta_signal, delta_noise, freqs, noise_freqs, arms,
                      eps: float, title: str) -> Path:
    """Per arm: signal ``Delta_k`` (solid, ``(A, C, K)``) and ``Delta`` towards
    the noise at the noise frequencies (dashed, ``(A, C, Kn)``)."""
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, axes = _panels(len(arms))
        for a, (ax, arm) in enumerate(zip(axes[0], arms)):
            for j, k in enumerate(freqs):
                ax.plot(steps[keep], delta_signal[a, keep, j], color=arm_style(j)["color"],
                        label=f"signal k = {k}")
            for j, k in enumerate(noise_freqs):
                ax.plot(steps[keep], delta_noise[a, keep, j],
                        color=arm_style(len(freqs) + j)["color"], linestyle="--",
                        label=f"noise k = {k}")
            ax.axhline(eps, color="0.3", linewidth=0.8, linestyle=":")
            ax.set_xscale("log")
            ax.set_title(arm, fontsize=7)
            ax.set_xlabel("training step (full batch)")
        axes[0, 0].set_ylabel(r"$\Delta$ (signal: vs clean; noise: towards noise)")
        axes[0, 0].legend(loc="best", fontsize=6)
        fig.suptitle(title, fontsize=8)
        return save_figure(fig, path)


def plot_heldout(path: Path, steps, delta_train, delta_heldout, ks, amp_train, amp_heldout,
                 freqs, arms, eps: float, title: str) -> Path:
    """Top row: ``Delta_k`` on the training (solid) and held-out (dashed)
    points, ``(A, C, K)``. Bottom row: final amplitude spectra ``(A, k)``."""
    steps = np.asarray(steps, dtype=float)
    keep = steps > 0
    with style():
        fig, axes = _panels(len(arms), rows=2)
        for a, arm in enumerate(arms):
            ax = axes[0, a]
            for j, k in enumerate(freqs):
                color = arm_style(j)["color"]
                ax.plot(steps[keep], delta_train[a, keep, j], color=color,
                        label=f"k = {k} train points")
                ax.plot(steps[keep], delta_heldout[a, keep, j], color=color, linestyle="--",
                        label=f"k = {k} held-out points")
            ax.axhline(eps, color="0.3", linewidth=0.8, linestyle=":")
            ax.set_xscale("log")
            ax.set_title(arm, fontsize=7)
            ax.set_xlabel("training step (full batch)")
            ax = axes[1, a]
            ax.plot(ks, amp_train[a], color="0.2", label="train (even) points")
            ax.plot(ks, amp_heldout[a], color="tab:red", linestyle="--",
                    label="held-out (odd) points")
            ax.set_xlabel("frequency k")
        axes[0, 0].set_ylabel(r"$\Delta_k$")
        axes[1, 0].set_ylabel(r"final $2|H_k|/N$")
        axes[0, 0].legend(loc="best", fontsize=6)
        axes[1, 0].legend(loc="best", fontsize=6)
        fig.suptitle(title, fontsize=8)
        return save_figure(fig, path)
