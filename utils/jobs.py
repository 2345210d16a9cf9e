"""Finished jobs kept in the run folder, so an interrupted run continues
where it stopped.

A job is one independent unit of a run (an (arm, seed) of experiment A, ...).
Its result is a dict of arrays written atomically to ``<folder>/<name>.npz``
together with the JSON ``key`` that says what was computed (config fields,
regimen, seed, checkpoint steps). :meth:`JobStore.load` returns the result only
when the key matches exactly; a missing, truncated or foreign file is a miss
and the job runs again. Results do not depend on which jobs ran before or
what ran them, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from utils.runs import LOCK_NAME, save_npz

_KEY = "__job_key__"


class JobStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def load(self, name: str, key: dict) -> dict | None:
        """The saved result of job ``name`` if it was computed for ``key``."""
        path = self.path(name)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if _KEY not in z.files or json.loads(str(z[_KEY])) != _plain(key):
                    return None
                return {k: z[k] for k in z.files if k != _KEY}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
            return None  # torn or foreign: run the job again

    def save(self, name: str, key: dict, result: dict) -> Path:
        arrays = {k: np.asarray(v) for k, v in result.items()}
        arrays[_KEY] = np.array(json.dumps(_plain(key), sort_keys=True))
        return save_npz(self.path(name), **arrays)


def key_difference(saved, key, where: str = "") -> str | None:
    """The first field where two job keys differ, as ``'lr: saved 0.05, this
    run 0.1'`` (nested fields dotted); None when they are equal."""
    saved, key = _plain(saved), _plain(key)
    if isinstance(saved, dict) and isinstance(key, dict):
        for k in sorted(set(saved) | set(key)):
            if k not in saved or k not in key:
                return (f"{where}{k}: saved {saved.get(k, '<missing>')!r}, this run "
                        f"{key.get(k, '<missing>')!r}")
            diff = key_difference(saved[k], key[k], where + (f"{k}." if k != "config" else ""))
            if diff:
                return diff
        return None
    if saved != key:
        return f"{where.rstrip('.') or 'value'}: saved {saved!r}, this run {key!r}"
    return None


def _plain(obj):
    """JSON-normal form (tuples as lists, numpy scalars as numbers)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=lambda o: o.tolist()
                                 if hasattr(o, "tolist") else str(o)))


# --------------------------------------------------------------------------
# one folder, one writer
# --------------------------------------------------------------------------

class RunFolderBusy(ValueError):
    """Another process is writing the run folder (one line, exit 2)."""


_HELD: dict[str, int] = {}


def lock_run_dir(run_dir: str | Path) -> None:
    """Hold an exclusive ``flock`` on ``run_dir/.freqreg-run.lock`` until
    :func:`release_run_dirs` (or this process ends: the kernel drops it,
    even after ``kill -9``). A folder another process holds raises
    RunFolderBusy naming it and the holder's pid; a lock file that is a link
    is refused (OSError), never followed."""
    import fcntl
    run_dir = Path(run_dir)
    key = str(run_dir.resolve())
    if key in _HELD:
        return
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RunFolderBusy(f"{run_dir} is being written by another process (pid {holder}); "
                            f"one folder has one writer: wait for it to end, or stop it and "
                            f"--resume {run_dir}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = fd


def release_run_dirs() -> None:
    """Drop every run-folder lock this process holds."""
    while _HELD:
        os.close(_HELD.popitem()[1])


def links_inside(folder: str | Path) -> Path | None:
    """The first entry under ``folder`` that is a symbolic link (a write
    through it could land outside the run folder), or None."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            if os.path.islink(os.path.join(root, name)):
                return Path(root) / name
    return None
