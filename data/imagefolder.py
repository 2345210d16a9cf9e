"""Image-folder trees, as a folder or as a ``.tar.gz``/``.tgz`` archive, and
the JPEG copy of CIFAR-10 that is one of them.

Layout: ``train/<class>/<file>`` and ``test/<class>/<file>`` (in an archive,
under any prefix). Labels are the positions of the class folder names
of ``train`` in sorted order (at least two classes); inside a class, files
are taken sorted by name. Hidden files and files whose suffix is not an
image suffix are skipped; links inside an archive are never followed; in a
folder, a link (split, class folder or image) is followed only where it
points inside the dataset's folder, and one pointing outside is refused.

Every image is decoded once with PIL, converted to RGB, and must have the
size of the first one (a DatasetInvalid names the first that does not), unless
``image_size`` asks for a resize (bicubic; it changes the spectrum, so it is
off by default). Memory is bounded in pixels, not only in bytes: each
image's size is read from its header before its pixels are decoded and must
stay within :data:`MAX_IMAGE_PIXELS`, and the decoded set within
:data:`MAX_DECODED_BYTES`. 16-bit and float images are refused, since converting them
to 8-bit RGB would clip their values. The decoded uint8 arrays are cached
outside the repository (see :mod:`data.cache`) in an ``.npz`` keyed by
content: sha256 over the relative names and bytes of the image files of a
folder, or over the bytes of an archive. Names, sizes and mtimes are not
enough: ``cp -p``, ``rsync -t`` and ``tar x`` give a different tree the same
ones. A cache entry that cannot be read back is a miss and is rewritten.

An archive is read as a stream: only the wanted members are kept, and the
inflated bytes are bounded (:data:`MAX_INFLATED_BYTES`,
:data:`MAX_IMAGE_BYTES`), so that a small decompression bomb fails at once
instead of filling memory. A file that cannot be read or decoded, or an
archive that is damaged or over a bound, raises
:class:`~data.images.DatasetUnavailable` naming the file; a tree that is no
dataset, :class:`~data.images.DatasetInvalid`.

Measured on the JPEG copy (60,000 images; a 20 MB archive inflating to
93 MB), on a 2-core machine shared with other jobs. Earlier, lightly
loaded: reading the archive 4-5 s, decoding 8-9 s in one process and 6.5 s
over two worker processes (the default for 4,000 images or more), 0.5 s
from the cache. With the content key, under a load of about 12 (so all
times several-fold): hashing the archive 0.10 s (0.03 s unloaded) against
48 s of decoding over two processes; the streamed read 13.9 s against
12.4 s for the former in-memory read; as an extracted folder, listing 0.6 s
and reading plus hashing the 60,000 files 4.4 s (the former key's stat per
file: 2.6 s, after a 4.7 s listing); a cache hit on the archive 2.4 s in all.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import multiprocessing
import os
import tarfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from data import cache
from data.record import DatasetInvalid, DatasetUnavailable, ImageData, make_image_data

SPLITS = ("train", "test")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm",
                            ".tif", ".tiff", ".webp"})
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
# Bump when the cached arrays or their key change meaning, so old caches are
# not trusted. 2: keyed on content instead of names, sizes and mtimes.
_CACHE_VERSION = 2
# Below this many images a process pool costs more to start than it saves.
_POOL_MIN_IMAGES = 4000
# Bounds on the encoded bytes one load may read. The JPEG copy of CIFAR-10
# inflates to 93 MB in all (55 MB of images, none over 3 KB); 1 GiB leaves
# room for sets ten times its size, while a decompression bomb (1 MB of
# gzip inflates to about 1 GB of zeros) stops there instead of filling
# memory. For an archive the bound counts every inflated byte, wanted or
# not; for a folder, the bytes of its image files. One image file over
# 64 MiB is no photograph this project can train on. Larger sets: extract
# the archive and raise the bounds here.
MAX_INFLATED_BYTES = 1 << 30
MAX_IMAGE_BYTES = 64 << 20
# Bounds in pixels, read from each image's header before it is decoded: a
# compressed file can be tiny and decode huge (a 4000x4000 black PNG is a
# few KiB and 48 MB of RGB). One image above 2048x2048 is no input for the
# networks here (built for 28x28 to 224x224), and the decoded set, uint8
# RGB, stays below 2 GiB (CIFAR-10 is 184 MB; loading copies it about
# twice more while it is split).
MAX_IMAGE_PIXELS = 2048 * 2048
MAX_DECODED_BYTES = 2 << 30
# PIL modes that convert to 8-bit RGB without losing range. "I", "I;16*"
# and "F" hold values above 255, which convert("RGB") clips to 255.
_EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX",
                              "CMYK", "YCbCr"})

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

Entry = tuple[str, str, str]  # (split, class, file name)


def _is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def _stem(path: Path) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _wanted(split: str, cls: str, name: str) -> bool:
    # String operations, not PurePosixPath: this runs once per member of a
    # 60,000-member archive, where pathlib parsing took a quarter of the time.
    return (split in SPLITS and not name.startswith(".") and not cls.startswith(".")
            and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES)


def _parts(member_name: str) -> list[str]:
    """The parts of a tar member name, as PurePosixPath gives them."""
    return [p for p in member_name.split("/") if p not in ("", ".")]


def _order(entry: Entry) -> tuple:
    return SPLITS.index(entry[0]), entry[1], entry[2]


def _too_big(where: str, what: str, limit: int, name: str) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{where}: {what} exceeds the limit of {limit:,} bytes (data.imagefolder.{name}), "
        f"the bound on what one load reads into memory; if the data is genuine, raise it")


# ------------------------------------------------------------ content hash

class _Digest:
    """sha256 over (relative name, bytes) pairs in order. Each name and each
    file is prefixed with its length, so no two different trees can feed the
    hash the same byte stream."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, name: str, blob: bytes) -> None:
        # surrogateescape: a file name that is not valid UTF-8 arrives from
        # the OS (and from tarfile) with its raw bytes escaped; hash those.
        raw = name.encode("utf-8", "surrogateescape")
        for part in (raw, blob):
            self._h.update(len(part).to_bytes(8, "little"))
            self._h.update(part)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _cache_file(path: Path, size, kind: str, digest: str) -> Path:
    key_text = json.dumps([_CACHE_VERSION, size, kind, digest])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    return cache.cache_dir() / f"imagefolder-{_stem(path)}-{key}.npz"


# ---------------------------------------------------------------- folders

def _scan(folder: Path, want_dirs: bool) -> tuple[list[str], set[str]]:
    """Sorted names of the folders (or files) in ``folder``, and which of
    them are links. scandir answers is_dir/is_file/is_symlink from the
    directory entry itself, without a stat per file (60,000 files, loaded
    machine: 4.7 s with Path.iterdir and is_file, 0.6 s here)."""
    with os.scandir(folder) as it:
        found = [(e.name, e.is_symlink()) for e in it
                 if (e.is_dir() if want_dirs else e.is_file())]
    return sorted(name for name, _ in found), {name for name, link in found if link}


def _check_link(link: Path, inside: Path) -> None:
    """A link in the tree may point within it (the data stays the tree's);
    one that leads outside the dataset's root is refused, naming it."""
    target = link.resolve()
    if not target.is_relative_to(inside):
        raise DatasetInvalid(f"{link}: a link to {target}, outside the dataset {inside}; an "
                             f"image folder takes only what lies inside it: copy the files in, "
                             f"or give the folder the link points to as the dataset")


def _list_folder(root: Path) -> list[Entry]:
    """Entries of a folder tree, in load order. Links are followed only
    where they stay inside ``root`` (a split, class folder or image linked
    outside it is refused)."""
    entries = []
    inside = root.resolve()
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        if split_dir.is_symlink():
            _check_link(split_dir, inside)
        try:
            classes, linked = _scan(split_dir, want_dirs=True)
            for cls in classes:
                names, linked_files = _scan(split_dir / cls, want_dirs=False)
                taken = [(split, cls, name) for name in names if _wanted(split, cls, name)]
                if taken and cls in linked:  # what is skipped may link anywhere
                    _check_link(split_dir / cls, inside)
                for _, _, name in taken:
                    if name in linked_files:
                        _check_link(split_dir / cls / name, inside)
                entries += taken
        except OSError as err:
            raise DatasetUnavailable(f"{split_dir}: cannot list the image folder "
                                     f"({type(err).__name__}: {err})") from err
    return entries


def _read_folder(root: Path, entries: list[Entry]) -> tuple[list[bytes], str]:
    """The bytes of every entry and their content digest. The bytes are kept
    (55 MB for the JPEG copy) so that a miss decodes exactly what was hashed,
    even if a file changes meanwhile."""
    digest, blobs, total = _Digest(), [], 0
    base = str(root)
    for entry in entries:
        name = "/".join(entry)
        file = f"{base}/{name}"  # str, unbuffered: 60,000 small files, per-file cost matters
        try:
            with open(file, "rb", buffering=0) as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_IMAGE_BYTES:
                    raise _too_big(file, f"{size:,} bytes", MAX_IMAGE_BYTES, "MAX_IMAGE_BYTES")
                # One byte past the size (never read(bound): that allocates
                # the bound for every file, 3x slower over 60,000 files), so
                # a file that grows while it is read is caught, not read whole.
                blob = f.read(size + 1)
        except OSError as err:
            raise DatasetUnavailable(f"{file}: cannot read the image file "
                                     f"({type(err).__name__}: {err})") from err
        if len(blob) > size:
            raise DatasetUnavailable(f"{file}: the file grew while it was read; "
                                     f"load again once it is complete")
        total += len(blob)
        if total > MAX_INFLATED_BYTES:
            raise _too_big(str(root), "the image files", MAX_INFLATED_BYTES, "MAX_INFLATED_BYTES")
        digest.add(name, blob)
        blobs.append(blob)
    return blobs, digest.hexdigest()


# --------------------------------------------------------------- archives

class _Reader:
    """A read-only file over ``fileobj`` that feeds every byte read through
    ``on_read`` (hashing the compressed bytes, counting the inflated ones)."""

    def __init__(self, fileobj, on_read) -> None:
        self._f, self._on_read = fileobj, on_read

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self._on_read(chunk)
        return chunk


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as err:
        raise DatasetUnavailable(f"{path}: cannot read the archive "
                                 f"({type(err).__name__}: {err})") from err
    return h.hexdigest()


def _read_archive(archive: Path) -> tuple[dict[Entry, bytes], str]:
    """Every wanted image of the archive as bytes, keyed (split, class, name),
    and the sha256 of the archive's bytes as read.

    The archive is read as a stream (tar mode ``r|``): the gzip layer is
    inflated in blocks, members that are not wanted images are skipped
    unread, and every inflated byte counts against MAX_INFLATED_BYTES.
    Only regular files are taken, so links are never followed.
    """
    blobs: dict[Entry, bytes] = {}
    raw_hash = hashlib.sha256()
    inflated = 0

    def count(chunk: bytes) -> None:
        nonlocal inflated
        inflated += len(chunk)
        if inflated > MAX_INFLATED_BYTES:
            raise _too_big(str(archive), "the inflated archive", MAX_INFLATED_BYTES,
                           "MAX_INFLATED_BYTES")

    # The failure types of a damaged archive: OSError (unreadable, or
    # gzip.BadGzipFile: not gzip), EOFError (gzip stream cut short),
    # zlib.error (deflate data damaged), tarfile.TarError (bad headers,
    # member data cut short). The bounds raise DatasetUnavailable already.
    try:
        with open(archive, "rb") as raw_file:
            raw = _Reader(raw_file, raw_hash.update)
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                    tarfile.open(fileobj=_Reader(gz, count), mode="r|") as tar:
                while (member := tar.next()) is not None:
                    # A stream keeps every header it has read; dropping them
                    # keeps memory flat however many members there are.
                    tar.members.clear()
                    parts = _parts(member.name)
                    if not member.isfile() or len(parts) < 3 or not _wanted(*parts[-3:]):
                        continue
                    key = tuple(parts[-3:])
                    if key in blobs:
                        raise DatasetInvalid(f"{archive}: {'/'.join(key)} appears twice (under "
                                             f"different prefixes); expected one train/test tree")
                    if member.size > MAX_IMAGE_BYTES:
                        raise _too_big(f"{archive}: {member.name}", f"{member.size:,} bytes",
                                       MAX_IMAGE_BYTES, "MAX_IMAGE_BYTES")
                    blobs[key] = tar.extractfile(member).read()
            while raw.read(1 << 20):  # hash what gzip left unread (its trailer, padding)
                pass
    except (OSError, EOFError, zlib.error, tarfile.TarError) as err:
        raise DatasetUnavailable(f"{archive}: not a readable .tar.gz archive "
                                 f"({type(err).__name__}: {err})") from err
    return blobs, raw_hash.hexdigest()


# --------------------------------------------------------------- decoding

def _open_image(blob: bytes, name: str) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(blob))
    except (OSError, Image.DecompressionBombError) as err:
        raise _undecodable(name, err) from None
    if im.mode not in _EIGHT_BIT_MODES:
        im.close()
        raise DatasetInvalid(f"{name}: PIL mode {im.mode!r} holds values beyond 8 bits, which "
                             f"converting to RGB would clip; expected an 8-bit image "
                             f"(modes {', '.join(sorted(_EIGHT_BIT_MODES))})")
    return im


def _undecodable(name: str, err: Exception) -> DatasetUnavailable:
    # PIL names the BytesIO it was given, not the file: say which file it was.
    reason = ("not an image PIL recognises" if isinstance(err, Image.UnidentifiedImageError)
              else f"{type(err).__name__}: {err}")
    return DatasetUnavailable(f"{name}: cannot decode the image ({reason})")


def _check_header(im: Image.Image, name: str, size_wh: tuple[int, int], resize: bool) -> None:
    """Refuse an image by its header's size, before its pixels are decoded:
    above MAX_IMAGE_PIXELS, or (without a resize) not the set's size."""
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        raise DatasetInvalid(f"{name}: image is {w}x{h} (WxH), {w * h:,} pixels, above the "
                             f"limit of {MAX_IMAGE_PIXELS:,} (data.imagefolder.MAX_IMAGE_PIXELS) "
                             f"on what one image may decode to; refused before decoding")
    if not resize and im.size != size_wh:
        raise DatasetInvalid(f"{name}: image is {w}x{h} (WxH), expected {size_wh[0]}x"
                             f"{size_wh[1]} like the first image; pass image_size=(H, W) to "
                             f"resize all images")


def _decode_chunk(blobs: list[bytes], names: list[str], size_wh: tuple[int, int],
                  resize: bool) -> np.ndarray:
    out = np.empty((len(blobs), size_wh[1], size_wh[0], 3), dtype=np.uint8)
    for i, (blob, name) in enumerate(zip(blobs, names)):
        with _open_image(blob, name) as im:
            _check_header(im, name, size_wh, resize)
            # The pixels are decoded lazily, here: a truncated or damaged
            # file fails in convert/asarray with OSError.
            try:
                rgb = im if im.mode == "RGB" else im.convert("RGB")
                if rgb.size != size_wh:
                    rgb = rgb.resize(size_wh, Image.Resampling.BICUBIC)
                out[i] = np.asarray(rgb)
            except (OSError, Image.DecompressionBombError) as err:
                raise _undecodable(name, err) from None
    return out


def _decode_images(blobs: list[bytes], names: list[str], image_size: tuple[int, int] | None,
                   workers: int) -> np.ndarray:
    """Decode encoded images into uint8 ``(N, H, W, 3)``. Every image's size
    is checked from its header before its pixels are decoded, and the whole
    set's decoded size before anything is allocated (MAX_IMAGE_PIXELS,
    MAX_DECODED_BYTES)."""
    resize = image_size is not None
    if image_size is None:
        with _open_image(blobs[0], names[0]) as im:
            size_wh = im.size
            _check_header(im, names[0], size_wh, resize)
    else:
        size_wh = (image_size[1], image_size[0])
    decoded = len(blobs) * size_wh[0] * size_wh[1] * 3
    if decoded > MAX_DECODED_BYTES:
        where = os.path.commonpath(names) if len(names) > 1 else names[0]
        raise DatasetInvalid(f"{where}: {len(blobs):,} images of {size_wh[0]}x{size_wh[1]} "
                             f"(WxH) decode to {decoded:,} bytes, above the limit of "
                             f"{MAX_DECODED_BYTES:,} (data.imagefolder.MAX_DECODED_BYTES); "
                             f"refused before decoding: pass image_size=(H, W) to resize, or "
                             f"use fewer images")
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


# ------------------------------------------------------------------ cache

def _cached_arrays(cache_file: Path) -> tuple[dict | None, str | None]:
    """The arrays of a cache entry, or None and why when it cannot be used:
    a damaged file or arrays that do not form a dataset are a miss."""
    if not cache_file.is_file():
        return None, None
    try:
        arrays = cache.load_arrays(cache_file)
    except cache.CacheEntryUnreadable as err:
        return None, str(err)
    problem = _cache_problem(arrays)
    return (None, f"{cache_file}: {problem}") if problem else (arrays, None)


def _cache_problem(arrays: dict) -> str | None:
    if set(arrays) != {"train_x", "train_y", "test_x", "test_y", "classes"}:
        return f"expected train_x, train_y, test_x, test_y, classes, got {sorted(arrays)}"
    classes = arrays["classes"]
    if classes.ndim != 1 or classes.dtype.kind != "U" or classes.size < 2:
        return f"classes: expected at least two names, got {classes.dtype} {classes.shape}"
    for split in SPLITS:
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != 3 or not len(x):
            return f"{split}_x: expected uint8 (N, 3, H, W), got {x.dtype} {x.shape}"
        if y.dtype != np.int64 or y.shape != (len(x),) or y.min() < 0 or y.max() >= classes.size:
            return f"{split}_y: expected {len(x)} int64 labels below {classes.size}"
    return None


# ---------------------------------------------------------------- loading

def _check_layout(path: Path, entries: list[Entry]) -> list[str]:
    """The sorted class names, after checking the tree can be a dataset."""
    for split in SPLITS:
        if not any(e[0] == split for e in entries):
            raise DatasetInvalid(f"{path}: no images found under {split}/<class>/ (suffixes "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    classes = sorted({cls for split, cls, _ in entries if split == "train"})
    if len(classes) < 2:
        raise DatasetInvalid(f"{path}: expected at least two class folders under train/, got "
                             f"{classes}; a classifier needs two classes")
    stray = sorted({cls for split, cls, _ in entries if split == "test"} - set(classes))
    if stray:
        raise DatasetInvalid(f"{path}: test classes {stray} have no train folder")
    return classes


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

    Raises DatasetUnavailable naming the path or file when the tree is
    missing, a file cannot be read or decoded, or an archive is damaged or
    over a bound; DatasetInvalid (also a ValueError) for a tree that is not
    a dataset (no images in a split, fewer than two classes, mixed sizes,
    16-bit images).
    """
    path = Path(path).expanduser()
    size = _normalise_size(image_size)
    if not (path.is_dir() or (path.is_file() and _is_archive(path))):
        raise DatasetUnavailable(f"No image folder at {path}: expected a folder holding "
                                 f"train/<class>/* and test/<class>/*, or a "
                                 f"{'/'.join(ARCHIVE_SUFFIXES)} archive of such a tree.")
    dataset_id = dataset_id or f"imagefolder:{_stem(path)}"
    notes = tuple(notes)
    if path.is_dir():
        entries = _list_folder(path)
        classes = _check_layout(path, entries)
        blobs, digest = _read_folder(path, entries)
        kind = "folder"
    else:
        digest, kind = _file_digest(path), "archive"
    cache_file = _cache_file(path, size, kind, digest)
    arrays, why_miss = _cached_arrays(cache_file)
    if why_miss:
        notes += (f"ignored an unreadable cache entry and decoded again ({why_miss})",)

    if arrays is None:
        if kind == "archive":
            by_entry, read_digest = _read_archive(path)
            entries = sorted(by_entry, key=_order)
            classes = _check_layout(path, entries)
            blobs = [by_entry[e] for e in entries]
            if read_digest != digest:  # replaced since it was hashed: key what was read
                cache_file = _cache_file(path, size, kind, read_digest)
        names = [f"{path}/{'/'.join(e)}" for e in entries]
        pixels = _decode_images(blobs, names, size, workers)
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
        raise DatasetInvalid(f"root: {path} has classes {list(data.classes)}, expected the "
                             f"CIFAR-10 classes {list(CIFAR10_CLASSES)}")
    return data
