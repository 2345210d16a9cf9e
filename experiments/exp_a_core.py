"""Experiment A's core: the config, the target, the arms and the one trainer
(docs/DEFINITIONS.md section 1).

An MLP fits ``y = sin(5x) + sin(20x) + sin(50x)`` on the periodic grid,
full batch. Every arm starts from the same weights for a given seed; arms x
seeds are independent jobs. :func:`train_jobs` trains J of them as one
stacked model (every parameter a ``(J, ...)`` tensor, the layers batched
matrix products, the gradients autograd's); J = 1 is a single job, the same
code.

Layers: this module imports only the library (``utils``, ``models``,
``data``) and :mod:`experiments.exp_a_modes` (the modes' training-side
hooks). The analysis (:mod:`experiments.exp_a_analysis`, with the modes'
analyses :mod:`~experiments.exp_a_theory`, :mod:`~experiments.exp_a_noise`,
:mod:`~experiments.exp_a_heldout`) imports it, and the runner
(:mod:`experiments.exp_a_synthetic`) imports both; nothing imports the runner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from data.toy_data import make_target, validate_grid
from experiments import exp_a_modes as modes
from models.mlp import MLP
from utils import runs
from utils.config import config_from_fields, Range, check_numbers
from utils.optim import lr_multiplier
from utils.progress import Progress
from utils.regimen import Regimen, build_regimens, shorthand_arms

@dataclass(frozen=True)
class Config:
    # --- target (docs/DEFINITIONS.md 1): sin(k x + phi) on x_j = 2 pi j / N
    freqs: tuple[int, ...] = (5, 20, 50)
    amplitudes: tuple[float, ...] = ()    # empty: all 1
    random_phases: bool = False           # phi_k ~ U[0, 2pi) per seed instead of 0
    n_points: int = 512                   # N >= 8 k_max; 512 suffices for k = 50
    # --- network
    width: int = 192                      # 4x192 learns k = 50 by ~3,000-3,800 steps here;
                                          # 3x128 does not learn k = 20 in 10,000 (docs/DEFINITIONS.md 1)
    depth: int = 4
    activation: str = "relu"
    # --- optimisation: Adam, linear warm-up then cosine decay to 0
    steps: int = 10_000                   # full-batch steps (= epochs over the grid); the
                                          # baseline's worst seed learns k = 50 at ~4,700
                                          # (0.47 T; at 5,000-8,000 it was 0.73-0.85 T:
                                          # see BASELINE_STEPS_FOR_K50)
    lr: float = 1e-2                      # with warm-up: k = 50 at ~3,000 steps; Adam 2e-3
    warmup_steps: int = 200               # cosine had k = 50 at only Delta 0.32 after 8,000
    # --- arms: each a regimen (utils/regimen.py); legends say exactly which
    arms: tuple[str, ...] = ("baseline", "l2", "dropout")  # shorthands (also "l2+dropout") or
                                          # NAME:knob=value,... e.g. "l2d:l2=1e-3,l2_mode=decoupled"
    l2_reg: float = 1e-4                  # lambda of the shorthands: lambda * sum ||W||^2 over weights
    l2_mode: str = "penalty"              # base regimen: "penalty" (added to the loss) | "decoupled" (AdamW)
    sweep: str = ""                       # one knob over values, e.g. "l2=0,1e-5,1e-4,1e-3": arms
                                          # "KNOB=value" on the base regimen, the base one is baseline
    dropout: float = 0.1                  # rate of the shorthands on hidden layers, measured in eval mode
    seeds: tuple[int, ...] = (0, 1, 2)
    # --- measurement
    n_checkpoints: int = 120              # log-spaced in [1, steps] early, plus step 0 and a linear
                                          # grid late (checkpoint_steps: window <= 5% of the run)
    eps: float = 0.1                      # learned: Delta_k below eps ...
    window_checkpoints: int = 5           # ... for 5 checkpoints or
    window_fraction: float = 0.02         # 2% of the run, whichever is longer
    spectrum_kmax: int = 64               # full-spectrum heat map up to this k
    gif_frames: int = 80                  # 50-100 frames on log-spaced steps
    gif_frame_ms: int = 100
    # --- execution
    device: str = "cpu"
    stack: int = 1                        # jobs per stacked model (train_jobs): n consecutive jobs
                                          # of the seed-major list; 0 = the arms of one seed. A
                                          # job's bits depend on its stack (batched products), so
                                          # it is part of its key, never a worker count. 1: per
                                          # job as fast as stacks of 3 or 9 here (bench_exp_a.py,
                                          # within noise) and 9 jobs split 5/4 over 2 workers
    # --- modes (experiments/exp_a_modes.py; docs/theory.md section 8); the defaults are
    # today's experiment A, bit for bit
    optimizer: str = "adam"               # "adam" (the lr above, Adam/AdamW) | "gd": full-batch
                                          # gradient descent, step fq.stable_gd_lr(Theta0, N,
                                          # safety=0.9, l2=arm's penalty) from the seed's initial
                                          # kernel, same schedule; decoupled L2 = SGD weight_decay
                                          # (= penalty l2 / 2 without momentum); lr is ignored
    theory: bool | None = None            # linearised-network predictions beside the measurement
                                          # (exp_a_theory.npz); None: on iff optimizer == "gd"
    noise_freqs: tuple[int, ...] = ()     # label noise sum a_n sin(k_n x + noise_phase) added to
    noise_amplitudes: tuple[float, ...] = ()  # the TRAINING target only (empty: all 0.5)
    noise_phase: float = 0.0              # radians, one for every noise frequency
    white_noise: float = 0.0              # std of white label noise on the training target (seeded
                                          # per seed, same in every arm); measured: exp_a_noise.npz
    train_points: str = "all"             # "all" | "even": train on the even grid points, measure
                                          # on all; train-grid vs held-out spectra: exp_a_heldout.npz

    def quick(self) -> "Config":
        """Every axis shrunk, same code path (what CI and smoke tests run).
        (``main.py --quick`` also runs the jobs in its own process: a
        400-step job takes about a second, less than starting a process
        that imports torch.)"""
        return dataclasses.replace(self, width=64, depth=3, steps=400, warmup_steps=20,
                                   n_checkpoints=40, seeds=self.seeds[:2], gif_frames=12,
                                   gif_frame_ms=150)


# The knobs of a regimen this experiment supports (regression: no label
# smoothing; no images: no augmentation or input noise).
KNOBS = ("l2", "l2_mode", "dropout", "dropout_at")
PLACEMENTS = ("hidden",)
# Ranges of the numeric fields (utils.config.check_numbers: finiteness for all).
RANGES = {"n_points": Range(ge=8, integer=True), "width": Range(ge=1, integer=True),
          "depth": Range(ge=1, integer=True), "steps": Range(ge=1, le=10**8, integer=True),
          "lr": Range(gt=0), "warmup_steps": Range(ge=0, integer=True),
          "l2_reg": Range(ge=0), "dropout": Range(ge=0, lt=1),
          "seeds": Range(ge=0, integer=True), "n_checkpoints": Range(ge=2, integer=True),
          "eps": Range(gt=0, lt=1), "window_checkpoints": Range(ge=1, integer=True),
          "window_fraction": Range(ge=0, lt=1), "spectrum_kmax": Range(ge=1, integer=True),
          "gif_frames": Range(ge=2, integer=True), "gif_frame_ms": Range(ge=1, integer=True),
          "freqs": Range(ge=1, integer=True),
          "amplitudes": Range(gt=0), "stack": Range(ge=0, integer=True), **modes.RANGES}


def base_regimen(cfg: Config) -> Regimen:
    """What every arm starts from: no regulariser, the configured L2 mode."""
    return Regimen(name="baseline", l2_mode=cfg.l2_mode, dropout_at="hidden")


def build_arms(cfg: Config) -> list[Regimen]:
    """The arms of the run (``arms`` specs, then the sweep), validated."""
    base = base_regimen(cfg)
    return build_regimens(cfg.arms, base, shorthand_arms(base, cfg.l2_reg, cfg.dropout),
                          cfg.sweep, allowed=KNOBS, placements=PLACEMENTS)


def validate(cfg: Config) -> None:
    """Raise ValueError (naming the field) for a config that cannot run."""
    check_numbers(cfg, RANGES)
    validate_grid(cfg.freqs, cfg.n_points)
    if cfg.spectrum_kmax > cfg.n_points // 2:
        raise ValueError(f"spectrum_kmax: expected <= N/2 = {cfg.n_points // 2}, got {cfg.spectrum_kmax}")
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds: expected distinct seeds, at least one, got {cfg.seeds}")
    if cfg.warmup_steps > cfg.steps:
        raise ValueError(f"warmup_steps: expected <= steps={cfg.steps}, got {cfg.warmup_steps}")
    if cfg.activation not in ("relu", "tanh", "gelu", "silu"):
        raise ValueError(f"activation: expected relu, tanh, gelu or silu, got {cfg.activation!r}")
    if cfg.amplitudes and len(cfg.amplitudes) != len(cfg.freqs):
        raise ValueError(f"amplitudes: expected {len(cfg.freqs)} values, got {cfg.amplitudes}")
    if cfg.device != "cpu" and not cfg.device.startswith("cuda"):
        raise ValueError(f"device: expected cpu or cuda, got {cfg.device!r}")
    build_arms(cfg)
    modes.validate(cfg)


# docs/DEFINITIONS.md section 1: the sustained window may never span more than 5% of
# the run, or late crossings are silently censored (with 120 purely
# log-spaced checkpoints over 5,000 steps nothing after step 3,755 could be
# confirmed: T was really 0.75 T).
MAX_WINDOW_FRACTION = 0.05


def run_checkpoints(cfg: Config) -> np.ndarray:
    """The checkpoint steps of a run (:func:`checkpoint_steps` of its config)."""
    return checkpoint_steps(cfg.steps, cfg.n_checkpoints, cfg.window_checkpoints)


def checkpoint_steps(steps: int, n: int, window_checkpoints: int = 5,
                     max_window_fraction: float = MAX_WINDOW_FRACTION) -> np.ndarray:
    """Checkpoint steps: 0, log-spaced early, linear late. int64, increasing.

    The linear grid over ``[0, steps]`` has spacing at most
    ``d = (max_window_fraction * steps - 1) / (window_checkpoints - 1)``, so
    any ``window_checkpoints`` consecutive checkpoints span at most
    ``max_window_fraction * steps`` steps (the -1 absorbs the rounding to
    whole steps). The points of ``geomspace(1, steps, n)`` are added where
    they are denser than that grid (below the step where their gap reaches
    ``d``): the early steps, where low frequencies are learned, stay
    log-resolved. Runs so short that ``d < 1`` are checkpointed at every
    step; the bound then cannot hold (the window is ``window_checkpoints - 1``
    steps).
    """
    for name, v, lo in (("steps", steps, 1), ("n", n, 2), ("window_checkpoints", window_checkpoints, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    if not 0 < max_window_fraction <= 1:
        raise ValueError(f"max_window_fraction: expected 0 < f <= 1, got {max_window_fraction!r}")
    d = (max_window_fraction * steps - 1) / max(window_checkpoints - 1, 1)
    if d < 1:
        return np.arange(steps + 1, dtype=np.int64)
    linear = np.round(np.linspace(0, steps, math.ceil(steps / d) + 1)).astype(np.int64)
    ratio = float(steps) ** (1.0 / (n - 1))   # geomspace step factor
    switch = d / (ratio - 1.0) if ratio > 1 else 0.0
    log = np.round(np.geomspace(1, steps, n)).astype(np.int64)
    return np.unique(np.concatenate([[0], log[log < switch], linear]))




def target(cfg: Config, seed: int):
    """The seed's target on the grid (:func:`data.toy_data.make_target`)."""
    return make_target(cfg.freqs, cfg.n_points, amplitudes=cfg.amplitudes or None,
                       random_phase_seed=seed if cfg.random_phases else None)


def median_censored(t: np.ndarray, learned: np.ndarray) -> float:
    """Median over seeds with censored values ranked last; NaN if the median
    seed is censored."""
    vals = np.sort(np.where(learned, t, np.inf))
    n = vals.size
    med = vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])
    return float(med) if np.isfinite(med) else float("nan")



def time_bounds(t: np.ndarray, state: np.ndarray, below_since: np.ndarray,
                steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` bounds of each learning time t_k: equal for a
    learned seed; a censored one lies above its bound (``below_since`` for an
    unconfirmed crossing, else ``steps``: not learned by T), upper ``inf``."""
    from utils import frequency as fq

    learned = state == fq.LearningState.LEARNED
    lower = np.where(learned, t, np.where(state == fq.LearningState.UNCONFIRMED,
                                          np.where(np.isfinite(below_since), below_since, steps),
                                          steps)).astype(np.float64)
    return lower, np.where(learned, t, np.inf).astype(np.float64)


def paired_delay_bounds(arm: tuple[np.ndarray, np.ndarray],
                        base: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the per-seed delay ``t_arm - t_base`` from each time's
    :func:`time_bounds`: ``[lo_arm - hi_base, hi_arm - lo_base]`` (a censored
    arm time makes a lower bound, a censored baseline time an upper one, both
    censored: unbounded either way)."""
    with np.errstate(invalid="ignore"):
        lo = arm[0] - base[1]
        hi = arm[1] - base[0]
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


def median_bounds(lower: np.ndarray, upper: np.ndarray) -> tuple[float, float]:
    """Bounds of the median of values known only within ``[lower, upper]``
    (per seed): the median is monotone in every value, so it lies between the
    median of the lower and of the upper bounds. Equal bounds: exact."""
    return float(np.median(lower)), float(np.median(upper))


def median_text(lo: float, hi: float, fmt: str = "+.0f") -> str:
    """``"+123"`` (exact), ``">= +5802"`` / ``"<= -40"`` (one-sided, censored
    seeds decide the median) or ``"undetermined"``."""
    if lo == hi and np.isfinite(lo):
        return format(lo, fmt)
    if np.isfinite(lo) and not np.isfinite(hi):
        return ">= " + format(lo, fmt)
    if np.isfinite(hi) and not np.isfinite(lo):
        return "<= " + format(hi, fmt)
    if np.isfinite(lo) and np.isfinite(hi):
        return f"in [{lo:{fmt}}, {hi:{fmt}}]"
    return "undetermined"


def sign_test_censored(lower: np.ndarray, upper: np.ndarray) -> tuple[int, int, float]:
    """Paired sign test of per-seed differences known within ``[lower,
    upper]``: a seed counts where its sign is known (``lower > 0`` positive,
    ``upper < 0`` negative; exact zeros and unknown orderings drop out, as
    ties). Returns ``(n positive, n negative, two-sided exact binomial p)``;
    p = 1 without any known sign."""
    from math import comb

    pos = int(np.sum(lower > 0))
    neg = int(np.sum(upper < 0))
    n = pos + neg
    if n == 0:
        return 0, 0, 1.0
    k = min(pos, neg)
    p = 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return pos, neg, float(min(1.0, p))


@contextlib.contextmanager
def flush_subnormals():
    """Flush float32 subnormals to zero (the CPU's FTZ/DAZ state) inside the
    block, and back to torch's default (off) after it: the state is the whole
    process's, and other code in it (hypothesis, numpy users) expects IEEE
    subnormals.

    Why: L2 drives the weights of dead units towards 0 and into float32's
    subnormal range, where CPU arithmetic is ~100x slower (the default L2 job
    took 665 s against 72 s for the baseline at 10,000 steps). Flushing them
    changes nothing measurable (|w| < 1.2e-38)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


# --------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------

# Seed offset of a job's dropout-mask generator (10_000 + seed, as experiment
# A always drew them; modes.WHITE_NOISE_SEED is 20_000 + seed).
MASK_SEED = 10_000


def initial_model(cfg: Config, seed: int) -> MLP:
    """The seed's initial network (every arm of a seed starts from it), built
    under ``manual_seed(seed)`` without touching the caller's global RNG.
    Dropout does not change the weights, so it is built without."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(1, cfg.width, cfg.depth, cfg.activation, 0.0)


class StackedMLP:
    """J copies of :class:`models.mlp.MLP` as ``(J, ...)`` leaf tensors.

    ``params``: name -> ``(J, *shape)`` tensor, the names and order of
    ``MLP.named_parameters()``. ``forward(u (N, 1), masks) -> (J, N, 1)``:
    the first layer (fan-in 1) ``b + u w^T`` as one broadcast multiply-add,
    every other layer one ``baddbmm``; ``masks``: None (eval mode) or per
    hidden layer a ``(J, N, width)`` multiplier (0 or ``1 / (1 - p)``, 1 for
    jobs without dropout), applied after the activation as ``nn.Dropout``.
    Autograd computes every gradient.
    """

    def __init__(self, models: Sequence[MLP], device: torch.device):
        names = [n for n, _ in models[0].named_parameters()]
        self.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models])
                       .to(device).requires_grad_() for n in names}
        self.layers = [(self.params[n], self.params[n[:-len("weight")] + "bias"])
                       for n in names if n.endswith("weight")]
        self.act = models[0].hidden[1]          # the MLP's activation module (stateless)

    def forward(self, u: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        (w0, b0), *rest = self.layers
        h = torch.addcmul(b0[:, None, :], u, w0.transpose(1, 2))        # (J, N, width)
        for l, (w, b) in enumerate(rest):
            h = self.act(h)
            if masks is not None:
                h = h * masks[l]
            h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
        return h


class StackedOptimizer:
    """The jobs' optimisers over the stacked tensors, each job its own.

    Adam: ``torch.optim.Adam`` over the ``(J, ...)`` tensors (elementwise, so
    J independent Adams sharing the step count and rate), with each job's
    decoupled decay ``W <- W (1 - lr wd_j)`` applied first, which is AdamW's
    update. GD: ``W <- W - lr_j (g + wd_j W)``, ``torch.optim.SGD`` without
    momentum with per-job rate and weight decay. ``decay``: name -> ``(J,)``
    weight decay per job (from each regimen's ``param_groups``); ``lr0``:
    ``(J,)`` base rates (Adam: all ``cfg.lr``).
    """

    def __init__(self, params: dict, kind: str, lr0: torch.Tensor, decay: dict):
        self.params, self.kind = params, kind
        self.lr0 = lr0
        self.decay = {n: d for n, d in decay.items() if bool((d > 0).any())}
        if kind == "adam":
            # fused: one kernel per tensor (the same update, fewer passes over memory)
            self.adam = torch.optim.Adam(list(params.values()), lr=float(lr0[0]),
                                         fused=lr0.device.type == "cpu" or None)

    def _per_job(self, v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return v.view(-1, *([1] * (like.dim() - 1)))

    @torch.no_grad()
    def step(self, mult: float) -> None:
        if self.kind == "adam":
            lr = float(self.lr0[0]) * mult
            for n, wd in self.decay.items():
                p = self.params[n]
                p.mul_(self._per_job(1 - lr * wd, p))
            for g in self.adam.param_groups:
                g["lr"] = lr
            self.adam.step()
            return
        lr = self.lr0 * mult
        for n, p in self.params.items():
            d = p.grad
            if n in self.decay:
                d = d.add(p * self._per_job(self.decay[n], p))
            p.sub_(d * self._per_job(lr, p))

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None


MASK_BITS = 15


def mask_threshold(p: float, name: str = "") -> int:
    """A unit is dropped where its 15 random bits, as an integer, are below
    ``round(p * 2^15)``: the realised rate is that over ``2^15`` (0.1000061
    for 0.1). ValueError for a rate that rounds to no dropout."""
    t = round(p * 2 ** MASK_BITS)
    if p > 0 and t < 1:
        raise ValueError(f"dropout: {p} rounds to no dropout at {MASK_BITS} random bits per "
                         f"unit ({name}); expected 0 or at least 2^-{MASK_BITS + 1}")
    return t


def _job_regimen_parts(arm: Regimen, model: MLP) -> tuple[list[str], dict[str, float]]:
    """What one job's regimen says about its parameters, by name: the L2 set
    (``arm.penalised``) and the weight decay of each parameter
    (``arm.param_groups``)."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    penalised = [name_of[id(p)] for p in arm.penalised(model)]
    decay = {name_of[id(p)]: float(g["weight_decay"]) for g in arm.param_groups(model)
             for p in g["params"]}
    return penalised, decay


def train_jobs(cfg: Config, jobs: Sequence[tuple[Regimen, int]],
               progress: Callable[[int, int], None] | None = None,
               progress_every: int = 100) -> list[dict]:
    """Train every ``(arm, seed)`` of ``jobs`` as one stacked model.

    Returns per job, in order, ``preds`` float32 ``(C, N)`` (eval mode, full
    grid, at :func:`run_checkpoints`), ``loss`` float64 ``(C,)`` (data term
    of the training loss at those steps; step 0 in eval mode) and
    ``seconds`` (the stack's training-loop time over J: each job's share).

    Each job keeps its own: initial weights (its seed's), target and
    training set (:func:`experiments.exp_a_modes.training_set`), regimen
    (penalty through ``arm.penalty`` on its own weights, decoupled decay and
    the L2 set through ``arm.param_groups`` / ``arm.penalised``), optimiser
    state and (GD) step size, and dropout masks, drawn from its own
    ``torch.Generator`` seeded ``MASK_SEED + seed`` (15 random bits per unit,
    :func:`mask_threshold`): a job's masks do not depend on the other jobs of
    the stack, and arms of one seed with equal rates share them. The loss is the sum of the jobs'
    losses, so autograd's gradient for a job is that of its own loss.

    ``progress(step, steps)`` is called every ``progress_every`` steps.
    A non-finite loss or prediction stops the stack with
    ``FloatingPointError`` naming the step and the job's arm.
    """
    jobs = list(jobs)
    if not jobs:
        raise ValueError("jobs: expected at least one (arm, seed) pair, got none")
    with flush_subnormals():
        return _train_jobs(cfg, jobs, progress, progress_every)


def _train_jobs(cfg: Config, jobs, progress, progress_every) -> list[dict]:
    device = torch.device(cfg.device)
    J = len(jobs)
    arms = [a for a, _ in jobs]
    seeds = [int(s) for _, s in jobs]
    models = {s: initial_model(cfg, s) for s in dict.fromkeys(seeds)}
    # the grid and targets; the training set (label noise, held-out points) per seed
    u = y_train = u_train = None
    ys = []
    for s in seeds:
        tgt = target(cfg, s)
        u, y = tgt.tensors(device)
        train = modes.training_set(cfg, tgt, s, u, y)
        u_train, yt = (u, y) if train is None else train
        ys.append(yt)
    y_train = torch.stack(ys)                                   # (J, N_train, 1)
    net = StackedMLP([models[s] for s in seeds], device)

    parts = [_job_regimen_parts(a, models[s]) for a, s in jobs]
    decay = {n: torch.tensor([p[1].get(n, 0.0) for p in parts], device=device)
             for n in net.params}
    if cfg.optimizer == "gd":
        lr0 = torch.tensor([modes.gd_lr(cfg, a, models[s].to(device), u_train) for a, s in jobs],
                           device=device)
    else:
        lr0 = torch.full((J,), cfg.lr, device=device)
    opt = StackedOptimizer(net.params, cfg.optimizer, lr0, decay)
    pen_jobs = [(j, [net.params[n] for n in parts[j][0]]) for j, a in enumerate(arms)
                if a.has_penalty]

    drop = [j for j, a in enumerate(arms) if a.dropout > 0]
    gens = {j: torch.Generator(device=device).manual_seed(MASK_SEED + seeds[j]) for j in drop}
    n_train = u_train.shape[0]
    if drop:
        thresholds = {j: mask_threshold(arms[j].dropout, arms[j].name) for j in drop}
        mask_buf = torch.ones(cfg.depth, J, n_train, cfg.width, device=device)
        size = cfg.depth * n_train * cfg.width
        words = torch.empty((size + 1) // 2, dtype=torch.int32, device=device)

    def masks() -> list[torch.Tensor] | None:
        if not drop:
            return None
        for j in drop:
            # 31 random bits per int32 word: two 15-bit draws per word (the
            # low half's bit 15 dropped), one word per two units
            bits = words.random_(generator=gens[j]).view(torch.int16)[:size]
            keep = torch.bitwise_and(bits, 0x7FFF).view(cfg.depth, n_train, cfg.width)
            # nn.Dropout: kept units scaled by 1 / (1 - p)
            torch.mul(keep >= thresholds[j], 1.0 / (1.0 - arms[j].dropout), out=mask_buf[:, j])
        return list(mask_buf.unbind(0))

    ckpts = run_checkpoints(cfg)
    is_ckpt = np.zeros(cfg.steps + 1, dtype=bool)
    is_ckpt[ckpts] = True
    preds = np.empty((J, ckpts.size, u.shape[0]), dtype=np.float32)
    losses = torch.empty(cfg.steps + 1, J, dtype=torch.float64)
    objective = torch.zeros(cfg.steps + 1, J, dtype=torch.float64)

    def measure(i: int, step: int) -> None:
        with torch.no_grad():
            h = net.forward(u).squeeze(-1).float().cpu().numpy()
        bad = ~np.isfinite(h).all(axis=1)
        if bad.any():
            raise FloatingPointError(f"non-finite prediction at step {step} "
                                     f"({arms[int(bad.argmax())].name})")
        preds[:, i] = h

    def check(upto: int) -> None:
        # the objective too: an enormous L2 makes it inf while the data loss is finite
        lo, ob = losses[: upto + 1], objective[: upto + 1]
        bad = ~(torch.isfinite(lo) & torch.isfinite(ob))
        if bad.any():
            first_bad = torch.where(bad.any(0), bad.int().argmax(0), upto + 1)
            j = int(first_bad.argmin())
            first = int(first_bad[j])
            raise FloatingPointError(
                f"non-finite objective at step {first} ({arms[j].name}: data loss "
                f"{float(lo[first, j])}, objective {float(ob[first, j])}); lower "
                f"--set lr=... or the L2 strength")

    t0 = time.perf_counter()
    with torch.no_grad():
        losses[0] = ((net.forward(u_train) - y_train) ** 2).mean(dim=(1, 2)).cpu()
    measure(0, 0)
    ci = 1
    for step in range(1, cfg.steps + 1):
        data = ((net.forward(u_train, masks()) - y_train) ** 2).mean(dim=(1, 2))   # (J,)
        total = data.sum()
        obj = data.detach().double()
        if pen_jobs:
            obj = obj.clone()
            for j, weights in pen_jobs:
                pen = arms[j].penalty([w[j] for w in weights])
                total = total + pen
                obj[j] += pen.detach().double()
        opt.zero_grad()
        total.backward()
        opt.step(lr_multiplier(step - 1, "cosine", cfg.steps, cfg.warmup_steps))
        losses[step] = data.detach().cpu()
        objective[step] = obj.cpu()
        if is_ckpt[step]:
            check(step)
            measure(ci, step)
            ci += 1
        if progress is not None and (step % progress_every == 0 or step == cfg.steps):
            progress(step, cfg.steps)
    seconds = (time.perf_counter() - t0) / J
    loss_np = losses[ckpts].numpy()
    return [{"preds": preds[j], "loss": loss_np[:, j].copy(), "seconds": seconds}
            for j in range(J)]


def train_job(cfg: Config, arm: Regimen, seed: int) -> dict:
    """One job alone: :func:`train_jobs` with J = 1."""
    return train_jobs(cfg, [(arm, seed)])[0]


# --------------------------------------------------------------------------
# jobs: what a stored result is keyed by
# --------------------------------------------------------------------------

# Config fields that change what a job computes (the rest are arms, seeds,
# execution and presentation); with the stack's regimens and seeds they key
# its result.
JOB_FIELDS = ("freqs", "amplitudes", "random_phases", "n_points", "width", "depth", "activation",
              "steps", "lr", "warmup_steps", "n_checkpoints", "device") + modes.JOB_FIELDS


def job_name(arm: Regimen, seed: int) -> str:
    return f"{arm.name}_seed{seed}"


def stacks(cfg: Config, arms: Sequence[Regimen]) -> list[list[tuple[int, int]]]:
    """The run's jobs ``(arm index, seed index)`` in stacks: seed-major, ``stack``
    consecutive jobs (``stack = 0``: each seed's arms together). The
    partition depends on the config alone, never on workers or on what an
    interrupted run left, so a job's bits are the same run, resume and pool."""
    grid = [(a, s) for s in range(len(cfg.seeds)) for a in range(len(arms))]
    size = cfg.stack or len(arms)
    return [grid[i:i + size] for i in range(0, len(grid), size)]


def stack_key(cfg: Config, arms: Sequence[Regimen], members: Sequence[tuple[int, int]]) -> dict:
    """What a stack computes: the config fields that matter, and per member
    its regimen and seed, in stack order (a job's bits depend on its stack)."""
    return {"config": {f: getattr(cfg, f) for f in JOB_FIELDS},
            "jobs": [{"arm": arms[a].name, "regimen": arms[a].knobs(), "seed": cfg.seeds[s]}
                     for a, s in members],
            "steps": run_checkpoints(cfg).tolist()}


def train_stack(cfg: Config, pairs: Sequence[tuple[Regimen, int]], name: str = "") -> dict:
    """One stack as a job of the launcher: its results stacked (``preds``
    ``(J, C, N)``, ``loss`` ``(J, C)``), with a progress line on stderr
    ``FIRST_PROGRESS_SECONDS`` into the job, then at most every
    ``PROGRESS_SECONDS`` (pool workers write there too)."""
    lines = Progress(cfg.steps, f"  [exp A] {name}: step", show=False, every=PROGRESS_SECONDS,
                     first=FIRST_PROGRESS_SECONDS)
    out = train_jobs(cfg, pairs, progress=lambda step, steps: lines.update(step - lines.done),
                     progress_every=10)
    return {"preds": np.stack([r["preds"] for r in out]),
            "loss": np.stack([r["loss"] for r in out]),
            "seconds": float(sum(r["seconds"] for r in out))}


PROGRESS_SECONDS = 5.0
FIRST_PROGRESS_SECONDS = 1.0  # the first line: the job has started, and how fast it goes


# --------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------

def config_from_run(run_dir: Path) -> Config:
    """The Config a run folder was made with (its ``config.json``)."""
    saved = runs.read_json(Path(run_dir) / "config.json")
    return config_from_fields(Config, saved["experiments"]["a"] if "experiments" in saved else saved)


# Measured with the default network and optimiser, baseline seeds 0, 1, 2,
# checkpoints from checkpoint_steps (so no censoring before 0.95 T), on the
# shared 2-core CPU (Dec 2026), t_50 in steps (final Delta_50):
#   T =  5,000: 3,025 / 3,642 / 2,901   (0.054 / 0.072 / 0.033), slowest 0.73 T
#   T =  6,000: 3,185 / 5,111 / 2,963   (0.028 / 0.091 / 0.027), slowest 0.85 T
#   T =  8,000: 2,963 / 6,222 / 3,160   (0.005 / 0.081 / 0.002), slowest 0.78 T
#   T = 10,000: 3,580 / 4,691 / 4,074   (0.002 / 0.015 / 0.004), slowest 0.47 T
# With cosine decay seed 1 learns k = 50 only as the rate falls, up to 8,000
# steps at 0.73-0.85 T with Delta_50 ending near eps; at 10,000 every seed
# learns it before half the run and ends far below eps: the default.
BASELINE_STEPS_FOR_K50 = 4700


def short_run_warning(cfg: Config) -> str | None:
    """A warning when ``steps`` leaves the baseline too little time to learn
    the highest target frequency (then nobody can tell 'slower' from 'too
    few steps'), scaled as k_max^2 from the measured k = 50 time -- a rough
    guide; the run itself checks what the baseline learned. The crossing must
    come before the last window (``MAX_WINDOW_FRACTION`` of the run) to be
    confirmed, hence the division."""
    need = BASELINE_STEPS_FOR_K50 * (max(cfg.freqs) / 50) ** 2 / (1 - MAX_WINDOW_FRACTION)
    if cfg.steps < need:
        return (f"steps={cfg.steps} is likely too short for the baseline to learn k={max(cfg.freqs)} "
                f"(about {need:,.0f} steps with the default network, the last "
                f"{MAX_WINDOW_FRACTION:.0%} of a run being too late to confirm); its learning "
                f"times will probably be censored ('not learned by T' or 'not confirmed')")
    return None

