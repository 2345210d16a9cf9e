"""Experiment A end to end on the --quick path, in a temp folder."""

import dataclasses
import json

import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

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


# --- checkpoint placement and the censoring horizon (docs/DEFINITIONS.md section 1) ---

def _window_spans(steps: np.ndarray, w: int, frac: float) -> np.ndarray:
    """Span in steps of the sustained window from each checkpoint whose
    window can be completed (the learning_states rule, restated)."""
    T = steps[-1]
    starts = np.arange(steps.size - w + 1)
    end = np.maximum(steps[starts + w - 1], steps[starts] + frac * T)
    return (end - steps[starts])[end <= T]


@given(steps=st.integers(100, 60_000), n=st.integers(10, 400))
@settings(max_examples=60, deadline=None)
def test_sustained_window_never_spans_more_than_5_percent(steps, n):
    cfg = exp_a.Config()
    ck = exp_a.checkpoint_steps(steps, n, cfg.window_checkpoints)
    assert ck[0] == 0 and ck[-1] == steps and np.all(np.diff(ck) > 0)
    spans = _window_spans(ck.astype(float), cfg.window_checkpoints, cfg.window_fraction)
    assert spans.max() <= exp_a.MAX_WINDOW_FRACTION * steps
    # Never sparser than the log-spaced points: up to any step there are at
    # least as many checkpoints as distinct log points.
    log = np.unique(np.round(np.geomspace(1, steps, n)).astype(np.int64))
    x = np.arange(1, steps + 1)
    assert np.all(np.searchsorted(ck, x, side="right") - 1
                  >= np.searchsorted(log, x, side="right") - 1)


def test_default_run_keeps_its_early_log_points():
    cfg = exp_a.Config()
    ck = exp_a.checkpoint_steps(cfg.steps, cfg.n_checkpoints, cfg.window_checkpoints)
    log = np.unique(np.round(np.geomspace(1, cfg.steps, cfg.n_checkpoints)).astype(np.int64))
    # k = 5 is learned within the first few hundred steps: resolved as before.
    assert set(log[log <= 500].tolist()) <= set(ck.tolist())


def test_short_runs_checkpoint_every_step():
    np.testing.assert_array_equal(exp_a.checkpoint_steps(50, 40), np.arange(51))


def test_checkpoint_steps_reject_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        exp_a.checkpoint_steps(0, 10)
    with pytest.raises(ValueError, match="n"):
        exp_a.checkpoint_steps(100, 1)
    with pytest.raises(ValueError, match="max_window_fraction"):
        exp_a.checkpoint_steps(100, 10, max_window_fraction=0.0)


def test_late_crossing_is_confirmed_now_and_was_censored_by_log_spacing():
    from utils import frequency as fq

    cfg = dataclasses.replace(exp_a.Config(), steps=5000)  # the case docs/DEFINITIONS.md measured
    T = cfg.steps
    old = np.concatenate([[0], np.unique(np.round(np.geomspace(1, T, cfg.n_checkpoints)))])
    new = exp_a.checkpoint_steps(T, cfg.n_checkpoints, cfg.window_checkpoints)
    cross = 0.9 * T          # Delta falls below eps for good at 90% of the run
    for steps, expect in ((new, fq.LearningState.LEARNED), (old, fq.LearningState.UNCONFIRMED)):
        delta = np.where(steps >= cross, 0.01, 1.0)
        r = fq.learning_states(delta, steps, cfg.eps, cfg.window_checkpoints, cfg.window_fraction)
        assert r.state == expect
    assert r.below_since == old[old >= cross][0]
    # The old horizon: the last start whose 5-checkpoint window ends inside the run.
    old_spans = _window_spans(old.astype(float), cfg.window_checkpoints, cfg.window_fraction)
    assert old[old_spans.size - 1] < 0.76 * T
    assert old[old_spans.size - 1] == 3755   # the number docs/DEFINITIONS.md quotes


def test_summarise_reports_three_states_and_warns_for_each():
    from utils import frequency as fq

    cfg = dataclasses.replace(exp_a.Config(), arms=("baseline",), seeds=(0, 1, 2), freqs=(50,))
    arms = exp_a.build_arms(cfg)
    steps = exp_a.checkpoint_steps(cfg.steps, cfg.n_checkpoints, cfg.window_checkpoints)
    C = steps.size
    delta = np.ones((1, 3, C, 1))
    delta[0, 0, C // 2:, 0] = 0.01      # learned at checkpoint C // 2
    delta[0, 1, -2:, 0] = 0.01          # below eps only at the last two checkpoints
    delta[0, 2, :, 0] = 0.4             # never below eps
    gain = 1.0 - delta
    ls = fq.learning_states(np.moveaxis(delta, -2, -1), steps, cfg.eps, cfg.window_checkpoints,
                            cfg.window_fraction)
    m = {"delta": delta, "gain": gain, "t": ls.t, "learned": ls.state == fq.LearningState.LEARNED,
         "state": ls.state, "below_since": ls.below_since}
    per_arm, rows, warnings = exp_a.summarise(cfg, arms, m)
    (row,) = rows
    assert row["t_per_seed"] == f"{steps[C // 2]} {steps[-2]}? -"
    assert row["states"] == "1 learned, 1 unconfirmed, 1 not learned"
    assert row["n_learned"] == "1/3"
    # Median over seeds ranks learned < unconfirmed < not learned: the middle seed is unconfirmed.
    assert row["t_median"] == f"below eps at T={cfg.steps}, not confirmed"
    entry = per_arm["baseline"]["frequencies"]["50"]
    assert entry["state_per_seed"] == ["learned", "unconfirmed", "not learned"]
    assert entry["t_per_seed"] == [float(steps[C // 2]), None, None]
    assert entry["below_since_per_seed"] == [None, float(steps[-2]), None]
    assert entry["final_delta_per_seed"] == [0.01, 0.01, 0.4]
    assert (entry["n_unconfirmed"], entry["n_not_learned"]) == (1, 1)
    assert any("did not learn k=50 in 1/3" in w and "Delta 0.400, gain 0.600" in w
               for w in warnings)
    assert any("not confirmed in 1/3" in w for w in warnings)


def test_short_run_warning_leaves_room_for_the_last_window():
    cfg = exp_a.Config()
    need = exp_a.BASELINE_STEPS_FOR_K50 / (1 - exp_a.MAX_WINDOW_FRACTION)
    assert exp_a.short_run_warning(dataclasses.replace(cfg, steps=int(np.ceil(need)))) is None
    assert "too short" in exp_a.short_run_warning(dataclasses.replace(cfg, steps=int(need) - 1))
    # k_max^2 scaling: half the top frequency needs a quarter of the steps.
    quarter = dataclasses.replace(cfg, freqs=(5, 25), steps=int(np.ceil(need / 4)))
    assert exp_a.short_run_warning(quarter) is None
    # The default run itself leaves the margin.
    assert exp_a.short_run_warning(cfg) is None
