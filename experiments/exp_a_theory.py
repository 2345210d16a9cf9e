"""Experiment A's linearised-network predictions beside the measurement
(DEFINITIONS 11; derivations and the recipe in docs/theory.md section 8).

Per seed the kernel is computed once, at the initial weights every arm of the
seed shares, on the training points and inputs the jobs train on (float32
``u``, the noisy training target when label noise is on). Per arm:

* no L2 (baseline, dropout): :func:`utils.frequency.predict_residuals`;
  dropout is not modelled (the kernel is taken in eval mode), say so;
* L2 penalty ``lambda ||W||^2``: :func:`utils.frequency.predict_residuals_l2`
  with ``theta_w, theta_b, q0 = J_W W0`` and the steady state
  :func:`utils.frequency.l2_steady_state`; a decoupled arm in GD mode is SGD
  weight decay, the same update as the penalty ``l2 / 2``
  (:func:`experiments.exp_a_modes.effective_l2`). Decoupled L2 under AdamW
  has no GD counterpart; its prediction is the penalty's, labelled.

The step size is the one a GD job uses (``stable_gd_lr`` of the same kernel),
with the same warm-up + cosine schedule. Under Adam there is no GD run to
compare with: the predictions are what GD would do, a reference only.
Predicted ``Delta_k`` and ``g_k`` are measured against the clean target, as
the network's are (:func:`utils.frequency.residual_metrics`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from experiments import exp_a_modes as modes
from experiments import exp_a_core as exp_a
from utils import frequency as fq
from utils import runs
from utils.optim import lr_multiplier
from utils.regimen import Regimen
from utils.visualization import exp_a_theory as viz

FILE = "exp_a_theory.npz"
CAPTIONS = {
    "exp_a_theory_curves.png": "Measured Delta_k (solid) and the linearised-network prediction "
                               "(dashed) per arm; where they agree the frozen kernel explains "
                               "the order and timing of learning.",
    "exp_a_ntk_spectrum.png": "Eigenvalues of the initial network's kernel, with each target "
                              "sinusoid's Rayleigh quotient marked: a mode with a smaller value "
                              "is learned more slowly.",
}


def training_arrays(cfg, seed: int):
    """``(target, u_train float32 tensor (N, 1), y_train float64 (N,))``."""
    target = exp_a.target(cfg, seed)
    u, _ = target.tensors("cpu")
    sinus, white = modes.noise_parts(cfg, target.x, seed)
    idx = modes.train_index(cfg, target.x.size)
    return target, u[torch.as_tensor(idx)], (target.y + sinus + white)[idx]


def model_label(cfg, arm: Regimen) -> str:
    """How an arm is predicted (shown in the table)."""
    lam = modes.effective_l2(arm)
    text = "GD, frozen kernel"
    if lam > 0:
        text += f" + L2 penalty {lam:g}"
        if arm.l2_mode == "decoupled":
            text += (" (SGD weight decay / 2)" if cfg.optimizer == "gd"
                     else " (AdamW decay has no GD form: penalty l2/2 shown)")
    if arm.dropout > 0:
        text += "; dropout not modelled"
    return text


def _schedule(cfg, eta: float) -> np.ndarray:
    return np.array([eta * lr_multiplier(s, "cosine", cfg.steps, cfg.warmup_steps)
                     for s in range(cfg.steps)])


def rayleigh_quotients(theta: np.ndarray, x: np.ndarray, ks) -> np.ndarray:
    """Where each target sinusoid sits on the kernel's eigenvalue axis:
    ``(c^T Theta c + s^T Theta s) / (c^T c + s^T s)`` for ``c, s = cos kx,
    sin kx`` on the training points (a phase-free energy-weighted mean of the
    eigenvalues the mode projects on)."""
    out = []
    for k in ks:
        c, s = np.cos(k * x), np.sin(k * x)
        out.append((c @ theta @ c + s @ theta @ s) / (c @ c + s @ s))
    return np.asarray(out)


def predict(cfg, arms: list[Regimen], steps: np.ndarray) -> dict:
    """Every arm's predicted curves, per seed. Returns arrays: ``pred_delta``,
    ``pred_gain`` ``(A, S, C, K)``; ``ntk_eigenvalues`` ``(S, N)`` descending;
    ``steady_gain`` ``(A, S, K)`` (NaN for arms without L2); ``rayleigh``
    ``(S, K)``; ``eta`` ``(A, S)``; ``pred_noise_delta``/``pred_noise_gain``
    ``(A, S, C, Kn)`` towards the sinusoidal label noise (empty ``Kn = 0``
    without it)."""
    A, S, C, K = len(arms), len(cfg.seeds), steps.size, len(cfg.freqs)
    kn = list(cfg.noise_freqs)
    out = {"pred_delta": np.empty((A, S, C, K)), "pred_gain": np.empty((A, S, C, K)),
           "steady_gain": np.full((A, S, K), np.nan), "eta": np.empty((A, S)),
           "pred_noise_delta": np.empty((A, S, C, len(kn))),
           "pred_noise_gain": np.empty((A, S, C, len(kn))),
           "rayleigh": np.empty((S, K)), "ntk_eigenvalues": None}
    eig = []
    for s, seed in enumerate(cfg.seeds):
        target, u_tr, y_tr = training_arrays(cfg, seed)
        lin = fq.linearise(exp_a.initial_model(cfg, seed), u_tr)
        theta, N = lin.theta, y_tr.size
        eig.append(np.linalg.eigvalsh(theta)[::-1])
        x_tr = target.x[modes.train_index(cfg, target.x.size)]
        out["rayleigh"][s] = rayleigh_quotients(theta, x_tr, cfg.freqs)
        r0 = lin.f0 - y_tr
        y_clean = target.y[modes.train_index(cfg, target.x.size)]
        sinus, _ = modes.noise_parts(cfg, x_tr, seed)
        for a, arm in enumerate(arms):
            lam = modes.effective_l2(arm)
            eta = fq.stable_gd_lr(theta, N, safety=modes.GD_SAFETY, l2=lam)
            lrs = _schedule(cfg, eta)
            if lam > 0:
                R = fq.predict_residuals_l2(lin.theta_w, lin.theta_b, r0, lin.q0, lrs, lam, N,
                                            steps=steps)
                r_inf = fq.l2_steady_state(lin.theta_w, r0, lam, N, q0=lin.q0,
                                           Theta_B=lin.theta_b)
                _, out["steady_gain"][a, s] = fq.residual_metrics(y_tr + r_inf - y_clean,
                                                                  y_clean, cfg.freqs)
            else:
                R = fq.predict_residuals(theta, r0, lrs, N, steps=steps)
            h = y_tr[None, :] + R                                     # predicted network
            out["pred_delta"][a, s], out["pred_gain"][a, s] = fq.residual_metrics(
                h - y_clean[None, :], y_clean, cfg.freqs)
            if kn:
                Z = fq.dft_coefficients(sinus, kn)
                H = fq.dft_coefficients(h, kn)
                out["pred_noise_delta"][a, s] = fq.relative_error(H, Z)
                out["pred_noise_gain"][a, s] = fq.spectral_gain(H, Z)
            out["eta"][a, s] = eta
    out["ntk_eigenvalues"] = np.stack(eig)
    t, learned = fq.learning_times(np.moveaxis(out["pred_delta"], -2, -1), steps, cfg.eps,
                                   cfg.window_checkpoints, cfg.window_fraction)
    out["pred_t_learn"], out["pred_learned"] = t, learned
    return out


def learning_order(t: np.ndarray, learned: np.ndarray) -> list[int] | None:
    """Frequency indices in order of median learning time over seeds
    (``(S, K)`` inputs), or None when a frequency is censored in the median
    (an order with an unknown end is not an order)."""
    med = np.array([_median(t[:, j], learned[:, j]) for j in range(t.shape[1])])
    if not np.all(np.isfinite(med)):
        return None
    return [int(j) for j in np.argsort(med, kind="stable")]


def order_agrees(t, learned, pt, plearned) -> bool | None:
    """Whether measured and predicted learning orders are the same; None when
    either is undefined (some frequency not learned)."""
    a, b = learning_order(t, learned), learning_order(pt, plearned)
    return None if a is None or b is None else a == b


def _median(t, learned) -> float:
    return exp_a.median_censored(t, learned)


def _t_text(v: float, steps: int) -> str:
    return f"{v:.0f}" if np.isfinite(v) else f"not learned by T={steps}"


def _factor_text(measured: float, predicted: float) -> str:
    """``t measured / t predicted`` (medians), or n/a when either is censored."""
    if np.isfinite(measured) and np.isfinite(predicted) and predicted > 0:
        return f"{measured / predicted:.2f}"
    return "n/a"


def table(cfg, arms: list[Regimen], m: dict, th: dict) -> dict:
    """Predicted vs measured ``t_k`` (median over seeds) with their ratio, and
    final gain (mean over seeds, 95% interval), per arm and k, in the
    summary's table format."""
    rows = []
    for a, arm in enumerate(arms):
        for j, k in enumerate(cfg.freqs):
            sg = th["steady_gain"][a, :, j]
            tm = _median(m["t"][a, :, j], m["learned"][a, :, j])
            tp = _median(th["pred_t_learn"][a, :, j], th["pred_learned"][a, :, j])
            rows.append([arm.name, k, model_label(cfg, arm), _t_text(tm, cfg.steps),
                         _t_text(tp, cfg.steps), _factor_text(tm, tp),
                         modes.ci_text(m["gain"][a, :, -1, j]),
                         modes.ci_text(th["pred_gain"][a, :, -1, j]),
                         "-" if np.all(np.isnan(sg)) else modes.ci_text(sg)])
    ref = "" if cfg.optimizer == "gd" else " (reference only: theory is for GD, the run used Adam)"
    return {"title": f"Linearised-network prediction vs measurement{ref}: learning time t_k "
                     f"(median over {len(cfg.seeds)} seeds) and final gain (mean, 95% interval)",
            "columns": ["arm", "k", "prediction", "t measured", "t predicted",
                        "t measured / predicted", "gain measured", "gain predicted",
                        "gain steady state"],
            "rows": rows}


def render_figures(cfg, run_dir) -> list[Path]:
    """Draw the theory figures from the saved arrays alone (``exp_a_arrays.npz``
    for the measurement, ``exp_a_theory.npz`` for the prediction); what a run
    and ``--report`` both call."""
    run_dir = Path(run_dir)
    arms = exp_a.build_arms(cfg)
    arr, th = np.load(run_dir / "exp_a_arrays.npz"), np.load(run_dir / FILE)
    labels = [f"{a.label()}\n[{model_label(cfg, a)}]" for a in arms]
    ref = "" if cfg.optimizer == "gd" else " (reference only: theory is for GD)"
    figs = run_dir / "figures"
    return [
        viz.plot_theory_overlay(figs / "exp_a_theory_curves.png", th["steps"],
                                arr["delta"].mean(axis=1), th["pred_delta"].mean(axis=1),
                                cfg.freqs, labels, cfg.eps,
                                f"Experiment A ({cfg.optimizer}): measured (solid) vs linearised "
                                f"prediction (dashed){ref}, mean over {len(cfg.seeds)} seeds"),
        viz.plot_ntk_spectrum(figs / "exp_a_ntk_spectrum.png", th["ntk_eigenvalues"][0],
                              th["rayleigh"][0], cfg.freqs,
                              f"Empirical NTK at init, seed {cfg.seeds[0]}: eigenvalues and the "
                              f"target modes' Rayleigh quotients"),
    ]


def analyse_and_save(cfg, arms, run_dir, steps, preds, m, log=print) -> dict:
    """Predict and write ``exp_a_theory.npz``; return the tables, figures and
    summary entries for :func:`experiments.exp_a_analysis.attach`. The figures are drawn
    from the saved arrays by :func:`render_figures` (through
    :func:`exp_a_synthetic.render_figures`, after the arrays are saved)."""
    run_dir = Path(run_dir)
    th = predict(cfg, arms, steps)
    runs.save_npz(run_dir / FILE, steps=steps, freqs=np.asarray(cfg.freqs),
                  arms=np.asarray([a.name for a in arms]), seeds=np.asarray(cfg.seeds),
                  optimizer=np.asarray(cfg.optimizer), **th)
    tab = table(cfg, arms, m, th)
    log(f"  [exp A] theory: {tab['title']}")
    agree = {a.name: order_agrees(m["t"][i], m["learned"][i], th["pred_t_learn"][i],
                                  th["pred_learned"][i]) for i, a in enumerate(arms)}
    return {"tables": [tab],
            "figures": [{"file": f"figures/{n}", "caption": c} for n, c in CAPTIONS.items()],
            "summary": {"theory_file": FILE, "gd_lr": th["eta"].tolist(),
                        "theory_reference_only": cfg.optimizer != "gd",
                        "theory_order_agrees": agree}}
