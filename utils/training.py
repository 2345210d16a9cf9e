"""The engine shared by the image experiments: ``train_one_epoch``,
``evaluate`` and ``predict``, and the device settings they run with.

No trainer, no callbacks: the experiment calls ``train_one_epoch`` once per
epoch, does what it needs between epochs (spectra, checkpoints, logs) and
reads the returned dicts. The L2 rule, SGD and the schedule live in
:mod:`utils.optim` (re-exported here); checkpoints in :mod:`utils.checkpoints`.

Randomness of an epoch comes only from ``(seed, epoch)``, never from the arm,
so every arm of one seed sees the same order, the same crops and flips and
the same dropout masks (paired comparisons), and a resumed run repeats an
uninterrupted one exactly without saving any RNG state.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from utils.optim import (L2_MODES, SCHEDULES, SGDL2, l2_params, l2_penalty, make_optimizer,
                         make_schedule)
# one forward for evaluation and one set of rules for engine and library
from utils.frequency._eval import Predictor, channel_stats, check_amp, check_batch_size, eval_mode
from utils.progress import Progress
from utils.regimen import Regimen

__all__ = ["L2_MODES", "SCHEDULES", "SGDL2", "NonFiniteLoss", "device_settings", "evaluate",
           "l2_params", "l2_penalty", "make_optimizer", "make_schedule", "maybe_compile",
           "place_model", "predict", "steps_per_epoch", "stream_seed",
           "train_one_epoch"]

_STREAMS = {"order": 1, "augment": 2, "dropout": 3, "input_noise": 4}


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite; the message names the first
    bad step, the epoch and the value."""


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------

def device_settings(device: torch.device | str) -> dict:
    """Speed settings for ``device``: bf16 autocast on CUDA (when supported),
    float32 on the CPU (bf16 there is about 20x slower, docs/DEFINITIONS.md section
    7); channels_last on both. On the 2-core test CPU channels_last made a
    SmallCNN training step about 1.5x faster (model alone, batch 256:
    2,230 -> 3,350 images/s for widths 16-32-64, 700 -> 1,000 for 32-64-128).
    """
    device = torch.device(device)
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return {"amp_dtype": amp, "channels_last": True}


def place_model(model: nn.Module, device: torch.device | str, channels_last: bool = False) -> nn.Module:
    """Move ``model`` to ``device`` (and to channels_last memory when asked),
    in place; returns it. Do this before :func:`make_optimizer`."""
    model.to(torch.device(device))
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled``, else ``model``. The compiled
    wrapper shares parameters with ``model``; save ``model`` itself (or let
    :mod:`utils.checkpoints` unwrap it) so state-dict keys stay plain."""
    return torch.compile(model) if enabled else model


def _autocast(device: torch.device, amp_dtype):
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


# --------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------

def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of ``n`` images: ``n // batch_size``
    (the last partial batch is dropped, see :func:`train_one_epoch`)."""
    return n // batch_size


def stream_seed(seed: int, epoch: int, stream: str) -> int:
    """A 63-bit seed for one random stream (``order``, ``augment``,
    ``dropout``) of one epoch, from ``(seed, epoch)`` only."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch: expected an int >= 0, got {epoch!r}")
    state = np.random.SeedSequence([int(seed), int(epoch), _STREAMS[stream]]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def _check_images(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] == 0 or not (
            x.dtype == torch.uint8 or x.dtype.is_floating_point):
        raise ValueError(f"{name}: expected uint8 or float images (N >= 1, C, H, W), got "
                         f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}")


def _check_labels(y, n: int) -> None:
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (n,):
        raise ValueError(f"y: expected int64 labels ({n},), got "
                         f"{type(y).__name__} {getattr(y, 'dtype', '')} {tuple(getattr(y, 'shape', ()))}")


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def _unit_float(x: torch.Tensor, dtype: torch.dtype,
                memory_format: torch.memory_format = torch.preserve_format) -> torch.Tensor:
    """Float pixels in [0, 1] in ``memory_format``; always a new tensor, so a
    transform or the normalisation may work in place without touching the
    caller's images. The layout changes in the same pass as the dtype."""
    if x.dtype == torch.uint8:
        return x.to(dtype, memory_format=memory_format).div_(255.0)
    return x.to(dtype, memory_format=memory_format, copy=True)


def _model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


# --------------------------------------------------------------------------
# train / evaluate
# --------------------------------------------------------------------------

def train_one_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                    optimizer: torch.optim.Optimizer, scheduler, batch_size: int,
                    mean: Sequence[float], std: Sequence[float], epoch: int, seed: int,
                    regimen: Regimen | None = None, augment: Callable | None = None,
                    device: torch.device | str,
                    amp_dtype: torch.dtype | None = None, channels_last: bool = False,
                    progress=False, check_every: int = 50) -> dict:
    """One pass over a random permutation of ``(x, y)``; returns
    ``{loss, objective, acc, steps, seconds, images_per_s, lr}``.

    x: ``(N, C, H, W)`` uint8 (0..255) or float in [0, 1], already on
    ``device``; y: ``(N,)`` int64 on ``device``. Each batch is gathered on the
    device, augmented (the regimen's augmentation, or ``augment(batch,
    generator)`` of your own in its place), turned into floats in [0, 1], normalised with ``mean``/``std`` and fed
    to the model.

    - ``epoch`` is the 0-based epoch index and, with ``seed``, the only
      source of randomness: the order (CPU generator), the augmentation
      (generator on ``device``) and dropout (the global torch RNG, seeded
      inside ``torch.random.fork_rng`` so the caller's RNG state is
      untouched) each get their own stream of :func:`stream_seed`.
    - The last partial batch is dropped (``steps = N // batch_size``): every
      step has the same shape (no recompiles, no tiny batch-norm batch), and
      the permutation changes every epoch, so no image is left out for long.
    - ``regimen`` (:class:`utils.regimen.Regimen`; None: no regulariser):
      the arm's regularisers -- its L2 penalty (``loss = CE + l2 *
      l2_penalty(l2_params(model))`` in penalty mode; decoupled decay is the
      optimiser's: build it with ``make_optimizer(model, regimen, ...)``),
      label smoothing, augmentation and input noise (``clip(x + sigma n, 0,
      1)`` on [0, 1] pixels after the augmentation and before
      normalisation, ``n`` from its own ``(seed, epoch)`` stream).
    - No host sync per step: loss and accuracy sums stay on the device; every
      ``check_every`` steps and at the end one sync checks them, and a
      non-finite loss raises :class:`NonFiniteLoss` naming the first bad
      step (0-based, counted over epochs: ``epoch * steps + i``).
    - ``amp_dtype``: ``torch.bfloat16`` (CUDA only) or ``None``.
    - ``progress``: True for a tqdm bar when stderr is a terminal, or a
      callable ``progress(step, steps)`` called after every step.
    Returned ``loss`` is the mean cross-entropy; ``objective`` adds the penalty.
    """
    device = torch.device(device)
    check_amp(amp_dtype, device)
    _check_images(x)
    _check_labels(y, x.shape[0])
    for name, t in (("x", x), ("y", y)):
        if not _same_device(t.device, device):
            raise ValueError(f"{name}: expected a tensor already on {device}, got one on {t.device}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every: expected an int >= 1, got {check_every!r}")
    n = x.shape[0]
    steps = steps_per_epoch(n, batch_size)
    if steps == 0:
        raise ValueError(f"batch_size: expected at most the {n} training images, got {batch_size}")
    regimen = regimen or Regimen(name="none")
    augment = augment or regimen.augmenter()
    penalised = regimen.penalised(model) if regimen.has_penalty else []
    dtype = _model_dtype(model)
    mean_t = channel_stats(mean, x.shape[1], "mean", device, dtype)
    std_t = channel_stats(std, x.shape[1], "std", device, dtype)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    order = torch.randperm(n, generator=torch.Generator().manual_seed(stream_seed(seed, epoch, "order")))
    order = order.to(device)
    aug_gen = torch.Generator(device=device).manual_seed(stream_seed(seed, epoch, "augment"))
    noise_gen = (torch.Generator(device=device).manual_seed(stream_seed(seed, epoch, "input_noise"))
                 if regimen.input_noise > 0 else None)
    # float64 sums: thousands of float32 batch means would lose digits.
    ce_sum = torch.zeros((), dtype=torch.float64, device=device)
    objective_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    bad_value = torch.zeros((), dtype=torch.float32, device=device)

    def check() -> None:
        step = int(first_bad)  # the one host sync
        if step >= 0:
            raise NonFiniteLoss(f"non-finite loss {float(bad_value)} at step {step} (epoch {epoch})")

    model.train()
    start = time.perf_counter()
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    bar = Progress(steps, f"epoch {epoch}",
                   show=progress if callable(progress) else (None if progress else False))
    with torch.random.fork_rng(devices=cuda_devices), bar:
        torch.manual_seed(stream_seed(seed, epoch, "dropout"))
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, aug_gen)
            # In place on a new tensor, laid out for the model in the uint8 -> float
            # pass: the same values as ((x / 255 - mean) / std) with two float
            # passes fewer (about 1 ms of a 75 ms CPU step, bench_train.py).
            xb = _unit_float(xb, dtype, memory_format)
            if noise_gen is not None:
                xb = regimen.add_input_noise(xb, noise_gen)
            xb = xb.sub_(mean_t).div_(std_t)
            with _autocast(device, amp_dtype):
                logits = model(xb)
            ce = regimen.cross_entropy(logits.float(), yb)
            loss = ce + regimen.penalty(penalised) if penalised else ce
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            with torch.no_grad():
                value = loss.detach().float()
                ce_sum += ce.detach()
                objective_sum += value
                correct += (logits.argmax(1) == yb).sum()
                newly_bad = (first_bad < 0) & ~torch.isfinite(value)
                first_bad = torch.where(newly_bad, epoch * steps + i, first_bad)
                bad_value = torch.where(newly_bad, value, bad_value)
            if (i + 1) % check_every == 0:
                check()
            bar.update()
    check()
    seconds = time.perf_counter() - start
    images = steps * batch_size
    return {"loss": float(ce_sum) / steps, "objective": float(objective_sum) / steps,
            "acc": int(correct) / images, "steps": steps, "seconds": seconds,
            "images_per_s": images / seconds, "lr": float(optimizer.param_groups[0]["lr"])}


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, mean: Sequence[float],
             std: Sequence[float], batch_size: int = 1000, device: torch.device | str,
             amp_dtype: torch.dtype | None = None, channels_last: bool = False) -> dict:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``:
    ``{loss, acc, n, correct}``, in eval mode under ``torch.inference_mode``
    (the model's train/eval mode is restored afterwards).

    x: ``(N, C, H, W)`` uint8 or float in [0, 1], on any device (moved batch
    by batch); y: ``(N,)`` int64. The forward is the library's
    (:class:`utils.frequency._eval.Predictor`, also behind the robustness
    curves and the heat map), so the two agree bitwise; it raises ValueError
    naming the model when its logits are not finite. Perturbed or filtered
    copies of a test set: :func:`utils.frequency.robustness_curves`.
    """
    _check_images(x)
    _check_labels(y, x.shape[0])
    device = torch.device(device)
    bs = check_batch_size(batch_size)
    forward = Predictor(model, x.shape[1], mean=mean, std=std, device=device, amp_dtype=amp_dtype,
                        channels_last=channels_last)
    with eval_mode(model):
        hits, loss = forward.evaluate(x, y, bs)
    n = x.shape[0]
    return {"loss": loss / n, "acc": hits / n, "n": n, "correct": hits}


def predict(model: nn.Module, x: torch.Tensor, *, mean: Sequence[float], std: Sequence[float],
            batch_size: int = 1000, device: torch.device | str,
            amp_dtype: torch.dtype | None = None, channels_last: bool = False) -> torch.Tensor:
    """Predicted classes, int64 ``(N,)`` on the CPU; batching, eval mode and
    forward exactly as in :func:`evaluate`."""
    _check_images(x)
    bs = check_batch_size(batch_size)
    forward = Predictor(model, x.shape[1], mean=mean, std=std, device=torch.device(device),
                        amp_dtype=amp_dtype, channels_last=channels_last)
    with eval_mode(model):
        return torch.cat([forward(x[start:start + bs]) for start in range(0, x.shape[0], bs)])
