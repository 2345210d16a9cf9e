"""Experiment A's (arm, seed) jobs trained as ONE batched model.

Every job of experiment A is a tiny MLP (default 4x192, N = 512 grid points,
full batch): one job alone keeps the two cores waiting on small matmuls and
Python overhead. Here the J jobs' weights are stacked, ``(J, out, in)`` per
layer (the layout of ``nn.Linear``, so one job's slice is its ``weight``);
every square hidden layer of every job is one ``torch.baddbmm`` (measured
against ``torch.func.vmap`` over ``functional_call``: vmap ran at 0.90 of
this, benchmarks/bench_exp_a.py part kernels). The optimiser step is
Adam / AdamW written once over the stacked tensors with per-job vectors, so
each job keeps what it has in :func:`experiments.exp_a_synthetic.train_job`:

* its own Adam moments (they live in the job's slice of the stacked state);
* its own learning rate (a per-job vector; today every job has ``cfg.lr``
  and the shared warm-up + cosine schedule);
* its own L2 strength and mode: ``penalty`` adds ``l2 * sum ||W||^2`` to its
  loss (Adam), ``decoupled`` multiplies its weight matrices by
  ``1 - lr * l2`` before the Adam update (``torch.optim.AdamW``; biases not
  decayed);
* its own dropout rate, masks drawn as described below.

Bits. The arithmetic is ``torch.optim.Adam``'s single-tensor CPU path term
by term (the per-job step size enters where Adam has
``addcdiv_(value=-step_size)``, which computes ``p + (value * m) / denom``),
``baddbmm`` gives each job the bits of one job's ``addmm`` (forward and both
gradients), and the two thin layers (fan-in 1, fan-out 1), where a batch of
J > 1 takes other BLAS kernels, run job by job through ``F.linear``. So on
the CPU a job trained here is bit for bit ``train_job`` run with the same
number of torch threads, in every arm and L2 mode (measured: 0.0 over 12
jobs x 30 steps at the default 4x192, 1 and 2 threads; the tests check it at
a small size), whatever else is in its batch and run after run. Across
thread counts MKL's own sums change: ``train_job`` with 2 threads differs
from itself with 1 thread by 1-2 float32 ulps after 6 steps at 4x192, and
so does this path. Training amplifies that: after 500 steps (4x192, Adam
1e-2) the 2-thread batch and the 1-thread ``train_job`` differed by up to
1.4 in a prediction and 0.2 in ``Delta_k`` -- the trajectory is chaotic, so
job-by-job comparisons hold only at one thread count; across thread counts
compare what is measured over seeds (learning times, final gains).

Dropout masks. ``train_job`` seeds the global generator with ``10_000 + seed``
after building the model, and the only consumer of that stream is dropout:
one ``bernoulli_(1 - p)`` on an ``(N, width)`` tensor per hidden layer per
training-mode forward (including the step-0 loss, which ``train_job``
computes before it first calls ``model.eval()``). So two jobs with the same
seed and the same rate get the same masks there, and the masks depend only
on ``(seed, p)``. We keep exactly that: one ``torch.Generator`` per
``(seed, p)`` group, seeded ``10_000 + seed``, one ``bernoulli_`` per group per
layer per step (default run: three groups, not one call per job), copied to
every job of the group. A job's masks therefore never depend on which other
jobs share the batch, jobs with different seeds get different masks, and on
the CPU they are bitwise the masks ``train_job`` draws. The cost: a draw is
per element, as in ``train_job`` (measured, the 12 draws of a default step
were about 20% of it); a counter-based hash or ``torch.rand`` (3x cheaper
per element here) would give one call for all jobs but not torch's stream,
and then no dropout job could be checked against ``train_job`` except in
distribution. On CUDA ``nn.Dropout`` uses a fused
Philox kernel instead, so there the masks are still per ``(seed, p)`` and
independent of the batch but not ``train_job``'s.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from experiments import exp_a_synthetic as exp_a
from models.mlp import ACTIVATIONS, MLP
from utils.optim import lr_multiplier

# torch.optim.Adam's defaults, which train_job uses.
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class JobKnobs:
    """What the batched trainer needs from one job's regimen."""
    name: str
    l2: float        # lambda (0 = none)
    l2_mode: str     # "penalty" | "decoupled"
    dropout: float   # rate on hidden layers
    lr_scale: float  # multiplier on cfg.lr (1 today for every job)


def job_knobs(cfg: exp_a.Config, arm) -> JobKnobs:
    """The one place that reads a regimen. Today's ``Arm`` carries no mode
    (it is ``cfg.l2_mode``); a regimen object with its own ``l2_mode`` or
    ``lr_scale`` is read as is."""
    return JobKnobs(name=str(getattr(arm, "name", arm)), l2=float(arm.l2),
                    l2_mode=str(getattr(arm, "l2_mode", cfg.l2_mode)),
                    dropout=float(arm.dropout), lr_scale=float(getattr(arm, "lr_scale", 1.0)))


def _validate(cfg: exp_a.Config, knobs: list[JobKnobs], seeds: list[int]) -> None:
    if not knobs:
        raise ValueError("jobs: expected at least one (arm, seed) pair, got none")
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {cfg.activation!r}")
    for k, s in zip(knobs, seeds):
        if k.l2_mode not in ("penalty", "decoupled"):
            raise ValueError(f"l2_mode: expected 'penalty' or 'decoupled', got {k.l2_mode!r} ({k.name})")
        if not (k.l2 >= 0 and np.isfinite(k.l2)):
            raise ValueError(f"l2: expected a finite value >= 0, got {k.l2} ({k.name})")
        if not 0 <= k.dropout < 1:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {k.dropout} ({k.name})")
        if not (k.lr_scale > 0 and np.isfinite(k.lr_scale)):
            raise ValueError(f"lr_scale: expected a finite value > 0, got {k.lr_scale} ({k.name})")
        if int(s) != s:
            raise ValueError(f"seed: expected a whole number, got {s!r} ({k.name})")


class StackedMLP:
    """J copies of :class:`models.mlp.MLP` (dropout placed as there: after
    each hidden activation), parameters stacked on a leading job axis.

    ``weights[l]``: ``(J, out, in)``; ``biases[l]``: ``(J, 1, out)``; the last
    pair is the read-out. Shapes: ``forward(u: (N, 1)) -> (J, N, 1)``.
    """

    def __init__(self, seeds: list[int], cfg: exp_a.Config, device: torch.device):
        per_seed = {}
        for s in dict.fromkeys(seeds):
            # Exactly train_job's initial weights: MLP(...) under manual_seed(seed),
            # without touching the caller's global generator.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s)
                m = MLP(1, cfg.width, cfg.depth, cfg.activation, 0.0)
            lin = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
            per_seed[s] = [(x.weight.detach(), x.bias.detach()) for x in lin]
        n_layers = len(per_seed[seeds[0]])
        self.weights = [torch.stack([per_seed[s][i][0] for s in seeds]).to(device).requires_grad_()
                        for i in range(n_layers)]
        self.biases = [torch.stack([per_seed[s][i][1] for s in seeds]).unsqueeze(1).to(device)
                       .requires_grad_() for i in range(n_layers)]
        self.act = ACTIVATIONS[cfg.activation]()
        self.relu = cfg.activation == "relu"

    @property
    def params(self) -> list[torch.Tensor]:
        return self.weights + self.biases

    def forward(self, u: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``noise[l]``: ``(D, N, width)`` dropout multipliers (0 or
        ``1/(1-p)``) for the first ``D`` jobs (the trainer puts the dropout
        jobs first), or None (eval mode, or no job has dropout)."""
        h = u
        for i, (w, b) in enumerate(zip(self.weights[:-1], self.biases[:-1])):
            z = _linear(h, w, b)
            if self.relu:
                h = _ReluDropout.apply(z, None if noise is None else noise[i])
            else:
                h = self.act(z)
                if noise is not None:
                    d = noise[i].shape[0]
                    h = torch.cat([h[:d] * noise[i], h[d:]])
        return _linear(h, self.weights[-1], self.biases[-1])


class _ReluDropout(torch.autograd.Function):
    """``relu(z)``, then the first ``D`` jobs times their dropout multipliers,
    in place, with one fused backward.

    The same values as ``nn.ReLU`` then ``nn.Dropout`` (``input * noise``)
    under autograd, whose backward is ``threshold_backward(grad * noise,
    relu(z))``: here ``threshold_backward(grad, out) * noise`` on the D rows.
    The two differ only where ``relu(z) > 0`` and the mask is 0, by the sign
    of a zero. What it saves: the whole-batch multiply forward and backward
    for jobs without dropout, and one batch-sized tensor (measured, the
    dropout multiplies were 18% of a step with 3 dropout jobs in 9)."""

    @staticmethod
    def forward(ctx, z, noise):
        out = torch.relu_(z)      # z is baddbmm's output: its backward needs only the inputs
        if noise is not None:
            out[: noise.shape[0]].mul_(noise)
        ctx.mark_dirty(z)
        ctx.save_for_backward(out, noise)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, noise = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(grad, out, 0)
        if noise is not None:
            g[: noise.shape[0]].mul_(noise)
        return g, None


def _linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Every job's ``nn.Linear``: ``h (J, N, in)`` or ``(N, in)`` shared,
    ``w (J, out, in)``, ``b (J, 1, out)`` -> ``(J, N, out)``.

    Square layers are one ``baddbmm`` for all jobs: measured, its forward and
    both gradients have, per job, the bits of one job's ``addmm``. The two
    thin layers (fan-in 1, fan-out 1) do not: there a batch of J > 1 takes
    other BLAS kernels (matrix-vector) or, written as a broadcast, another
    summation order in the weight gradient. They run job by job through
    ``F.linear`` itself -- 1/width of a hidden layer's FLOPs each."""
    if w.shape[1] == 1 or w.shape[2] == 1:
        # unbind, not h[j]: the backward of J selects would fill J zero
        # tensors of the whole batch's size (measured: 18% of a step).
        hs = h.unbind(0) if h.dim() == 3 else (h,) * w.shape[0]
        return torch.stack([F.linear(hj, wj, bj)
                            for hj, wj, bj in zip(hs, w.unbind(0), b.squeeze(1).unbind(0))])
    if h.dim() == 2:
        h = h.expand(w.shape[0], *h.shape)
    return torch.baddbmm(b, h, w.transpose(1, 2))


class DropoutMasks:
    """Dropout multipliers ``(D, N, width)`` per layer for ``D`` dropout
    jobs, one generator per ``(seed, p)`` group (see the module docstring
    for why). ``specs[j] = (seed, p)`` of dropout job ``j``."""

    def __init__(self, specs: list[tuple[int, float]], depth: int, n: int, width: int,
                 device: torch.device):
        groups: dict[tuple[int, float], list[int]] = {}
        for j, (s, p) in enumerate(specs):
            if not 0 < p < 1:
                raise ValueError(f"specs: expected dropout rates in (0, 1), got {p} (job {j})")
            groups.setdefault((int(s), float(p)), []).append(j)
        self.groups = [(p, idx, torch.Generator(device=device).manual_seed(10_000 + s))
                       for (s, p), idx in groups.items()]
        self.noise = [torch.empty(len(specs), n, width, device=device) for _ in range(depth)]

    def draw(self) -> list[torch.Tensor] | None:
        """Next masks for every layer, in train_job's order (layer by layer
        within one forward, per group stream); None without dropout jobs."""
        if not self.groups:
            return None
        for p, idx, gen in self.groups:
            for buf in self.noise:
                first = buf[idx[0]]          # contiguous (N, width), as torch's empty_like
                first.bernoulli_(1 - p, generator=gen)
                first.div_(1 - p)
                for j in idx[1:]:
                    buf[j].copy_(first)
        return self.noise


class BatchedAdam:
    """``torch.optim.Adam`` / ``AdamW`` (single-tensor path) over stacked
    parameters with per-job learning rate and decoupled decay.

    ``step(lr, decay_w)``: ``lr`` float64 ``(J,)``; ``decay_w`` float64
    ``(J,)`` decoupled weight-decay strengths applied to ``weights`` only
    (0 for Adam jobs)."""

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor]):
        self.weights, self.biases = weights, biases
        self.m = {id(p): torch.zeros_like(p) for p in weights + biases}
        self.v = {id(p): torch.zeros_like(p) for p in weights + biases}
        self.t = 0

    @torch.no_grad()
    def step(self, lr: torch.Tensor, decay_w: torch.Tensor) -> None:
        self.t += 1
        step = float(self.t)
        bc1 = 1 - BETA1 ** step
        bc2_sqrt = (1 - BETA2 ** step) ** 0.5
        J = lr.shape[0]
        dev = self.weights[0].device
        # Scalars computed in float64 then rounded once, as Python floats are
        # in torch's kernels: (lr / bc1) and 1 - lr * wd.
        neg_step = (-(lr / bc1)).to(torch.float32).to(dev).view(J, 1, 1)
        decay = (1 - lr * decay_w).to(torch.float32).to(dev).view(J, 1, 1)
        any_decay = bool((decay_w > 0).any())
        for is_weight, group in ((True, self.weights), (False, self.biases)):
            for p in group:
                g, m, v = p.grad, self.m[id(p)], self.v[id(p)]
                if is_weight and any_decay:
                    p.mul_(decay)            # AdamW: decay first, then the Adam update
                m.lerp_(g, 1 - BETA1)
                v.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
                denom = (v.sqrt() / bc2_sqrt).add_(ADAM_EPS)
                # Adam's addcdiv_(m, denom, value=-step) is p + (value * m) / denom.
                p.add_(neg_step.mul(m).div_(denom))
                p.grad = None


def train_jobs_batched(cfg: exp_a.Config, jobs, threads: int | None = None) -> list[dict]:
    """Train every ``(arm, seed)`` of ``jobs`` as one batched model.

    Returns, per job in order, ``train_job``'s dict: ``preds`` float32
    ``(C, N)`` (eval mode, full grid, at ``checkpoint_steps``), ``loss``
    float64 ``(C,)`` (data term at those steps), ``seconds``: the batch's
    training-loop wall time divided by the number of jobs (each job's share;
    they sum to the batch's time). A non-finite loss or prediction in any
    job stops the batch with ``FloatingPointError`` naming the step and the
    job's arm, as ``train_job`` does.
    """
    # L2 drives the weights of dead units into float32's subnormal range,
    # where CPU arithmetic is ~100x slower (see exp_a.flush_subnormals).
    with exp_a.flush_subnormals():
        return _train_jobs_batched(cfg, jobs, threads)


def _train_jobs_batched(cfg: exp_a.Config, jobs, threads: int | None) -> list[dict]:
    jobs = list(jobs)
    knobs = [job_knobs(cfg, arm) for arm, _ in jobs]
    seeds = [s for _, s in jobs]
    _validate(cfg, knobs, seeds)
    # Dropout jobs first, so that masks touch a leading slice of the batch
    # only; results go back in the caller's order (a job's bits do not
    # depend on its place in the batch, see the tests).
    order = sorted(range(len(jobs)), key=lambda j: knobs[j].dropout == 0)
    knobs = [knobs[j] for j in order]
    seeds = [int(seeds[j]) for j in order]
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(cfg.device)
    J = len(jobs)
    targets = {s: exp_a._target(cfg, s).tensors(device) for s in dict.fromkeys(seeds)}
    u = targets[seeds[0]][0]                                   # (N, 1): the grid, the same for all
    y = torch.stack([targets[s][1] for s in seeds])            # (J, N, 1): phases may differ per seed
    net = StackedMLP(seeds, cfg, device)
    masks = DropoutMasks([(s, k.dropout) for k, s in zip(knobs, seeds) if k.dropout > 0],
                         cfg.depth, u.shape[0], cfg.width, device)
    opt = BatchedAdam(net.weights, net.biases)

    lr_base = torch.tensor([cfg.lr * k.lr_scale for k in knobs], dtype=torch.float64)
    decay_w = torch.tensor([k.l2 if k.l2_mode == "decoupled" else 0.0 for k in knobs],
                           dtype=torch.float64)
    penalty = torch.tensor([k.l2 if k.l2_mode == "penalty" else 0.0 for k in knobs],
                           dtype=torch.float32, device=device)
    use_penalty = bool((penalty > 0).any())

    ckpts = exp_a.run_checkpoints(cfg)
    is_ckpt = np.zeros(cfg.steps + 1, dtype=bool)
    is_ckpt[ckpts] = True
    preds = np.empty((J, ckpts.size, u.shape[0]), dtype=np.float32)
    losses = torch.empty(cfg.steps + 1, J, dtype=torch.float64)

    def data_loss(h: torch.Tensor) -> torch.Tensor:
        return ((h - y) ** 2).mean(dim=(1, 2))                 # (J,) mean over the grid

    objective = torch.zeros(cfg.steps + 1, J, dtype=torch.float64)  # data loss + penalty

    def check_losses(upto: int) -> None:
        # the objective too: an enormous L2 makes it inf while the data loss is finite
        bad = ~(torch.isfinite(losses[: upto + 1]) & torch.isfinite(objective[: upto + 1]))
        if bad.any():
            steps_bad = torch.where(bad.any(0), bad.int().argmax(0), upto + 1)
            j = int(steps_bad.argmin())
            first = int(steps_bad[j])
            raise FloatingPointError(
                f"non-finite objective at step {first} ({knobs[j].name}: data loss "
                f"{float(losses[first, j])}, objective {float(objective[first, j])}); lower "
                f"--set lr=... or the L2 strength")

    def measure(i: int, step: int) -> None:
        with torch.inference_mode():
            h = net.forward(u, None).squeeze(-1).float().cpu().numpy()
        bad = ~np.isfinite(h).all(axis=1)
        if bad.any():
            raise FloatingPointError(f"non-finite prediction at step {step} "
                                     f"({knobs[int(bad.argmax())].name})")
        preds[:, i] = h

    t0 = time.perf_counter()
    ci = 0
    with torch.no_grad():
        # train_job takes the step-0 loss before its first model.eval(), i.e.
        # with dropout on: same here, and it consumes one draw of masks.
        losses[0] = data_loss(net.forward(u, masks.draw()))
    measure(ci, 0)
    ci += 1
    for step in range(1, cfg.steps + 1):
        lr = lr_base * lr_multiplier(step - 1, "cosine", cfg.steps, cfg.warmup_steps)
        per_job = data_loss(net.forward(u, masks.draw()))
        loss = per_job.sum()                                   # jobs share no parameter
        objective[step] = per_job.detach()
        if use_penalty:
            pen = penalty * torch.stack([w.pow(2).sum(dim=(1, 2)) for w in net.weights]).sum(0)
            loss = loss + pen.sum()
            objective[step] += pen.detach()
        loss.backward()
        opt.step(lr, decay_w)
        losses[step] = per_job.detach()
        if is_ckpt[step]:
            check_losses(step)
            measure(ci, step)
            ci += 1
    seconds = (time.perf_counter() - t0) / J
    loss_np = losses[ckpts].numpy()
    out = [None] * J
    for i, j in enumerate(order):
        out[j] = {"preds": preds[i], "loss": loss_np[:, i].copy(), "seconds": seconds}
    return out


def train_jobs_batched_parallel(cfg: exp_a.Config, jobs, workers: int,
                                threads: int | None = None) -> list[dict]:
    """:func:`train_jobs_batched` over ``workers`` spawned processes, each
    one batch of every ``workers``-th job (round robin, so the dropout jobs,
    which also pay for their masks, spread evenly), ``threads`` torch
    threads each (default: cores // workers).

    Why processes: on 2 cores two 1-thread processes beat one 2-thread
    process when other jobs share the machine (OpenMP threads spin), and a
    job's bits depend on the thread count but not on its batch, so with
    1 thread per process the results are bitwise those of
    ``train_job(..., threads=1)``, i.e. of today's default ``workers`` run.
    Returns the dicts in the order of ``jobs``.
    """
    jobs = list(jobs)
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers: expected a whole number >= 1, got {workers!r}")
    workers = max(1, min(int(workers), len(jobs)))
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        return train_jobs_batched(cfg, jobs, threads)
    chunks = [list(range(w, len(jobs), workers)) for w in range(workers)]
    out: list[dict | None] = [None] * len(jobs)
    # Spawned, not forked, as in exp_a_synthetic._run_jobs: a forked child of
    # a process whose OpenMP pool has run can hang in its first parallel op.
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = [pool.submit(train_jobs_batched, cfg, [jobs[i] for i in c], threads) for c in chunks]
        for c, fut in zip(chunks, futs):
            for i, res in zip(c, fut.result()):
                out[i] = res
    return out


def train_step_flops(cfg: exp_a.Config, n_jobs: int) -> int:
    """Matmul FLOPs of one training step of ``n_jobs`` batched MLPs
    (forward + backward; multiply-add = 2 FLOPs; elementwise work, the
    optimiser and checkpoint evaluations not counted).

    Per job, layer sizes ``f_0 = 1, f_1..f_depth = width, f_out = 1``:
    forward ``2 N sum f_in f_out``, weight gradient the same again, input
    gradient the same for every layer but the first (its input, the grid,
    needs none): ``2 N (3 sum f_in f_out - f_0 f_1)``.
    """
    if n_jobs < 1:
        raise ValueError(f"n_jobs: expected >= 1, got {n_jobs}")
    sizes = [1] + [cfg.width] * cfg.depth + [1]
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return int(n_jobs * 2 * cfg.n_points * (3 * macs - sizes[0] * sizes[1]))
