"""Experiment A end to end on the --quick path, in a temp folder."""

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import main
from experiments import exp_a_analysis as analysis
from experiments import exp_a_core as exp_a
from tests.fixtures.runs import SMALL_A, subprocess_env
from utils.regimen import Regimen

ROOT = Path(__file__).resolve().parent.parent


# What ``--quick *SMALL_A`` runs: the checks on a run folder do not depend on its size.
SMALL = dataclasses.replace(exp_a.Config().quick(), steps=30, n_checkpoints=10, gif_frames=4)


def _quick_run(tmp_path, capsys, *extra):
    code = main.main(["--experiment", "a", "--quick", *SMALL_A, "--out", str(tmp_path), *extra])
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
    code = main.main(["--experiment", "a", "--quick", *SMALL_A, "--seed", "0", "--workers", "2",
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
    assert frames.shape[0] == summary["gif"]["frames"] == SMALL.gif_frames
    assert meta["duration"] == SMALL.gif_frame_ms
    assert meta["loop"] == 0


def test_arrays_and_table_are_consistent(quick):
    run_dir, _ = quick
    arr = np.load(run_dir / "exp_a_arrays.npz")
    cfg = SMALL
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
    paths = analysis.render_figures(run_dir)
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
    with open(run_dir / "learning_times.csv", newline="") as fh:
        k50 = next(r for r in csv.DictReader(fh) if r["arm"] == "baseline" and r["k"] == "50")
    assert (k50["t_median"], k50["t_median_state"]) == ("", "not learned")
    assert int(k50["n_not_learned"]) >= 1


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


def test_summarise_reports_three_states_and_warns_for_each(tmp_path):
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
    per_arm, rows, records, warnings = analysis.summarise(cfg, arms, m)
    (row,), (record,) = rows, records
    assert row["t_per_seed"] == f"{steps[C // 2]} {steps[-2]}? -"
    assert row["states"] == "1 learned, 1 unconfirmed, 1 not learned"
    assert row["n_learned"] == "1/3"
    # Median over seeds ranks learned < unconfirmed < not learned: the middle seed is unconfirmed.
    assert row["t_median"] == f"below eps at T={cfg.steps}, not confirmed"
    # the CSV's row holds numbers (and the state as a word), read back as written
    with open(analysis.write_table(tmp_path / "t.csv", records), newline="") as fh:
        (read,) = list(csv.DictReader(fh))
    assert tuple(read) == analysis.TABLE_COLUMNS
    assert (read["t_median"], read["t_median_state"]) == ("", "unconfirmed")
    assert [int(read[c]) for c in ("n_seeds", "n_learned", "n_unconfirmed", "n_not_learned")] \
        == [3, 1, 1, 1]
    final = np.array([0.01, 0.01, 0.4])
    assert float(read["final_delta"]) == pytest.approx(final.mean())
    assert float(read["final_delta_lo"]) <= final.mean() <= float(read["final_delta_hi"])
    assert float(read["final_gain"]) == pytest.approx((1 - final).mean())
    assert float(read["final_gain_lo"]) <= (1 - final).mean() <= float(read["final_gain_hi"])
    assert record["t_median"] is None
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


# --------------------------------------------------------------------------- the trainer

def _few_steps(**kw):
    return dataclasses.replace(exp_a.Config().quick(), steps=20, warmup_steps=5, n_checkpoints=8,
                               seeds=(0, 1), **kw)


@pytest.mark.parametrize("mode", [{}, {"l2_mode": "decoupled", "train_points": "even",
                                       "noise_freqs": (7,)}])
def test_stacked_jobs_agree_with_single_jobs(one_thread, mode):
    """J jobs as one stack against the same J jobs alone (J = 1, same code,
    same masks: each job draws them from its own generator).

    Tolerance: the stack's batched products sum in another order than the
    single job's, a relative difference of a few float32 ulps per product;
    over ``steps`` updates that grows at most about linearly while the
    trajectories stay close (20 steps; after hundreds of Adam steps the
    difference is chaotic and reaches 0.1). Bound: 4 ulps (eps = 2^-23) per
    step, relative to the output's scale. A job trained with another job's
    masks misses it by orders of magnitude (the control below)."""
    cfg = _few_steps(**mode)
    arms = exp_a.build_arms(cfg)
    jobs = [(a, s) for s in cfg.seeds for a in arms]
    stacked = exp_a.train_jobs(cfg, jobs)
    tol = 4 * cfg.steps * np.finfo(np.float32).eps
    for (arm, seed), got in zip(jobs, stacked):
        alone = exp_a.train_job(cfg, arm, seed)
        scale = max(1.0, float(np.abs(alone["preds"]).max()))
        np.testing.assert_allclose(got["preds"], alone["preds"], rtol=0, atol=tol * scale)
        np.testing.assert_allclose(got["loss"], alone["loss"], rtol=tol, atol=0)
    # control: the dropout arm of seed 0 with seed 1's mask stream
    d = next(j for j, (a, s) in enumerate(jobs) if a.dropout > 0 and s == 0)
    other = dataclasses.replace(cfg, seeds=(0,))
    mp = pytest.MonkeyPatch()
    mp.setattr(exp_a, "MASK_SEED", exp_a.MASK_SEED + 1)
    try:
        moved = exp_a.train_job(other, jobs[d][0], 0)
    finally:
        mp.undo()
    assert np.abs(moved["preds"] - stacked[d]["preds"]).max() > 100 * tol


def test_a_job_does_not_depend_on_its_stack_mates_masks(one_thread):
    # the dropout job's numbers in a stack with or without other dropout jobs
    cfg = _few_steps()
    arms = {a.name: a for a in exp_a.build_arms(cfg)}
    with_other = exp_a.train_jobs(cfg, [(arms["dropout"], 1), (arms["dropout"], 0)])[1]
    alone = exp_a.train_jobs(cfg, [(arms["dropout"], 0)])[0]
    tol = 4 * cfg.steps * np.finfo(np.float32).eps
    np.testing.assert_allclose(with_other["preds"], alone["preds"], rtol=0, atol=tol)


def test_stacks_depend_on_the_config_only():
    cfg = dataclasses.replace(exp_a.Config(), stack=0)
    arms = exp_a.build_arms(cfg)
    assert exp_a.stacks(cfg, arms) == [[(a, s) for a in range(3)] for s in range(3)]
    assert exp_a.stacks(exp_a.Config(), arms) == [[(a, s)] for s in range(3) for a in range(3)]
    two = dataclasses.replace(cfg, stack=2)
    assert [len(g) for g in exp_a.stacks(two, arms)] == [2, 2, 2, 2, 1]
    keys = [exp_a.stack_key(cfg, arms, g) for g in exp_a.stacks(cfg, arms)]
    assert [j["seed"] for j in keys[1]["jobs"]] == [1, 1, 1]
    assert "batched" not in json.dumps(keys)


def _main_a(out, *extra, env=None):
    argv = [sys.executable, str(ROOT / "main.py"), "--experiment", "a", "--quick", *SMALL_A,
            "--set", "stack=1", "--progress", "off", "--threads", "1", "--out", str(out), *extra]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=subprocess_env(env))


def _a_arrays(run_dir):
    with np.load(run_dir / "exp_a_arrays.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.mark.slow
def test_run_resume_after_a_kill_is_bitwise_equal(tmp_path):
    """One machine, one thread count: an uninterrupted run in one process and
    the same run killed in the middle of a write (the write-count fault seam,
    tests/fault_seam) and resumed give the same bits. (The same jobs through a
    pool: tests/test_executor.py, stack=1 and the whole run.)"""
    ref = _main_a(tmp_path / "ref", "--workers", "1")
    assert ref.returncode == 0, ref.stderr[-800:]
    want = _a_arrays(next((tmp_path / "ref").glob("*")))
    killed = _main_a(tmp_path / "kill", "--workers", "1", env={"FREQREG_FAULT_AFTER_WRITES": "5"})
    assert killed.returncode == 137, killed.stderr[-800:]
    run_dir = next((tmp_path / "kill").glob("*"))
    kept = list((run_dir / "jobs").glob("*.npz"))
    assert 0 < len(kept) < 6, kept            # the kill landed between the stacks
    resumed = subprocess.run([sys.executable, "main.py", "--resume", str(run_dir), "--workers", "1"],
                             capture_output=True, text=True, timeout=600, cwd=ROOT,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert "kept from the interrupted run" in resumed.stdout + resumed.stderr
    got = _a_arrays(run_dir)
    assert sorted(got) == sorted(want)
    for k in want:
        if want[k].dtype.kind in "fiub":
            assert np.array_equal(got[k], want[k], equal_nan=True), k


def test_dropout_masks_drop_at_the_rate_and_refuse_a_rate_that_rounds_to_none(one_thread):
    # the realised rate of a long run of masks against round(p 2^15) / 2^15,
    # within 5 binomial standard deviations
    cfg = dataclasses.replace(_few_steps(), steps=1, seeds=(0,), width=256, depth=2, n_points=1024)
    arm = Regimen(name="d", dropout=0.3, dropout_at="hidden")
    seen = []

    class Spy(exp_a.StackedMLP):
        def forward(self, u, masks=None):
            if masks is not None:
                seen.extend(m.clone() for m in masks)
            return super().forward(u, masks)

    mp = pytest.MonkeyPatch()
    mp.setattr(exp_a, "StackedMLP", Spy)
    try:
        exp_a.train_job(cfg, arm, 0)
    finally:
        mp.undo()
    m = torch.cat([x.flatten() for x in seen])
    rate = exp_a.mask_threshold(0.3) / 2 ** exp_a.MASK_BITS
    assert torch.unique(m).tolist() == pytest.approx([0.0, 1 / 0.7])
    dropped = float((m == 0).double().mean())
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / m.numel())
    with pytest.raises(ValueError, match="dropout"):
        exp_a.mask_threshold(1e-6)


def test_progress_is_called_every_n_steps(one_thread):
    cfg = dataclasses.replace(_few_steps(), seeds=(0,))
    calls = []
    exp_a.train_jobs(cfg, [(exp_a.build_arms(cfg)[0], 0)], progress=lambda s, n: calls.append((s, n)),
                     progress_every=6)
    assert calls == [(6, 20), (12, 20), (18, 20), (20, 20)]


def test_dose_heat_map_shows_the_censored_bound_not_the_survivors_median(tmp_path, monkeypatch):
    # the case: the baseline learned k = 50 at 4,200 / 4,198 / 4,100;
    # the strongest arm learned it in one seed (+3,704) and never in two: the
    # median delay is at least T - 4,198 = 5,802, not +3,704 "over 1 seed"
    from experiments import dose
    from utils import frequency as fq
    T = 10_000
    L, N = fq.LearningState.LEARNED, fq.LearningState.NOT_LEARNED
    t = np.array([[[4200.0], [4198.0], [4100.0]], [[7904.0], [np.nan], [np.nan]]])   # (A,S,K)
    state = np.array([[[L], [L], [L]], [[L], [N], [N]]])
    from utils import runs
    runs.save_npz(tmp_path / "exp_a_arrays.npz", t_learn=t, learned=state == L, learn_state=state,
                   below_since=np.full(t.shape, np.nan), gain=np.ones((2, 3, 2, 1)),
                   freqs=np.array([50]), steps=np.array([0, T]))
    dose.save_axis(tmp_path, {"knob": "l2", "values": [0.0, 1e-3], "arms": [0, 1]},
                   ["baseline", "l2=0.001"])
    seen = {}
    monkeypatch.setattr(dose, "plot_dose_heatmap",
                        lambda path, knob, values, ks, med, text, *a: seen.update(med=med, text=text))
    monkeypatch.setattr(dose, "plot_dose_panels", lambda *a, **k: None)
    dose.render_a(tmp_path)
    assert seen["text"][1][0].startswith(f">= +{T - 4198}")
    assert seen["med"][1, 0] == T - 4198
    assert seen["text"][0][0] == "+0"


def test_findings_of_a_from_planted_effects():
    # dropout shrinks k = 50's final gain by 0.7 in every seed and never
    # learns it; baseline and L2 learn everything: the gain row is a detected
    # effect against "introduces high-frequency content", the delay a bound
    # (>= T - t_base) that 3 seeds cannot make significant (sign test p >= 0.25)
    from utils.frequency import LearningState as LS
    from utils.report import loading
    cfg = dataclasses.replace(exp_a.Config(), seeds=(0, 1, 2))
    arms = exp_a.build_arms(cfg)
    A, S, K = len(arms), len(cfg.seeds), len(cfg.freqs)
    rng = np.random.default_rng(0)
    t = np.array([100.0, 800.0, 4000.0]) + rng.integers(0, 50, (A, S, K)).astype(float)
    learned = np.ones((A, S, K), bool)
    d = [a.name for a in arms].index("dropout")
    t[d, :, -1], learned[d, :, -1] = np.nan, False
    m = {"t": t, "learned": learned, "state": np.where(learned, LS.LEARNED, LS.NOT_LEARNED),
         "below_since": np.full((A, S, K), np.nan), "delta": rng.uniform(0, 0.05, (A, S, 4, K)),
         "gain": rng.uniform(0.95, 1.0, (A, S, 4, K))}
    m["gain"][d, :, -1, -1] -= 0.7
    # L2 leaves every final gain within +-0.002 of its seed's baseline: well
    # inside the gain's smallest effect of interest, so TOST calls it absent
    l2 = [a.name for a in arms].index("l2")
    m["gain"][l2, :, -1] = m["gain"][0, :, -1] + np.array([-0.002, 0.001, 0.002])[:, None]
    per_arm, _, _, _ = analysis.summarise(cfg, arms, m)
    found = analysis.findings_a(cfg, arms, m, per_arm)
    assert {f["experiment"] for f in found} == {"A"} and len(found) == 2 * 2 * K
    for f in found:
        loading._finding(f, "A", ROOT)           # the report can show every row
    gain50, delay50 = [f for f in found if f["arm"] == "dropout" and "_50" in f["statistic"]]
    assert gain50["verdict"] == "contradicted" and gain50["estimate"] < -0.6
    low = float(np.median(cfg.steps - t[0, :, -1]))      # the median of the per-seed bounds
    assert delay50["verdict"] == "undetermined" and delay50["p_adjusted"] >= 0.25
    assert delay50["p_tost_adjusted"] is None and delay50["mde"] is None
    l2_gains = [f for f in found if f["arm"] == "l2" and f["statistic"].startswith("final gain")]
    assert [f["verdict"] for f in l2_gains] == ["absent"] * K
    assert all(f["p_tost_adjusted"] < 0.05 and f["mde"] > 0 and 0 < f["power_at_sesoi"] <= 1
               for f in l2_gains)
    assert f">= {low:+.0f}" in delay50["text"] and delay50["lo"] == low and delay50["hi"] is None
    assert exp_a.sign_test_censored(np.array([1.0, 2, 3]), np.array([1.0, np.inf, 3])) == (3, 0, 0.25)
