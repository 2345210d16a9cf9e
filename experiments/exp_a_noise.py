"""Label noise in experiment A: is the noise memorised or refused (DEFINITIONS 12)?

The network is trained on ``y + sum_n a_n sin(k_n x + phi) + white``; the
main analysis measures it against the clean ``y`` as always. Here it is also
measured against the noise: at each noise frequency, ``Delta`` and gain of
the network's coefficient ``H_kn`` towards the noise's ``Z_kn`` (the clean
target is 0 there): ``Delta`` near 0 = memorised, gain near 0 = refused, with
its own learning time ``t_kn`` (same sustained-window rule). White noise is
summarised by the fraction of it the network reproduces on the grid
(:func:`white_fit`: 1 = memorised, 0 = ignored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments import exp_a_modes as modes
from experiments import exp_a_core as exp_a
from utils import frequency as fq
from utils import runs
from utils.visualization import exp_a_theory as viz

FILE = "exp_a_noise.npz"
CAPTIONS = {"exp_a_noise_curves.png": "Per arm: Delta_k of the signal frequencies against the "
                                      "clean target (solid) and Delta towards the label noise at "
                                      "the noise frequencies (dashed): a dashed curve that falls "
                                      "below eps means the noise was memorised."}


def noise_metrics(cfg, steps: np.ndarray, preds: np.ndarray) -> dict:
    """``preds`` ``(A, S, C, N)`` on the full grid. Returns ``noise_delta``,
    ``noise_gain`` ``(A, S, C, Kn)``, ``noise_t_learn``/``noise_learned``
    ``(A, S, Kn)`` and ``white_fit`` ``(A, S, C)`` (NaN without white noise)."""
    kn = list(cfg.noise_freqs)
    A, S, C, N = preds.shape
    out = {"noise_delta": np.empty((A, S, C, len(kn))), "noise_gain": np.empty((A, S, C, len(kn))),
           "white_fit": np.full((A, S, C), np.nan)}
    for s, seed in enumerate(cfg.seeds):
        target = exp_a.target(cfg, seed)
        sinus, white = modes.noise_parts(cfg, target.x, seed)
        h = preds[:, s].astype(np.float64)                                   # (A, C, N)
        if kn:
            Z = fq.dft_coefficients(sinus, kn)
            H = fq.dft_coefficients(h, kn)
            out["noise_delta"][:, s] = fq.relative_error(H, Z)
            out["noise_gain"][:, s] = fq.spectral_gain(H, Z)
        if cfg.white_noise > 0:
            out["white_fit"][:, s] = white_fit(h - target.y, sinus, white)
    t, learned = fq.learning_times(np.moveaxis(out["noise_delta"], -2, -1), steps, cfg.eps,
                                   cfg.window_checkpoints, cfg.window_fraction)
    out["noise_t_learn"], out["noise_learned"] = t, learned
    return out


def white_fit(excess: np.ndarray, sinus: np.ndarray, white: np.ndarray) -> np.ndarray:
    """Coefficient of ``white`` in the least-squares fit of ``excess = h - y``
    (``(..., N)``) on ``[sinus, white]`` jointly: 1 when the white noise is
    reproduced, 0 when ignored, unaffected by how much of the sinusoidal noise
    is fitted (fitting on ``white`` alone would pick up their overlap)."""
    cols = [sinus, white] if np.any(sinus) else [white]
    X = np.stack(cols, axis=1)                                            # (N, 1 or 2)
    e = excess.reshape(-1, excess.shape[-1])
    coef, *_ = np.linalg.lstsq(X, e.T, rcond=None)
    return coef[-1].reshape(excess.shape[:-1])


def verdict(final_delta: float, final_gain: float, eps: float) -> str:
    """Memorised (Delta towards the noise below eps), refused (gain below
    eps: almost none of it reproduced) or partly fitted."""
    if final_delta < eps:
        return "memorised"
    if final_gain < eps:
        return "refused"
    return "partly fitted"


def table(cfg, arms, m: dict, nz: dict, predicted: np.ndarray | None = None) -> dict:
    """Per arm: the signal frequencies' learning time and final Delta (against
    the clean target), and the noise frequencies' time, Delta and gain towards
    the noise, with a verdict. ``predicted``: the linearised prediction of
    the final Delta towards the noise, ``(A, S, C, Kn)``, shown in a last
    column when the theory ran (GD's prediction, a reference under Adam)."""
    rows = []
    extra = predicted is not None
    base = next((i for i, a in enumerate(arms) if a.name == "baseline"), None)
    for a, arm in enumerate(arms):
        for j, k in enumerate(cfg.freqs):
            med = exp_a.median_censored(m["t"][a, :, j], m["learned"][a, :, j])
            delay = "-"
            if base is not None and a != base:
                mb = exp_a.median_censored(m["t"][base, :, j], m["learned"][base, :, j])
                delay = f"{med - mb:+.0f}" if np.isfinite(med) and np.isfinite(mb) else "n/a"
            rows.append([arm.name, f"signal k={k}",
                         f"{med:.0f}" if np.isfinite(med) else f"not learned by T={cfg.steps}",
                         delay, modes.ci_text(m["delta"][a, :, -1, j], (0.0, np.inf)),
                         modes.ci_text(m["gain"][a, :, -1, j]), "learned" if np.isfinite(med)
                         else "not learned"] + (["-"] if extra else []))
        for j, k in enumerate(cfg.noise_freqs):
            med = exp_a.median_censored(nz["noise_t_learn"][a, :, j], nz["noise_learned"][a, :, j])
            fd = float(nz["noise_delta"][a, :, -1, j].mean())
            fg = float(nz["noise_gain"][a, :, -1, j].mean())
            rows.append([arm.name, f"noise k={k}",
                         f"{med:.0f}" if np.isfinite(med) else f"not learned by T={cfg.steps}",
                         "-", modes.ci_text(nz["noise_delta"][a, :, -1, j], (0.0, np.inf)),
                         modes.ci_text(nz["noise_gain"][a, :, -1, j]), verdict(fd, fg, cfg.eps)]
                        + ([f"{predicted[a, :, -1, j].mean():.3f}"] if extra else []))
        if cfg.white_noise > 0:
            rows.append([arm.name, f"white std {cfg.white_noise:g}", "-", "-", "-",
                         modes.ci_text(nz["white_fit"][a, :, -1]),
                         "fraction of the white noise reproduced"] + (["-"] if extra else []))
    return {"title": f"Label noise: signal frequencies against the clean target, noise "
                     f"frequencies against the noise (median t / mean final value and 95% "
                     f"interval over {len(cfg.seeds)} seeds; delay vs baseline in steps, "
                     f"difference of the medians)",
            "columns": ["arm", "component", "t_k", "delay vs baseline", "final Delta",
                        "final gain", "verdict"]
                       + (["final Delta predicted (linearised GD)"] if extra else []),
            "rows": rows}


def render_figures(cfg, run_dir) -> list[Path]:
    """Draw the label-noise figure from the saved arrays alone
    (``exp_a_arrays.npz`` and ``exp_a_noise.npz``); none for white noise only."""
    if not cfg.noise_freqs:
        return []
    run_dir = Path(run_dir)
    arms = exp_a.build_arms(cfg)
    arr, nz = np.load(run_dir / "exp_a_arrays.npz"), np.load(run_dir / FILE)
    return [viz.plot_noise_curves(run_dir / "figures" / "exp_a_noise_curves.png", nz["steps"],
                                  arr["delta"].mean(axis=1), nz["noise_delta"].mean(axis=1),
                                  cfg.freqs, cfg.noise_freqs,
                                  [a.label() for a in arms], cfg.eps,
                                  f"Experiment A with label noise at k = "
                                  f"{', '.join(map(str, cfg.noise_freqs))}: signal vs clean "
                                  f"target (solid), towards the noise (dashed); mean over "
                                  f"{len(cfg.seeds)} seeds")]


def analyse_and_save(cfg, arms, run_dir, steps, preds, m, log=print) -> dict:
    """Measure, write ``exp_a_noise.npz`` (the figure: :func:`render_figures`)."""
    run_dir = Path(run_dir)
    nz = noise_metrics(cfg, steps, preds)
    runs.save_npz(run_dir / FILE, steps=steps, freqs=np.asarray(cfg.freqs),
                  noise_freqs=np.asarray(cfg.noise_freqs, dtype=np.int64),
                  noise_amplitudes=np.asarray(modes.noise_amplitudes(cfg), dtype=np.float64),
                  arms=np.asarray([a.name for a in arms]), seeds=np.asarray(cfg.seeds), **nz)
    # exp_a_analysis.attach runs the theory first; its file is this run's
    theory = run_dir / "exp_a_theory.npz"
    predicted = (np.load(theory)["pred_noise_delta"] if modes.theory_on(cfg) and theory.exists()
                 and cfg.noise_freqs else None)
    tab = table(cfg, arms, m, nz, predicted)
    figures = ([{"file": f"figures/{n}", "caption": c} for n, c in CAPTIONS.items()]
               if cfg.noise_freqs else [])
    verdicts = {arm.name: {str(k): verdict(float(nz["noise_delta"][a, :, -1, j].mean()),
                                           float(nz["noise_gain"][a, :, -1, j].mean()), cfg.eps)
                           for j, k in enumerate(cfg.noise_freqs)} for a, arm in enumerate(arms)}
    log(f"  [exp A] label noise: {verdicts}")
    return {"tables": [tab], "figures": figures,
            "summary": {"noise_file": FILE, "noise_verdicts": verdicts}}
