"""Low- and high-pass copies of an image set (the seed's filtered-data API).

The filtering itself is :func:`utils.frequency.filter_images` (docs/DEFINITIONS.md
section 4); this module applies it to whole splits in chunks and wraps the
results as datasets. Images are filtered as float pixels in [0, 1] (uint8
input is divided by 255), per channel. Outputs are *not* clipped: a
low-pass image stays within [0, 1] up to the filter's overshoot (none for
gaussian, ringing for radial and square), and a high-pass image is near zero
mean with negative values; evaluate it as is, add the mean back only to
display it.

Memory: every split is held three times in float32 (original, low, high),
about 2.2 GB for CIFAR-10 (60,000 images).
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from utils.frequency import FILTER_FAMILIES, filter_images, gaussian_f50

__all__ = ["filter_dataset_arrays", "get_cifar10_filtered_datasets"]

_PARAM_NAMES = {"gaussian": "sigma", "radial": "radius", "square": "size"}


def _as_unit_float(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected uint8 pixels or float pixels in [0, 1], got {x.dtype}")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError(f"{name}: expected float pixels in [0, 1] before normalisation, got "
                         f"values in [{float(x.min()):.4g}, {float(x.max()):.4g}]")
    return x.float()


def filter_dataset_arrays(x, family: str = "gaussian", cutoff=2.0,
                          batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Low- and high-pass versions of a whole split.

    Args:
        x: ``(N, C, H, W)`` uint8 pixels, or float pixels in [0, 1].
        family: ``"gaussian"``, ``"radial"`` or ``"square"``.
        cutoff: the family's parameter: sigma in px, radius in bins, or odd
            square size B (see :mod:`utils.frequency.filters`).
        batch_size: images filtered per FFT call (bounds the memory).

    Returns:
        ``(low, high)``: float32 ``(N, C, H, W)`` on ``x``'s device, in
        [0, 1]-pixel space, not clipped.
    """
    if family not in FILTER_FAMILIES:
        raise ValueError(f"family: expected one of {FILTER_FAMILIES}, got {family!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    xf = _as_unit_float(x, "x")
    low, high = torch.empty_like(xf), torch.empty_like(xf)
    for start in range(0, xf.shape[0], batch_size):
        chunk = xf[start:start + batch_size]
        low[start:start + batch_size] = filter_images(chunk, family, "low", cutoff)
        high[start:start + batch_size] = filter_images(chunk, family, "high", cutoff)
    return low, high


def get_cifar10_filtered_datasets(sigma: float = 2.0, family: str = "gaussian", cutoff=None,
                                  data=None, batch_size: int = 1024, **loader_kwargs) -> dict:
    """Original, low-pass and high-pass train and test sets.

    Args:
        sigma: Gaussian blur in px (the seed's default 2.0 keeps only
            frequencies below about 0.066 c/p); used when ``family`` is
            ``"gaussian"`` and ``cutoff`` is None.
        family: ``"gaussian"``, ``"radial"`` or ``"square"``.
        cutoff: the family's parameter (sigma, radius ``r`` in bins, odd
            size ``B``); required for radial and square.
        data: any record with ``train_x``, ``train_y``, ``test_x``,
            ``test_y`` (uint8 or [0, 1] float images ``(N, C, H, W)``, int
            labels ``(N,)``) and optionally ``dataset_id``; when None,
            ``data.images.load_image_data("cifar10", **loader_kwargs)``.
        batch_size: images per FFT call.

    Returns:
        dict of ``TensorDataset(images float32, labels int64)``: ``train``,
        ``test`` (pixels / 255), ``train_lowpass``, ``train_highpass``,
        ``test_lowpass``, ``test_highpass``; plus ``filter``, a plain dict
        ``{family, param, cutoff, f50 (gaussian only, c/p), dataset_id}`` to
        record in config.json.
    """
    if family not in FILTER_FAMILIES:
        raise ValueError(f"family: expected one of {FILTER_FAMILIES}, got {family!r}")
    if cutoff is None:
        if family != "gaussian":
            raise ValueError(f"cutoff: required for family {family!r} "
                             f"({_PARAM_NAMES[family]}), got None")
        cutoff = sigma
    if data is None:
        from data.images import load_image_data  # lazy: the loaders are heavy
        data = load_image_data("cifar10", **loader_kwargs)
    elif loader_kwargs:
        raise ValueError(f"loader_kwargs: only used when data is None, got {sorted(loader_kwargs)}")
    missing = [a for a in ("train_x", "train_y", "test_x", "test_y") if not hasattr(data, a)]
    if missing:
        raise ValueError(f"data: expected a record with train_x, train_y, test_x, test_y; "
                         f"{type(data).__name__} lacks {missing}")
    out = {}
    for split in ("train", "test"):
        x = _as_unit_float(getattr(data, f"{split}_x"), f"data.{split}_x")
        y = torch.as_tensor(getattr(data, f"{split}_y")).long()
        if y.shape != (x.shape[0],):
            raise ValueError(f"data.{split}_y: expected shape ({x.shape[0]},), got {tuple(y.shape)}")
        low, high = filter_dataset_arrays(x, family, cutoff, batch_size)
        out[split] = TensorDataset(x, y)
        out[f"{split}_lowpass"] = TensorDataset(low, y)
        out[f"{split}_highpass"] = TensorDataset(high, y)
    out["filter"] = {
        "family": family,
        "param": _PARAM_NAMES[family],
        "cutoff": float(cutoff) if family != "square" else int(cutoff),
        "f50": gaussian_f50(cutoff) if family == "gaussian" else None,
        "dataset_id": getattr(data, "dataset_id", None),
    }
    return out
