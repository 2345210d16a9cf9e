"""Question 5, contention and concurrent jobs: training throughput beside one competing CPU-bound process,
divided by the quiet throughput, measured in one run (issue: a busy machine
should cost a fair share, not 3 to 50 times).

Workloads (each a few seconds of the real training step):
  a64     experiment A's MLP, width 64, no dropout (steps/s)
  a192d   experiment A's MLP, width 192, dropout 0.1 (steps/s)
  b       experiment B's SmallCNN 16-32-64, batch 256 (images/s)
  c       experiment C's evaluation: the same CNN under inference_mode on
          noisy batches of 500 (images/s)
Conditions: quiet; beside a plain busy loop (one Python process spinning);
beside another torch job (a 2-thread matmul loop). Thread settings compared:
2 threads with OpenMP's default wait policy, 2 threads with
``OMP_WAIT_POLICY=PASSIVE`` (what ``main.py`` sets unless the user did), and
1 thread. Each cell runs in a fresh process, so the environment takes effect.
Then the policy ``main.py`` runs a run's jobs with (one worker process per
core, one thread each): the aggregate rate of those workers, quiet and
beside each competitor.

    python benchmarks/bench_contention.py [--seconds 4]   (--smoke: A width 64 only, 0.5 s a cell)

Target: contended / quiet >= 0.4 for every workload beside both competitors.

``--jobs N1,N2,...``: jobs at once against one job alone instead:
experiment B's training throughput (train images per second of wall time,
all jobs together) with N jobs sharing the machine's device(s). On a GPU
machine N jobs share each GPU (``--jobs-per-gpu N``: N processes per GPU,
each its own CUDA context); on a CPU, N processes of one thread each
(``--workers N``). Every job is one (arm, seed) of B's preset for the device,
trained for ``--epochs``; its results are bitwise those of the job alone
(tests/test_executor.py), so only the speed is compared.

    python benchmarks/bench_contention.py --jobs 1,2,4 --device cuda --epochs 2
    python benchmarks/bench_contention.py --jobs 1,2 --device cpu --epochs 1

Target: the aggregate with N jobs well above one job's rate where one job
leaves the GPU idle (ResNet-18 at batch 512 used about 20% of an H100's bf16
matmul rate).

Prints, asserts nothing. The machine must be otherwise idle for the numbers
to mean anything; the load average at start is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT as ROOT, base_parser, print_ratio, setup

WORKER = r"""
import json, sys, time
import torch
sys.path.insert(0, sys.argv[1])
kind, seconds = sys.argv[2], float(sys.argv[3])
torch.manual_seed(0)
if kind.startswith("a"):
    from models.mlp import MLP
    width, p = (64, 0.0) if kind == "a64" else (192, 0.1)
    model = MLP(1, width, 4, "relu", p)
    u = torch.linspace(-1, 1, 512).unsqueeze(1)
    y = torch.sin(20 * u)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    def step():
        loss = torch.mean((model(u) - y) ** 2)
        opt.zero_grad(); loss.backward(); opt.step()
    per_step = 1
elif kind == "c":
    from models.cnn import SmallCNN
    model = SmallCNN().to(memory_format=torch.channels_last).eval()
    x = torch.randn(500, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    def step():
        with torch.inference_mode():
            model(x + 0.1 * torch.randn(x.shape, generator=g)).argmax(1)
    per_step = 500
else:
    from models.cnn import SmallCNN
    model = SmallCNN().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(256, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 10, (256,))
    def step():
        loss = torch.nn.functional.cross_entropy(model(x), t)
        opt.zero_grad(); loss.backward(); opt.step()
    per_step = 256
for _ in range(3):
    step()
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    step(); n += 1
print(json.dumps({"rate": n * per_step / (time.perf_counter() - t0)}))
"""

BUSY = "while True: pass"
TORCH_JOB = ("import torch\ntorch.set_num_threads(2)\na = torch.randn(1024, 1024)\n"
             "while True: a @ a")

SETTINGS = {"2 threads, default wait": {"OMP_NUM_THREADS": "2"},
            "2 threads, PASSIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
            "1 thread": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}}


def measure(kind: str, env: dict, seconds: float, competitor: str | None, n: int = 1) -> float:
    """The rate of ``n`` workers of one kind at once (n > 1: what the local
    launcher runs), summed, each in a fresh process with ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    other = None
    if competitor is not None:
        other = subprocess.Popen([sys.executable, "-c", competitor], env=base,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(ROOT), kind, str(seconds)],
                                  env={**base, **env}, stdout=subprocess.PIPE, text=True)
                 for _ in range(n)]
        outs = [p.communicate()[0] for p in procs]
    finally:
        if other is not None:
            other.kill()
            other.wait()
    return sum(json.loads(o.strip().splitlines()[-1])["rate"] for o in outs)


ARMS = ("baseline", "l2", "dropout", "l2+dropout")
TARGET = 0.4  # contended / quiet, beside either competitor


def one_round(device: str, n_jobs: int, epochs: int, extra: list[str], out: Path) -> dict:
    import main
    arms = ARMS[:min(n_jobs, len(ARMS))]            # n jobs: arms x seeds, n_jobs of them
    seeds = -(-n_jobs // len(arms))
    flags = ["--experiment", "b", "--device", device, "--epochs", str(epochs),
             "--seeds", str(seeds), "--progress", "off", "--out", str(out), *extra]
    for arm in arms:
        flags += ["--arm", arm]
    flags += (["--jobs-per-gpu", str(n_jobs)] if device == "cuda" else ["--workers", str(n_jobs)])
    t0 = time.perf_counter()
    code = main.main(flags)
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"bench_contention: the run with {n_jobs} jobs failed (exit {code})")
    run = sorted(out.iterdir())[-1]
    s = json.loads((run / "summary.json").read_text())
    return {"jobs": len(s["checkpoints"]), "wall_s": wall, "jobs_wall_s": s["wall_seconds"]["jobs"],
            "images_per_s_all": s["wall_seconds"]["train_images_per_s_all_jobs"],
            "images_per_s_per_job": s["wall_seconds"]["train_images_per_s"]}


def concurrent_jobs(args) -> None:
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_contention: no CUDA device; nothing measured (use --device cpu)")
        return
    extra = [x for kv in args.sets for x in ("--set", kv)]
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_jobs_"))
    rows = []
    for n in [int(v) for v in args.jobs.split(",")]:
        r = one_round(args.device, n, args.epochs, extra, out / f"n{n}")
        rows.append((n, r))
        print(f"{n} job(s) at once: {r['jobs']} jobs in {r['jobs_wall_s']:.1f} s of jobs "
              f"({r['wall_s']:.1f} s in all): {r['images_per_s_all']:,.0f} train images/s "
              f"together, {r['images_per_s_per_job']:,.0f} per job", flush=True)
    base = rows[0][1]["images_per_s_all"]
    print()
    for n, r in rows:
        print_ratio(f"B's images/s with {n} job(s) at once / with {rows[0][0]}",
                    r["images_per_s_all"] / base, fmt=".2f")


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--seconds", type=float, default=4.0, help="per measurement (default 4)")
    p.add_argument("--workloads", default="a64,a192d,b,c", help="comma list (default all)")
    g = p.add_argument_group("jobs at once (instead of the contention table)")
    g.add_argument("--jobs", default=None, help="comma list of jobs at once, e.g. 1,2,4")
    g.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    g.add_argument("--epochs", type=int, default=2)
    g.add_argument("--set", dest="sets", action="append", default=[],
                   help="passed to main.py as --set (e.g. n_train=10000)")
    g.add_argument("--out", default=None, help="where the runs go (default: a temp folder)")
    args = p.parse_args(argv)
    if args.smoke:
        args.seconds, args.workloads, args.epochs = 0.5, "a64", 1
        args.sets += ["n_train=512", "n_test=256"]
    setup(args)
    if args.jobs:
        concurrent_jobs(args)
        return
    rows = []
    for kind in args.workloads.split(","):
        for name, env in SETTINGS.items():
            quiet = measure(kind, env, args.seconds, None)
            busy = measure(kind, env, args.seconds, BUSY)
            torch_job = measure(kind, env, args.seconds, TORCH_JOB)
            rows.append((kind, name, quiet, busy, torch_job))
            print(f"{kind:6s} {name:24s} quiet {quiet:9.1f}  busy loop {busy:9.1f} "
                  f"({busy / quiet:.2f})  torch job {torch_job:9.1f} ({torch_job / quiet:.2f})",
                  flush=True)
    cores = os.cpu_count() or 1
    print(f"\nas main.py runs a run's jobs: {cores} worker processes x 1 thread, "
          "OMP_WAIT_POLICY=PASSIVE (aggregate rate), against one process x "
          f"{cores} threads, default wait (the old default)")
    policy = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    pool = {}
    for kind in args.workloads.split(","):
        old_quiet = next(r[2] for r in rows if r[0] == kind and r[1] == "2 threads, default wait")
        quiet = measure(kind, policy, args.seconds, None, cores)
        busy = measure(kind, policy, args.seconds, BUSY, cores)
        torch_job = measure(kind, policy, args.seconds, TORCH_JOB, cores)
        pool[kind] = min(busy, torch_job) / quiet
        print(f"{kind:6s} pool quiet {quiet:9.1f} ({quiet / old_quiet:.2f} x old default quiet)  "
              f"busy loop {busy:9.1f} ({busy / quiet:.2f}; {busy / old_quiet:.2f} x old quiet)  "
              f"torch job {torch_job:9.1f} ({torch_job / quiet:.2f}; "
              f"{torch_job / old_quiet:.2f} x old quiet)", flush=True)
    print("\ncontended / quiet of the same setting; target >= 0.40 beside both")
    for kind in args.workloads.split(","):
        best = max((r for r in rows if r[0] == kind), key=lambda r: min(r[3], r[4]))
        print(f"{kind:6s} best under contention: {best[1]} (busy {best[3]:.1f}, torch job "
              f"{best[4]:.1f}; quiet 2-thread default {rows[[r[0] for r in rows].index(kind)][2]:.1f})")
    print()
    for kind, worst in pool.items():
        print_ratio(f"{kind}, as main.py runs jobs: contended / quiet, the worse competitor", worst,
                    TARGET, fmt=".2f")


if __name__ == "__main__":
    main()
