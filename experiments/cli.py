"""The command line's flags: the parser, every check of the flags, and how
the flags become what :mod:`experiments.runner` takes (configs and a
:class:`~utils.executor.Launch`).

:func:`parse_args` parses and checks what the flags alone can tell (a bad
value, two flags that contradict each other, a flag the mode would not
read); :func:`plan` resolves a new run (configs, launch) and checks what
needs the configs (a flag no experiment of the run reads, one field set
twice, arms given beside a saved config). Every refusal is a
:class:`UsageError`: one line, exit code 2, before any folder exists.
``main.py`` holds the dispatch and the error boundary.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import NamedTuple


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


# --------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------

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


def version() -> str:
    """The installed package's version, else pyproject.toml's (a plain checkout)."""
    from importlib import metadata
    try:
        return metadata.version("freqreg")
    except metadata.PackageNotFoundError:
        import tomllib
        with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]


def build_parser(prog: str = "main.py") -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
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
    g.add_argument("--preset", choices=["study"], default=None, help="study: 10 seeds for B and C (effects of about one SD of the paired differences; each undetermined verdict says how many seeds its SESOI needs; experiments' NAMED_PRESETS; default: none)")
    g.add_argument("--quick", action="store_true",
                   help="same code path with every axis shrunk (smoke test, about a minute for "
                        "all; recorded in config.json; default: off)")
    g.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run folder (any experiment, or an 'all' "
                        "folder) with its own config: finished jobs and parts are kept; takes "
                        "no other flags (default: none)")
    g.add_argument("--config", metavar="CONFIG_JSON", default=None,
                   help="rerun exactly what a run folder's config.json records, in a new "
                        "folder; flags and --set still override it, except the arm flags "
                        "(--arm, --sweep, --l2_reg, --dropout: the saved arms are the run's "
                        "definition; --set changes a saved field) (default: none)")
    g.add_argument("--from-run", "--from_run", dest="from_run", metavar="B_RUN_DIR", default=None,
                   help="experiment c: evaluate the models of this experiment-b run folder "
                        "(default: the newest one under --out)")
    g.add_argument("--report", metavar="RUN_DIR", default=None,
                   help="redraw the figures and rebuild report.html of a run folder from its "
                        "saved data, without training")
    g.add_argument("--compare", metavar="RUN_DIR", nargs="+", default=None,
                   help="write one comparison report of several run folders (e.g. two L2 "
                        "strengths) into a new folder under --out")
    g.add_argument("--print-config", "--print_config", dest="print_config", action="store_true",
                   help="print the resolved config (and how the jobs would run) as JSON and "
                        "exit without running (default: off)")
    g.add_argument("--version", action="version", version=f"%(prog)s {version()}")

    g = p.add_argument_group("arms: the regularisation regimens compared (experiments a, b)")
    g.add_argument("--arm", dest="arm", action="append", default=None, metavar="SPEC",
                   help="an arm, repeatable; replaces the default arms. SPEC is a shorthand "
                        "(baseline, l2, dropout, l2+dropout, with --l2_reg/--dropout) or "
                        "NAME:knob=value,... on top of the base regimen, knobs l2, l2_mode "
                        "(penalty|decoupled), dropout, dropout_at (a: hidden; b: classifier|"
                        "conv), label_smoothing, augment (none|crop_flip), input_noise (b), cutout (b). "
                        "Example: --arm baseline --arm l2conv:l2=5e-4,dropout=0.2,dropout_at=conv "
                        "(default: a baseline,l2,dropout; b also l2+dropout)")
    g.add_argument("--sweep", action="append", default=None, metavar="KNOB=V1,V2,...",
                   help="one knob over values, each an arm on the same seeds and initial "
                        "weights; the base value is the baseline; dose-response figures. "
                        "Example: --sweep l2=0,1e-5,1e-4,5e-4,1e-3,5e-3 (without --arm the "
                        "arms are the sweep alone). One knob per run: the dose-response "
                        "analysis has one axis; give a grid's points as --arm NAME:l2=..,"
                        "dropout=.. (default: none)")

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
    g.add_argument("--slurm-time", dest="slurm_time_min", type=int, default=None,
                   help="slurm: time limit per job in minutes (default 60)")
    g.add_argument("--slurm-gpus", dest="slurm_gpus", type=int, default=None,
                   help="slurm: GPUs per job (default 0)")
    g.add_argument("--slurm-mem", dest="slurm_mem_gb", type=float, default=None,
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
    g.add_argument("--trust-model-code", "--trust_model_code", dest="trust_model_code",
                   action="store_true",
                   help="import the model code (b.model 'pkg.module:factory') that a run folder "
                        "names (--config, --resume, experiment c); without it only the built-in "
                        "models and import paths given with --set b.model= on this command line "
                        "are imported; --report and --compare never import it (default: off)")
    return p


def _flag(dest: str) -> str:
    """The command-line spelling of a flag's destination (``slurm_time_min``
    -> ``--slurm-time``)."""
    return next((a.option_strings[0] for a in build_parser()._actions
                 if a.dest == dest and a.option_strings), dest)


def _given(args) -> set[str]:
    """The destinations of the flags given (a value other than the default)."""
    defaults = vars(build_parser().parse_args([]))
    return {k for k, v in vars(args).items() if v != defaults.get(k)}


# the shorthand arms (utils.regimen.shorthand_arms) that read each strength field
_READERS = {"l2_reg": ("l2", "l2+dropout"), "dropout": ("dropout", "l2+dropout")}


# --------------------------------------------------------------------------
# what the flags alone can tell
# --------------------------------------------------------------------------

def parse_args(argv, prog: str = "main.py") -> argparse.Namespace:
    """Parse the command line and refuse, in one line, what the flags alone
    show to be wrong."""
    args = build_parser(prog).parse_args(argv)
    validate_flags(args)
    used = [a for a in (args.resume and "--resume", args.report and "--report",
                        args.compare and "--compare") if a]
    if len(used) > 1:
        raise UsageError(f"give one of {', '.join(used)}")
    refuse_conflicting_flags(args)
    if args.resume:
        refuse_flags_with_resume(args)
    return args


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
    if args.sweep and len(args.sweep) > 1:
        raise UsageError(f"--sweep: one knob per run (the dose-response analysis has one axis), "
                         f"got {len(args.sweep)}: {' '.join(args.sweep)}; give a grid's points "
                         f"as arms (--arm NAME:l2=1e-4,dropout=0.2 ...)")
    # (the job flags' values are checked once, by Launch.validate in build_launch)
    for launcher in ("slurm", "ray"):
        given = [f for f in _launch_flags() if f.startswith(launcher + "_")
                 and getattr(args, f) is not None]
        if given and args.launcher != launcher:
            raise UsageError(f"{_flag(given[0])} needs --launcher {launcher}")
    for name in ("epochs", "seed"):
        value = getattr(args, name)
        if value is not None and abs(value) > 2**63 - 1:
            raise UsageError(f"--{name}: expected an integer within int64, got {value}")


def refuse_conflicting_flags(args) -> None:
    """Flags that contradict each other, or that the command would not read,
    are refused in one line (exit 2) before any folder: a flag dropped
    silently is a run other than the one asked for."""
    given = _given(args)
    for mode, keeps in (("report", {"report", "debug"}),
                        ("compare", {"compare", "out", "debug"})):
        extra = sorted(given - keeps) if getattr(args, mode) else []
        if extra:
            also = " and --out" if mode == "compare" else ""
            raise UsageError(f"--{mode} takes no other flags but --debug{also} (it redraws saved "
                             f"data and never trains or imports model code); got "
                             f"{', '.join(_flag(k) for k in extra)}")
    if args.preset:
        clash = [f for f in ("quick", "config", "seed", "seeds") if f in given]
        if clash:
            why = {"quick": "shrinks every axis", "config": "reruns a folder's own config",
                   "seed": "sets the seeds", "seeds": "sets the seeds"}[clash[0]]
            raise UsageError(f"--preset {args.preset} and {_flag(clash[0])} contradict: the "
                             f"preset sets the seeds and sizes, {_flag(clash[0])} {why}; "
                             f"give one of them")
    if args.launcher != "local":
        local = [f for f in ("workers", "jobs_per_gpu") if f in given]
        if local:
            raise UsageError(f"{_flag(local[0])} sets the local pool; with --launcher "
                             f"{args.launcher} it would be ignored (use the {args.launcher} "
                             f"flags, e.g. --{args.launcher}-"
                             f"{'array-parallelism' if args.launcher == 'slurm' else 'num-cpus'})")
    # --l2_reg and --dropout set the strength of the shorthand arms (l2,
    # dropout, l2+dropout); arms that include none of them never read it.
    if args.arm is not None or args.sweep:
        shorthands = {s.strip() for s in (args.arm or ()) if ":" not in s}
        for flag, readers in _READERS.items():
            readers = set(readers)
            if flag in given and not shorthands & readers:
                arms = (" ".join(f"--arm {a}" for a in args.arm) if args.arm
                        else f"--sweep {args.sweep[0]} alone")
                raise UsageError(f"{_flag(flag)} sets the strength of the shorthand arms "
                                 f"{' and '.join(sorted(readers))}, and the arms given ({arms}) "
                                 f"include none: give the value in the arm or sweep instead "
                                 f"(e.g. --arm NAME:{'l2' if flag == 'l2_reg' else 'dropout'}"
                                 f"=...), or add --arm {sorted(readers)[0]}")


def refuse_flags_with_resume(args) -> None:
    """--resume reruns the folder's own config: any other flag would be
    silently ignored, so it is refused."""
    defaults = vars(build_parser().parse_args([]))
    how = (set(_launch_flags()) - {"threads"}) | {"progress"}  # where it runs, never what
    given = [k for k, v in vars(args).items()
             if k not in ("resume", "debug", "trust_model_code", *how)
             and v != defaults.get(k)]
    if given:
        flags = ", ".join(_flag(k) for k in sorted(given))
        raise UsageError(f"--resume takes no other flags but the job flags (--launcher, "
                         f"--workers, ...; it continues the folder with its own config and "
                         f"threads); got {flags}. To change settings, start a new run with "
                         f"--config RUN_DIR/config.json and the flags")


def trust_model_code(args) -> None:
    """A run folder is data, not code: the model import paths this command
    may import are the ones on its command line (``--set b.model=...``), or
    any with ``--trust-model-code``; ``--report``/``--compare`` import none."""
    from models import set_trusted_model_code
    from utils.config import split_override
    specs = []
    for item in args.overrides:
        try:
            key, value = split_override(item)
        except ValueError:
            continue  # refused with its own message where the overrides are parsed
        if key in ("model", "b.model"):
            specs.append(value)
    drawing_only = bool(args.report or args.compare)
    set_trusted_model_code(() if drawing_only else specs,
                           trust_all=args.trust_model_code and not drawing_only)


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return name


# --------------------------------------------------------------------------
# flags -> what the runner takes
# --------------------------------------------------------------------------

def _launch_flags() -> tuple[str, ...]:
    """The job flags: each is the :class:`~utils.executor.Launch` field of the same name."""
    from utils.executor import Launch
    return tuple(f.name for f in dataclasses.fields(Launch) if f.name != "progress")


def launch_fields(args) -> dict:
    return {**{f: getattr(args, f) for f in _launch_flags()},
            "progress": {"auto": None, "on": True, "off": False}[args.progress]}


def build_launch(fields: dict, saved: dict | None = None, quick: bool = False,
                 resuming: bool = False):
    """:func:`experiments.runner.build_launch`, its messages naming the flag."""
    from experiments import runner
    from utils.executor import LauncherUnavailable
    try:
        return runner.build_launch(fields, saved, quick, resuming=resuming)
    except LauncherUnavailable:
        raise
    except ValueError as e:  # "field: ..." -> "--flag: ..."
        field, _, rest = str(e).partition(":")
        raise UsageError(f"{_flag(field)}:{rest}") from None


def resume_launch(args):
    """How a ``--resume`` runs its jobs: the folder's thread count, this
    command's job flags."""
    from experiments import runner
    return build_launch(launch_fields(args), runner.saved_launch(args.resume), resuming=True)


# Flag -> config field, per experiment (a flag only touches configs that have the field).
FLAG_FIELDS = {"epochs": {"a": "steps", "b": "epochs"}, "l2_reg": "l2_reg", "dropout": "dropout",
               "seeds": "seeds", "device": "device",
               "dataset": "dataset", "data_root": "data_root", "out": {"c": "results_root"},
               "from_run": {"c": "b_run"}, "arms": "arms", "sweep": "sweep"}


def config_changes(flags: dict, letters) -> dict[str, dict]:
    """Flag values (None: not given) -> experiment -> {field: value}. A sweep
    alone compares its values: the arms are the sweep (whose base value is the
    baseline), unless arms were given too."""
    if flags.get("sweep") and flags.get("arms") is None:
        flags = {**flags, "arms": ()}
    changes = {}
    for k in letters:
        changes[k] = {}
        for flag, value in flags.items():
            field = FLAG_FIELDS[flag].get(k) if isinstance(FLAG_FIELDS[flag], dict) else FLAG_FIELDS[flag]
            if value is not None and field is not None:
                changes[k][field] = value
    return changes


def flag_values(args, device: str) -> dict:
    """The config flags given on the command line (None: not given)."""
    return {"epochs": args.epochs, "l2_reg": args.l2_reg, "dropout": args.dropout,
            "seeds": parse_seeds(args), "device": device, "dataset": args.dataset,
            "data_root": args.data_root, "out": args.out, "from_run": args.from_run,
            "arms": tuple(args.arm) if args.arm else None,
            "sweep": args.sweep[0] if args.sweep else None}


def as_set_text(value) -> str:
    """A Python value as ``--set`` spells it."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def choose_letters(experiment: str | None, saved: dict, config: str | None) -> tuple[str, list]:
    """The experiment's name (a letter or ``all``) and its letters, in order."""
    from experiments import LETTERS
    experiment = experiment or ("all" if not saved or len(saved) > 1 else next(iter(saved)))
    letters = list(LETTERS) if experiment == "all" else [experiment]
    missing = [k for k in letters if saved and k not in saved]
    if missing:
        raise UsageError(f"--config {config}: holds experiments {sorted(saved)}, not {missing}")
    return experiment, letters


class Plan(NamedTuple):
    """A new run, resolved: what :func:`experiments.runner.start` takes."""
    experiment: str        # a letter or "all"
    letters: list
    cfgs: dict             # letter -> frozen config, validated
    launch: object         # utils.executor.Launch, validated
    device: str
    quick: bool


def plan(args) -> Plan:
    """The configs and launch of a new run from the flags (on top of
    ``--config``'s saved configs), with the checks that need them."""
    from experiments import runner
    saved = runner.load_saved_configs(args.config) if args.config else {}
    # quick is part of what ran: a --config rerun of a quick folder is quick too
    quick = bool(args.quick or (args.config and runner.saved_record(args.config).get("quick")))
    experiment, letters = choose_letters(args.experiment, saved, args.config)
    refuse_flags_for_none(args, letters)
    refuse_arm_flags_with_config(args, saved, letters)
    device = resolve_device(args.device)
    changes = config_changes(flag_values(args, device), letters)
    overrides = runner.split_overrides(args.overrides, letters)
    refuse_flag_and_set(args, changes, overrides)
    cfgs = runner.build_configs(letters, device, changes=changes, overrides=overrides,
                                quick=args.quick, saved=saved, preset=args.preset)
    refuse_unread_strengths(cfgs, overrides)
    launch = build_launch(launch_fields(args), runner.saved_launch(args.config) if args.config
                          else None, quick=quick)
    return Plan(experiment, letters, cfgs, launch, device, quick)


# --------------------------------------------------------------------------
# what needs the experiments' configs
# --------------------------------------------------------------------------

def _experiments(letters) -> str:
    return ("experiments " if len(letters) > 1 else "experiment ") + " and ".join(letters)


def refuse_flags_for_none(args, letters) -> None:
    """A config flag (or --preset) that none of the experiments run reads
    (``--from-run`` with ``--experiment a``, ``--epochs`` with c) is
    refused in one line naming the flag and the experiments that take it."""
    from experiments import LETTERS, runner
    mods = runner.registry()
    fields = {k: {f.name for f in dataclasses.fields(mods[k].Config)} for k in LETTERS}
    flag_of = {"arms": "arm"}  # FLAG_FIELDS keys -> argparse destinations where they differ
    given = _given(args)
    for key, field in FLAG_FIELDS.items():
        dest = flag_of.get(key, key)
        if key in ("device", "out", "seeds") or dest not in given:
            continue
        takers = [k for k in LETTERS
                  if (field.get(k) if isinstance(field, dict) else field) in fields[k]]
        if not set(takers) & set(letters):
            raise UsageError(f"{_flag(dest)} applies to {_experiments(takers)}, not "
                             f"to {' and '.join(letters)} run here; drop it, or run "
                             f"--experiment {takers[0] if len(takers) == 1 else 'all'}")
    if args.preset:
        takers = [k for k in LETTERS if args.preset in getattr(mods[k], "NAMED_PRESETS", {})]
        if not set(takers) & set(letters):
            raise UsageError(f"--preset {args.preset} applies to {_experiments(takers)}, not "
                             f"to {' and '.join(letters)} run here")


def refuse_arm_flags_with_config(args, saved: dict, letters) -> None:
    """The arms a saved config compares are that run's definition: the arm
    flags (``--arm``, ``--sweep``, and ``--l2_reg``/``--dropout``, the
    strengths of its shorthand arms) beside ``--config`` would mix two
    definitions (``--arm`` would keep the saved sweep, ``--l2_reg`` go
    unread when no saved arm is a shorthand), so they are refused in one line
    naming both sources and the saved values. ``--set FIELD=...`` changes one
    saved field, explicitly."""
    given = _given(args)
    for dest, fields in (("arm", ("arms", "sweep")), ("sweep", ("arms", "sweep")),
                         ("l2_reg", ("l2_reg",)), ("dropout", ("dropout",))):
        if not saved or dest not in given:
            continue
        held = "; ".join(f"{k}: " + ", ".join(f"{f} {_listed(saved[k][f])}" for f in fields)
                         for k in letters
                         if isinstance(saved[k], dict) and all(f in saved[k] for f in fields))
        raise UsageError(f"{_flag(dest)} and --config {args.config} both define the arms "
                         f"compared; the saved ones are that run's definition "
                         f"({held or 'see its experiments'}): drop {_flag(dest)}, change the "
                         f"saved field with --set {fields[0]}=..., or start a new run without "
                         f"--config")


def refuse_unread_strengths(cfgs: dict, overrides: dict) -> None:
    """``--set l2_reg=`` / ``--set dropout=`` (beside ``--config``, or with
    arms given by ``--set arms=``) is refused when no arm of the resolved
    config is a shorthand that reads it: the value would be recorded and
    never used."""
    for k, fields in overrides.items():
        for field, readers in _READERS.items():
            arms = getattr(cfgs[k], "arms", None)
            if field in fields and arms is not None and not {a.strip() for a in arms} & set(readers):
                raise UsageError(f"--set {field}={fields[field]}: the strength of the shorthand "
                                 f"arms {' and '.join(readers)}, and experiment {k}'s arms "
                                 f"({_listed(arms)}) include none: give the value in an arm "
                                 f"(NAME:{'l2' if field == 'l2_reg' else 'dropout'}=...) or add "
                                 f"the arm {readers[0]}")


def _listed(value) -> str:
    """A config value as a message shows it (a list comma-joined, empty: none)."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value) if value != "" else "none"


def refuse_flag_and_set(args, changes: dict, overrides: dict) -> None:
    """One field set by a flag and by ``--set`` is refused: the later would
    win silently (two ``--set`` of one field are refused where they are
    split, :func:`experiments.runner.split_overrides`)."""
    given = _given(args)
    if "seed" in given:  # --seed and --seeds both set the seeds
        given.add("seeds")
    for k, fields in overrides.items():
        for field in fields:
            for key, target in FLAG_FIELDS.items():
                dest = {"arms": "arm"}.get(key, key)
                if (target.get(k) if isinstance(target, dict) else target) != field:
                    continue
                if dest in given or (key == "arms" and args.sweep and "arms" in changes.get(k, {})):
                    flag = _flag("sweep" if dest not in given else
                                 "seed" if dest == "seeds" and args.seed is not None else dest)
                    raise UsageError(f"{flag} and --set {k}.{field}=... (or --set {field}=...) "
                                     f"both set experiment {k}'s {field}; give it once")
