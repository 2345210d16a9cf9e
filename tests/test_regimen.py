"""The regimen: each knob against a known answer, the arm grammar, sweeps."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.cnn import SmallCNN
from models.resnet import ResNet18
from utils import training
from utils.optim import make_optimizer
from utils.regimen import (Regimen, build_regimens, parse_arm, parse_sweep, shorthand_arms,
                           sweep_axis, weight_params)

BASE = Regimen(name="baseline")
SHORT = shorthand_arms(BASE, 1e-4, 0.1)


# --------------------------------------------------------------------------- knobs

def test_penalty_value_and_gradient_match_a_hand_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    r = Regimen(name="l2", l2=0.3)
    params = r.penalised(model)
    assert [p.shape for p in params] == [(4, 3), (2, 4)]          # weights only, no biases
    pen = r.penalty(params)
    w1, w2 = model[0].weight.detach().double(), model[2].weight.detach().double()
    hand = 0.3 * ((w1 ** 2).sum() + (w2 ** 2).sum())
    assert math.isclose(float(pen.detach()), float(hand), rel_tol=1e-6)
    pen.backward()
    torch.testing.assert_close(model[0].weight.grad, (2 * 0.3 * model[0].weight).detach())
    assert model[0].bias.grad is None                               # biases not penalised
    assert Regimen(name="d", l2=0.3, l2_mode="decoupled").penalty(params) is None
    assert Regimen(name="z").penalty(params) is None


def test_decoupled_decay_matches_sgd_weight_decay_and_adamw():
    torch.manual_seed(0)
    x, y = torch.randn(16, 5), torch.randn(16, 1)

    def model():
        torch.manual_seed(1)
        return nn.Linear(5, 1, bias=False)   # weights only: torch's decay acts on the same set

    lam, lr = 0.05, 0.1
    ours, ref = model(), model()
    opt = make_optimizer(ours, Regimen(name="d", l2=lam, l2_mode="decoupled"), lr=lr, momentum=0.0,
                         nesterov=False)
    sgd = torch.optim.SGD(ref.parameters(), lr=lr, weight_decay=lam)  # (1 - lr lam) W - lr g
    for _ in range(5):
        for m, o in ((ours, opt), (ref, sgd)):
            o.zero_grad()
            F.mse_loss(m(x), y).backward()
            o.step()
    torch.testing.assert_close(ours.weight, ref.weight, rtol=1e-6, atol=1e-7)

    # experiment A's decoupled mode is AdamW on the regimen's groups: weight decay on the
    # weights, none on the biases.
    r = Regimen(name="d", l2=lam, l2_mode="decoupled")
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    groups = r.param_groups(net)
    assert [g["weight_decay"] for g in groups] == [lam, 0.0]
    assert {id(p) for p in groups[0]["params"]} == {id(net[0].weight), id(net[1].weight)}
    assert Regimen(name="p", l2=lam).param_groups(net)[0]["weight_decay"] == 0.0


def test_label_smoothing_matches_torch():
    logits, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    r = Regimen(name="ls", label_smoothing=0.1)
    torch.testing.assert_close(r.cross_entropy(logits, y),
                               F.cross_entropy(logits, y, label_smoothing=0.1))
    assert torch.equal(Regimen().cross_entropy(logits, y), F.cross_entropy(logits, y))


@pytest.mark.parametrize("net", ["small_cnn", "resnet18"])
def test_conv_dropout_masks_whole_channels_and_is_off_in_eval(net, one_thread):
    torch.manual_seed(0)
    model = (SmallCNN(widths=(8, 16), dropout=0.5, dropout_at="conv") if net == "small_cnn"
             else ResNet18(dropout=0.5, dropout_at="conv"))
    drop = model.conv_dropout[0] if net == "small_cnn" else model.stage_dropout[0]
    assert isinstance(drop, nn.Dropout2d)
    assert isinstance(model.dropout, nn.Identity)          # the classifier has none then
    seen = {}
    drop.register_forward_hook(lambda m, i, o: seen.update(i=i[0].detach(), o=o.detach()))
    x = torch.rand(2, 3, 32, 32)
    model.train()
    model(x)
    i, o = seen["i"], seen["o"]
    kept = (o != 0).flatten(2).any(-1)                     # (B, C) channel kept?
    for b in range(i.shape[0]):
        for c in range(i.shape[1]):
            if kept[b, c]:
                torch.testing.assert_close(o[b, c], i[b, c] * 2.0)
            else:
                assert not o[b, c].any()
    assert 0 < kept.float().mean() < 1
    model.eval()
    model(x)
    assert torch.equal(seen["o"], seen["i"])
    # parameter names do not depend on dropout or its placement (shared init weights)
    plain = SmallCNN(widths=(8, 16)) if net == "small_cnn" else ResNet18(dropout=0.0)
    assert list(plain.state_dict()) == list(model.state_dict())


class _Recorder(nn.Module):
    """Records its inputs; a linear read-out so the engine can train it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 2)
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.fc(x.flatten(1))


def _epoch(regimen, epoch, x, y, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)):
    torch.manual_seed(0)
    model = _Recorder()
    opt = make_optimizer(model, regimen, lr=0.01, momentum=0.0, nesterov=False)
    training.train_one_epoch(model, x, y, optimizer=opt, scheduler=None, batch_size=4, mean=mean,
                             std=std, epoch=epoch, seed=3, regimen=regimen, device="cpu")
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return torch.cat(model.inputs) * s + m       # back to [0, 1] pixels


def test_input_noise_is_on_pixels_before_normalisation_and_deterministic(one_thread):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 2, (8,), generator=g)
    clean = _epoch(Regimen(name="c"), 0, x, y)
    noisy = Regimen(name="n", input_noise=0.2)
    a, b, other = _epoch(noisy, 0, x, y), _epoch(noisy, 0, x, y), _epoch(noisy, 1, x, y)
    assert torch.equal(a, b)                          # same (seed, epoch): same noise
    assert not torch.equal(a, other)                  # another epoch: other noise
    # clipped to [0, 1] on pixels: only possible if added before normalisation
    assert a.min() >= -1e-6 and a.max() <= 1 + 1e-6
    assert (a < 1e-6).any() and (a > 1 - 1e-6).any()
    inside = (a > 1e-3) & (a < 1 - 1e-3)
    assert abs(float((a - clean)[inside].std()) - 0.2) < 0.04
    # the same batches in the same order: only the noise differs
    assert float((a - clean).abs().max()) <= 0.2 * 6


def test_l2_set_of_a_parametrised_weight_is_its_original():
    from torch.nn.utils.parametrizations import spectral_norm
    net = nn.Sequential(spectral_norm(nn.Linear(3, 3)), nn.Linear(3, 1))
    params = weight_params(net)
    optimised = {id(p) for p in net.parameters()}
    assert len(params) == 2 and all(id(p) in optimised for p in params)
    assert params[0] is net[0].parametrizations.weight.original


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kw, field", [
    ({"l2": float("nan")}, "l2"), ({"l2": -1.0}, "l2"), ({"l2": float("inf")}, "l2"),
    ({"dropout": 1.0}, "dropout"), ({"dropout": float("nan")}, "dropout"),
    ({"label_smoothing": 1.0}, "label_smoothing"), ({"input_noise": -0.1}, "input_noise"),
    ({"l2_mode": "both"}, "l2_mode"), ({"dropout_at": "everywhere"}, "dropout_at"),
    ({"augment": "mixup"}, "augment"), ({"name": "a/b"}, "name"), ({"name": ""}, "name"),
    ({"l2": True}, "l2"),
])
def test_bad_knobs_are_refused_naming_the_knob(kw, field):
    with pytest.raises(ValueError, match=field):
        Regimen(**{"name": "x", **kw})


def test_arm_grammar():
    r = parse_arm("l2conv:l2=5e-4,dropout=0.2,dropout_at=conv", BASE, SHORT)
    assert (r.name, r.l2, r.dropout, r.dropout_at) == ("l2conv", 5e-4, 0.2, "conv")
    assert parse_arm("l2", BASE, SHORT) == SHORT["l2"]
    for bad, needle in (("nosuch", "shorthand"), ("x:l3=1", "unknown knob"),
                        ("x:l2", "knob=value"), ("x:l2=abc", "number"),
                        ("x:l2=1,l2=2", "twice"), ("x:l2=nan", "l2")):
        with pytest.raises(ValueError, match=needle):
            parse_arm(bad, BASE, SHORT)


def test_duplicate_arms_and_unsupported_knobs_are_refused():
    with pytest.raises(ValueError, match="repeat"):
        build_regimens(["l2", "l2"], BASE, SHORT)
    with pytest.raises(ValueError, match="same regimen"):
        build_regimens(["l2", "l2b:l2=1e-4"], BASE, SHORT)
    with pytest.raises(ValueError, match="does not support"):
        build_regimens(["ls:label_smoothing=0.1"], BASE, SHORT, allowed=("l2", "dropout"))
    with pytest.raises(ValueError, match="dropout_at"):
        build_regimens(["c:dropout=0.1,dropout_at=conv"], BASE, SHORT, placements=("hidden",))


def test_sweep_pairs_values_with_the_baseline_as_zero_point():
    arms = build_regimens([], BASE, SHORT, sweep="l2=1e-3,0,1e-4")
    assert [a.name for a in arms] == ["baseline", "l2=0.001", "l2=0.0001"]
    axis = sweep_axis(arms, "l2=1e-3,0,1e-4", BASE)
    assert axis == {"knob": "l2", "values": [0.0, 1e-4, 1e-3], "arms": [0, 2, 1]}
    # a sweep without the zero point still trains and shows the baseline
    arms = build_regimens(["dropout"], BASE, SHORT, sweep="l2=1e-4,1e-3")
    assert arms[0].name == "baseline" and len(arms) == 4
    assert sweep_axis(arms, "l2=1e-4,1e-3", BASE)["values"] == [0.0, 1e-4, 1e-3]
    for bad in ("l2=1e-4", "l2", "nope=1,2", "l2=1,1", "l2=0,nan"):
        with pytest.raises(ValueError):
            build_regimens([], BASE, SHORT, sweep=bad)
    assert parse_sweep("dropout_at=classifier,conv") == ("dropout_at", ("classifier", "conv"))


def test_label_says_exactly_which_regulariser():
    assert BASE.label() == "baseline (no regulariser)"
    r = Regimen(name="mix", l2=5e-4, dropout=0.2, dropout_at="conv", label_smoothing=0.1,
                augment="crop_flip", input_noise=0.05)
    assert r.label() == ("mix (L2 penalty 0.0005*sum||W||^2, dropout p=0.2 at conv, label "
                         "smoothing 0.1, crop+flip, input noise sigma=0.05)")
    assert "decoupled weight decay 0.001" in dataclasses.replace(
        r, l2=1e-3, l2_mode="decoupled").label()


def test_cutout_zeroes_one_square_per_image_and_is_seeded():
    r = Regimen(name="co", cutout=6)
    aug = r.augmenter()
    x = torch.full((64, 3, 16, 16), 200, dtype=torch.uint8)
    out = aug(x, torch.Generator().manual_seed(0))
    zero = (out == 0).all(dim=1)                                   # (B, H, W)
    for b in range(64):
        ys, xs = zero[b].nonzero(as_tuple=True)
        assert ys.numel() > 0                                      # something was cut
        h, w = int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1
        assert h <= 6 and w <= 6 and ys.numel() == h * w           # one square (clipped at edges)
    assert int(zero.sum(dim=(1, 2)).max()) == 36                   # the full square inside the image
    assert torch.equal(out, aug(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(out, aug(x, torch.Generator().manual_seed(1)))
    assert torch.equal(x, torch.full_like(x, 200))                 # the caller's images untouched
    assert r.label() == "co (cutout 6px)"
    assert parse_arm("c:cutout=4", BASE, SHORT).cutout == 4
    with pytest.raises(ValueError, match="cutout"):
        Regimen(name="c", cutout=-1)
    with pytest.raises(ValueError, match="does not support"):        # experiment A has no images
        build_regimens(["c:cutout=4"], BASE, SHORT, allowed=("l2", "dropout"))
