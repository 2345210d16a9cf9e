"""Question 2, A's stacked trainer: the autograd stacked trainer
(:func:`experiments.exp_a_core.train_jobs`) against the hand-written stacked
path it replaced (``experiments/exp_a_batched.py`` at commit ``7eb20d9``,
run from that commit's whole tree, extracted with ``git archive``, in a
child process that times its own training), side by side in one run.

Every variant trains the default config's nine jobs (3 arms x 3 seeds,
4x192 ReLU MLP, N = 512, full batch) for ``--steps`` steps at one torch
thread (the new trainer in this process); the variants run interleaved (``common.interleave``),
so machine load hits them alike. Reported per variant: jobs/s scaled to the
default 10,000 steps, GFLOP/s of the matrix products (forward and backward,
:func:`train_step_flops`), and both relative to a 2048^2 fp32 matmul measured
in the same rounds. Variants: ``old`` (the hand-written path, all nine jobs as
one model), ``stack=9`` (the new trainer, all nine as one model),
``stack=3`` (one stack per seed), ``stack=1`` (one job per model: the default).

Target: the default (``stack=1``) at >= 0.85 of the old path's
throughput (same-round ratios). ``python benchmarks/bench_exp_a.py
--repeats 3 --steps 300`` (``--smoke``: one round of 40 steps).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import base_parser, interleave, print_ratio, print_table, round_ratios, setup, spread

import torch  # noqa: E402  (common puts the repository root on sys.path first)

from experiments import exp_a_core as core  # noqa: E402

OLD_COMMIT = "7eb20d9"
TARGET_VS_OLD = 0.85
MATMUL_N = 2048
ROOT = Path(__file__).resolve().parent.parent


def old_tree(commit: str = OLD_COMMIT) -> Path:
    """The repository at ``commit``, extracted to a temporary folder (its own
    ``utils``, ``models`` and ``data``: the old trainer imports them)."""
    folder = Path(tempfile.mkdtemp(prefix="bench_exp_a_"))
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


# Runs in a child process inside the old tree: trains the nine default jobs
# as one model for `steps` steps and prints the seconds of that call alone.
OLD_RUNNER = r"""
import dataclasses, json, sys, time
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(int(sys.argv[3]))
from experiments import exp_a_batched as batched, exp_a_synthetic as a
steps = int(sys.argv[2])
cfg = dataclasses.replace(a.Config(), steps=steps, warmup_steps=min(200, steps // 4),
                          n_checkpoints=20)
jobs = [(arm, s) for s in cfg.seeds for arm in a.build_arms(cfg)]
batched.train_jobs_batched(dataclasses.replace(cfg, steps=10), jobs[:2])  # warm-up
t0 = time.perf_counter()
batched.train_jobs_batched(cfg, jobs)
print(json.dumps({"seconds": time.perf_counter() - t0, "jobs": len(jobs)}))
"""


def old_path_rate(tree: Path, steps: int, threads: int) -> float:
    """Jobs/s of the old path at ``T = 10,000`` (its own timing, not its start-up)."""
    done = subprocess.run([sys.executable, "-c", OLD_RUNNER, str(tree), str(steps), str(threads)],
                          cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_exp_a: the old path of {OLD_COMMIT} failed: "
                         f"{done.stderr.strip().splitlines()[-1]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["jobs"] / out["seconds"] * steps / 10_000


def train_step_flops(cfg: core.Config, n_jobs: int) -> int:
    """Matmul FLOPs of one training step of ``n_jobs`` MLPs (forward + backward;
    multiply-add = 2 FLOPs; elementwise work, optimiser and evaluations not
    counted): per job ``2 N (3 sum f_in f_out - f_0 f_1)`` (the first layer's
    input, the grid, needs no gradient)."""
    sizes = [1] + [cfg.width] * cfg.depth + [1]
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return int(n_jobs * 2 * cfg.n_points * (3 * macs - sizes[0] * sizes[1]))


def matmul_gflops(n: int = MATMUL_N, reps: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--steps", type=int, default=300, help="training steps per variant (default 300)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.steps = 1, 40
    if args.threads is None:
        args.threads = 1
    setup(args)
    if args.steps < 10:
        raise SystemExit(f"--steps: expected >= 10, got {args.steps}")
    cfg = dataclasses.replace(core.Config(), steps=args.steps, warmup_steps=min(200, args.steps // 4),
                              n_checkpoints=20)
    arms = core.build_arms(cfg)
    jobs = [(a, s) for s in cfg.seeds for a in arms]
    tree = old_tree()

    def timed(fn):
        def run() -> float:
            t0 = time.perf_counter()
            fn()
            return len(jobs) / (time.perf_counter() - t0) * cfg.steps / 10_000  # jobs/s at T=10k
        return run

    def new(size):
        return lambda: [core.train_jobs(cfg, jobs[i:i + size]) for i in range(0, len(jobs), size)]

    variants = {"old hand-written, 9 as one": lambda: old_path_rate(tree, cfg.steps, args.threads),
                "autograd stack=9": timed(new(9)),
                "autograd stack=3": timed(new(3)),
                "autograd stack=1 (default)": timed(new(1)),
                "2048^2 fp32 matmul GFLOP/s": matmul_gflops}
    warm = dataclasses.replace(cfg, steps=10)
    core.train_jobs(warm, jobs[:2])
    try:
        got = interleave(variants, args.repeats)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    mm = got.pop("2048^2 fp32 matmul GFLOP/s")
    per_job = train_step_flops(cfg, 1) * 10_000 / 1e9      # GFLOP of one default job
    old = got["old hand-written, 9 as one"]
    rows = []
    for name, v in got.items():
        gf = [x * per_job for x in v]
        rows.append([name, spread(v).format(".4f"), spread(gf).format(".1f"),
                     round_ratios(gf, mm).format(".2f"), round_ratios(v, old).format(".2f")])
    print_table(f"Experiment A, default config, {args.steps} steps per job, {args.threads} thread(s); "
                f"matmul {spread(mm).format('.1f')} GFLOP/s (median [quartiles] over rounds)",
                ["variant", "jobs/s (T=10k)", "GFLOP/s", "vs matmul", "vs old"], rows)
    print()
    print_ratio("A's default stacking (stack=1) / the old hand-written path",
                round_ratios(got["autograd stack=1 (default)"], old), TARGET_VS_OLD, fmt=".2f")
    nine = 9 / spread(got["autograd stack=1 (default)"]).median
    print(f"default A's training at this load: 9 jobs on one core {nine:.0f} s; two 1-thread "
          f"workers (5 of the 9 jobs on one): about {nine * 5 / 9:.0f} s")


if __name__ == "__main__":
    main()
