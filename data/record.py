"""The image-data record every image experiment reads, and the errors of
loading one. Each loader (:mod:`data.cifar10`, :mod:`data.fashion_mnist`,
:mod:`data.imagefolder`, :mod:`data.synthetic`, :mod:`data.synthetic_v2`,
:mod:`data.user`) builds it with :func:`make_image_data`; :mod:`data.images`
picks the loader by name.

:class:`ImageData` holds uint8 tensors in ``(N, C, H, W)`` with pixels
0..255, int64 labels, the class names, and a ``dataset_id`` that names the
data actually used (``"cifar10"``, ``"cifar10-jpeg"``, ``"fashion-mnist"``,
``"synthetic-v1"``, ``"synthetic-v2"``, ``"imagefolder:<name>"``). Figures and
``config.json`` take the id from here, never from the command-line flag,
because ``auto`` may fall back to the synthetic set; such a fallback is
announced in ``notes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


def _check_images(name: str, x) -> None:
    if not (isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.ndim == 4):
        raise ValueError(f"{name}: expected a uint8 tensor (N, C, H, W), got "
                         f"{type(x).__name__} {getattr(x, 'dtype', '')} "
                         f"{tuple(getattr(x, 'shape', ()))}")


class DatasetUnavailable(RuntimeError):
    """A dataset was asked for that cannot be had: neither on disk nor
    downloadable, or its files cannot be read, are damaged, or exceed a
    size bound. The message names the path or file, what was wrong, and
    where it helps, what to do instead."""


class DatasetInvalid(DatasetUnavailable, ValueError):
    """The files are there and readable but do not form the dataset asked
    for: a split without images, one class, images of mixed sizes, fewer
    images than a requested subset. It is a ValueError (bad input, as the
    readers always raised) and a DatasetUnavailable, so that main.py, which
    loads the data before any work, reports it in one line like a missing
    dataset instead of a traceback."""


@dataclass(frozen=True, eq=False)
class ImageData:
    """One image classification set, ready to move to a device.

    ``train_x``: uint8 ``(N, C, H, W)``, pixels 0..255 (float [0, 1] is
    ``x / 255``); ``train_y``: int64 ``(N,)``; ``test_x``/``test_y`` likewise
    with M images. ``mean``/``std``: per-channel mean and (population)
    standard deviation of ``train_x / 255``. ``source``: where the pixels came
    from. ``notes``: warnings to show the user (fallbacks, lossy copies).
    ``extra``: dataset-specific arrays, e.g. the synthetic cue-conflict split.

    Build it with :func:`make_image_data`, which computes ``mean``/``std``.
    ``eq=False`` because field-wise ``==`` on tensors is not a boolean.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    dataset_id: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    notes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_classes = len(self.classes)
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            _check_images(f"{split}_x", x)
            if not (isinstance(y, torch.Tensor) and y.dtype == torch.int64
                    and y.shape == (x.shape[0],)):
                raise ValueError(f"{split}_y: expected int64 ({x.shape[0]},), got "
                                 f"{getattr(y, 'dtype', type(y).__name__)} "
                                 f"{tuple(getattr(y, 'shape', ()))}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
                raise ValueError(f"{split}_y: labels must lie in [0, {n_classes}), got "
                                 f"[{int(y.min())}, {int(y.max())}]")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"test_x: expected images of shape {tuple(self.train_x.shape[1:])} "
                             f"like train_x, got {tuple(self.test_x.shape[1:])}")
        channels = self.train_x.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean/std: expected {channels} values each, got "
                             f"{len(self.mean)} and {len(self.std)}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        return tuple(self.train_x.shape[1:])


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of ``x / 255``.

    x: uint8 ``(N, C, H, W)``. Computed from the exact per-channel histogram
    of the 256 pixel values (bincount is several times faster than summing
    int64 copies, and no sum can overflow), in float64.
    """
    _check_images("x", x)
    if x.shape[0] == 0:
        raise ValueError("x: expected at least one image, got N=0")
    hist = torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256)
                        for c in range(x.shape[1])]).cpu().double()
    values = torch.arange(256, dtype=torch.float64) / 255.0
    count = hist.sum(dim=1)
    mean = hist @ values / count
    var = hist @ (values * values) / count - mean * mean
    return tuple(mean.tolist()), tuple(var.clamp_min(0.0).sqrt().tolist())


def make_image_data(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                    test_y: torch.Tensor, *, classes, dataset_id: str, source: str,
                    notes=(), extra: dict | None = None) -> ImageData:
    """Build an :class:`ImageData`, computing ``mean``/``std`` on ``train_x``."""
    _check_images("train_x", train_x)
    mean, std = channel_stats(train_x)
    return ImageData(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                     classes=tuple(classes), dataset_id=dataset_id, mean=mean, std=std,
                     source=source, notes=tuple(notes), extra=dict(extra or {}))
