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
import json
import sys
import time
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
    """Registry: experiment letter -> module with Config, validate, run."""
    from experiments import exp_a_synthetic, exp_b_spectrum_evolution, exp_c_robustness
    return {"a": exp_a_synthetic, "b": exp_b_spectrum_evolution, "c": exp_c_robustness}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="main.py",
        description="Regularisation through the frequency lens. Runs write one "
                    "self-describing folder under --out.",
        formatter_class=_Formatter,
    )
    g = p.add_argument_group("what to run")
    g.add_argument("--experiment", default="all", choices=["a", "b", "c", "all"],
                   help="a: 1D spectral bias; b: first-layer spectrum on images; "
                        "c: robustness of b's models; all: a, b, c in one run folder")
    g.add_argument("--quick", action="store_true",
                   help="same code path with every axis shrunk (smoke test, seconds; leaves "
                        "OUT/figures/ alone; default: off)")
    g.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted experiment-b run folder from its checkpoints "
                        "(same config; finished jobs are kept; default: none)")
    g.add_argument("--from-run", "--from_run", dest="from_run", metavar="B_RUN_DIR", default=None,
                   help="experiment c: evaluate the models of this experiment-b run folder "
                        "(default: the newest one under --out)")
    g.add_argument("--report", metavar="RUN_DIR", default=None,
                   help="redraw the figures and rebuild report.html of a run folder from its "
                        "saved data, without training")
    g.add_argument("--compare", metavar="RUN_DIR", nargs="+", default=None,
                   help="write one comparison report of several run folders (e.g. two L2 "
                        "strengths) into a new folder under --out")

    g = p.add_argument_group("training (the seed project's flags)")
    g.add_argument("--epochs", type=int, default=None,
                   help="training length; experiment A: full-batch steps (default 5000: the "
                        "baseline needs ~3,800 to learn k=50); B: epochs over the train set "
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
    g.add_argument("--dataset", default=None,
                   choices=["auto", "cifar10", "cifar10-jpeg", "fashion-mnist", "imagefolder",
                            "synthetic"],
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
    g.add_argument("--workers", type=int, default=None,
                   help="experiment A: parallel worker processes over (arm, seed) jobs "
                        "(default 0 = one per CPU core; the results do not depend on it)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, type-checked (e.g. --set lr=3e-3 "
                        "or --set a.width=128 with --experiment all); repeatable; default: none")
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
    if args.workers is not None and args.workers < 0:
        raise UsageError(f"--workers: expected >= 0, got {args.workers}")


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return name


# Flag -> config field, per experiment (a flag only touches configs that have the field).
FLAG_FIELDS = {"epochs": {"a": "steps", "b": "epochs"}, "l2_reg": "l2_reg", "dropout": "dropout",
               "seeds": "seeds", "device": "device", "workers": "workers",
               "dataset": "dataset", "data_root": "data_root", "out": {"c": "results_root"},
               "b_run": {"c": "b_run"}}


def build_configs(args, letters: list[str], registry: dict, device: str) -> dict:
    """defaults -> quick -> flags -> --set overrides, type-checked and validated."""
    from utils.config import apply_overrides, split_override

    seeds = parse_seeds(args)
    flag_values = {"epochs": args.epochs, "l2_reg": args.l2_reg, "dropout": args.dropout,
                   "seeds": seeds, "device": device, "workers": args.workers,
                   "dataset": args.dataset, "data_root": args.data_root, "out": args.out,
                   "b_run": args.from_run}
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
        cfg = dataclasses.replace(cfg, **changes)
        try:
            cfg = apply_overrides(cfg, overrides[k])
            mod.validate(cfg)
        except ValueError as e:
            raise UsageError(f"experiment {k}: {e}") from None
        cfgs[k] = cfg
    return cfgs


def resume(run_dir: Path) -> int:
    """Continue an interrupted experiment-B run folder with its own config."""
    from experiments import exp_b_spectrum_evolution as exp_b
    if not (run_dir / "config.json").is_file():
        raise UsageError(f"--resume {run_dir}: not a run folder (no config.json)")
    saved = json.loads((run_dir / "config.json").read_text())
    if "b" not in saved.get("experiments", {}):
        raise UsageError(f"--resume {run_dir}: not an experiment-b run folder")
    cfg = exp_b.config_from_run(run_dir)
    print(f"run folder: {run_dir} (resuming)", flush=True)
    exp_b.run(cfg, run_dir, resume=True)
    print(f"run folder: {run_dir}", flush=True)
    return 0


# Failures during a run that deserve one line, not a traceback:
# bad data or checkpoints are the user's input (2); a diverged run is 1.
def _run_errors():
    from data.images import DatasetUnavailable
    from experiments.exp_c_robustness import MissingModels
    from utils.checkpoints import CheckpointError
    return (DatasetUnavailable, CheckpointError, MissingModels)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        validate_flags(args)
        if args.resume or args.report or args.compare:
            import matplotlib
            matplotlib.use("Agg")
            try:
                if args.report:
                    return rebuild_report(Path(args.report))
                if args.compare:
                    return compare(args.compare, Path(args.out))
                return resume(Path(args.resume))
            except (ValueError, *_run_errors()) as e:
                print(f"main.py: error: {' '.join(str(e).split())}", file=sys.stderr)
                return EXIT_BAD_INPUT
        letters = ["a", "b", "c"] if args.experiment == "all" else [args.experiment]
        registry = _experiments()
        device = resolve_device(args.device)
        cfgs = build_configs(args, letters, registry, device)
        # Load image data (and find B's models for C alone) now, so missing
        # input stops before any work.
        try:
            prepared = {k: registry[k].prepare(cfgs[k]) for k in letters
                        if hasattr(registry[k], "prepare")}
            if letters == ["c"] and cfgs["c"].b_run is None and not cfgs["c"].train_if_missing:
                from experiments.exp_c_robustness import MissingModels, find_b_run, missing_message
                if find_b_run(cfgs["c"].results_root) is None:
                    raise MissingModels(missing_message(cfgs["c"].results_root))
        except _run_errors() as e:
            raise UsageError(" ".join(str(e).split())) from None
        from utils import runs
        out_root = Path(args.out)
        try:
            runs.check_writable(out_root)
        except OSError as e:
            raise UsageError(str(e)) from None
    except UsageError as e:
        print(f"main.py: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    import matplotlib
    matplotlib.use("Agg")  # chosen here, never at import of a library module
    return execute(args, argv, letters, registry, cfgs, prepared, device, out_root)


def execute(args, argv, letters, registry, cfgs, prepared, device, out_root: Path) -> int:
    """Create the run folder, run the experiments in order, write the report."""
    from utils import runs

    name = args.experiment + ("_quick" if args.quick else "")
    run_dir = runs.create_run_dir(out_root, name)
    print(f"run folder: {run_dir}", flush=True)
    sub_dirs = {k: run_dir if len(letters) == 1 else run_dir / registry[k].NAME for k in letters}
    if "b" in sub_dirs and "c" in sub_dirs:  # C evaluates the models B trains in this run
        cfgs["c"] = dataclasses.replace(cfgs["c"], b_run=str(sub_dirs["b"]))
    seeds = sorted({s for c in cfgs.values() for s in getattr(c, "seeds", ())})
    env = runs.env_record(device, seeds)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    resolved = {k: dataclasses.asdict(c) for k, c in cfgs.items()}
    runs.write_json(run_dir / "env.json", env)
    runs.write_json(run_dir / "config.json", {"argv": argv_used, "experiments": resolved})
    for k, sub in sub_dirs.items():
        if sub != run_dir:  # each experiment's folder describes itself too
            runs.write_json(sub / "env.json", env)
            runs.write_json(sub / "config.json", {"argv": argv_used,
                                                  "experiments": {k: resolved[k]}})
    print("resolved config:\n" + json.dumps(resolved, indent=1, default=str), flush=True)
    t0 = time.perf_counter()
    summaries = {}
    try:
        for k in letters:
            mod = registry[k]
            summaries[k] = mod.run(cfgs[k], sub_dirs[k],
                                   **({"data": prepared[k]} if k in prepared else {}))
            if not args.quick:  # a smoke run never replaces the stable (README) figures
                runs.publish_stable(sub_dirs[k], out_root, mod.STABLE_FIGURES)
    except FloatingPointError as e:
        print(f"main.py: error: training stopped: {e}", file=sys.stderr)
        print(f"run folder: {run_dir}")
        return EXIT_RUN_FAILED
    except _run_errors() as e:
        print(f"main.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        print(f"run folder: {run_dir}")
        return EXIT_BAD_INPUT
    wall = time.perf_counter() - t0
    if len(letters) > 1:
        runs.write_json(run_dir / "summary.json", {
            "experiment": "all", "parts": {k: registry[k].NAME for k in letters},
            "figures": [], "tables": [], "warnings": [], "wall_seconds": {"total": wall},
            "headline": {k: summaries[k]["tables"][0] for k in letters}})
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
    top = runs.read_json(run_dir / "summary.json")
    parts = (top.get("parts", {}) if top.get("experiment") == "all"
             else {top.get("experiment", "").lower(): "."})
    for k, sub in parts.items():
        mod = registry.get(k)
        if mod is not None and hasattr(mod, "render_figures"):
            mod.render_figures(run_dir / sub)
    print(f"report: {build_report(run_dir)}")
    return 0


def compare(run_dirs: list[str], out_root: Path) -> int:
    """--compare: one report overlaying several run folders."""
    from utils import runs
    from utils.report import build_comparison
    out = runs.create_run_dir(out_root, "compare")
    print(f"comparison: {build_comparison([Path(d) for d in run_dirs], out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
