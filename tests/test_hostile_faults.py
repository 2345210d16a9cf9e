"""Faults of the machine, signals, one writer per folder, links, and the
error boundary by cause (issue 25): one clear line and the right exit code
(2 for bad input, before any folder; 1 for a failure during work, naming the
folder to resume; 143 for SIGTERM), never a traceback, a hang or a write
outside the run folder."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import main
from experiments import exp_a_synthetic as exp_a
from tests.fixtures.runs import one_line as _one_line, run_cli as _run

ROOT = Path(__file__).resolve().parent.parent


def _empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# --------------------------------------------------------------------------- signals

def test_sigterm_in_process_is_like_ctrl_c(capsys, tmp_path, monkeypatch):
    def terminated(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM was not handled")
    monkeypatch.setattr(exp_a, "_run_jobs", terminated)
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--out", tmp_path)
    line = _one_line(err)
    run_dir = next(tmp_path.glob("*_a_quick"))
    assert code == 143 and "SIGTERM" in line and f"--resume {run_dir}" in line
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after main


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids.update(int(t) for t in text)
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_sigterm_stops_a_pooled_run_and_its_workers(tmp_path):
    cmd = [sys.executable, str(ROOT / "main.py"), "--experiment", "b", "--quick", "--seeds", "2",
           "--workers", "2", "--set", "b.epochs=200", "--progress", "off", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 240
        workers = set()
        while time.time() < deadline and len(workers) < 2:  # the pool is up
            time.sleep(1.0)
            workers = {p for p in _children(proc.pid) if _alive(p)}
            assert proc.poll() is None, proc.communicate()
        time.sleep(2.0)
        workers = {p for p in _children(proc.pid) if _alive(p)}
        assert workers
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert took < 20
    run_dir = next(tmp_path.glob("*_b_quick"))
    assert f"--resume {run_dir}" in _one_line(err)
    time.sleep(1.0)
    assert not [p for p in workers if _alive(p)], "pool workers outlived the run"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, needle", [
    ("127.0.0.1:{port}", "nothing answers"), ("ray://127.0.0.1:{port}", "nothing answers"),
    ("localhost", "host:port"), ("127.0.0.1:99999", "host:port")])
def test_a_dead_ray_address_fails_in_seconds_before_the_folder(capsys, tmp_path, address, needle):
    address = address.format(port=_free_port())
    t0 = time.time()
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--launcher", "ray",
                          "--ray-address", address, "--out", tmp_path / "out")
    assert code == 2 and needle in _one_line(err) and time.time() - t0 < 15
    assert _empty(tmp_path / "out")


# --------------------------------------------------------------------------- machine faults

@pytest.mark.parametrize("err_no", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_machine_fault_mid_run_is_exit_1_naming_the_folder(capsys, tmp_path, monkeypatch,
                                                            err_no):
    def fault(*a, **k):
        raise OSError(err_no, os.strerror(err_no), str(tmp_path / "x.npz"))
    monkeypatch.setattr(exp_a, "_run_jobs", fault)
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--out", tmp_path)
    line = _one_line(err)
    run_dir = next(tmp_path.glob("*_a_quick"))
    assert code == 1 and os.strerror(err_no) in line and f"--resume {run_dir}" in line


def test_unreadable_input_before_the_folder_stays_bad_input(capsys, tmp_path):
    code, out, err = _run(capsys, "--config", tmp_path / "nope.json", "--out", tmp_path / "out")
    assert code == 2 and "nope.json" in _one_line(err) and _empty(tmp_path / "out")


# --------------------------------------------------------------------------- the user's model

@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """``write(source) -> 'module:make'``: a fresh module of the user's on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def write(source: str) -> str:
        name = f"user_{uuid.uuid4().hex[:8]}"
        (site / f"{name}.py").write_text(source)
        return f"{name}:make"
    return write


_GOOD = """
import torch
from torch import nn
class Net(nn.Module):
    def __init__(self, num_classes, in_channels, outputs=None, fail=False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.fc = nn.Linear(4, outputs or num_classes)
        self.fail = fail
    def forward(self, x):
        if self.fail and self.training:
            raise RuntimeError("only in training: mat1 and mat2 shapes cannot be multiplied")
        return self.fc(self.conv1(x).mean((2, 3)))
"""


@pytest.mark.parametrize("source, code_, needle", [
    ("def make(:\n", 1, "failed at import: SyntaxError"),
    ("import sys\nsys.exit(0)\n", 1, "failed at import: SystemExit"),
    ("import not_a_module_anywhere_xyz\n", 1, "failed at import: ModuleNotFoundError"),
    ("def make(num_classes, in_channels, regimen=None):\n    raise RuntimeError('boom')\n", 1,
     "failed in its factory: RuntimeError: boom"),
    ("def make(num_classes, in_channels, regimen=None):\n    return 3\n", 2,
     "expected an nn.Module"),
    (_GOOD + "def make(num_classes, in_channels, regimen=None):\n"
             "    return Net(num_classes, in_channels, outputs=num_classes - 1)\n", 2,
     "expected logits of shape"),
    (_GOOD + "class Bad(Net):\n    def forward(self, x):\n        return self.fc(x)\n"
             "def make(num_classes, in_channels, regimen=None):\n"
             "    return Bad(num_classes, in_channels)\n", 1, "failed in its forward pass"),
])
def test_the_users_model_failing_before_work(capsys, tmp_path, user_module, source, code_, needle):
    spec = user_module(source)
    code, out, err = _run(capsys, "--experiment", "b", "--quick", "--seeds", "1",
                          "--set", f"b.model={spec}", "--out", tmp_path / "out")
    line = _one_line(err)
    assert code == code_ and needle in line and "internal error" not in line
    if code_ == 1:
        assert f"your model {spec}" in line
    assert _empty(tmp_path / "out")


def test_the_users_model_failing_during_training_keeps_its_traceback(capsys, tmp_path,
                                                                    user_module):
    spec = user_module(_GOOD + "def make(num_classes, in_channels, regimen=None):\n"
                               "    return Net(num_classes, in_channels, fail=True)\n")
    code, out, err = _run(capsys, "--experiment", "b", "--quick", "--seeds", "1", "--workers", "1",
                          "--set", f"b.model={spec}", "--out", tmp_path)
    line = _one_line(err)
    run_dir = next(tmp_path.glob("*_b_quick"))
    assert code == 1 and f"your model {spec} failed in its forward pass" in line
    assert "error.log" in line and f"--resume {run_dir}" in line
    assert "only in training" in (run_dir / "error.log").read_text()


# --------------------------------------------------------------------------- before the folder

@pytest.mark.parametrize("argv, needle", [
    (["--experiment", "a", "--threads", "2147483648"], "--threads"),
    (["--experiment", "a", "--threads", "100000"], "--threads"),
    (["--experiment", "a", "--epochs", "10000000000"], "steps"),
    (["--experiment", "a", "--set", "a.device=cuda"], "device"),
    (["--experiment", "b", "--set", "b.device=cuda:0"], "device"),
    (["--experiment", "b", "--set", "b.widths="], "widths"),
    (["--experiment", "b", "--quick", "--set", "b.n_train=none", "--set", "b.batch_size=100000"],
     "batch_size"),
])
def test_checked_before_the_folder(capsys, tmp_path, argv, needle):
    import torch
    if "cuda" in " ".join(argv) and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, out, err = _run(capsys, *argv, "--out", tmp_path / "out")
    assert code == 2 and needle in _one_line(err)
    assert _empty(tmp_path / "out")


@pytest.mark.parametrize("shape, batch_size, match", [
    ((64, 3, 2, 2), 16, "cannot take images of shape"),      # too small for the poolings
    ((40, 3, 16, 16), 64, "batch_size: expected at most the 40"),  # batch above the data
])
def test_data_the_model_cannot_take_from_python(tmp_path, shape, batch_size, match):
    """Refused before any folder, through the Python API."""
    import torch
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    y = torch.arange(shape[0]) % 4
    with pytest.raises(ValueError, match=match):
        main.run_experiment("b", {"seeds": (0,), "epochs": 1, "batch_size": batch_size,
                             "n_train": None, "n_test": None},
                            data=(x, y, x, y), dataset_id="tiny", out=tmp_path / "out",
                            log_to_stdout=False)
    assert _empty(tmp_path / "out")


# --------------------------------------------------------------------------- one writer

def _a_folder(tmp_path) -> Path:
    import dataclasses
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"argv": [], "experiments": {"a": dataclasses.asdict(exp_a.Config().quick())}}))
    return run


def _hold(run: Path):
    """Another process holding the folder's lock."""
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from utils.jobs import "
            f"lock_run_dir; lock_run_dir({str(run)!r}); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused(capsys, tmp_path):
    run = _a_folder(tmp_path)
    holder = _hold(run)
    try:
        before = sorted(p.name for p in run.iterdir())
        for argv in (["--resume", run], ["--report", run]):
            code, out, err = _run(capsys, *argv)
            line = _one_line(err)
            if argv[0] == "--report":
                assert code == 2  # not a finished folder or busy: refused either way
                continue
            assert code == 2 and "another process" in line and str(holder.pid) in line
        assert sorted(p.name for p in run.iterdir()) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder gone (even killed), the lock is free again
    from utils.jobs import lock_run_dir, release_run_dirs
    lock_run_dir(run)
    release_run_dirs()


def test_new_runs_in_one_second_get_their_own_folders(tmp_path):
    from utils import runs
    from utils.jobs import lock_run_dir, release_run_dirs
    a = runs.create_run_dir(tmp_path, "same")
    b = runs.create_run_dir(tmp_path, "same")
    assert a != b
    lock_run_dir(a)
    lock_run_dir(b)
    release_run_dirs()


# --------------------------------------------------------------------------- links

@pytest.mark.parametrize("linked", ["metrics.jsonl", "error.log", "checkpoints", "figures",
                                    "jobs", ".freqreg-run.lock"])
def test_resume_refuses_a_folder_with_a_link(capsys, tmp_path, linked):
    run = _a_folder(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / linked
    if linked in ("checkpoints", "figures", "jobs"):
        target.mkdir()
    else:
        target.write_text("")
    (run / linked).symlink_to(target)
    code, out, err = _run(capsys, "--resume", run)
    assert code == 2 and "link" in _one_line(err)
    assert sorted(p.name for p in outside.rglob("*")) == [linked]
    assert target.is_dir() or target.read_text() == ""


def test_error_log_is_not_written_through_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("")
    (tmp_path / "error.log").symlink_to(outside)
    try:
        raise RuntimeError("x")
    except RuntimeError:
        assert main._write_error_log(tmp_path) is None
    assert outside.read_text() == ""


def test_dangling_out_is_one_line(capsys, tmp_path):
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--out", tmp_path / "out")
    assert code == 2 and "does not exist" in _one_line(err)
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("parts, needle", [({"a": "../outside"}, "inside"),
                                           ({"a": "/etc"}, "inside"),
                                           ({"z": "exp_z"}, "'z'")])
def test_report_checks_part_names_first(capsys, tmp_path, parts, needle):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "outside").mkdir()
    (run / "summary.json").write_text(json.dumps({"experiment": "all", "parts": parts}))
    code, out, err = _run(capsys, "--report", run)
    assert code == 2 and needle in _one_line(err)
    assert not any((tmp_path / "outside").iterdir())


def test_report_of_an_unknown_experiment(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"experiment": "q"}))
    code, out, err = _run(capsys, "--report", run)
    assert code == 2 and "'q'" in _one_line(err)


@pytest.mark.parametrize("folders", [["one"], ["one", "one"]])
def test_compare_of_one_folder_is_refused_before_its_folder(capsys, tmp_path, folders):
    (tmp_path / "one").mkdir()
    code, out, err = _run(capsys, "--compare", *[tmp_path / f for f in folders],
                          "--out", tmp_path / "cmp")
    assert code == 2 and "at least two" in _one_line(err)
    assert not (tmp_path / "cmp").exists()
