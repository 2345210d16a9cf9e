"""Jobs at once against one job alone: experiment B's training throughput
(train images per second of wall time, all jobs together) with N jobs
sharing the machine's device(s), against one job alone, measured in one run.
Prints, asserts nothing.

On a GPU machine, N jobs share each GPU (``--jobs-per-gpu N``: N processes
per GPU, each its own CUDA context); on a CPU, N processes of one thread each
(``--workers N``). Every job is one (arm, seed) of B's preset for the device
(ResNet-18 on a GPU, the small CNN on a CPU), trained for ``--epochs``.
Results per job are bitwise those of the job alone (the job depends only on
its config, seed and thread count; tests/test_executor.py), so only the speed
is compared here.

    python benchmarks/bench_concurrent_jobs.py --device cuda --jobs 1,2,4 --epochs 2
    python benchmarks/bench_concurrent_jobs.py --device cpu --jobs 1,2 --epochs 1   # 2 cores

Target (issue: several jobs per GPU): the aggregate with N jobs well above
one job's rate where one job leaves the GPU idle (ResNet-18 at batch 512 used
about 20% of an H100's bf16 matmul rate).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARMS = ("baseline", "l2", "dropout", "l2+dropout")


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
        raise SystemExit(f"bench_concurrent_jobs: the run with {n_jobs} jobs failed (exit {code})")
    run = sorted(out.iterdir())[-1]
    s = json.loads((run / "summary.json").read_text())
    return {"jobs": len(s["checkpoints"]), "wall_s": wall, "jobs_wall_s": s["wall_seconds"]["jobs"],
            "images_per_s_all": s["wall_seconds"]["train_images_per_s_all_jobs"],
            "images_per_s_per_job": s["wall_seconds"]["train_images_per_s"]}


def main_() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--jobs", default="1,2,4", help="comma list of jobs at once (default 1,2,4)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--set", dest="sets", action="append", default=[],
                   help="passed to main.py as --set (e.g. n_train=10000)")
    p.add_argument("--out", default=None, help="where the runs go (default: a temp folder)")
    args = p.parse_args()
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_concurrent_jobs: no CUDA device; nothing measured (use --device cpu)")
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
    print(f"\nratio = aggregate images/s / that of {rows[0][0]} job(s) at once")
    for n, r in rows:
        print(f"  {n} at once: {r['images_per_s_all'] / base:.2f}x")


if __name__ == "__main__":
    main_()
