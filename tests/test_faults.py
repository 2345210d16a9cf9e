"""Bad input and faults: one clear line and a non-zero exit, or a correct
result; never a traceback, never a silently wrong number, nothing written
lost. The three silent-wrong cases of the outside tester are regression tests
here (NaN strengths, resume of an 'all' folder; the image cache lives in
tests/test_data_hostile.py)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from experiments import exp_a_synthetic as exp_a
from tests.fixtures.runs import one_line as _one_line, run_cli as _run, QUICK_ALL, run_main, \
    subprocess_env

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- silent wrong

@pytest.mark.parametrize("argv, needle", [
    (["--experiment", "a", "--set", "l2_reg=nan"], "l2_reg"),
    (["--experiment", "a", "--set", "l2_reg=inf"], "l2_reg"),
    (["--experiment", "a", "--sweep", "l2=0,1e-4,nan"], "l2"),
    (["--experiment", "a", "--arm", "x:l2=nan"], "l2"),
    (["--experiment", "b", "--set", "lr=nan"], "lr"),
    (["--experiment", "b", "--set", "momentum=1.5"], "momentum"),
    (["--experiment", "a", "--set", "lr=-1"], "lr"),
    (["--experiment", "b", "--set", "warmup_epochs=-1"], "warmup_epochs"),
    (["--experiment", "b", "--set", "eval_batch_size=0"], "eval_batch_size"),
    (["--experiment", "b", "--set", "k1=41"], "k1"),
    (["--experiment", "b", "--set", "seeds=0,0"], "seeds"),
    (["--experiment", "b", "--arm", "l2", "--arm", "l2"], "repeat"),
    (["--experiment", "b", "--arm", "l2", "--arm", "twin:l2=5e-3"], "same regimen"),
    (["--experiment", "b", "--set", "batch_size=20000"], "batch_size"),
    (["--experiment", "b", "--set", "hff_cutoff=nan"], "hff_cutoff"),
    (["--experiment", "a", "--arm", "c:dropout=0.1,dropout_at=conv"], "dropout_at"),
    (["--experiment", "a", "--arm", "ls:label_smoothing=0.1"], "label_smoothing"),
    (["--experiment", "a", "--seed", "99999999999999999999"], "int64"),
    (["--experiment", "a", "--epochs", "99999999999999999999"], "int64"),
    (["--experiment", "c", "--set", "n_bands=1"], "n_bands"),
])
def test_bad_values_stop_before_any_folder(capsys, tmp_path, argv, needle):
    code, out, err = _run(capsys, *argv, "--out", tmp_path / "out")
    assert code == 2
    assert needle in _one_line(err)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_nan_from_python_or_a_saved_config_is_refused(tmp_path):
    import dataclasses
    with pytest.raises(ValueError, match="l2_reg"):
        exp_a.run(dataclasses.replace(exp_a.Config().quick(), l2_reg=float("nan")), tmp_path)
    cfg = {"argv": [], "experiments": {"a": {**dataclasses.asdict(exp_a.Config()),
                                             "l2_reg": None}}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    code = main.main(["--resume", str(tmp_path)])
    assert code == 2


def test_enormous_l2_stops_on_the_objective(capsys, tmp_path):
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--seed", "0",
                          "--set", "l2_reg=1e37", "--arm", "l2", "--out", tmp_path)
    assert code == 1
    assert "non-finite objective at step" in _one_line(err)


# --------------------------------------------------------------------------- resume

def _arrays(run_dir: Path) -> dict:
    out = {}
    for name in ("exp_a/exp_a_arrays.npz", "exp_b/exp_b_arrays.npz", "exp_c/exp_c_arrays.npz"):
        with np.load(run_dir / name) as z:
            for k in z.files:  # the science, not the wall-clock timings
                if z[k].dtype.kind in "fiub" and "seconds" not in k:
                    out[f"{name}:{k}"] = z[k]
    return out


def _resume(run_dir: Path, *flags, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--resume", str(run_dir),
                           *flags], capture_output=True, text=True, cwd=ROOT, timeout=1200,
                          env=subprocess_env(env))


# One folder killed again and again: the first process dies in its 2nd write
# (env.json, before any job); each --resume after it dies in its own N-th write
# (writes counted per process), N picked from the write order of a quick run
# so that the kill lands in the part named: A's last figure (the GIF), B in the
# middle of its second job (after that job's first epoch), C among its jobs.
# The test checks where the temporary lies, so a change in the write order
# fails here instead of moving a kill silently.
KILLS = (("exp_a", 22), ("exp_b", 24), ("exp_c", 82))


@pytest.mark.slow
def test_killed_during_writes_then_resumed_equals_uninterrupted(quick_all, tmp_path):
    """Fault injection: a process dies in the middle of its N-th atomic write
    (temporary written, target not yet replaced): the first run at its start,
    then each --resume in turn inside A, B and C (one run folder resumed
    after each kill: every part's resume, and a resume of a resumed run);
    the last --resume, through the local pool, gives arrays bitwise equal to
    the uninterrupted shared quick run, every B epoch logged once, and no
    temporary file left behind."""
    want = _arrays(quick_all)
    b_cfg = json.loads((quick_all / "config.json").read_text())["experiments"]["b"]
    b_epochs = len(b_cfg["arms"]) * len(b_cfg["seeds"]) * b_cfg["epochs"]
    killed = run_main(tmp_path, *QUICK_ALL, env={"FREQREG_FAULT_AFTER_WRITES": "2"})
    assert killed.returncode == 137, killed.stderr[-500:]
    run_dir = next(tmp_path.glob("*_all_quick"))
    assert [p.name.split(".tmp-")[0] for p in run_dir.rglob("*.tmp-*")] == ["env.json"]
    for part, n in KILLS:
        # the resumes before the last in one process (quicker, and the writes
        # counted are this process's own)
        killed = _resume(run_dir, "--workers", "1", env={"FREQREG_FAULT_AFTER_WRITES": str(n)})
        assert killed.returncode == 137, (part, n, killed.stderr[-500:])
        tmp = list(run_dir.rglob("*.tmp-*"))
        assert len(tmp) == 1 and tmp[0].relative_to(run_dir).parts[0] == part, (part, n, tmp)
    resumed = _resume(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert not list(run_dir.rglob("*.tmp-*"))
    got = _arrays(run_dir)
    assert sorted(got) == sorted(want)
    for k in want:
        assert np.array_equal(got[k], want[k], equal_nan=True), k
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["experiment"] == "all" and summary["finished"]
    # every epoch of every B job logged exactly once
    lines = [json.loads(x) for x in (run_dir / "exp_b" / "metrics.jsonl").read_text().splitlines()]
    epochs = [(r["arm"], r["seed"], r["epoch"]) for r in lines if r["kind"] == "epoch"]
    assert len(epochs) == len(set(epochs)) == b_epochs
    # killed in its very first write (config.json): nothing to continue, said in one line
    killed = run_main(tmp_path / "kill1", *QUICK_ALL, env={"FREQREG_FAULT_AFTER_WRITES": "1"})
    assert killed.returncode == 137
    resumed = _resume(next((tmp_path / "kill1").glob("*_all_quick")))
    assert resumed.returncode == 2 and "--resume" in _one_line(resumed.stderr)


def test_resume_refuses_other_flags(capsys, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"experiments": {"a": {}}}))
    code, out, err = _run(capsys, "--resume", tmp_path, "--epochs", "3")
    assert code == 2 and "takes no other flags" in _one_line(err) and "--epochs" in err


def test_resume_of_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, out, err = _run(capsys, "--resume", tmp_path)
    assert code == 2 and "config.json" in _one_line(err)
    (tmp_path / "config.json").write_text("{ truncated")
    code, out, err = _run(capsys, "--resume", tmp_path)
    assert code == 2 and "config.json" in _one_line(err)


# --------------------------------------------------------------------------- files read late

@pytest.fixture
def quick_b_run(quick_all):
    return quick_all / "exp_b"  # read-only: the tests below copy it to break it


def test_c_checks_b_inputs_before_any_folder(capsys, tmp_path, quick_b_run):
    import shutil
    broken = tmp_path / "broken_b"
    shutil.copytree(quick_b_run, broken)
    arrays = broken / "exp_b_arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:100])                  # truncated
    code, out, err = _run(capsys, "--experiment", "c", "--quick", "--from-run", broken,
                          "--out", tmp_path / "out")
    assert code == 2 and "exp_b_arrays.npz" in _one_line(err)
    assert not (tmp_path / "out").exists()
    ck = next((quick_b_run / "checkpoints").glob("*.pt"))
    shutil.copytree(quick_b_run, tmp_path / "nock")
    (tmp_path / "nock" / "checkpoints" / ck.name).unlink()
    code, out, err = _run(capsys, "--experiment", "c", "--quick", "--from-run", tmp_path / "nock",
                          "--out", tmp_path / "out")
    assert code == 2 and "missing" in _one_line(err)
    assert not (tmp_path / "out").exists()


def test_report_and_compare_on_garbage_are_one_line(capsys, tmp_path, quick_b_run):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(quick_b_run, bad)
    (bad / "exp_b_arrays.npz").write_bytes(b"PK\x03\x04garbage")
    code, out, err = _run(capsys, "--report", bad)
    assert code == 2 and str(bad) in _one_line(err)
    (tmp_path / "empty").mkdir()
    code, out, err = _run(capsys, "--compare", quick_b_run, tmp_path / "empty",
                          "--out", tmp_path / "cmp")
    assert code == 2 and "empty" in _one_line(err)
    assert not (tmp_path / "cmp").exists()


def test_unexpected_error_is_one_line_with_the_traceback_kept(capsys, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("a bug")
    monkeypatch.setattr(exp_a, "_run_jobs", boom)
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--out", tmp_path)
    assert code == 1
    line = _one_line(err)
    assert "internal error: RuntimeError" in line and "error.log" in line
    log = next(tmp_path.glob("*/error.log")).read_text()
    assert "Traceback" in log and "a bug" in log


def test_ctrl_c_is_one_line_and_names_the_folder(capsys, tmp_path, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(exp_a, "_run_jobs", interrupted)
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--out", tmp_path)
    assert code == 130 and "--resume" in _one_line(err)
