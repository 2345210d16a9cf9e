"""Jobs, and the launchers that run them.

A run is a set of independent jobs: an (arm, seed) of experiment A or B, one
model's evaluation in experiment C. A :class:`Job` names a top-level function
and its arguments; the function returns a dict of arrays and numbers, and
depends on nothing but its arguments and its thread count. So a job gives
the same bits whatever runs it (this process, a local pool, SLURM, Ray) and
in whatever order, for the same ``threads`` (CPU reductions depend on the
thread count; see :class:`Launch`).

:func:`run_jobs` runs a list of jobs through one of the launchers:

``local``
    this process when there is one worker (debuggable, no start-up cost),
    else a pool of spawned processes: on a CPU ``cores // threads`` of them,
    on a GPU machine ``GPUs x jobs_per_gpu``, each pinned to one GPU.
``slurm``
    one SLURM job array through ``submitit`` (``pip install -e .[slurm]``);
    ``cluster="local"`` runs the same path as local subprocesses (tests).
``ray``
    tasks on a Ray cluster (``pip install -e .[ray]``): ``address`` of a
    running one, or a fresh local instance.

A job with a ``key`` and a store (:class:`utils.jobs.JobStore`) is saved by
the worker that ran it, atomically, as soon as it finishes; a later run of
the same folder (``--resume``) loads it instead of running it. Jobs without
a key keep their own state (B's per-epoch checkpoints).

Progress: one bar over the jobs with an ETA on a terminal (nothing off one),
and one line per finished job with its headline number.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from utils.jobs import JobStore
from utils.progress import Progress

LAUNCHERS = ("local", "slurm", "ray")
MAX_THREADS = 1024  # CPU threads of one job: more than any one machine's cores


@dataclass(frozen=True)
class Job:
    """One independent unit of work: ``fn(*args) -> dict``. ``fn`` must be
    a module-level function (it is pickled by reference for other processes)."""
    name: str                      # unique in its run, file-safe (e.g. "l2_seed1")
    fn: Callable[..., dict]
    args: tuple = ()
    key: dict | None = None        # what it computes: a stored result is reused only for the
                                   # same key (needs a store in run_jobs)


@dataclass(frozen=True)
class Launch:
    """How jobs run; never what they compute. Every field is a flag of
    ``main.py`` (``--launcher``, ``--workers``, ``--threads``, ...)."""
    launcher: str = "local"        # local | slurm | ray
    workers: int = 0               # local: processes at once; 0 = cores // threads on a CPU,
                                   # GPUs x jobs_per_gpu on a GPU; 1 = in this process
    threads: int = 1               # CPU threads of every job (results are bitwise the same for
                                   # the same value, whatever runs the job)
    jobs_per_gpu: int = 1          # local on a GPU: jobs sharing each GPU at once
    # slurm (submitit)
    slurm_partition: str | None = None
    slurm_time_min: int = 60       # per job
    slurm_gpus: int = 0            # per job
    slurm_mem_gb: float | None = None
    slurm_array_parallelism: int = 64
    slurm_cluster: str | None = None  # None: SLURM (submitit's auto detection); "local": the
                                      # same path as local subprocesses (tests); "debug": inline
    # ray
    ray_address: str | None = None    # None: a fresh local instance; "auto" or host:port
    ray_num_cpus: int | None = None   # of a fresh local instance (None: all cores)
    ray_gpus: float = 0.0             # per job
    progress: bool | None = None      # the bar; None: on a terminal only

    def validate(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher: expected one of {', '.join(LAUNCHERS)}, got "
                             f"{self.launcher!r}")
        for name in ("workers", "threads", "jobs_per_gpu", "slurm_time_min", "slurm_gpus",
                     "slurm_array_parallelism"):
            value = getattr(self, name)
            low = 0 if name in ("workers", "slurm_gpus") else 1
            high = MAX_THREADS if name == "threads" else 2**31 - 1  # what torch/the OS take
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name}: expected an integer >= {low} and <= {high}, got "
                                 f"{value!r}")
        for name in ("ray_gpus", "slurm_mem_gb"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value < 1e6):
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
        if self.ray_num_cpus is not None and not (isinstance(self.ray_num_cpus, int)
                                                  and 1 <= self.ray_num_cpus <= 2**31):
            raise ValueError(f"ray_num_cpus: expected an integer >= 1, got {self.ray_num_cpus!r}")
        if self.launcher == "ray" and self.ray_address not in (None, "auto", "local"):
            _check_reachable(self.ray_address)
        if self.launcher != "local":
            _require(self.launcher)
        if self.launcher == "slurm" and self.slurm_cluster in (None, "slurm"):
            import shutil
            if shutil.which("sbatch") is None:  # submitit would quietly run it all here
                raise LauncherUnavailable(
                    "--launcher slurm: no SLURM here (sbatch is not on PATH); run it on the "
                    "cluster's login node, or --slurm-cluster local for the same path as local "
                    "subprocesses")

    def record(self) -> dict:
        """What config.json keeps (the thread count decides the bits)."""
        return dataclasses.asdict(self)


class WorkerDied(RuntimeError):
    """A pool worker process ended without finishing its job."""


class LauncherUnavailable(ValueError):
    """The chosen backend's package is not installed (one line, exit 2)."""


_EXTRA = {"slurm": ("submitit", "slurm"), "ray": ("ray", "ray")}


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """A Ray address (``host:port``, ``ray://host:port``) with something
    listening behind it, checked in seconds: Ray itself retries for minutes."""
    import socket
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"ray_address: expected host:port (or auto), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise LauncherUnavailable(f"--ray-address {address}: nothing answers there ({e}); start "
                                  f"the cluster (ray start --head) or leave out --ray-address "
                                  f"for a fresh local instance") from None


def _require(launcher: str):
    import importlib
    module, extra = _EXTRA[launcher]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LauncherUnavailable(
            f"--launcher {launcher} needs the {module!r} package: pip install -e .[{extra}]"
        ) from None


# --------------------------------------------------------------------------
# what every worker runs
# --------------------------------------------------------------------------

def _call(fn: Callable[..., dict], args: tuple, threads: int, store: str | None,
          name: str, key: dict | None) -> dict:
    """Run one job with ``threads`` CPU threads; save it when it has a key."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = fn(*args)
    finally:
        torch.set_num_threads(before)
    if store is not None and key is not None:
        JobStore(store).save(name, key, result)
    return result


def _pin_gpu(slots) -> None:
    """Pool initializer on a GPU machine: this worker sees one GPU (set before
    anything touches CUDA in the fresh process)."""
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())


def _cuda_count() -> int:
    try:
        import torch
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install means "no GPU" here
        return 0


def local_workers(launch: Launch, device: str, n_jobs: int) -> int:
    """Processes of the local launcher for ``n_jobs`` jobs."""
    if launch.workers:
        n = launch.workers
    elif device.startswith("cuda"):
        n = max(1, _cuda_count()) * launch.jobs_per_gpu
    else:
        n = max(1, (os.cpu_count() or 1) // launch.threads)
    return max(1, min(n, n_jobs))


# --------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------

def run_jobs(jobs: list[Job], launch: Launch | None = None, *, device: str = "cpu",
             store: JobStore | None = None, label: str = "", log: Callable[[str], Any] = print,
             headline: Callable[[Job, dict], str] | None = None,
             run_dir: str | Path | None = None) -> dict[str, dict]:
    """Run ``jobs`` and return ``{job.name: result}``; without ``launch``,
    one after another in this process (``main.py``'s default is the pool).

    Jobs whose result ``store`` already holds for their key are loaded, not
    run. ``headline(job, result)`` is the text of each job's line.
    ``run_dir``: where the slurm launcher keeps submitit's files
    (``<run_dir>/slurm/``). A job that fails raises its error here, after the
    jobs already running have finished (and been saved)."""
    launch = launch or Launch(workers=1)
    launch.validate()
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    # A stored result is reused only when it was computed with this thread
    # count too: the bits depend on it.
    jobs = [job if job.key is None else dataclasses.replace(
        job, key={**job.key, "threads": launch.threads}) for job in jobs]
    out: dict[str, dict] = {}
    todo = []
    for job in jobs:
        saved = store.load(job.name, job.key) if store is not None and job.key is not None else None
        if saved is not None:
            out[job.name] = saved
        else:
            todo.append(job)
    progress = Progress(len(jobs), label, show=launch.progress, unit="job", log=log)

    def line(text: str) -> None:
        progress.update()
        eta = f" (eta {progress.eta()})" if progress.done < progress.total else ""
        progress.write(f"  {label} [{progress.done}/{progress.total}] {text}{eta}")

    with progress:
        for job in jobs:
            if job.name in out:
                line(f"{job.name}: kept from the interrupted run")
        if todo:
            backend = {"local": _run_local, "slurm": _run_slurm, "ray": _run_ray}[launch.launcher]
            store_dir = str(store.folder) if store is not None else None

            def finished(job: Job, result: dict, seconds: float) -> None:
                out[job.name] = result
                # the job's own time where it says (not its wait in a queue)
                own = result.get("seconds") if isinstance(result, dict) else None
                seconds = float(own) if isinstance(own, (int, float)) or (
                    hasattr(own, "ndim") and own.ndim == 0) else seconds
                text = headline(job, result) if headline else "done"
                line(f"{job.name}: {text} ({seconds:.1f} s)")
            finished.tick = progress.refresh

            backend(todo, launch, device, store_dir, finished, run_dir)
    return out


def _run_local(todo, launch, device, store_dir, finished, run_dir) -> None:
    workers = local_workers(launch, device, len(todo))
    if workers == 1:
        for job in todo:
            t0 = time.perf_counter()
            result = _call(job.fn, job.args, launch.threads, store_dir, job.name, job.key)
            finished(job, result, time.perf_counter() - t0)
        return
    ctx = multiprocessing.get_context("spawn")  # a fork after OpenMP has run can hang
    slots = None
    if device.startswith("cuda") and _cuda_count() > 0:
        slots = ctx.Queue()
        for w in range(workers):
            slots.put(w % _cuda_count())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pin_gpu,
                               initargs=(slots,))
    error = None
    try:
        started = {}
        futures = {}
        for job in todo:
            fut = pool.submit(_call, job.fn, job.args, launch.threads, store_dir, job.name,
                              job.key)
            futures[fut] = job
            started[fut] = time.perf_counter()
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            finished.tick()
            for fut in sorted(done, key=lambda f: todo.index(futures[f])):
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    if error is None:
                        error = WorkerDied(
                            f"a worker process ended before finishing job {futures[fut].name} "
                            f"(killed, out of memory, or a script that calls run_experiment "
                            f"without an `if __name__ == '__main__':` guard)")
                    continue
                except BaseException as e:  # noqa: BLE001 - first error wins, the rest finish
                    if error is None:
                        error = e
                        for other in pending:
                            other.cancel()
                    continue
                finished(futures[fut], result, time.perf_counter() - started[fut])
    except BaseException:  # Ctrl-C, SIGTERM (main.py): stop the workers now, not after their job
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if error is not None:
        raise error


def _run_slurm(todo, launch, device, store_dir, finished, run_dir) -> None:
    submitit = _require("slurm")
    import tempfile
    folder = Path(run_dir or tempfile.mkdtemp(prefix="freqreg_slurm_")) / "slurm" / "%j"
    ex = submitit.AutoExecutor(folder=folder, cluster=launch.slurm_cluster)
    params: dict[str, Any] = dict(timeout_min=launch.slurm_time_min, cpus_per_task=launch.threads,
                                  gpus_per_node=launch.slurm_gpus, name="freqreg")
    if launch.slurm_mem_gb is not None:
        params["mem_gb"] = launch.slurm_mem_gb
    if ex.cluster == "slurm":
        params["slurm_array_parallelism"] = launch.slurm_array_parallelism
        if launch.slurm_partition:
            params["slurm_partition"] = launch.slurm_partition
    ex.update_parameters(**params)
    with ex.batch():
        handles = [ex.submit(_call, j.fn, j.args, launch.threads, store_dir, j.name, j.key)
                   for j in todo]
    jobs_of = {id(h): j for h, j in zip(handles, todo)}
    t0 = time.perf_counter()
    error = None
    poll = 0.5 if ex.cluster in ("local", "debug") else 10.0
    for handle in submitit.helpers.as_completed(handles, poll_frequency=poll):
        try:
            result = handle.result()
        except Exception as e:  # noqa: BLE001 - report the first, let the others finish
            error = error or RuntimeError(f"slurm job {handle.job_id} "
                                          f"({jobs_of[id(handle)].name}) failed: "
                                          f"{str(e).strip().splitlines()[-1] if str(e).strip() else e}"
                                          f" (logs in {folder.parent})")
            continue
        finished(jobs_of[id(handle)], result, time.perf_counter() - t0)
    if error is not None:
        raise error


def _run_ray(todo, launch, device, store_dir, finished, run_dir) -> None:
    ray = _require("ray")
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                      configure_logging=False)
        if launch.ray_address:
            kwargs["address"] = launch.ray_address
        else:
            kwargs["num_cpus"] = launch.ray_num_cpus
        ray.init(**kwargs)
    try:
        have = ray.cluster_resources()
        for what, need in (("CPU", launch.threads), ("GPU", launch.ray_gpus)):
            if need > have.get(what, 0):  # Ray would wait for them forever
                raise LauncherUnavailable(
                    f"--launcher ray: each job asks for {need:g} {what}(s) (--threads / "
                    f"--ray-gpus), the cluster has {have.get(what, 0):g}")
        remote = ray.remote(num_cpus=launch.threads, num_gpus=launch.ray_gpus,
                            max_retries=0)(_call)
        refs = {remote.remote(j.fn, j.args, launch.threads, store_dir, j.name, j.key): j
                for j in todo}
        t0 = time.perf_counter()
        pending, error = list(refs), None
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(done[0])
            except Exception as e:  # noqa: BLE001 - ray wraps the job's error
                cause = getattr(e, "cause", None)
                error = error or (cause if isinstance(cause, Exception) else RuntimeError(
                    f"ray job {refs[done[0]].name} failed: {type(e).__name__}: {e}"))
                continue
            finished(refs[done[0]], result, time.perf_counter() - t0)
        if error is not None:
            raise error
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["Job", "Launch", "LAUNCHERS", "LauncherUnavailable", "WorkerDied", "local_workers",
           "run_jobs"]
