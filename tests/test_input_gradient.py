"""utils.frequency.input_gradient_spectrum against known answers: a linear
model (closed-form gradient of log-softmax) and an exact low-pass filter
followed by a linear read-out (no gradient power above the filter's cut)."""

import numpy as np
import pytest
import torch
from torch import nn

from utils.frequency import input_gradient_spectrum

P, C, K = 8, 2, 3


class Linear(nn.Module):
    def __init__(self, W):
        super().__init__()
        self.fc = nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=torch.float64)
        self.fc.weight.data = torch.as_tensor(W)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x.flatten(1)))


class LowPass(nn.Module):
    """Ideal low-pass (keep FFT bins with rho <= cut) then a linear read-out."""

    def __init__(self, W, cut):
        super().__init__()
        self.readout = Linear(W)
        f = np.fft.fftfreq(P)
        self.register_buffer("mask", torch.from_numpy(
            (np.hypot(f[:, None], f[None, :]) <= cut).astype(np.float64)))

    def forward(self, x):
        return self.readout(torch.fft.ifft2(torch.fft.fft2(x) * self.mask).real)


def _numpy_reference(grads, cut):
    """Per-image HFF and ring-averaged power of (B, C, P, P) gradients, by
    numpy's FFT and a direct ring assignment."""
    S = np.abs(np.fft.fft2(grads, norm="ortho")) ** 2
    f = np.fft.fftfreq(P)
    rho = np.hypot(f[:, None], f[None, :])
    Si = S.sum(axis=1)
    hff = (Si * (rho > cut)).sum(axis=(-2, -1)) / Si.sum(axis=(-2, -1))
    ring = np.rint(rho * P).astype(int)
    energy = np.bincount(ring.ravel(), weights=S.mean(axis=(0, 1)).ravel())
    return hff, energy


def test_linear_model_matches_the_closed_form_gradient():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(K, C * P * P))
    x = rng.normal(size=(5, C, P, P))
    y = np.array([0, 1, 2, 1, 0])
    model = Linear(W).train()
    r = input_gradient_spectrum(model, torch.from_numpy(x), y, cutoff=0.25, batch_size=2)
    assert model.training                                      # mode restored
    assert model.fc.weight.grad is None                        # parameters untouched
    # d log softmax_y (W x) / dx = W_y - sum_k p_k W_k (dropout off in eval mode)
    z = x.reshape(5, -1) @ W.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (W[y] - p @ W).reshape(5, C, P, P)
    hff, energy = _numpy_reference(g, 0.25)
    np.testing.assert_allclose(r.hff_per_image, hff, rtol=1e-10)
    np.testing.assert_allclose(r.energy, energy, rtol=1e-10)
    assert r.hff == pytest.approx(hff.mean(), rel=1e-10)
    np.testing.assert_allclose(r.mean_power, r.energy / r.count)
    # labels=None: the predicted class
    auto = input_gradient_spectrum(model, torch.from_numpy(x), cutoff=0.25)
    hff_pred, _ = _numpy_reference((W[z.argmax(1)] - p @ W).reshape(5, C, P, P), 0.25)
    np.testing.assert_allclose(auto.hff_per_image, hff_pred, rtol=1e-10)


def test_exact_low_pass_model_has_no_gradient_power_above_its_cut():
    rng = np.random.default_rng(1)
    model = LowPass(rng.normal(size=(K, C * P * P)), cut=0.25)
    x = torch.from_numpy(rng.normal(size=(6, C, P, P)))
    r = input_gradient_spectrum(model, x, cutoff=0.25)
    assert np.all(r.hff_per_image < 1e-12) and r.hff < 1e-12
    # and the plain read-out alone does have power there (the test can fail)
    assert input_gradient_spectrum(model.readout, x, cutoff=0.25).hff > 0.3
    high = r.frequency > 0.25 + 0.5 / P        # rings wholly above the cut
    assert np.all(r.energy[high] < 1e-12 * r.energy.sum())


@pytest.mark.parametrize("kw, word", [
    (dict(images=torch.full((2, C, P, P), float("nan"))), "images"),
    (dict(images=torch.zeros((0, C, P, P))), "images"),
    (dict(images=torch.zeros((C, P, P))), "images"),
    (dict(images=torch.zeros((2, C, P, P + 1))), "images"),
    (dict(labels=[0, 3]), "labels"),
    (dict(labels=[0, -1]), "labels"),
    (dict(labels=[0]), "labels"),
    (dict(labels=[0.0, 1.0]), "labels"),
    (dict(cutoff=float("inf")), "cutoff"),
    (dict(batch_size=0), "batch_size"),
    (dict(model="not a model"), "model"),
])
def test_bad_arguments_raise_naming_the_argument(kw, word):
    W = np.random.default_rng(2).normal(size=(K, C * P * P))
    args = dict(model=Linear(W), images=torch.zeros((2, C, P, P), dtype=torch.float64))
    args.update(kw)
    model, images = args.pop("model"), args.pop("images")
    with pytest.raises(ValueError, match=word):
        input_gradient_spectrum(model, images, **args)
