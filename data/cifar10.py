"""CIFAR-10 (Krizhevsky, 2009) from its original python-pickle release.

On disk, under the data root (``root``, else ``$FREQREG_DATA``, else
``~/.cache/freqreg/data``), either

- ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``: pickles
  whose ``b"data"`` is uint8 ``(N, 3072)`` (1024 red, then green, then blue
  values, each 32x32 row-major) and ``b"labels"`` a list of ints; the meta
  pickle's ``b"label_names"`` lists the class names; or
- ``cifar-10-python.tar.gz``, the archive of that folder, which is extracted
  (members of that folder only, through tarfile's ``data`` filter) next to it.

The files are read here, not through torchvision, whose hard-coded md5 check
would refuse any copy but the original. torchvision only downloads: when the
files are missing, ``download`` is true and the host answers within 3 s.
Unpickling goes through an allow-list of the few numpy globals an array
needs, since a pickle found on disk could otherwise run any code.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

from data import cache
from data.record import DatasetInvalid, DatasetUnavailable, ImageData, make_image_data

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_HOST = ("www.cs.toronto.edu", 443)
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
ALL_FILES = TRAIN_BATCHES + (TEST_BATCH, META)

# (module, name) pairs a CIFAR pickle may reference: numpy's array
# reconstruction under its numpy 1 and numpy 2 module names, and the codecs
# call Python 3 uses for bytes in protocol-2 pickles.
_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray",
                   "numpy.core.numeric", "numpy._core.numeric", "numpy")
    for name in ("_reconstruct", "scalar", "_frombuffer", "ndarray", "dtype")
} | {("_codecs", "encode")}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"CIFAR-10 pickle references {module}.{name}, "
                                         "which a plain data batch never does; refusing it")
        return super().find_class(module, name)


# The failure types pickle documents for data that is not a valid pickle
# (truncated: EOFError or UnpicklingError; garbled: any of the others), plus
# the TypeError/ValueError numpy's array reconstruction raises on bad
# arguments. Caught only around the one load call.
_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
                  KeyError, TypeError, ValueError)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DatasetUnavailable(f"{path}: cannot read the CIFAR-10 file "
                                 f"({type(err).__name__}: {err})") from err


def _unpickle(blob: bytes, path: Path | str = "CIFAR-10 batch") -> dict[str, object]:
    # latin1 is what the original Python 2 pickles need for numpy's buffers;
    # keys arrive as str from those and as bytes from Python 3 writers.
    try:
        obj = _ArrayUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except _PICKLE_ERRORS as err:
        raise DatasetUnavailable(f"{path}: cannot load the CIFAR-10 pickle "
                                 f"({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise DatasetInvalid(f"{path}: expected a dict in a CIFAR-10 pickle, "
                             f"got {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _batch_arrays(blob: bytes, name: Path | str,
                  n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(blob, name)
    if "data" not in batch or "labels" not in batch:
        raise DatasetInvalid(f"{name}: expected keys b'data' and b'labels', "
                             f"got {sorted(map(str, batch))}")
    # No casts: np.asarray(..., dtype=uint8) would wrap 256 to 0 and turn
    # 2.7 into 2 without a word, so anything but uint8 pixels and integer
    # labels is refused.
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or labels.dtype.kind not in "iu":
        raise DatasetInvalid(f"{name}: expected uint8 data and integer labels, got "
                             f"{data.dtype} data and {labels.dtype} labels")
    if (data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.ndim != 1
            or data.shape[0] != labels.shape[0]):
        raise DatasetInvalid(f"{name}: expected data (N, 3072) and N labels, got data "
                             f"{data.shape} and labels {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetInvalid(f"{name}: expected labels in [0, {n_classes}), got "
                             f"[{labels.min()}, {labels.max()}]")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _missing(folder: Path) -> list[str]:
    return [name for name in ALL_FILES if not (folder / name).is_file()]


def cifar10_reachable() -> bool:
    """True when the CIFAR-10 host answers within 3 s (a download may work)."""
    return cache.host_reachable(*CIFAR10_HOST, timeout=3.0)


def cifar10_on_disk(root: str | os.PathLike | None = None) -> bool:
    """True when the extracted folder is complete or the archive is present."""
    base = cache.data_root(root)
    return not _missing(base / FOLDER) or (base / ARCHIVE).is_file()


def why_unavailable(root: str | os.PathLike | None = None, *, download: bool = True) -> str | None:
    """None when :func:`load_cifar10` can be expected to work, else a short
    reason (used by ``auto`` to decide on its fallback and to explain it)."""
    base = cache.data_root(root)
    if cifar10_on_disk(root):
        return None
    if not download:
        return f"not found under {base} and download=False"
    if not cifar10_reachable():
        return f"not found under {base} and {CIFAR10_HOST[0]} is not reachable"
    return None


def _unavailable_message(base: Path, reason: str) -> str:
    return (f"CIFAR-10 is not available: {reason}. Looked for {base / FOLDER}/"
            f"{{{','.join(ALL_FILES)}}} and for {base / ARCHIVE}. To fix: download "
            f"{CIFAR10_URL} on a machine with internet and copy it to {base / ARCHIVE} "
            f"(or set $FREQREG_DATA / --data-root to the folder holding it). Offline "
            f"alternatives: --dataset synthetic (embedded, generated), --dataset "
            f"cifar10-jpeg (lossy JPEG copy, not plain CIFAR-10), or --dataset imagefolder "
            f"--data-root PATH.")


# The largest file of the release is a 31 MB batch (10,000 x 3072 bytes
# plus pickle framing); a member claiming more is not CIFAR-10, and is
# refused before anything is written to disk.
MAX_MEMBER_BYTES = 64 << 20


def _extract(archive: Path, base: Path) -> None:
    """Extract the batch files of ``archive`` into ``base/FOLDER``, each file
    renamed into place only once complete."""
    # A damaged archive fails as OSError (unreadable; BadGzipFile), EOFError
    # (cut short), zlib.error (deflate data damaged) or tarfile.TarError.
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and m.name.startswith(FOLDER + "/")
                       and m.name[len(FOLDER) + 1:] in ALL_FILES]
            found = {m.name[len(FOLDER) + 1:] for m in members}
            if found != set(ALL_FILES):
                raise DatasetUnavailable(_unavailable_message(
                    base, f"{archive} lacks {sorted(set(ALL_FILES) - found)}"))
            big = [m.name for m in members if m.size > MAX_MEMBER_BYTES]
            if big:
                raise DatasetUnavailable(f"{archive}: {big[0]} is over {MAX_MEMBER_BYTES:,} "
                                         f"bytes (data.cifar10.MAX_MEMBER_BYTES); no CIFAR-10 "
                                         f"file is, so this is not the CIFAR-10 archive")
            with tempfile.TemporaryDirectory(dir=base, prefix=".cifar10-extract-") as tmp:
                tar.extractall(tmp, members=members, filter="data")
                (base / FOLDER).mkdir(exist_ok=True)
                for m in members:
                    os.replace(Path(tmp) / m.name, base / m.name)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as err:
        raise DatasetUnavailable(f"{archive}: cannot read or extract the CIFAR-10 archive "
                                 f"into {base} ({type(err).__name__}: {err})") from err


def _download(base: Path) -> None:
    import torchvision

    base.mkdir(parents=True, exist_ok=True)
    try:
        torchvision.datasets.CIFAR10(str(base), train=True, download=True)
    except Exception as err:  # network, disk and md5 failures all mean "not here"
        raise DatasetUnavailable(_unavailable_message(
            base, f"the download through torchvision failed ({err})")) from err


def load_cifar10(root: str | os.PathLike | None = None, *, download: bool = True) -> ImageData:
    """CIFAR-10: 50,000 train and 10,000 test images, uint8 (N, 3, 32, 32).

    Reads the extracted folder, else extracts the archive, else downloads
    through torchvision (when ``download`` and the host answers), else raises
    :class:`DatasetUnavailable` naming the exact paths and the alternatives.
    """
    base = cache.data_root(root)
    folder = base / FOLDER
    if _missing(folder):
        if (base / ARCHIVE).is_file():
            _extract(base / ARCHIVE, base)
        elif not download:
            raise DatasetUnavailable(_unavailable_message(base, "not on disk and download=False"))
        elif not cifar10_reachable():
            raise DatasetUnavailable(_unavailable_message(
                base, f"not on disk and {CIFAR10_HOST[0]} is not reachable"))
        else:
            _download(base)
    if _missing(folder):
        raise DatasetUnavailable(_unavailable_message(base, f"{folder} lacks {_missing(folder)}"))

    meta = _unpickle(_read(folder / META), folder / META)
    names = meta.get("label_names")
    if (not isinstance(names, (list, tuple)) or len(names) < 2
            or not all(isinstance(n, (str, bytes)) for n in names)):
        raise DatasetInvalid(f"{folder / META}: expected b'label_names', a list of at "
                             f"least two class names, got {names!r:.80}")
    classes = tuple(n.decode() if isinstance(n, bytes) else n for n in names)
    train = [_batch_arrays(_read(folder / name), folder / name, len(classes))
             for name in TRAIN_BATCHES]
    test_x, test_y = _batch_arrays(_read(folder / TEST_BATCH), folder / TEST_BATCH,
                                   len(classes))
    return make_image_data(
        torch.from_numpy(np.concatenate([x for x, _ in train])),
        torch.from_numpy(np.concatenate([y for _, y in train])),
        torch.from_numpy(test_x), torch.from_numpy(test_y),
        classes=classes, dataset_id="cifar10", source=str(folder))
