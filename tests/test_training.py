"""The training engine: L2 penalty vs decoupled decay, seeding and pairing of
arms, resume, the non-finite stop, evaluate/predict and device rules.

Tiny data (64 images 3x16x16) and tiny networks keep each test well under a
second; the equalities are exact (torch.equal) wherever the engine promises
bit-identical results.
"""

import math

import pytest
import torch
from torch import nn

from models.cnn import SmallCNN
from utils.regimen import Regimen
from utils.training import (NonFiniteLoss, device_settings, evaluate, l2_params, l2_penalty,
                            make_optimizer, make_schedule, predict, steps_per_epoch,
                            stream_seed, train_one_epoch)

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(123)
    x = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    return x, y


def tiny_model(dropout=0.0, init_seed=0, norm="batch"):
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        return SmallCNN(num_classes=10, in_channels=3, k1=3, widths=(4, 8), dropout=dropout,
                        norm=norm)


def flip_augment(x, generator):
    """A small augment of our own (the data package's is tested there): a
    random horizontal flip per image, drawn from the engine's generator."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def run(model, x, y, *, epochs=1, first_epoch=0, seed=0, lr=0.05, l2=0.0, l2_mode="penalty",
        batch_size=16, momentum=0.9, nesterov=True, augment=flip_augment, kind="cosine",
        optimizer=None, scheduler=None, warmup=2, **kw):
    regimen = Regimen(name="arm", l2=l2, l2_mode=l2_mode)
    optimizer = optimizer or make_optimizer(model, regimen, lr=lr, momentum=momentum,
                                            nesterov=nesterov)
    total = 3 * steps_per_epoch(x.shape[0], batch_size)
    scheduler = scheduler or make_schedule(optimizer, kind, total_steps=total, warmup_steps=warmup)
    out = []
    for epoch in range(first_epoch, first_epoch + epochs):
        out.append(train_one_epoch(model, x, y, optimizer=optimizer, scheduler=scheduler,
                                   batch_size=batch_size, mean=MEAN, std=STD, epoch=epoch,
                                   seed=seed, regimen=regimen, augment=augment, device="cpu",
                                   **kw))
    return optimizer, scheduler, out


def assert_same_state(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# ---------------------------------------------------------------- L2

def test_l2_params_are_conv_and_linear_weights_only():
    model = tiny_model()
    chosen = {id(p) for p in l2_params(model)}
    expected = {id(model.conv1.weight), id(model.blocks[0].weight), id(model.fc.weight)}
    assert chosen == expected
    assert id(model.fc.bias) not in chosen and id(model.bn1.weight) not in chosen
    no_bn = tiny_model(norm="none")
    assert {id(p) for p in l2_params(no_bn)} == {id(no_bn.conv1.weight), id(no_bn.blocks[0].weight),
                                                 id(no_bn.fc.weight)}
    tied = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    tied[1].weight = tied[0].weight
    assert len(l2_params(tied)) == 1


def test_l2_penalty_matches_float64_sum():
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(*s, generator=g) for s in [(16, 3, 5, 5), (32, 16, 3, 3), (10, 64), (7,)]]
    naive = sum(float((p.double() ** 2).sum()) for p in params)
    assert math.isclose(float(l2_penalty(params)), naive, rel_tol=1e-6)
    with pytest.raises(ValueError, match="params"):
        l2_penalty([])


def _one_step(l2, l2_mode, x, y, lr=0.1):
    """One plain-SGD step (no momentum) in float64 on the whole set."""
    model = tiny_model().double()
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    run(model, x, y, lr=lr, l2=l2, l2_mode=l2_mode, batch_size=x.shape[0], momentum=0.0,
        nesterov=False, kind="constant", warmup=0, augment=None)
    return model, w0


def test_penalty_gradient_is_ce_gradient_plus_2_lambda_w(data):
    """Same batch, same start: with plain SGD the only difference the penalty
    makes is lr * 2 * lambda * W0 on the L2 weights, nothing elsewhere."""
    x, y = data
    lr, lam = 0.1, 0.03
    base, w0 = _one_step(0.0, "penalty", x, y, lr)
    pen, _ = _one_step(lam, "penalty", x, y, lr)
    weights = {n for n, p in pen.named_parameters() if any(p is q for q in l2_params(pen))}
    assert weights == {"conv1.weight", "blocks.0.weight", "fc.weight"}
    for name, p in pen.state_dict().items():
        diff = p - base.state_dict()[name]
        if name in weights:
            torch.testing.assert_close(diff, -lr * 2 * lam * w0[name], rtol=1e-9, atol=1e-12)
        else:
            assert torch.equal(diff, torch.zeros_like(diff)), name


def test_decoupled_step_is_lr_lambda_w(data):
    x, y = data
    lr, lam = 0.1, 0.03
    base, w0 = _one_step(0.0, "penalty", x, y, lr)
    dec, _ = _one_step(lam, "decoupled", x, y, lr)
    for name, p in dec.state_dict().items():
        diff = p - base.state_dict()[name]
        if name in ("conv1.weight", "blocks.0.weight", "fc.weight"):
            torch.testing.assert_close(diff, -lr * lam * w0[name], rtol=1e-9, atol=1e-12)
        else:
            assert torch.equal(diff, torch.zeros_like(diff)), name


def test_decoupled_decay_exact_with_zero_gradients():
    model = tiny_model()
    lr, lam = 0.2, 0.05
    opt = make_optimizer(model, Regimen(name="d", l2=lam, l2_mode="decoupled"), lr=lr)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    decayed = {"conv1.weight", "blocks.0.weight", "fc.weight"}
    for name, p in model.named_parameters():
        expected = before[name] * (1 - lr * lam) if name in decayed else before[name]
        assert torch.equal(p.detach(), expected), name
    # the same optimiser in penalty mode leaves zero-gradient weights alone
    pen = make_optimizer(model, Regimen(name="p", l2=lam, l2_mode="penalty"), lr=lr)
    now = {n: p.detach().clone() for n, p in model.named_parameters()}
    pen.step()
    assert all(torch.equal(p.detach(), now[n]) for n, p in model.named_parameters())


def test_the_l2_rule_comes_from_the_regimen(data):
    """The penalty is in the objective in penalty mode only (decoupled decay
    is the optimiser's, built from the same regimen)."""
    x, y = data
    for mode, penalised in (("penalty", True), ("decoupled", False)):
        _, _, out = run(tiny_model(), x, y, l2=1.0, l2_mode=mode, augment=None)
        assert (out[0]["objective"] > out[0]["loss"]) == penalised
        assert penalised or out[0]["objective"] == out[0]["loss"]


@pytest.mark.parametrize("kwargs, word", [
    ({"lr": 0.0}, "lr"),
    ({"momentum": 0.0}, "nesterov"), ({"momentum": 1.0}, "momentum")])
def test_make_optimizer_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_optimizer(tiny_model(), **{"lr": 0.1, **kwargs})


# ---------------------------------------------------------------- schedule

def test_schedules_follow_their_definitions():
    def lrs(kind, total=10, warmup=2):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = make_schedule(opt, kind, total_steps=total, warmup_steps=warmup)
        out = []
        for _ in range(total):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out
    cos, one, const = lrs("cosine"), lrs("onecycle"), lrs("constant")
    assert cos[:2] == [0.5, 1.0] and one[:2] == [0.5, 1.0] and const[:2] == [0.5, 1.0]
    # after warm-up, u = (s - 2) / 8: cosine (1 + cos(pi u)) / 2, onecycle 1 - u
    for s in range(2, 10):
        u = (s - 2) / 8
        assert math.isclose(cos[s], 0.5 * (1 + math.cos(math.pi * u)))
        assert math.isclose(one[s], 1 - u)
        assert const[s] == 1.0
    assert lrs("cosine", 5, 0)[0] == 1.0
    with pytest.raises(ValueError, match="kind"):
        lrs("step")
    with pytest.raises(ValueError, match="warmup_steps"):
        lrs("cosine", 5, 6)


# ---------------------------------------------------------------- seeding and pairing

def test_same_seed_same_weights_other_seed_not(data):
    x, y = data
    a, b, c = tiny_model(0.3), tiny_model(0.3), tiny_model(0.3)
    run(a, x, y, seed=7, l2=1e-3)
    run(b, x, y, seed=7, l2=1e-3)
    run(c, x, y, seed=8, l2=1e-3)
    assert_same_state(a, b)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_arms_of_a_seed_see_identical_batches(data):
    x, y = data

    def batches(dropout, l2, l2_mode, seed=3):
        seen = []

        def spy(xb, generator):
            out = flip_augment(xb, generator)
            seen.append((xb.clone(), out.clone()))
            return out
        run(tiny_model(dropout), x, y, epochs=2, seed=seed, l2=l2, l2_mode=l2_mode, augment=spy)
        return seen

    baseline = batches(0.0, 0.0, "penalty")
    assert len(baseline) == 2 * steps_per_epoch(64, 16)
    for arm in [(0.0, 1e-2, "penalty"), (0.5, 0.0, "penalty"), (0.5, 1e-2, "penalty"),
                (0.0, 1e-2, "decoupled")]:
        other = batches(*arm)
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
                   for a, b in zip(baseline, other, strict=True)), arm
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(baseline, batches(0.0, 0.0, "penalty", 4)))
    # epochs differ from each other
    assert not torch.equal(baseline[0][0], baseline[4][0])


def test_global_rng_untouched(data):
    x, y = data
    torch.manual_seed(99)
    state = torch.get_rng_state()
    run(tiny_model(0.5), x, y)
    assert torch.equal(torch.get_rng_state(), state)


def test_stream_seeds_differ_and_are_checked():
    seeds = {stream_seed(s, e, k) for s in range(3) for e in range(3)
             for k in ("order", "augment", "dropout")}
    assert len(seeds) == 27 and all(0 <= v < 2 ** 63 for v in seeds)
    with pytest.raises(ValueError, match="seed"):
        stream_seed(-1, 0, "order")
    with pytest.raises(ValueError, match="epoch"):
        stream_seed(0, -1, "order")


@pytest.mark.parametrize("l2_mode", ["penalty", "decoupled"])
def test_resume_gives_identical_weights(tmp_path, data, l2_mode):
    from utils.checkpoints import load_checkpoint, save_checkpoint
    x, y = data
    straight = tiny_model(0.3)
    run(straight, x, y, epochs=3, l2=1e-2, l2_mode=l2_mode)

    first = tiny_model(0.3)
    opt, sched, _ = run(first, x, y, epochs=2, l2=1e-2, l2_mode=l2_mode)
    path = save_checkpoint(tmp_path / "ckpt.pt", model=first, optimizer=opt, scheduler=sched,
                           epoch=2, meta={"model": "small_cnn"})
    resumed = tiny_model(0.3, init_seed=1)  # different init: everything must come from the file
    opt2 = make_optimizer(resumed, Regimen(name="arm", l2=1e-2, l2_mode=l2_mode), lr=0.05)
    sched2 = make_schedule(opt2, "cosine", total_steps=3 * steps_per_epoch(64, 16), warmup_steps=2)
    ckpt = load_checkpoint(path, model=resumed, optimizer=opt2, scheduler=sched2)
    run(resumed, x, y, epochs=1, first_epoch=ckpt["epoch"], optimizer=opt2, scheduler=sched2,
        l2=1e-2, l2_mode=l2_mode)
    assert_same_state(straight, resumed)


def test_the_regimens_augmentation_is_applied(data):
    x, y = data
    seen = {}
    for knob in ("none", "crop_flip"):
        model = tiny_model()
        reg = Regimen(name=knob, augment=knob)
        model.register_forward_pre_hook(lambda m, a: seen.setdefault(knob, a[0].clone()))
        train_one_epoch(model, x, y, optimizer=make_optimizer(model, reg, lr=0.05), scheduler=None,
                        batch_size=16, mean=MEAN, std=STD, epoch=0, seed=0, regimen=reg,
                        device="cpu")
    assert not torch.equal(seen["none"], seen["crop_flip"])


# ---------------------------------------------------------------- the epoch itself

def test_epoch_result_and_last_batch_dropped(data):
    x, y = data
    seen = []
    _, _, out = run(tiny_model(), x, y, batch_size=24,
                    augment=lambda xb, g: seen.append(xb.shape[0]) or xb)
    r = out[0]
    assert seen == [24, 24] and r["steps"] == 2 == steps_per_epoch(64, 24)
    assert set(r) == {"loss", "objective", "acc", "steps", "seconds", "images_per_s", "lr"}
    assert 0 <= r["acc"] <= 1 and r["loss"] > 0 and r["objective"] == pytest.approx(r["loss"])
    assert r["images_per_s"] == pytest.approx(48 / r["seconds"])


class NaNAt(nn.Module):
    """Wraps a model; its forward returns NaN logits at call number ``at``."""

    def __init__(self, model, at):
        super().__init__()
        self.model, self.at, self.calls = model, at, 0

    def forward(self, x):
        out = self.model(x)
        self.calls += 1
        return out * float("nan") if self.calls == self.at + 1 else out


@pytest.mark.parametrize("check_every, calls_at_raise", [(50, 4), (1, 3)])
def test_non_finite_loss_names_step_and_epoch(data, check_every, calls_at_raise):
    x, y = data
    model = NaNAt(tiny_model(), at=2)
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss nan at step 10 \(epoch 2\)"):
        run(model, x, y, first_epoch=2, check_every=check_every)  # 4 steps per epoch: 2 * 4 + 2
    assert model.calls == calls_at_raise  # checked every step: stops right after the bad one
    assert issubclass(NonFiniteLoss, FloatingPointError)


@pytest.mark.parametrize("call, error, match", [
    (lambda model, x, y: run(model, x, y), NonFiniteLoss, "at step 0 "),
    (lambda model, x, y: evaluate(model, x, y, mean=MEAN, std=STD, device="cpu"), ValueError,
     "model: produced non-finite logits"),
], ids=["train", "evaluate"])
def test_a_nan_weight_stops_training_at_its_first_step_and_evaluation(data, call, error, match):
    x, y = data
    model = tiny_model()
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    with pytest.raises(error, match=match):
        call(model, x, y)


def test_train_rejects_bad_input(data):
    x, y = data

    def epoch(x=x, y=y, **kw):
        model = tiny_model()
        args = dict(optimizer=make_optimizer(model, lr=0.1), scheduler=None, batch_size=16,
                    mean=MEAN, std=STD, epoch=0, seed=0, device="cpu")
        return train_one_epoch(model, x, y, **{**args, **kw})
    for kwargs, word in [({"batch_size": 65}, "batch_size"), ({"y": y.int()}, "y"),
                         ({"x": x[:, :, :, 0]}, "x"), ({"amp_dtype": torch.bfloat16}, "amp_dtype"),
                         ({"amp_dtype": torch.float16}, "amp_dtype"), ({"mean": (0.5,)}, "mean"),
                         ({"std": (0.2, 0.0, 0.2)}, "std"), ({"check_every": 0}, "check_every"),
                         ({"seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=word):
            epoch(**kwargs)


def test_progress_is_quiet_without_a_terminal(data, capsys):
    x, y = data
    run(tiny_model(), x, y, progress=True)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# ---------------------------------------------------------------- evaluate / predict

class Recorder(nn.Module):
    """Wraps a model and records whether it ran in eval and inference mode."""

    def __init__(self, model):
        super().__init__()
        self.model, self.modes = model, []

    def forward(self, x):
        self.modes.append((self.training, torch.is_inference_mode_enabled()))
        return self.model(x)


def test_evaluate_matches_manual_computation(data):
    x, y = data
    x, y = torch.cat([x, x[:6]]), torch.cat([y, y[:6]])  # 70 images: last batch partial
    model = Recorder(tiny_model())
    run(model, x, y, epochs=1)
    model.train()
    with torch.no_grad():
        model.eval()
        mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        std = torch.tensor(STD).view(1, 3, 1, 1)
        logits = model((x.float() / 255 - mean) / std)
        model.train()
    manual_correct = int((logits.argmax(1) == y).sum())
    manual_loss = float(nn.functional.cross_entropy(logits, y))
    model.modes.clear()

    r = evaluate(model, x, y, mean=MEAN, std=STD, batch_size=32, device="cpu")
    assert r["n"] == 70 and r["correct"] == manual_correct and r["acc"] == manual_correct / 70
    assert r["loss"] == pytest.approx(manual_loss, rel=1e-5)
    assert model.modes == [(False, True)] * 3 and model.training  # 3 batches; mode restored

    preds = predict(model, x, mean=MEAN, std=STD, batch_size=32, device="cpu")
    assert preds.dtype == torch.int64 and torch.equal(preds, logits.argmax(1))
    # float [0, 1] input gives the same answer as uint8
    r_float = evaluate(model, x.float() / 255, y, mean=MEAN, std=STD, device="cpu")
    assert r_float["correct"] == manual_correct


def _old_evaluate(model, x, y, *, batch_size, channels_last):
    """The engine's own evaluation loop before it used the library's Predictor
    (kept here as the reference): uint8 -> float in the layout pass, in-place
    normalisation, float32 logits, float64 loss total."""
    dtype = next(model.parameters()).dtype
    mean = torch.tensor(MEAN, dtype=torch.float64).to(dtype).reshape(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).to(dtype).reshape(1, 3, 1, 1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    loss, correct, preds = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64), []
    was = model.training
    model.eval()
    with torch.inference_mode():
        for s in range(0, x.shape[0], batch_size):
            xb = x[s:s + batch_size]
            xb = (xb.to(dtype, memory_format=fmt).div_(255.0) if xb.dtype == torch.uint8
                  else xb.to(dtype, memory_format=fmt, copy=True))
            logits = model(xb.sub_(mean).div_(std)).float()
            yb = y[s:s + batch_size]
            loss += torch.nn.functional.cross_entropy(logits, yb, reduction="sum").to(loss.dtype)
            correct += (logits.argmax(1) == yb).sum()
            preds.append(logits.argmax(1))
    model.train(was)
    n, hits = x.shape[0], int(correct)
    return {"loss": float(loss) / n, "acc": hits / n, "n": n, "correct": hits}, torch.cat(preds)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("as_float", [False, True])
def test_evaluate_through_the_library_forward_equals_the_old_loop(data, channels_last, as_float):
    x, y = data
    x = torch.cat([x, x[:7]])  # 71 images: a partial last batch
    y = torch.cat([y, y[:7]])
    x = x.float().div_(255) if as_float else x
    model = tiny_model(dropout=0.3)
    run(model, *data, epochs=1)  # trained weights, batch-norm statistics set
    model = model.to(memory_format=torch.channels_last) if channels_last else model
    old, old_preds = _old_evaluate(model, x, y, batch_size=16, channels_last=channels_last)
    kw = dict(mean=MEAN, std=STD, batch_size=16, device="cpu", channels_last=channels_last)
    assert evaluate(model, x, y, **kw) == old
    assert torch.equal(predict(model, x, **kw), old_preds)
    assert model.training  # the caller's mode is kept


def test_evaluate_rejects_bf16_on_cpu(data):
    x, y = data
    with pytest.raises(ValueError, match="amp_dtype"):
        evaluate(tiny_model(), x, y, mean=MEAN, std=STD, device="cpu", amp_dtype=torch.bfloat16)


# ---------------------------------------------------------------- devices

def test_device_settings(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_settings("cpu")["amp_dtype"] is None
