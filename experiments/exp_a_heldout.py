"""Held-out points in experiment A (DEFINITIONS 12): trained on the even grid
points, measured on all.

The even points ``x = 2 pi (2m) / N`` and the odd ones ``2 pi (2m + 1) / N``
are each a uniform sub-grid of ``M = N / 2`` points; their spectra are the
exact sub-grid DFT at the true positions
(:func:`utils.frequency.subgrid_dft_coefficients`, ``n_grid = N`` so they
compare with the full grid's), never an FFT of irregular samples. Content up
to the sub-grid's Nyquist ``N / 4`` is exact; above it folds. ``Delta_k`` and
``g_k`` are reported on the training (even) and the held-out (odd) points
side by side; the main analysis' full-grid numbers mix both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments import exp_a_core as exp_a
from utils import frequency as fq
from utils import runs
from utils.visualization import exp_a_theory as viz

FILE = "exp_a_heldout.npz"
STRIDE = 2
CAPTIONS = {"exp_a_heldout.png": "Top: Delta_k on the training (even, solid) and held-out (odd, "
                                 "dashed) points. Bottom: final amplitude spectra on both "
                                 "sub-grids: a gap between them is what the network does off "
                                 "its training points."}


def subgrid_spectra(values: np.ndarray, ks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, heldout)`` coefficients of full-grid ``values`` ``(..., N)``
    on the even and the odd points, in the ``N``-point DFT convention."""
    tr = fq.subgrid_dft_coefficients(values[..., 0::STRIDE], ks, STRIDE, 0, n_grid=n)
    ho = fq.subgrid_dft_coefficients(values[..., 1::STRIDE], ks, STRIDE, 1, n_grid=n)
    return tr, ho


def heldout_metrics(cfg, steps: np.ndarray, preds: np.ndarray) -> dict:
    """``delta_train``, ``delta_heldout``, ``gain_train``, ``gain_heldout``
    ``(A, S, C, K)``; their learning times ``(A, S, K)``; final amplitude
    spectra ``amp_train``, ``amp_heldout`` ``(A, S, k_max + 1)`` up to
    ``min(spectrum_kmax, N/4 - 1)`` (``2 |H_k| / N``)."""
    n = cfg.n_points
    preds = preds.astype(np.float64)
    Y = np.stack([exp_a.target(cfg, s).y for s in cfg.seeds])                 # (S, N)
    Ytr, Yho = subgrid_spectra(Y, cfg.freqs, n)
    Htr, Hho = subgrid_spectra(preds, cfg.freqs, n)
    out = {"delta_train": fq.relative_error(Htr, Ytr[None, :, None, :]),
           "delta_heldout": fq.relative_error(Hho, Yho[None, :, None, :]),
           "gain_train": fq.spectral_gain(Htr, Ytr[None, :, None, :]),
           "gain_heldout": fq.spectral_gain(Hho, Yho[None, :, None, :])}
    for part in ("train", "heldout"):
        t, learned = fq.learning_times(np.moveaxis(out[f"delta_{part}"], -2, -1), steps, cfg.eps,
                                       cfg.window_checkpoints, cfg.window_fraction)
        out[f"t_learn_{part}"], out[f"learned_{part}"] = t, learned
    kmax = min(cfg.spectrum_kmax, n // 4 - 1)
    ks = np.arange(kmax + 1)
    atr, aho = subgrid_spectra(preds[:, :, -1], ks, n)
    out["amp_train"], out["amp_heldout"] = np.abs(atr) * 2 / n, np.abs(aho) * 2 / n
    out["spectrum_k"] = ks
    return out


def table(cfg, arms, hm: dict) -> dict:
    rows = []
    for a, arm in enumerate(arms):
        for j, k in enumerate(cfg.freqs):
            row = [arm.name, k]
            for part in ("train", "heldout"):
                med = exp_a.median_censored(hm[f"t_learn_{part}"][a, :, j],
                                             hm[f"learned_{part}"][a, :, j])
                row.append(f"{med:.0f}" if np.isfinite(med) else f"not learned by T={cfg.steps}")
            row += [f"{hm['delta_train'][a, :, -1, j].mean():.3f}",
                    f"{hm['delta_heldout'][a, :, -1, j].mean():.3f}"]
            rows.append(row)
    return {"title": f"Held-out points (trained on the even grid points): t_k (median) and "
                     f"final Delta_k (mean over {len(cfg.seeds)} seeds) on the training and "
                     "the held-out sub-grid (exact sub-grid DFT)",
            "columns": ["arm", "k", "t train points", "t held-out points", "final Delta train",
                        "final Delta held-out"],
            "rows": rows}


def render_figures(cfg, run_dir) -> list[Path]:
    """Draw the held-out figure from ``exp_a_heldout.npz`` alone."""
    run_dir = Path(run_dir)
    arms = exp_a.build_arms(cfg)
    hm = np.load(run_dir / FILE)
    return [viz.plot_heldout(run_dir / "figures" / "exp_a_heldout.png", hm["steps"],
                             hm["delta_train"].mean(axis=1), hm["delta_heldout"].mean(axis=1),
                             hm["spectrum_k"], hm["amp_train"].mean(axis=1),
                             hm["amp_heldout"].mean(axis=1), cfg.freqs,
                             [a.label() for a in arms], cfg.eps,
                             f"Experiment A trained on the even points: training vs held-out "
                             f"points, mean over {len(cfg.seeds)} seeds")]


def analyse_and_save(cfg, arms, run_dir, steps, preds, m, log=print) -> dict:
    """Measure, write ``exp_a_heldout.npz`` (the figure: :func:`render_figures`)."""
    run_dir = Path(run_dir)
    hm = heldout_metrics(cfg, steps, preds)
    runs.save_npz(run_dir / FILE, steps=steps, freqs=np.asarray(cfg.freqs),
                  arms=np.asarray([a.name for a in arms]), seeds=np.asarray(cfg.seeds), **hm)
    return {"tables": [table(cfg, arms, hm)],
            "figures": [{"file": f"figures/{n}", "caption": c} for n, c in CAPTIONS.items()],
            "summary": {"heldout_file": FILE}}
