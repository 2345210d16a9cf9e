"""Beside the seven speed questions: how far float32 results move when only
the arithmetic's order changes.

Runs the quick A and B configurations (``main.py --experiment a|b --quick``)
three ways on this machine: in one process at 1 thread (the reference), in
one process at 2 threads, and through a local pool of 2 workers at 1 thread
each. Prints, for each against the reference, whether the science arrays are
bitwise equal and the largest difference of A's learning times t_k (steps),
B's normalised SSR (vs baseline, last epoch), B's final test accuracy and
B's conv1 weights. The pool must equal the reference bitwise (the
reproducibility guarantee, docs/DEFINITIONS.md); the 2-thread numbers measure
the spread to expect between thread counts, and as a rough guide between CPU
models.

    python benchmarks/bench_spread.py [--out DIR] [--set a.steps=...]

``--smoke``: A for 300 steps, B for one epoch of 512 images. Prints numbers;
never asserts.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import REPO_ROOT as ROOT, base_parser, print_ratio, setup

SMOKE = {"a": ["--set", "steps=300"],
         "b": ["--set", "epochs=1", "--set", "n_train=512", "--set", "n_test=256"]}
WAYS = {"1 thread, in-process": dict(threads=1, workers=1),
        "2 threads, in-process": dict(threads=2, workers=1),
        "1 thread, pool of 2": dict(threads=1, workers=2)}


def _run(experiment: str, out: Path, threads: int, workers: int, extra: list[str]) -> Path:
    cmd = [sys.executable, str(ROOT / "main.py"), "--experiment", experiment, "--quick",
           "--threads", str(threads), "--workers", str(workers), "--progress", "off",
           "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench_spread: {' '.join(cmd[1:])} failed: {done.stderr.strip()[-500:]}")
    print(f"  {experiment}, {threads} thread(s), {workers} worker(s): "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return next(out.glob(f"*_{experiment}_quick"))


def _arrays(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files if "seconds" not in k and z[k].dtype.kind in "fiub"}


def _bitwise(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(a[k].tobytes() == b[k].tobytes() for k in a)


def _maxdiff(a: np.ndarray, b: np.ndarray) -> str:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    state = int(np.sum(np.isfinite(a) != np.isfinite(b)))
    d = float(np.max(np.abs(a - b)[both])) if both.any() else 0.0
    return f"{d:.3g}" + (f" (+{state} learned/not)" if state else "")


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--out", type=Path, default=None, help="keep the runs here (default: temp)")
    p.add_argument("--set", action="append", default=[], help="extra --set for both runs")
    args = p.parse_args(argv)
    setup(args)
    extra = [x for s in args.set for x in ("--set", s)]
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_spread_"))
    print(f"# runs in {root}")
    got = {}
    for way, kw in WAYS.items():
        for exp, name in (("a", "exp_a_arrays.npz"), ("b", "exp_b_arrays.npz")):
            more = extra + (SMOKE[exp] if args.smoke else [])
            got[way, exp] = _arrays(_run(exp, root / f"{exp}_{kw['threads']}t_{kw['workers']}w",
                                         extra=more, **kw) / name)
    ref = next(iter(WAYS))
    print(f"\n{'against ' + ref:<32} {'A bitwise':>9} {'A t_k':>14} {'B bitwise':>9} "
          f"{'B SSR_norm':>11} {'B test acc':>10} {'B conv1':>9}")
    for way in list(WAYS)[1:]:
        a0, a1, b0, b1 = got[ref, "a"], got[way, "a"], got[ref, "b"], got[way, "b"]
        print(f"{way:<32} {str(_bitwise(a0, a1)):>9} {_maxdiff(a0['t_learn'], a1['t_learn']):>14} "
              f"{str(_bitwise(b0, b1)):>9} "
              f"{_maxdiff(b0['ssr_base_norm'][..., -1], b1['ssr_base_norm'][..., -1]):>11} "
              f"{_maxdiff(b0['test_acc'][..., -1], b1['test_acc'][..., -1]):>10} "
              f"{_maxdiff(b0['conv1'], b1['conv1']):>9}")
    b0 = got[ref, "b"]
    print(f"\nscale (reference): A t_k {np.nanmin(got[ref, 'a']['t_learn']):.0f}.."
          f"{np.nanmax(got[ref, 'a']['t_learn']):.0f} steps; B SSR_norm last epoch "
          f"{np.nanmin(b0['ssr_base_norm'][..., -1]):.3g}..{np.nanmax(b0['ssr_base_norm'][..., -1]):.3g}; "
          f"B test acc {b0['test_acc'][..., -1].min():.3f}..{b0['test_acc'][..., -1].max():.3f}")
    print()
    pool = "1 thread, pool of 2"
    same = sum(_bitwise(got[ref, e], got[pool, e]) for e in ("a", "b"))
    print_ratio("experiments whose arrays the pool reproduces bitwise / experiments", same / 2,
                1.0, fmt=".2f")
    two = "2 threads, in-process"
    span = float(np.nanmax(b0["ssr_base_norm"][..., -1]) - np.nanmin(b0["ssr_base_norm"][..., -1]))
    d = np.nanmax(np.abs(b0["ssr_base_norm"][..., -1] - got[two, "b"]["ssr_base_norm"][..., -1]))
    print_ratio("largest |B SSR_norm difference|, 2 threads vs 1, / the spread over arms and seeds",
                float(d) / span if span > 0 else float("nan"), fmt=".3g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
