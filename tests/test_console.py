"""What the console costs before it talks, and the harness that times it
(``benchmarks/bench_console.py``)."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_console  # noqa: E402


def test_env_record_reads_versions_without_importing_torchvision():
    """Every run writes env.json before its first job: importing torchvision
    there (for its version alone) delayed the first progress line by 3-12 s."""
    code = textwrap.dedent("""
        import sys
        from utils import runs
        rec = runs.env_record("cpu", [0])
        assert "torchvision" not in sys.modules, "env_record imported torchvision"
        import matplotlib, scipy, imageio, torchvision
        for mod in (torchvision, matplotlib, scipy, imageio):
            # the installed distribution's version: __version__ up to a local build tag
            assert rec[mod.__name__] == mod.__version__.split("+")[0], (mod, rec[mod.__name__])
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# A stand-in for a pooled run: a bar at zero, then a job line, then it waits
# to be stopped and names the folder to resume, as main.py does.
FAKE_RUN = textwrap.dedent("""
    import signal, sys, time
    def stop(signum, frame):
        print("freqreg: interrupted; continue with --resume /tmp/run-x", file=sys.stderr,
              flush=True)
        sys.exit(128 + signum)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("run folder: /tmp/run-x", flush=True)
    print("\\x1b[2K[exp A]:   0%|          | 0/2 [00:00<?, ?job/s]\\r", end="", file=sys.stderr,
          flush=True)
    time.sleep(0.3)
    print("  [exp A] [1/2] stack0_seed0: train MSE 1e-3", flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_console_harness_times_first_progress_and_the_exit(sig, group):
    seen = bench_console.watch([sys.executable, "-c", FAKE_RUN], timeout=30, send=sig,
                               to_group=group)
    # a bar at 0/2 is output, not progress; the job line [1/2] is progress
    assert seen.first_output is not None and seen.first_progress is not None
    assert seen.first_output < seen.first_progress
    assert seen.progress_text.startswith("[exp A] [1/2]")
    assert seen.returncode == 128 + sig
    assert seen.exit_seconds is not None and seen.exit_seconds < 30
    assert "--resume /tmp/run-x" in seen.last_line


def test_console_harness_kills_the_run_at_its_first_progress_line():
    seen = bench_console.watch([sys.executable, "-c", FAKE_RUN], timeout=30)
    assert seen.progress_text.startswith("[exp A] [1/2]")
    assert seen.returncode is None and seen.exit_seconds is None  # killed, not signalled


def _at(first: float, period: float):
    """Times (s from the job's start) for the throttle tests: just before and
    after the first line is due, then just before and after a period later."""
    return first - 0.1, first + 0.1, first + 0.1 + period - 0.2, first + 0.1 + period + 0.2


def test_c_jobs_report_progress_soon_then_at_most_every_period(monkeypatch, capsys):
    """C's job (one model: curves, then the heat map) says how far it is on
    stderr, as A's stacks do: first FIRST_PROGRESS_SECONDS in, then at most
    every PROGRESS_SECONDS over its stages, never for a finished stage."""
    from experiments import exp_c_robustness as exp_c
    early, first, soon, later = _at(exp_c.FIRST_PROGRESS_SECONDS, exp_c.PROGRESS_SECONDS)
    clock = [100.0]
    monkeypatch.setattr(exp_c.time, "perf_counter", lambda: clock[0])
    stage = exp_c.job_progress("l2_seed3")
    curves = stage("curves")
    heat = stage("heat map")
    for at, fn, done, total in [(early, curves, 10, 100), (first, curves, 20, 100),
                                (soon, heat, 5, 50), (later, heat, 50, 50), (later, heat, 40, 50)]:
        clock[0] = 100.0 + at
        fn(done, total)
    err = capsys.readouterr().err.splitlines()
    assert err == ["  [exp C] l2_seed3: curves 20/100 images",
                   "  [exp C] l2_seed3: heat map 40/50 images"]


def test_b_jobs_report_steps_soon_then_at_most_every_period(monkeypatch, capsys):
    """B's job in a pool worker (no bar there) says its epoch and step on
    stderr: first FIRST_PROGRESS_SECONDS in, then at most every
    PROGRESS_SECONDS over the whole job."""
    from experiments import exp_b_spectrum_evolution as exp_b
    early, first, soon, later = _at(exp_b.FIRST_PROGRESS_SECONDS, exp_b.PROGRESS_SECONDS)
    clock = [0.0]
    monkeypatch.setattr(exp_b.time, "perf_counter", lambda: clock[0])
    lines = exp_b.step_progress("l2_seed1", epochs=3)
    for at, epoch, step in ((early, 0, 10), (first, 0, 20), (soon, 1, 5), (later, 1, 390),
                            (later, 1, 7)):
        clock[0] = at
        lines(epoch)(step, 390)
    assert capsys.readouterr().err.splitlines() == [
        "  [exp B] l2_seed1: epoch 1/3, step 20/390",
        "  [exp B] l2_seed1: epoch 2/3, step 7/390"]


def test_train_one_epoch_calls_a_progress_callable_after_every_step():
    import torch

    from utils import training
    N, bs = 23, 4
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (N, 1, 4, 4), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 3, (N,), generator=g)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []
    out = training.train_one_epoch(model, x, y, optimizer=opt, scheduler=None, batch_size=bs,
                                   mean=[0.5], std=[0.25], epoch=0, seed=0, device="cpu",
                                   progress=lambda step, steps: calls.append((step, steps)))
    assert out["steps"] == N // bs
    assert calls == [(i, N // bs) for i in range(1, N // bs + 1)]


def test_a_stacks_report_their_first_step_soon(monkeypatch, capsys):
    """A's stack says its step FIRST_PROGRESS_SECONDS into the job (here 0:
    at the first check, every 10 steps), then at most every PROGRESS_SECONDS."""
    from experiments import exp_a_core as core
    monkeypatch.setattr(core, "FIRST_PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(core, "PROGRESS_SECONDS", 3600.0)
    cfg = core.Config(width=8, depth=2, steps=30, warmup_steps=2, n_checkpoints=5, seeds=(0,),
                      freqs=(2, 5), n_points=64)
    core.train_stack(cfg, [(core.build_arms(cfg)[0], 0)], name="stack0_seed0")
    assert capsys.readouterr().err.splitlines() == ["  [exp A] stack0_seed0: step 10/30"]


def test_console_harness_reports_a_run_that_ends_before_any_progress():
    seen = bench_console.watch([sys.executable, "-c", "print('main.py: error: no B run'); "
                                "raise SystemExit(2)"], timeout=30)
    assert seen.first_progress is None and seen.returncode == 2
    assert seen.last_line == "main.py: error: no B run"
