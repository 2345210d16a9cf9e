"""Experiment A's batched trainer against the one-job path (``train_job``).

On the CPU, with ``exact=True`` (its default there), the batched path
reproduces ``train_job`` run with the same number of torch threads bit for
bit for every job without dropout, in every arm and L2 mode; dropout jobs
too when they are given ``train_job``'s own torch masks (``TorchMasks``
below, through ``masks=``). So those comparisons are exact: any difference
means a knob is wired wrong. With its own masks (one PCG64 stream per seed)
a dropout job is compared with ``train_job`` over seeds; the masks
themselves are checked for rate, independence across seeds, layers and
steps, and for not depending on the rest of the batch. The tests run on one
thread (the ``one_thread`` fixture); across thread counts the bits differ
(see the module docstring).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from experiments import exp_a_batched as eb
from experiments import exp_a_synthetic as exp_a
from models.mlp import MLP
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


class TorchMasks:
    """``train_job``'s dropout noise for a batch: per ``(seed, p)`` a torch
    generator seeded ``10_000 + seed``, one ``nn.Dropout``-style
    ``bernoulli_(1 - p).div_(1 - p)`` per hidden layer per draw, in layer
    order. Injected with ``masks=``, it makes dropout jobs comparable bit for
    bit."""

    def __init__(self, specs, cfg):
        self.specs, self.depth, self.n, self.width = specs, cfg.depth, cfg.n_points, cfg.width
        self.gens = {sp: torch.Generator().manual_seed(10_000 + sp[0]) for sp in specs}

    def draw(self):
        if not self.specs:
            return None
        drawn = {(s, p): [torch.empty(self.n, self.width).bernoulli_(1 - p, generator=g).div_(1 - p)
                          for _ in range(self.depth)] for (s, p), g in self.gens.items()}
        return [torch.stack([drawn[sp][layer] for sp in self.specs]) for layer in range(self.depth)]


def torch_masks(cfg):
    return lambda specs: TorchMasks(specs, cfg)


def _assert_same(batched: dict, single: dict) -> None:
    assert set(batched) == set(single) == {"preds", "loss", "seconds"}
    for key in ("preds", "loss"):
        assert batched[key].dtype == single[key].dtype and batched[key].shape == single[key].shape
        np.testing.assert_array_equal(batched[key], single[key], err_msg=key)


@pytest.mark.parametrize("mode", ["penalty", "decoupled"])
def test_every_arm_matches_train_job(mode):
    cfg = dataclasses.replace(SMALL, l2_mode=mode, arms=ALL_ARMS, random_phases=True)
    jobs = [(arm, s) for arm in exp_a.build_arms(cfg) for s in cfg.seeds]
    own = eb.train_jobs_batched(cfg, jobs)
    injected = eb.train_jobs_batched(cfg, jobs, masks=torch_masks(cfg))
    assert len(own) == len(injected) == len(jobs)
    for (arm, seed), res, inj in zip(jobs, own, injected):
        single = exp_a.train_job(cfg, arm, seed)
        _assert_same(inj, single)             # every arm, with train_job's masks
        if arm.dropout == 0:
            _assert_same(res, single)         # no dropout: the masks play no part
        else:                                 # its own masks: other values
            assert not np.array_equal(res["preds"], single["preds"]), arm.name
    # the knobs did something: every arm ends away from the baseline
    final = {arm.name: res["preds"][-1] for (arm, s), res in zip(jobs, own) if s == 0}
    for name in ALL_ARMS[1:]:
        assert not np.array_equal(final[name], final["baseline"]), name


def test_default_network_shape_matches_train_job():
    """The default 4x192 on N = 512 (other BLAS blockings than width 24)."""
    cfg = dataclasses.replace(exp_a.Config(), steps=4, warmup_steps=2, n_checkpoints=4,
                              arms=("baseline", "l2", "l2+dropout"), seeds=(0,))
    jobs = [(arm, 0) for arm in exp_a.build_arms(cfg)]
    for (arm, seed), res in zip(jobs, eb.train_jobs_batched(cfg, jobs, masks=torch_masks(cfg))):
        _assert_same(res, exp_a.train_job(cfg, arm, seed))


@pytest.mark.parametrize("activation", ["tanh", "gelu", "silu"])
def test_other_activations_match_train_job(activation):
    """Not ReLU: the activation's own backward op, dropout after it."""
    cfg = dataclasses.replace(SMALL, activation=activation, steps=15, arms=("baseline", "dropout"))
    jobs = [(arm, s) for arm in exp_a.build_arms(cfg) for s in cfg.seeds]
    for (arm, seed), res in zip(jobs, eb.train_jobs_batched(cfg, jobs, masks=torch_masks(cfg))):
        _assert_same(res, exp_a.train_job(cfg, arm, seed))


def test_batched_thin_layers_stay_within_float32_rounding_of_train_job():
    """``exact=False`` (the default off the CPU): the thin products batched
    too. Measured after 40 steps of SMALL: at most 4.8e-7 in a prediction
    (|prediction| up to about 2), 1.2e-7 in a loss; the bound is 10x that."""
    cfg = dataclasses.replace(SMALL, arms=ALL_ARMS)
    jobs = [(arm, s) for arm in exp_a.build_arms(cfg) for s in cfg.seeds]
    out = eb.train_jobs_batched(cfg, jobs, masks=torch_masks(cfg), exact=False)
    exact = eb.train_jobs_batched(cfg, jobs, masks=torch_masks(cfg), exact=True)
    differs = 0
    for (arm, seed), res, ex in zip(jobs, out, exact):
        single = exp_a.train_job(cfg, arm, seed)
        np.testing.assert_allclose(res["preds"], single["preds"], rtol=0, atol=5e-6)
        np.testing.assert_allclose(res["loss"], single["loss"], rtol=0, atol=2e-6)
        differs += not np.array_equal(res["preds"], ex["preds"])
    assert differs > 0          # it is another path: some bits move


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
    for arm in (arms[2], arms[3]):                                  # dropout, l2+dropout; seed 1
        j = jobs.index((arm, 1))
        alone = eb.train_jobs_batched(cfg, [jobs[j]])[0]
        np.testing.assert_array_equal(alone["preds"], together[j]["preds"])
        reordered = eb.train_jobs_batched(cfg, [jobs[0], (arms[2], 0), jobs[j]])[2]
        np.testing.assert_array_equal(reordered["preds"], together[j]["preds"])


def test_two_threads_a_job_keeps_its_bits_anywhere_in_the_batch():
    """With 2 threads MKL and torch's reductions split misaligned rows
    differently: a job's parameter block must start as aligned as a tensor
    of its own (measured before the fix: jobs 1.. differed from train_job by
    up to 1.6e-5 after 30 steps at 64 wide, job 0 did not)."""
    cfg = dataclasses.replace(exp_a.Config(), width=64, depth=3, steps=30, warmup_steps=5,
                              n_checkpoints=8, arms=("baseline",), seeds=(0, 1, 2))
    arm = exp_a.build_arms(cfg)[0]
    torch.set_num_threads(2)          # the one_thread fixture restores it
    out = eb.train_jobs_batched(cfg, [(arm, s) for s in cfg.seeds])
    for s, res in zip(cfg.seeds, out):
        _assert_same(res, exp_a.train_job(cfg, arm, s))


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


def test_dropout_arm_agrees_with_train_job_over_seeds():
    """Own masks against train_job's, paired by seed (same initial weights,
    other mask streams): per seed the difference of the mean training loss
    over all checkpoints after step 0; its mean over 8 seeds must be within
    4 standard errors of 0. Measured (z = mean / standard error): 0.95 at the
    right rate 0.2; a batched rate of 0.15 gave -7.2, 0.25 gave 7.0 and 0.4
    gave 21, so a wrong rate or scale fails here."""
    cfg = dataclasses.replace(SMALL, steps=150, n_checkpoints=60, seeds=tuple(range(8)),
                              arms=("baseline", "dropout"))
    base, arm = exp_a.build_arms(cfg)
    batched = eb.train_jobs_batched(cfg, [(arm, s) for s in cfg.seeds])
    single = [exp_a.train_job(cfg, arm, s) for s in cfg.seeds]
    d = np.array([r["loss"][1:].mean() - t["loss"][1:].mean() for r, t in zip(batched, single)])
    assert np.all(d != 0)                                     # other masks, other runs
    z = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    assert abs(z) < 4, (z, d)
    # and dropout did something: each seed's loss is above its baseline's
    for s, r in zip(cfg.seeds, batched):
        assert r["loss"][1:].mean() > exp_a.train_job(cfg, base, s)["loss"][1:].mean()


def _noise(specs, draws, n=64, width=24, depth=3, **kw):
    m = eb.DropoutMasks(specs, depth, n, width, torch.device("cpu"), **kw)
    return [[layer.clone() for layer in m.draw()] for _ in range(draws)]


def test_dropout_masks_are_seeded_reproducible_and_independent_of_the_batch():
    p, depth, draws = 0.2, 3, 3
    batch = _noise([(0, p), (1, p), (0, p), (1, 0.5), (2, p)], draws)
    alone = _noise([(1, p)], draws)
    again = _noise([(0, p), (1, p), (0, p), (1, 0.5), (2, p)], draws)
    via_torch = _noise([(0, p), (1, p), (0, p), (1, 0.5), (2, p)], draws, via_numpy=False)
    scale = float(torch.ones(()).div_(torch.tensor(1 - p)))          # nn.Dropout's 1 / (1 - p)
    for t in range(draws):
        for layer in range(depth):
            got = batch[t][layer]
            np.testing.assert_array_equal(got, again[t][layer])               # run to run
            np.testing.assert_array_equal(got, via_torch[t][layer])           # either threshold
            np.testing.assert_array_equal(got[1], alone[t][layer][0])         # batch-independent
            np.testing.assert_array_equal(got[0], got[2])                     # same (seed, p)
            assert not torch.equal(got[0], got[1])                            # other seed
            assert not torch.equal(got[1], got[4])
            # same seed, larger rate: a superset of the dropped units
            assert bool(((got[1] == 0) <= (got[3] == 0)).all())
            assert not torch.equal(got[1] == 0, got[3] == 0)
            assert set(torch.unique(got[0]).tolist()) == {0.0, scale}
        assert not torch.equal(batch[t][0][0], batch[t][1][0])                # layers differ
    assert not torch.equal(batch[0][0][0], batch[1][0][0])                    # steps differ
    assert eb.DropoutMasks([], depth, 64, 24, torch.device("cpu")).draw() is None
    for bad in (0.0, 1.0, 1e-6):
        with pytest.raises(ValueError, match="specs"):
            eb.DropoutMasks([(0, bad)], depth, 64, 24, torch.device("cpu"))


def test_dropout_rate_and_independence_across_seeds_layers_and_steps():
    p, n, width, depth, draws = 0.3, 256, 64, 2, 4
    m = eb.DropoutMasks([(5, p), (6, p)], depth, n, width, torch.device("cpu"))
    assert m.effective_rates() == [round(p * 2 ** 16) / 2 ** 16] * 2
    assert abs(m.effective_rates()[0] - p) <= 2 ** -17
    drops = torch.stack([torch.stack([layer == 0 for layer in m.draw()]) for _ in range(draws)])
    drops = drops.double()                                   # (draws, depth, jobs, n, width)
    count = drops[:, :, 0].numel()
    sigma = (p * (1 - p) / count) ** 0.5
    for j in range(2):           # binomial: the fraction dropped within 5 sigma of the rate
        assert abs(drops[:, :, j].mean().item() - p) < 5 * sigma
    # independent pairs co-drop at p^2: seeds 5 and 6, layer 0 and 1, step t and t + 1
    pairs = [(drops[:, :, 0], drops[:, :, 1]), (drops[:, 0], drops[:, 1]),
             (drops[:-1], drops[1:])]
    for a, b in pairs:
        both = (a * b).mean().item()
        k = a.numel()
        assert abs(both - p * p) < 5 * (p * p * (1 - p * p) / k) ** 0.5, (both, p * p)


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
    """train_step_flops against torch's count of train_job's own module."""
    cfg = SMALL
    u, y = exp_a._target(cfg, 0).tensors()
    torch.manual_seed(0)
    model = MLP(1, cfg.width, cfg.depth, cfg.activation, 0.0)
    with FlopCounterMode(display=False) as counter:
        torch.mean((model(u) - y) ** 2).backward()
    assert eb.train_step_flops(cfg, 3) == 3 * counter.get_total_flops()


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
    """Without dropout arms the option changes no bit of a run; with its
    own masks the dropout arm is another draw (compared over seeds above)."""
    import main
    runs = {}
    for flag in ("false", "true"):
        out = tmp_path / flag
        assert main.main(["--experiment", "a", "--quick", "--workers", "1", "--set",
                          "arms=baseline,l2,dropout,l2+dropout", "--set", f"batched={flag}",
                          "--out", str(out)]) == 0
        with np.load(next(out.glob("*_a_quick")) / "exp_a_arrays.npz") as z:
            runs[flag] = (z["preds"], z["train_loss"], [str(a) for a in z["arms"]])
    arms = runs["true"][2]
    assert arms == runs["false"][2] == ["baseline", "l2", "dropout", "l2+dropout"]
    for i in (0, 1):
        np.testing.assert_array_equal(runs["true"][0][i], runs["false"][0][i])
        np.testing.assert_array_equal(runs["true"][1][i], runs["false"][1][i])
    for i in (2, 3):
        assert not np.array_equal(runs["true"][0][i], runs["false"][0][i])
    code = main.main(["--experiment", "a", "--quick", "--seed", "0", "--set", "batched=true",
                      "--set", "l2_reg=1e37", "--arm", "l2", "--out", str(tmp_path / "hot")])
    assert code == 1
