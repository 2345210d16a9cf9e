"""Deterministic noise for robustness curves (docs/DEFINITIONS.md section 5)."""

import numpy as np
import pytest
import torch

from utils.frequency import (GAUSSIAN_SIGMAS, IMPULSE_AMOUNTS, NOISE_KINDS, SHOT_LAMBDAS,
                             SPECKLE_CS, add_noise, band_noise, band_noise_pattern,
                             frequency_bands, gaussian_noise, highpass_noise, impulse_noise,
                             lowpass_noise, shot_noise, speckle_noise)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

LEVEL = {"gaussian": 0.1, "highpass": 3.0, "lowpass": 3.0, "band": 3.0, "shot": 50,
         "impulse": 0.05, "speckle": 0.2}


def _images(B=6, seed=0, dtype=torch.float32):
    return torch.rand(B, 3, 32, 32, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _rho(P=32):
    f = np.fft.fftfreq(P)
    return torch.from_numpy(np.hypot(f[:, None], f[None, :]))


def test_levels_are_the_science_lists():
    assert GAUSSIAN_SIGMAS == (0, .02, .04, .06, .08, .10, .15, .20)
    assert SHOT_LAMBDAS == (500, 250, 100, 75, 50)
    assert IMPULSE_AMOUNTS == (.01, .02, .03, .05, .07)
    assert SPECKLE_CS == (.06, .1, .12, .16, .2)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_same_seed_same_noise_and_other_seed_other_noise(kind):
    x = _images()
    kw = {"band": (0.1, 0.3)} if kind == "band" else {}
    a = add_noise(x, kind, LEVEL[kind], seed=7, **kw)
    assert torch.equal(a, add_noise(x, kind, LEVEL[kind], seed=7, **kw))
    assert not torch.equal(a, add_noise(x, kind, LEVEL[kind], seed=8, **kw))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_of_an_image_does_not_depend_on_its_batch(kind):
    x = _images(6)
    kw = {"band": (0.1, 0.3)} if kind == "band" else {}
    whole = add_noise(x, kind, LEVEL[kind], seed=3, **kw)
    pick = [4, 1]
    part = add_noise(x[pick], kind, LEVEL[kind], seed=3, indices=torch.tensor(pick), **kw)
    assert torch.equal(part, whole[pick])


def test_generator_seed_is_explicit_and_reproducible():
    x = _images(2)
    a = gaussian_noise(x, 0.1, seed=torch.Generator().manual_seed(5))
    b = gaussian_noise(x, 0.1, seed=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    torch.manual_seed(0)
    c = gaussian_noise(x, 0.1, seed=11)
    torch.manual_seed(1)  # the global RNG plays no part
    assert torch.equal(c, gaussian_noise(x, 0.1, seed=11))


def test_highpass_noise_has_no_energy_below_cutoff_and_the_requested_norm():
    x = _images(4, dtype=torch.float64)
    eps = 2.5
    pattern = band_noise_pattern(x, eps, (0.25, np.inf), seed=1)
    norms = pattern.square().sum(dim=(-2, -1)).sqrt()
    assert torch.allclose(norms, torch.full_like(norms, eps), rtol=1e-12)
    power = torch.fft.fft2(pattern).abs().square()
    assert float(power[..., _rho() < 0.25].sum()) < 1e-20 * float(power.sum())
    # Away from the bounds, the noisy image is x + pattern exactly.
    mid = torch.full_like(x, 0.5)
    small = band_noise_pattern(mid, 0.5, (0.25, np.inf), seed=1)
    assert float(small.abs().max()) < 0.5
    assert torch.allclose(highpass_noise(mid, 0.5, seed=1) - mid, small, atol=1e-12)


def test_lowpass_control_has_no_energy_above_cutoff_and_same_norm():
    mid = torch.full((3, 3, 32, 32), 0.5, dtype=torch.float64)
    delta = lowpass_noise(mid, 1.0, seed=2) - mid
    power = torch.fft.fft2(delta).abs().square()
    assert float(power[..., _rho() >= 0.25].sum()) < 1e-20 * float(power.sum())
    norms = delta.square().sum(dim=(-2, -1)).sqrt()
    assert torch.allclose(norms, torch.ones_like(norms), rtol=1e-9)


def test_bands_tile_the_spectrum_and_have_equal_energy():
    bands = frequency_bands(8)
    rho = _rho()
    covered = sum(((rho >= lo) & (rho < hi)).long() for lo, hi in bands)
    assert torch.equal(covered, torch.ones_like(covered))  # every bin in exactly one band
    x = torch.full((2, 3, 32, 32), 0.5, dtype=torch.float64)
    for lo, hi in bands:
        pattern = band_noise_pattern(x, 0.7, (lo, hi), seed=4)
        norms = pattern.square().sum(dim=(-2, -1)).sqrt()
        assert torch.allclose(norms, torch.full_like(norms, 0.7), rtol=1e-9)
        outside = torch.fft.fft2(pattern).abs().square()[..., (rho < lo) | (rho >= hi)]
        assert float(outside.sum()) < 1e-20


def test_gaussian_noise_is_added_in_pixel_space_and_scales_with_sigma():
    mid = torch.full((2, 3, 32, 32), 0.5, dtype=torch.float64)
    d1 = gaussian_noise(mid, 0.01, seed=9) - mid
    d2 = gaussian_noise(mid, 0.02, seed=9) - mid
    assert torch.allclose(d2, 2 * d1, atol=1e-12)  # one draw, scaled: no hidden normalisation
    assert 0.008 < float(d1.std()) < 0.012
    assert torch.equal(gaussian_noise(mid, 0.0, seed=9), mid)


def test_normalised_input_is_rejected():
    normalised = (_images(2) - 0.5) / 0.25
    for kind in NOISE_KINDS:
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            add_noise(normalised, kind, LEVEL[kind], seed=0, band=(0.1, 0.3))


def test_cifar10c_style_noises_behave_as_defined():
    x = _images(16, dtype=torch.float64) * 0.8 + 0.1
    shot = shot_noise(x, 500, seed=0)
    assert abs(float((shot - x).mean())) < 2e-3  # E[Poisson(lam x) / lam] = x
    imp = impulse_noise(x, 0.05, seed=0)
    changed = imp != x
    assert abs(float(changed.double().mean()) - 0.05) < 0.005
    assert set(imp[changed].unique().tolist()) == {0.0, 1.0}
    assert abs(float((imp[changed] == 1).double().mean()) - 0.5) < 0.05
    zeros = torch.zeros(1, 3, 8, 8)
    assert torch.equal(speckle_noise(zeros, 0.2, seed=0), zeros)  # speckle is multiplicative


@pytest.mark.parametrize("call,arg", [
    (lambda: gaussian_noise(torch.rand(3, 8, 8), 0.1, seed=0), "x"),
    (lambda: gaussian_noise(torch.rand(2, 3, 8, 8), 0.1, seed=-1), "seed"),
    (lambda: gaussian_noise(torch.rand(2, 3, 8, 8), 0.1, seed=1.5), "seed"),
    (lambda: gaussian_noise(torch.rand(2, 3, 8, 8), 0.1, seed=0, indices=[0]), "indices"),
    (lambda: gaussian_noise(torch.rand(2, 3, 8, 8), -0.1, seed=0), "sigma"),
    (lambda: band_noise(torch.rand(2, 3, 8, 8), 1.0, (0.3, 0.2), seed=0), "band"),
    (lambda: band_noise(torch.rand(2, 3, 8, 8), 1.0, (0.01, 0.02), seed=0), "band"),
    (lambda: highpass_noise(torch.rand(2, 3, 8, 8), 1.0, seed=0, cutoff=0.9), "cutoff"),
    (lambda: impulse_noise(torch.rand(2, 3, 8, 8), 1.5, seed=0), "amount"),
    (lambda: add_noise(torch.rand(2, 3, 8, 8), "pink", 1.0, seed=0), "kind"),
    (lambda: add_noise(torch.rand(2, 3, 8, 8), "band", 1.0, seed=0), "band"),
])
def test_bad_input_raises_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


@cuda
def test_cuda_noise_equals_cpu_noise():
    x = _images(4)
    for kind in NOISE_KINDS:
        kw = {"band": (0.1, 0.3)} if kind == "band" else {}
        gpu = add_noise(x.cuda(), kind, LEVEL[kind], seed=5, **kw)
        assert gpu.is_cuda
        assert torch.allclose(gpu.cpu(), add_noise(x, kind, LEVEL[kind], seed=5, **kw), atol=1e-5)
