"""Experiment A's batched trainer against the one-job path (``train_job``).

On the CPU the batched path reproduces ``train_job`` run with the same
number of torch threads bit for bit in every arm (measured: largest
difference 0.0 over 8 jobs x 100 steps at width 64, and 12 jobs x 30 steps
at the default 4x192 with 1 and with 2 threads in both paths), so the
comparisons below are exact: any difference means a knob is wired wrong.
They run on one thread (the ``one_thread`` fixture); across thread counts
the bits differ (see the module docstring).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from experiments import exp_a_batched as eb
from experiments import exp_a_synthetic as exp_a
from utils.regimen import Regimen as ProjectRegimen

pytestmark = pytest.mark.usefixtures("one_thread")

# Tiny but complete: 3 hidden layers (square ones go through baddbmm), a
# warm-up and a cosine phase, checkpoints at steps 0..steps.
SMALL = dataclasses.replace(exp_a.Config(), freqs=(1, 3, 7), n_points=64, width=24, depth=3,
                            steps=40, warmup_steps=5, n_checkpoints=12, l2_reg=1e-2,
                            dropout=0.2, seeds=(0, 1))
ALL_ARMS = ("baseline", "l2", "dropout", "l2+dropout")


@dataclass(frozen=True)
class Regimen:
    """Stand-in for the richer regimen object: its own mode and lr scale."""
    name: str
    l2: float = 0.0
    dropout: float = 0.0
    l2_mode: str = "penalty"
    lr_scale: float = 1.0


def _assert_same(batched: dict, single: dict) -> None:
    assert set(batched) == set(single) == {"preds", "loss", "seconds"}
    for key in ("preds", "loss"):
        assert batched[key].dtype == single[key].dtype and batched[key].shape == single[key].shape
        np.testing.assert_array_equal(batched[key], single[key], err_msg=key)


@pytest.mark.parametrize("mode", ["penalty", "decoupled"])
def test_every_arm_matches_train_job(mode):
    cfg = dataclasses.replace(SMALL, l2_mode=mode, arms=ALL_ARMS, random_phases=True)
    jobs = [(arm, s) for arm in exp_a.build_arms(cfg) for s in cfg.seeds]
    out = eb.train_jobs_batched(cfg, jobs)
    assert len(out) == len(jobs)
    for (arm, seed), res in zip(jobs, out):
        _assert_same(res, exp_a.train_job(cfg, arm, seed))
    # the knobs did something: every arm ends away from the baseline
    final = {arm.name: res["preds"][-1] for (arm, s), res in zip(jobs, out) if s == 0}
    for name in ALL_ARMS[1:]:
        assert not np.array_equal(final[name], final["baseline"]), name


def test_default_network_shape_matches_train_job():
    """The default 4x192 on N = 512 (other BLAS blockings than width 24)."""
    cfg = dataclasses.replace(exp_a.Config(), steps=4, warmup_steps=2, n_checkpoints=4,
                              arms=("baseline", "l2+dropout"), seeds=(0,))
    jobs = [(arm, 0) for arm in exp_a.build_arms(cfg)]
    for (arm, seed), res in zip(jobs, eb.train_jobs_batched(cfg, jobs)):
        _assert_same(res, exp_a.train_job(cfg, arm, seed))


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_other_activations_match_train_job(activation):
    """Not ReLU: the unfused activation + dropout path."""
    cfg = dataclasses.replace(SMALL, activation=activation, steps=15, arms=("baseline", "dropout"))
    jobs = [(arm, s) for arm in exp_a.build_arms(cfg) for s in cfg.seeds]
    for (arm, seed), res in zip(jobs, eb.train_jobs_batched(cfg, jobs)):
        _assert_same(res, exp_a.train_job(cfg, arm, seed))


def test_per_job_lr_and_mode_match_train_job_with_that_config():
    """A regimen's own lr scale and L2 mode act on its job alone."""
    cfg = SMALL
    jobs = [(Regimen("fast", lr_scale=2.0), 0), (Regimen("adamw", l2=0.05, l2_mode="decoupled"), 1),
            (Regimen("pen", l2=0.05, l2_mode="penalty"), 1)]
    out = eb.train_jobs_batched(cfg, jobs)
    ref = [exp_a.train_job(dataclasses.replace(cfg, lr=2 * cfg.lr), ProjectRegimen("fast"), 0),
           exp_a.train_job(cfg, ProjectRegimen("adamw", l2=0.05, l2_mode="decoupled"), 1),
           exp_a.train_job(cfg, ProjectRegimen("pen", l2=0.05, l2_mode="penalty"), 1)]
    for res, r in zip(out, ref):
        _assert_same(res, r)
    assert not np.array_equal(out[1]["preds"], out[2]["preds"])   # the two modes differ


def test_a_job_does_not_depend_on_its_batch_and_reruns_are_bitwise():
    cfg = dataclasses.replace(SMALL, arms=ALL_ARMS)
    arms = exp_a.build_arms(cfg)
    jobs = [(a, s) for a in arms for s in cfg.seeds]
    together = eb.train_jobs_batched(cfg, jobs)
    again = eb.train_jobs_batched(cfg, jobs)
    for a, b in zip(together, again):
        np.testing.assert_array_equal(a["preds"], b["preds"])
        np.testing.assert_array_equal(a["loss"], b["loss"])
    j = jobs.index((arms[2], 1))                                   # dropout, seed 1
    alone = eb.train_jobs_batched(cfg, [jobs[j]])[0]
    np.testing.assert_array_equal(alone["preds"], together[j]["preds"])
    reordered = eb.train_jobs_batched(cfg, [jobs[j], jobs[0]])[0]
    np.testing.assert_array_equal(reordered["preds"], together[j]["preds"])


@pytest.mark.slow
def test_parallel_batches_equal_one_batch():
    """Two spawned processes with one thread each, as the default run."""
    cfg = dataclasses.replace(SMALL, arms=ALL_ARMS, steps=15)
    jobs = [(arm, s) for arm in exp_a.build_arms(cfg) for s in cfg.seeds]
    one = eb.train_jobs_batched(cfg, jobs)
    two = eb.train_jobs_batched_parallel(cfg, jobs, workers=2, threads=1)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a["preds"], b["preds"])
        np.testing.assert_array_equal(a["loss"], b["loss"])
    with pytest.raises(ValueError, match="workers"):
        eb.train_jobs_batched_parallel(cfg, jobs, workers=0)


def _masks(specs, draws, n=64, width=24, depth=3):
    m = eb.DropoutMasks(specs, depth, n, width, torch.device("cpu"))
    return [[layer.clone() for layer in m.draw()] for _ in range(draws)]


def test_dropout_masks_are_torch_dropouts_per_seed_and_independent_of_the_batch():
    p, n, width, depth, draws = 0.2, 64, 24, 3, 3
    batch = _masks([(0, p), (1, p), (0, p), (1, 0.5)], draws)
    alone = _masks([(1, p)], draws)
    # Known answer: nn.Dropout's multipliers under train_job's mask seed,
    # drawn layer after layer.
    ref = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000 + 1)
        for _ in range(draws * depth):
            ref.append(torch.nn.Dropout(p)(torch.ones(n, width)))
    for t in range(draws):
        for layer in range(depth):
            got = batch[t][layer]
            np.testing.assert_array_equal(got[1], ref[t * depth + layer])
            np.testing.assert_array_equal(got[1], alone[t][layer][0])        # batch-independent
            np.testing.assert_array_equal(got[0], got[2])                     # same (seed, p)
            assert not torch.equal(got[0], got[1])                            # other seed
            assert not torch.equal(got[1] == 0, got[3] == 0)                  # other rate
            assert set(torch.unique(got[0]).tolist()) == {0.0, float(torch.tensor(1 / (1 - p)))}
    # successive draws differ (a fresh mask every step)
    assert not torch.equal(batch[0][0][0], batch[1][0][0])
    assert eb.DropoutMasks([], depth, n, width, torch.device("cpu")).draw() is None
    with pytest.raises(ValueError, match="specs"):
        eb.DropoutMasks([(0, 0.0)], depth, n, width, torch.device("cpu"))


def test_dropout_rate_is_the_fraction_dropped():
    p, n, width = 0.3, 256, 64
    masks = _masks([(5, p)], 4, n=n, width=width, depth=2)
    zeros = torch.stack([layer[0] == 0 for draw in masks for layer in draw]).double()
    count = zeros.numel()
    # binomial: within 5 standard deviations of p
    assert abs(zeros.mean().item() - p) < 5 * (p * (1 - p) / count) ** 0.5


def test_non_finite_loss_names_step_and_the_job_that_diverged():
    cfg = dataclasses.replace(SMALL, warmup_steps=0)
    hot = Regimen("hot", lr_scale=1e14)
    with pytest.raises(FloatingPointError) as batched:
        eb.train_jobs_batched(cfg, [(Regimen("calm"), 0), (hot, 0)])
    with pytest.raises(FloatingPointError) as single:
        exp_a.train_job(dataclasses.replace(cfg, lr=cfg.lr * 1e14), ProjectRegimen("hot"), 0)
    assert "(hot)" in str(batched.value) and "at step" in str(batched.value)
    assert str(batched.value) == str(single.value)


def test_flop_count_matches_torch_flop_counter():
    cfg = SMALL
    u, y = exp_a._target(cfg, 0).tensors()
    net = eb.StackedMLP([0, 1, 2], cfg, torch.device("cpu"))
    with FlopCounterMode(display=False) as counter:
        ((net.forward(u) - y) ** 2).mean(dim=(1, 2)).sum().backward()
    assert eb.train_step_flops(cfg, 3) == counter.get_total_flops()


@pytest.mark.parametrize("jobs, field", [
    ([], "jobs"),
    ([(Regimen("x", dropout=1.0), 0)], "dropout"),
    ([(Regimen("x", l2=-1.0), 0)], "l2"),
    ([(Regimen("x", l2_mode="sgdw"), 0)], "l2_mode"),
    ([(Regimen("x", lr_scale=0.0), 0)], "lr_scale"),
    ([(Regimen("x"), 0.5)], "seed"),
])
def test_bad_jobs_raise_value_error_naming_the_field(jobs, field):
    with pytest.raises(ValueError, match=field):
        eb.train_jobs_batched(SMALL, jobs)


def test_flops_reject_zero_jobs():
    with pytest.raises(ValueError, match="n_jobs"):
        eb.train_step_flops(SMALL, 0)


@pytest.mark.slow
def test_batched_option_through_main_matches_the_default_path(tmp_path, one_thread):
    import main
    runs = {}
    for flag in ("false", "true"):
        out = tmp_path / flag
        assert main.main(["--experiment", "a", "--quick", "--workers", "1", "--set",
                          "arms=baseline,l2,dropout,l2+dropout", "--set", f"batched={flag}",
                          "--out", str(out)]) == 0
        with np.load(next(out.glob("*_a_quick")) / "exp_a_arrays.npz") as z:
            runs[flag] = (z["preds"], z["train_loss"])
    np.testing.assert_array_equal(runs["true"][0], runs["false"][0])
    np.testing.assert_array_equal(runs["true"][1], runs["false"][1])
    code = main.main(["--experiment", "a", "--quick", "--seed", "0", "--set", "batched=true",
                      "--set", "l2_reg=1e37", "--arm", "l2", "--out", str(tmp_path / "hot")])
    assert code == 1
