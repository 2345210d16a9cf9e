"""The one entry point that loads any image set by name (the record it
returns, :class:`~data.record.ImageData`, lives in :mod:`data.record`), and
the seeded subsets every experiment draws from it.

Datasets (see each module for the formats it reads):

========================  ===================================================
``name``                  source
========================  ===================================================
``"cifar10"``             :mod:`data.cifar10`: local copy or torchvision download
``"cifar10-jpeg"``        :mod:`data.imagefolder`: the lossy JPEG q75 copy
``"fashion-mnist"``       :mod:`data.fashion_mnist`: idx files or download
``"imagefolder"``         :mod:`data.imagefolder`: ``train/<class>/*`` tree
``"synthetic"``           the current synthetic set, now ``"synthetic-v2"``
``"synthetic-v2"``        :mod:`data.synthetic_v2`: generated, cues imperfect
``"synthetic-v1"``        :mod:`data.synthetic`: generated, every cue perfect
``"auto"``                CIFAR-10 when on disk or downloadable, else synthetic
========================  ===================================================

A loader is imported when its set is asked for (each pulls in its own
format's readers).
"""
from __future__ import annotations

import dataclasses
import os

import torch

from data.record import (DatasetInvalid, DatasetUnavailable, ImageData,  # noqa: F401
                         channel_stats, make_image_data)

DATASET_NAMES = ("auto", "cifar10", "cifar10-jpeg", "fashion-mnist", "imagefolder", "synthetic",
                 "synthetic-v1", "synthetic-v2", "provided")  # provided: main.run_experiment(data=)
# What "synthetic" (and the "auto" fallback) means: v2, because on v1 every
# arm of B's CPU preset reaches 100% and nothing separates them.
SYNTHETIC_DEFAULT = "synthetic-v2"


def stratified_subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of ``n`` samples balanced over the classes present in ``y``.

    y: int ``(N,)``. Every class gets ``n // k`` samples (k classes present),
    and the remainder goes one each to the smallest class labels. Inside a
    class the choice is uniform, driven by a generator seeded with ``seed``
    (never the global RNG). Returns sorted int64 indices ``(n,)``, so the
    subset keeps the original order. A class with too few samples is a
    ValueError, not a silently unbalanced subset.
    """
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.dtype.is_floating_point:
        raise ValueError(f"y: expected an integer tensor (N,), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= y.numel():
        raise ValueError(f"n: expected an int in [1, {y.numel()}], got {n!r}")
    labels, counts = torch.unique(y, return_counts=True)
    k = labels.numel()
    quota = torch.full((k,), n // k, dtype=torch.int64)
    quota[: n % k] += 1
    short = (counts < quota).nonzero().flatten()
    if short.numel():
        c = int(short[0])
        raise ValueError(f"n: {n} samples need {int(quota[c])} of class {int(labels[c])}, "
                         f"which has only {int(counts[c])}")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(y.numel(), generator=gen)
    # Stable sort by class keeps the random order inside each class; the rank
    # of an index inside its class then decides whether it is taken.
    cls = torch.searchsorted(labels, y[perm].contiguous())
    order = torch.argsort(cls, stable=True)
    grouped, cls_sorted = perm[order], cls[order]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(y.numel()) - starts[cls_sorted]
    return torch.sort(grouped[rank < quota[cls_sorted]]).values


def subset_image_data(data: ImageData, n_train: int | None, n_test: int | None,
                      seed: int) -> ImageData:
    """``data`` restricted to stratified, seeded subsets of each split (None
    keeps a split whole); ``mean``/``std`` are recomputed on the new train
    split. ``extra`` arrays are per-dataset and are kept only when the test
    split is whole."""
    if n_train is None and n_test is None:
        return data
    train_idx = None if n_train is None else _subset_of(data, "train", n_train, seed)
    test_idx = None if n_test is None else _subset_of(data, "test", n_test, seed)
    train_x = data.train_x if train_idx is None else data.train_x[train_idx]
    train_y = data.train_y if train_idx is None else data.train_y[train_idx]
    test_x = data.test_x if test_idx is None else data.test_x[test_idx]
    test_y = data.test_y if test_idx is None else data.test_y[test_idx]
    mean, std = channel_stats(train_x) if train_idx is not None else (data.mean, data.std)
    return dataclasses.replace(data, train_x=train_x, train_y=train_y, test_x=test_x,
                               test_y=test_y, mean=mean, std=std,
                               extra=data.extra if test_idx is None else {})


def _subset_of(data: ImageData, split: str, n: int, seed: int) -> torch.Tensor:
    """stratified_subset of one split; a subset the data cannot give is a
    ValueError naming the dataset, not only the count."""
    y = getattr(data, f"{split}_y")
    where = f"{data.dataset_id} ({data.source})"
    if n > y.numel():
        raise DatasetInvalid(f"n_{split}: asked for a subset of {n} {split} images, but {where} "
                             f"has only {y.numel()}")
    try:
        return stratified_subset(y, n, seed)
    except ValueError as err:  # a class too small for its share
        raise DatasetInvalid(f"n_{split}: a stratified subset of {n} {split} images from "
                             f"{where} is impossible: {err}") from err


def _check_count(name: str, n) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{name}: expected a positive int or None, got {n!r}")


def _load_synthetic(name: str, *, seed: int, n_train: int | None,
                    n_test: int | None) -> ImageData:
    """``synthetic`` (= :data:`SYNTHETIC_DEFAULT`), ``synthetic-v1`` or ``synthetic-v2``."""
    if (SYNTHETIC_DEFAULT if name == "synthetic" else name) == "synthetic-v2":
        from data.synthetic_v2 import load_synthetic_v2

        return load_synthetic_v2(seed=seed, n_train=n_train, n_test=n_test)
    from data.synthetic import load_synthetic

    return load_synthetic(seed=seed, n_train=n_train, n_test=n_test)


def _load_auto(root, *, seed: int, n_train: int | None, n_test: int | None,
               download: bool) -> ImageData:
    """CIFAR-10 when on disk or downloadable, else the default synthetic set
    (:data:`SYNTHETIC_DEFAULT`) with a note."""
    from data import cifar10

    why_not = cifar10.why_unavailable(root, download=download)
    if why_not is None:
        # Reachable, yet the download failed, or on disk but unreadable or
        # damaged: the fallback names the reason. A subset CIFAR-10 cannot
        # give is the caller's error, not a reason to change datasets, so it
        # is taken outside the try.
        try:
            data = cifar10.load_cifar10(root, download=download)
        except DatasetUnavailable as err:
            why_not = str(err)
        else:
            return subset_image_data(data, n_train, n_test, seed)
    data = _load_synthetic("synthetic", seed=seed, n_train=n_train, n_test=n_test)
    note = (f"CIFAR-10 was not used ({why_not}). Using the embedded synthetic set "
            f"{data.dataset_id} (seed={seed}) instead: results are NOT CIFAR-10.")
    return dataclasses.replace(data, notes=(note,) + data.notes)


def load_image_data(name: str = "auto", root: str | os.PathLike | None = None, *, seed: int = 0,
                    n_train: int | None = None, n_test: int | None = None,
                    download: bool = True) -> ImageData:
    """Load the image set ``name`` (one of :data:`DATASET_NAMES`).

    root: where to look (the data root for cifar10/fashion-mnist, the tree or
    archive for imagefolder, the archive or its folder for cifar10-jpeg);
    None means each dataset's default. seed: drives the stratified subsets
    and, for ``synthetic``, the generation itself. n_train/n_test: sizes of
    stratified subsets (None = whole split); for ``synthetic`` they are the
    numbers of images generated. download: allow torchvision downloads when
    the files are missing and the host answers.

    Raises ValueError for an unknown name or bad sizes, DatasetUnavailable
    when an explicitly named dataset cannot be had (missing, unreadable,
    damaged, over a size bound), and DatasetInvalid (both of these) when its
    files do not form a dataset or hold fewer images than n_train/n_test. Only ``auto`` falls back
    (to synthetic), and it says so in ``notes``.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"name: expected one of {', '.join(DATASET_NAMES)}, got {name!r}")
    if root is not None and (not isinstance(root, (str, os.PathLike)) or not str(root).strip()):
        # Path("") is the current folder, which would be searched silently.
        raise DatasetInvalid(f"root (--data-root): expected a path or None, got {root!r}")
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    if name.startswith("synthetic"):
        return _load_synthetic(name, seed=seed, n_train=n_train, n_test=n_test)
    if name == "provided":
        raise DatasetUnavailable("dataset 'provided': this run's images were given from Python "
                                 "(main.run_experiment(..., data=...)); give them again, the same "
                                 "way, to continue or re-run it")
    if name == "auto":
        return _load_auto(root, seed=seed, n_train=n_train, n_test=n_test, download=download)
    if name == "cifar10":
        from data.cifar10 import load_cifar10

        data = load_cifar10(root, download=download)
    elif name == "fashion-mnist":
        from data.fashion_mnist import load_fashion_mnist

        data = load_fashion_mnist(root, download=download)
    elif name == "cifar10-jpeg":
        from data.imagefolder import load_cifar10_jpeg

        data = load_cifar10_jpeg(root)
    else:
        from data.imagefolder import load_imagefolder

        if root is None:
            raise DatasetInvalid("root (--data-root): imagefolder needs the path of a "
                                 "train/<class>/*, test/<class>/* tree or of a .tar.gz of one, "
                                 "got None")
        data = load_imagefolder(root)
    return subset_image_data(data, n_train, n_test, seed)
