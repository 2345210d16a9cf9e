"""Experiment A end to end on the --quick path, in a temp folder."""

import dataclasses
import json

import imageio.v3 as iio
import numpy as np
import pytest

import main
from experiments import exp_a_synthetic as exp_a


def _quick_run(tmp_path, capsys, *extra):
    code = main.main(["--experiment", "a", "--quick", "--out", str(tmp_path), *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = next(p for p in tmp_path.iterdir() if p.name.endswith("_a_quick"))
    return run_dir, out


def _science(summary):
    """Summary without wall-clock times."""
    s = dict(summary)
    s.pop("wall_seconds")
    return json.dumps(s, sort_keys=True)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("a")
    code = main.main(["--experiment", "a", "--quick", "--seed", "0", "--workers", "2",
                      "--out", str(tmp)])
    assert code == 0
    return next(p for p in tmp.iterdir() if p.name.endswith("_a_quick")), tmp


def test_run_folder_is_self_describing(quick):
    run_dir, out_root = quick
    for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "learning_times.csv",
                 "exp_a_arrays.npz", "figures/exp_a_fitting.gif",
                 "figures/exp_a_frequency_curves.png", "figures/exp_a_frequency_curves.pdf",
                 "figures/exp_a_gain_curves.png", "figures/exp_a_spectrum_heatmap.png"):
        assert (run_dir / name).is_file(), name
    env = json.loads((run_dir / "env.json").read_text())
    for key in ("python", "torch", "numpy", "cuda", "device", "git_sha", "git_dirty", "seeds"):
        assert key in env
    # a --quick run leaves the stable (README) figures alone
    assert not (out_root / "figures").exists()


def test_stable_figures_point_at_the_latest_full_run(tmp_path):
    from utils import runs

    out_root = tmp_path / "results"
    first, second = out_root / "run1" / "exp_a", out_root / "run2" / "exp_b"
    for run, names in ((first, ("a.png", "b.png")), (second, ("b.png", "c.png"))):
        (run / "figures").mkdir(parents=True)
        for name in names:
            (run / "figures" / name).write_text(f"{run.parent.name}/{name}")
    runs.publish_stable(first, out_root, ["a.png", "b.png", "missing.png"])
    runs.publish_stable(second, out_root, ["b.png", "c.png"])
    figures = out_root / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["LATEST_RUN.txt", "a.png", "b.png", "c.png"]
    assert (figures / "a.png").read_text() == "run1/a.png"
    assert (figures / "b.png").read_text() == "run2/b.png"
    assert (figures / "LATEST_RUN.txt").read_text().splitlines() == [
        "a.png run1/exp_a", "b.png run2/exp_b", "c.png run2/exp_b"]


def test_gif_reads_back_with_frames_duration_and_loop(quick):
    run_dir, _ = quick
    summary = json.loads((run_dir / "summary.json").read_text())
    path = run_dir / "figures" / "exp_a_fitting.gif"
    frames = iio.imread(path, index=None)
    meta = iio.immeta(path)
    assert frames.shape[0] == summary["gif"]["frames"] == exp_a.Config().quick().gif_frames
    assert meta["duration"] == exp_a.Config().quick().gif_frame_ms
    assert meta["loop"] == 0


def test_arrays_and_table_are_consistent(quick):
    run_dir, _ = quick
    arr = np.load(run_dir / "exp_a_arrays.npz")
    cfg = exp_a.Config().quick()
    n_arms, n_seeds = len(cfg.arms), 1
    n_ckpt = arr["steps"].size
    assert arr["steps"][0] == 0 and arr["steps"][-1] == cfg.steps
    assert arr["preds"].shape == (n_arms, n_seeds, n_ckpt, cfg.n_points)
    assert arr["delta"].shape == (n_arms, n_seeds, n_ckpt, len(cfg.freqs))
    # at step 0 the network output is far from the target at every frequency
    assert np.all(arr["delta"][:, :, 0, :] > 0.5)
    rows = (run_dir / "learning_times.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + n_arms * len(cfg.freqs)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert sum('"step"' in ln for ln in lines) == n_arms * n_seeds * n_ckpt


def test_figures_rebuild_from_the_run_folder_alone(quick):
    run_dir, _ = quick
    gif = run_dir / "figures" / "exp_a_fitting.gif"
    gif.unlink()
    paths = exp_a.render_figures(run_dir)
    assert gif.is_file() and all(p.is_file() for p in paths)


def test_same_seed_same_summary_other_seed_differs(quick, tmp_path, capsys):
    """Also across execution modes: the fixture ran its jobs in 2 spawned
    processes with one thread each, ``again`` runs them in this process."""
    run_dir, _ = quick
    first = json.loads((run_dir / "summary.json").read_text())
    again, _ = _quick_run(tmp_path / "again", capsys, "--seed", "0", "--workers", "1")
    other, _ = _quick_run(tmp_path / "other", capsys, "--seed", "1")
    assert _science(json.loads((again / "summary.json").read_text())) == _science(first)
    assert _science(json.loads((other / "summary.json").read_text())) != _science(first)
    np.testing.assert_array_equal(np.load(again / "exp_a_arrays.npz")["preds"],
                                  np.load(run_dir / "exp_a_arrays.npz")["preds"])


def test_arms_share_initial_weights():
    cfg = exp_a.Config().quick()
    arms = exp_a.build_arms(cfg)
    one_step = dataclasses.replace(cfg, steps=1, n_checkpoints=2)
    p0 = [exp_a.train_job(one_step, arm, 0)["preds"][0] for arm in arms]
    for p in p0[1:]:
        np.testing.assert_array_equal(p, p0[0])   # eval mode at step 0: identical networks


def test_short_run_warns_and_table_reports_censoring(tmp_path, capsys):
    run_dir, out = _quick_run(tmp_path, capsys, "--seed", "0", "--epochs", "50")
    assert "WARNING: steps=50 is likely too short" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert any("baseline did not learn k=50" in w for w in summary["warnings"])
    assert "not learned by T=50" in (run_dir / "learning_times.csv").read_text()


def test_non_finite_loss_stops_with_step(tmp_path, capsys):
    code = main.main(["--experiment", "a", "--quick", "--seed", "0", "--out", str(tmp_path),
                      "--set", "lr=1e12", "--set", "warmup_steps=0"])
    err = capsys.readouterr().err
    assert code == 1 and "non-finite" in err and "step" in err
    assert len(err.strip().splitlines()) == 1
