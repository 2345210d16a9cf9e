"""utils.frequency.fourier_heatmap: the library heat map on any model, the
same numbers as experiment C's before it moved into the library."""

import numpy as np
import pytest
import torch
from torch import nn

from experiments import exp_c_perturbations
from models.cnn import SmallCNN
from utils import frequency as fq
from utils import training


def reference_heatmap(model, x01, y, *, indices, v, seed, mean, std, batch_size, device,
                      amp_dtype=None, channels_last=False):
    """experiments.exp_c_perturbations.fourier_heatmap as of commit 769d266
    (before the move), verbatim but for the names: the trusted reference."""
    P = x01.shape[-1]
    pos = fq.distinct_positions(P)
    U = fq.fourier_basis(P, device=x01.device)[pos[:, 0], pos[:, 1]]
    ids = pos[:, 0] * P + pos[:, 1]
    n, B = len(pos), x01.shape[0]
    idx = torch.as_tensor(indices)
    y = y.cpu()
    errors = torch.zeros(n, dtype=torch.int64)
    per_call = max(1, batch_size // n)
    K = min(n, batch_size)
    for i0 in range(0, B, per_call):
        i1 = min(B, i0 + per_call)
        for k0 in range(0, n, K):
            k1 = min(n, k0 + K)
            batch = fq.perturb_with_basis(x01[i0:i1], U[k0:k1], v, seed=seed, indices=idx[i0:i1],
                                          basis_ids=ids[k0:k1])
            pred = training.predict(model, batch.flatten(0, 1), mean=mean, std=std,
                                    batch_size=batch.shape[0] * batch.shape[1], device=device,
                                    amp_dtype=amp_dtype, channels_last=channels_last)
            errors[k0:k1] += (pred.view(k1 - k0, i1 - i0) != y[i0:i1]).sum(dim=1)
    return fq.assemble_heatmap(errors.double() / B, P)


class LowPassEnergyDetector(nn.Module):
    """Says "class 1" when the image, ideally low-passed (radius ``r`` bins),
    has energy above a threshold around grey: a model that sees only the
    frequencies inside the disc (the same model as tests/test_exp_c.py)."""

    def __init__(self, radius: float, mean, std, threshold: float = 8.0):
        super().__init__()
        self.radius = radius
        self.threshold = nn.Parameter(torch.tensor(threshold), requires_grad=False)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        grey = x * self.std + self.mean - 0.5  # back to [0, 1] pixels, minus grey
        energy = fq.radial_lowpass(grey, self.radius).square().sum(dim=(1, 2, 3))
        return torch.stack([self.threshold - energy, energy - self.threshold], dim=1)


def _low_pass_case(P=32, radius=6.0):
    """Class 0: grey plus texture outside the disc (low-passed energy 0; a
    basis of norm 4 inside the disc adds 16 per channel, 48 > 8, and flips
    it). Class 1: a low-frequency wave of norm 10 per channel, whose
    low-passed energy stays >= 3 (10 - 4)^2 whatever is added. So the error
    is 0.5 inside the disc and exactly 0 on every basis with radius >= r."""
    g = torch.Generator().manual_seed(0)
    texture = fq.radial_highpass(torch.randn(4, 3, P, P, generator=g), radius)
    texture = 0.1 * texture / texture.abs().amax(dim=(1, 2, 3), keepdim=True)
    wave = fq.fourier_basis(P)[P // 2 + 2, P // 2 + 1]  # (u, v) = (2, 1)
    x = torch.cat([0.5 + texture, (0.5 + 10.0 * wave).expand(4, 3, P, P)])
    y = torch.tensor([0] * 4 + [1] * 4)
    k = np.arange(P) - P // 2
    inside = np.hypot(k[:, None], k[None, :]) < radius  # DC centred, rho * P < r
    return x, y, inside


def test_ideal_low_pass_model_errs_only_inside_its_pass_band_and_matches_experiment_c():
    mean, std, radius = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), 6.0
    x, y, inside = _low_pass_case(radius=radius)
    model = LowPassEnergyDetector(radius, mean, std)
    heat = fq.fourier_heatmap(model, x, y, v=4.0, seed=3, mean=mean, std=std, batch_size=600,
                              indices=torch.arange(10, 18))
    assert heat.shape == (32, 32)
    assert np.all(heat[~inside] == 0.0)           # radius >= r: the model cannot see them
    assert np.array_equal(heat, np.where(inside, 0.5, 0.0))
    old = reference_heatmap(model, x, y, indices=torch.arange(10, 18), v=4.0, seed=3, mean=mean,
                            std=std, batch_size=600, device="cpu")
    assert np.array_equal(heat, old)
    assert exp_c_perturbations.fourier_heatmap is fq.fourier_heatmap  # C calls the library


@pytest.mark.parametrize("batch_size, channels_last", [(100, False), (1100, True), (2000, False)])
def test_same_numbers_as_experiment_c_before_the_move(batch_size, channels_last, one_thread):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=3, widths=(4, 8), k1=3)
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode matters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(5, 3, 16, 16)
    y = torch.tensor([0, 1, 2, 1, 0])
    kw = dict(v=4.0, seed=7, mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.25), batch_size=batch_size,
              indices=torch.tensor([3, 9, 4, 0, 12]), channels_last=channels_last)
    model.train()
    new = fq.fourier_heatmap(model, x, y, **kw)
    assert model.training  # mode restored
    old = reference_heatmap(model, x, y, device="cpu", **kw)
    assert np.array_equal(new, old)
    assert 0 < new.mean() < 1  # not a degenerate map, so equality means something


def test_identity_normalisation_progress_callback_and_default_device():
    x, y, inside = _low_pass_case()
    model = LowPassEnergyDetector(6.0, (0.0,) * 3, (1.0,) * 3)  # takes [0, 1] pixels
    calls = []
    heat = fq.fourier_heatmap(model, x, y, seed=3, indices=torch.arange(10, 18), batch_size=1028,
                              progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(heat, np.where(inside, 0.5, 0.0))
    n = len(fq.distinct_positions(32))
    assert calls[-1] == (8 * n, 8 * n) and len(calls) == 4  # 2 images per forward pass
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_model_without_parameters_runs():
    x, y, inside = _low_pass_case()

    class Fixed(nn.Module):
        def forward(self, t):
            energy = fq.radial_lowpass(t - 0.5, 6.0).square().sum(dim=(1, 2, 3))
            return torch.stack([8.0 - energy, energy - 8.0], dim=1)

    heat = fq.fourier_heatmap(Fixed(), x, y, seed=3, indices=torch.arange(10, 18))
    assert np.array_equal(heat, np.where(inside, 0.5, 0.0))


@pytest.mark.parametrize("change, match", [
    (dict(images=torch.rand(2, 3, 8, 6)), "images"),
    (dict(labels=torch.tensor([0.0, 1.0])), "labels"),
    (dict(labels=torch.tensor([0, 1, 1])), "labels"),
    (dict(batch_size=0), "batch_size"),
    (dict(v=-1.0), "v"),
    (dict(mean=(0.5, 0.5)), "mean"),
    (dict(std=(1.0, 0.0, 1.0)), "std"),
    (dict(progress="yes"), "progress"),
    (dict(amp_dtype=torch.bfloat16), "amp_dtype"),
    (dict(indices=[0]), "indices"),
    (dict(images=torch.rand(2, 3, 8, 8) * 2), "images"),
    (dict(images=torch.zeros(2, 3, 8, 8, dtype=torch.uint8)), "images"),
    (dict(model=lambda t: t), "model"),
])
def test_bad_input_names_the_argument(change, match):
    args = dict(model=nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 2)),
                images=torch.rand(2, 3, 8, 8), labels=torch.tensor([0, 1]))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        fq.fourier_heatmap(args.pop("model"), args.pop("images"), args.pop("labels"), **args)
