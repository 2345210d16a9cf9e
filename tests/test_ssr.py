"""SSR, both flavours and the seed helper (docs/DEFINITIONS.md section 3)."""

import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.frequency import (compute_ssr, get_radial_spectrum, radial_power_spectrum,
                             ring_counts, spectral_suppression_ratio)


def _kernels(seed, shape=(16, 3, 5, 5)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _same_conv(w, k):
    """Convolve every (k_h, k_w) kernel of w with the 3x3 k, zero 'same' padding."""
    flat = w.reshape(-1, 1, *w.shape[-2:])
    return F.conv2d(flat, k.view(1, 1, 3, 3).to(w.dtype), padding=1).reshape(w.shape)


def test_identical_weights_give_zero():
    w = _kernels(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = spectral_suppression_ratio(w, w.clone(), pad_to=32)
    assert r.ssr_abs == 0.0 and r.ssr_norm == 0.0
    assert r.comparison == "time" and r.P == 32 and r.cutoff == 0.25


def test_halving_high_band_energy_gives_half():
    w = _kernels(1, (4, 32, 32))
    rho = torch.from_numpy(np.hypot(*np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32),
                                                 indexing="ij")))
    gain = 1.0 - (1.0 - 1 / math.sqrt(2)) * (rho > 0.25).double()  # power halved above the cut
    after = torch.fft.ifft2(torch.fft.fft2(w) * gain).real
    r = spectral_suppression_ratio(w, after)
    assert math.isclose(r.ssr_abs, 0.5, rel_tol=1e-12)
    assert math.isclose(r.e_high_after, r.e_high_before / 2, rel_tol=1e-12)


def test_low_pass_smoothing_gives_positive_and_sharpening_negative_ssr():
    w = _kernels(2)
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    laplacian = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    smooth = spectral_suppression_ratio(w, _same_conv(w, blur), pad_to=32)
    sharp = spectral_suppression_ratio(w, w - 0.5 * _same_conv(w, laplacian), pad_to=32)
    assert smooth.ssr_norm > 0 and smooth.ssr_abs > 0
    assert sharp.ssr_norm < 0 and sharp.ssr_abs < 0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10 ** 6), st.floats(0.05, 20.0), st.sampled_from([None, 8, 32]))
def test_decomposition_identity(seed, scale, pad_to):
    before = _kernels(seed, (8, 2, 3, 3))
    after = scale * _kernels(seed + 1, (8, 2, 3, 3))
    r = spectral_suppression_ratio(before, after, pad_to=pad_to)
    lhs = 1 - r.ssr_abs
    rhs = r.norm_sq_after / r.norm_sq_before * (1 - r.ssr_norm)
    assert math.isclose(lhs, rhs, rel_tol=1e-9, abs_tol=1e-12)
    assert abs(r.identity_residual()) < 1e-9 * max(1.0, abs(lhs))


def test_scaling_leaves_normalized_ssr_unchanged():
    before, after = _kernels(3), _kernels(4)
    r1 = spectral_suppression_ratio(before, after, pad_to=32)
    r2 = spectral_suppression_ratio(before, 0.3 * after, pad_to=32)
    r3 = spectral_suppression_ratio(5.0 * before, 5.0 * after, pad_to=32)
    assert math.isclose(r1.ssr_norm, r2.ssr_norm, rel_tol=1e-10)
    assert math.isclose(1 - r2.ssr_abs, 0.09 * (1 - r1.ssr_abs), rel_tol=1e-10)
    assert math.isclose(r1.ssr_abs, r3.ssr_abs, rel_tol=1e-10)
    assert math.isclose(r1.ssr_norm, r3.ssr_norm, rel_tol=1e-10)


def test_stack_of_after_tensors_matches_single_calls():
    before = _kernels(5, (8, 3, 3, 3))
    stack = torch.stack([_kernels(6 + t, (8, 3, 3, 3)) for t in range(4)])
    r = spectral_suppression_ratio(before, stack, pad_to=32, comparison="vs_baseline")
    assert r.ssr_abs.shape == (4,) and r.comparison == "vs_baseline"
    for t in range(4):
        s = spectral_suppression_ratio(before, stack[t], pad_to=32)
        assert math.isclose(r.ssr_abs[t], s.ssr_abs, rel_tol=1e-12)
        assert math.isclose(r.ssr_norm[t], s.ssr_norm, rel_tol=1e-12)
    assert np.allclose(r.identity_residual(), 0.0, atol=1e-12)
    json.dumps(r.as_dict())


def test_zero_high_band_before_gives_nan_with_warning():
    flat = torch.ones(2, 8, 8, dtype=torch.float64)  # only DC: no power above the cut
    with pytest.warns(RuntimeWarning, match="undefined"):
        r = spectral_suppression_ratio(flat, _kernels(7, (2, 8, 8)))
    assert math.isnan(r.ssr_abs) and math.isnan(r.ssr_norm)


@pytest.mark.parametrize("call,arg", [
    (lambda: spectral_suppression_ratio(torch.randn(3, 3), torch.randn(3, 3), comparison="x"),
     "comparison"),
    (lambda: spectral_suppression_ratio(torch.randn(3, 3), torch.randn(4, 4)), "after"),
    (lambda: spectral_suppression_ratio(torch.randn(3, 3), torch.randn(3, 3), pad_to=2), "pad_to"),
    (lambda: spectral_suppression_ratio(torch.randn(3, 3), torch.randn(3, 3), cutoff=1.0), "cutoff"),
    (lambda: spectral_suppression_ratio(torch.randn(3), torch.randn(3)), "before"),
    (lambda: spectral_suppression_ratio(torch.full((3, 3), math.inf), torch.randn(3, 3)), "before"),
    (lambda: compute_ssr(np.ones(5), np.ones(5), 0.0), "high_freq_threshold"),
    (lambda: compute_ssr(np.ones(5), np.ones(5), 1.5), "high_freq_threshold"),
    (lambda: compute_ssr(np.ones(5), np.ones(4)), "spectrum_after"),
    (lambda: compute_ssr(-np.ones(5), np.ones(5)), "spectrum_before"),
    (lambda: compute_ssr(np.ones(5), np.ones(5), counts=np.zeros(5)), "counts"),
    (lambda: compute_ssr(np.ones(5), np.ones(5), frequencies=np.ones(5)), "frequencies"),
])
def test_bad_input_raises_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


def test_compute_ssr_seed_semantics():
    s = np.linspace(1.0, 2.0, 24)
    ssr, eb, ea = compute_ssr(s, s)
    assert ssr == 0.0 and eb == ea > 0
    after = s.copy()
    after[12:] /= 2  # threshold 0.5 of 23 rings: rings 12..23 are high (i >= 11.5)
    ssr, eb, ea = compute_ssr(s, after, high_freq_threshold=0.5)
    assert math.isclose(ssr, 0.5) and math.isclose(eb, s[12:].sum())
    # threshold 1 keeps only the top ring
    assert math.isclose(compute_ssr(s, after, 1.0)[1], s[-1])


def test_compute_ssr_count_weighted_is_the_ring_energy():
    before, after = _kernels(8, (8, 3, 3, 3)), _kernels(9, (8, 3, 3, 3))
    sb, freqs = get_radial_spectrum(before, pad_to=32)
    sa, _ = get_radial_spectrum(after, pad_to=32)
    ssr, eb, _ = compute_ssr(sb, sa, 0.5, frequencies=freqs, counts=ring_counts(32))
    energy = radial_power_spectrum(before, pad_to=32, reduce="mean", dtype=torch.float64).energy
    high = freqs >= 0.5 * freqs[-1]
    assert math.isclose(eb, float(energy[torch.from_numpy(high)].sum()), rel_tol=1e-10)
    plain, _, _ = compute_ssr(sb, sa, 0.5)
    assert plain != ssr  # unweighted mean-power sum is a different number


def test_compute_ssr_zero_before_is_nan_with_warning():
    with pytest.warns(RuntimeWarning):
        ssr, eb, ea = compute_ssr(np.zeros(5), np.ones(5))
    assert math.isnan(ssr) and eb == 0.0 and ea > 0
