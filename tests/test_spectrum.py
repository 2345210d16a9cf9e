"""Radial power spectrum, HFF and feature-map spectra (docs/DEFINITIONS.md section 2)."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tests import reference_numpy as ref
from utils.frequency import (feature_map_spectra, get_radial_spectrum, high_frequency_fraction,
                             power_spectrum_2d, radial_power_spectrum, ring_counts,
                             ring_frequencies, white_noise_hff)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@st.composite
def arrays_and_pad(draw):
    lead = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    P = max(H, W) + draw(st.integers(0, 12))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    x = np.random.default_rng(seed).standard_normal((*lead, H, W))
    return x, P


@settings(max_examples=30, deadline=None)
@given(arrays_and_pad())
def test_parseval_and_ring_energies_sum_to_total(case):
    x, P = case
    total = (x ** 2).sum(axis=(-2, -1))
    assert np.allclose(power_spectrum_2d(x, pad_to=P).sum(dim=(-2, -1)).numpy(), total, rtol=1e-12)
    spec = radial_power_spectrum(x, pad_to=P)
    assert np.allclose(spec.energy.sum(-1).numpy(), total, rtol=1e-12)
    assert int(spec.count.sum()) == P * P
    mean_spec = radial_power_spectrum(x, pad_to=P, reduce="mean")
    assert np.isclose(float(mean_spec.energy.sum()), total.mean(), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(arrays_and_pad())
def test_matches_independent_numpy_reference(case):
    x, P = case
    img = x.reshape(-1, *x.shape[-2:])[0]
    spec = radial_power_spectrum(img, pad_to=P, dtype=torch.float64)
    energy, count, freq = ref.radial_spectrum_2d(img, P)
    assert np.allclose(spec.energy.numpy(), energy, rtol=1e-10, atol=1e-12)
    assert np.array_equal(spec.count.numpy(), count)
    assert np.allclose(spec.frequency.numpy(), freq)
    assert math.isclose(float(high_frequency_fraction(img, 0.25, pad_to=P)),
                        ref.hff(img, P, 0.25), rel_tol=1e-9, abs_tol=1e-12)


def test_float32_default_and_float64_option():
    x = torch.randn(2, 3, 8, 8)
    assert radial_power_spectrum(x).energy.dtype == torch.float32
    assert radial_power_spectrum(x, dtype=torch.float64).energy.dtype == torch.float64
    assert radial_power_spectrum(x.double()).energy.dtype == torch.float64
    s32 = radial_power_spectrum(x, pad_to=16).energy
    s64 = radial_power_spectrum(x, pad_to=16, dtype=torch.float64).energy
    assert torch.allclose(s32.double(), s64, rtol=1e-5, atol=1e-6)


def test_circular_shift_invariance():
    x = torch.randn(4, 16, 16, dtype=torch.float64)
    a = radial_power_spectrum(x).energy
    b = radial_power_spectrum(torch.roll(x, shifts=(3, -5), dims=(-2, -1))).energy
    assert torch.allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("pad_to", [None, 32])
def test_rot90_and_transpose_invariance(pad_to):
    x = torch.randn(5, 7, 7, dtype=torch.float64)
    a = radial_power_spectrum(x, pad_to=pad_to).energy
    for y in (torch.rot90(x, 1, dims=(-2, -1)), x.transpose(-2, -1), torch.rot90(x, 2, (-2, -1))):
        assert torch.allclose(a, radial_power_spectrum(y, pad_to=pad_to).energy, rtol=1e-10)


def test_scaling_multiplies_power_and_keeps_hff():
    x = torch.randn(3, 5, 5, dtype=torch.float64)
    a = 2.7
    assert torch.allclose(radial_power_spectrum(a * x, pad_to=32).energy,
                          a ** 2 * radial_power_spectrum(x, pad_to=32).energy, rtol=1e-12)
    assert torch.allclose(high_frequency_fraction(a * x, pad_to=32),
                          high_frequency_fraction(x, pad_to=32), rtol=1e-12)


def test_constant_has_all_energy_in_ring_zero():
    spec = radial_power_spectrum(torch.full((32, 32), 0.3, dtype=torch.float64))
    assert math.isclose(float(spec.energy[0]), 32 * 32 * 0.09, rel_tol=1e-12)
    assert float(spec.energy[1:].abs().max()) < 1e-20


@pytest.mark.parametrize("u,v", [(1, 0), (3, 4), (5, 12), (7, 2), (16, 16), (0, 16)])
def test_cosine_peaks_at_its_ring(u, v):
    m = torch.arange(32, dtype=torch.float64)
    img = torch.cos(2 * math.pi * (u * m[:, None] + v * m[None, :]) / 32)
    energy = radial_power_spectrum(img).energy
    ring = round(math.hypot(u, v))
    assert math.isclose(float(energy[ring]), float(img.square().sum()), rel_tol=1e-12)


def test_checkerboard_has_all_energy_in_the_corner_bin():
    m = torch.arange(32)
    board = ((-1.0) ** (m[:, None] + m[None, :])).double()
    S = power_spectrum_2d(board)
    assert math.isclose(float(S[16, 16]), 1024.0, rel_tol=1e-12)
    assert float(S.sum() - S[16, 16]) < 1e-9
    spec = radial_power_spectrum(board)
    assert math.isclose(float(spec.energy[-1]), 1024.0, rel_tol=1e-12)  # ring of the corner
    assert float(spec.frequency[-1]) > 0.5 * math.sqrt(2) - 1 / 64  # corner rings are kept


def test_white_noise_hff_reference():
    # docs/DEFINITIONS.md 2: white noise on 32x32 gives HFF(0.25) of about 0.81.
    assert abs(white_noise_hff(32) - 0.81) < 0.01
    noise = torch.randn(2000, 32, 32, generator=torch.Generator().manual_seed(0))
    measured = float(high_frequency_fraction(noise, reduce="mean"))
    assert abs(measured - white_noise_hff(32)) < 0.005


def test_hff_of_known_kernels_padded_to_32():
    # docs/DEFINITIONS.md 2: 3x3 Gaussian (sigma 1) about 0.18, 3x3 Laplacian about 0.98.
    g = np.exp(-np.array([-1.0, 0.0, 1.0]) ** 2 / 2)
    gauss = np.outer(g, g) / np.outer(g, g).sum()
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    assert abs(float(high_frequency_fraction(gauss, pad_to=32)) - 0.18) < 0.005
    assert abs(float(high_frequency_fraction(lap, pad_to=32)) - 0.98) < 0.01


def test_hff_cut_is_per_bin_and_strict():
    # A cosine exactly at rho = 0.25 is not above the cut; one bin further is.
    m = torch.arange(32, dtype=torch.float64)
    at = torch.cos(2 * math.pi * 8 * m / 32)[None, :].expand(32, 32)
    above = torch.cos(2 * math.pi * 9 * m / 32)[None, :].expand(32, 32)
    assert float(high_frequency_fraction(at)) < 1e-12
    assert math.isclose(float(high_frequency_fraction(above)), 1.0, rel_tol=1e-12)


def test_batch_consistency_and_no_silent_first_element():
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    stacked = radial_power_spectrum(x, pad_to=16).energy
    singles = torch.stack([torch.stack([radial_power_spectrum(x[b, c], pad_to=16).energy
                                        for c in range(3)]) for b in range(6)])
    assert stacked.shape == (6, 3, singles.shape[-1])
    assert torch.allclose(stacked, singles, rtol=1e-12)
    mean = radial_power_spectrum(x, pad_to=16, reduce="mean")
    assert torch.allclose(mean.energy, singles.mean(dim=(0, 1)), rtol=1e-12)
    assert torch.allclose(high_frequency_fraction(x, pad_to=16),
                          torch.stack([high_frequency_fraction(x[b], pad_to=16) for b in range(6)]))
    x[0] = 0.0  # analysing x[0] alone would give an all-zero spectrum
    spectrum, _ = get_radial_spectrum(x, pad_to=16)
    assert spectrum.sum() > 0


def test_mean_power_is_energy_over_count():
    spec = radial_power_spectrum(torch.randn(4, 3, 3), pad_to=32, reduce="mean")
    assert torch.allclose(spec.mean_power * spec.count, spec.energy, rtol=1e-6)
    assert np.array_equal(spec.count.numpy(), ring_counts(32))
    assert (ring_counts(32) > 0).all()


@pytest.mark.parametrize("shape,pad_to", [((3, 32, 32), None), ((8, 3, 32, 32), None),
                                          ((16, 8, 8), None), ((64, 3, 3, 3), 32),
                                          ((64, 3, 5, 5), 32)])
def test_seed_api_shapes(shape, pad_to):
    x = torch.randn(*shape)
    spectrum, freqs = get_radial_spectrum(x, pad_to=pad_to)
    P = pad_to or shape[-1]
    assert isinstance(spectrum, np.ndarray) and spectrum.dtype == np.float64
    assert spectrum.shape == freqs.shape == (round(P / math.sqrt(2)) + 1,)
    assert freqs[0] == 0 and np.all(np.diff(freqs) > 0) and freqs[-1] > 0.5
    per = radial_power_spectrum(x.reshape(-1, *shape[-2:]), pad_to=pad_to,
                                dtype=torch.float64).mean_power.mean(0)
    assert np.allclose(spectrum, per.numpy(), rtol=1e-10)


def test_non_square_input_is_padded_to_max_side():
    x = torch.randn(2, 6, 10, dtype=torch.float64)
    spec = radial_power_spectrum(x)
    assert spec.P == 10
    assert torch.allclose(spec.energy.sum(-1), x.square().sum(dim=(-2, -1)))


@pytest.mark.parametrize("call,arg", [
    (lambda: radial_power_spectrum(torch.randn(5)), "x"),
    (lambda: radial_power_spectrum(torch.tensor([[1.0, float("nan")], [0.0, 1.0]])), "x"),
    (lambda: radial_power_spectrum(torch.randn(3, 5, 5), pad_to=4), "pad_to"),
    (lambda: radial_power_spectrum(torch.randn(3, 5, 5), pad_to=8.0), "pad_to"),
    (lambda: radial_power_spectrum(torch.randn(3, 5, 5), reduce="sum"), "reduce"),
    (lambda: radial_power_spectrum(torch.randn(3, 5, 5), dtype=torch.float16), "dtype"),
    (lambda: radial_power_spectrum(torch.randn(2, 2) + 0j), "x"),
    (lambda: high_frequency_fraction(torch.randn(5, 5), cutoff=0.8), "cutoff"),
    (lambda: high_frequency_fraction(torch.randn(5, 5), cutoff=-0.1), "cutoff"),
    (lambda: white_noise_hff(0), "P"),
    (lambda: ring_counts(2.5), "P"),
])
def test_bad_input_raises_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


class _TwoConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 2, 3, padding=1, stride=2)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def test_feature_map_spectra_match_direct_computation_and_remove_hooks():
    torch.manual_seed(0)
    model = _TwoConv().eval()
    x = torch.rand(5, 3, 16, 16)
    spectra = feature_map_spectra(model, x, ["conv1", "conv2"])
    with torch.no_grad():
        h1 = model.conv1(x)
        h2 = model.conv2(torch.relu(h1))
    assert torch.allclose(spectra["conv1"].energy, radial_power_spectrum(h1, reduce="mean").energy)
    assert torch.allclose(spectra["conv2"].energy, radial_power_spectrum(h2, reduce="mean").energy)
    assert spectra["conv2"].P == 8
    by_module = feature_map_spectra(model, x, {"first": model.conv1}, reduce=None)
    assert by_module["first"].energy.shape[:2] == (5, 4)
    assert not model.conv1._forward_hooks and not model.conv2._forward_hooks


def test_feature_map_spectra_remove_hooks_on_failure_and_check_layers():
    model = _TwoConv()
    with pytest.raises(RuntimeError):
        feature_map_spectra(model, torch.rand(2, 5, 8, 8), ["conv1"])  # wrong channel count
    assert not model.conv1._forward_hooks
    with pytest.raises(ValueError, match="layers"):
        feature_map_spectra(model, torch.rand(2, 3, 8, 8), ["conv9"])
    shared = nn.Sequential(model.conv1, nn.Conv2d(4, 3, 1), model.conv1)
    with pytest.raises(ValueError, match="ran 2 times"):
        feature_map_spectra(shared, torch.rand(2, 3, 8, 8), {"c": model.conv1})


@cuda
def test_cuda_matches_cpu():
    x = torch.randn(8, 3, 5, 5, dtype=torch.float64)
    cpu = radial_power_spectrum(x, pad_to=32, reduce="mean")
    gpu = radial_power_spectrum(x.cuda(), pad_to=32, reduce="mean")
    assert gpu.energy.is_cuda
    assert torch.allclose(cpu.energy, gpu.energy.cpu(), rtol=1e-10)
    assert torch.allclose(high_frequency_fraction(x, pad_to=32),
                          high_frequency_fraction(x.cuda(), pad_to=32).cpu())


# get_radial_spectrum's default for conv weights (the seed's notebook call
# get_radial_spectrum(model.conv1.weight) gave 2 or 3 rings for a 3x3 kernel).
def _rings(P: int) -> int:
    return len(ring_frequencies(P))


@pytest.mark.parametrize("make", [
    lambda: nn.Conv2d(3, 16, 3).weight,                     # a Parameter
    lambda: torch.randn(16, 3, 3, 3, dtype=torch.float64),  # a plain tensor, k <= 7
    lambda: np.random.default_rng(0).standard_normal((16, 3, 5, 5)),  # saved numpy weights
    lambda: nn.Conv2d(3, 8, 11).weight,                     # a Parameter with k > 7
])
def test_conv_weights_default_to_the_32_grid_with_a_warning(make):
    w = make()
    with pytest.warns(UserWarning, match=r"32x32 FFT grid.*pad_to=") as record:
        spectrum, freqs = get_radial_spectrum(w)
    expected, expected_freqs = get_radial_spectrum(w, pad_to=32)
    assert spectrum.shape == (_rings(32),) and _rings(32) > _rings(3)
    assert np.array_equal(spectrum, expected) and np.array_equal(freqs, expected_freqs)
    assert "resolution 32" in str(record[0].message)
    assert str(tuple(w.shape)) in str(record[0].message)
    # the warning points at the caller (stacklevel), not at spectrum.py
    assert record[0].filename == __file__


@pytest.mark.parametrize("x", [
    torch.rand(8, 3, 32, 32), torch.rand(3, 32, 32), torch.rand(16, 8, 8),
    torch.rand(2, 3, 5, 5)[0],            # 3-D 5x5: feature maps, not a kernel bank
    nn.Parameter(torch.rand(2, 3, 32, 32)),  # a 32-wide Parameter needs no padding
])
def test_images_and_feature_maps_keep_p_equal_to_their_size(x, recwarn):
    spectrum, freqs = get_radial_spectrum(x)
    assert spectrum.shape == (_rings(x.shape[-1]),)
    assert freqs[1] == pytest.approx(1 / x.shape[-1])
    assert not [w for w in recwarn if "conv weights" in str(w.message)]


@pytest.mark.parametrize("pad_to", [3, 16, 64])
def test_explicit_pad_to_is_used_as_given_and_silent(pad_to, recwarn):
    w = nn.Conv2d(3, 4, 3).weight
    spectrum, freqs = get_radial_spectrum(w, pad_to=pad_to)
    assert spectrum.shape == (_rings(pad_to),)
    assert freqs[1] == pytest.approx(1 / pad_to)
    assert not [r for r in recwarn if "conv weights" in str(r.message)]


# ------------------------------------------------ ring sums: memory linear in pixels

def _one_hot_ring_energy(S: torch.Tensor) -> torch.Tensor:
    """The replaced implementation, inline: a dense (P*P, R) one-hot ring
    matrix and a matmul (O(P^3) memory, fine at these sizes)."""
    from utils.frequency._grid import ring_index
    P = S.shape[-1]
    ring, R = ring_index(P)
    m = torch.zeros(P * P, R, dtype=S.dtype)
    m[torch.arange(P * P), torch.from_numpy(ring.copy())] = 1
    return S.reshape(*S.shape[:-2], P * P) @ m


@pytest.mark.parametrize("P", [1, 2, 3, 8, 17, 32, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ring_sum_equals_the_one_hot_matmul(P, dtype):
    from utils.frequency._grid import ring_sum
    S = power_spectrum_2d(torch.randn(2, 3, P, P, generator=torch.Generator().manual_seed(P),
                                      dtype=dtype))
    new, old = ring_sum(S), _one_hot_ring_energy(S)
    assert new.shape == old.shape == (2, 3, len(ring_counts(P)))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(new, old, rtol=tol, atol=tol * float(S.sum(dim=(-2, -1)).max()))
    spec = radial_power_spectrum(S.sqrt(), reduce=None, dtype=dtype)  # any input: same path
    assert spec.energy.shape == old.shape


def test_ring_sum_is_deterministic_and_counts_each_bin_once():
    from utils.frequency._grid import ring_sum
    for P in (5, 16, 33):
        ones = torch.ones(P, P, dtype=torch.float64)
        assert np.array_equal(ring_sum(ones).numpy(), ring_counts(P).astype(np.float64))
        S = torch.rand(4, P, P, dtype=torch.float64)
        assert torch.equal(ring_sum(S), ring_sum(S.clone()))


def test_grid_caches_are_bounded_in_bytes():
    from utils.frequency import _grid
    cache = _grid.ByteBoundedCache(1000)
    made = []
    for n in range(10):
        cache.get(n, lambda n=n: made.append(n) or np.zeros(50))  # 400 bytes each
        assert cache.nbytes <= 1000
    assert len(made) == 10 and cache.nbytes == 800  # the two newest kept
    cache.get(9, lambda: made.append("again") or np.zeros(50))
    assert made[-1] == 9  # a hit: not recomputed
    big = cache.get("big", lambda: np.zeros(1000))  # over the bound: returned, not kept
    assert big.shape == (1000,) and cache.nbytes == 800
    for P in (64, 128, 256):
        radial_power_spectrum(np.zeros((P, P)))
    assert _grid.GRID_CACHE.nbytes <= _grid.GRID_CACHE.max_bytes
    assert _grid.RING_CACHE.nbytes <= _grid.RING_CACHE.max_bytes


def test_large_image_spectrum_peak_memory_is_linear_in_pixels():
    """512x512 used to add ~650 MiB of resident memory (a float64 one-hot
    matrix of P*P x 363 rings); now a few copies of the P*P grid. Measured
    in a fresh process (peak RSS), against the same process's baseline."""
    import subprocess
    import sys
    code = ("import resource, torch; torch.set_num_threads(1)\n"
            "from utils.frequency import get_radial_spectrum\n"
            "x = torch.rand(3, 512, 512, dtype=torch.float64)\n"
            "get_radial_spectrum(x[:, :8, :8], pad_to=8)\n"  # imports and warm-up
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "spec, freq = get_radial_spectrum(x)\n"
            "assert spec.shape == freq.shape == (363,)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    added_bytes = int(out.stdout.split()[-1]) * 1024  # ru_maxrss is in KiB on Linux
    one_hot_bytes = 512 * 512 * 363 * 8
    assert added_bytes < 200 * 512 * 512 < one_hot_bytes / 10
    from utils.frequency import _grid
    _grid.RING_CACHE.clear()
    idx = _grid.RING_CACHE.get((512, "cpu"), lambda: _grid._ring_gather(512, torch.device("cpu")))
    assert idx.numel() < 3 * 512 * 512
