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

Part ``batched`` (the default nine jobs as ONE model,
``experiments.exp_a_batched.train_jobs_batched``): achieved GFLOP/s (the
matmul FLOPs of forward + backward per step, ``train_step_flops``, over the
wall time of the whole call, checkpoints and optimiser included) against
this machine's fp32 matmul GFLOP/s (a 2048^2 ``torch.mm``, at this process's
thread count and on every core) and a hidden layer's ``baddbmm`` at A's
shapes, all timed in the same rounds; the same per CPU-second of this
process for the in-process variants (other work on a shared machine moves
it less than wall time); and jobs/s of the batch in this process, of
``train_jobs_batched_parallel`` in one spawned 1-thread process per core,
of ``train_job`` one job after the other in this process, and of
``train_job`` one job per task over one spawned 1-thread process per core
(the one-job path, ``batched=false``; the default before batching).
Checkpoints are thinned with ``--steps``
to the default run's share. From these, the default A run's training time
(9 jobs x 10,000 steps) is projected per variant, the processes' start-up
(timed on its own) counted once. Targets (printed, not asserted): >= 0.75
of the matmul rate, and the default A run <= 3 minutes. The load average is
printed before and after: on a shared machine every number here moves with
it (the 2048^2 matmul alone read 67 to 128 GFLOP/s on one thread within an
hour here). ``--steps 500`` or more: at fewer, per-job set-up and process
start weigh on the projections.

Part ``kernels``: forward + backward GFLOP/s of the stacked MLP's
hand-written step (what ``train_jobs_batched`` runs) against
``torch.func.vmap`` over ``functional_call`` of the nine ``MLP`` modules
(autograd), same FLOP count.

Run from the repository root: ``python benchmarks/bench_exp_a.py``
(``--repeats 1 --steps 500`` for a smoke run; ``--part batched --steps 500
--repeats 3 --threads 1`` took about 8 minutes at load average 5 to 7).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from common import base_parser, interleave, print_table, round_ratios, setup, spread, verdict

import torch  # noqa: E402  (common puts the repository root on sys.path first)

from experiments import exp_a_batched as exp_ab  # noqa: E402
from experiments import exp_a_synthetic as exp_a  # noqa: E402
from models.mlp import MLP  # noqa: E402

TARGET_VS_BARE = 0.90
TARGET_VS_MATMUL = 0.75      # batched A's GFLOP/s over the machine's fp32 matmul GFLOP/s
TARGET_DEFAULT_RUN_S = 180   # the default A run's training (9 jobs x 10,000 steps), seconds
MATMUL_N = 2048


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
    print_table(f"steps/s of one job ({cfg.steps} steps, {len(exp_a.run_checkpoints(cfg))} "
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
            from utils.executor import Launch
            t0 = time.perf_counter()
            exp_a._run_jobs(cfg, arms, lambda *a: None,
                            launch=Launch(workers=workers, threads=threads, progress=False))
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


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} logical CPUs"


def matmul_gflops(n: int = MATMUL_N, reps: int = 3, threads: int | None = None,
                  cpu: list | None = None) -> float:
    """fp32 GFLOP/s of ``n x n @ n x n`` (2 n^3 FLOPs), best of ``reps``, at
    ``threads`` torch threads (default: the current count). ``cpu``: the
    same per CPU-second of this process is appended (less moved by other
    work on the machine than wall time; with 2 threads it is per core)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a = torch.randn(n, n)
        b = torch.randn(n, n)
        torch.mm(a, b)
        best, best_cpu = float("inf"), float("inf")
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    finally:
        torch.set_num_threads(before)
    if cpu is not None:
        cpu.append(2 * n ** 3 / best_cpu / 1e9)
    return 2 * n ** 3 / best / 1e9


def bmm_gflops(cfg: exp_a.Config, n_jobs: int, reps: int = 5) -> float:
    """GFLOP/s of one hidden layer's batched matmul at A's shapes, best of
    ``reps``: the ceiling for the batched MLP's own matmuls."""
    h = torch.randn(n_jobs, cfg.n_points, cfg.width)
    w = torch.randn(n_jobs, cfg.width, cfg.width)
    b = torch.randn(n_jobs, 1, cfg.width)
    torch.baddbmm(b, h, w)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.baddbmm(b, h, w)
        best = min(best, time.perf_counter() - t0)
    return 2 * n_jobs * cfg.n_points * cfg.width ** 2 / best / 1e9


def _train_jobs_in_pool(cfg: exp_a.Config, jobs, workers: int) -> None:
    """``train_job`` one job per task over ``workers`` spawned 1-thread
    processes: the one-job path (``batched=false``; one process per core,
    1 thread each), written here so the benchmark does not lean
    on ``_run_jobs``' internals."""
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for fut in [pool.submit(exp_a.train_job, cfg, arm, seed, 1) for arm, seed in jobs]:
            fut.result()


def _pool_start(workers: int) -> float:
    """Seconds to start ``workers`` spawned processes that import the
    batched trainer (torch included) and answer: what the multi-process
    variants pay before training, whatever the steps."""
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for fut in [pool.submit(exp_ab.train_step_flops, exp_a.Config(), 1)
                    for _ in range(workers)]:
            fut.result()
    return time.perf_counter() - t0


def part_batched(cfg: exp_a.Config, repeats: int) -> None:
    # Checkpoints thinned with --steps, to the default run's share of them
    # (120 in 10,000 steps): 120 checkpoints in 200 steps would be one
    # evaluation every other step and time the evaluations, not training.
    cfg = dataclasses.replace(cfg, n_checkpoints=max(2, round(
        exp_a.Config.n_checkpoints * cfg.steps / exp_a.Config.steps)))
    arms = exp_a.build_arms(cfg)
    jobs = [(a, s) for a in arms for s in cfg.seeds]
    n_jobs = len(jobs)
    flops = exp_ab.train_step_flops(cfg, n_jobs) * cfg.steps
    threads = torch.get_num_threads()
    cores = min(2, os.cpu_count() or 1)
    cpu_rate: dict[str, list[float]] = {"batched": [], "mm": [], "one": []}

    def timed(fn, key: str | None = None):
        def run() -> float:
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            if key:
                cpu_rate[key].append(n_jobs / (time.process_time() - c0))
            return n_jobs / (time.perf_counter() - t0)
        return run

    variants = {
        "mm": lambda: matmul_gflops(cpu=cpu_rate["mm"]),
        f"mm{cores}": lambda: matmul_gflops(threads=cores),
        "bmm": lambda: bmm_gflops(cfg, n_jobs),
        "batched": timed(lambda: exp_ab.train_jobs_batched(cfg, jobs), "batched"),
        "batched2": timed(lambda: exp_ab.train_jobs_batched_parallel(cfg, jobs, workers=cores,
                                                                      threads=1)),
        "one": timed(lambda: [exp_a.train_job(cfg, arm, seed) for arm, seed in jobs], "one"),
        "one2": timed(lambda: _train_jobs_in_pool(cfg, jobs, cores)),
        "start": lambda: _pool_start(cores),
    }
    print(f"\n# part batched: {n_jobs} jobs x {cfg.steps} steps ({cfg.n_checkpoints} checkpoints), "
          f"{flops / cfg.steps / 1e9:.2f} GFLOP per batched step; {threads} thread(s) in this "
          f"process; {load_line()}")
    warm = dataclasses.replace(cfg, steps=5, n_checkpoints=2)
    exp_ab.train_jobs_batched(warm, jobs)
    exp_a.train_job(warm, *jobs[0])
    res = interleave(variants, repeats)
    gf = lambda js: [j * flops / n_jobs / 1e9 for j in js]          # noqa: E731
    one, one2 = res["one"], res["one2"]
    rows = [[f"fp32 matmul 2048^2, {threads} thread(s)", spread(res["mm"]).format(",.1f"), "", "",
             ""],
            [f"fp32 matmul 2048^2, {cores} threads", spread(res[f"mm{cores}"]).format(",.1f"),
             "", "", ""],
            [f"baddbmm ({n_jobs}, {cfg.n_points}, {cfg.width}) @ ({cfg.width}, {cfg.width})",
             spread(res["bmm"]).format(",.1f"), "", "", ""]]
    labels = {"batched": f"batched A, 1 process x {threads} thread(s)",
              "batched2": f"batched A, {cores} processes x 1 thread",
              "one": f"train_job one job at a time, 1 process x {threads} thread(s)",
              "one2": f"train_job, {cores} processes x 1 thread (the one-job path)"}
    for key, label in labels.items():
        rows.append([label, spread(gf(res[key])).format(",.1f"), spread(res[key]).format(".3f"),
                     round_ratios(res[key], one).format(".2f"),
                     round_ratios(res[key], one2).format(".2f")])
    print_table(f"median [q1, q3] over {repeats} interleaved rounds (wall time)",
                ["variant", "GFLOP/s", "jobs/s", "/ one at a time", f"/ {cores} processes"], rows)
    # Same threads as the matmul: the 1-process batch against the matmul at its
    # thread count; the multi-process batch against the matmul on as many cores.
    ratio = round_ratios(gf(res["batched"]), res["mm"])
    print(f"\nbatched A GFLOP/s / matmul GFLOP/s, 1 process x {threads} thread(s): "
          f"{ratio.format('.2f')}  {verdict(ratio.median, TARGET_VS_MATMUL)}")
    ratio2 = round_ratios(gf(res["batched2"]), res[f"mm{cores}"])
    print(f"batched A GFLOP/s / matmul GFLOP/s, {cores} processes x 1 thread against the "
          f"{cores}-thread matmul: {ratio2.format('.2f')}  {verdict(ratio2.median, TARGET_VS_MATMUL)}")
    cpu_ratio = round_ratios(gf(cpu_rate["batched"]), cpu_rate["mm"])
    print(f"the same per CPU-second of this process (less moved by other work), 1 process: "
          f"batched {spread(gf(cpu_rate['batched'])).format(',.1f')} GFLOP/s, matmul "
          f"{spread(cpu_rate['mm']).format(',.1f')}: {cpu_ratio.format('.2f')}; train_job one "
          f"at a time {spread(gf(cpu_rate['one'])).format(',.1f')} GFLOP/s, batched / it "
          f"{round_ratios(cpu_rate['batched'], cpu_rate['one']).format('.2f')}")
    # The benchmark's jobs are the default run's (only --steps differs, and the
    # checkpoints in proportion), so the default run's training time is the
    # variant's scaled by the steps -- less the process start, paid once, for
    # the multi-process variants; analysis and figures come on top.
    start = spread(res["start"]).median
    full = exp_a.Config.steps / cfg.steps
    wall = {k: n_jobs / spread(res[k]).median for k in labels}
    projected = {k: (start + max(0.0, w - start) * full) if k.endswith("2") else w * full
                 for k, w in wall.items()}
    print(f"starting {cores} spawned processes: {spread(res['start']).format('.1f')} s")
    print(f"default --experiment a training ({n_jobs} jobs x {exp_a.Config.steps:,} steps) "
          f"projected from {cfg.steps} steps:")
    for k, label in labels.items():
        print(f"  {label}: {projected[k]:.0f} s")
    best = min(("batched", "batched2"), key=projected.__getitem__)
    print(f"  best batched ({labels[best]}): {projected['one2'] / projected[best]:.2f}x the "
          f"speed of the one-job path; "
          f"{verdict(projected[best], TARGET_DEFAULT_RUN_S, higher_is_better=False)}")
    print(f"# after part batched: {load_line()}")


def part_kernels(cfg: exp_a.Config, repeats: int) -> None:
    """Forward + backward of the nine MLPs: the hand-written stacked step
    (what ``train_jobs_batched`` runs) against ``torch.func.vmap`` over
    ``functional_call`` (autograd)."""
    from torch.func import functional_call, stack_module_state, vmap

    arms = exp_a.build_arms(cfg)
    seeds = [s for _ in arms for s in cfg.seeds]
    u, y = exp_a._target(cfg, seeds[0]).tensors()
    y = y.expand(len(seeds), *y.shape)
    net = exp_ab.StackedMLP(seeds, cfg, torch.device("cpu"))
    mods = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            mods.append(MLP(1, cfg.width, cfg.depth, cfg.activation, 0.0))
    params, buffers = stack_module_state(mods)
    skeleton = mods[0].to("meta")
    vm = vmap(lambda p, b, x: functional_call(skeleton, (p, b), (x,)), in_dims=(0, 0, None))
    flops = exp_ab.train_step_flops(cfg, len(seeds))
    n = 20

    def rate(step):
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            return n * flops / (time.perf_counter() - t0) / 1e9
        return run

    def stacked():
        with torch.no_grad():
            out = net.forward(u)
            net.backward(u, (out - y).mul_(2.0 / cfg.n_points))

    def vmapped():
        ((vm(params, buffers, u) - y) ** 2).mean(dim=(1, 2)).sum().backward()

    stacked()
    vmapped()
    res = interleave({"stacked, hand-written": rate(stacked),
                      "vmap(functional_call)": rate(vmapped)}, repeats)
    rows = [[k, spread(v).format(",.1f"), round_ratios(v, res["stacked, hand-written"]).format(".2f")]
            for k, v in res.items()]
    print_table(f"forward + backward of {len(seeds)} MLPs {cfg.depth}x{cfg.width}, N={cfg.n_points}: "
                f"GFLOP/s, median [q1, q3] over {repeats} rounds", ["variant", "GFLOP/s",
                "/ stacked"], rows)


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--steps", type=int, default=exp_a.Config.steps,
                   help=f"steps per job (default {exp_a.Config.steps}, the config's)")
    p.add_argument("--arms", default="baseline,l2,dropout",
                   help="arms timed in part loop (default baseline,l2,dropout)")
    p.add_argument("--part", choices=("loop", "workers", "batched", "kernels", "all"),
                   default="all", help="which comparison (default all)")
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
    if args.part in ("batched", "all"):
        part_batched(cfg, args.repeats)
    if args.part in ("kernels", "all"):
        part_kernels(cfg, args.repeats)


if __name__ == "__main__":
    main()
