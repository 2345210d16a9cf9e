"""Writes never follow a link out of the run folder (issue 25): a link planted
in a run folder while it is being written (the file itself, or a folder
between the run folder and the file) is refused in one line naming it, or
replaced by the real file inside the folder; the place it points to is never
written."""

import os
from pathlib import Path

import numpy as np
import pytest

import main
from data import cache
from experiments import exp_a_synthetic as exp_a
from utils import runs
from utils.jobs import lock_run_dir, release_run_dirs


@pytest.fixture
def run(tmp_path):
    """A run folder as a run holds it (locked), and a place outside it."""
    run_dir = runs.create_run_dir(tmp_path / "results", "links")
    lock_run_dir(run_dir)
    (tmp_path / "outside").mkdir()
    yield run_dir
    release_run_dirs()


def _outside_file(run_dir: Path) -> Path:
    target = run_dir.parent.parent / "outside" / "victim.txt"
    target.write_text("untouched\n")
    return target


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def _figure():
    from utils.visualization.common import new_figure
    fig = new_figure(2, 2)
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


# each writer of a run folder, and what it writes where (below the link)
WRITERS = {
    "json": lambda p: runs.write_json(p, {"a": 1}),
    "text": lambda p: runs.write_text(p, "x\n"),
    "npz": lambda p: runs.save_npz(p, a=np.arange(3)),
    "torch": lambda p: runs.save_torch(p, {"w": np.arange(3)}),
    "figure": lambda p: __import__("utils.visualization.common", fromlist=["x"]).save_figure(
        _figure(), p.with_suffix(".png")),
    "jsonl": lambda p: runs.JsonlLogger(p).log("step", step=1),
    "jobs": lambda p: __import__("utils.jobs", fromlist=["x"]).JobStore(p.parent).save(
        p.stem, {"k": 1}, {"a": np.arange(2)}),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("linked", ["figures", "checkpoints", "deep/er"])
def test_a_linked_folder_never_receives_a_file(run, writer, linked):
    outside = run.parent.parent / "outside"
    below = run / linked
    below.parent.mkdir(parents=True, exist_ok=True)
    if below.exists():
        below.rmdir()
    below.symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    with pytest.raises(runs.LinkOutOfRunFolder) as info:
        WRITERS[writer](below / "job0" / "file.bin")
    assert str(below) in str(info.value) and "\n" not in str(info.value)
    assert _snapshot(outside) == before


@pytest.mark.parametrize("writer", sorted(set(WRITERS) - {"jsonl", "figure", "jobs"}))
def test_a_link_at_the_file_is_replaced_not_followed(run, writer):
    victim = _outside_file(run)
    target = run / "summary.bin"
    target.symlink_to(victim)
    WRITERS[writer](target)
    assert victim.read_text() == "untouched\n"
    assert target.is_file() and not target.is_symlink() and target.stat().st_size > 0


@pytest.mark.parametrize("name", ["fig.png", "fig.pdf"])
def test_a_linked_figure_file_is_replaced_not_followed(run, name):
    from utils.visualization.common import save_figure
    victim = _outside_file(run)
    (run / "figures" / name).symlink_to(victim)
    save_figure(_figure(), run / "figures" / "fig.png")
    assert victim.read_text() == "untouched\n"
    assert not (run / "figures" / name).is_symlink()


def test_an_appended_log_through_a_link_is_refused(run):
    victim = _outside_file(run)
    (run / "metrics.jsonl").symlink_to(victim)
    with pytest.raises(runs.LinkOutOfRunFolder, match="metrics.jsonl"):
        runs.JsonlLogger(run / "metrics.jsonl").log("epoch", epoch=1)
    assert victim.read_text() == "untouched\n"


def test_a_linked_temporary_name_is_refused(run):
    victim = _outside_file(run)
    (run / f"summary.json.tmp-{os.getpid()}").symlink_to(victim)
    with pytest.raises(runs.LinkOutOfRunFolder, match="summary.json.tmp"):
        runs.write_json(run / "summary.json", {"a": 1})
    assert victim.read_text() == "untouched\n"


def test_a_lock_planted_behind_a_link_does_not_move_the_run_folder(run):
    outside = run.parent.parent / "outside"
    (outside / runs.LOCK_NAME).write_text("")
    (run / "figures").rmdir()
    (run / "figures").symlink_to(outside, target_is_directory=True)
    assert runs.run_root(run / "figures" / "x.png") == run
    with pytest.raises(runs.LinkOutOfRunFolder):
        runs.write_text(run / "figures" / "x.txt", "x")
    assert sorted(p.name for p in outside.iterdir()) == [runs.LOCK_NAME]


def test_links_above_the_run_folder_are_the_users_choice(tmp_path):
    real = tmp_path / "big_disk"
    real.mkdir()
    (tmp_path / "results").symlink_to(real, target_is_directory=True)
    run_dir = runs.create_run_dir(tmp_path / "results", "x")
    lock_run_dir(run_dir)
    try:
        runs.write_json(run_dir / "checkpoints" / "a.json", {"a": 1})
        runs.JsonlLogger(run_dir / "metrics.jsonl").log("step", step=0)
    finally:
        release_run_dirs()
    assert (real / run_dir.name / "checkpoints" / "a.json").is_file()
    assert (real / run_dir.name / "metrics.jsonl").read_text().count("\n") == 1


def test_the_cache_replaces_a_link_at_its_entry(tmp_path):
    victim = tmp_path / "victim.npz"
    victim.write_bytes(b"untouched")
    entry = tmp_path / "cache" / "imagefolder-x.npz"
    entry.parent.mkdir()
    entry.symlink_to(victim)
    cache.atomic_save_arrays(entry, {"a": np.arange(4)})
    assert victim.read_bytes() == b"untouched"
    assert not entry.is_symlink()
    np.testing.assert_array_equal(cache.load_arrays(entry)["a"], np.arange(4))


@pytest.mark.parametrize("plant", ["metrics.jsonl", "figures", "jobs"])
def test_a_link_planted_during_a_run_stops_it_in_one_line(capsys, tmp_path, monkeypatch, plant):
    """End to end: the link appears while the jobs run; the run stops with
    exit 1 naming the link and the folder to resume; nothing lands outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("untouched\n")
    real = exp_a._run_jobs

    def planting(cfg, arms, log, store, launch, run_dir):
        link = Path(run_dir) / plant
        if link.is_dir():
            import shutil
            shutil.rmtree(link)
        link.unlink(missing_ok=True)
        link.symlink_to(victim if plant.endswith(".jsonl") else outside)
        return real(cfg, arms, log, store, launch, run_dir)

    monkeypatch.setattr(exp_a, "_run_jobs", planting)
    code = main.main(["--experiment", "a", "--quick", "--out", str(tmp_path / "results"),
                      "--set", "steps=200"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    run_dir = next((tmp_path / "results").iterdir())
    assert code == 1 and str(run_dir / plant) in lines[0] and f"--resume {run_dir}" in lines[0]
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert victim.read_text() == "untouched\n"
