"""The harness every benchmark shares: the repository root on ``sys.path``,
the common flags (``--repeats``, ``--threads``, ``--smoke``) and the
environment line, interleaved repeats, median and interquartile range,
ratios per round, plain-text tables, and the one ``ratio |`` line each
script prints for the question it exists for.

``--smoke`` runs a script at tiny sizes to check that it works; its numbers
mean nothing.

Benchmarks print numbers and ratios; they never assert. Variants are run in
rounds, and each round runs every variant once in an order rotated by one
place from the previous round, so a slow drift of the machine (another job
starting, the CPU clock changing) lands on every variant alike. A ratio is
taken within each round, and the median and spread of those per-round
ratios are reported, not the ratio of medians alone.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range of repeated measurements."""
    median: float
    q1: float
    q3: float
    n: int

    def format(self, fmt: str = ",.0f") -> str:
        if self.n == 1:
            return f"{self.median:{fmt}}"
        return f"{self.median:{fmt}} [{self.q1:{fmt}}, {self.q3:{fmt}}]"


def spread(values) -> Spread:
    """Median and quartiles (``statistics.quantiles``, inclusive method) of
    ``values``; with one value all three are that value."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("values: expected at least one measurement, got none")
    if len(v) == 1:
        return Spread(v[0], v[0], v[0], 1)
    q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
    return Spread(statistics.median(v), q1, q3, len(v))


def base_parser(description: str, repeats: int | None = None,
                threads: bool = True) -> argparse.ArgumentParser:
    """The flags every benchmark takes: ``--smoke``, and ``--repeats`` (where
    variants run in interleaved rounds) and ``--threads`` (where this
    process does the work) when they apply."""
    p = argparse.ArgumentParser(description=description)
    if repeats is not None:
        p.add_argument("--repeats", type=int, default=repeats,
                       help=f"interleaved rounds; each round runs every variant once "
                            f"(default {repeats})")
    if threads:
        p.add_argument("--threads", type=int, default=None,
                       help="torch intra-op threads (default: torch's own choice, "
                            f"{torch.get_num_threads()} here)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, to check the script runs; the numbers mean nothing "
                        "(default off)")
    return p


def setup(args: argparse.Namespace) -> None:
    """Check and apply the common flags; print what the numbers were measured under."""
    if getattr(args, "repeats", 1) < 1:
        raise SystemExit(f"--repeats: expected >= 1, got {args.repeats}")
    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads: expected >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    print(environment_line() + (" | SMOKE: tiny sizes, numbers mean nothing"
                                if args.smoke else ""))


def environment_line() -> str:
    """Date, CPU, torch version, threads and the load average (1 min) at start:
    a 2-core machine shared with other jobs gives 3 to 6 times lower numbers."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"# {now} | {cpu_name()} | {os.cpu_count()} logical CPUs | python "
            f"{platform.python_version()} | torch {torch.__version__} | "
            f"{torch.get_num_threads()} torch thread(s) | load average {load:.2f}")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_b_data(cfg):
    """``(cfg, data)``: experiment B's images for ``cfg``; when its dataset is
    not on this machine, says so and uses the synthetic set instead."""
    import dataclasses

    from data.images import DatasetUnavailable
    from experiments import exp_b_spectrum_evolution as exp_b

    try:
        return cfg, exp_b.load_data(cfg)
    except DatasetUnavailable as err:
        print(f"# {cfg.dataset} unavailable ({str(err).splitlines()[0][:100]}...); using synthetic")
        cfg = dataclasses.replace(cfg, dataset="synthetic")
        return cfg, exp_b.load_data(cfg)


def add_b_flags(p: argparse.ArgumentParser) -> None:
    """``--epochs``, ``--n-train`` and ``--dataset`` of B's CPU set-up
    (:func:`load_b_cpu`)."""
    p.add_argument("--epochs", type=int, default=2, help="epochs per measurement (default 2)")
    p.add_argument("--n-train", type=int, default=10_000, help="training images (default 10000)")
    p.add_argument("--dataset", default="cifar10-jpeg",
                   help="cifar10-jpeg, falling back to synthetic when missing (default cifar10-jpeg)")


def load_b_cpu(args: argparse.Namespace):
    """``(cfg, data)`` of B's CPU preset, l2 arm, seed 0, with the flags of
    :func:`add_b_flags` (``--smoke``: one epoch of 512 images)."""
    import dataclasses

    from experiments import exp_b_spectrum_evolution as exp_b

    if args.smoke:
        args.epochs, args.n_train = 1, 512
    base = exp_b.Config(dataset=args.dataset, device="cpu", progress=False, arms=("l2",), seeds=(0,))
    return load_b_data(dataclasses.replace(exp_b.preset(base, "cpu"), epochs=args.epochs,
                                           n_train=args.n_train))


def b_model_factory(cfg, data, init: dict):
    """``fresh()``: B's model for ``cfg`` with the initial weights ``init``
    (``exp_b.initial_state``), on the CPU, channels_last, in train mode."""
    from experiments import exp_b_spectrum_evolution as exp_b
    from utils import training

    def fresh() -> torch.nn.Module:
        m = exp_b.new_model(cfg, data, None)
        m.load_state_dict(init)
        return training.place_model(m, torch.device("cpu"), channels_last=True).train()
    return fresh


def engine_rate(cfg, data, model, regimen, epochs: int) -> float:
    """Training images/s of ``utils.training.train_one_epoch`` over ``epochs``
    epochs of ``data``'s training set, as B runs it on the CPU."""
    from utils import training
    from utils.optim import make_optimizer, make_schedule

    steps = training.steps_per_epoch(data.train_x.shape[0], cfg.batch_size)
    opt = make_optimizer(model, regimen, lr=cfg.lr, momentum=cfg.momentum)
    sched = make_schedule(opt, cfg.schedule, total_steps=steps * epochs)
    t0 = time.perf_counter()
    for e in range(epochs):
        training.train_one_epoch(model, data.train_x, data.train_y, optimizer=opt, scheduler=sched,
                                 batch_size=cfg.batch_size, mean=data.mean, std=data.std, epoch=e,
                                 seed=0, regimen=regimen, device="cpu", channels_last=True)
    return steps * cfg.batch_size * epochs / (time.perf_counter() - t0)


def interleave(variants: dict[str, Callable[[], float]], repeats: int,
               log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Run every variant once per round, ``repeats`` rounds, the order rotated
    by one each round. Each callable returns one measurement (e.g. images/s);
    returns the measurements per variant, in round order."""
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            out[name].append(float(variants[name]()))
            log(f"  round {r + 1}/{repeats}  {name:<40s} {_short(out[name][-1]):>12s}  "
                f"({time.perf_counter() - t0:.1f} s)")
    return out


def _short(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"


def round_ratios(num: list[float], den: list[float]) -> Spread:
    """Spread of ``num[r] / den[r]`` over rounds (same-round pairs)."""
    if len(num) != len(den):
        raise ValueError(f"num, den: expected equal lengths, got {len(num)} and {len(den)}")
    return spread([a / b for a, b in zip(num, den)])


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return f"{'MET' if ok else 'MISSED'} (target {'>=' if higher_is_better else '<='} {target:g})"


def print_ratio(question: str, value: Spread | float, target: float | None = None,
                higher_is_better: bool = True, fmt: str = ".3f", note: str = "") -> None:
    """The line a benchmark exists for, in one form for all of them:
    ``ratio | <question>: <median [q1, q3]>  MET/MISSED (target ...)``."""
    r = value if isinstance(value, Spread) else Spread(float(value), float(value),
                                                        float(value), 1)
    judged = "" if target is None else "  " + verdict(r.median, target, higher_is_better)
    print(f"ratio | {question}: {r.format(fmt)}{judged}{'  ' + note if note else ''}", flush=True)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A left-aligned first column, right-aligned others."""
    cells = [header] + rows
    width = [max(len(str(r[i])) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(width[i]) if i == 0 else str(c).rjust(width[i])  # noqa: E731
                               for i, c in enumerate(r))
    print(f"\n{title}")
    print(line(header))
    print("-" * len(line(header)))
    for r in rows:
        print(line(r))
