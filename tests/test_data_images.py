"""Tests for the image-data layer: the record, stratified subsets, the entry
point, and the CIFAR-10, Fashion-MNIST and image-folder readers on tiny files
written here in each dataset's real on-disk format."""
import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
import tarfile
import tracemalloc
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data import cache, cifar10, fashion_mnist, imagefolder
from data.images import (DatasetUnavailable, ImageData, channel_stats, load_image_data,
                         make_image_data, stratified_subset)

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test reads the user's data or cache, or touches the network."""
    monkeypatch.setenv("FREQREG_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FREQREG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cifar10, "cifar10_reachable", lambda: False)
    monkeypatch.setattr(fashion_mnist, "fashion_mnist_reachable", lambda: False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")


# ---------------------------------------------------------------- the record

def test_channel_stats_matches_float64_reference():
    x = torch.randint(0, 256, (37, 3, 5, 6), dtype=torch.uint8)
    mean, std = channel_stats(x)
    ref = x.double() / 255
    assert np.allclose(mean, ref.mean(dim=(0, 2, 3)).numpy(), rtol=0, atol=1e-12)
    assert np.allclose(std, ref.std(dim=(0, 2, 3), unbiased=False).numpy(), rtol=0, atol=1e-12)


def test_record_rejects_wrong_types_and_labels():
    x = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="train_x"):
        make_image_data(x.float(), y, x, y, classes=("a", "b"), dataset_id="t", source="s")
    with pytest.raises(ValueError, match="test_y"):
        make_image_data(x, y, x, y.int(), classes=("a", "b"), dataset_id="t", source="s")
    with pytest.raises(ValueError, match="labels"):
        make_image_data(x, y + 1, x, y, classes=("a", "b"), dataset_id="t", source="s")
    data = make_image_data(x, y, x, y, classes=("a", "b"), dataset_id="t", source="s")
    assert isinstance(data, ImageData) and data.num_classes == 2 and data.image_shape == (1, 2, 2)


# ------------------------------------------------------- stratified subsets

def test_stratified_subset_is_balanced_sorted_and_deterministic():
    y = torch.arange(1000) % 10
    idx = stratified_subset(y, 95, seed=1)
    assert idx.dtype == torch.int64 and torch.equal(idx, idx.sort().values)
    assert idx.unique().numel() == 95
    # 95 = 9 * 10 + 5: the five smallest labels get one more.
    assert torch.bincount(y[idx], minlength=10).tolist() == [10] * 5 + [9] * 5
    assert torch.equal(idx, stratified_subset(y, 95, seed=1))
    assert not torch.equal(idx, stratified_subset(y, 95, seed=2))


def test_stratified_subset_errors():
    y = torch.tensor([0] * 10 + [1] * 2)
    with pytest.raises(ValueError, match="class 1"):
        stratified_subset(y, 6, seed=0)
    with pytest.raises(ValueError, match="n"):
        stratified_subset(y, 13, seed=0)
    with pytest.raises(ValueError, match="y"):
        stratified_subset(y.float(), 2, seed=0)


def test_entry_point_rejects_unknown_names_and_sizes():
    with pytest.raises(ValueError, match="name"):
        load_image_data("mnist")
    with pytest.raises(ValueError, match="n_train"):
        load_image_data("synthetic", n_train=0)
    with pytest.raises(ValueError, match="root"):
        load_image_data("imagefolder")


# ---------------------------------------------------------------- CIFAR-10

def _cifar_tree(folder: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A tiny CIFAR-10 release in its real format: 5 train batches of 4
    images and a test batch of 10, protocol-2 pickles with bytes keys."""
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, size=(30, 3072), dtype=np.uint8)
    labels = np.arange(30) % 10
    batches = [(f"data_batch_{i + 1}", slice(4 * i, 4 * i + 4)) for i in range(5)]
    batches.append(("test_batch", slice(20, 30)))
    for name, sl in batches:
        batch = {b"batch_label": name.encode(), b"labels": labels[sl].tolist(),
                 b"data": images[sl], b"filenames": [b"x.png"] * (sl.stop - sl.start)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return images, labels


def _check_cifar(data: ImageData, images: np.ndarray, labels: np.ndarray) -> None:
    assert data.dataset_id == "cifar10" and data.classes == tuple(CIFAR_NAMES)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (10, 3, 32, 32)
    assert data.train_y.tolist() == labels[:20].tolist()
    assert data.test_y.tolist() == labels[20:].tolist()
    # The documented layout: 1024 red values, then green, then blue, each
    # 32x32 row-major. So entry 1024 + 32*2 + 5 is green, row 2, column 5.
    assert data.train_x[0, 1, 2, 5] == images[0, 1024 + 32 * 2 + 5]
    assert data.test_x[9, 2, 31, 31] == images[29, 3071]
    assert (data.mean, data.std) == channel_stats(data.train_x)


def test_cifar10_from_extracted_folder(tmp_path):
    images, labels = _cifar_tree(tmp_path / "root" / "cifar-10-batches-py", np.random.default_rng(0))
    _check_cifar(load_image_data("cifar10", tmp_path / "root", download=False), images, labels)


def test_cifar10_from_archive_extracts_then_reads(tmp_path):
    images, labels = _cifar_tree(tmp_path / "src" / "cifar-10-batches-py", np.random.default_rng(1))
    root = tmp_path / "data"  # the FREQREG_DATA default
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    _check_cifar(load_image_data("cifar10", download=False), images, labels)
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # temp dir gone


def test_cifar10_subset_and_auto_prefers_cifar(tmp_path):
    _cifar_tree(tmp_path / "data" / "cifar-10-batches-py", np.random.default_rng(2))
    data = load_image_data("auto", n_train=10, n_test=5, seed=0)
    assert data.dataset_id == "cifar10" and data.notes == ()
    assert torch.bincount(data.train_y, minlength=10).tolist() == [1] * 10
    assert data.test_x.shape[0] == 5 and (data.mean, data.std) == channel_stats(data.train_x)


def test_cifar10_pickle_with_foreign_globals_is_refused(tmp_path):
    folder = tmp_path / "data" / "cifar-10-batches-py"
    _cifar_tree(folder, np.random.default_rng(3))
    (folder / "test_batch").write_bytes(pickle.dumps(OrderedDict(data=1), protocol=2))
    with pytest.raises(DatasetUnavailable, match="test_batch: .*collections.OrderedDict"):
        load_image_data("cifar10", download=False)


@pytest.mark.parametrize("download", [False, True])
def test_cifar10_missing_and_offline_raises_one_clear_message(tmp_path, monkeypatch, download):
    def no_download(base):
        raise AssertionError("must not try to download when the host is unreachable")

    monkeypatch.setattr(cifar10, "_download", no_download)
    with pytest.raises(DatasetUnavailable) as err:
        load_image_data("cifar10", download=download)
    msg = str(err.value)
    for needle in [str(tmp_path / "data" / "cifar-10-python.tar.gz"), cifar10.CIFAR10_URL,
                   "--dataset synthetic", "--dataset cifar10-jpeg", "--dataset imagefolder"]:
        assert needle in msg


def test_cifar10_download_goes_through_torchvision(tmp_path, monkeypatch):
    calls = []

    class FakeCIFAR10:  # stands in for the network: writes what the download would
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            _cifar_tree(Path(root) / "cifar-10-batches-py", np.random.default_rng(4))

    # A stand-in torchvision module: the real import takes seconds, and only
    # the call the loader makes matters here.
    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(CIFAR10=FakeCIFAR10))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setattr(cifar10, "cifar10_reachable", lambda: True)
    data = load_image_data("cifar10")
    assert calls == [(str(tmp_path / "data"), True, True)]
    assert data.train_x.shape == (20, 3, 32, 32)


def test_auto_falls_back_to_synthetic_with_a_loud_note(tmp_path):
    data = load_image_data("auto", n_train=40, n_test=20, seed=5)
    assert data.dataset_id == "synthetic-v2" and data.train_x.shape[0] == 40
    assert "CIFAR-10" in data.notes[0] and "synthetic-v2" in data.notes[0]
    assert str(tmp_path / "data") in data.notes[0] and "NOT CIFAR-10" in data.notes[0]


# ------------------------------------------------------------ Fashion-MNIST

def _idx(array: np.ndarray) -> bytes:
    # idx header, written from the format's description: 0, 0, type 0x08, ndim, dims (>u4).
    return struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.astype(np.uint8).tobytes()


def _fashion_files(folder: Path, rng: np.random.Generator, gz: bool) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    arrays = {"train_x": rng.integers(0, 256, (12, 28, 28)), "train_y": np.arange(12) % 10,
              "test_x": rng.integers(0, 256, (6, 28, 28)), "test_y": np.arange(6)[::-1].copy()}
    for key, stem in fashion_mnist.FILES.items():
        blob = _idx(arrays[key])
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(blob) if gz else blob)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_from_torchvision_layout(tmp_path, gz):
    arrays = _fashion_files(tmp_path / "data" / "FashionMNIST" / "raw", np.random.default_rng(0), gz)
    data = load_image_data("fashion-mnist", download=False)
    assert data.dataset_id == "fashion-mnist" and len(data.classes) == 10
    assert data.train_x.shape == (12, 1, 28, 28) and data.test_x.shape == (6, 1, 28, 28)
    assert np.array_equal(data.train_x[:, 0].numpy(), arrays["train_x"])
    assert data.test_y.tolist() == arrays["test_y"].tolist()


def test_fashion_mnist_from_debian_folder(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    arrays = _fashion_files(debian, np.random.default_rng(1), gz=True)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", debian)
    data = load_image_data("fashion-mnist", download=True)
    assert np.array_equal(data.test_x[:, 0].numpy(), arrays["test_x"])
    assert data.source == str(debian)


def test_fashion_mnist_bad_header_and_missing(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="idx header"):
        fashion_mnist.read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(_idx(np.zeros((3, 2), np.uint8))[:-1])
    with pytest.raises(ValueError, match="header says"):
        fashion_mnist.read_idx(short)
    with pytest.raises(DatasetUnavailable, match="dataset-fashion-mnist"):
        load_image_data("fashion-mnist", download=True)


# ------------------------------------------------------------- image folders

def _write_tree(root: Path, rng: np.random.Generator, size=(8, 8), fmt="PNG",
                classes=("cat", "ant", "bee"), n_train=4, n_test=2) -> dict:
    """train/<class>/<i>.png and test/<class>/<i>.png; returns the pixels by
    (split, class, file name)."""
    pixels = {}
    for split, n in (("train", n_train), ("test", n_test)):
        for cls in classes:
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
                name = f"{i:02d}.{fmt.lower()}"
                Image.fromarray(arr).save(root / split / cls / name, format=fmt)
                pixels[(split, cls, name)] = arr
    (root / "train" / classes[0] / "notes.txt").write_text("not an image")  # skipped
    return pixels


def _check_tree(data: ImageData, pixels: dict) -> None:
    assert data.classes == ("ant", "bee", "cat")  # sorted folder names
    assert data.train_x.shape == (12, 3, 8, 8) and data.test_x.shape == (6, 3, 8, 8)
    assert data.train_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # Inside a class, files sorted by name; PNG is lossless, so pixels match.
    assert np.array_equal(data.train_x[5].permute(1, 2, 0).numpy(), pixels[("train", "bee", "01.png")])
    assert np.array_equal(data.test_x[4].permute(1, 2, 0).numpy(), pixels[("test", "cat", "00.png")])


def test_imagefolder_from_folder_and_cache_hit(tmp_path, monkeypatch):
    pixels = _write_tree(tmp_path / "mytree", np.random.default_rng(0))
    data = load_image_data("imagefolder", tmp_path / "mytree")
    _check_tree(data, pixels)
    assert data.dataset_id == "imagefolder:mytree"
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".npz"  # no temp file left behind

    def no_decode(*args, **kwargs):
        raise AssertionError("second load must come from the cache")

    monkeypatch.setattr(imagefolder, "_decode_images", no_decode)
    _check_tree(load_image_data("imagefolder", tmp_path / "mytree"), pixels)
    # A changed file changes the key: decoding is needed again.
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "mytree/test/ant/09.png")
    with pytest.raises(AssertionError, match="cache"):
        load_image_data("imagefolder", tmp_path / "mytree")


def test_imagefolder_from_tar_gz_with_prefix(tmp_path, monkeypatch):
    pixels = _write_tree(tmp_path / "src" / "set", np.random.default_rng(1))
    archive = tmp_path / "set-v2.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "set", arcname="set")
    data = load_image_data("imagefolder", archive)
    _check_tree(data, pixels)
    assert data.dataset_id == "imagefolder:set-v2" and data.source == str(archive)
    monkeypatch.setattr(imagefolder, "_decode_images", lambda *a, **k: 1 / 0)
    _check_tree(load_image_data("imagefolder", archive), pixels)
    # The stream hashes every byte of the archive, so a miss stores its
    # arrays under the key a later hit computes from the file.
    assert imagefolder._read_archive(archive)[1] == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_imagefolder_jpeg_and_mismatched_sizes(tmp_path):
    rng = np.random.default_rng(2)
    _write_tree(tmp_path / "jpg", rng, size=(32, 32), fmt="JPEG", n_train=2, n_test=1)
    data = load_image_data("imagefolder", tmp_path / "jpg")
    assert data.train_x.shape == (6, 3, 32, 32) and data.train_x.dtype == torch.uint8
    odd = tmp_path / "jpg" / "train" / "bee" / "05.jpeg"
    Image.fromarray(rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)).save(odd)
    with pytest.raises(ValueError, match="05.jpeg"):
        load_image_data("imagefolder", tmp_path / "jpg")
    resized = imagefolder.load_imagefolder(tmp_path / "jpg", image_size=(16, 24))
    assert resized.train_x.shape == (7, 3, 16, 24)


def test_imagefolder_layout_errors(tmp_path):
    _write_tree(tmp_path / "t", np.random.default_rng(3), n_train=1, n_test=1)
    (tmp_path / "t" / "test" / "zebra").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "t/test/zebra/0.png")
    with pytest.raises(ValueError, match="zebra"):
        load_image_data("imagefolder", tmp_path / "t")
    with pytest.raises(DatasetUnavailable, match="nowhere"):
        load_image_data("imagefolder", tmp_path / "nowhere")


def test_cifar10_jpeg_alias_on_a_tiny_tree(tmp_path):
    _write_tree(tmp_path / "cj", np.random.default_rng(4), classes=CIFAR_NAMES, n_train=1, n_test=1)
    data = load_image_data("cifar10-jpeg", tmp_path / "cj")
    assert data.dataset_id == "cifar10-jpeg" and data.classes == tuple(CIFAR_NAMES)
    assert any("not plain CIFAR-10" in n for n in data.notes)


def test_cifar10_jpeg_wrong_classes_and_missing(tmp_path):
    _write_tree(tmp_path / "other", np.random.default_rng(5), n_train=1, n_test=1)
    with pytest.raises(ValueError, match="CIFAR-10 classes"):
        load_image_data("cifar10-jpeg", tmp_path / "other")
    with pytest.raises(DatasetUnavailable, match="cifar10-jpeg-q75.tar.gz"):
        load_image_data("cifar10-jpeg", tmp_path / "empty")


@pytest.mark.slow
@pytest.mark.skipif(not imagefolder.DEFAULT_CIFAR10_JPEG.is_file(),
                    reason="the shared JPEG copy of CIFAR-10 is not on this machine")
def test_real_cifar10_jpeg_copy(monkeypatch):
    # The real cache, so that the ~20 s decode is paid once per machine.
    monkeypatch.delenv("FREQREG_CACHE")
    data = load_image_data("cifar10-jpeg")
    assert data.train_x.shape == (50000, 3, 32, 32) and data.test_x.shape == (10000, 3, 32, 32)
    assert data.dataset_id == "cifar10-jpeg" and data.classes == tuple(CIFAR_NAMES)
    assert torch.bincount(data.train_y).tolist() == [5000] * 10
    # The copy's README: channel means match canonical CIFAR-10 to about 1e-4;
    # canonical train means as widely published (0.49140, 0.48216, 0.44653).
    assert np.allclose(data.mean, (0.49140, 0.48216, 0.44653), atol=2e-4)


# ------------------------------------------- image-folder cache and archive

def _bmp_tree(root: Path, value: int) -> None:
    """A two-class tree of 4x4 BMPs filled with ``value``: BMP is
    uncompressed, so every tree written here has the same file sizes."""
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(root / split / cls / "0.bmp")


def test_imagefolder_cache_is_keyed_on_content_not_metadata(tmp_path):
    # What cp -p, rsync -t and tar x leave: another tree, same folder name,
    # same relative names, sizes and mtimes, different pixels.
    first, second = tmp_path / "one" / "set", tmp_path / "two" / "set"
    _bmp_tree(first, 10)
    _bmp_tree(second, 200)
    for a in sorted(first.rglob("*.bmp")):
        b = second / a.relative_to(first)
        assert a.stat().st_size == b.stat().st_size
        st = a.stat()
        os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (load_image_data("imagefolder", first).train_x == 10).all()
    data = load_image_data("imagefolder", second)
    assert (data.train_x == 200).all() and (data.test_x == 200).all()
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong arrays"])
def test_imagefolder_damaged_cache_entry_is_a_miss_and_rewritten(tmp_path, damage):
    pixels = _write_tree(tmp_path / "mytree", np.random.default_rng(6))
    load_image_data("imagefolder", tmp_path / "mytree")
    (entry,) = (tmp_path / "cache").glob("*.npz")
    whole = entry.read_bytes()
    good = cache.load_arrays(entry)
    if damage == "wrong arrays":  # a readable .npz whose labels are out of range
        arrays = cache.load_arrays(entry)
        cache.atomic_save_arrays(entry, dict(arrays, train_y=arrays["train_y"] + 5))
    else:
        entry.write_bytes({"garbage": b"not a cache" * 50, "truncated": whole[: len(whole) // 2],
                           "empty": b""}[damage])
    if damage != "wrong arrays":
        with pytest.raises(cache.CacheEntryUnreadable, match=str(entry)):
            cache.load_arrays(entry)
    data = load_image_data("imagefolder", tmp_path / "mytree")
    _check_tree(data, pixels)
    assert any("unreadable cache entry" in n and str(entry) in n for n in data.notes)
    rebuilt = cache.load_arrays(entry)  # rewritten whole, as the first load wrote it
    assert rebuilt.keys() == good.keys() and all(np.array_equal(rebuilt[k], good[k]) for k in good)
    assert load_image_data("imagefolder", tmp_path / "mytree").notes == ()


def _tar_add(tar: tarfile.TarFile, name: str, blob: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(blob)
    tar.addfile(info, io.BytesIO(blob))


def _bomb(path: Path, name: str, n_zeros: int) -> Path:
    """A valid two-class image tree plus one member of ``n_zeros`` zeros."""
    png = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(png, format="PNG")
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for cls in ("a", "b"):
                _tar_add(tar, f"set/{split}/{cls}/0.png", png.getvalue())
        _tar_add(tar, name, bytes(n_zeros))
    return path


def test_imagefolder_archive_bomb_is_refused_without_inflating_it(tmp_path, monkeypatch):
    limit = 4 << 20
    archive = _bomb(tmp_path / "bomb.tar.gz", "set/padding.bin", 8 * limit)
    assert archive.stat().st_size < limit // 16  # zeros compress ~1000:1
    monkeypatch.setattr(imagefolder, "MAX_INFLATED_BYTES", limit)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetUnavailable) as err:
            load_image_data("imagefolder", archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(archive) in str(err.value) and "MAX_INFLATED_BYTES" in str(err.value)
    assert f"{limit:,}" in str(err.value)
    # A stream holds a few blocks, never the inflated archive (8x the limit).
    assert peak < limit


def test_imagefolder_archive_member_over_the_image_bound(tmp_path, monkeypatch):
    archive = _bomb(tmp_path / "big.tgz", "set/train/a/huge.png", 5000)
    monkeypatch.setattr(imagefolder, "MAX_IMAGE_BYTES", 4999)
    with pytest.raises(DatasetUnavailable, match="set/train/a/huge.png.*MAX_IMAGE_BYTES") as err:
        load_image_data("imagefolder", archive)
    assert str(archive) in str(err.value)
    # At the bound itself the member is read, and then fails as what it is.
    monkeypatch.setattr(imagefolder, "MAX_IMAGE_BYTES", 5000)
    with pytest.raises(DatasetUnavailable, match="huge.png: cannot decode"):
        load_image_data("imagefolder", archive)
