"""Low- and high-pass filters (docs/DEFINITIONS.md section 4)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from utils.frequency import (apply_fourier_mask, filter_images, gaussian_f50, gaussian_highpass,
                             gaussian_lowpass, gaussian_transfer, radial_highpass, radial_lowpass,
                             radial_mask, square_highpass, square_lowpass, square_mask)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _images(seed, shape=(2, 3, 32, 32), dtype=torch.float64):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _cosine(k, P=32):
    m = torch.arange(P, dtype=torch.float64)
    return torch.cos(2 * math.pi * k * m / P)[None, :].expand(P, P).clone()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10 ** 6), st.floats(0.5, 23.0), st.sampled_from([(32, 32), (17, 24)]))
def test_radial_low_plus_high_is_x_and_energies_add(seed, radius, hw):
    x = _images(seed, (2, 3, *hw))
    low, high = radial_lowpass(x, radius), radial_highpass(x, radius)
    assert torch.allclose(low + high, x, atol=1e-12)
    energy = low.square().sum() + high.square().sum()
    assert math.isclose(float(energy), float(x.square().sum()), rel_tol=1e-10)
    assert abs(float((low * high).sum())) < 1e-9 * float(x.square().sum())


def test_gaussian_low_plus_high_is_x():
    x = _images(1, dtype=torch.float32)
    assert torch.allclose(gaussian_lowpass(x, 1.5) + gaussian_highpass(x, 1.5), x, atol=1e-6)


@pytest.mark.parametrize("H,W", [(32, 32), (15, 20)])
def test_masks_are_hermitian_imaginary_part_below_1e6(H, W):
    x = torch.rand(3, H, W)
    masks = [gaussian_transfer(H, W, 1.0), radial_mask(H, W, 6.5), square_mask(H, W, 7)]
    if H % 2 == 0 and W % 2 == 0:
        masks.append(square_mask(H, W, 7, corner=True))
    for mask in masks:
        inv = torch.fft.ifft2(torch.fft.fft2(x) * torch.from_numpy(mask.astype(np.complex64)))
        assert float(inv.imag.abs().max()) < 1e-6


def test_f50_matches_science_numbers():
    # docs/DEFINITIONS.md 4: 0.265, 0.133, 0.088, 0.066 c/p for sigma = 0.5, 1, 1.5, 2.
    for sigma, f50 in [(0.5, 0.265), (1.0, 0.133), (1.5, 0.088), (2.0, 0.066)]:
        assert abs(gaussian_f50(sigma) - f50) < 6e-4


def test_gaussian_half_power_at_f50_on_real_images():
    # Choose sigma so that f50 lands on bin 4 of 32 (0.125 c/p): the filtered
    # cosine there keeps exactly half its power; lower keeps more, higher less.
    sigma = math.sqrt(math.log(2)) / (2 * math.pi * 4 / 32)
    assert math.isclose(gaussian_f50(sigma), 4 / 32)
    ratio = [float(gaussian_lowpass(_cosine(k), sigma).square().sum() / _cosine(k).square().sum())
             for k in (3, 4, 5)]
    assert ratio[0] > 0.5 and ratio[2] < 0.5
    assert math.isclose(ratio[1], 0.5, rel_tol=1e-12)


def test_gaussian_is_circular_convolution_with_the_gaussian_kernel():
    # Independent check: scipy's spatial Gaussian with periodic boundary. For
    # sigma = 2 the sampled kernel's spectrum differs from exp(-2 pi^2 s^2 f^2)
    # by aliases below exp(-2 pi^2 * 4 * 0.25) ~ 3e-9.
    x = _images(2, (32, 32))
    expected = ndimage.gaussian_filter(x.numpy(), 2.0, mode="grid-wrap", truncate=6.0)
    assert np.allclose(gaussian_lowpass(x, 2.0).numpy(), expected, atol=1e-6)


def test_radial_cut_is_strict_in_bins():
    kept, cut = radial_lowpass(_cosine(5), 6), radial_lowpass(_cosine(6), 6)
    assert torch.allclose(kept, _cosine(5), atol=1e-12)
    assert float(cut.abs().max()) < 1e-12


def test_square_highpass_is_the_lowpass_modulated_to_the_corner():
    # Multiplying by (-1)^(m+n) shifts the spectrum by (P/2, P/2), moving the
    # DC square onto the Nyquist corner: an independent derivation.
    x = _images(3)
    m = torch.arange(32)
    mod = ((-1.0) ** (m[:, None] + m[None, :])).double()
    assert torch.allclose(square_highpass(x, 7), mod * square_lowpass(mod * x, 7), atol=1e-12)
    # ... and it is not the complement of the low-pass.
    assert not torch.allclose(square_lowpass(x, 7) + square_highpass(x, 7), x, atol=1e-3)


def test_square_lowpass_keeps_the_dc_square():
    mask = square_mask(32, 32, 5)
    assert mask.sum() == 25 and mask[0, 0] and mask[2, -2] and not mask[3, 0]
    x = _images(4)
    # B = 31 on 32x32 drops exactly the Nyquist row and column (|k| = 16).
    rest = torch.fft.fft2(x - square_lowpass(x, 31)).abs()
    nyquist = torch.zeros(32, 32, dtype=torch.bool)
    nyquist[16, :] = nyquist[:, 16] = True
    assert float(rest[..., ~nyquist].max()) < 1e-10 and float(rest[..., nyquist].min()) > 1e-6
    assert torch.allclose(x.mean(dim=(-2, -1)), square_lowpass(x, 1).mean(dim=(-2, -1)))


def test_filter_images_dispatch_and_no_clipping_by_default():
    x = _images(5, dtype=torch.float32)
    assert torch.equal(filter_images(x, "gaussian", "low", 2.0), gaussian_lowpass(x, 2.0))
    assert torch.equal(filter_images(x, "radial", "high", 8), radial_highpass(x, 8))
    assert torch.equal(filter_images(x, "square", "high", 9), square_highpass(x, 9))
    high = filter_images(x, "gaussian", "high", 1.0)
    assert float(high.min()) < 0  # near zero mean, not clipped
    assert float(high.mean().abs()) < 1e-3
    clipped = filter_images(x, "gaussian", "high", 1.0, clip=True)
    assert float(clipped.min()) >= 0 and float(clipped.max()) <= 1


def test_batch_and_channel_consistency():
    x = _images(6, (4, 3, 16, 16))
    whole = gaussian_lowpass(x, 1.0)
    assert torch.allclose(whole[2, 1], gaussian_lowpass(x[2, 1], 1.0), atol=1e-12)
    assert gaussian_lowpass(x.float(), 1.0).dtype == torch.float32


@pytest.mark.parametrize("call,arg", [
    (lambda: square_lowpass(torch.rand(1, 32, 32), 4), "size"),
    (lambda: square_lowpass(torch.rand(1, 32, 32), 33), "size"),
    (lambda: square_highpass(torch.rand(1, 31, 31), 5), "even"),
    (lambda: gaussian_lowpass(torch.rand(1, 8, 8), 0.0), "sigma"),
    (lambda: radial_lowpass(torch.rand(1, 8, 8), -1), "radius"),
    (lambda: filter_images(torch.rand(1, 8, 8), "box", "low", 1.0), "family"),
    (lambda: filter_images(torch.rand(1, 8, 8), "gaussian", "band", 1.0), "kind"),
    (lambda: filter_images(torch.rand(1, 8, 8), "gaussian", "low"), "cutoff"),
    (lambda: gaussian_lowpass(torch.randint(0, 255, (1, 8, 8), dtype=torch.uint8), 1.0), "x"),
    (lambda: gaussian_lowpass(torch.rand(8), 1.0), "x"),
    (lambda: apply_fourier_mask(torch.rand(8, 8), np.triu(np.ones((8, 8)))), "mask"),
    (lambda: apply_fourier_mask(torch.rand(8, 8), np.ones((4, 4))), "mask"),
])
def test_bad_input_raises_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


@cuda
def test_cuda_matches_cpu():
    x = _images(7)
    for family, c in [("gaussian", 1.0), ("radial", 8), ("square", 9)]:
        for kind in ("low", "high"):
            gpu = filter_images(x.cuda(), family, kind, c)
            assert gpu.is_cuda
            assert torch.allclose(gpu.cpu(), filter_images(x, family, kind, c), atol=1e-10)
