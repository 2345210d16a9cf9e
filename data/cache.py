"""Where image data lives on disk, and the few file and network helpers the
loaders share.

Two folders, both outside the repository so that no dataset or anything
decoded from one is ever committed:

- the **data root** holds downloaded or hand-copied datasets in their
  original formats: ``$FREQREG_DATA``, else ``~/.cache/freqreg/data``;
- the **cache** holds arrays decoded by this project (an image folder read
  once): ``$FREQREG_CACHE``, else ``~/.cache/freqreg/cache``. Deleting it is
  always safe.
"""
from __future__ import annotations

import os
import socket
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np

from utils.runs import atomic_write

DATA_ENV = "FREQREG_DATA"
CACHE_ENV = "FREQREG_CACHE"
DEFAULT_DATA_ROOT = Path("~/.cache/freqreg/data")
DEFAULT_CACHE_DIR = Path("~/.cache/freqreg/cache")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder to look for datasets in: ``root`` if given, else
    ``$FREQREG_DATA``, else ``~/.cache/freqreg/data``. Not created here."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else DEFAULT_DATA_ROOT.expanduser()


def cache_dir() -> Path:
    """The folder for decoded arrays: ``$FREQREG_CACHE``, else
    ``~/.cache/freqreg/cache``. Not created here."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE_DIR.expanduser()


def host_reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` s.

    The probe runs in a daemon thread because the socket timeout does not
    cover the DNS look-up, which on some offline machines waits far longer
    than the connect would; the caller never waits more than ``timeout``.
    """
    outcome: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome) and outcome[0]


def atomic_save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` at ``path`` atomically
    (:func:`utils.runs.atomic_write`: streamed to a temporary file in the same
    folder, renamed over the target once complete, never through a link), so
    a crash or a second process never leaves a half written cache that a
    later run would trust."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return Path(path)


class CacheEntryUnreadable(ValueError):
    """A cache file that cannot be read back as the arrays it was written
    with (truncated, overwritten, not an ``.npz``). The cache is only ever a
    copy, so callers treat this as a miss and decode again."""


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` written by :func:`atomic_save_arrays`
    (no pickles: object arrays are refused).

    Raises :class:`CacheEntryUnreadable` naming ``path`` when the file cannot
    be read back whole. Every array is read here, inside the ``try``, because
    ``np.load`` of an ``.npz`` is lazy: a damaged member only fails (bad
    CRC, short read) when it is read.
    """
    path = Path(path)
    # The failure types of np.load and zipfile on a damaged or foreign file:
    # OSError (unreadable), EOFError and BadZipFile (truncated, bad CRC),
    # zlib.error (a compressed member damaged), ValueError (not an npy
    # header, or a pickle that allow_pickle=False refuses).
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # a bare .npy under the cache name
            raise ValueError(f"expected an .npz archive of arrays, got a single "
                             f"{type(npz).__name__}")
        with npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError) as err:
        raise CacheEntryUnreadable(f"{path}: unreadable cache entry "
                                   f"({type(err).__name__}: {err})") from err
