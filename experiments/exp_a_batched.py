"""Experiment A's (arm, seed) jobs trained as ONE batched model.

Every job of experiment A is a tiny MLP (default 4x192, N = 512 grid points,
full batch): one job alone keeps a core waiting on small matmuls and Python
overhead. Here the J jobs' parameters live in one flat float32 buffer
``(J, P)`` (per job: the weight matrices, then the biases, in
``nn.Linear``'s ``(out, in)`` layout), and one step is written out by hand,
without autograd, into buffers allocated once:

* forward: the fan-in-1 first layer is one ``addcmul`` for all jobs, every
  square hidden layer one ``baddbmm``, the activation in place, dropout a
  ``masked_fill_`` and a multiply on the dropout jobs' rows;
* backward: per square layer two ``bmm`` (weight and input gradients) and
  one sum (bias), the activation's own backward op in place;
* optimiser: Adam / AdamW over the whole flat buffer at once (a handful of
  ops for all parameters of all jobs), with per-job learning rates and
  decoupled decay.

Each job keeps what it has in :func:`experiments.exp_a_synthetic.train_job`:
its own Adam moments, learning rate (``cfg.lr`` times the regimen's
``lr_scale``, the shared warm-up + cosine schedule), L2 strength and mode
(``penalty``: ``l2 * sum ||W||^2`` in its loss; ``decoupled``: its weight
matrices times ``1 - lr * l2`` before the Adam update, ``torch.optim.AdamW``,
biases not decayed) and dropout rate.

Bits. Every op is the one ``train_job``'s autograd runs, term by term (the
weight gradient of a square layer is ``g^T h`` as in ``mm_mat2_backward``,
the first layer's ``addmm`` with one input equals ``addcmul``, the read-out's
input gradient with one output equals a broadcast multiply, Adam's
``addcdiv_`` is called per job with that job's step size). Three products
reduce over the grid or the width and take other BLAS kernels when batched
(first-layer and read-out weight gradients, read-out forward): on the CPU
they run job by job (``exact=True``, 3 x J small calls per step). So on the
CPU a job WITHOUT dropout trained here is bit for bit ``train_job`` run with
the same number of torch threads, whatever else is in its batch and run after
run (the tests check every arm and L2 mode). With ``exact=False`` (the
default off the CPU) those three products are batched too; measured against
``train_job`` after 40 steps of the tests' small network, that differs by at
most a few float32 ulps (see the tests). Across thread counts MKL's own sums
change: ``train_job`` with 2 threads differs from itself with 1 thread by 1-2
float32 ulps after 6 steps at 4x192, and training amplifies that (after 500
steps up to 1.4 in a prediction and 0.2 in ``Delta_k``: the trajectory is
chaotic), so job-by-job comparisons hold only at one thread count and one
mask stream; otherwise compare what is measured over seeds.

Dropout masks are NOT ``train_job``'s (whose per-element ``bernoulli_`` on a
float tensor cost a fifth of a batched step). Per seed, one
PCG64 stream (numpy, seeded ``SeedSequence([MASK_SALT, seed])``) gives, each
training-mode forward, 16 random bits per hidden unit of every layer
(``random_raw`` words viewed as int16, one call for all layers); a unit of a
job with rate ``p`` is dropped where its 16 bits, as a signed integer, are
below ``round(p * 65536) - 32768``, and kept units are scaled by
``1 / (1 - p)`` as in ``nn.Dropout``. So:

* a job's masks depend only on its ``(seed, p)`` and the step -- not on which
  other jobs share its batch, nor on their order -- and are the same run
  after run (PCG64's raw stream is fixed across numpy versions);
* jobs with different seeds get independent streams; jobs with the same seed
  share one, as in ``train_job`` (where both arms seed the generator with
  ``10_000 + seed``): equal rates give equal masks, a larger rate drops a
  superset of the units (common random numbers across arms of a seed);
* the realised rate is ``round(p * 65536) / 65536`` (0.1000061 for 0.1; rates
  below 2^-17 round to no dropout and are refused);
* the step-0 loss is taken in training mode and consumes one draw, as in
  ``train_job``;
* the int16 view of the words is little-endian's (every machine torch
  builds for today); a big-endian machine would pair the bits otherwise.

Speed (benchmarks/bench_exp_a.py part batched, README benchmark 7): at
4x192, 9 jobs, 1 thread, the matrix products are about two thirds of a step;
the rest is elementwise work over tensors larger than the core's cache
(activation and its backward, bias, dropout, Adam's passes over 4 MB of
parameters), which batching cannot shrink.

Dropout jobs can therefore be compared with ``train_job`` only over seeds
(the tests do; and they inject ``train_job``'s own torch masks through
``masks=`` to check the dropout arithmetic bit for bit).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from experiments import exp_a_synthetic as exp_a
from models.mlp import MLP
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


ACTIVATIONS = ("relu", "tanh", "gelu", "silu")
# Salt of the dropout-mask streams' seed sequence (any fixed constant: it
# keeps them apart from other numpy streams seeded with the bare seed).
MASK_SALT = 0x5EED_DA7A


# Every block of the flat buffer starts on a 64-byte boundary (16 float32),
# as torch's allocator places separate tensors: with 2 threads MKL and
# torch's reductions split misaligned rows differently, and a job's bits
# then depended on its place in the batch (measured; 1 thread did not care).
ALIGN = 16


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _layout(shapes: list[tuple[int, int]]) -> tuple[list[int], list[int], int, int]:
    """Offsets of the weight and bias blocks in a job's row (weights first),
    the end of the weights, and the row length; all multiples of ALIGN."""
    w_off, off = [], 0
    for o, i in shapes:
        w_off.append(off)
        off += _aligned(o * i)
    n_weights, b_off = off, []
    for o, _ in shapes:
        b_off.append(off)
        off += _aligned(o)
    return w_off, b_off, n_weights, off


def _views(flat: torch.Tensor, shapes: list[tuple[int, int]]):
    """``(weights, biases)``: per layer ``(J, out, in)`` and ``(J, 1, out)``
    views into ``flat`` ``(J, P)`` (padding between blocks stays 0)."""
    J = flat.shape[0]
    w_off, b_off, _, _ = _layout(shapes)
    weights = [flat[:, a:a + o * i].view(J, o, i) for a, (o, i) in zip(w_off, shapes)]
    biases = [flat[:, a:a + o].view(J, 1, o) for a, (o, _) in zip(b_off, shapes)]
    return weights, biases


class StackedMLP:
    """J copies of :class:`models.mlp.MLP` (dropout after each hidden
    activation, as there) with a hand-written forward and backward.

    ``flat`` / ``grad``: ``(J, P)`` parameters and their gradients;
    ``weights[l]`` ``(J, out, in)`` and ``biases[l]`` ``(J, 1, out)`` view
    ``flat`` (``gw``, ``gb`` view ``grad``), the last pair is the read-out.
    ``forward(u (N, 1), noise) -> (J, N, 1)``; ``backward(u, g_out)`` fills
    ``grad`` from the output gradient of the last training forward.
    ``exact``: the three grid- or width-reducing thin products job by job
    (bitwise ``train_job`` on the CPU) instead of batched.
    """

    def __init__(self, seeds: list[int], cfg: exp_a.Config, device: torch.device,
                 n_points: int | None = None, exact: bool | None = None):
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {cfg.activation!r}")
        J, width, depth = len(seeds), cfg.width, cfg.depth
        n = cfg.n_points if n_points is None else n_points
        sizes = [1] + [width] * depth + [1]
        shapes = list(zip(sizes[1:], sizes[:-1]))                # (out, in) per layer
        _, _, self.n_weights, row = _layout(shapes)
        self.flat = torch.zeros(J, row, device=device)
        self.grad = torch.zeros_like(self.flat)
        self.weights, self.biases = _views(self.flat, shapes)
        self.gw, self.gb = _views(self.grad, shapes)
        per_seed = {}
        for s in dict.fromkeys(seeds):
            # Exactly train_job's initial weights: MLP(...) under manual_seed(seed),
            # without touching the caller's global generator.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s)
                m = MLP(1, width, depth, cfg.activation, 0.0)
            per_seed[s] = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
        with torch.no_grad():
            for j, s in enumerate(seeds):
                for w, b, lin in zip(self.weights, self.biases, per_seed[s]):
                    w[j].copy_(lin.weight)
                    b[j, 0].copy_(lin.bias)
        self.activation = cfg.activation
        self.exact = (device.type == "cpu") if exact is None else bool(exact)
        new = lambda: torch.empty(J, n, width, device=device)   # noqa: E731
        self.h = [new() for _ in range(depth)]            # after activation and dropout
        # pre-activations, for the backward of smooth activations (ReLU's
        # needs only its output, so it runs in place)
        self.z = self.h if cfg.activation == "relu" else [new() for _ in range(depth)]
        self.g = [new(), new()]                           # gradient buffers, alternating
        self.out = torch.empty(J, n, 1, device=device)

    def forward(self, u: torch.Tensor, noise=None) -> torch.Tensor:
        """``noise``: None (eval mode, or no dropout job) or, per hidden
        layer, ``(D, N, width)`` dropout multipliers (0 or ``1 / (1 - p)``,
        as ``nn.Dropout``'s) for the first ``D`` jobs (the trainer puts the
        dropout jobs first). Returns ``self.out`` (reused)."""
        for l in range(len(self.h)):
            z, h = self.z[l], self.h[l]
            if l == 0:      # fan-in 1: b + u w, which is what addmm computes there
                torch.addcmul(self.biases[0], u, self.weights[0].transpose(1, 2), out=z)
            else:
                torch.baddbmm(self.biases[l], self.h[l - 1], self.weights[l].transpose(1, 2),
                              out=z)
            if self.activation == "relu":
                z.relu_()
            elif self.activation == "tanh":
                torch.tanh(z, out=h)
            elif self.activation == "gelu":
                torch.ops.aten.gelu.out(z, out=h)
            else:
                torch.ops.aten.silu.out(z, out=h)
            if noise is not None:
                h[: noise[l].shape[0]].mul_(noise[l])     # nn.Dropout: input * noise
        w, b, h = self.weights[-1], self.biases[-1], self.h[-1]
        if self.exact:
            for j in range(w.shape[0]):
                torch.addmm(b[j], h[j], w[j].t(), out=self.out[j])
        else:
            torch.baddbmm(b, h, w.transpose(1, 2), out=self.out)
        return self.out

    def backward(self, u: torch.Tensor, g_out: torch.Tensor, noise=None) -> None:
        """Gradients of ``sum_j loss_j`` into ``grad`` from ``g_out`` ``(J, N, 1)``,
        the output gradient of the last forward (same ``noise``)."""
        J = g_out.shape[0]
        h, w = self.h[-1], self.weights[-1]
        if self.exact:
            for j in range(J):
                torch.mm(g_out[j].t(), h[j], out=self.gw[-1][j])
        else:
            torch.bmm(g_out.transpose(1, 2), h, out=self.gw[-1])
        torch.sum(g_out, dim=1, keepdim=True, out=self.gb[-1])
        g, spare = self.g
        torch.mul(g_out, w, out=g)            # (N, 1) x (1, width): what mm computes there
        for l in reversed(range(len(self.h))):
            if noise is not None:
                g[: noise[l].shape[0]].mul_(noise[l])
            if self.activation == "relu":
                torch.ops.aten.threshold_backward.grad_input(g, self.h[l], 0, grad_input=g)
            elif self.activation == "tanh":
                torch.ops.aten.tanh_backward.grad_input(g, torch.tanh(self.z[l]), grad_input=g)
            elif self.activation == "gelu":
                torch.ops.aten.gelu_backward.grad_input(g, self.z[l], grad_input=g)
            else:
                torch.ops.aten.silu_backward.grad_input(g, self.z[l], grad_input=g)
            torch.sum(g, dim=1, keepdim=True, out=self.gb[l])
            if l == 0:
                if self.exact:
                    for j in range(J):
                        torch.mm(g[j].t(), u, out=self.gw[0][j])
                else:
                    torch.bmm(g.transpose(1, 2), u.expand(J, *u.shape), out=self.gw[0])
            else:
                torch.bmm(g.transpose(1, 2), self.h[l - 1], out=self.gw[l])
                torch.bmm(g, self.weights[l], out=spare)
                g, spare = spare, g


class DropoutMasks:
    """Dropout multipliers for ``D`` dropout jobs, ``specs[j] = (seed, p)``
    of job ``j``: one PCG64 stream per seed (see the module docstring).

    ``draw()`` -> per hidden layer ``l`` a float32 ``(D, n, width)`` tensor
    of 0 (dropped) and ``1 / (1 - p)`` (kept, as ``nn.Dropout`` scales), or
    None without dropout jobs; the buffers are reused by the next draw.
    ``via_numpy``: threshold the bits with numpy into the (CPU) buffer
    (default on the CPU: 0.4 ms against 2.3 for torch's ``lt`` and a
    bool-to-float multiply per default step, measured); otherwise the bits go
    to ``device`` and torch thresholds them there. Both give the same values.
    """

    BITS = 16

    def __init__(self, specs: list[tuple[int, float]], depth: int, n: int, width: int,
                 device: torch.device, via_numpy: bool | None = None):
        groups: dict[int, list[int]] = {}
        thresholds = []
        for j, (s, p) in enumerate(specs):
            if not 0 < p < 1:
                raise ValueError(f"specs: expected dropout rates in (0, 1), got {p} (job {j})")
            t = round(p * 2 ** self.BITS)
            if t < 1:
                raise ValueError(f"specs: dropout rate {p} rounds to 0 at {self.BITS} bits "
                                 f"(job {j}); expected p >= 2^-{self.BITS + 1}")
            groups.setdefault(int(s), []).append(j)
            thresholds.append(t - 2 ** (self.BITS - 1))      # dropped: bits < threshold
        self.shape = (depth, n, width)
        self.words = -(-depth * n * width * self.BITS // 64)   # uint64 words per draw
        self.groups = [(np.random.PCG64(np.random.SeedSequence([MASK_SALT, s])), idx)
                       for s, idx in groups.items()]
        self.thresholds = thresholds
        self.device = torch.device(device)
        self.via_numpy = self.device.type == "cpu" if via_numpy is None else bool(via_numpy)
        if self.via_numpy and self.device.type != "cpu":
            raise ValueError(f"via_numpy: needs a CPU device, got {self.device}")
        D = len(specs)
        # as nn.Dropout: 1 / (1 - p) in float32
        self.scale = torch.ones(D).div_(torch.tensor([1.0 - p for _, p in specs]))
        self.buf = torch.empty(depth, D, n, width, device=self.device)
        self.noise = list(self.buf.unbind(0))

    def effective_rates(self) -> list[float]:
        """The rate each job is dropped at: ``round(p * 2^16) / 2^16``."""
        return [(t + 2 ** (self.BITS - 1)) / 2 ** self.BITS for t in self.thresholds]

    def draw(self) -> list[torch.Tensor] | None:
        if not self.groups:
            return None
        size = self.shape[0] * self.shape[1] * self.shape[2]
        for bitgen, idx in self.groups:
            bits = bitgen.random_raw(self.words).view(np.int16)[:size].reshape(self.shape)
            if self.via_numpy:
                out = self.buf.numpy()
                for j in idx:
                    np.multiply(bits >= self.thresholds[j], self.scale[j].numpy(), out=out[:, j])
            else:
                bits_t = torch.from_numpy(bits).to(self.device)
                for j in idx:
                    torch.mul(bits_t >= self.thresholds[j], self.scale[j].to(self.device),
                              out=self.buf[:, j])
        return self.noise


class FlatAdam:
    """``torch.optim.Adam`` / ``AdamW`` (single-tensor path) over the flat
    ``(J, P)`` buffer with per-job learning rate and decoupled decay of the
    weight columns ``[:n_weights]``.

    ``step(lr, decay)``: Python floats per job (``decay`` 0 for Adam jobs).
    ``exact``: the final ``addcdiv_`` per job with its Python step size, as
    Adam calls it; otherwise one batched multiply-divide-add (the same
    values; J small launches would dominate on a GPU)."""

    def __init__(self, flat: torch.Tensor, grad: torch.Tensor, n_weights: int, exact: bool):
        self.p, self.g, self.nw, self.exact = flat, grad, n_weights, exact
        self.m, self.v = torch.zeros_like(flat), torch.zeros_like(flat)
        self.denom = torch.empty_like(flat)
        self.t = 0

    @torch.no_grad()
    def step(self, lr: list[float], decay: list[float]) -> None:
        self.t += 1
        step = float(self.t)
        bc1 = 1 - BETA1 ** step
        bc2_sqrt = (1 - BETA2 ** step) ** 0.5
        p, g, m, v, denom = self.p, self.g, self.m, self.v, self.denom
        for j, wd in enumerate(decay):
            if wd:
                p[j, : self.nw].mul_(1 - lr[j] * wd)   # AdamW: decay, then the Adam update
        m.lerp_(g, 1 - BETA1)
        v.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
        torch.sqrt(v, out=denom).div_(bc2_sqrt).add_(ADAM_EPS)
        if self.exact:
            for j, lr_j in enumerate(lr):
                p[j].addcdiv_(m[j], denom[j], value=-(lr_j / bc1))
        else:
            # Adam's addcdiv_(m, denom, value=-step) is p + (value * m) / denom;
            # the per-job scalars rounded once to float32, as Python floats are there.
            neg = torch.tensor([-(x / bc1) for x in lr], dtype=torch.float64)
            neg = neg.to(torch.float32).to(p.device).view(-1, 1)
            p.add_(torch.mul(m, neg, out=self.g).div_(denom))   # g is spent


def train_jobs_batched(cfg: exp_a.Config, jobs, threads: int | None = None,
                       masks=None, exact: bool | None = None) -> list[dict]:
    """Train every ``(arm, seed)`` of ``jobs`` as one batched model.

    Returns, per job in order, ``train_job``'s dict: ``preds`` float32
    ``(C, N)`` (eval mode, full grid, at ``checkpoint_steps``), ``loss``
    float64 ``(C,)`` (data term at those steps), ``seconds``: the batch's
    training-loop wall time divided by the number of jobs (each job's share;
    they sum to the batch's time). A non-finite loss or prediction in any
    job stops the batch with ``FloatingPointError`` naming the step and the
    job's arm, as ``train_job`` does.

    ``masks``: a callable ``specs -> object with draw()`` replacing
    :class:`DropoutMasks` (``specs``: ``(seed, p)`` of the dropout jobs in
    batch order; the tests inject ``train_job``'s torch masks with it).
    ``exact``: see :class:`StackedMLP` (default: on the CPU).
    """
    # L2 drives the weights of dead units into float32's subnormal range,
    # where CPU arithmetic is ~100x slower (see exp_a.flush_subnormals).
    with exp_a.flush_subnormals(), torch.no_grad():
        return _train_jobs_batched(cfg, jobs, threads, masks, exact)


def _train_jobs_batched(cfg: exp_a.Config, jobs, threads: int | None, mask_source,
                        exact: bool | None) -> list[dict]:
    jobs = list(jobs)
    knobs = [job_knobs(cfg, arm) for arm, _ in jobs]
    seeds = [s for _, s in jobs]
    _validate(cfg, knobs, seeds)
    # Dropout jobs first (masks touch a leading slice of the batch), then the
    # penalty jobs (their gradient term touches one contiguous slice); results
    # go back in the caller's order (a job's bits do not depend on its place
    # in the batch, see the tests).
    pen_of = lambda k: k.l2 if k.l2_mode == "penalty" else 0.0          # noqa: E731
    order = sorted(range(len(jobs)), key=lambda j: (knobs[j].dropout == 0, pen_of(knobs[j]) == 0))
    knobs = [knobs[j] for j in order]
    seeds = [int(seeds[j]) for j in order]
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(cfg.device)
    J = len(jobs)
    targets = {s: exp_a._target(cfg, s).tensors(device) for s in dict.fromkeys(seeds)}
    u = targets[seeds[0]][0]                                   # (N, 1): the grid, the same for all
    y = torch.stack([targets[s][1] for s in seeds])            # (J, N, 1): phases may differ per seed
    N = u.shape[0]
    net = StackedMLP(seeds, cfg, device, N, exact)
    specs = [(s, k.dropout) for k, s in zip(knobs, seeds) if k.dropout > 0]
    masks = (mask_source or (lambda sp: DropoutMasks(sp, cfg.depth, N, cfg.width, device)))(specs)
    opt = FlatAdam(net.flat, net.grad, net.n_weights, net.exact)

    lr_base = [cfg.lr * k.lr_scale for k in knobs]
    decay_w = [k.l2 if k.l2_mode == "decoupled" else 0.0 for k in knobs]
    pen_rows = [j for j, k in enumerate(knobs) if pen_of(k) > 0]
    if pen_rows:
        lo, hi = pen_rows[0], pen_rows[-1] + 1                 # contiguous by the sort
        # d/dW of l2 * sum W^2 is (2 W) * l2 (float32 l2, as autograd's scalar product)
        l2f = torch.tensor([pen_of(k) for k in knobs[lo:hi]]).to(device)
        two_l2 = (2 * l2f).view(-1, 1)
        pen_tmp = torch.empty(hi - lo, net.n_weights, device=device)
    inv_n = torch.ones((), device=device).div_(N)             # MeanBackward's grad / numel

    ckpts = exp_a.run_checkpoints(cfg)
    is_ckpt = np.zeros(cfg.steps + 1, dtype=bool)
    is_ckpt[ckpts] = True
    preds = np.empty((J, ckpts.size, N), dtype=np.float32)
    losses = torch.empty(cfg.steps + 1, J, dtype=torch.float64, device=device)
    objective = torch.zeros(cfg.steps + 1, J, dtype=torch.float64, device=device)
    diff = torch.empty(J, N, 1, device=device)
    g_out = torch.empty(J, N, 1, device=device)

    def data_loss(out: torch.Tensor) -> torch.Tensor:
        torch.sub(out, y, out=diff)
        return (diff ** 2).mean(dim=(1, 2))                    # (J,) as train_job's mean

    def check_losses(upto: int) -> None:
        # the objective too: an enormous L2 makes it inf while the data loss is finite
        lo_, ob = losses[: upto + 1].cpu(), objective[: upto + 1].cpu()
        bad = ~(torch.isfinite(lo_) & torch.isfinite(ob))
        if bad.any():
            steps_bad = torch.where(bad.any(0), bad.int().argmax(0), upto + 1)
            j = int(steps_bad.argmin())
            first = int(steps_bad[j])
            raise FloatingPointError(
                f"non-finite objective at step {first} ({knobs[j].name}: data loss "
                f"{float(lo_[first, j])}, objective {float(ob[first, j])}); lower "
                f"--set lr=... or the L2 strength")

    def measure(i: int, step: int) -> None:
        h = net.forward(u, None).squeeze(-1).float().cpu().numpy()
        bad = ~np.isfinite(h).all(axis=1)
        if bad.any():
            raise FloatingPointError(f"non-finite prediction at step {step} "
                                     f"({knobs[int(bad.argmax())].name})")
        preds[:, i] = h

    t0 = time.perf_counter()
    ci = 0
    # train_job takes the step-0 loss before its first model.eval(), i.e.
    # with dropout on: same here, and it consumes one draw of masks.
    losses[0] = data_loss(net.forward(u, masks.draw()))
    measure(ci, 0)
    ci += 1
    for step in range(1, cfg.steps + 1):
        mult = lr_multiplier(step - 1, "cosine", cfg.steps, cfg.warmup_steps)
        noise = masks.draw()
        per_job = data_loss(net.forward(u, noise))
        losses[step] = per_job
        objective[step] = per_job
        # d mean((o - y)^2) / do = (1/N) * (2 (o - y)), autograd's order of rounding
        torch.mul(diff, 2.0, out=g_out).mul_(inv_n)
        net.backward(u, g_out, noise)
        if pen_rows:
            objective[step, lo:hi] += l2f * torch.stack(
                [w[lo:hi].pow(2).sum(dim=(1, 2)) for w in net.weights]).sum(0)
            net.grad[lo:hi, : net.n_weights].add_(
                torch.mul(net.flat[lo:hi, : net.n_weights], two_l2, out=pen_tmp))
        opt.step([x * mult for x in lr_base], decay_w)
        if is_ckpt[step]:
            check_losses(step)
            measure(ci, step)
            ci += 1
    seconds = (time.perf_counter() - t0) / J
    loss_np = losses[torch.as_tensor(ckpts, device=device)].cpu().numpy()
    out = [None] * J
    for i, j in enumerate(order):
        out[j] = {"preds": preds[i], "loss": loss_np[:, i].copy(), "seconds": seconds}
    return out


def train_jobs_batched_parallel(cfg: exp_a.Config, jobs, workers: int,
                                threads: int | None = None) -> list[dict]:
    """:func:`train_jobs_batched` over ``workers`` spawned processes, each
    one batch of every ``workers``-th job (round robin, so the dropout jobs,
    which also pay for their masks, spread evenly), ``threads`` torch
    threads each (default: cores // workers; with one worker the batch runs
    in this process, at ``threads`` if given, else at its current count).

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
    if workers == 1:     # in this process: its thread count unless told, as train_job
        return train_jobs_batched(cfg, jobs, threads)
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
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
