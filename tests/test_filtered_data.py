"""Filtered copies of an image set (data/filtered_data.py), on a fake record so
that these tests do not depend on the data loaders."""

import math
import sys
import types
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import TensorDataset

from data.filtered_data import filter_dataset_arrays, get_cifar10_filtered_datasets
from utils.frequency import filter_images

KEYS = {"train", "test", "train_lowpass", "train_highpass", "test_lowpass", "test_highpass"}


def _record(n_train=10, n_test=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(
        train_x=torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8, generator=g),
        train_y=torch.randint(0, 10, (n_train,), generator=g),
        test_x=torch.randint(0, 256, (n_test, 3, 32, 32), dtype=torch.uint8, generator=g),
        test_y=torch.randint(0, 10, (n_test,), generator=g),
        classes=tuple(str(i) for i in range(10)), dataset_id="fake")


def test_gaussian_datasets_from_a_record():
    rec = _record()
    out = get_cifar10_filtered_datasets(sigma=2.0, data=rec)
    assert KEYS <= set(out)
    for key in KEYS:
        assert isinstance(out[key], TensorDataset)
    x, y = out["train"].tensors
    assert x.dtype == torch.float32 and torch.equal(x, rec.train_x.float() / 255)
    assert y.dtype == torch.int64 and torch.equal(y, rec.train_y)
    low, high = out["test_lowpass"].tensors[0], out["test_highpass"].tensors[0]
    assert len(out["test_lowpass"]) == 4
    assert torch.allclose(low, filter_images(rec.test_x.float() / 255, "gaussian", "low", 2.0))
    assert torch.allclose(low + high, rec.test_x.float() / 255, atol=1e-6)
    assert float(high.mean().abs()) < 1e-3 and float(high.min()) < 0  # near zero mean, unclipped
    info = out["filter"]
    assert info["family"] == "gaussian" and info["param"] == "sigma"
    assert info["dataset_id"] == "fake"
    assert abs(info["f50"] - 0.066) < 6e-4  # docs/DEFINITIONS.md 4: sigma = 2 keeps below ~0.066 c/p


def test_other_families_need_a_cutoff_and_square_high_is_the_corner():
    rec = _record()
    with pytest.raises(ValueError, match="cutoff"):
        get_cifar10_filtered_datasets(family="radial", data=rec)
    out = get_cifar10_filtered_datasets(family="square", cutoff=9, data=rec)
    x = rec.train_x.float() / 255
    assert torch.allclose(out["train_highpass"].tensors[0], filter_images(x, "square", "high", 9),
                          atol=1e-6)
    assert out["filter"]["f50"] is None and out["filter"]["cutoff"] == 9


def test_chunking_does_not_change_the_result():
    x = _record(n_train=7).train_x
    low1, high1 = filter_dataset_arrays(x, "radial", 6.0, batch_size=3)
    low2, high2 = filter_dataset_arrays(x, "radial", 6.0, batch_size=100)
    assert torch.allclose(low1, low2, atol=1e-6) and torch.allclose(high1, high2, atol=1e-6)
    float_in, _ = filter_dataset_arrays(x.float() / 255, "radial", 6.0)
    assert torch.allclose(float_in, low2, atol=1e-6)


def test_default_loader_is_imported_lazily(monkeypatch):
    calls = []

    def fake_loader(name, **kwargs):
        calls.append((name, kwargs))
        return _record(n_train=2, n_test=2)

    fake = types.ModuleType("data.images")
    fake.load_image_data = fake_loader
    monkeypatch.setitem(sys.modules, "data.images", fake)
    out = get_cifar10_filtered_datasets(sigma=1.0, root="/nowhere", n_train=2)
    assert calls == [("cifar10", {"root": "/nowhere", "n_train": 2})]
    assert len(out["train_lowpass"]) == 2
    assert math.isclose(out["filter"]["f50"], 0.1325, rel_tol=1e-3)


@pytest.mark.parametrize("call,arg", [
    (lambda: get_cifar10_filtered_datasets(data=_record(), root="/x"), "loader_kwargs"),
    (lambda: get_cifar10_filtered_datasets(data=SimpleNamespace(train_x=None)), "data"),
    (lambda: get_cifar10_filtered_datasets(family="blur", data=_record()), "family"),
    (lambda: get_cifar10_filtered_datasets(family="square", cutoff=8, data=_record()), "size"),
    (lambda: filter_dataset_arrays(torch.rand(2, 3, 8, 8) * 2, "gaussian", 1.0), "x"),
    (lambda: filter_dataset_arrays(torch.rand(3, 8, 8), "gaussian", 1.0), "x"),
    (lambda: filter_dataset_arrays(torch.rand(2, 3, 8, 8), "gaussian", 1.0, batch_size=0),
     "batch_size"),
])
def test_bad_input_raises_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()
