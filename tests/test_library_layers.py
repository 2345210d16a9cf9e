"""utils.frequency per-layer weight spectra and SpectrumTracker, on the
project's models and on torchvision's ImageNet ResNet-18 (no weights)."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from experiments import exp_b_spectrum_evolution as exp_b
from models.cnn import SmallCNN
from utils import frequency as fq

torchvision = pytest.importorskip("torchvision")


def _out(size, conv):
    """Output size of a conv or pool: floor((n + 2p - d (k - 1) - 1) / s) + 1."""
    k, s, p = (v if isinstance(v, int) else v[0] for v in (conv.kernel_size, conv.stride,
                                                             conv.padding))
    d = conv.dilation if isinstance(conv.dilation, int) else conv.dilation[0]
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def resnet18_resolutions(model, size):
    """Independent derivation from torchvision's ResNet-18 layout: conv1,
    max-pool, then per BasicBlock conv1 (strided), conv2 and the
    downsample on the block's input."""
    want = {"conv1": size}
    size = _out(_out(size, model.conv1), model.maxpool)
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for b, block in enumerate(getattr(model, stage)):
            want[f"{stage}.{b}.conv1"] = size
            if block.downsample is not None:
                want[f"{stage}.{b}.downsample.0"] = size
            size = _out(size, block.conv1)
            want[f"{stage}.{b}.conv2"] = size
    return want


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)  # no weights: no download


def test_input_resolutions_of_torchvision_resnet18(resnet):
    res = fq.conv_input_resolutions(resnet, (3, 32, 32))
    assert res == resnet18_resolutions(resnet, 32)
    assert list(res) == list(fq.conv_layers(resnet))  # every conv, in module order
    assert res["layer4.1.conv2"] == 1                  # 32 -> 16 -> 8 -> 4 -> 2 -> 1


def test_weight_spectra_of_every_conv_of_resnet18(resnet):
    resnet.train()
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    spectra = fq.layer_weight_spectra(resnet, (3, 32, 32))
    assert resnet.training  # mode restored, no statistic touched by the probe pass
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items())
    res = resnet18_resolutions(resnet, 32)
    assert list(spectra) == list(fq.conv_layers(resnet)) and set(spectra) == set(res)
    for name, spec in spectra.items():
        w = resnet.get_submodule(name).weight.detach().double()
        assert spec.P == max(res[name], w.shape[-1])   # 3x3 kernels on 1x1 maps: P = 3
        # Parseval per layer: energy over rings = mean over kernels of sum w^2
        assert torch.allclose(spec.energy.sum(), w.square().sum(dim=(-2, -1)).mean())
    ref = fq.radial_power_spectrum(resnet.conv1.weight, pad_to=32, reduce="mean",
                                   dtype=torch.float64)
    assert torch.equal(spectra["conv1"].energy, ref.energy)
    one = fq.layer_weight_spectra(resnet, (3, 32, 32), layers="layer2.0.conv1", reduce=None)
    assert list(one) == ["layer2.0.conv1"] and one["layer2.0.conv1"].energy.shape[:2] == (128, 64)


def test_experiment_b_uses_the_library():
    model = SmallCNN(widths=(4, 8, 8))
    cfg = dataclasses.replace(exp_b.Config(), track_all_convs=True)
    tracker = exp_b.spectrum_tracker(model, (3, 32, 32), cfg)
    assert isinstance(tracker, fq.SpectrumTracker)
    assert tracker.P == {"conv1": 32, "blocks.0": 16, "blocks.4": 8}
    assert list(exp_b.spectrum_tracker(model, (3, 32, 32), exp_b.Config()).P) == ["conv1"]
    assert list(exp_b.conv_layers(model)) == ["conv1", "blocks.0", "blocks.4"]


def test_shared_conv_at_two_resolutions_and_bad_input():
    conv = nn.Conv2d(3, 3, 3, padding=1)
    model = nn.Sequential(conv, nn.MaxPool2d(2), conv)
    with pytest.raises(ValueError, match="two input resolutions"):
        fq.conv_input_resolutions(model, (3, 16, 16))
    ok = SmallCNN(widths=(4,))
    for shape in [(3, 32), (3, 32, 0), "3x32x32", (3, 32.5, 32)]:
        with pytest.raises(ValueError, match="input_shape"):
            fq.conv_input_resolutions(ok, shape)
    with pytest.raises(ValueError, match="layers"):
        fq.layer_weight_spectra(ok, (3, 32, 32), layers=["fc"])
    with pytest.raises(ValueError, match="model"):
        fq.conv_layers("resnet")


def test_float64_model_and_non_square_input():
    model = SmallCNN(widths=(4, 8)).double()
    assert fq.conv_input_resolutions(model, (3, 24, 40)) == {"conv1": 40, "blocks.0": 20}


# --------------------------------------------------------------------------
# SpectrumTracker
# --------------------------------------------------------------------------

def test_tracker_known_answers_halving_and_blurring():
    """Halving the weights quarters the power at every frequency: SSR_abs =
    0.75 and SSR_norm = 0 exactly. Blurring suppresses high frequencies:
    SSR_norm > 0 (docs/DEFINITIONS.md 3's positive control)."""
    torch.manual_seed(0)
    model = SmallCNN(widths=(8, 8), k1=5)
    tracker = fq.SpectrumTracker(model, ("conv1", "blocks.0"), input_shape=(3, 32, 32))
    assert tracker.P == {"conv1": 32, "blocks.0": 16}
    w0 = model.conv1.weight.detach().clone()
    h0 = tracker.snapshot(0)
    with torch.no_grad():
        model.conv1.weight.mul_(0.5)
    tracker.snapshot(10)
    assert tracker.ssr()["conv1"].ssr_abs.shape == (2,)  # a later snapshot refreshes it
    blur = torch.tensor([[1., 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    with torch.no_grad():
        w = model.conv1.weight
        w.copy_(F.conv2d(w.reshape(-1, 1, 5, 5), blur.view(1, 1, 3, 3), padding=1).reshape(w.shape))
    tracker.snapshot(20)
    r = tracker.ssr()["conv1"]
    assert r.ssr_abs.shape == (3,)
    np.testing.assert_allclose(r.ssr_abs[:2], [0.0, 0.75], atol=1e-12)
    np.testing.assert_allclose(r.ssr_norm[:2], [0.0, 0.0], atol=1e-12)
    assert r.ssr_norm[2] > 0 and r.comparison == "time" and r.P == 32
    direct = fq.spectral_suppression_ratio(w0, model.conv1.weight, cutoff=0.25, pad_to=32)
    assert r.ssr_norm[2] == pytest.approx(direct.ssr_norm, rel=1e-12)
    np.testing.assert_allclose(tracker.hff()["conv1"], r.hff_after, rtol=1e-12)
    assert h0["conv1"] == pytest.approx(float(fq.high_frequency_fraction(
        w0, 0.25, pad_to=32, reduce="mean", dtype=torch.float64)), rel=1e-12)
    np.testing.assert_allclose(tracker.ssr()["blocks.0"].ssr_abs, 0.0, atol=1e-12)  # untouched
    ref = fq.radial_power_spectrum(w0, pad_to=32, reduce="mean", dtype=torch.float64)
    np.testing.assert_allclose(tracker.energy()["conv1"][0], ref.energy.numpy(), rtol=1e-12)


def test_tracker_latest_and_keep_weights_false():
    """``latest()`` is the last snapshot's weights, energies and HFF; with
    keep_weights=False only that snapshot's weights stay and SSR is refused."""
    torch.manual_seed(0)
    model = SmallCNN(widths=(4, 8), k1=5)
    keep = fq.SpectrumTracker(model, "conv1", input_shape=(3, 32, 32))
    light = fq.SpectrumTracker(model, "conv1", input_shape=(3, 32, 32), keep_weights=False)
    for step in (0, 5):
        hk, hl = keep.snapshot(step), light.snapshot(step)
        with torch.no_grad():
            model.conv1.weight.mul_(0.5)
    last = light.latest()["conv1"]
    assert hl["conv1"] == hk["conv1"] == last["hff"]
    np.testing.assert_array_equal(last["weight"], model.conv1.weight.detach().numpy() * 2)
    np.testing.assert_array_equal(last["energy"], keep.energy()["conv1"][-1])
    np.testing.assert_array_equal(light.hff()["conv1"], keep.hff()["conv1"])
    assert len(light._weights["conv1"]) == 1 and len(keep._weights["conv1"]) == 2
    for method in (light.ssr, light.as_arrays):
        with pytest.raises(ValueError, match="keep_weights"):
            method()
    with pytest.raises(ValueError, match="keep_weights"):
        fq.SpectrumTracker(model, "conv1", input_shape=(3, 32, 32), keep_weights="no")


def test_tracker_in_a_training_loop_and_saved_arrays(tmp_path, one_thread):
    torch.manual_seed(0)
    model = SmallCNN(widths=(4, 8), k1=5)
    tracker = fq.SpectrumTracker(model, "conv1", input_shape=(3, 32, 32), cutoff=0.3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    tracker.snapshot(0)
    for step in range(1, 4):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        tracker.snapshot(step)
    assert model.training
    np.savez(tmp_path / "spectra.npz", **tracker.as_arrays())
    with np.load(tmp_path / "spectra.npz") as z:
        arrays = {k: z[k] for k in z.files}
    assert arrays["steps"].tolist() == [0, 1, 2, 3] and float(arrays["cutoff"]) == 0.3
    w = arrays["conv1/weight"]
    assert w.shape == (4, 4, 3, 5, 5)
    np.testing.assert_array_equal(w[-1], model.conv1.weight.detach().numpy())
    np.testing.assert_allclose(arrays["conv1/energy"].sum(-1),
                               (w.astype(np.float64) ** 2).sum(axis=(-2, -1)).mean(axis=(1, 2)))
    np.testing.assert_allclose(arrays["conv1/mean_power"] * arrays["conv1/count"],
                               arrays["conv1/energy"])
    assert arrays["conv1/frequency"].shape == arrays["conv1/count"].shape == (24,)
    assert int(arrays["conv1/P"]) == 32
    assert arrays["conv1/ssr_norm"][0] == 0 and np.all(np.isfinite(arrays["conv1/ssr_abs"]))
    assert not np.array_equal(w[0], w[-1])  # the weights did move


def test_tracker_on_every_conv_of_resnet18(resnet):
    tracker = fq.SpectrumTracker(resnet, layers=None, input_shape=(3, 32, 32))
    assert len(tracker.P) == 20 and tracker.P["layer4.1.conv2"] == 3
    tracker.snapshot(0)
    assert set(tracker.ssr()) == set(fq.conv_layers(resnet))


def test_tracker_bad_input():
    model = SmallCNN(widths=(4,))
    with pytest.raises(ValueError, match="layers"):
        fq.SpectrumTracker(model, ("fc",), input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="cutoff"):
        fq.SpectrumTracker(model, input_shape=(3, 32, 32), cutoff=0.9)
    tracker = fq.SpectrumTracker(model, input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="snapshot"):
        tracker.ssr()
    tracker.snapshot(5)
    for step in (5, 3, -1, 1.5, True):
        with pytest.raises(ValueError, match="step"):
            tracker.snapshot(step)
