"""Run folders: the one place that creates them, writes files atomically and
records the environment (STYLE.md rule 3).

A run folder is self-describing::

    results/<stamp>_<name>/
        config.json     resolved config (written by main before work starts)
        env.json        versions, device, CPU model + ISA flags + BLAS build +
                        threads, git sha + dirty flag, seeds
        metrics.jsonl   one JSON object per line, appended as the run goes
        summary.json    the run's result (atomic)
        *.npz           arrays (atomic)
        figures/        PNG/PDF/GIF
        checkpoints/    model states (atomic)

Atomic means (:func:`atomic_write`, the one atomic writer of the repository,
also behind checkpoints and the data cache): write ``<name>.tmp-<pid>`` in
the same folder, flush and fsync, then ``os.replace`` it over the target, so
a crash never leaves a half file and never destroys the previous version.

Writes never follow a link out of the run folder: files are opened with
``O_NOFOLLOW``, a link at an atomic write's target is replaced (not followed),
and the folders between the run folder and the file are opened one by one
with ``O_NOFOLLOW`` (:class:`LinkOutOfRunFolder` names a planted link).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------

class LinkOutOfRunFolder(OSError):
    """A write would go through a link planted in a run folder (the file
    itself, or a folder between the run folder and it): refused, naming it."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


LOCK_NAME = ".freqreg-run.lock"


def run_root(path: str | os.PathLike) -> Path | None:
    """The run folder ``path`` lies in: its outermost ancestor holding a
    :data:`LOCK_NAME` (every folder being written holds one:
    ``utils.jobs.lock_run_dir``; outermost, so a lock file planted behind a
    link never moves the root). None outside a run folder."""
    path = Path(os.path.abspath(path))
    root = None
    for parent in path.parents:
        if os.path.lexists(parent / LOCK_NAME):
            root = parent
    return root


def _folder_fd(path: Path, root: Path | None | bool = True) -> int:
    """A descriptor of ``path``'s folder, created as needed. Inside a run
    folder each folder below the run folder is opened with ``O_NOFOLLOW``,
    so a link planted there (``figures -> /elsewhere``) raises
    :class:`LinkOutOfRunFolder` instead of receiving the file. ``root``: the
    run folder when the caller knows it (True: look it up)."""
    path = Path(os.path.abspath(path))
    root = run_root(path) if root is True else root
    if root is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path.parent, os.O_RDONLY | _DIRECTORY)
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    here = root
    try:
        for part in path.parent.relative_to(root).parts:
            here = here / part
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                sub = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except OSError:
                if os.path.islink(here):
                    raise LinkOutOfRunFolder(
                        errno.ELOOP, f"{here} is a link (to {os.readlink(here)}); a run writes "
                        f"only inside its folder {root}: replace the link by a real folder") from None
                raise
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_nofollow(name: str, flags: int, dir_fd: int, path: Path) -> int:
    try:
        return os.open(name, flags | _NOFOLLOW, 0o666, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LinkOutOfRunFolder(errno.ELOOP, f"{path.parent / name} is a link; a run never "
                                     f"writes through a link: remove it") from None
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """The one atomic writer: a binary file object whose contents replace
    ``path`` only when the ``with`` block ends without an error.

    It writes ``<name>.tmp-<pid>`` in the same folder (created as needed;
    never through a link: ``O_NOFOLLOW``, and inside a run folder every
    folder below it opened with ``O_NOFOLLOW`` too), flushes and fsyncs it,
    then ``os.replace``-s it over ``path`` (a link there is replaced, not
    followed). On an error the temporary file is removed and ``path`` keeps
    its previous version. Stream into it (``np.savez(f, ...)``,
    ``torch.save(obj, f)``, ``f.write(data)``)::

        with atomic_write(run_dir / "arrays.npz") as f:
            np.savez_compressed(f, a=a)
    """
    path = Path(path)
    folder = _folder_fd(path)
    tmp = f"{path.name}.tmp-{os.getpid()}"
    try:
        fd = _open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, folder, path)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # a link at the target is replaced, never followed (tests/fault_seam kills a process here)
        os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
    finally:
        try:
            os.unlink(tmp, dir_fd=folder)
        except FileNotFoundError:
            pass
        os.close(folder)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths, dataclasses and non-finite floats
    into plain JSON (NaN and inf become null: JSON has no spelling for them)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def save_npz(path: Path, **arrays: Any) -> Path:
    """Save arrays to a compressed ``.npz`` file, atomically."""
    with atomic_write(path) as fh:
        np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return Path(path)


def save_torch(path: Path, obj: Any) -> Path:
    """``torch.save`` to ``path`` atomically (checkpoints)."""
    import torch

    with atomic_write(path) as fh:
        torch.save(obj, fh)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> Path:
    """``data`` to ``path``, atomically (figures: rendered to memory first)."""
    with atomic_write(path) as fh:
        fh.write(data)
    return Path(path)


class JsonlLogger:
    """Append-only JSON-lines log (one flushed line per record). Every record
    starts with ``kind`` (``step``, ``epoch``, ``job``, ``curve``, ``heatmap``
    ...), so record types can be separated by one field."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._root = run_root(self.path)  # looked up once: the log writes often
        os.close(_folder_fd(self.path, self._root))

    def log(self, kind: str, **record: Any) -> None:
        """Append one line, never through a link (:class:`LinkOutOfRunFolder`)."""
        line = json.dumps(to_jsonable({"kind": kind, **record}), sort_keys=False)
        folder = _folder_fd(self.path, self._root)
        try:
            fd = _open_nofollow(self.path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, folder,
                                self.path)
        finally:
            os.close(folder)
        with os.fdopen(fd, "a") as fh:
            fh.write(line + "\n")

    def drop(self, predicate) -> int:
        """Rewrite the log (atomically) without the records for which
        ``predicate(record)`` is true, and without a torn last line left by
        a kill mid-write; returns how many lines went. A resumed job calls
        this for its epochs after the checkpoint it continues from, so a
        kill between a metrics line and its checkpoint never duplicates or
        loses a line."""
        if not self.path.is_file():
            return 0
        keep, dropped = [], 0
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                dropped += 1
                continue
            if isinstance(rec, dict) and predicate(rec):
                dropped += 1
            else:
                keep.append(line)
        if dropped:
            write_text(self.path, "".join(line + "\n" for line in keep))
        return dropped


# --------------------------------------------------------------------------
# run folders
# --------------------------------------------------------------------------

def create_run_dir(out_root: Path, name: str) -> Path:
    """Create ``out_root/<YYYYmmdd-HHMMSS>_<name>`` (suffixed if it exists)."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = out_root / f"{stamp}_{name}"
    run_dir, i = base, 1
    while True:
        try:
            run_dir.mkdir(parents=True)
            break
        except FileExistsError:
            i += 1
            run_dir = base.with_name(f"{base.name}-{i}")
    (run_dir / "figures").mkdir()
    return run_dir


def remove_orphan_temporaries(folder: Path) -> int:
    """Delete ``*.tmp-<pid>`` files under ``folder`` left by a killed process
    (its pid no longer alive); returns how many. Atomic writes make them and
    remove them, except under ``kill -9``."""
    removed = 0
    for tmp in Path(folder).rglob("*.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[-1]
        if not pid.isdigit() or not tmp.is_file():
            continue
        try:
            os.kill(int(pid), 0)
            alive = int(pid) != os.getpid()
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def check_writable(folder: Path) -> None:
    """Raise ``OSError`` with a clear message if ``folder`` can't be written."""
    folder = Path(folder)
    if folder.is_symlink() and not folder.exists():
        raise OSError(f"output folder {folder} is a link to {os.readlink(folder)}, which does "
                      f"not exist")
    probe_root = folder
    while not probe_root.exists():
        probe_root = probe_root.parent
    if not probe_root.is_dir() or not os.access(probe_root, os.W_OK | os.X_OK):
        raise OSError(f"output folder {folder} is not writable")


def git_state(repo: Path = REPO_ROOT) -> dict:
    """Git sha and dirty flag of the code that runs (None outside a checkout)."""
    def _git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=repo, capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


# CPU features that change float32 bits (which kernels BLAS, oneDNN and ATen
# pick), as /proc/cpuinfo spells them.
ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
             "amx_bf16", "amx_int8")
_BUILD_LINES = ("Math Kernel Library", "MKL-DNN", "OpenBLAS", "OpenMP")


def _cpuinfo(path: str = "/proc/cpuinfo") -> tuple[str | None, list[str] | None]:
    """The first processor's model name and flags (None where unreadable)."""
    model = flags = None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key in ("flags", "Features") and flags is None:
                    flags = value.split()
                if model is not None and flags is not None:
                    break
    except OSError:
        pass
    return model, flags


def cpu_record(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """What decides float32 bits on a CPU, compactly: the CPU model, the ISA
    flags of :data:`ISA_FLAGS` it has (None where unknown: no /proc/cpuinfo),
    the kernel level ATen dispatches to, torch's BLAS/oneDNN/OpenMP build,
    the torch thread count and ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``."""
    import torch

    model, flags = _cpuinfo(cpuinfo)
    config = torch.__config__.show()
    build = [line.strip(" -") for line in config.splitlines()
             if any(k in line for k in _BUILD_LINES)]
    blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        capability = None
    return {
        "cpu_model": model or platform.processor() or platform.machine() or None,
        "isa_flags": None if flags is None else [f for f in ISA_FLAGS if f in flags],
        "cpu_capability": capability,
        "blas": blas.group(1) if blas else None,
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "torch_build": build,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkl_num_threads": os.environ.get("MKL_NUM_THREADS"),
    }


def env_record(device: str, seeds: Iterable[int]) -> dict:
    """Versions, device and seeds; STYLE.md rule 11: record versions, never assert them."""
    import torch

    rec = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "numpy": np.__version__,
        "device": device,
        "device_name": (torch.cuda.get_device_name(0) if device.startswith("cuda")
                        else platform.processor() or platform.machine()),
        "cpu_count": os.cpu_count(),
        **cpu_record(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "seeds": list(seeds),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    for dist in ("torchvision", "matplotlib", "scipy", "imageio"):
        # read from the installed metadata: importing torchvision (for its
        # __version__) cost 3-12 s before a run's first progress line
        try:
            rec[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:  # recorded, not required
            rec[dist] = None
    rec.update(git_state())
    return rec
