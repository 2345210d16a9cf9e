"""Command line: ``python main.py --experiment a|b|c|all``.

A thin dispatcher (STYLE.md rule 2): :mod:`experiments.cli` parses and
checks the flags and resolves each experiment's frozen config and the
:class:`~utils.executor.Launch`; :mod:`experiments.runner` creates the run
folder and calls ``experiments.<exp>.run(cfg, run_dir, launch=...)``. This
file holds the dispatch and the one error boundary: bad input is one line on
stderr and exit code 2, before any work starts. :func:`run_experiment` is
the same path from Python.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1


def _exit_if_shadowed() -> None:
    """The project's packages have generic names; a ``models/`` or ``utils/``
    package in the current folder (first on ``sys.path`` under ``python -m
    main``) or installed elsewhere would be imported instead of this
    checkout's and fail later with a confusing traceback. Say so in one
    line before any work."""
    here = Path(__file__).resolve().parent
    for name in ("data", "experiments", "models", "utils"):
        try:
            spec = importlib.util.find_spec(name)  # locates, does not import
        except (ImportError, ValueError):
            spec = None
        places = list(spec.submodule_search_locations or []) if spec else []
        if not any(Path(p).resolve() == here / name for p in places):
            found = (spec.origin or places[0]) if spec and (spec.origin or places) else "nowhere"
            print(f"main.py: error: package {name!r} is imported from {found}, not from this "
                  f"project ({here / name}); run from a folder without a {name}/ package or "
                  f"take it off sys.path/PYTHONPATH", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    _exit_if_shadowed()

# Idle OpenMP threads sleep instead of spinning (read when torch loads, so
# before any import of it): beside another busy process a spinning 2-thread
# job fell to 0.15-0.26 of its quiet rate, a passive one kept 0.45-0.60
# (benchmarks/bench_contention.py). Jobs run 1 thread each by default
# (--threads), which no policy slows. A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# --------------------------------------------------------------------------
# the dispatch
# --------------------------------------------------------------------------

def _main(argv, state) -> int:
    """Parse, resolve, hand to :mod:`experiments.runner`."""
    from experiments import cli, runner
    args = cli.parse_args(argv, state["prog"])
    cli.trust_model_code(args)
    import matplotlib
    matplotlib.use("Agg")  # chosen here, never at import of a library module
    if args.report:
        return runner.rebuild_report(Path(args.report))
    if args.compare:
        return runner.compare(args.compare, Path(args.out), state)
    if args.resume:
        return runner.resume(Path(args.resume), state, cli.resume_launch(args))
    run = cli.plan(args)
    if args.print_config:
        print(json.dumps({"experiments": {k: dataclasses.asdict(c) for k, c in run.cfgs.items()},
                          "launch": run.launch.record()}, indent=1, default=str))
        return 0
    return runner.start(run.experiment, run.letters, run.cfgs, run.launch, Path(args.out), state,
                        argv=sys.argv[1:] if argv is None else list(argv), device=run.device,
                        quick=run.quick)


# --------------------------------------------------------------------------
# the one error boundary
# --------------------------------------------------------------------------

def _input_errors() -> tuple:
    """Failures that come from the user's input (flags, data, run folders,
    checkpoints): one line, exit code 2. Everything the loaders and readers
    raise for a bad file is converted to one of these where it is read."""
    import pickle
    import zipfile

    from data.images import DatasetUnavailable
    from experiments.cli import UsageError
    return (UsageError, ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError,
            DatasetUnavailable)


def _one_line(e: BaseException) -> str:
    from experiments.cli import UsageError
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, (UsageError, ValueError)) or text.startswith(type(e).__name__):
        return text
    return f"{type(e).__name__}: {text}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: the pool's workers are stopped, the
    folder to resume is named; exit code 143 (128 + SIGTERM)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _write_error_log(run_dir) -> Path | None:
    """Append the current traceback to ``run_dir/error.log`` (never through a
    link); None when it cannot be written."""
    import traceback
    if run_dir is None:
        return None
    log = Path(run_dir) / "error.log"
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                     0o644)
        with os.fdopen(fd, "a") as fh:
            fh.write(traceback.format_exc())
    except OSError:
        return None
    return log


def main(argv: list[str] | None = None, prog: str = "main.py") -> int:
    """Parse, validate, run. Every failure ends in one line on stderr and a
    non-zero exit, by cause: 2 for bad input (before any folder is made,
    where it can be known then); 1 for a run that diverged, a fault of the
    machine during the run (disk full, read-only folder: the folder to
    resume is named) or the user's model failing (its traceback kept in
    ``error.log``); 130 for Ctrl-C, 143 for SIGTERM. An unexpected error (a
    bug of this tool) also writes its traceback to the run folder's
    ``error.log`` (``--debug`` shows it instead)."""
    import signal
    import threading
    state = {"run_dir": None, "debug": argv is not None and "--debug" in argv
             or argv is None and "--debug" in sys.argv[1:], "prog": prog}
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main_boundary(argv, state)
    finally:
        from utils.jobs import release_run_dirs
        release_run_dirs()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_boundary(argv, state) -> int:
    from models import UserModelError
    from utils.executor import WorkerDied
    prog = state["prog"]

    def resume_hint() -> str:
        where = state["run_dir"]
        return (f"; finished jobs are kept in {where} (continue with --resume {where})"
                if where else "")

    try:
        return _main(argv, state)
    except KeyboardInterrupt as e:
        what = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        print(f"{prog}: {what}{resume_hint()}", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except WorkerDied as e:
        print(f"{prog}: error: {_one_line(e)}{resume_hint()}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except FloatingPointError as e:
        print(f"{prog}: error: training stopped: {_one_line(e)}", file=sys.stderr)
        if state["run_dir"]:
            print(f"run folder: {state['run_dir']}")
        return EXIT_RUN_FAILED
    except UserModelError as e:
        if state["debug"]:
            raise
        log = _write_error_log(state["run_dir"])
        print(f"{prog}: error: {' '.join(str(e).split())} ("
              + (f"traceback in {log}" if log else "rerun with --debug for the traceback")
              + f"){resume_hint()}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except OSError as e:
        if state["run_dir"] is None:  # reading the user's input before any work
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        # the machine during the run: disk full, read-only or vanished folder
        print(f"{prog}: error: the run stopped: {_one_line(e)}{resume_hint()}; fix that, "
              f"then resume", file=sys.stderr)
        return EXIT_RUN_FAILED
    except _input_errors() as e:
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        if state["run_dir"]:
            print(f"run folder: {state['run_dir']}")
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug: one line here, the traceback kept
        if state["debug"]:
            raise
        log = _write_error_log(state["run_dir"])
        print(f"{prog}: internal error: {_one_line(e)} ("
              + (f"traceback in {log}" if log else "rerun with --debug for the traceback")
              + ")", file=sys.stderr)
        return EXIT_RUN_FAILED


# --------------------------------------------------------------------------
# the same path from Python
# --------------------------------------------------------------------------

def _refuse_in_a_worker() -> None:
    """A script that calls run_experiment without an ``if __name__ ==
    '__main__':`` guard is imported again by every pool worker (spawn), which
    would start the run again: the worker says so in one line and ends; the
    parent then reports the broken pool (utils.executor.WorkerDied)."""
    import multiprocessing
    frame, importing = sys._getframe(), False
    while frame is not None and not importing:  # spawn running the script as __mp_main__
        importing = (frame.f_code.co_name == "_fixup_main_from_path"
                     and frame.f_code.co_filename.endswith("spawn.py"))
        frame = frame.f_back
    if importing and multiprocessing.current_process().name != "MainProcess":
        print("run_experiment: called while a worker process imports your script; put the "
              "call under `if __name__ == '__main__':`", file=sys.stderr, flush=True)
        os._exit(1)


def run_experiment(experiment: str = "all", overrides: dict | None = None, *,
                   out: str | Path = "results", quick: bool = False, device: str = "auto",
                   data=None, dataset_id: str | None = None, log_to_stdout: bool = True,
                   jobs: dict | None = None) -> Path:
    """Run an experiment from Python and return its run folder: the same
    folder ``main.py`` writes (config.json, env.json, metrics, arrays,
    figures, summary, report.html), because it is the same code path.

    ``overrides``: config fields, as ``--set`` takes them (``{"epochs": 2,
    "arms": ("baseline", "l2"), "b.n_train": 1000}``; tuples and lists become
    comma lists). ``data``: your own images for B (and C): an ``ImageData``,
    ``(train_x, train_y, test_x, test_y)`` tensors (uint8 or float in [0, 1])
    or ``(train_dataset, test_dataset)``, materialised once and named
    ``dataset_id`` (see :func:`data.user.as_image_data`); the config then
    records ``dataset=provided``. ``jobs``: where the jobs run, by the
    fields of :class:`utils.executor.Launch` (``{"workers": 2, "threads": 1}``,
    ``{"launcher": "slurm", "slurm_time_min": 30}``; default: the local pool).
    Bad input raises ``ValueError`` with the same one-line message the
    command line prints; a diverged run raises ``FloatingPointError``.
    """
    import contextlib
    import io
    import matplotlib
    matplotlib.use("Agg")
    from experiments import LETTERS, runner
    from experiments.cli import (UsageError, as_set_text, config_changes,
                                 refuse_unread_strengths, resolve_device)
    from utils.jobs import release_run_dirs
    _refuse_in_a_worker()
    state = {"run_dir": None}
    try:
        if experiment not in (*LETTERS, "all"):
            raise UsageError(f"experiment: expected one of {', '.join([*LETTERS, 'all'])}, "
                             f"got {experiment!r}")
        letters = list(LETTERS) if experiment == "all" else [experiment]
        user = None
        flags = {"device": resolve_device(device), "out": str(out)}
        if data is not None:
            if experiment not in ("b", "c", "all"):
                raise UsageError(f"data: experiment {experiment} takes no images")
            from data.user import as_image_data
            user = as_image_data(data, dataset_id=dataset_id)
            flags["dataset"] = "provided"
        sets = runner.split_overrides([(k, as_set_text(v)) for k, v in (overrides or {}).items()],
                                       letters)
        cfgs = runner.build_configs(letters, flags["device"], quick=quick,
                                    changes=config_changes(flags, letters), overrides=sets)
        refuse_unread_strengths(cfgs, sets)
        launch = runner.build_launch(jobs or {}, quick=quick)
    except UsageError as e:
        raise ValueError(str(e)) from None
    sink = contextlib.nullcontext() if log_to_stdout else contextlib.redirect_stdout(io.StringIO())
    try:
        with sink:
            runner.start(experiment, letters, cfgs, launch, Path(out), state, argv=None,
                         device=flags["device"], quick=quick, user_data=user)
    finally:
        release_run_dirs()
    return Path(state["run_dir"])


def cli() -> None:
    """The ``freqreg`` console command (pyproject ``[project.scripts]``):
    the same checks and ``main()`` as ``python main.py``."""
    _exit_if_shadowed()
    sys.exit(main(prog="freqreg"))


if __name__ == "__main__":
    sys.exit(main())
