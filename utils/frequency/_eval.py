"""The one evaluation forward of the repository: normalise [0, 1] (or uint8)
pixels, forward in eval mode, float32 logits, argmax. The library's
model-facing tools (heat map, robustness curves) and the engine's
``utils.training.evaluate`` / ``predict`` all go through :class:`Predictor`.

It lives here, not in ``utils.training``, so that this package stays pure
numpy/torch and importable on its own (a notebook that only wants spectra
must not pull in the training engine); the engine imports it. Its ops are
the training step's, in its order (one copy to the model's dtype and memory
format, then ``sub_(mean).div_(std)`` in place, optional autocast,
``logits.float()``).
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._grid import describe


def check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    return model


def check_finite_weight(conv: nn.Module, name: str) -> torch.Tensor:
    """The detached weight of conv layer ``name``; ValueError naming the
    model and the layer when it holds NaN or inf (its spectrum would be NaN,
    or a normal-looking profile of garbage)."""
    w = conv.weight.detach()
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f"model: the weights of conv layer {name!r} are not finite (NaN or inf)")
    return w


def model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """dtype and device of the first floating parameter or buffer (float32 on
    the CPU for a model that has none, e.g. a fixed filter)."""
    for t in itertools.chain(model.parameters(), model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.float32, torch.device("cpu")


def resolve_device(device, model: nn.Module) -> torch.device:
    if device is None:
        return model_dtype_device(model)[1]
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected None, a torch.device or a name like 'cpu' or "
                         f"'cuda', got {describe(device)}") from None


def check_amp(amp_dtype, device: torch.device) -> None:
    """The engine's rule: bf16 autocast on CUDA only (on a CPU it is about 20x
    slower than float32, docs/DEFINITIONS.md section 7)."""
    if amp_dtype is None:
        return
    if device.type != "cuda":
        raise ValueError(f"amp_dtype: expected None on {device} (bf16 autocast is for CUDA; on a "
                         f"CPU it is about 20x slower), got {amp_dtype}")
    if amp_dtype != torch.bfloat16:
        raise ValueError(f"amp_dtype: expected None or torch.bfloat16, got {amp_dtype}")


def check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {describe(batch_size)}")
    return int(batch_size)


def channel_stats(values, channels: int, name: str, device, dtype) -> torch.Tensor:
    """``(1, C, 1, 1)`` mean or std; ``None`` is the identity (0 or 1)."""
    if values is None:
        values = [0.0 if name == "mean" else 1.0] * channels
    try:
        t = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name}: expected {channels} numbers (one per channel), got {describe(values)}") from None
    if t.numel() != channels or not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected {channels} finite values (one per channel), got {describe(values)}")
    if name == "std" and not bool((t > 0).all()):
        raise ValueError(f"std: expected positive values, got {describe(values)}")
    return t.to(device=device, dtype=dtype).reshape(1, channels, 1, 1)


def check_labels(labels, n: int) -> torch.Tensor:
    """int64 ``(n,)`` labels on the CPU."""
    if not isinstance(labels, torch.Tensor):
        arr = np.asarray(labels)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise ValueError(f"labels: expected {n} integer class labels, got {describe(labels)}")
        labels = torch.from_numpy(np.ascontiguousarray(arr))
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool \
            or tuple(labels.shape) != (n,):
        raise ValueError(f"labels: expected {n} integer class labels, shape ({n},), got "
                         f"{labels.dtype} {tuple(labels.shape)}")
    labels = labels.detach().cpu().to(torch.int64)
    if n and int(labels.min()) < 0:
        raise ValueError(f"labels: expected class indices >= 0, got {int(labels.min())}")
    return labels


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Eval mode (dropout off, batch-norm statistics frozen) and no autograd;
    the caller's train/eval mode is restored even if the body fails."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


class Predictor:
    """Predicted classes of [0, 1] images, one forward per call.

    Built once per tool call (mean/std and the dtype resolved once); call it
    inside :func:`eval_mode`.
    """

    def __init__(self, model: nn.Module, channels: int, *, mean, std, device, amp_dtype,
                 channels_last: bool):
        self.model = model
        self.device = device
        self.dtype = model_dtype_device(model)[0]
        check_amp(amp_dtype, device)
        self.amp_dtype = amp_dtype
        self.mean = channel_stats(mean, channels, "mean", device, self.dtype)
        self.std = channel_stats(std, channels, "std", device, self.dtype)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        """``x01``: ``(N, C, H, W)`` float in [0, 1] (or uint8 0..255) -> float32 logits
        ``(N, classes)`` on the model's device. Raises ValueError naming the
        model when they are not ``(N, classes)`` or not all finite: the
        argmax of a NaN is class 0, not a prediction."""
        xb = x01.to(self.device, non_blocking=True)
        # The training step's ops in its order: one copy to dtype and layout
        # (uint8 0..255 scaled in place), then normalised in place.
        if xb.dtype == torch.uint8:
            xb = xb.to(self.dtype, memory_format=self.memory_format).div_(255.0)
        else:
            xb = xb.to(self.dtype, memory_format=self.memory_format, copy=True)
        xb = xb.sub_(self.mean).div_(self.std)
        if self.amp_dtype is None:
            logits = self.model(xb)
        else:
            with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype):
                logits = self.model(xb)
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != xb.shape[0] \
                or logits.shape[1] < 1 or not (logits.is_floating_point() or logits.is_complex()):
            raise ValueError(f"model: expected float logits (N, classes) for N = {xb.shape[0]} "
                             f"images, got {type(logits).__name__} "
                             f"{getattr(logits, 'dtype', '')} {tuple(getattr(logits, 'shape', ()))}")
        if logits.is_complex():
            raise ValueError(f"model: expected real logits, got {logits.dtype}")
        logits = logits.float()
        finite = torch.isfinite(logits).all(dim=1)
        if not bool(finite.all()):
            raise ValueError(f"model: produced non-finite logits (NaN or inf) for "
                             f"{int((~finite).sum())} of {xb.shape[0]} images; its predictions "
                             f"are not defined (check its weights with torch.isfinite)")
        return logits

    def evaluate(self, x: torch.Tensor, labels: torch.Tensor, batch_size: int, perturb=None,
                 update=None) -> tuple[int, float]:
        """``(correct, summed cross-entropy)`` over ``x`` in batches of
        ``batch_size``: the one evaluation loop (``utils.training.evaluate``
        and :func:`robustness_curves`). Each batch goes to the device, then
        through ``perturb(batch, (start, stop))`` when given, then
        :meth:`logits`; the loss is a float32 sum per batch added to a
        float64 total. ``update(n)`` is told the images done."""
        correct, loss = 0, torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size].to(self.device, non_blocking=True)
            xb = xb if perturb is None else perturb(xb, (start, start + xb.shape[0]))
            logits = self.logits(xb)
            yb = labels[start:start + batch_size].to(logits.device, non_blocking=True)
            correct += int((logits.argmax(1) == yb).sum())
            loss += F.cross_entropy(logits, yb, reduction="sum").to(loss.dtype)
            if update is not None:
                update(xb.shape[0])
        return correct, float(loss)

    def check_labels(self, x01: torch.Tensor, labels: torch.Tensor) -> int:
        """One forward of the first image (a pre-flight before the long
        loop): the model's output is finite and every label is one of its
        classes. Returns the number of classes."""
        classes = self.logits(x01[:1]).shape[1]
        check_label_range(labels, classes)
        return classes

    def __call__(self, x01: torch.Tensor) -> torch.Tensor:
        """``x01``: ``(N, C, H, W)`` float in [0, 1] -> int64 ``(N,)`` on the CPU."""
        return self.logits(x01).argmax(1).cpu()


def check_label_range(labels: torch.Tensor, classes: int) -> None:
    """Labels must name one of the model's ``classes`` outputs: a label the
    model cannot predict would count as an error forever, silently."""
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= classes:
        raise ValueError(f"labels: expected classes in [0, {classes - 1}] (the model has "
                         f"{classes} outputs), got labels in [{lo}, {hi}]")
