"""Question 6, memory: peak resident memory of ``python main.py --experiment all``. Prints GiB;
asserts nothing.

Runs the command as a child process with ``--out`` in a temporary folder
(deleted afterwards unless ``--keep``) and reports two peaks:

* the largest single process: ``ru_maxrss`` of ``getrusage(RUSAGE_CHILDREN)``
  after the child (and any worker processes it waited for) has exited;
* the whole process tree: the sum of ``VmRSS`` over the child and its
  descendants, sampled from ``/proc`` every 0.2 s (misses spikes shorter
  than that; Linux only).

Target: under 4 GiB. The default is the real default run (about 20 minutes
on the 2-core CPU); ``--smoke`` passes ``--quick`` to main.py instead.

Run from the repository root: ``python benchmarks/bench_memory.py [--smoke]``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT, base_parser, print_ratio, setup

TARGET_GIB = 4.0
KIB_PER_GIB = 1024 ** 2


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc/<pid>/stat)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # The command name may hold spaces; fields after its ")" are fixed.
                    out[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and all its descendants (0 once gone)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _rss_kib(p)
        stack += children.get(p, [])
    return total


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--keep", action="store_true",
                   help="keep the run folder and print where it is (default: delete it)")
    p.add_argument("extra", nargs="*",
                   help="more main.py arguments after --, e.g. -- --dataset synthetic (default none)")
    args = p.parse_args(argv)
    setup(args)
    out = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    cmd = [sys.executable, "main.py", "--experiment", "all", "--out", str(out),
           *(["--quick"] if args.smoke else []), *args.extra]
    print("# " + " ".join(cmd))
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    tree_peak = 0
    while child.poll() is None:
        tree_peak = max(tree_peak, tree_rss_kib(child.pid))
        time.sleep(0.2)
    stderr = child.stderr.read()
    wall = time.perf_counter() - t0
    process_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    if args.keep:
        print(f"# run folder kept: {out}")
    else:
        shutil.rmtree(out, ignore_errors=True)
    if child.returncode != 0:
        print(f"main.py exited with {child.returncode}; its stderr ends:\n{stderr[-2000:]}")
        raise SystemExit(1)
    print(f"wall time {wall:.0f} s")
    print(f"peak RSS, largest single process: {process_peak / KIB_PER_GIB:.2f} GiB; "
          f"whole process tree (sampled every 0.2 s): {tree_peak / KIB_PER_GIB:.2f} GiB")
    print_ratio("peak RSS of the largest process / 4 GiB", process_peak / KIB_PER_GIB / TARGET_GIB,
                1.0, higher_is_better=False, fmt=".2f")
    print_ratio("peak RSS of the whole process tree / 4 GiB", tree_peak / KIB_PER_GIB / TARGET_GIB,
                1.0, higher_is_better=False, fmt=".2f")


if __name__ == "__main__":
    if os.name != "posix" or not Path("/proc/self/status").exists():
        raise SystemExit("bench_memory.py reads /proc and getrusage: Linux only")
    main()
