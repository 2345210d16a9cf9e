"""Fashion-MNIST (Xiao et al., 2017) from its original idx files.

The four files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, each plain or
gzipped (``.gz``), are looked for in this order:

1. ``<data root>/FashionMNIST/raw/`` (where torchvision downloads them),
2. ``<data root>/`` itself,
3. ``/usr/share/datasets/fashion-mnist/`` (the Debian package
   ``dataset-fashion-mnist`` installs the four original ``.gz`` files there).

The data root is ``root``, else ``$FREQREG_DATA``, else
``~/.cache/freqreg/data``. The idx format is read here (a big-endian header:
two zero bytes, type code 0x08 for uint8, the number of dimensions, then one
uint32 per dimension; the data follows). torchvision only downloads, into
place 1, when nothing is found, ``download`` is true and the host answers.
Images are 1 channel, 28x28.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import torch

from data import cache
from data.record import DatasetInvalid, DatasetUnavailable, ImageData, make_image_data

FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# torchvision's mirror for these files (torchvision.datasets.FashionMNIST.mirrors).
FASHION_HOST = ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
# The largest original file, train-images, inflates to 47 MB (60,000 x 784
# bytes plus a 16-byte header). A .gz claiming more is not Fashion-MNIST and
# is refused before it fills memory (a decompression bomb).
MAX_IDX_BYTES = 128 << 20


def _gunzip(raw: bytes, path, limit: int) -> bytes:
    """Inflate every gzip member of ``raw``, refusing output past ``limit``."""
    out, total = [], 0
    try:
        while raw:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
            chunk = inflater.decompress(raw, limit + 1 - total)
            total += len(chunk)
            if total > limit:
                raise DatasetInvalid(f"{path}: inflates past {limit:,} bytes "
                                     f"(data.fashion_mnist.MAX_IDX_BYTES); no Fashion-MNIST "
                                     f"file is that large")
            if not inflater.eof:
                raise DatasetInvalid(f"{path}: the gzip stream is cut short")
            out.append(chunk)
            # gzip allows zero padding between and after members (as gzip.decompress).
            raw = inflater.unused_data.lstrip(b"\0")
    except zlib.error as err:
        raise DatasetInvalid(f"{path}: damaged gzip data ({err})") from err
    return b"".join(out)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The uint8 array stored in an idx file (gzipped or not, told apart by
    its first bytes, not its name). A file that is not a complete idx file
    is a DatasetInvalid (a ValueError) naming it; one that cannot be read,
    DatasetUnavailable."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise DatasetUnavailable(f"{path}: cannot read the idx file "
                                 f"({type(err).__name__}: {err})") from err
    if raw[:2] == _GZIP_MAGIC:
        raw = _gunzip(raw, path, MAX_IDX_BYTES)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE:
        raise DatasetInvalid(f"{path}: expected an idx header 00 00 08 <ndim> (uint8 data), "
                             f"got {raw[:4].hex(' ')}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetInvalid(f"{path}: header says {ndim} dimensions ({header} header bytes), "
                             f"file holds {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise DatasetInvalid(f"{path}: header says shape {shape} ({expected} bytes in all), "
                             f"file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def search_dirs(root: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """The folders searched, in order."""
    base = cache.data_root(root)
    return (base / "FashionMNIST" / "raw", base, DEBIAN_DIR)


def find_fashion_mnist(root: str | os.PathLike | None = None) -> dict[str, Path] | None:
    """The four files from the first searched folder that holds all four."""
    for folder in search_dirs(root):
        files = {key: _file_in(folder, stem) for key, stem in FILES.items()}
        if all(files.values()):
            return files
    return None


def fashion_mnist_reachable() -> bool:
    """True when torchvision's Fashion-MNIST mirror answers within 3 s."""
    return cache.host_reachable(*FASHION_HOST, timeout=3.0)


def _unavailable_message(root, reason: str) -> str:
    names = ", ".join(f"{stem}[.gz]" for stem in FILES.values())
    where = ", ".join(str(d) for d in search_dirs(root))
    return (f"Fashion-MNIST is not available: {reason}. Looked for {names} in: {where}. "
            f"To fix: apt-get install dataset-fashion-mnist, or copy the four files from "
            f"https://github.com/zalandoresearch/fashion-mnist into "
            f"{search_dirs(root)[0]}, or run where http://{FASHION_HOST[0]}/ is reachable.")


def load_fashion_mnist(root: str | os.PathLike | None = None, *,
                       download: bool = True) -> ImageData:
    """Fashion-MNIST: 60,000 train and 10,000 test images, uint8 (N, 1, 28, 28)."""
    files = find_fashion_mnist(root)
    if files is None:
        if not download:
            raise DatasetUnavailable(_unavailable_message(root, "not on disk and download=False"))
        if not fashion_mnist_reachable():
            raise DatasetUnavailable(_unavailable_message(
                root, f"not on disk and {FASHION_HOST[0]} is not reachable"))
        import torchvision

        base = cache.data_root(root)
        base.mkdir(parents=True, exist_ok=True)
        try:
            torchvision.datasets.FashionMNIST(str(base), train=True, download=True)
        except Exception as err:  # network, disk and md5 failures all mean "not here"
            raise DatasetUnavailable(_unavailable_message(
                root, f"the download through torchvision failed ({err})")) from err
        files = find_fashion_mnist(root)
        if files is None:
            raise DatasetUnavailable(_unavailable_message(root, "the download left no files"))

    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DatasetInvalid(f"{files[f'{split}_x']}: expected images (N, H, W) and N labels, "
                                 f"got {x.shape} and {y.shape}")
        if y.size and y.max() >= len(CLASSES):
            raise DatasetInvalid(f"{files[f'{split}_y']}: expected labels in [0, {len(CLASSES)}), "
                                 f"got values up to {y.max()}")
    return make_image_data(
        torch.from_numpy(arrays["train_x"]).unsqueeze(1),
        torch.from_numpy(arrays["train_y"].astype(np.int64)),
        torch.from_numpy(arrays["test_x"]).unsqueeze(1),
        torch.from_numpy(arrays["test_y"].astype(np.int64)),
        classes=CLASSES, dataset_id="fashion-mnist", source=str(files["train_x"].parent))
