"""Experiment A's optional modes, training side: gradient descent, label
noise, held-out points (docs/theory.md section 8).

What :mod:`experiments.exp_a_core` calls (each a no-op, bit for bit, in the
default configuration):

* :func:`validate` -- the mode fields of ``Config``;
* :func:`training_set` -- the ``(u, y)`` the loss is on: the training target
  ``y + noise`` (label noise, DEFINITIONS 12) and/or the even grid points only
  (held-out evaluation); ``None`` when it is the measured grid and target;
* :func:`gd_lr` -- gradient descent's step size :func:`utils.frequency.stable_gd_lr`
  from the seed's initial kernel (:func:`effective_l2` for the arm's L2).

The modes' analyses live in :mod:`experiments.exp_a_theory`,
:mod:`experiments.exp_a_noise` and :mod:`experiments.exp_a_heldout`; the
analysis module (:mod:`experiments.exp_a_analysis`) runs them after a run.
This module imports no other module of experiment A.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from utils import frequency as fq
from utils.config import Range
from utils.regimen import Regimen

OPTIMIZERS = ("adam", "gd")
TRAIN_POINTS = ("all", "even")
# Noise amplitude of a frequency given without one (DEFINITIONS 12's example).
DEFAULT_NOISE_AMPLITUDE = 0.5
# GD's margin below the edge of stability of the initial kernel (the kernel
# moves during training; 0.9 kept every quick and default run finite).
GD_SAFETY = 0.9
# Config fields of the modes that change what a job computes.
JOB_FIELDS = ("optimizer", "noise_freqs", "noise_amplitudes", "noise_phase", "white_noise",
              "train_points")
RANGES = {"noise_freqs": Range(ge=1, integer=True), "noise_amplitudes": Range(gt=0),
          "white_noise": Range(ge=0)}
# Seed offset of the white label noise (10_000 + seed draws the dropout masks).
WHITE_NOISE_SEED = 20_000


def theory_on(cfg) -> bool:
    """Whether the linearised predictions are computed (``theory=None``:
    exactly when the optimiser is gradient descent, the case they are for)."""
    return cfg.optimizer == "gd" if cfg.theory is None else bool(cfg.theory)


def noise_on(cfg) -> bool:
    return bool(cfg.noise_freqs) or cfg.white_noise > 0


def validate(cfg) -> None:
    """Raise ValueError (naming the field) for mode fields that cannot run."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {list(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.train_points not in TRAIN_POINTS:
        raise ValueError(f"train_points: expected one of {list(TRAIN_POINTS)}, "
                         f"got {cfg.train_points!r}")
    if cfg.theory is not None and not isinstance(cfg.theory, bool):
        raise ValueError(f"theory: expected true, false or none, got {cfg.theory!r}")
    if not math.isfinite(cfg.noise_phase):
        raise ValueError(f"noise_phase: expected a finite number (radians), got {cfg.noise_phase}")
    if cfg.noise_amplitudes and len(cfg.noise_amplitudes) != len(cfg.noise_freqs):
        raise ValueError(f"noise_amplitudes: expected {len(cfg.noise_freqs)} values (one per "
                         f"noise_freqs entry), got {cfg.noise_amplitudes}")
    if len(set(cfg.noise_freqs)) != len(cfg.noise_freqs):
        raise ValueError(f"noise_freqs: expected distinct frequencies, got {cfg.noise_freqs}")
    clash = sorted(set(cfg.noise_freqs) & set(cfg.freqs))
    if clash:
        raise ValueError(f"noise_freqs: expected frequencies that are not targets (Delta towards "
                         f"the noise needs a clean coefficient of 0 there), got {clash} in freqs")
    limit = cfg.n_points // 4 if cfg.train_points == "even" else cfg.n_points // 2
    where = "the even sub-grid's Nyquist N/4" if cfg.train_points == "even" else "N/2"
    for name, ks in (("noise_freqs", cfg.noise_freqs), ("freqs", cfg.freqs)):
        if ks and max(ks) >= limit:
            raise ValueError(f"{name}: expected frequencies below {where} = {limit}, "
                             f"got {max(ks)}")
    if cfg.train_points == "even":
        if cfg.n_points % 2:
            raise ValueError(f"n_points: expected an even N with train_points='even', "
                             f"got {cfg.n_points}")
        if theory_on(cfg):
            raise ValueError("theory: the linearised predictions are on the training grid only; "
                             "expected theory=false with train_points='even', got it on "
                             f"(optimizer={cfg.optimizer!r}, theory={cfg.theory!r})")


# --------------------------------------------------------------------------
# Training set: label noise and held-out points
# --------------------------------------------------------------------------

def noise_amplitudes(cfg) -> tuple[float, ...]:
    return tuple(cfg.noise_amplitudes) or (DEFAULT_NOISE_AMPLITUDE,) * len(cfg.noise_freqs)


def noise_parts(cfg, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sinusoidal, white)`` label noise on the grid ``x``, float64 ``(N,)``
    each: ``sum_n a_n sin(k_n x + noise_phase)`` and ``white_noise * z``,
    ``z`` standard normal drawn from this seed's own generator (the same
    noise in every arm of a seed)."""
    x = np.asarray(x, dtype=np.float64)
    sinus = np.zeros_like(x)
    for k, a in zip(cfg.noise_freqs, noise_amplitudes(cfg)):
        sinus += a * np.sin(k * x + cfg.noise_phase)
    white = np.zeros_like(x)
    if cfg.white_noise > 0:
        white = cfg.white_noise * np.random.default_rng(WHITE_NOISE_SEED + seed).standard_normal(x.size)
    return sinus, white


def train_index(cfg, n: int) -> np.ndarray:
    """Grid indices the loss is on: all, or the even points ``0, 2, ...``."""
    return np.arange(0, n, 2) if cfg.train_points == "even" else np.arange(n)


def training_set(cfg, target, seed: int, u: torch.Tensor, y: torch.Tensor):
    """``(u_train, y_train)`` tensors the loss is on, or None when that is the
    measured grid and clean target (the default: nothing changes)."""
    if not noise_on(cfg) and cfg.train_points == "all":
        return None
    sinus, white = noise_parts(cfg, target.x, seed)
    yt = y + torch.as_tensor(sinus + white, dtype=y.dtype, device=y.device)[:, None]
    idx = torch.as_tensor(train_index(cfg, u.shape[0]), device=u.device)
    return u[idx], yt[idx]


# --------------------------------------------------------------------------
# Optimiser
# --------------------------------------------------------------------------

def effective_l2(arm: Regimen) -> float:
    """The penalty strength ``lambda`` of ``lambda ||W||^2`` an arm's GD update
    equals: the penalty itself, or for decoupled decay (SGD ``weight_decay =
    l2`` on the weights, no momentum: ``W <- W - eta (grad + l2 W)``) half
    its value, since ``d/dW (l2 / 2) ||W||^2 = l2 W``."""
    if arm.l2 <= 0:
        return 0.0
    return arm.l2 if arm.l2_mode == "penalty" else arm.l2 / 2


def gd_lr(cfg, arm: Regimen, model: torch.nn.Module, u_train) -> float:
    """GD step size from the kernel of ``model`` (its initial weights) on the
    training points (stable for the linearised model, with margin)."""
    theta = fq.empirical_ntk(model, u_train)
    return fq.stable_gd_lr(theta, theta.shape[0], safety=GD_SAFETY, l2=effective_l2(arm))


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def ci_text(values, bounds=None) -> str:
    """Mean over seeds with its 95% interval (:func:`utils.stats.mean_ci`),
    ``"0.805 [0.661, 0.949]"``, the main table's format; ``"(n = 1)"`` where
    there is no interval."""
    from utils import stats  # here: scipy.stats costs a pool worker seconds at start-up
    d = stats.summarize(values, bounds=bounds)
    if d["n"] >= 2 and np.isfinite(d["lo"]) and np.isfinite(d["hi"]):
        return f"{d['mean']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"
    return f"{d['mean']:.3f} (n = {d['n']})"
