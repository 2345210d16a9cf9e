"""Command line: ``python main.py --experiment a|b|c|all``.

A thin dispatcher (STYLE.md rule 2): parse and validate flags, resolve each
experiment's frozen config, print it, create the run folder, call
``experiments.<exp>.run(cfg, run_dir)``. Bad input is one line on stderr and
exit code 2, before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import json
import os
import sys
import time
import zipfile
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


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Formatter(argparse.HelpFormatter):
    """States each flag's default once (flags whose default depends on the
    experiment say so in their own help text)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def _experiments() -> dict:
    """Registry: experiment letter -> module (the contract is stated in
    experiments/__init__.py)."""
    from experiments import registry
    return registry()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="main.py",
        description="Regularisation through the frequency lens. Runs write one "
                    "self-describing folder under --out.",
        formatter_class=_Formatter,
    )
    from experiments import LETTERS
    g = p.add_argument_group("what to run")
    g.add_argument("--experiment", default=None, choices=[*LETTERS, "all"],
                   help="a: 1D spectral bias; b: first-layer spectrum on images; "
                        "c: robustness of b's models; all: " + ", ".join(LETTERS)
                        + " in one run folder (default: all, or what --config holds)")
    g.add_argument("--quick", action="store_true",
                   help="same code path with every axis shrunk (smoke test, about a minute for "
                        "all; recorded in config.json; default: off)")
    g.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run folder (any experiment, or an 'all' "
                        "folder) with its own config: finished jobs and parts are kept; takes "
                        "no other flags (default: none)")
    g.add_argument("--config", metavar="CONFIG_JSON", default=None,
                   help="rerun exactly what a run folder's config.json records, in a new "
                        "folder; flags and --set still override it (default: none)")
    g.add_argument("--from-run", "--from_run", dest="from_run", metavar="B_RUN_DIR", default=None,
                   help="experiment c: evaluate the models of this experiment-b run folder "
                        "(default: the newest one under --out)")
    g.add_argument("--report", metavar="RUN_DIR", default=None,
                   help="redraw the figures and rebuild report.html of a run folder from its "
                        "saved data, without training")
    g.add_argument("--compare", metavar="RUN_DIR", nargs="+", default=None,
                   help="write one comparison report of several run folders (e.g. two L2 "
                        "strengths) into a new folder under --out")

    g = p.add_argument_group("arms: the regularisation regimens compared (experiments a, b)")
    g.add_argument("--arm", dest="arm", action="append", default=None, metavar="SPEC",
                   help="an arm, repeatable; replaces the default arms. SPEC is a shorthand "
                        "(baseline, l2, dropout, l2+dropout, with --l2_reg/--dropout) or "
                        "NAME:knob=value,... on top of the base regimen, knobs l2, l2_mode "
                        "(penalty|decoupled), dropout, dropout_at (a: hidden; b: classifier|"
                        "conv), label_smoothing, augment (none|crop_flip), input_noise (b). "
                        "Example: --arm baseline --arm l2conv:l2=5e-4,dropout=0.2,dropout_at=conv "
                        "(default: a baseline,l2,dropout; b also l2+dropout)")
    g.add_argument("--sweep", default=None, metavar="KNOB=V1,V2,...",
                   help="one knob over values, each an arm on the same seeds and initial "
                        "weights; the base value is the baseline; dose-response figures. "
                        "Example: --sweep l2=0,1e-5,1e-4,5e-4,1e-3,5e-3 (without --arm the "
                        "arms are the sweep alone; default: none)")

    g = p.add_argument_group("training (the seed project's flags)")
    g.add_argument("--epochs", type=int, default=None,
                   help="training length; experiment A: full-batch steps (default 10000: the "
                        "slowest baseline seed needs ~4,700 to learn k=50); B: epochs over the train set "
                        "(default: cpu preset 8, gpu preset 50)")
    g.add_argument("--l2_reg", "--l2-reg", dest="l2_reg", type=float, default=None,
                   help="lambda of the L2 arm's penalty lambda*sum||W||^2 over weight matrices "
                        "(default: A 1e-4, B 5e-4)")
    g.add_argument("--dropout", type=float, default=None,
                   help="dropout rate of the dropout arms, 0 <= p < 1 (default: A 0.1 on hidden "
                        "layers, B 0.5 before the classifier)")
    g.add_argument("--seed", type=int, default=None,
                   help="run a single seed (default: seeds 0, 1, 2)")
    g.add_argument("--seeds", default=None,
                   help="number of seeds N (seeds 0..N-1) or a comma list such as 0,3,7 "
                        "(default: 3 seeds; --quick: 2)")

    g = p.add_argument_group("data (experiments b and c)")
    from data.images import DATASET_NAMES
    g.add_argument("--dataset", default=None, choices=list(DATASET_NAMES),
                   help="auto: CIFAR-10 if on disk or downloadable, else the embedded synthetic "
                        "set (said loudly); cifar10 never falls back (default: auto)")
    g.add_argument("--data-root", "--data_root", dest="data_root", default=None,
                   help="dataset location: CIFAR-10/Fashion-MNIST root, or the image-folder "
                        "tree or .tar.gz (default: $FREQREG_DATA or ~/.cache/freqreg/data)")

    g = p.add_argument_group("where and how")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto picks cuda when available")
    g.add_argument("--out", default="results",
                   help="folder that receives the run folder")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, type-checked (e.g. --set lr=3e-3 "
                        "or --set a.width=128 with --experiment all); repeatable; default: none")
    g.add_argument("--debug", action="store_true",
                   help="show the Python traceback of an unexpected error instead of one line "
                        "(the traceback is always saved to the run folder's error.log; default: off)")

    g = p.add_argument_group(
        "jobs: how the (arm, seed) jobs and C's model evaluations run; results are bitwise "
        "the same whatever runs them, for the same --threads")
    g.add_argument("--launcher", default="local", choices=["local", "slurm", "ray"],
                   help="local: this machine (a process pool); slurm: a SLURM job array through "
                        "submitit (pip install -e .[slurm]); ray: a Ray cluster "
                        "(pip install -e .[ray])")
    g.add_argument("--workers", type=int, default=None,
                   help="local: jobs at once (default 0 = CPU cores / --threads, or GPUs x "
                        "--jobs-per-gpu; 1 = in this process, the default with --quick)")
    g.add_argument("--threads", type=int, default=None,
                   help="CPU threads per job; the bits of a result depend on it (default 1, or "
                        "what --config/--resume's folder recorded)")
    g.add_argument("--jobs-per-gpu", "--jobs_per_gpu", dest="jobs_per_gpu", type=int,
                   default=None, help="local on a GPU machine: jobs sharing each GPU (default 1)")
    g.add_argument("--slurm-partition", dest="slurm_partition", default=None,
                   help="slurm: partition (default: the cluster's)")
    g.add_argument("--slurm-time", dest="slurm_time", type=int, default=None,
                   help="slurm: time limit per job in minutes (default 60)")
    g.add_argument("--slurm-gpus", dest="slurm_gpus", type=int, default=None,
                   help="slurm: GPUs per job (default 0)")
    g.add_argument("--slurm-mem", dest="slurm_mem", type=float, default=None,
                   help="slurm: memory per job in GB (default: the cluster's)")
    g.add_argument("--slurm-array-parallelism", dest="slurm_array_parallelism", type=int,
                   default=None, help="slurm: jobs of the array running at once (default 64)")
    g.add_argument("--slurm-cluster", dest="slurm_cluster", default=None,
                   choices=["slurm", "local", "debug"],
                   help="slurm: submitit's executor; local runs the same path as local "
                        "subprocesses, debug in this process (default: slurm)")
    g.add_argument("--ray-address", dest="ray_address", default=None,
                   help="ray: address of a running cluster (auto, or host:port; default: start "
                        "a local instance)")
    g.add_argument("--ray-num-cpus", dest="ray_num_cpus", type=int, default=None,
                   help="ray: CPUs of a fresh local instance (default: all)")
    g.add_argument("--ray-gpus", dest="ray_gpus", type=float, default=None,
                   help="ray: GPUs per job, fractions share one (default 0)")
    g.add_argument("--progress", default="auto", choices=["auto", "on", "off"],
                   help="the bar over the jobs: auto shows it on a terminal only")
    return p


def parse_seeds(args) -> tuple[int, ...] | None:
    if args.seed is not None and args.seeds is not None:
        raise UsageError("give --seed or --seeds, not both")
    if args.seed is not None:
        if args.seed < 0:
            raise UsageError(f"--seed: expected >= 0, got {args.seed}")
        return (args.seed,)
    if args.seeds is None:
        return None
    text = args.seeds.strip()
    try:
        if "," in text:
            seeds = tuple(int(s) for s in text.split(",") if s.strip())
        else:
            n = int(text)
            if n < 1:
                raise UsageError(f"--seeds: expected a count >= 1, got {n}")
            seeds = tuple(range(n))
    except ValueError:
        raise UsageError(f"--seeds: expected a count or a comma list of integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds: expected distinct non-negative integers, got {text!r}")
    return seeds


def validate_flags(args) -> None:
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs: expected a positive integer, got {args.epochs}")
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise UsageError(f"--dropout: expected 0 <= p < 1, got {args.dropout}")
    if args.l2_reg is not None and not args.l2_reg >= 0.0:
        raise UsageError(f"--l2_reg: expected >= 0, got {args.l2_reg}")
    # (the job flags' values are checked once, by Launch.validate in build_launch)
    slurm_only = [f for f in ("slurm_partition", "slurm_time", "slurm_gpus", "slurm_mem",
                              "slurm_array_parallelism", "slurm_cluster")
                  if getattr(args, f) is not None]
    ray_only = [f for f in ("ray_address", "ray_num_cpus", "ray_gpus") if getattr(args, f) is not None]
    for flags, launcher in ((slurm_only, "slurm"), (ray_only, "ray")):
        if flags and args.launcher != launcher:
            raise UsageError(f"--{flags[0].replace('_', '-')} needs --launcher {launcher}")
    for name in ("epochs", "seed"):
        value = getattr(args, name)
        if value is not None and abs(value) > 2**63 - 1:
            raise UsageError(f"--{name}: expected an integer within int64, got {value}")


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return name


LAUNCH_FLAGS = {"launcher": "launcher", "workers": "workers", "threads": "threads",
                "jobs_per_gpu": "jobs_per_gpu", "slurm_partition": "slurm_partition",
                "slurm_time": "slurm_time_min", "slurm_gpus": "slurm_gpus",
                "slurm_mem": "slurm_mem_gb", "slurm_array_parallelism": "slurm_array_parallelism",
                "slurm_cluster": "slurm_cluster", "ray_address": "ray_address",
                "ray_num_cpus": "ray_num_cpus", "ray_gpus": "ray_gpus"}


def build_launch(args, saved: dict | None = None):
    """How jobs run (utils.executor.Launch) from the flags. ``saved``: a
    folder's recorded launch, whose thread count is kept unless --threads
    says otherwise (the bits depend on it; the rest is this machine's)."""
    from utils.executor import Launch, LauncherUnavailable
    changes = {field: getattr(args, flag) for flag, field in LAUNCH_FLAGS.items()
               if getattr(args, flag) is not None}
    if args.threads is None and saved and isinstance(saved.get("threads"), int):
        changes["threads"] = saved["threads"]
    if args.workers is None and getattr(args, "quick", False):
        changes["workers"] = 1  # seconds of work: no process start-up
    changes["progress"] = {"auto": None, "on": True, "off": False}[args.progress]
    launch = Launch(**changes)
    try:
        launch.validate()
    except LauncherUnavailable as e:
        raise UsageError(str(e)) from None
    except ValueError as e:  # "field: ..." -> "--flag: ..."
        field, _, rest = str(e).partition(":")
        flag = next((f for f, v in LAUNCH_FLAGS.items() if v == field), field)
        raise UsageError(f"--{flag.replace('_', '-')}:{rest}") from None
    return launch


def _saved_record(path) -> dict:
    """A run folder's config.json (or the file itself) as a dict; {} if unreadable."""
    p = Path(path)
    p = p / "config.json" if p.is_dir() else p
    try:
        record = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _saved_launch(path) -> dict | None:
    record = _saved_record(path).get("launch")
    return record if isinstance(record, dict) else None


# Flag -> config field, per experiment (a flag only touches configs that have the field).
FLAG_FIELDS = {"epochs": {"a": "steps", "b": "epochs"}, "l2_reg": "l2_reg", "dropout": "dropout",
               "seeds": "seeds", "device": "device",
               "dataset": "dataset", "data_root": "data_root", "out": {"c": "results_root"},
               "b_run": {"c": "b_run"}, "arms": "arms", "sweep": "sweep"}


def build_configs(args, letters: list[str], registry: dict, device: str) -> dict:
    """defaults -> quick -> flags -> --set overrides, type-checked and validated."""
    from utils.config import apply_overrides, split_override

    seeds = parse_seeds(args)
    arms = tuple(args.arm) if args.arm else None
    flag_values = {"epochs": args.epochs, "l2_reg": args.l2_reg, "dropout": args.dropout,
                   "seeds": seeds, "device": device,
                   "dataset": args.dataset, "data_root": args.data_root, "out": args.out,
                   "b_run": args.from_run, "arms": arms, "sweep": args.sweep}
    saved = load_saved_configs(args.config) if args.config else {}
    overrides: dict[str, dict[str, str]] = {k: {} for k in letters}
    for item in args.overrides:
        try:
            key, value = split_override(item)
        except ValueError as e:
            raise UsageError(str(e)) from None
        prefix, _, rest = key.partition(".")
        if rest and prefix in registry:
            if prefix not in letters:
                raise UsageError(f"--set {item}: experiment {prefix} is not part of this run")
            overrides[prefix][rest] = value
            continue
        owners = [k for k in letters
                  if key in {f.name for f in dataclasses.fields(registry[k].Config)}]
        if not owners:
            raise UsageError(f"--set {item}: unknown config key {key!r} for experiment(s) "
                             f"{', '.join(letters)}")
        for k in owners:
            overrides[k][key] = value

    cfgs = {}
    for k in letters:
        mod = registry[k]
        try:
            if k in saved:  # --config: the folder's own resolved config is the base
                cfg = config_from_fields(mod.Config, saved[k])
            else:
                cfg = mod.Config()
                if hasattr(mod, "preset"):
                    cfg = mod.preset(cfg, device)
            if args.quick:
                cfg = cfg.quick()
            names = {f.name for f in dataclasses.fields(cfg)}
            changes = {}
            for flag, value in flag_values.items():
                field = FLAG_FIELDS[flag]
                field = field.get(k) if isinstance(field, dict) else field
                if value is not None and field in names:
                    changes[field] = value
            # A sweep alone compares its values: the arms are the sweep (whose
            # base value is the baseline), unless arms were given too.
            if args.sweep and "arms" in names and arms is None and "arms" not in overrides[k]:
                changes["arms"] = ()
            cfg = dataclasses.replace(cfg, **changes)
            cfg = apply_overrides(cfg, overrides[k])
            mod.validate(cfg)
        except (ValueError, TypeError) as e:
            raise UsageError(f"experiment {k}: {e}") from None
        cfgs[k] = cfg
    return cfgs


def config_from_fields(cls, fields: dict):
    """A frozen Config from saved JSON fields (lists become tuples); unknown
    fields are an error, not silently dropped."""
    if not isinstance(fields, dict):
        raise ValueError(f"expected the fields of a {cls.__name__}, got {type(fields).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    # Fields a later version retired (they never changed a result's meaning):
    # a folder written before still reruns.
    fields = {k: v for k, v in fields.items() if k not in getattr(cls, "RETIRED", ())}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValueError(f"unknown config fields {unknown} (saved by another version?)")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def load_saved_configs(path: str, flag: str = "--config") -> dict:
    """``experiments`` of a run folder's config.json (a folder is accepted too)."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        saved = json.loads(p.read_text())
        exps = saved["experiments"]
        if not isinstance(exps, dict) or not exps:
            raise ValueError("no experiments in it")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{flag} {path}: not a run folder's config.json ({e})") from None
    return exps


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
    return (UsageError, ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError,
            DatasetUnavailable)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, (UsageError, ValueError)) else f"{type(e).__name__}: {text}"


def main(argv: list[str] | None = None) -> int:
    """Parse, validate, run. Every failure ends in one line on stderr and a
    non-zero exit: 2 for bad input (before any folder is made, where it can
    be known then), 1 for a run that diverged or failed, 130 for Ctrl-C. An
    unexpected error also writes its traceback to the run folder's
    ``error.log`` (``--debug`` shows it instead)."""
    state = {"run_dir": None, "debug": argv is not None and "--debug" in argv
             or argv is None and "--debug" in sys.argv[1:]}
    try:
        return _main(argv, state)
    except KeyboardInterrupt:
        where = state["run_dir"]
        print("main.py: interrupted" + (f"; finished jobs are kept in {where} (continue with "
                                        f"--resume {where})" if where else ""), file=sys.stderr)
        return 130
    except FloatingPointError as e:
        print(f"main.py: error: training stopped: {_one_line(e)}", file=sys.stderr)
        if state["run_dir"]:
            print(f"run folder: {state['run_dir']}")
        return EXIT_RUN_FAILED
    except _input_errors() as e:
        print(f"main.py: error: {_one_line(e)}", file=sys.stderr)
        if state["run_dir"]:
            print(f"run folder: {state['run_dir']}")
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug: one line here, the traceback kept
        if state["debug"]:
            raise
        import traceback
        log = None
        if state["run_dir"] is not None:
            log = Path(state["run_dir"]) / "error.log"
            try:
                with open(log, "a") as fh:
                    fh.write(traceback.format_exc())
            except OSError:
                log = None
        print(f"main.py: internal error: {type(e).__name__}: {_one_line(e)} ("
              + (f"traceback in {log}" if log else "rerun with --debug for the traceback")
              + ")", file=sys.stderr)
        return EXIT_RUN_FAILED


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
    records ``dataset=provided``. ``jobs``: where the jobs run, as the job
    flags take it (``{"workers": 2, "threads": 1}``, ``{"launcher": "ray",
    "ray_num_cpus": 4}``; default: the local pool). Bad input raises ``ValueError`` with the
    same one-line message the command line prints; a diverged run raises
    ``FloatingPointError``.
    """
    argv = ["--experiment", experiment, "--out", str(out), "--device", device]
    if quick:
        argv.append("--quick")
    for key, value in (overrides or {}).items():
        if isinstance(value, (tuple, list)):
            value = ",".join(str(v) for v in value)
        elif value is None:
            value = "none"
        elif isinstance(value, bool):
            value = "true" if value else "false"
        argv += ["--set", f"{key}={value}"]
    for key, value in (jobs or {}).items():
        if key not in LAUNCH_FLAGS and key != "progress":
            raise ValueError(f"jobs: unknown key {key!r} (expected one of "
                             f"{', '.join(sorted([*LAUNCH_FLAGS, 'progress']))})")
        argv += [f"--{key.replace('_', '-')}", str(value)]
    user = None
    if data is not None:
        if experiment not in ("b", "c", "all"):
            raise ValueError(f"data: experiment {experiment} takes no images")
        from data.user import as_image_data
        user = as_image_data(data, dataset_id=dataset_id)
        argv += ["--dataset", "provided"]
    state = {"run_dir": None, "debug": True}
    import contextlib
    import io
    sink = contextlib.nullcontext() if log_to_stdout else contextlib.redirect_stdout(io.StringIO())
    with sink:
        try:
            code = _main(argv, state, user_data=user)
        except UsageError as e:
            raise ValueError(str(e)) from None
    if code != 0:
        raise RuntimeError(f"run_experiment: the run ended with exit code {code}")
    return Path(state["run_dir"])


def _main(argv, state, user_data=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    validate_flags(args)
    import matplotlib
    matplotlib.use("Agg")  # chosen here, never at import of a library module
    if args.resume or args.report or args.compare:
        used = [a for a in (args.resume and "--resume", args.report and "--report",
                            args.compare and "--compare") if a]
        if len(used) > 1:
            raise UsageError(f"give one of {', '.join(used)}")
        if args.report:
            return rebuild_report(Path(args.report))
        if args.compare:
            return compare(args.compare, Path(args.out), state)
        refuse_flags_with_resume(parser, args)
        return resume(Path(args.resume), state,
                      build_launch(args, _saved_launch(args.resume)))
    saved = load_saved_configs(args.config) if args.config else {}
    registry = _experiments()
    from experiments import LETTERS
    experiment = args.experiment or ("all" if not saved or len(saved) > 1
                                     else next(iter(saved)))
    letters = list(LETTERS) if experiment == "all" else [experiment]
    if saved:
        missing = [k for k in letters if k not in saved and not (k == "c" and "b" in saved)]
        if missing:
            raise UsageError(f"--config {args.config}: holds experiments {sorted(saved)}, not "
                             f"{missing}")
    device = resolve_device(args.device)
    cfgs = build_configs(args, letters, registry, device)
    launch = build_launch(args, _saved_launch(args.config) if args.config else None)
    # Load image data (and find B's models for C alone) now, so missing
    # input stops before any folder exists.
    prepared = {}
    for k in letters:
        mod = registry[k]
        if user_data is not None and k in ("b", "c"):
            prepared[k] = (mod.subset_like(cfgs[k], user_data) if k == "b" else user_data)
            if k == "c" and "b" not in letters:
                mod.prepare(cfgs[k])
            continue
        if k == "c" and "b" in letters:
            continue  # C evaluates the B of this run
        if hasattr(mod, "prepare"):
            result = mod.prepare(cfgs[k])  # raises on missing input; may return the data
            if result is not None:
                prepared[k] = result
    from utils import runs
    out_root = Path(args.out)
    runs.check_writable(out_root)
    args.experiment = experiment
    return execute(args, argv, letters, registry, cfgs, prepared, device, out_root, state, launch)


def refuse_flags_with_resume(parser, args) -> None:
    """--resume reruns the folder's own config: any other flag would be
    silently ignored, so it is refused."""
    defaults = vars(parser.parse_args([]))
    how = (set(LAUNCH_FLAGS) - {"threads"}) | {"progress"}  # where it runs, never what
    given = [k for k, v in vars(args).items()
             if k not in ("resume", "debug", *how) and v != defaults.get(k)]
    if given:
        flags = ", ".join("--" + k.replace("overrides", "set") for k in sorted(given))
        raise UsageError(f"--resume takes no other flags but the job flags (--launcher, "
                         f"--workers, ...; it continues the folder with its own config and "
                         f"threads); got {flags}. To change settings, start a new run with "
                         f"--config RUN_DIR/config.json and the flags")


def _part_finished(folder: Path) -> bool:
    from utils import runs
    path = folder / "summary.json"
    try:
        return path.is_file() and bool(runs.read_json(path).get("finished"))
    except (OSError, ValueError, AttributeError):
        return False


def resume(run_dir: Path, state, launch) -> int:
    """Continue an interrupted run folder (one experiment or ``all``) with its
    own config: finished parts are kept, the unfinished one continues from its
    finished jobs (A: per-job results; B: per-epoch checkpoints), the rest run."""
    from experiments import LETTERS
    from utils import runs
    saved = load_saved_configs(str(run_dir), "--resume")
    registry = _experiments()
    letters = [k for k in LETTERS if k in saved]
    cfgs = {}
    for k in letters:
        try:
            cfgs[k] = config_from_fields(registry[k].Config, saved[k])
            registry[k].validate(cfgs[k])
        except (ValueError, TypeError) as e:
            raise UsageError(f"--resume {run_dir}: experiment {k}: {e}") from None
    sub_dirs = {k: run_dir if len(letters) == 1 else run_dir / registry[k].NAME for k in letters}
    state["run_dir"] = run_dir
    removed = runs.remove_orphan_temporaries(run_dir)
    # A run killed right after its top config.json has no per-part files yet.
    argv_saved = runs.read_json(run_dir / "config.json").get("argv")
    for k, sub in sub_dirs.items():
        if sub != run_dir and not (sub / "config.json").is_file():
            runs.write_json(sub / "config.json", {"argv": argv_saved, "experiments": {k: saved[k]}})
        if sub != run_dir and not (sub / "env.json").is_file() and (run_dir / "env.json").is_file():
            runs.write_json(sub / "env.json", runs.read_json(run_dir / "env.json"))
    if not (run_dir / "env.json").is_file():
        runs.write_json(run_dir / "env.json", runs.env_record(
            resolve_device(getattr(cfgs[letters[0]], "device", "cpu")),
            sorted({s for c in cfgs.values() for s in getattr(c, "seeds", ())})))
    print(f"run folder: {run_dir} (resuming{f'; removed {removed} stale temporary files' if removed else ''})",
          flush=True)
    summaries = {}
    t0 = time.perf_counter()
    for k in letters:
        mod, sub = registry[k], sub_dirs[k]
        if _part_finished(sub):
            print(f"  [{mod.NAME}] finished earlier: kept", flush=True)
            summaries[k] = runs.read_json(sub / "summary.json")
            continue
        kwargs = {"resume": True} if "resume" in inspect.signature(mod.run).parameters else {}
        if k == "c" and "b" in sub_dirs:
            cfgs[k] = dataclasses.replace(cfgs[k], b_run=str(sub_dirs["b"]))
        summaries[k] = _run_part(mod, cfgs[k], sub, launch, **kwargs)
    return _finish(run_dir, letters, registry, summaries, time.perf_counter() - t0)


def _run_part(mod, cfg, sub: Path, launch, **kwargs) -> dict:
    """One experiment into its folder; its summary is marked finished only
    when everything (arrays, figures) is written, which is what --resume reads."""
    from utils import runs
    if "launch" in inspect.signature(mod.run).parameters:
        kwargs["launch"] = launch
    summary = mod.run(cfg, sub, **kwargs)
    summary["finished"] = True
    runs.write_json(sub / "summary.json", summary)
    return summary


def execute(args, argv, letters, registry, cfgs, prepared, device, out_root: Path, state,
            launch) -> int:
    """Create the run folder, run the experiments in order, write the report."""
    from utils import runs

    # quick is part of what ran: a --config rerun of a quick folder is quick too
    quick = bool(args.quick or (args.config and _saved_record(args.config).get("quick")))
    name = args.experiment + ("_quick" if quick else "")
    run_dir = runs.create_run_dir(out_root, name)
    state["run_dir"] = run_dir
    print(f"run folder: {run_dir}", flush=True)
    sub_dirs = {k: run_dir if len(letters) == 1 else run_dir / registry[k].NAME for k in letters}
    if "b" in sub_dirs and "c" in sub_dirs:  # C evaluates the models B trains in this run
        cfgs["c"] = dataclasses.replace(cfgs["c"], b_run=str(sub_dirs["b"]))
    seeds = sorted({s for c in cfgs.values() for s in getattr(c, "seeds", ())})
    env = runs.env_record(device, seeds)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    resolved = {k: dataclasses.asdict(c) for k, c in cfgs.items()}
    # config.json first: a folder holding it can always be resumed
    runs.write_json(run_dir / "config.json", {"argv": argv_used, "quick": quick,
                                              "experiments": resolved, "launch": launch.record()})
    for k, sub in sub_dirs.items():
        if sub != run_dir:  # each experiment's folder describes itself too
            runs.write_json(sub / "config.json", {"argv": argv_used, "quick": quick,
                                                  "experiments": {k: resolved[k]},
                                                  "launch": launch.record()})
    for sub in {run_dir, *sub_dirs.values()}:
        runs.write_json(sub / "env.json", env)
    print("resolved config:\n" + json.dumps(resolved, indent=1, default=str), flush=True)
    t0 = time.perf_counter()
    summaries = {}
    for k in letters:
        mod = registry[k]
        summaries[k] = _run_part(mod, cfgs[k], sub_dirs[k], launch,
                                 **({"data": prepared[k]} if k in prepared else {}))
    return _finish(run_dir, letters, registry, summaries, time.perf_counter() - t0)


def _finish(run_dir: Path, letters, registry, summaries: dict, wall: float) -> int:
    """The top summary of an 'all' folder and the report."""
    from utils import runs
    if len(letters) > 1:
        runs.write_json(run_dir / "summary.json", {
            "experiment": "all", "parts": {k: registry[k].NAME for k in letters},
            "figures": [], "tables": [], "warnings": [], "wall_seconds": {"total": wall},
            "finished": True})  # the numbers: each part's summary.json and tidy CSV
        print("\n=== summary of the run ===")
        from utils.tables import format_table
        for k in letters:
            print("\n" + format_table(summaries[k]["tables"][0]))
    from utils.report import build_report
    report = build_report(run_dir)
    print(f"\nfinished in {wall:.1f} s; report: {report}")
    print(f"run folder: {run_dir}", flush=True)
    return 0


def rebuild_report(run_dir: Path) -> int:
    """--report: redraw every figure from the saved arrays, rebuild report.html."""
    from utils import runs
    from utils.report import build_report
    if not (run_dir / "summary.json").is_file():
        raise UsageError(f"--report {run_dir}: not a finished run folder (no summary.json)")
    registry = _experiments()
    try:
        top = runs.read_json(run_dir / "summary.json")
        parts = (top.get("parts", {}) if top.get("experiment") == "all"
                 else {str(top.get("experiment", "")).lower(): "."})
        if not isinstance(parts, dict):
            raise ValueError("'parts' is not a mapping")
    except (ValueError, AttributeError) as e:
        raise UsageError(f"--report {run_dir}: summary.json is not readable ({e})") from None
    for k, sub in parts.items():
        mod = registry.get(k)
        if mod is not None and hasattr(mod, "render_figures"):
            try:
                mod.render_figures(run_dir / sub)
                if hasattr(mod, "render_dose"):
                    mod.render_dose(run_dir / sub)
            except (KeyError, IndexError, TypeError, ValueError, OSError, EOFError,
                    zipfile.BadZipFile) as e:
                raise UsageError(f"--report {run_dir / sub}: its saved arrays or config cannot "
                                 f"be read ({type(e).__name__}: {e})") from None
    print(f"report: {build_report(run_dir)}")
    return 0


def compare(run_dirs: list[str], out_root: Path, state) -> int:
    """--compare: one report overlaying several run folders (checked before
    the comparison folder is created)."""
    from utils import runs
    from utils.report import build_comparison
    from utils.report.loading import load_run
    for d in run_dirs:
        try:
            load_run(Path(d))
        except (ValueError, OSError, KeyError, TypeError) as e:
            raise UsageError(f"--compare {d}: {_one_line(e)}") from None
    runs.check_writable(out_root)
    out = runs.create_run_dir(out_root, "compare")
    state["run_dir"] = out
    print(f"comparison: {build_comparison([Path(d) for d in run_dirs], out)}")
    return 0


def cli() -> None:
    """The ``freqreg`` console command (pyproject ``[project.scripts]``):
    the same checks and ``main()`` as ``python main.py``."""
    _exit_if_shadowed()
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
