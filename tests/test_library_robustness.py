"""utils.frequency robustness curves: the same perturbations as experiment C
before they moved into the library, accuracies equal to C's evaluation, and
known answers on a model that sees only low frequencies."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from experiments import exp_c_robustness as exp_c
from models.cnn import SmallCNN
from utils import frequency as fq
from utils import training

CORNER = 0.5 * np.sqrt(2.0)


def reference_curves(cfg, P):
    """experiments.exp_c_perturbations.make_curves as of commit 769d266
    (before the move), verbatim but for the Curve class: the reference."""
    Curve = fq.Curve

    def _noise(kind, levels, seed, **kw):
        return lambda x, idx, j: fq.add_noise(x, kind, levels[j], seed=seed, indices=idx, **kw)

    seed, cut = cfg.noise_seed, cfg.noise_cutoff
    sig = tuple(map(float, cfg.gaussian_sigmas))
    eps = tuple(map(float, cfg.noise_norms))
    norm_label = "per-channel L2 norm of the noise (pixels in [0, 1])"
    curves = [
        Curve("gaussian", "white Gaussian noise", "noise std sigma (pixels in [0, 1])", sig, sig,
              _noise("gaussian", sig, seed), sig[0] == 0),
        Curve("highpass", f"high-pass noise (rho >= {cut:g} c/p)", norm_label, eps, eps,
              _noise("highpass", eps, seed, cutoff=cut), eps[0] == 0),
        Curve("lowpass", f"low-pass control (rho < {cut:g} c/p)", norm_label, eps, eps,
              _noise("lowpass", eps, seed, cutoff=cut), eps[0] == 0)]
    bands = fq.frequency_bands(cfg.n_bands)
    centres = tuple((lo + min(hi, CORNER)) / 2 for lo, hi in bands)
    curves.append(Curve("band", f"band noise, norm {cfg.band_norm:g} per channel",
                        "band centre (cycles/pixel)", centres, centres,
                        lambda x, idx, j: fq.add_noise(x, "band", cfg.band_norm, seed=seed,
                                                       indices=idx, band=bands[j])))
    if cfg.corruptions:
        for kind, levels, clean in (("shot", fq.SHOT_LAMBDAS, np.inf),
                                    ("impulse", fq.IMPULSE_AMOUNTS, 0.0),
                                    ("speckle", fq.SPECKLE_CS, 0.0)):
            levels = (clean,) + tuple(map(float, levels))
            curves.append(Curve(kind, f"{kind} noise (CIFAR-10-C, 32x32 levels)",
                                "severity (0 = clean)", tuple(map(float, range(len(levels)))),
                                levels, lambda x, idx, j, f=_noise(kind, levels, seed):
                                x if j == 0 else f(x, idx, j), True))
    if cfg.filter_family == "gaussian":
        params = sorted(map(float, cfg.filter_sigmas), reverse=True)
        cutoffs = tuple(fq.gaussian_f50(s) for s in params)
        xlabel = "cutoff f50 = sqrt(ln 2) / (2 pi sigma) (cycles/pixel)"
    else:
        params = sorted(map(float, cfg.filter_radii))
        cutoffs = tuple(r / P for r in params)
        xlabel = "cutoff radius r / P (cycles/pixel)"
    for kind in ("low", "high"):
        curves.append(Curve(f"filter_{kind}", f"{kind}-pass filtered test set ({cfg.filter_family})",
                            xlabel, cutoffs, tuple(params),
                            lambda x, idx, j, kind=kind: fq.filter_images(
                                x, cfg.filter_family, kind, params[j])))
    return curves


@pytest.mark.parametrize("family", ["gaussian", "radial"])
def test_experiment_c_curves_are_bitwise_the_old_ones(family):
    cfg = dataclasses.replace(exp_c.Config(), corruptions=True, filter_family=family, noise_seed=4,
                              noise_cutoff=0.3, n_bands=5, band_norm=3.0)
    new, old = exp_c.make_curves(cfg, 32), reference_curves(cfg, 32)
    assert [c.name for c in new] == [c.name for c in old]
    x, idx = torch.rand(3, 3, 32, 32), torch.tensor([5, 0, 17])
    for a, b in zip(new, old):
        assert (a.title, a.xlabel, a.x, a.levels, a.clean_first) == \
            (b.title, b.xlabel, b.x, b.levels, b.clean_first), a.name
        for j in range(len(a.levels)):
            assert torch.equal(a.perturb(x, idx, j), b.perturb(x, idx, j)), (a.name, j)


def test_accuracies_equal_experiment_c_evaluation_whatever_the_batch(one_thread):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=4, widths=(4, 8), k1=3).eval()
    x, y = torch.rand(10, 3, 16, 16), torch.randint(0, 4, (10,))
    idx = torch.arange(30, 40)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.3, 0.25)
    curves = fq.standard_curves(16, seed=2, gaussian_sigmas=(0.0, 0.1, 0.3),
                                noise_norms=(0.0, 2.0, 6.0), n_bands=3, corruptions=True)
    got = fq.robustness_curves(model, x, y, curves, mean=mean, std=std, batch_size=3, indices=idx)
    assert list(got) == [c.name for c in curves]
    accs = []
    for c in curves:  # C's way: the whole set perturbed at once, then the engine
        want = [training.evaluate(model, c.perturb(x, idx, j), y, mean=mean, std=std,
                                  device="cpu")["acc"] for j in range(len(c.levels))]
        np.testing.assert_array_equal(got[c.name]["acc"], want, err_msg=c.name)
        np.testing.assert_array_equal(got[c.name]["x"], c.x)
        accs += want
        # the loss per level too, bitwise at the same batching (C can call this)
        loss = [training.evaluate(model, c.perturb(x, idx, j), y, mean=mean, std=std,
                                  batch_size=3, device="cpu")["loss"] for j in range(len(c.levels))]
        np.testing.assert_array_equal(got[c.name]["loss"], loss, err_msg=c.name)
        assert len(set(loss)) > 1
    assert len(set(accs)) > 1  # the model is not constant, so equality means something


class LowPassEnergyDetector(nn.Module):
    """Class 1 when the [0, 1] image, ideally low-passed at radius ``r``
    bins, has energy above 8 around grey: blind to every frequency >= r."""

    def __init__(self, radius: float = 6.0):
        super().__init__()
        self.radius = radius

    def forward(self, x):
        energy = fq.radial_lowpass(x - 0.5, self.radius).square().sum(dim=(1, 2, 3))
        return torch.stack([8.0 - energy, energy - 8.0], dim=1)


def test_known_answers_on_a_low_pass_model():
    """Class 0: grey plus texture outside the disc (low-passed energy 0);
    class 1: grey plus a wave at (u, v) = (2, 1), rho * P = 2.24, of norm 3
    per channel (energy 27 > 8). High-pass noise (rho >= 0.25 c/p = 8 bins)
    is invisible to the model: accuracy 1 at every level, as long as nothing
    is clipped (checked). A radial low-pass at r = 2 removes the wave and
    keeps the grey DC: every image looks like class 0, accuracy 0.5; at
    r = 8 both classes survive, accuracy 1."""
    P, radius = 32, 6.0
    g = torch.Generator().manual_seed(0)
    texture = fq.radial_highpass(torch.randn(4, 3, P, P, generator=g), radius)
    texture = 0.1 * texture / texture.abs().amax(dim=(1, 2, 3), keepdim=True)
    wave = fq.fourier_basis(P)[P // 2 + 2, P // 2 + 1]
    x = torch.cat([0.5 + texture, (0.5 + 3.0 * wave).expand(4, 3, P, P)])
    y = torch.tensor([0] * 4 + [1] * 4)
    high = fq.noise_curve("highpass", (0.0, 0.5, 1.0), seed=1)
    low = fq.noise_curve("lowpass", (0.0, 1.0, 4.0), seed=1)
    for j in (1, 2):  # no clipping, so the model really cannot see the noise
        xp = x + fq.band_noise_pattern(x, high.levels[j], (0.25, np.inf), seed=1)
        assert 0 < xp.min() and xp.max() < 1
    out = fq.robustness_curves(LowPassEnergyDetector(radius), x, y,
                               [high, low, *fq.filter_curves("radial", (8, 2), P)])
    np.testing.assert_array_equal(out["highpass"]["acc"], [1.0, 1.0, 1.0])
    assert out["lowpass"]["acc"][0] == 1.0 and out["lowpass"]["acc"][-1] < 1.0
    np.testing.assert_array_equal(out["filter_low"]["x"], [2 / P, 8 / P])  # ascending cutoff
    np.testing.assert_array_equal(out["filter_low"]["acc"], [0.5, 1.0])


def test_clean_level_evaluated_once_and_progress_counts_images():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 2)).train()
    x, y = torch.rand(5, 3, 8, 8), torch.tensor([0, 1, 0, 1, 1])
    curves = [fq.noise_curve("gaussian", (0.0, 0.1), seed=0),
              fq.noise_curve("highpass", (0.5, 1.0), seed=0)]
    calls = []
    fq.robustness_curves(model, x, y, curves, batch_size=2,
                         progress=lambda d, t: calls.append((d, t)))
    assert model.training  # mode restored
    assert calls[-1] == (5 * 4, 5 * 4)  # clean + 1 + 2 levels, 5 images each


@pytest.mark.parametrize("change, match", [
    (dict(images=torch.rand(2, 3, 8)), "images"),
    (dict(images=torch.rand(2, 3, 8, 8) + 1), "images"),
    (dict(images=torch.full((2, 3, 8, 8), float("nan"))), "images"),
    (dict(labels=[0, 1, 2]), "labels"),
    (dict(curves=fq.noise_curve("gaussian", (0.0, 0.1))), "curves"),
    (dict(curves=[fq.noise_curve("gaussian", (0.0,))] * 2), "curves"),
    (dict(batch_size=1.5), "batch_size"),
])
def test_bad_input_names_the_argument(change, match):
    args = dict(images=torch.rand(2, 3, 8, 8), labels=torch.tensor([0, 1]),
                curves=[fq.noise_curve("gaussian", (0.0, 0.1))])
    args.update(change)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 2))
    with pytest.raises(ValueError, match=match):
        fq.robustness_curves(model, args.pop("images"), args.pop("labels"), **args)


@pytest.mark.parametrize("call, match", [
    (lambda: fq.noise_curve("band", (1.0,)), "kind"),
    (lambda: fq.noise_curve("gaussian", ()), "levels"),
    (lambda: fq.corruption_curve("fog"), "kind"),
    (lambda: fq.filter_curves("square", (3,)), "family"),
])
def test_bad_curve_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_default_curves_and_a_tqdm_bar(capsys):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 2))
    x, y = torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 0])
    out = fq.robustness_curves(model, x, y, progress=True)
    assert list(out) == [c.name for c in fq.standard_curves(8)]
    assert all(0 <= a <= 1 for c in out.values() for a in c["acc"])
    assert capsys.readouterr().out == ""  # the bar (asked for) goes to stderr, nothing to stdout
