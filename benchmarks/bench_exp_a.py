"""What do experiment A's ~120 evaluation checkpoints and its bookkeeping
cost, and how should its nine jobs share two cores? Prints steps/s, jobs/s
and ratios; asserts nothing.

Part ``loop`` (one job per measurement, the default config: MLP 4x192 ReLU,
N = 512 grid points, full batch, Adam, 5,000 steps):

* ``train_job <arm>``: ``experiments.exp_a_synthetic.train_job``: the
  learning-rate schedule set every step, the loss kept every step, the
  eval-mode prediction on the whole grid at ~120 log-spaced checkpoints
  with a finiteness check, and, for ``l2``, the penalty in the loss; for
  ``dropout``, dropout layers. Timed around the whole call.
* ``bare loop``: the same MLP (same initial weights), the same data and
  step count, ``loss = mean((f(u) - y)^2)``, backward, Adam step; nothing
  else.

Target: ``train_job baseline`` >= 0.90 x the bare loop (the baseline has the
bare loop's network and loss, so the ratio is the bookkeeping alone).

Part ``workers`` (the default nine jobs: 3 arms x 3 seeds): total jobs/s of
``_run_jobs`` with ``workers=2`` (two processes, one thread each, as the
config's ``workers`` sets them up) against ``workers=1`` in this process
with two torch threads.

Run from the repository root: ``python benchmarks/bench_exp_a.py``
(``--repeats 1 --steps 500`` for a smoke run).
"""

from __future__ import annotations

import dataclasses
import time

from common import base_parser, interleave, print_table, round_ratios, setup, spread, verdict

import torch  # noqa: E402  (common puts the repository root on sys.path first)

from experiments import exp_a_synthetic as exp_a  # noqa: E402
from models.mlp import MLP  # noqa: E402

TARGET_VS_BARE = 0.90


def bare_loop(cfg: exp_a.Config, seed: int) -> float:
    """Steps/s of forward, MSE, backward, Adam on the default job's data."""
    u, y = exp_a._target(cfg, seed).tensors(torch.device(cfg.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(1, cfg.width, cfg.depth, cfg.activation, 0.0).to(cfg.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        loss = torch.mean((model(u) - y) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return cfg.steps / (time.perf_counter() - t0)


def part_loop(cfg: exp_a.Config, arms: list[str], repeats: int) -> None:
    table = {a.name: a for a in exp_a.build_arms(dataclasses.replace(cfg, arms=tuple(arms)))}

    def job(arm):
        def run() -> float:
            t0 = time.perf_counter()
            exp_a.train_job(cfg, arm, 0)
            return cfg.steps / (time.perf_counter() - t0)
        return run

    variants = {f"train_job {name}": job(arm) for name, arm in table.items()}
    variants["bare loop"] = lambda: bare_loop(cfg, 0)
    warm = dataclasses.replace(cfg, steps=50)
    bare_loop(warm, 0)
    exp_a.train_job(warm, next(iter(table.values())), 0)
    res = interleave(variants, repeats)
    rows = [[n, spread(v).format(",.0f"), round_ratios(v, res["bare loop"]).format(".3f")]
            for n, v in res.items()]
    print_table(f"steps/s of one job ({cfg.steps} steps, {len(exp_a.checkpoint_steps(cfg.steps, cfg.n_checkpoints))} "
                f"checkpoints), median [q1, q3] over {repeats} interleaved rounds",
                ["variant", "steps/s", "/ bare loop"], rows)
    if "train_job baseline" in res:
        r = round_ratios(res["train_job baseline"], res["bare loop"])
        print(f"\ntrain_job baseline / bare loop: {r.format('.3f')}  {verdict(r.median, TARGET_VS_BARE)}")


def part_workers(cfg: exp_a.Config, repeats: int) -> None:
    arms = exp_a.build_arms(cfg)
    n_jobs = len(arms) * len(cfg.seeds)

    def run_jobs(workers: int, threads: int):
        def run() -> float:
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            exp_a._run_jobs(dataclasses.replace(cfg, workers=workers), arms, lambda *a: None)
            return n_jobs / (time.perf_counter() - t0)
        return run

    before = torch.get_num_threads()
    variants = {"workers=2 (2 processes x 1 thread)": run_jobs(2, 1),
                "workers=1 (1 process x 2 threads)": run_jobs(1, 2),
                "workers=1 (1 process x 1 thread)": run_jobs(1, 1)}
    res = interleave(variants, repeats)
    torch.set_num_threads(before)
    ref = "workers=1 (1 process x 2 threads)"
    rows = [[n, spread(v).format(".4f"), f"{n_jobs / spread(v).median:.1f}",
             round_ratios(v, res[ref]).format(".2f")] for n, v in res.items()]
    print_table(f"{n_jobs} jobs of {cfg.steps} steps: jobs/s, median [q1, q3] over {repeats} "
                f"interleaved rounds", ["variant", "jobs/s", "wall s", "/ 1 process x 2 threads"],
                rows)


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--steps", type=int, default=exp_a.Config.steps,
                   help=f"steps per job (default {exp_a.Config.steps}, the config's)")
    p.add_argument("--arms", default="baseline,l2,dropout",
                   help="arms timed in part loop (default baseline,l2,dropout)")
    p.add_argument("--part", choices=("loop", "workers", "all"), default="all",
                   help="which comparison (default all)")
    p.add_argument("--workers-repeats", type=int, default=3,
                   help="rounds for part workers, each runs the nine jobs 3 times (default 3)")
    args = p.parse_args(argv)
    setup(args)
    cfg = exp_a.Config(steps=args.steps, warmup_steps=min(exp_a.Config.warmup_steps, args.steps))
    print(f"# MLP {cfg.depth}x{cfg.width} {cfg.activation}, N={cfg.n_points}, Adam lr {cfg.lr:g}, "
          f"{cfg.steps} steps; arms {cfg.arms} x seeds {cfg.seeds}")
    if args.part in ("loop", "all"):
        part_loop(cfg, [a for a in args.arms.split(",") if a], args.repeats)
    if args.part in ("workers", "all"):
        part_workers(cfg, args.workers_repeats)


if __name__ == "__main__":
    main()
