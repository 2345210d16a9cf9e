"""Your own images: tensors or a ``torch.utils.data.Dataset``, turned once
into the :class:`data.images.ImageData` record every image experiment uses.

Pixels become uint8 0..255 (float input must lie in [0, 1], the convention of
every frequency operation here); labels int64. A ``Dataset`` is iterated once
(materialised), so its transforms run once and every arm sees the same images,
which is what makes arms paired. You name the dataset: the id goes into every
title, summary and config.json.
"""

from __future__ import annotations

import re

import torch

from data.images import ImageData, make_image_data, subset_image_data

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$")


def _as_uint8(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected images (N >= 1, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.contiguous()
    if not x.dtype.is_floating_point:
        raise ValueError(f"{name}: expected uint8 or float pixels, got {x.dtype}")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"{name}: float pixels must be finite and in [0, 1] (before any "
                         f"normalisation), got [{float(x.min()):g}, {float(x.max()):g}]")
    return (x.float() * 255.0).round_().to(torch.uint8).contiguous()


def _as_labels(y, n: int, name: str) -> torch.Tensor:
    y = torch.as_tensor(y)
    if y.dtype.is_floating_point or y.dtype == torch.bool or tuple(y.shape) != (n,):
        raise ValueError(f"{name}: expected {n} integer labels, got {y.dtype} {tuple(y.shape)}")
    return y.to(torch.int64)


def materialise(dataset, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``(image, label)`` of a map-style ``Dataset``, stacked once."""
    try:
        n = len(dataset)
    except TypeError:
        raise ValueError(f"{name}: expected a map-style Dataset with a length") from None
    if n == 0:
        raise ValueError(f"{name}: the dataset is empty")
    xs, ys = [], []
    for i in range(n):
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError(f"{name}[{i}]: expected (image, label), got {type(item).__name__}")
        img, label = item[0], item[1]
        if not isinstance(img, torch.Tensor) or img.ndim != 3:
            raise ValueError(f"{name}[{i}]: expected an image tensor (C, H, W) (e.g. "
                             f"transforms.ToTensor()), got {type(img).__name__} "
                             f"{tuple(getattr(img, 'shape', ()))}")
        xs.append(img)
        ys.append(int(label))
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"{name}: images of several shapes {sorted(shapes)[:3]}; resize them")
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def as_image_data(data, *, dataset_id: str | None = None, classes=None, n_train: int | None = None,
                  n_test: int | None = None, seed: int = 0) -> ImageData:
    """Your data as an :class:`ImageData`.

    ``data``: an ``ImageData`` (returned as is, subset if asked); a tuple
    ``(train_x, train_y, test_x, test_y)`` of tensors (images ``(N, C, H, W)``
    uint8 or float in [0, 1]); or a pair ``(train_dataset, test_dataset)`` of
    map-style ``Dataset``s yielding ``(image (C, H, W), label)``.
    ``dataset_id`` (required unless ``data`` is an ``ImageData``) names it in
    every output; ``classes`` defaults to ``"0", "1", ...``. ``n_train``,
    ``n_test``: stratified subsets, as for the built-in sets.
    """
    if isinstance(data, ImageData):
        return subset_image_data(data, n_train, n_test, seed)
    if not isinstance(dataset_id, str) or not _ID.match(dataset_id):
        raise ValueError(f"dataset_id: expected a name of 1-64 letters, digits and '_.:+-' for "
                         f"your data (it labels every result), got {dataset_id!r}")
    if isinstance(data, (tuple, list)) and len(data) == 4:
        train_x, train_y, test_x, test_y = data
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        train_x, train_y = materialise(data[0], "train dataset")
        test_x, test_y = materialise(data[1], "test dataset")
    else:
        raise ValueError("data: expected (train_x, train_y, test_x, test_y), (train_dataset, "
                         f"test_dataset) or an ImageData, got {type(data).__name__}")
    train_x, test_x = _as_uint8(train_x, "train_x"), _as_uint8(test_x, "test_x")
    train_y = _as_labels(train_y, train_x.shape[0], "train_y")
    test_y = _as_labels(test_y, test_x.shape[0], "test_y")
    unseen = sorted(set(test_y.unique().tolist()) - set(train_y.unique().tolist()))
    if unseen:  # the model never learns them: accuracy on them is 0 by construction
        more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
        raise ValueError(f"test_y: labels {unseen[:5]}{more} never appear in train_y; a model "
                         f"cannot learn classes it never sees: drop those test images or add "
                         f"training images of them")
    k = int(max(train_y.max(), test_y.max())) + 1
    classes = tuple(str(c) for c in (classes if classes is not None else range(k)))
    data = make_image_data(train_x, train_y, test_x, test_y, classes=classes,
                           dataset_id=dataset_id, source="provided from Python")
    return subset_image_data(data, n_train, n_test, seed)
