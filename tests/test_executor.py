"""Jobs and launchers (utils/executor.py): every backend gives the same bits
as the sequential path, in any order; stored jobs are kept; a killed run
resumes to the identical result; bad launch flags are one line."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from experiments import exp_a_core as core
from experiments import exp_a_synthetic as exp_a
from tests.fixtures.runs import QUICK_ALL, run_main
from utils.executor import Job, Launch, local_workers, run_jobs
from utils.jobs import JobStore

ROOT = Path(__file__).resolve().parent.parent

# Small A jobs with every kind of arm (penalty, decoupled, dropout).
CFG = dataclasses.replace(exp_a.Config().quick(), steps=150, n_checkpoints=20, seeds=(0, 1),
                          arms=("baseline", "l2", "dec:l2=1e-3,l2_mode=decoupled",
                                "dropout"))


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise, NaN where NaN (not-learned times are NaN)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _arrays(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files if "seconds" not in k}


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k]["preds"], b[k]["preds"]), k
        assert np.array_equal(a[k]["loss"], b[k]["loss"]), k


@pytest.fixture(scope="module")
def sequential():
    """A's jobs one after another in this process: stacked per seed (the
    default, stack=0) and one job per stack (stack=1)."""
    arms = core.build_arms(CFG)
    return {b: exp_a._run_jobs(dataclasses.replace(CFG, stack=b), arms, log=lambda s: None,
                               launch=Launch(workers=1)) for b in (0, 1)}


@pytest.mark.parametrize("stack", [0, 1])
@pytest.mark.slow
def test_local_pool_equals_sequential(sequential, stack):
    arms = core.build_arms(CFG)
    pooled = exp_a._run_jobs(dataclasses.replace(CFG, stack=stack), arms,
                             log=lambda s: None, launch=Launch(workers=2))
    _same(sequential[stack], pooled)


SWEEP = ["--experiment", "a", "--quick", "--epochs", "150", "--set", "n_checkpoints=20",
         "--sweep", "l2=0,1e-4,1e-3", "--arm", "drop:dropout=0.1", "--progress", "off"]


@pytest.fixture(scope="module")
def sweep_sequential(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq")
    assert main.main([*SWEEP, "--workers", "1", "--out", str(out)]) == 0
    return _arrays(next(out.glob("*/exp_a_arrays.npz")))


def _sweep_through(out: Path, *flags) -> dict:
    assert main.main([*SWEEP, *flags, "--out", str(out)]) == 0
    return _arrays(next(out.glob("*/exp_a_arrays.npz")))


@pytest.mark.slow
def test_submitit_local_sweep_equals_sequential(sweep_sequential, tmp_path):
    """A real sweep through submitit's local executor (the SLURM code path,
    jobs as local subprocesses) gives the sequential run's bits."""
    pytest.importorskip("submitit", reason="submitit is not installed (pip install -e .[slurm])")
    got = _sweep_through(tmp_path, "--launcher", "slurm", "--slurm-cluster", "local")
    assert sorted(got) == sorted(sweep_sequential)
    assert all(_equal(got[k], sweep_sequential[k]) for k in got)
    assert list(tmp_path.glob("*/slurm/*/*.out")), "submitit kept no job logs"


@pytest.mark.slow
def test_ray_local_sweep_equals_sequential(sweep_sequential, tmp_path):
    """The same sweep as Ray tasks on a fresh local instance (2 CPUs)."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -e .[ray])")
    got = _sweep_through(tmp_path, "--launcher", "ray", "--ray-num-cpus", "2")
    assert sorted(got) == sorted(sweep_sequential)
    assert all(_equal(got[k], sweep_sequential[k]) for k in got)


@pytest.mark.slow
def test_order_does_not_matter(sequential):
    """One-job jobs run in reverse order, in this process: the same bits per job."""
    arms = core.build_arms(CFG)
    grid = [(a, s) for a in range(len(arms)) for s in range(len(CFG.seeds))][::-1]
    jobs = [Job(core.job_name(arms[a], CFG.seeds[s]), core.train_job,
                (CFG, arms[a], CFG.seeds[s])) for a, s in grid]
    done = run_jobs(jobs, Launch(workers=1), log=lambda s: None)
    _same(sequential[1], {g: done[j.name] for g, j in zip(grid, jobs)})


def _count_calls(marker: str, value: int) -> dict:
    with open(marker, "a") as fh:
        fh.write(f"{value}\n")
    return {"value": np.array(value * 2)}


def test_stored_jobs_are_kept_and_keys_must_match(tmp_path):
    marker = tmp_path / "calls.txt"
    store = JobStore(tmp_path / "jobs")
    jobs = [Job(f"j{i}", _count_calls, (str(marker), i), key={"i": i}) for i in range(3)]
    first = run_jobs(jobs, Launch(workers=1), store=store, log=lambda s: None)
    assert marker.read_text().split() == ["0", "1", "2"]
    lines = []
    again = run_jobs(jobs, Launch(workers=1), store=store, log=lines.append)
    assert marker.read_text().split() == ["0", "1", "2"]  # nothing ran again
    assert all("kept" in line for line in lines) and len(lines) == 3
    assert {k: int(v["value"]) for k, v in again.items()} == {k: int(v["value"])
                                                              for k, v in first.items()}
    changed = [dataclasses.replace(jobs[0], key={"i": 0, "other": True})]
    run_jobs(changed, Launch(workers=1), store=store, log=lambda s: None)
    assert marker.read_text().split() == ["0", "1", "2", "0"]  # another key: computed again


def _fail(x):
    raise FloatingPointError(f"job {x} diverged")


@pytest.mark.slow
def test_a_failing_job_raises_its_own_error_from_a_pool():
    jobs = [Job("ok", _count_calls, (os.devnull, 1)), Job("bad", _fail, (7,))]
    with pytest.raises(FloatingPointError, match="job 7 diverged"):
        run_jobs(jobs, Launch(workers=2), log=lambda s: None)


def test_duplicate_names_are_refused():
    job = Job("x", _count_calls, (os.devnull, 1))
    with pytest.raises(ValueError, match="unique"):
        run_jobs([job, job], Launch(workers=1), log=lambda s: None)


def test_progress_lines_name_each_job_and_its_headline(capsys):
    cfg = dataclasses.replace(CFG, arms=("baseline",))
    lines = []
    exp_a._run_jobs(cfg, core.build_arms(cfg), log=lines.append, launch=Launch(workers=1))
    assert len(lines) == 2
    assert "[1/2] stack0_seed0: 1 job(s), train MSE" in lines[0] and "eta" in lines[0]
    assert "[2/2] stack1_seed1: 1 job(s), train MSE" in lines[1] and "eta" not in lines[1]


def test_local_workers_policy():
    cores = os.cpu_count() or 1
    assert local_workers(Launch(), "cpu", 100) == cores
    assert local_workers(Launch(threads=cores), "cpu", 100) == 1
    assert local_workers(Launch(workers=3), "cpu", 2) == 2  # never more than the jobs
    assert local_workers(Launch(workers=1), "cpu", 9) == 1


# --------------------------------------------------------------------------
# whole runs through main
# --------------------------------------------------------------------------

SCIENCE = {"exp_a": "exp_a_arrays.npz", "exp_b": "exp_b_arrays.npz", "exp_c": "exp_c_arrays.npz"}


def _flags(**launch) -> list[str]:
    """The shared quick run's flags (tests/fixtures/runs.py) with other launch flags."""
    flags = list(QUICK_ALL)
    for flag, value in launch.items():
        i = flags.index(f"--{flag}")
        flags[i + 1] = str(value)
    return flags


@pytest.mark.slow
def test_every_experiment_is_bitwise_the_same_through_a_pool(quick_all, tmp_path):
    """The shared quick run (one process) and the same flags through a pool
    of two workers: the same bits in A, B and C."""
    done = run_main(tmp_path, *_flags(workers=2))
    assert done.returncode == 0, done.stderr[-2000:]
    two = next(tmp_path.glob("*_all_quick"))
    b = json.loads((quick_all / "config.json").read_text())["experiments"]["b"]
    n = len(b["arms"]) * len(b["seeds"])  # one line per (arm, seed) job, in B and in C
    assert f"[exp B] [{n}/{n}]" in done.stdout and f"[exp C] [{n}/{n}]" in done.stdout
    for part, name in SCIENCE.items():
        a, b = _arrays(quick_all / part / name), _arrays(two / part / name)
        assert sorted(a) == sorted(b), part
        for k in a:
            assert _equal(a[k], b[k]), f"{part}/{name}: {k}"
    recorded = json.loads((two / "config.json").read_text())["launch"]
    assert recorded["workers"] == 2 and recorded["threads"] == 1


@pytest.mark.slow
def test_one_arm_of_b_alone_equals_the_same_arm_among_all(quick_all, tmp_path):
    """A job depends on its own arm and seed only: B with the l2 arm alone
    (one seed) gives the bits of that arm and seed inside the default
    several-arm run."""
    done = run_main(tmp_path, "--experiment", "b", "--quick", "--workers", "1",
                    "--progress", "off", "--arm", "l2", "--seeds", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    one = _arrays(next(tmp_path.glob("*_b_quick")) / SCIENCE["exp_b"])
    four = _arrays(quick_all / "exp_b" / SCIENCE["exp_b"])
    n_arms = len(four["arms"])
    assert one["arms"].tolist() == ["l2"] and n_arms >= 4
    a, s = four["arms"].tolist().index("l2"), four["seeds"].tolist().index(0)
    # every per-(arm, seed) array but the comparison with a baseline the lone arm lacks
    compared = [k for k in one if not k.startswith("ssr_base")
                and one[k].ndim >= 2 and one[k].shape[:2] == (1, 1)
                and four[k].shape[:2] == (n_arms, len(four["seeds"]))]
    assert {"conv1", "test_acc", "train_loss"} <= set(compared)
    for k in compared:
        assert _equal(one[k][0, 0], four[k][a, s]), k


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(quick_all, tmp_path):
    """C on the shared run's B models, killed (the write-count fault hook) in
    the middle of a write after some of its jobs were stored: --resume through
    a pool of two keeps them (not evaluated again) and ends with the bits of
    the uninterrupted C inside the shared run."""
    flags = ["--experiment", "c", "--quick", "--workers", "1", "--progress", "off",
             "--from-run", quick_all / "exp_b"]
    for n in (8, 12, 16):  # C's first writes: config, env, ..., then one per stored job
        out = tmp_path / f"kill{n}"
        killed = run_main(out, *flags, env={"FREQREG_FAULT_AFTER_WRITES": str(n)})
        assert killed.returncode == 137, killed.stderr[-2000:]
        run_dir = next(out.glob("*_c_quick"))
        kept = {p.name: p.stat().st_mtime_ns for p in (run_dir / "jobs").glob("*.npz")}
        if 1 <= len(kept) < 8:
            break
    assert 1 <= len(kept) < 8, f"no kill between C's jobs: {sorted(kept)}"
    resumed = subprocess.run([sys.executable, "main.py", "--resume", str(run_dir),
                              "--workers", "2"], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("kept from the interrupted run") == len(kept)
    for name, mtime in kept.items():  # finished jobs were loaded, not evaluated again
        assert (run_dir / "jobs" / name).stat().st_mtime_ns == mtime
    a, b = _arrays(run_dir / SCIENCE["exp_c"]), _arrays(quick_all / "exp_c" / SCIENCE["exp_c"])
    assert sorted(a) == sorted(b)
    for k in a:
        assert _equal(a[k], b[k]), k


# --------------------------------------------------------------------------
# bad launch input: one line, exit 2
# --------------------------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--threads", "0"], "--threads: expected an integer >= 1"),
    (["--workers", "-1"], "--workers: expected an integer >= 0"),
    (["--slurm-partition", "gpu"], "--slurm-partition needs --launcher slurm"),
    (["--ray-address", "auto"], "--ray-address needs --launcher ray"),
    (["--launcher", "ray", "--ray-gpus", "nan"], "--ray-gpus: expected a number >= 0"),
    (["--launcher", "mpi"], "invalid choice"),
])
def test_bad_launch_flags(flags, message, tmp_path, capsys):
    code = main.main(["--experiment", "a", "--quick", "--out", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # no folder for bad input


@pytest.mark.slow
def test_missing_backend_package_is_one_line(tmp_path):
    """As on a base install without the extra (the package hidden)."""
    script = ("import sys; sys.modules['submitit'] = None; import main; "
              f"sys.exit(main.main(['--experiment', 'a', '--quick', '--launcher', 'slurm', "
              f"'--out', {str(tmp_path)!r}]))")
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == ("main.py: error: --launcher slurm needs the 'submitit' package: "
                                  "pip install -e .[slurm]")


def test_slurm_without_slurm_is_refused_not_run_here(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install -e .[slurm])")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    code = main.main(["--experiment", "a", "--quick", "--launcher", "slurm", "--out",
                      str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "no SLURM here (sbatch is not on PATH)" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ray_job_larger_than_the_cluster_is_refused(tmp_path, capsys):
    pytest.importorskip("ray", reason="ray is not installed (pip install -e .[ray])")
    code = main.main(["--experiment", "a", "--quick", "--launcher", "ray", "--ray-num-cpus", "1",
                      "--threads", "2", "--progress", "off", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "each job asks for 2 CPU(s)" in err and "the cluster has 1" in err


def test_resume_accepts_job_flags_but_not_threads(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"argv": [], "experiments": {
        "a": dataclasses.asdict(exp_a.Config().quick())}}))
    code = main.main(["--resume", str(run), "--threads", "2"])
    assert code == 2 and "--threads" in capsys.readouterr().err


@pytest.mark.slow
def test_config_rerun_keeps_the_thread_count_and_the_bits(tmp_path):
    """--config RUN_DIR/config.json reruns with the folder's --threads (the
    bits depend on it), on any number of workers."""
    flags = ["--experiment", "a", "--quick", "--seed", "0", "--epochs", "120",
             "--set", "arms=baseline,dropout"]
    assert main.main([*flags, "--threads", "2", "--workers", "1", "--out", str(tmp_path / "a")]) == 0
    first = next(p.parent for p in (tmp_path / "a").glob("*/config.json"))
    assert json.loads((first / "config.json").read_text())["launch"]["threads"] == 2
    assert main.main(["--config", str(first / "config.json"), "--workers", "2",
                      "--out", str(tmp_path / "b")]) == 0
    again = next(p.parent for p in (tmp_path / "b").glob("*/config.json"))
    launch = json.loads((again / "config.json").read_text())["launch"]
    assert launch["threads"] == 2 and launch["workers"] == 2
    a, b = _arrays(first / "exp_a_arrays.npz"), _arrays(again / "exp_a_arrays.npz")
    assert all(_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_run_experiment_takes_job_settings(tmp_path):
    run = main.run_experiment("a", {"steps": 60, "seeds": (0,), "arms": ("baseline",)},
                              out=tmp_path, quick=True, log_to_stdout=False,
                              jobs={"workers": 1, "threads": 1})
    assert json.loads((run / "config.json").read_text())["launch"]["workers"] == 1
    with pytest.raises(ValueError, match="unknown key 'gpus'"):
        main.run_experiment("a", out=tmp_path, quick=True, jobs={"gpus": 2})
