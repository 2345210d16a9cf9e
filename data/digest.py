"""The content digest of an image set: what a job checks besides its id.

A ``dataset_id`` names a recipe (``synthetic-v2``, ``cifar10``); the digest
names the bytes a recipe gave in this process. Jobs record it (B's
checkpoints and summary, C's job keys) and refuse data whose digest differs,
so a worker, a resume or experiment C that rebuilt other pixels under the
same id stops in one line instead of training or evaluating on them.

:func:`data_digest` is the sha256 of every tensor of the record (train and
test images and labels, then the ``extra`` tensors by name), each preceded
by its name, dtype and shape; it is computed once per record and process.
"""
from __future__ import annotations

import hashlib
import weakref

import torch

from data.images import ImageData

_DIGESTS: "weakref.WeakKeyDictionary[ImageData, str]" = weakref.WeakKeyDictionary()


class DataMismatch(ValueError):
    """The data a job found are not the data its run used (one line: both
    digests and the dataset id)."""


def data_digest(data: ImageData) -> str:
    """sha256 (hex) of the record's tensors; cached per record."""
    if not isinstance(data, ImageData):
        raise TypeError(f"data: expected an ImageData, got {type(data).__name__}")
    if data not in _DIGESTS:
        h = hashlib.sha256()
        tensors = [(k, getattr(data, k)) for k in ("train_x", "train_y", "test_x", "test_y")]
        tensors += sorted((f"extra/{k}", v) for k, v in data.extra.items()
                          if isinstance(v, torch.Tensor))
        for name, t in tensors:
            t = t.detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        _DIGESTS[data] = h.hexdigest()
    return _DIGESTS[data]


def check_data(data: ImageData, dataset_id: str, digest: str) -> None:
    """Raise :class:`DataMismatch` unless ``data`` is ``dataset_id`` with
    content ``digest`` (what the run recorded)."""
    if data.dataset_id != dataset_id:
        raise DataMismatch(f"dataset: this process loaded {data.dataset_id!r}, the run uses "
                           f"{dataset_id!r} (give --dataset and --data-root explicitly)")
    found = data_digest(data)
    if found != digest:
        raise DataMismatch(f"dataset {dataset_id!r}: this process built data with sha256 "
                           f"{found[:16]}, the run's data have {digest[:16]} (same id, other "
                           f"bytes: another data_seed, size or library build?)")
