"""Benchmark: training throughput beside one competing CPU-bound process,
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

    python benchmarks/bench_contention.py [--seconds 4]

Target: contended / quiet >= 0.4 for every workload beside both competitors.
Prints, asserts nothing. The machine must be otherwise idle for the numbers
to mean anything; the load average at start is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=4.0, help="per measurement (default 4)")
    p.add_argument("--workloads", default="a64,a192d,b,c", help="comma list (default all)")
    args = p.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
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
    for kind in args.workloads.split(","):
        old_quiet = next(r[2] for r in rows if r[0] == kind and r[1] == "2 threads, default wait")
        quiet = measure(kind, policy, args.seconds, None, cores)
        busy = measure(kind, policy, args.seconds, BUSY, cores)
        torch_job = measure(kind, policy, args.seconds, TORCH_JOB, cores)
        print(f"{kind:6s} pool quiet {quiet:9.1f} ({quiet / old_quiet:.2f} x old default quiet)  "
              f"busy loop {busy:9.1f} ({busy / quiet:.2f}; {busy / old_quiet:.2f} x old quiet)  "
              f"torch job {torch_job:9.1f} ({torch_job / quiet:.2f}; "
              f"{torch_job / old_quiet:.2f} x old quiet)", flush=True)
    print("\nratio = contended / quiet of the same setting; target >= 0.40 beside both")
    for kind in args.workloads.split(","):
        best = max((r for r in rows if r[0] == kind), key=lambda r: min(r[3], r[4]))
        print(f"{kind:6s} best under contention: {best[1]} (busy {best[3]:.1f}, torch job "
              f"{best[4]:.1f}; quiet 2-thread default {rows[[r[0] for r in rows].index(kind)][2]:.1f})")


if __name__ == "__main__":
    main()
