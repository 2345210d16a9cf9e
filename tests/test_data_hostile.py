"""Hostile input for the data layer: damaged, truncated, refused, oversized
or ill-shaped files, built small here in each format. Every case must end
in one clear line, DatasetUnavailable or ValueError naming the input, or in
a correct result; never another exception type, never wrong numbers."""
import gzip
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data import cache, cifar10, fashion_mnist, imagefolder
from data.images import DatasetInvalid, DatasetUnavailable, load_image_data

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


def _fails(kind, needle, call, *args, **kwargs) -> str:
    """Run ``call``; it must raise ``kind`` (or a subclass of it) with a
    one-line message containing ``needle``. DatasetInvalid is asserted to be
    a ValueError too, as the readers always raised for bad trees."""
    with pytest.raises(Exception) as err:
        call(*args, **kwargs)
    assert isinstance(err.value, kind), f"{type(err.value).__name__}: {err.value}"
    if kind is DatasetInvalid:
        assert isinstance(err.value, ValueError) and isinstance(err.value, DatasetUnavailable)
    msg = str(err.value)
    assert str(needle) in msg and "\n" not in msg, msg
    return msg


# -------------------------------------------------------------- builders

def _png(value: int = 0, size=(8, 8), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((*size, 3), value, np.uint8)).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def _tree(root: Path, classes=("a", "b"), n_train=2, n_test=1) -> Path:
    for split, n in (("train", n_train), ("test", n_test)):
        for k, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                (root / split / cls / f"{i}.png").write_bytes(_png(10 * k + i))
    return root


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def _tree_members(prefix="set") -> dict[str, bytes]:
    return {f"{prefix}/{split}/{cls}/0.png": _png(v) for split in ("train", "test")
            for v, cls in enumerate(("a", "b"))}


def _cifar(folder: Path, **replace: bytes) -> Path:
    """A tiny CIFAR-10 folder (2 images a batch) in the real pickle format;
    ``replace`` swaps a file's bytes."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in cifar10.TRAIN_BATCHES + (cifar10.TEST_BATCH,):
        batch = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [0, 9]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [n.encode() for n in CIFAR_NAMES]}
    (folder / cifar10.META).write_bytes(pickle.dumps(meta, protocol=2))
    for name, blob in replace.items():
        (folder / name).write_bytes(blob)
    return folder


def _cifar_root(tmp_path: Path, **replace: bytes) -> Path:
    root = tmp_path / "cifar-root"
    _cifar(root / cifar10.FOLDER, **replace)
    return root


def _idx(array: np.ndarray) -> bytes:
    return (struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(np.uint8).tobytes())


def _fashion(folder: Path, **replace: bytes) -> Path:
    folder.mkdir(parents=True)
    arrays = {"train_x": np.zeros((4, 28, 28)), "train_y": np.arange(4) % 10,
              "test_x": np.zeros((2, 28, 28)), "test_y": np.arange(2)}
    for key, stem in fashion_mnist.FILES.items():
        (folder / (stem + ".gz")).write_bytes(gzip.compress(replace.get(key, _idx(arrays[key]))))
    return folder


# ------------------------------------------------------ image folders: files

@pytest.mark.parametrize("blob", [b"", b"hello" * 20, _png()[:40], _png()[:-30]],
                         ids=["empty", "garbage", "header only", "truncated"])
def test_folder_with_one_undecodable_image_names_that_file(tmp_path, blob):
    root = _tree(tmp_path / "set")
    bad = root / "train" / "b" / "1.png"
    bad.write_bytes(blob)
    msg = _fails(DatasetUnavailable, bad, load_image_data, "imagefolder", root)
    assert "BytesIO" not in msg  # PIL's own name for it says nothing


def test_first_image_undecodable_names_it(tmp_path):
    # The first image sets the size, so it is opened on its own path.
    root = _tree(tmp_path / "set")
    (root / "train" / "a" / "0.png").write_bytes(b"\x89PNG junk")
    _fails(DatasetUnavailable, root / "train" / "a" / "0.png", load_image_data, "imagefolder", root)


def test_undecodable_image_in_a_worker_process_names_it(tmp_path, monkeypatch):
    root = _tree(tmp_path / "set", n_train=3)
    monkeypatch.setattr(imagefolder, "_POOL_MIN_IMAGES", 1)  # force the process pool
    bad = root / "train" / "b" / "2.png"
    bad.write_bytes(b"not a png")
    _fails(DatasetUnavailable, bad, imagefolder.load_imagefolder, root, workers=2)


def test_sixteen_bit_image_is_refused_not_clipped(tmp_path):
    root = _tree(tmp_path / "set")
    deep = root / "test" / "a" / "0.png"
    Image.fromarray(np.full((8, 8), 4000, np.uint16)).save(deep)
    assert Image.open(deep).mode.startswith("I")  # a mode convert("RGB") clips to 255
    _fails(DatasetInvalid, deep, load_image_data, "imagefolder", root)


def test_unreadable_image_file_names_it(tmp_path, monkeypatch):
    # Tests may run as root, where chmod 000 still reads; so the read fails here.
    root = _tree(tmp_path / "set")
    bad = root / "test" / "b" / "0.png"
    real_open = open

    def deny(file, *args, **kwargs):
        if Path(file) == bad:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(imagefolder, "open", deny, raising=False)
    msg = _fails(DatasetUnavailable, bad, load_image_data, "imagefolder", root)
    assert "PermissionError" in msg


def test_image_file_over_the_bound_is_refused_before_reading(tmp_path, monkeypatch):
    root = _tree(tmp_path / "set")
    big = root / "train" / "a" / "1.png"
    monkeypatch.setattr(imagefolder, "MAX_IMAGE_BYTES", big.stat().st_size - 1)
    _fails(DatasetUnavailable, "MAX_IMAGE_BYTES", load_image_data, "imagefolder", root)


def test_image_over_pils_pixel_bound_names_the_file(tmp_path, monkeypatch):
    # PIL refuses images of more than 2 * MAX_IMAGE_PIXELS (its bomb guard)
    # with its own exception type; lowered here so an 8x8 image trips it.
    root = _tree(tmp_path / "set")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    msg = _fails(DatasetUnavailable, root / "train" / "a" / "0.png", load_image_data,
                 "imagefolder", root)
    assert "DecompressionBombError" in msg


def _huge_png(w: int = 4000, h: int = 4000) -> bytes:
    """A black image of huge dimensions that compresses to a few KiB."""
    buf = io.BytesIO()
    Image.new("1", (w, h)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def decoded_sizes(monkeypatch):
    """The (W, H) of every image whose pixels PIL decodes during the test."""
    from PIL import ImageFile
    sizes, load = [], ImageFile.ImageFile.load

    def recording(self):
        sizes.append(self.size)
        return load(self)
    monkeypatch.setattr(ImageFile.ImageFile, "load", recording)
    return sizes


@pytest.mark.parametrize("case", ["all huge", "large among small", "one huge, resized",
                                  "wide strip, resized", "huge in an archive"])
def test_huge_dimensions_are_refused_from_the_header(tmp_path, decoded_sizes, case):
    # Memory is bounded in pixels: a tiny file of huge dimensions is refused
    # by its header, naming it, before its pixels are decoded.
    root = _tree(tmp_path / "set")
    bad = root / "train" / "b" / "1.png"
    kwargs = {"image_size": 8} if "resized" in case else {}
    if case == "all huge":
        for f in root.rglob("*.png"):
            f.write_bytes(_huge_png())
        bad = root / "train" / "a" / "0.png"  # the first, which sets the size
    elif case == "wide strip, resized":
        bad.write_bytes(_huge_png(imagefolder.MAX_IMAGE_PIXELS // 7 + 1, 7))
    elif case == "large among small":  # within the pixel bound, not the set's size
        bad.write_bytes(_huge_png(2000, 2000))
    else:
        bad.write_bytes(_huge_png())
    where = root
    if case == "huge in an archive":
        members = {f"set/{f.relative_to(root).as_posix()}": f.read_bytes()
                   for f in sorted(root.rglob("*.png"))}
        where = _tar_gz(tmp_path / "set.tar.gz", members)
        bad = f"{where}/{bad.relative_to(root).as_posix()}"
    assert len(_huge_png()) < 8 << 10  # the bytes bound could never see it
    msg = _fails(DatasetInvalid, bad, imagefolder.load_imagefolder, where, **kwargs)
    assert ("MAX_IMAGE_PIXELS" in msg) == (case != "large among small"), msg
    assert all(w * h <= 64 for w, h in decoded_sizes), decoded_sizes


def test_a_set_too_large_to_decode_is_refused_before_decoding(tmp_path, decoded_sizes,
                                                               monkeypatch):
    root = _tree(tmp_path / "set", n_train=3, n_test=2)  # 10 images of 8x8x3
    monkeypatch.setattr(imagefolder, "MAX_DECODED_BYTES", 10 * 8 * 8 * 3 - 1)
    msg = _fails(DatasetInvalid, "MAX_DECODED_BYTES", imagefolder.load_imagefolder, root)
    assert str(root) in msg and decoded_sizes == []
    monkeypatch.setattr(imagefolder, "MAX_DECODED_BYTES", 10 * 8 * 8 * 3)  # at the bound: loads
    assert imagefolder.load_imagefolder(root).train_x.shape == (6, 3, 8, 8)


def test_twelve_huge_pngs_stay_small_in_memory(tmp_path):
    # The tester's case: 12 PNGs of 4000x4000 (a few KiB each) peaked at
    # 2.4 GiB. Measured in a fresh process: the peak RSS the load adds.
    root = tmp_path / "set"
    for split in ("train", "test"):
        for cls in ("a", "b", "c"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                (root / split / cls / f"{i}.png").write_bytes(_huge_png())
    script = (
        "import resource, sys\n"
        "from data import imagefolder\n"
        "from data.images import DatasetInvalid\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    imagefolder.load_imagefolder({str(root)!r})\n"
        "except DatasetInvalid as e:\n"
        "    print('refused', e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent,
                         env={**os.environ, "FREQREG_CACHE": str(tmp_path / "cache")},
                         timeout=300)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].startswith("refused"), out.stdout + out.stderr
    added_kib = int(lines[-1])
    one_image_kib = 4000 * 4000 * 3 // 1024  # what decoding a single one would take
    assert added_kib < one_image_kib, added_kib


@pytest.mark.parametrize("linked", ["train/b", "train/a/1.png", "test", "test/a/0.png"])
def test_a_link_out_of_the_dataset_is_refused_naming_it(tmp_path, linked):
    # An image folder is what lies inside it: a split, class folder or image
    # that is a link to elsewhere is refused in one line naming the link.
    root = _tree(tmp_path / "set")
    elsewhere = _tree(tmp_path / "elsewhere")
    link = root / linked
    if link.is_dir():
        import shutil
        shutil.rmtree(link)
    else:
        link.unlink()
    link.symlink_to(elsewhere / linked)
    msg = _fails(DatasetInvalid, f"{link}: a link to {elsewhere / linked}",
                 load_image_data, "imagefolder", root)
    assert "outside the dataset" in msg


def test_links_that_stay_inside_the_dataset_are_followed(tmp_path):
    root = _tree(tmp_path / "set")
    reference = load_image_data("imagefolder", _tree(tmp_path / "copy")).train_x
    (root / "store").mkdir()
    for f in ("train/a/1.png", "test/b/0.png"):
        (root / f).rename(root / "store" / f.replace("/", "_"))
        (root / f).symlink_to(root / "store" / f.replace("/", "_"))
    (root / "README").symlink_to("/etc/hostname")  # not an image: never read, never refused
    (root / "train" / "a" / "notes.txt").symlink_to("/etc/hostname")
    data = load_image_data("imagefolder", root)
    assert torch_equal(data.train_x, reference)


def test_a_linked_dataset_root_is_the_users_choice(tmp_path):
    root = _tree(tmp_path / "set")
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    a = load_image_data("imagefolder", tmp_path / "alias")
    assert torch_equal(a.train_x, load_image_data("imagefolder", root).train_x)


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def test_class_folder_name_that_is_not_utf8_loads_and_caches(tmp_path, monkeypatch):
    # os.scandir hands such names over with surrogate escapes; hashing and
    # caching them must not fail, and the second load must be a hit.
    root = tmp_path / "set"
    odd = os.fsdecode(b"\xff\xfe")
    for split in ("train", "test"):
        for cls in ("a", odd):
            (root / split / cls).mkdir(parents=True)
            (root / split / cls / "0.png").write_bytes(_png(7))
    first = load_image_data("imagefolder", root)
    assert first.classes == tuple(sorted(("a", odd)))
    monkeypatch.setattr(imagefolder, "_decode_images", lambda *a, **k: 1 / 0)  # must hit
    assert load_image_data("imagefolder", root).classes == first.classes


# ---------------------------------------------------- image folders: layout

def test_missing_data_root_for_imagefolder(tmp_path):
    _fails(DatasetInvalid, "root", load_image_data, "imagefolder")
    _fails(DatasetInvalid, "root", load_image_data, "imagefolder", "")
    _fails(DatasetUnavailable, tmp_path / "absent", load_image_data, "imagefolder",
           tmp_path / "absent")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    msg = _fails(DatasetInvalid, tmp_path / "empty", load_image_data, "imagefolder", tmp_path / "empty")
    assert "train/<class>/" in msg


def test_folder_without_test_split(tmp_path):
    root = _tree(tmp_path / "set")
    for f in (root / "test").rglob("*.png"):
        f.unlink()
    msg = _fails(DatasetInvalid, root, load_image_data, "imagefolder", root)
    assert "test/<class>/" in msg


def test_folder_with_one_class(tmp_path):
    root = _tree(tmp_path / "set", classes=("only",))
    msg = _fails(DatasetInvalid, root, load_image_data, "imagefolder", root)
    assert "'only'" in msg and "two class" in msg


@pytest.mark.parametrize("split,n_train,n_test", [("train", 512, None), ("test", None, 256)])
def test_subset_larger_than_the_folder_names_the_dataset(tmp_path, split, n_train, n_test):
    # --quick asks for 512 train and 256 test images; this tree has 4 and 2.
    root = _tree(tmp_path / "small")
    msg = _fails(DatasetInvalid, root, load_image_data, "imagefolder", root, n_train=n_train,
                 n_test=n_test)
    n = n_train or n_test
    assert f"n_{split}" in msg and str(n) in msg and "imagefolder:small" in msg
    assert f"only {4 if split == 'train' else 2}" in msg


def test_subset_too_large_for_one_class_names_the_dataset(tmp_path):
    root = _tree(tmp_path / "set", n_train=3)
    for name in ("1.png", "2.png"):
        (root / "train" / "b" / name).unlink()  # a: 3 images, b: 1
    msg = _fails(DatasetInvalid, root, load_image_data, "imagefolder", root, n_train=4)
    assert "class 1" in msg and "n_train" in msg  # 4 images need 2 of b (label 1)


# ---------------------------------------------------------- archives

def test_archive_that_is_not_gzip(tmp_path):
    fake = tmp_path / "fake.tar.gz"
    fake.write_text("just text")
    _fails(DatasetUnavailable, fake, load_image_data, "imagefolder", fake)


def test_truncated_archive(tmp_path):
    whole = _tar_gz(tmp_path / "whole.tgz", _tree_members()).read_bytes()
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(whole[: len(whole) // 2])
    _fails(DatasetUnavailable, cut, load_image_data, "imagefolder", cut)


def test_gzip_of_something_that_is_not_tar(tmp_path):
    fake = tmp_path / "notar.tar.gz"
    fake.write_bytes(gzip.compress(b"\x01" * 5000))
    _fails(DatasetUnavailable, fake, load_image_data, "imagefolder", fake)


def test_archive_with_a_damaged_image_names_archive_and_member(tmp_path):
    members = _tree_members()
    members["set/test/b/0.png"] = b"\x89PNG\r\n\x1a\n broken"
    archive = _tar_gz(tmp_path / "set.tgz", members)
    msg = _fails(DatasetUnavailable, f"{archive}/test/b/0.png", load_image_data, "imagefolder",
                 archive)
    assert "cannot decode" in msg


def test_archive_with_the_same_image_under_two_prefixes(tmp_path):
    members = _tree_members("one") | {"two/train/a/0.png": _png(99)}
    archive = _tar_gz(tmp_path / "twice.tgz", members)
    msg = _fails(DatasetInvalid, archive, load_image_data, "imagefolder", archive)
    assert "train/a/0.png appears twice" in msg


def test_archive_links_are_never_followed(tmp_path):
    # A symlink to a file outside and a hard link to a member, both named as
    # images: neither may become data. The result is the tree without them.
    archive = tmp_path / "links.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, blob in _tree_members().items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for name, kind, target in (("set/train/a/1.png", tarfile.SYMTYPE, "/etc/hostname"),
                                   ("set/train/b/1.png", tarfile.LNKTYPE, "set/train/a/0.png")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    data = load_image_data("imagefolder", archive)
    assert data.train_x.shape[0] == 2 and data.train_y.tolist() == [0, 1]


# --------------------------------------------------------------- the cache

def test_garbage_cached_npz_is_an_unreadable_entry_naming_the_file(tmp_path):
    entry = tmp_path / "entry.npz"
    entry.write_bytes(b"PK\x03\x04 not really a zip")
    _fails(cache.CacheEntryUnreadable, entry, cache.load_arrays, entry)
    np.save(tmp_path / "bare.npy", np.zeros(3))  # an .npy, not an .npz
    _fails(cache.CacheEntryUnreadable, "single ndarray", cache.load_arrays, tmp_path / "bare.npy")


def test_cache_folder_that_is_a_file_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("FREQREG_CACHE", str(blocker))
    root = _tree(tmp_path / "set")
    data = load_image_data("imagefolder", root)
    assert data.train_x.shape == (4, 3, 8, 8)
    assert any("could not cache" in n for n in data.notes)


# --------------------------------------------------------------- CIFAR-10

class _Evil:
    def __reduce__(self):
        return os.system, ("echo pwned",)


@pytest.mark.parametrize("case", ["foreign global", "truncated", "garbage", "not a dict",
                                  "int64 pixels", "label 10", "short rows", "empty"])
def test_bad_cifar_batch_names_the_file(tmp_path, case):
    rng = np.random.default_rng(1)
    good = pickle.dumps({b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
                         b"labels": [1, 2]}, protocol=2)
    blob = {
        "foreign global": pickle.dumps({b"data": _Evil(), b"labels": [0]}, protocol=2),
        "truncated": good[: len(good) // 2],
        "garbage": bytes(rng.integers(0, 256, 300, dtype=np.uint8)),
        "not a dict": pickle.dumps([1, 2, 3], protocol=2),
        # Pixel 300 would wrap to 44 under a uint8 cast.
        "int64 pixels": pickle.dumps({b"data": np.full((2, 3072), 300), b"labels": [1, 2]}),
        "label 10": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}),
        "short rows": pickle.dumps({b"data": np.zeros((2, 3000), np.uint8), b"labels": [1, 2]}),
        "empty": b"",
    }[case]
    root = _cifar_root(tmp_path, data_batch_3=blob)
    # A pickle that cannot be loaded is unavailable data; one that loads but
    # holds no CIFAR batch is invalid data (also a ValueError).
    unloadable = case in ("foreign global", "truncated", "garbage", "empty")
    msg = _fails(DatasetUnavailable if unloadable else DatasetInvalid,
                 root / cifar10.FOLDER / "data_batch_3", load_image_data,
                 "cifar10", root, download=False)
    if case == "foreign global":
        assert "system" in msg and "refusing" in msg


def test_auto_with_a_damaged_cifar_falls_back_and_says_which_file(tmp_path):
    root = _cifar_root(tmp_path, test_batch=b"\x80\x02 cut")
    data = load_image_data("auto", root, n_train=20, n_test=10, download=False)
    assert data.dataset_id == "synthetic-v2"
    assert str(root / cifar10.FOLDER / "test_batch") in data.notes[0]
    assert "NOT CIFAR-10" in data.notes[0]


def test_auto_subset_larger_than_cifar_is_an_error_not_a_fallback(tmp_path):
    root = _cifar_root(tmp_path)  # 10 train images
    msg = _fails(DatasetInvalid, "cifar10", load_image_data, "auto", root, n_train=11,
                 download=False)
    assert "n_train" in msg and "only 10" in msg


def test_cifar_meta_without_label_names(tmp_path):
    root = _cifar_root(tmp_path, **{cifar10.META: pickle.dumps({b"num_vis": 3072}, protocol=2)})
    _fails(DatasetUnavailable, root / cifar10.FOLDER / cifar10.META, load_image_data, "cifar10",
           root, download=False)


def test_truncated_cifar_archive_names_it(tmp_path):
    src = _cifar(tmp_path / "src" / cifar10.FOLDER)
    root = tmp_path / "root"
    root.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname=cifar10.FOLDER)
    (root / cifar10.ARCHIVE).write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    _fails(DatasetUnavailable, root / cifar10.ARCHIVE, load_image_data, "cifar10", root,
           download=False)
    assert not (root / cifar10.FOLDER).exists()  # nothing half-extracted left behind


def test_cifar_archive_member_over_the_bound(tmp_path, monkeypatch):
    src = _cifar(tmp_path / "src" / cifar10.FOLDER)
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / cifar10.ARCHIVE, "w:gz") as tar:
        tar.add(src, arcname=cifar10.FOLDER)
    monkeypatch.setattr(cifar10, "MAX_MEMBER_BYTES", 1000)  # each batch here is ~6 KB
    msg = _fails(DatasetUnavailable, root / cifar10.ARCHIVE, load_image_data, "cifar10", root,
                 download=False)
    assert "MAX_MEMBER_BYTES" in msg


# ------------------------------------------------------------ Fashion-MNIST

def test_truncated_fashion_gzip_names_the_file(tmp_path):
    folder = _fashion(tmp_path / "data" / "FashionMNIST" / "raw")
    target = folder / (fashion_mnist.FILES["test_x"] + ".gz")
    target.write_bytes(target.read_bytes()[:-20])
    _fails(DatasetInvalid, target, load_image_data, "fashion-mnist", download=False)


def test_fashion_gzip_bomb_is_refused(tmp_path, monkeypatch):
    bomb = _idx(np.zeros((2000, 28, 28)))
    folder = _fashion(tmp_path / "data" / "FashionMNIST" / "raw", train_x=bomb)
    monkeypatch.setattr(fashion_mnist, "MAX_IDX_BYTES", len(bomb) - 1)
    target = folder / (fashion_mnist.FILES["train_x"] + ".gz")
    msg = _fails(DatasetInvalid, target, load_image_data, "fashion-mnist", download=False)
    assert "MAX_IDX_BYTES" in msg


def test_fashion_label_out_of_range_names_the_file(tmp_path):
    folder = _fashion(tmp_path / "data" / "FashionMNIST" / "raw", train_y=_idx(np.array([0, 1, 2, 10])))
    _fails(DatasetInvalid, folder / (fashion_mnist.FILES["train_y"] + ".gz"), load_image_data,
           "fashion-mnist", download=False)


def test_fashion_header_longer_than_the_file(tmp_path):
    bad = tmp_path / "idx"
    bad.write_bytes(b"\x00\x00\x08\xff" + b"\x00" * 8)  # 255 dimensions, 12 bytes
    _fails(DatasetInvalid, bad, fashion_mnist.read_idx, bad)


# ---------------------------------------------------- genuine bugs stay bugs

def test_a_bug_inside_decoding_is_not_disguised(tmp_path, monkeypatch):
    # Only the failure types of each read are converted; anything else must
    # surface as itself, with its traceback.
    root = _tree(tmp_path / "set")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(imagefolder.np, "asarray", broken)
    with pytest.raises(ZeroDivisionError):
        load_image_data("imagefolder", root)


# ----------------------------------------------- the command line: one line

@pytest.mark.parametrize("case", ["no data root", "too few for --quick", "one class",
                                  "undecodable image"])
def test_command_line_reports_bad_image_data_in_one_line(tmp_path, capsys, case):
    # main.py loads the data before any work and reports DatasetUnavailable
    # (DatasetInvalid included) as one line with exit status 2.
    import main

    root = _tree(tmp_path / "small", classes=("only",) if case == "one class" else ("a", "b"))
    if case == "undecodable image":
        (root / "train" / "a" / "1.png").write_bytes(b"junk")
    argv = ["--experiment", "b", "--quick", "--dataset", "imagefolder",
            "--out", str(tmp_path / "runs")]
    if case != "no data root":
        argv += ["--data-root", str(root)]
    code = main.main(argv)
    err = capsys.readouterr().err
    assert code == main.EXIT_BAD_INPUT and err.startswith("main.py: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    needle = {"no data root": "--data-root", "too few for --quick": "imagefolder:small",
              "one class": str(root), "undecodable image": str(root / "train" / "a" / "1.png")}
    assert needle[case] in err
    assert not (tmp_path / "runs").exists()  # stopped before any run folder
