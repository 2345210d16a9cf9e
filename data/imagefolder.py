"""Image-folder trees, as a folder or as a ``.tar.gz``/``.tgz`` archive, and
the JPEG copy of CIFAR-10 that is one of them.

Layout: ``train/<class>/<file>`` and ``test/<class>/<file>`` (in an archive,
under any prefix). Labels are the positions of the class folder names
of ``train`` in sorted order; inside a class, files are taken sorted by name.
Hidden files and files whose suffix is not an image suffix are skipped.

Every image is decoded once with PIL, converted to RGB, and must have the
size of the first one (a ValueError names the first that does not), unless
``image_size`` asks for a resize (bicubic; it changes the spectrum, so it is
off by default). The decoded uint8 arrays are cached outside the repository
(see :mod:`data.cache`) in an ``.npz`` keyed by a hash of the file list
(relative names, sizes and mtimes) for a folder, or of the archive's name,
size and mtime, so that a changed tree is decoded again.

Measured on the JPEG copy (60,000 images; 2-core machine shared with other
jobs): reading the archive 4-5 s, decoding 8-9 s in one process and 6.5 s
over two worker processes (the default for 4,000 images or more), 12 s for
a first load in all; 0.5 s from the cache.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import multiprocessing
import os
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from data import cache
from data.images import DatasetUnavailable, ImageData, make_image_data

SPLITS = ("train", "test")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm",
                            ".tif", ".tiff", ".webp"})
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
# Bump when the cached arrays change meaning, so old caches are not trusted.
_CACHE_VERSION = 1
# Below this many images a process pool costs more to start than it saves.
_POOL_MIN_IMAGES = 4000

CIFAR10_JPEG_ARCHIVE = "cifar10-jpeg-q75.tar.gz"
# <repo root>/../shared/datasets/cifar10-jpeg/: where the project's shared
# workspace keeps the copy (never inside the repository).
DEFAULT_CIFAR10_JPEG = (Path(__file__).resolve().parents[1].parent
                        / "shared" / "datasets" / "cifar10-jpeg" / CIFAR10_JPEG_ARCHIVE)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_JPEG_NOTE = ("cifar10-jpeg is a lossy copy of CIFAR-10 (JPEG quality 75, 4:2:0 chroma; "
                     "PSNR about 30 dB against the original pixels, with 8x8 block edges and "
                     "reduced colour high frequencies). It is not plain CIFAR-10: never report "
                     "its results as CIFAR-10.")


def _is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def _stem(path: Path) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _wanted(split: str, cls: str, name: str) -> bool:
    return (split in SPLITS and not name.startswith(".") and not cls.startswith(".")
            and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES)


def _list_folder(root: Path) -> tuple[list[tuple[str, str, str]], list]:
    """Entries (split, class, file name) of a folder tree, and the fingerprint
    of each file (relative name, size, mtime) for the cache key."""
    entries, fingerprint = [], []
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for cls_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            for f in sorted(p for p in cls_dir.iterdir() if p.is_file()):
                if _wanted(split, cls_dir.name, f.name):
                    st = f.stat()
                    entries.append((split, cls_dir.name, f.name))
                    fingerprint.append([split, cls_dir.name, f.name, st.st_size, st.st_mtime_ns])
    return entries, fingerprint


def _read_archive(archive: Path) -> dict[tuple[str, str, str], bytes]:
    """Every wanted image of the archive as bytes, keyed (split, class, name).

    The gzip stream is inflated into memory first (90 MB for the JPEG copy):
    the tar reader then seeks in memory instead of walking the compressed
    stream, about 1.3x faster here.
    """
    blobs: dict[tuple[str, str, str], bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive.read_bytes()))) as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 3 or not _wanted(*parts[-3:]):
                continue
            key = tuple(parts[-3:])
            if key in blobs:
                raise ValueError(f"{archive}: {'/'.join(key)} appears twice (under "
                                 f"different prefixes); expected one train/test tree")
            blobs[key] = tar.extractfile(member).read()
    return blobs


def _decode_chunk(blobs: list[bytes], names: list[str], size_wh: tuple[int, int],
                  resize: bool) -> np.ndarray:
    out = np.empty((len(blobs), size_wh[1], size_wh[0], 3), dtype=np.uint8)
    for i, (blob, name) in enumerate(zip(blobs, names)):
        with Image.open(io.BytesIO(blob)) as im:
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            if rgb.size != size_wh:
                if not resize:
                    raise ValueError(f"{name}: image is {rgb.size[0]}x{rgb.size[1]} (WxH), "
                                     f"expected {size_wh[0]}x{size_wh[1]} like the first image; "
                                     f"pass image_size=(H, W) to resize all images")
                rgb = rgb.resize(size_wh, Image.Resampling.BICUBIC)
            out[i] = np.asarray(rgb)
    return out


def _decode_images(blobs: list[bytes], names: list[str], image_size: tuple[int, int] | None,
                   workers: int) -> np.ndarray:
    """Decode encoded images into uint8 ``(N, H, W, 3)``."""
    if image_size is None:
        with Image.open(io.BytesIO(blobs[0])) as im:
            size_wh = im.size
    else:
        size_wh = (image_size[1], image_size[0])
    resize = image_size is not None
    if workers <= 1 or len(blobs) < _POOL_MIN_IMAGES:
        return _decode_chunk(blobs, names, size_wh, resize)
    bounds = np.linspace(0, len(blobs), workers + 1).astype(int)
    # fork: workers inherit the bytes instead of re-importing torch (spawn
    # costs seconds); they only run PIL and numpy, so fork is safe here.
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        parts = pool.map(_decode_chunk, *zip(*[
            (blobs[a:b], names[a:b], size_wh, resize) for a, b in zip(bounds[:-1], bounds[1:])]))
        return np.concatenate(list(parts))


def _normalise_size(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, int) and s > 0 for s in image_size)):
        raise ValueError(f"image_size: expected None, a positive int or (H, W), got {image_size!r}")
    return tuple(image_size)


def load_imagefolder(path: str | os.PathLike, *, image_size=None, dataset_id: str | None = None,
                     notes: tuple[str, ...] = (), workers: int = 2) -> ImageData:
    """Load a ``train/<class>/*``, ``test/<class>/*`` tree from a folder or a
    ``.tar.gz``/``.tgz`` archive, decoding through the cache.

    image_size: None (all images must share one size) or (H, W) / int to
    resize to. dataset_id: defaults to ``imagefolder:<folder or archive
    stem>``. workers: decoding processes for large sets.
    """
    path = Path(path).expanduser()
    size = _normalise_size(image_size)
    if not (path.is_dir() or (path.is_file() and _is_archive(path))):
        raise DatasetUnavailable(f"No image folder at {path}: expected a folder holding "
                                 f"train/<class>/* and test/<class>/*, or a "
                                 f"{'/'.join(ARCHIVE_SUFFIXES)} archive of such a tree.")
    blobs = None
    if path.is_dir():
        entries, fingerprint = _list_folder(path)
    else:
        st = path.stat()
        fingerprint = [path.name, st.st_size, st.st_mtime_ns]
    key_text = json.dumps([_CACHE_VERSION, size, fingerprint])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:20]
    cache_file = cache.cache_dir() / f"imagefolder-{_stem(path)}-{key}.npz"
    dataset_id = dataset_id or f"imagefolder:{_stem(path)}"
    notes = tuple(notes)

    if cache_file.is_file():
        arrays = cache.load_arrays(cache_file)
    else:
        if path.is_file():
            blobs = _read_archive(path)
            entries = sorted(blobs, key=lambda e: (SPLITS.index(e[0]), e[1], e[2]))
        classes = sorted({cls for split, cls, _ in entries if split == "train"})
        for split in SPLITS:
            if not any(e[0] == split for e in entries):
                raise ValueError(f"{path}: no images found under {split}/<class>/ (suffixes "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES))})")
        stray = sorted({cls for split, cls, _ in entries if split == "test"} - set(classes))
        if stray:
            raise ValueError(f"{path}: test classes {stray} have no train folder")
        names = ["/".join(e) for e in entries]
        if blobs is None:
            data = [(path / name).read_bytes() for name in names]
        else:
            data = [blobs[e] for e in entries]
        pixels = _decode_images(data, [f"{path}/{n}" for n in names], size, workers)
        x = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))
        y = np.array([classes.index(cls) for _, cls, _ in entries], dtype=np.int64)
        is_train = np.array([split == "train" for split, _, _ in entries])
        arrays = {"train_x": x[is_train], "train_y": y[is_train],
                  "test_x": x[~is_train], "test_y": y[~is_train], "classes": np.array(classes)}
        try:
            cache.atomic_save_arrays(cache_file, arrays)
        except OSError as err:
            notes += (f"could not cache the decoded images at {cache_file} ({err}); "
                      f"they will be decoded again next time",)

    return make_image_data(
        torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"]),
        torch.from_numpy(arrays["test_x"]), torch.from_numpy(arrays["test_y"]),
        classes=tuple(str(c) for c in arrays["classes"]), dataset_id=dataset_id,
        source=str(path), notes=notes)


def load_cifar10_jpeg(root: str | os.PathLike | None = None) -> ImageData:
    """The JPEG q75 copy of CIFAR-10, id ``cifar10-jpeg``, with a note that it
    is lossy. root: the archive, a folder holding it, or an extracted tree;
    None means ``<repo root>/../shared/datasets/cifar10-jpeg/``."""
    candidates = [DEFAULT_CIFAR10_JPEG] if root is None else [
        Path(root).expanduser() / CIFAR10_JPEG_ARCHIVE, Path(root).expanduser()]
    path = next((p for p in candidates if (p.is_file() and _is_archive(p))
                 or (p.is_dir() and (p / "train").is_dir())), None)
    if path is None:
        raise DatasetUnavailable(
            f"The JPEG copy of CIFAR-10 is not available: looked for "
            f"{' and '.join(str(p) for p in candidates)} (an archive {CIFAR10_JPEG_ARCHIVE} or "
            f"an extracted train/ test/ tree). To fix: pass --data-root with the folder that "
            f"holds {CIFAR10_JPEG_ARCHIVE}. Alternatives: --dataset synthetic, or --dataset "
            f"cifar10 where the original archive is on disk or downloadable.")
    data = load_imagefolder(path, dataset_id="cifar10-jpeg", notes=(CIFAR10_JPEG_NOTE,))
    if data.classes != CIFAR10_CLASSES:
        raise ValueError(f"root: {path} has classes {list(data.classes)}, expected the "
                         f"CIFAR-10 classes {list(CIFAR10_CLASSES)}")
    return data
