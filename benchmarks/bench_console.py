"""Console latencies of ``main.py`` as a user at a terminal sees them.

1. Time from the command to its first output and to its first progress line,
   per experiment (a, b, c, all), with ``--quick`` and with the default sizes.
   A *progress line* reports work done: a count ``n/N`` with ``n >= 1`` (a
   job line ``[1/6]``, a bar past zero, ``step 250/10,000``). The command runs
   on a pseudo-terminal (bars and all, as typed) and is killed as soon as its
   first progress line shows.
2. Ctrl-C and SIGTERM on a pooled run (``--workers 2``): SIGINT goes to the
   whole process group, as a terminal's Ctrl-C does, SIGTERM to the main
   process alone, as ``kill PID`` does; both are sent once the first progress
   line shows (the pool is busy). Reported: the time to exit, the exit code
   (130 / 143 expected) and whether the last line names the folder to resume.

    python benchmarks/bench_console.py                 # everything (minutes)
    python benchmarks/bench_console.py --only a --only all --skip-signals

C alone evaluates a finished B run: one quick B run is trained first (not
timed) and both C runs evaluate its models (``--set c.b_run=...``).

Prints numbers, never asserts. Every run writes into a temporary folder that
is removed afterwards.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import REPO_ROOT, base_parser, print_ratio, print_table, setup, spread

EXPERIMENTS = ("a", "b", "c", "all")
# ESC [ ... final byte: colours and cursor moves of the bars
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "n/N" with n >= 1 (thousands separators allowed): work has been done
_PROGRESS = re.compile(r"(?<![\w.])0*[1-9][\d,]*/[\d,]+(?![\w.])")


@dataclass
class Seen:
    first_output: float | None = None    # seconds from the start
    first_progress: float | None = None
    progress_text: str = ""
    exit_seconds: float | None = None    # after the signal, when one was sent
    returncode: int | None = None       # after the signal, or when it ended on its own
    last_line: str = ""


def _segments(text: str) -> list[str]:
    """Lines and bar redraws (split at \\n and \\r), colours removed."""
    return [s.strip() for s in re.split(r"[\r\n]+", _ANSI.sub("", text)) if s.strip()]


def watch(argv: list[str], timeout: float, send: int | None = None,
          to_group: bool = True) -> Seen:
    """Run ``argv`` in its own session on a pseudo-terminal; note when the
    first output and the first progress line arrive. Without ``send``, kill
    the process group at the first progress line; with it, send that signal
    (to the group or to the main process) and time the exit."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, env=env, close_fds=True)
    os.close(slave)
    seen, buf, signalled_at = Seen(), "", None
    try:
        while True:
            now = time.perf_counter() - t0
            if now > timeout and signalled_at is None:
                break
            if signalled_at is not None and now - signalled_at > timeout:
                break
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536).decode("utf-8", "replace")
                except OSError:  # the pty closed: every writer has exited
                    chunk = ""
                if not chunk and proc.poll() is not None:
                    break
                buf += chunk
                if chunk and seen.first_output is None:
                    seen.first_output = now
            elif proc.poll() is not None:
                break
            segments = _segments(buf)
            if segments:
                seen.last_line = segments[-1]
            if seen.first_progress is None:
                hit = next((s for s in segments if _PROGRESS.search(s)), None)
                if hit is not None:
                    seen.first_progress, seen.progress_text = now, hit[:100]
                    if send is None:
                        break
                    signalled_at = now
                    if to_group:
                        os.killpg(proc.pid, send)
                    else:
                        proc.send_signal(send)
        if signalled_at is None and proc.poll() is not None:  # ended on its own
            seen.returncode = proc.returncode
        if signalled_at is not None and proc.poll() is not None:
            proc.wait()
            seen.exit_seconds = time.perf_counter() - t0 - signalled_at
            seen.returncode = proc.returncode
            # drain what the exiting process wrote last
            while select.select([master], [], [], 0.2)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                buf += data.decode("utf-8", "replace")
            segments = _segments(buf)
            seen.last_line = segments[-1] if segments else ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return seen


def command(experiment: str, quick: bool, out: str, *extra: str) -> list[str]:
    return [sys.executable, "main.py", "--experiment", experiment, *(["--quick"] * quick),
            "--out", out, *extra]


def train_b(scratch: str) -> str:
    """A finished quick B run (the models C's timings evaluate); its folder."""
    out = tempfile.mkdtemp(dir=scratch)
    t0 = time.perf_counter()
    done = subprocess.run(command("b", True, out, "--progress", "off"), cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training B's quick models for C failed ({done.returncode}): "
                         f"{done.stderr.strip().splitlines()[-1:]}")
    (run,) = Path(out).iterdir()
    print(f"  (B's quick models for C trained in {time.perf_counter() - t0:.0f} s: {run})",
          flush=True)
    return str(run)


FIRST_PROGRESS_TARGET = 5.0  # issue 23: progress "within a few seconds" in every experiment
STOP_TARGET = 5.0            # Ctrl-C stops a pooled run "within a few seconds"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def main() -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--only", action="append", choices=EXPERIMENTS,
                   help="experiments to time (repeatable; default all four)")
    p.add_argument("--sizes", choices=("quick", "default", "both"), default="both")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for a first progress line, and for an exit")
    p.add_argument("--skip-signals", action="store_true", help="no Ctrl-C / SIGTERM runs")
    p.add_argument("--skip-latency", action="store_true", help="no first-progress runs")
    args = p.parse_args()
    if args.timeout <= 0:
        raise SystemExit(f"--timeout: expected > 0 seconds, got {args.timeout:g}")
    setup(args)
    if args.smoke:  # one quick run of A: checks the script, not the machine
        args.only, args.sizes, args.skip_signals = ["a"], "quick", True
    threads = ["--threads", str(args.threads)] if args.threads else []
    sizes = {"quick": [True], "default": [False], "both": [True, False]}[args.sizes]
    scratch = tempfile.mkdtemp(prefix="bench_console_")
    try:
        if not args.skip_latency:
            rows, b_run, slowest = [], None, []
            for exp in args.only or EXPERIMENTS:
                for quick in sizes:
                    outs, progs, what = [], [], ""
                    models = []
                    if exp == "c":  # C alone evaluates the models of a finished B run
                        b_run = b_run or train_b(scratch)
                        models = ["--set", f"c.b_run={b_run}"]
                    for r in range(args.repeats):
                        out = tempfile.mkdtemp(dir=scratch)
                        seen = watch(command(exp, quick, out, *threads, *models), args.timeout)
                        shutil.rmtree(out, ignore_errors=True)
                        print(f"  {exp:>3s} {'--quick' if quick else 'default'}: first output "
                              f"{_fmt(seen.first_output)} s, first progress "
                              f"{_fmt(seen.first_progress)} s: {seen.progress_text!r}",
                              flush=True)
                        outs.append(seen.first_output)
                        progs.append(seen.first_progress)
                        what = seen.progress_text or (
                            f"(exited {seen.returncode} first: {seen.last_line[:40]})"
                            if seen.returncode is not None else f"(none in {args.timeout:g} s)")
                    slowest.append(None if None in progs else max(progs))
                    rows.append([f"{exp} {'--quick' if quick else '(default sizes)'}",
                                 _spread(outs), _spread(progs), what[:60]])
            print_table("Seconds from the command to its first output / first progress line "
                        "(median [IQR] over repeats; on a pseudo-terminal)",
                        ["run", "first output", "first progress", "first progress line"], rows)
            firsts = [v for v in slowest if v is not None]
            print_ratio("slowest first progress line over the runs (s)",
                        max(firsts) if firsts and len(firsts) == len(slowest) else float("inf"),
                        FIRST_PROGRESS_TARGET, higher_is_better=False, fmt=".1f")
        if not args.skip_signals:
            rows = []
            for name, sig, group in (("Ctrl-C (SIGINT to the group)", signal.SIGINT, True),
                                     ("SIGTERM (main process)", signal.SIGTERM, False)):
                for r in range(args.repeats):
                    out = tempfile.mkdtemp(dir=scratch)
                    seen = watch(command("a", False, out, "--workers", "2", *threads), args.timeout,
                                 send=sig, to_group=group)
                    named = "--resume " in seen.last_line and out in seen.last_line
                    shutil.rmtree(out, ignore_errors=True)
                    print(f"  {name}: sent at {_fmt(seen.first_progress)} s, exit after "
                          f"{_fmt(seen.exit_seconds)} s, rc {seen.returncode}, last line "
                          f"{seen.last_line[:140]!r}", flush=True)
                    rows.append([name, _fmt(seen.first_progress), _fmt(seen.exit_seconds),
                                 str(seen.returncode), "yes" if named else "NO"])
            print_table("A pooled run (--experiment a --workers 2), signalled at its first "
                        "progress line", ["signal", "sent at (s)", "exit after (s)", "exit code",
                                          "names --resume folder"], rows)
            exits = [float(r[2]) if r[2] != "-" else float("inf") for r in rows]
            print_ratio("slowest exit after a signal (s)", max(exits), STOP_TARGET,
                        higher_is_better=False, fmt=".1f")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _spread(values: list[float | None]) -> str:
    done = [v for v in values if v is not None]
    if not done:
        return "-"
    text = spread(done).format(".1f")
    return text if len(done) == len(values) else f"{text} ({len(values) - len(done)} none)"


if __name__ == "__main__":
    main()
