"""A resume reproduces or refuses (issue 25): every stored file carries its
job's key; a damaged or foreign one (truncated, deleted, another arm's) is a
miss whose job runs again, bitwise as before; a config.json changed between
the kill and ``--resume`` is refused in one line naming the field, before
any work."""

import json
import shutil

import numpy as np
import pytest

import main
from experiments import cli
from tests.fixtures.runs import one_line as _one_line, run_cli as _run


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert main.main(["--experiment", "b", "--quick", "--seeds", "1", "--arm", "baseline",
                      "--arm", "l2", "--out", str(out)]) == 0
    return next(out.glob("*_b_quick"))


def _arrays(run_dir):
    with np.load(run_dir / "exp_b_arrays.npz") as z:
        return {k: z[k] for k in z.files if z[k].dtype.kind in "fiub" and "seconds" not in k}


def _copy(ref, tmp_path, finished=True):
    dst = tmp_path / "run"
    shutil.copytree(ref, dst)
    if not finished:
        (dst / "summary.json").unlink()
    return dst


def _same_science(a, b):
    want, got = _arrays(a), _arrays(b)
    assert sorted(got) == sorted(want)
    for k in want:
        assert np.array_equal(got[k], want[k], equal_nan=True), k


def _epoch_lines(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["arm"], r["seed"], r["epoch"]) for r in rows if r["kind"] == "epoch"]


def _swap(p, q):
    tmp = p.with_suffix(".swap")
    p.rename(tmp), q.rename(p), tmp.rename(q)


_UNFINISHED = ["swap_histories", "delete_histories", "truncate_history", "truncate_checkpoint",
               "swap_checkpoints"]
_FINISHED = ["truncate_history", "truncate_checkpoint"]  # a finished part: its files read back


@pytest.mark.parametrize("damage, finished", [(d, False) for d in _UNFINISHED]
                         + [(d, True) for d in _FINISHED])
def test_damaged_or_foreign_files_run_again_bitwise(capsys, tmp_path, ref, damage, finished):
    run = _copy(ref, tmp_path, finished)
    hist, ck = run / "history", run / "checkpoints"
    if damage == "swap_histories":
        _swap(hist / "baseline_seed0.npz", hist / "l2_seed0.npz")
    elif damage == "swap_checkpoints":
        _swap(ck / "baseline_seed0.pt", ck / "l2_seed0.pt")
    elif damage == "delete_histories":
        shutil.rmtree(hist)
    elif damage == "truncate_history":
        p = hist / "l2_seed0.npz"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    else:
        p = ck / "l2_seed0.pt"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    code, out, err = _run(capsys, "--resume", run)
    assert code == 0, err
    assert "runs again" in out or "run again" in out
    _same_science(ref, run)
    lines = _epoch_lines(run)
    assert len(lines) == len(set(lines)) == 2 * 2  # every epoch logged once


@pytest.mark.parametrize("field, value", [("lr", 0.011), ("batch_size", 32), ("data_seed", 7),
                                          ("n_train", 256), ("momentum", 0.5),
                                          ("norm", "none"), ("epochs", 3)])
def test_a_changed_config_is_refused_naming_the_field(capsys, tmp_path, ref, field, value):
    run = _copy(ref, tmp_path, finished=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["experiments"]["b"][field] != value
    cfg["experiments"]["b"][field] = value
    (run / "config.json").write_text(json.dumps(cfg))
    before = (run / "metrics.jsonl").read_bytes()
    code, out, err = _run(capsys, "--resume", run)
    assert code == 2
    line = _one_line(err)
    assert f"{field}: saved" in line and "config.json" in line
    assert (run / "metrics.jsonl").read_bytes() == before  # nothing done


def test_a_changed_thread_count_is_refused(capsys, tmp_path, ref):
    run = _copy(ref, tmp_path, finished=False)
    cfg = json.loads((run / "config.json").read_text())
    cfg["launch"]["threads"] = 2
    (run / "config.json").write_text(json.dumps(cfg))
    code, out, err = _run(capsys, "--resume", run)
    assert code == 2 and "threads: saved 1, this run 2" in _one_line(err)


def test_resume_of_a_quick_run_stays_in_process(tmp_path, ref):
    saved = json.loads((ref / "config.json").read_text())["launch"]
    assert saved["workers"] == 1
    args = cli.build_parser().parse_args(["--resume", str(ref)])
    assert cli.build_launch(cli.launch_fields(args), saved, resuming=True).workers == 1
    args = cli.build_parser().parse_args(["--resume", str(ref), "--workers", "2"])
    assert cli.build_launch(cli.launch_fields(args), saved, resuming=True).workers == 2
    args = cli.build_parser().parse_args(["--config", str(ref)])
    assert cli.build_launch(cli.launch_fields(args), saved).workers == 0  # a new run: this machine's pool
