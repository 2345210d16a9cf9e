"""Experiment A: which frequency is learned when, with and without L2 and
dropout (docs/DEFINITIONS.md section 1).

An MLP fits ``y = sin(5x) + sin(20x) + sin(50x)`` on the periodic grid,
full batch. At log-spaced steps, in eval mode, we measure per target frequency
the phase-aware relative error ``Delta_k``, the gain ``g_k`` and, from the
curves, the learning time ``t_k(eps)``. Every arm starts from the same
weights for a given seed; arms x seeds are independent jobs.

Measured on a 2-core AMD EPYC CPU (float32, torch 2.14.1): see README
"Experiment A" for the default run's wall time and learning times.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data.toy_data import make_target, validate_grid
from experiments import dose
from experiments import exp_a_modes as modes
from models.mlp import MLP
from utils import frequency as fq
from utils import runs, stats, tidy, verdicts
from utils.executor import Job, Launch, local_workers, run_jobs
from utils.jobs import JobStore
from utils.config import Range, check_numbers
from utils.optim import lr_multiplier
from utils.regimen import Regimen, build_regimens, shorthand_arms, sweep_axis, sweep_spec
from utils.tables import format_table
from utils.visualization import exp_a as viz

NAME = "exp_a"
# Figure -> one sentence on what to look for (used by the HTML report).
FIGURE_CAPTIONS = {
    "exp_a_fitting.gif": "The fit over training (seed 0): top, target and network over x; "
                         "bottom, |H_k| against |Y_k|. Low frequencies appear first.",
    "exp_a_frequency_curves.png": "Relative error per target frequency against step: the "
                                  "order in which the curves cross eps is the order of learning.",
    "exp_a_gain_curves.png": "Gain per frequency: a plateau below 1 means the regulariser "
                             "shrinks that component rather than only delaying it.",
    "exp_a_spectrum_heatmap.png": "Residual at every frequency up to k=64 against step: "
                                  "target rows darken as they are learned; spurious "
                                  "frequencies show as bright rows off the targets.",
}
# Stable figure names kept from the seed project (copied to results/figures/).
STABLE_FIGURES = ("exp_a_fitting.gif", "exp_a_frequency_curves.png")


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
    l2_sweep: tuple[float, ...] = ()      # extra arms "l2=<lambda>" (older form of sweep="l2=...")
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
    batched: bool | None = None           # the jobs of a worker as one stacked model
                                          # (experiments/exp_a_batched.py, 1.2-1.4x the one-job path
                                          # here); None: whenever the mode allows it (Adam, clean
                                          # target, all points); false: one job at a time (train_job:
                                          # debugging). Jobs without dropout are bitwise the same
                                          # either way; dropout draws other (seeded) masks batched
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

    # Retired: ``workers`` (processes) is the launcher's now (main.py --workers).
    RETIRED = ("workers",)

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
          "l2_reg": Range(ge=0), "l2_sweep": Range(ge=0), "dropout": Range(ge=0, lt=1),
          "seeds": Range(ge=0, integer=True), "n_checkpoints": Range(ge=2, integer=True),
          "eps": Range(gt=0, lt=1), "window_checkpoints": Range(ge=1, integer=True),
          "window_fraction": Range(ge=0, lt=1), "spectrum_kmax": Range(ge=1, integer=True),
          "gif_frames": Range(ge=2, integer=True), "gif_frame_ms": Range(ge=1, integer=True),
          "freqs": Range(ge=1, integer=True),
          "amplitudes": Range(gt=0), **modes.RANGES}


def base_regimen(cfg: Config) -> Regimen:
    """What every arm starts from: no regulariser, the configured L2 mode."""
    return Regimen(name="baseline", l2_mode=cfg.l2_mode, dropout_at="hidden")


def build_arms(cfg: Config) -> list[Regimen]:
    """The arms of the run (``arms`` specs, then the sweep), validated."""
    base = base_regimen(cfg)
    return build_regimens(cfg.arms, base, shorthand_arms(base, cfg.l2_reg, cfg.dropout),
                          sweep_spec(cfg.sweep, cfg.l2_sweep), allowed=KNOBS, placements=PLACEMENTS)


def dose_axis(cfg: Config, arms: list[Regimen]) -> dict | None:
    """The sweep's strength axis (arm index per value), or None."""
    return sweep_axis(arms, sweep_spec(cfg.sweep, cfg.l2_sweep), base_regimen(cfg))


def describe(arm: Regimen, cfg: Config | None = None) -> str:
    return arm.label()


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
    if cfg.sweep and cfg.l2_sweep:
        raise ValueError("sweep, l2_sweep: give one of them")
    if cfg.activation not in ("relu", "tanh", "gelu", "silu"):
        raise ValueError(f"activation: expected relu, tanh, gelu or silu, got {cfg.activation!r}")
    if cfg.amplitudes and len(cfg.amplitudes) != len(cfg.freqs):
        raise ValueError(f"amplitudes: expected {len(cfg.freqs)} values, got {cfg.amplitudes}")
    if cfg.device != "cpu" and not cfg.device.startswith("cuda"):
        raise ValueError(f"device: expected cpu or cuda, got {cfg.device!r}")
    build_arms(cfg)
    modes.validate(cfg)
    if cfg.batched and not batchable(cfg):
        raise ValueError("batched: the stacked model trains the default mode only (Adam, clean "
                         "target, all points); set batched=false for optimizer/noise/train_points")


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


def _target(cfg: Config, seed: int):
    return make_target(cfg.freqs, cfg.n_points, amplitudes=cfg.amplitudes or None,
                       random_phase_seed=seed if cfg.random_phases else None)


def train_job(cfg: Config, arm: Regimen, seed: int, threads: int | None = None) -> dict:
    """Train one (arm, seed) and return its predictions at the checkpoints.

    Returns a dict with ``preds`` float32 ``(C, N)`` (eval mode, full grid),
    ``loss`` float64 ``(C,)`` (data term of the training loss at that step),
    ``seconds`` wall time of the training loop.
    """
    if threads:
        torch.set_num_threads(threads)
    # L2 drives the weights of dead units towards 0 and into float32's
    # subnormal range, where CPU arithmetic is ~100x slower: the default L2
    # job took 665 s against 72 s for the baseline at 10,000 steps. Flushing
    # subnormals to zero changes nothing measurable (|w| < 1.2e-38).
    device = torch.device(cfg.device)
    target = _target(cfg, seed)
    u, y = target.tensors(device)
    # Same initial weights in every arm for a seed: build under a fixed seed
    # without touching the caller's global RNG.
    with torch.random.fork_rng(devices=[]), flush_subnormals():
        torch.manual_seed(seed)
        model = MLP(1, cfg.width, cfg.depth, cfg.activation, arm.dropout).to(device)
        torch.manual_seed(10_000 + seed)  # dropout masks
        return _fit(cfg, arm, model, u, y, modes.training_set(cfg, target, seed, u, y))


@contextlib.contextmanager
def flush_subnormals():
    """Flush float32 subnormals to zero (the CPU's FTZ/DAZ state) inside the
    block, and back to torch's default (off) after it: the state is the whole
    process's, and other code in it (hypothesis, numpy users) expects IEEE
    subnormals."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _fit(cfg: Config, arm: Regimen, model: torch.nn.Module, u, y, train=None) -> dict:
    # train: the (u, y) the loss is on when it is not the measured grid and
    # target (exp_a_modes: label noise, held-out points)
    ut, yt = (u, y) if train is None else train
    weights = arm.penalised(model)
    opt, lr0 = modes.make_optimizer(cfg, arm, model, ut)  # Adam/AdamW (lr0 = cfg.lr) or GD
    ckpts = run_checkpoints(cfg)
    is_ckpt = np.zeros(cfg.steps + 1, dtype=bool)
    is_ckpt[ckpts] = True
    preds = np.empty((ckpts.size, u.shape[0]), dtype=np.float32)
    losses = torch.empty(cfg.steps + 1, dtype=torch.float64)
    objective = torch.zeros(cfg.steps + 1, dtype=torch.float64)  # data loss + penalty

    def measure(i: int, step: int) -> None:
        model.eval()
        with torch.inference_mode():
            h = model(u)
        model.train()
        preds[i] = h.squeeze(-1).float().cpu().numpy()
        if not np.all(np.isfinite(preds[i])):
            raise FloatingPointError(f"non-finite prediction at step {step} ({arm.name})")

    t0 = time.perf_counter()
    ci = 0
    with torch.no_grad():
        losses[0] = torch.mean((model(ut) - yt) ** 2)
    measure(ci, 0)
    ci += 1
    model.train()
    for step in range(1, cfg.steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr0 * lr_multiplier(step - 1, "cosine", cfg.steps, cfg.warmup_steps)
        data_loss = torch.mean((model(ut) - yt) ** 2)
        penalty = arm.penalty(weights)
        loss = data_loss if penalty is None else data_loss + penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = data_loss.detach()
        objective[step] = loss.detach()
        if is_ckpt[step]:
            # The objective, not only the data loss: an enormous L2 makes it
            # inf from step 1 while the data loss stays finite for a while.
            bad = ~(torch.isfinite(losses[: step + 1]) & torch.isfinite(objective[: step + 1]))
            if bad.any():
                first = int(bad.nonzero()[0])
                raise FloatingPointError(
                    f"non-finite objective at step {first} ({arm.name}: data loss "
                    f"{float(losses[first])}, objective {float(objective[first])}); lower "
                    f"--set lr=... or the L2 strength")
            measure(ci, step)
            ci += 1
    return {"preds": preds, "loss": losses[ckpts].numpy(), "seconds": time.perf_counter() - t0}


# Config fields that change what a job computes (the rest are arms, seeds,
# execution and presentation); with the regimen and the seed they key its result.
JOB_FIELDS = ("freqs", "amplitudes", "random_phases", "n_points", "width", "depth", "activation",
              "steps", "lr", "warmup_steps", "n_checkpoints", "device") + modes.JOB_FIELDS


def job_key(cfg: Config, arm: Regimen, seed: int) -> dict:
    return {"config": {f: getattr(cfg, f) for f in JOB_FIELDS}, "regimen": arm.knobs(),
            "seed": seed, "steps": run_checkpoints(cfg).tolist()}


def batchable(cfg: Config) -> bool:
    """Whether the stacked model can train this config's jobs (the default
    mode only)."""
    return cfg.optimizer == "adam" and not modes.noise_on(cfg) and cfg.train_points == "all"


def uses_batched(cfg: Config) -> bool:
    return batchable(cfg) if cfg.batched is None else bool(cfg.batched)


def job_name(arm: Regimen, seed: int) -> str:
    return f"{arm.name}_seed{seed}"


def _headline(job, result: dict) -> str:
    if "results" in result:  # a batched group
        return f"{len(result['results'])} jobs as one batched model"
    return f"train MSE {float(result['loss'][-1]):.2e}"


def _train_group(cfg: Config, pairs: list) -> dict:
    """Several (arm, seed) jobs as one stacked model (``batched``)."""
    from experiments.exp_a_batched import train_jobs_batched
    return {"results": train_jobs_batched(cfg, pairs)}


def _run_jobs(cfg: Config, arms: list[Regimen], log=print, store: JobStore | None = None,
              launch: Launch | None = None, run_dir: Path | None = None) -> dict:
    """Every (arm, seed) job through the launcher (utils.executor); a job
    whose result is already in ``store`` (an interrupted run) is loaded
    instead of trained, a new one is saved there as soon as it finishes."""
    launch = launch or Launch(workers=1)  # from Python: this process (main.py: the pool)
    grid = [(a, s) for a in range(len(arms)) for s in range(len(cfg.seeds))]
    batched = uses_batched(cfg)
    # the batched path draws other dropout masks: a stored job says which path made it
    jobs = {(a, s): Job(job_name(arms[a], cfg.seeds[s]), train_job, (cfg, arms[a], cfg.seeds[s]),
                        {**job_key(cfg, arms[a], cfg.seeds[s]), "threads": launch.threads,
                         "batched": batched})
            for a, s in grid}
    kw = dict(device=cfg.device, store=store, label="[exp A]", log=log, headline=_headline,
              run_dir=run_dir)
    if not batched:
        done = run_jobs(list(jobs.values()), launch, **kw)
        return {(a, s): _plain_result(done[jobs[a, s].name]) for a, s in grid}
    # Batched: the jobs not kept from an interrupted run, in one stacked model
    # per worker; each member is saved on its own, so a resume regroups freely.
    out = {}
    for a, s in grid:
        saved = store.load(jobs[a, s].name, jobs[a, s].key) if store is not None else None
        if saved is not None:
            out[a, s] = _plain_result(saved)
            log(f"  [exp A] {jobs[a, s].name}: kept from the interrupted run")
    todo = [g for g in grid if g not in out]
    n = local_workers(launch, cfg.device, len(todo)) if todo else 1
    groups = [todo[i::n] for i in range(n) if todo[i::n]]
    group_jobs = [Job(f"batch{i}", _train_group, (cfg, [(arms[a], cfg.seeds[s]) for a, s in g]))
                  for i, g in enumerate(groups)]
    done = run_jobs(group_jobs, launch, **{**kw, "store": None})
    for g, gj in zip(groups, group_jobs):
        for (a, s), res in zip(g, done[gj.name]["results"]):
            if store is not None:
                store.save(jobs[a, s].name, jobs[a, s].key, res)
            out[a, s] = _plain_result(res)
    return out


def _plain_result(r: dict) -> dict:
    return {"preds": r["preds"], "loss": r["loss"], "seconds": float(r["seconds"])}


def analyse(cfg: Config, arms: list[Regimen], steps: np.ndarray, preds: np.ndarray) -> dict:
    """Per-frequency metrics from saved predictions ``(A, S, C, N)``."""
    n_arms, n_seeds = preds.shape[:2]
    freqs = np.asarray(cfg.freqs)
    Y = np.stack([fq.dft_coefficients(_target(cfg, s).y, freqs) for s in cfg.seeds])  # (S, K)
    H = fq.dft_coefficients(preds, freqs)                                             # (A,S,C,K)
    delta = fq.relative_error(H, Y[None, :, None, :])
    gain = fq.spectral_gain(H, Y[None, :, None, :])
    Yall = np.stack([fq.dft_coefficients(_target(cfg, s).y) for s in cfg.seeds])
    Hall = fq.dft_coefficients(preds)
    kmax = cfg.spectrum_kmax
    residual = np.abs(Hall - Yall[None, :, None, :])[..., : kmax + 1] * 2 / cfg.n_points
    ls = fq.learning_states(np.moveaxis(delta, -2, -1), steps, cfg.eps, cfg.window_checkpoints,
                            cfg.window_fraction)                                     # (A,S,K)
    return {"delta": delta, "gain": gain, "residual": residual, "t": ls.t,
            "learned": ls.state == fq.LearningState.LEARNED, "state": ls.state,
            "below_since": ls.below_since,
            "pred_amp": np.abs(Hall)[..., : kmax + 1] * 2 / cfg.n_points,
            "target_amp": np.abs(Yall)[0, : kmax + 1] * 2 / cfg.n_points}


def _median_censored(t: np.ndarray, learned: np.ndarray) -> float:
    """Median over seeds with censored values ranked last; NaN if censored."""
    vals = np.sort(np.where(learned, t, np.inf))
    n = vals.size
    med = vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])
    return float(med) if np.isfinite(med) else float("nan")


# Per-seed state names in summary.json, and the per-seed token in the table:
# a learning time, "<since>?" (below eps from <since> to T, window not
# complete) or "-" (not below eps at T).
STATE_NAMES = {fq.LearningState.LEARNED: "learned", fq.LearningState.UNCONFIRMED: "unconfirmed",
               fq.LearningState.NOT_LEARNED: "not learned"}


def _seed_token(state: int, t: float, since: float) -> str:
    if state == fq.LearningState.LEARNED:
        return f"{t:.0f}"
    return f"{since:.0f}?" if state == fq.LearningState.UNCONFIRMED else "-"


def _median_text(med: float, states: np.ndarray, T: int) -> str:
    """The median t_k, or the state of the median seed when that seed has no
    t_k (states ranked learned < unconfirmed < not learned, as times are)."""
    if np.isfinite(med):
        return f"{med:.0f}"
    rank = {fq.LearningState.LEARNED: 0, fq.LearningState.UNCONFIRMED: 1,
            fq.LearningState.NOT_LEARNED: 2}
    ordered = sorted((int(x) for x in states), key=rank.__getitem__)
    middle = ordered[(len(ordered) - 1) // 2:len(ordered) // 2 + 1]
    if all(x != fq.LearningState.NOT_LEARNED for x in middle):
        return f"below eps at T={T}, not confirmed"
    return f"not learned by T={T}"


def _states_text(states: np.ndarray) -> str:
    counts = [(int((states == code).sum()), name) for code, name in STATE_NAMES.items()]
    return ", ".join(f"{c} {name}" for c, name in counts if c)


def summarise(cfg: Config, arms: list[Regimen], m: dict) -> tuple[dict, list[dict], list[str]]:
    """Learning-time table rows, per-arm summary and warnings."""
    freqs = list(cfg.freqs)
    rows, per_arm, warnings = [], {}, []
    base = next((i for i, a in enumerate(arms) if a.name == "baseline"), None)
    for a, arm in enumerate(arms):
        # the rank correlation is shown with its n (learned points) and withheld
        # below 3 of them: censored times are one tie block that orders nothing
        rho = fq.spectral_bias_order(freqs, m["t"][a], m["learned"][a], cfg.steps)
        n_pts = fq.learned_points(m["learned"][a])
        of = f"of {m['learned'][a].size}"
        arm_sum = {"label": describe(arm, cfg), "l2": arm.l2, "dropout": arm.dropout,
                   "spearman_k_vs_t": float(rho) if np.isfinite(rho) else None,
                   "spearman_n_learned": n_pts,
                   "spearman_text": (f"{rho:+.2f} (n = {n_pts} learned {of})" if np.isfinite(rho)
                                     else f"n/a (n = {n_pts} learned {of} < 3)" if n_pts < 3
                                     else f"n/a (n = {n_pts} learned {of}; no variation)"),
                   "frequencies": {}}
        for j, k in enumerate(freqs):
            t, lr_ = m["t"][a, :, j], m["learned"][a, :, j]
            state, since = m["state"][a, :, j], m["below_since"][a, :, j]
            med = _median_censored(t, lr_)
            # Delta_k >= 0: its interval is cut at 0 (utils.stats.mean_ci). The
            # gain Re(H_k / Y_k) has no feasible bound (overshoot gives > 1, a
            # phase flip < 0), so it keeps the plain t-interval.
            fd = stats.summarize(m["delta"][a, :, -1, j], bounds=(0.0, np.inf))
            fg = stats.summarize(m["gain"][a, :, -1, j])
            entry = {"t_per_seed": [None if not l else float(v) for v, l in zip(t, lr_)],
                     "state_per_seed": [STATE_NAMES[int(x)] for x in state],
                     # below eps from this step to T (unconfirmed seeds only): a bound, not t_k
                     "below_since_per_seed": [float(v) if np.isfinite(v) else None for v in since],
                     "final_delta_per_seed": [float(v) for v in m["delta"][a, :, -1, j]],
                     "final_gain_per_seed": [float(v) for v in m["gain"][a, :, -1, j]],
                     "n_learned": int(lr_.sum()),
                     "n_unconfirmed": int((state == fq.LearningState.UNCONFIRMED).sum()),
                     "n_not_learned": int((state == fq.LearningState.NOT_LEARNED).sum()),
                     "t_median": med, "final_delta": fd, "final_gain": fg}
            if base is not None and a != base:
                tb, lb = m["t"][base, :, j], m["learned"][base, :, j]
                both = lr_ & lb
                entry["delay_vs_baseline"] = [float(x) if ok else None
                                              for x, ok in zip(t - tb, both)]
                gb = m["gain"][base, :, -1, j]
                entry["final_gain_ratio_vs_baseline"] = stats.summarize(m["gain"][a, :, -1, j] / gb)
            arm_sum["frequencies"][str(k)] = entry
            rows.append({"arm": arm.name, "k": k,
                         "t_median": _median_text(med, state, cfg.steps),
                         "n_learned": f"{int(lr_.sum())}/{lr_.size}",
                         "states": _states_text(state),
                         "t_per_seed": " ".join(_seed_token(int(x), v, b)
                                                for x, v, b in zip(state, t, since)),
                         "final_delta": (f"{fd['mean']:.3f} [{fd['lo']:.3f}, {fd['hi']:.3f}]"
                                         if fd["n"] >= 2 else f"{fd['mean']:.3f} (n = {fd['n']})"),
                         "final_gain": (f"{fg['mean']:.3f} [{fg['lo']:.3f}, {fg['hi']:.3f}]"
                                        if fg["n"] >= 2 else f"{fg['mean']:.3f} (n = {fg['n']})")})
        per_arm[arm.name] = arm_sum
    if base is not None:
        for j, k in enumerate(freqs):
            state = m["state"][base, :, j]
            n_not = int((state == fq.LearningState.NOT_LEARNED).sum())
            n_unc = int((state == fq.LearningState.UNCONFIRMED).sum())
            if n_not:
                final = ", ".join(f"Delta {d:.3f}, gain {g:.3f}" for d, g, x in
                                  zip(m["delta"][base, :, -1, j], m["gain"][base, :, -1, j], state)
                                  if x == fq.LearningState.NOT_LEARNED)
                warnings.append(f"baseline did not learn k={k} in {n_not}/{len(cfg.seeds)} seeds "
                                f"by T={cfg.steps} steps (final {final}): learning times of the "
                                f"other arms at k={k} cannot separate 'slower' from 'too few "
                                f"steps'; raise --epochs")
            if n_unc:
                warnings.append(f"baseline's k={k} is below eps at T={cfg.steps} but not confirmed "
                                f"in {n_unc}/{len(cfg.seeds)} seeds (it crossed within the last "
                                f"window): its learning time is unknown, not T; raise --epochs")
    return per_arm, rows, warnings


def write_table(path: Path, rows: list[dict]) -> Path:
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(f'"{r[c]}"' if "," in str(r[c]) or " " in str(r[c])
                                         else str(r[c]) for c in cols) for r in rows]
    return runs.write_text(path, "\n".join(lines) + "\n")


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


def pick_frames(n_ckpts: int, n_frames: int) -> np.ndarray:
    """Indices of at most ``n_frames`` checkpoints, evenly spread (the
    checkpoints are log-spaced early and linear late, so the frames are too)."""
    if n_ckpts <= n_frames:
        return np.arange(n_ckpts)
    return np.unique(np.round(np.linspace(0, n_ckpts - 1, n_frames)).astype(int))


def render_figures(run_dir: Path, cfg: Config | None = None) -> list[Path]:
    """Draw every figure of a finished run from its saved arrays alone
    (``exp_a_arrays.npz``, ``exp_a_gif.npz``, ``config.json``, and the modes'
    ``.npz`` files: :func:`experiments.exp_a_modes.render_figures`)."""
    run_dir = Path(run_dir)
    if cfg is None:
        cfg = config_from_run(run_dir)
    arr = np.load(run_dir / "exp_a_arrays.npz")
    gif = np.load(run_dir / "exp_a_gif.npz")
    arms = build_arms(cfg)
    labels = [describe(a, cfg) for a in arms]
    steps, n_seeds = arr["steps"], len(cfg.seeds)
    figs = run_dir / "figures"
    title = (f"Experiment A: MLP {cfg.depth}x{cfg.width} {cfg.activation} fits "
             + " + ".join(f"sin({k}x)" for k in cfg.freqs))
    return [
        viz.plot_frequency_curves(figs / "exp_a_frequency_curves.png", steps, arr["delta_mean"],
                                  arr["delta_lo"], arr["delta_hi"], cfg.freqs, labels, cfg.eps,
                                  n_seeds, title + "\nper-frequency relative error "
                                  "(eval mode, full grid)"),
        viz.plot_frequency_curves(figs / "exp_a_gain_curves.png", steps, arr["gain_mean"],
                                  arr["gain_lo"], arr["gain_hi"], cfg.freqs, labels, None, n_seeds,
                                  title + "\ngain Re(H_k/Y_k): below 1 = component shrunk",
                                  ylabel=r"gain $g_k$", reference=1.0),
        viz.plot_spectrum_heatmaps(figs / "exp_a_spectrum_heatmap.png", steps,
                                   arr["residual"].mean(axis=1), cfg.freqs, labels,
                                   title + f"\nresidual spectrum, mean over {n_seeds} seeds"),
        viz.make_fit_gif(figs / "exp_a_fitting.gif", arr["x"], arr["y"],
                         arr["preds"][:, 0][:, gif["frames"]], steps[gif["frames"]],
                         gif["target_amp"], gif["pred_amp"], cfg.freqs, [a.name for a in arms],
                         f"Experiment A, seed {cfg.seeds[0]}", duration_ms=cfg.gif_frame_ms),
    ] + modes.render_figures(cfg, run_dir)


def render_dose(run_dir: Path) -> list[Path]:
    """The dose-response figures of a sweep (none without one)."""
    return dose.render_a(run_dir)


def config_from_run(run_dir: Path) -> Config:
    """The Config a run folder was made with (its ``config.json``)."""
    saved = runs.read_json(Path(run_dir) / "config.json")
    fields = saved["experiments"]["a"] if "experiments" in saved else saved
    types_ = {f.name for f in dataclasses.fields(Config)}
    return Config(**{k: tuple(v) if isinstance(v, list) else v
                     for k, v in fields.items() if k in types_})


def run(cfg: Config, run_dir: Path, log=print, resume: bool = False,
        launch: Launch | None = None) -> dict:
    """Train every arm and seed, measure, save arrays, figures and the table.
    Returns the summary dict (also written to ``summary.json``). Each job's
    result is kept under ``jobs/`` as it finishes; ``resume``: jobs found
    there (for this very config) are loaded instead of trained again."""
    validate(cfg)
    run_dir = Path(run_dir)
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    arms = build_arms(cfg)
    metrics = runs.JsonlLogger(run_dir / "metrics.jsonl")
    t_start = time.perf_counter()
    short = short_run_warning(cfg)
    if short:
        log(f"WARNING: {short}")

    store = JobStore(run_dir / "jobs")
    if resume:  # the per-job and per-step records are rewritten below from all jobs
        metrics.drop(lambda r: r.get("kind") in ("step", "job"))
    results = _run_jobs(cfg, arms, log, store, launch, run_dir)
    for a, arm in enumerate(arms):
        for s, seed in enumerate(cfg.seeds):
            metrics.log("job", arm=arm.name, seed=seed, seconds=results[a, s]["seconds"])
    steps = run_checkpoints(cfg)
    preds = np.stack([np.stack([results[a, s]["preds"] for s in range(len(cfg.seeds))])
                      for a in range(len(arms))])                                  # (A,S,C,N)
    loss = np.stack([np.stack([results[a, s]["loss"] for s in range(len(cfg.seeds))])
                     for a in range(len(arms))])
    m = analyse(cfg, arms, steps, preds)
    for a, arm in enumerate(arms):
        for s, seed in enumerate(cfg.seeds):
            for i, step in enumerate(steps):
                metrics.log("step", arm=arm.name, seed=seed, step=int(step), train_mse=loss[a, s, i],
                            **{f"delta_{k}": m["delta"][a, s, i, j] for j, k in enumerate(cfg.freqs)},
                            **{f"gain_{k}": m["gain"][a, s, i, j] for j, k in enumerate(cfg.freqs)})
    train_seconds = time.perf_counter() - t_start

    d_mean, d_lo, d_hi = stats.mean_ci(m["delta"], axis=1, bounds=(0.0, np.inf))  # Delta_k >= 0
    g_mean, g_lo, g_hi = stats.mean_ci(m["gain"], axis=1)
    target0 = _target(cfg, cfg.seeds[0])
    runs.save_npz(run_dir / "exp_a_arrays.npz", steps=steps, x=target0.x, y=target0.y,
                  freqs=np.asarray(cfg.freqs), arms=np.asarray([a.name for a in arms]),
                  seeds=np.asarray(cfg.seeds), preds=preds, train_loss=loss,
                  delta=m["delta"], gain=m["gain"], residual=m["residual"],
                  t_learn=m["t"], learned=m["learned"], learn_state=m["state"],
                  below_since=m["below_since"],
                  delta_mean=d_mean, delta_lo=d_lo, delta_hi=d_hi,
                  gain_mean=g_mean, gain_lo=g_lo, gain_hi=g_hi)
    tidy.write_tidy_csv(run_dir / "exp_a_tidy.csv", tidy.tidy_rows_a(run_dir / "exp_a_arrays.npz"))
    per_arm, rows, warnings = summarise(cfg, arms, m)
    write_table(run_dir / "learning_times.csv", rows)
    dose.save_axis(run_dir, dose_axis(cfg, arms), [a.name for a in arms])

    frames = pick_frames(steps.size, cfg.gif_frames)
    runs.save_npz(run_dir / "exp_a_gif.npz", frames=frames, target_amp=m["target_amp"],
                  pred_amp=m["pred_amp"][:, 0][:, frames])
    summary = {
        "experiment": "A",
        "target": {"freqs": list(cfg.freqs), "n_points": cfg.n_points,
                   "amplitudes": list(cfg.amplitudes) or [1.0] * len(cfg.freqs),
                   "random_phases": cfg.random_phases},
        "steps": cfg.steps, "eps": cfg.eps, "seeds": list(cfg.seeds),
        "arms": per_arm,
        "takeaway": verdicts.takeaway_a(per_arm, cfg.freqs, cfg.steps),
        "table": rows,
        # What the HTML report shows: figures with what to look for, and tables.
        "figures": [{"file": f"figures/{name}", "caption": caption}
                    for name, caption in FIGURE_CAPTIONS.items()],
        "tables": [{"title": f"Learning times t_k (steps; Delta_k < {cfg.eps:g} sustained), "
                             f"median over {len(cfg.seeds)} seeds; final Delta_k and gain "
                             "with 95% intervals. Per seed: t_k; '<step>?' below eps from "
                             "<step> to T, not confirmed; '-' not learned (Delta_k >= eps at T)",
                    "columns": list(rows[0]), "rows": [list(r.values()) for r in rows]},
                   {"title": "Spectral-bias order: Spearman correlation of k and t_k, pooled "
                             "over seeds (+1 = strictly low to high)",
                    "columns": ["arm", "spearman"],
                    "rows": [[a, v["spearman_text"]] for a, v in per_arm.items()]}],
        "gif": {"frames": int(frames.size), "frame_ms": cfg.gif_frame_ms, "loop": 0},
        "warnings": ([short] if short else []) + warnings,
        "wall_seconds": {"training": train_seconds, "total": time.perf_counter() - t_start},
    }
    dose_table = dose.a_table(run_dir, {"t_learn": m["t"], "learned": m["learned"],
                                        "gain": m["gain"], "freqs": np.asarray(cfg.freqs)})
    if dose_table:
        summary["tables"].append(dose_table)
        summary["figures"] += [{"file": f"figures/{n}", "caption": dose.CAPTIONS[n]}
                               for n in ("exp_a_dose_response.png", "exp_a_dose_delay.png")]
    modes.attach(cfg, arms, run_dir, steps, preds, m, summary, log)  # nothing in the default mode
    runs.write_json(run_dir / "summary.json", summary)
    render_figures(run_dir, cfg)
    render_dose(run_dir)
    summary["wall_seconds"]["total"] = time.perf_counter() - t_start
    runs.write_json(run_dir / "summary.json", summary)
    log("\n" + format_table(summary["tables"][0]))
    for arm in arms:
        log(f"  spectral-bias order (Spearman k vs t_k, pooled over seeds), {arm.name}: "
            f"{per_arm[arm.name]['spearman_text']}")
    for w in warnings:
        log(f"WARNING: {w}")
    return summary
