"""Batched data augmentation and normalisation, on whatever device the batch
is on (airbench style: the data lives on the device as one tensor and crops
and flips happen there, with no per-image Python loop).

Pixels stay in [0, 1] (or 0..255 for uint8) through augmentation; any
frequency operation (filters, noise) must come before :func:`normalize`
(docs/DEFINITIONS.md, conventions).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def _check_batch(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x: expected a tensor (B, C, H, W), got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4,
                     flip: bool = True) -> torch.Tensor:
    """Random translation by zero-padded crop, then random horizontal flip.

    x: ``(B, C, H, W)``, uint8 or float, on any device. Each image is padded
    with ``pad`` zeros on every side and an ``H x W`` window is taken at an
    offset drawn uniformly from ``0..2*pad`` in each axis; then, with
    probability 1/2 when ``flip``, it is mirrored left-right. ``pad=0`` means
    no crop. All randomness comes from ``generator`` (drawn on its own
    device, then moved to ``x``'s), so the same generator state gives the
    same output. Returns a tensor of ``x``'s shape, dtype and device.
    """
    _check_batch(x)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad: expected a non-negative int, got {pad!r}")
    b, _, h, w = x.shape
    gdev = generator.device
    if pad:
        offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator, device=gdev).to(x.device)
    else:
        offsets = torch.zeros(2, b, dtype=torch.int64, device=x.device)
    if flip:
        mirrored = (torch.rand(b, generator=generator, device=gdev) < 0.5).to(x.device)
    else:
        mirrored = torch.zeros(b, dtype=torch.bool, device=x.device)
    if not pad and not flip:
        return x.clone()
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
    cols_fwd = torch.arange(w, device=x.device)
    cols = offsets[1, :, None] + torch.where(mirrored[:, None], w - 1 - cols_fwd, cols_fwd)  # (B, W)
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    # One gather along each image's flattened pixels, the same index for every
    # channel. Indexing with four broadcast index tensors gave the same output
    # (tests/test_augment.py) 4x slower on the 2-core test CPU: a uint8 batch
    # of 256 x 3 x 32 x 32 took 6.2 ms against 1.5 ms with two threads, 10.6
    # against 2.9 ms with one (median of 7; benchmarks/bench_train.py).
    c, wp = x.shape[1], padded.shape[-1]
    pixel = (rows[:, :, None] * wp + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return padded.reshape(b, c, -1).gather(2, pixel).view(b, c, h, w)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 to float32 in [0, 1]: ``x / 255``. x: (..., H, W)."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        raise ValueError(f"x: expected a uint8 tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    return x.to(torch.float32).div_(255.0)


def normalize(x01: torch.Tensor, mean: Sequence[float] | torch.Tensor,
              std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """``(x01 - mean) / std`` per channel. x01: float (B, C, H, W) or
    (C, H, W) in [0, 1]; mean, std: C values each (e.g. ``ImageData.mean``)."""
    if not isinstance(x01, torch.Tensor) or not x01.dtype.is_floating_point or x01.ndim not in (3, 4):
        raise ValueError(f"x01: expected a float tensor (B, C, H, W) or (C, H, W), got "
                         f"{getattr(x01, 'dtype', type(x01).__name__)} "
                         f"{tuple(getattr(x01, 'shape', ()))}")
    channels = x01.shape[-3]
    m = torch.as_tensor(mean, dtype=x01.dtype, device=x01.device).reshape(-1)
    s = torch.as_tensor(std, dtype=x01.dtype, device=x01.device).reshape(-1)
    if m.numel() != channels or s.numel() != channels:
        raise ValueError(f"mean/std: expected {channels} values each for {channels} channels, "
                         f"got {m.numel()} and {s.numel()}")
    if bool((s <= 0).any()):
        raise ValueError(f"std: expected positive values, got {s.tolist()}")
    return (x01 - m[:, None, None]) / s[:, None, None]
