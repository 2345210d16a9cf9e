"""Mechanism-level and map-level measures of utils.frequency against known
answers: per-filter normalised conv spectra (docs/DEFINITIONS.md 2.4) and
paired Fourier heat-map differences (6.1)."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import utils.frequency as fq


def _cosine(P, u, v, amplitude=1.0):
    m, n = np.meshgrid(np.arange(P), np.arange(P), indexing="ij")
    return amplitude * np.cos(2 * np.pi * (u * m + v * n) / P)


def _reference_fraction(w: np.ndarray, P: int) -> np.ndarray:
    """numpy only: each filter's ring power over its total."""
    S = (np.abs(np.fft.fft2(w, s=(P, P))) ** 2).sum(axis=1)
    k = np.rint(np.fft.fftfreq(P) * P)
    ring = np.rint(np.hypot(k[:, None], k[None, :])).astype(int).ravel()
    energy = np.stack([np.bincount(ring, weights=s.ravel()) for s in S])
    return energy / S.sum(axis=(1, 2))[:, None]


@pytest.mark.parametrize("P, u, v", [(16, 3, 0), (16, 0, 5), (32, 3, 4), (15, 2, 6), (32, 16, 0)])
def test_pure_cosine_filter_puts_all_its_power_in_its_ring(P, u, v):
    w = _cosine(P, u, v)[None, None]
    spec = fq.filter_spectra(w, cutoff=0.25)
    ring = round(math.hypot(u, v))
    want = np.zeros(spec.fraction.shape[1])
    want[ring] = 1.0
    np.testing.assert_allclose(spec.fraction[0], want, atol=1e-12)
    assert spec.hff[0] == pytest.approx(float(math.hypot(u, v) / P > 0.25), abs=1e-12)
    assert spec.frequency[ring] == pytest.approx(ring / P)


def test_power_across_input_channels_is_pooled_per_filter():
    """Filter 0: ring 3 at amplitude 1 in channel 0, ring 5 at amplitude 2 in
    channel 1: fractions 1/5 and 4/5 (Parseval: power ~ amplitude^2)."""
    P = 16
    w = np.stack([np.stack([_cosine(P, 3, 0), _cosine(P, 0, 5, 2.0)]),
                  np.stack([_cosine(P, 4, 3), np.zeros((P, P))])])
    spec = fq.filter_spectra(w)
    np.testing.assert_allclose(spec.fraction[0, [3, 5]], [0.2, 0.8], atol=1e-12)
    np.testing.assert_allclose(spec.fraction[1, 5], 1.0, atol=1e-12)
    np.testing.assert_allclose(spec.mean_fraction[[3, 5]], [0.1, 0.9], atol=1e-12)
    np.testing.assert_allclose(spec.fraction.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("shape, P", [((8, 3, 3, 3), 32), ((4, 2, 5, 5), 9), ((6, 1, 7, 7), 7)])
def test_matches_an_independent_numpy_computation(shape, P):
    w = np.random.default_rng(1).standard_normal(shape)
    spec = fq.filter_spectra(w, pad_to=P)
    np.testing.assert_allclose(spec.fraction, _reference_fraction(w, P), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(spec.count, fq.ring_counts(P))
    assert spec.P == P and spec.dead == 0


def test_rescaling_each_filter_changes_nothing_while_the_pooled_spectrum_moves():
    """Batch norm makes each output channel's scale free; the per-filter
    measure is blind to it, the pooled kernel-bank spectrum is not."""
    rng = np.random.default_rng(2)
    w = 0.1 * rng.standard_normal((16, 3, 3, 3))
    w[:8] += 1.0  # smooth filters
    w[8:] += np.stack([_cosine(3, 1, 1)] * 3)  # oscillating ones
    scale = rng.uniform(0.5, 2.0, size=(16, 1, 1, 1)) * np.where(np.arange(16) < 8, 10.0, 0.1)[
        :, None, None, None]
    a, b = fq.filter_spectra(w, pad_to=32), fq.filter_spectra(w * scale, pad_to=32)
    np.testing.assert_allclose(b.fraction, a.fraction, rtol=1e-10)
    np.testing.assert_allclose(b.hff, a.hff, rtol=1e-10)
    assert b.mean_hff == pytest.approx(a.mean_hff, rel=1e-10)
    pooled = [float(fq.high_frequency_fraction(x, pad_to=32, reduce="mean", dtype=torch.float64))
              for x in (w, w * scale)]
    assert pooled[0] - pooled[1] > 0.1


def _disc_kernel(P, radius, high=False):
    """A P x P kernel whose DFT is exactly the indicator of the rings <= radius."""
    k = np.rint(np.fft.fftfreq(P) * P)
    ring = np.rint(np.hypot(k[:, None], k[None, :]))
    mask = (ring > radius) if high else (ring <= radius)
    return np.real(np.fft.ifft2(mask.astype(float)))


class LowPassNet(nn.Module):
    """conv1 is an exact low-pass (two scaled copies) and a high-pass,
    behind batch norm; a second conv runs on the pooled 4x4 maps."""

    def __init__(self, P=9, radius=2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, P, padding="same", bias=False)
        self.bn1 = nn.BatchNorm2d(3)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(3, 2, 3, padding=1)
        with torch.no_grad():
            low = torch.from_numpy(_disc_kernel(P, radius)).float()
            self.conv1.weight[0, 0] = low
            self.conv1.weight[1, 0] = 7.0 * low
            self.conv1.weight[2, 0] = torch.from_numpy(_disc_kernel(P, radius, high=True)).float()

    def forward(self, x):
        return self.conv2(self.pool(self.bn1(self.conv1(x)))).mean(dim=(2, 3))


def test_a_model_whose_conv1_is_an_exact_low_pass_filter():
    P, radius = 9, 2
    model = LowPassNet(P, radius)
    out = fq.conv_filter_spectra(model, (1, P, P), cutoff=0.3)
    assert list(out) == ["conv1", "conv2"]
    c1, c2 = out["conv1"], out["conv2"]
    assert (c1.P, c2.P) == (P, P // 2)  # each kernel on its own input's axis
    np.testing.assert_allclose(c1.fraction[:2, radius + 1:], 0.0, atol=1e-6)  # float32 weights
    np.testing.assert_allclose(c1.fraction[2, :radius + 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(c1.fraction[0], c1.fraction[1], atol=1e-6)  # scale-free
    np.testing.assert_allclose(c1.hff, [0.0, 0.0, 1.0], atol=1e-6)
    assert c1.mean_hff == pytest.approx(1 / 3, abs=1e-6)
    ref = _reference_fraction(model.conv2.weight.detach().double().numpy(), P // 2)
    np.testing.assert_allclose(c2.fraction, ref, rtol=1e-6)
    only = fq.conv_filter_spectra(model, (1, P, P), "conv2")
    assert list(only) == ["conv2"]
    np.testing.assert_array_equal(only["conv2"].fraction, c2.fraction)
    assert model.training  # mode restored after the resolution pass


def test_dead_filters_are_nan_rows_left_out_of_the_means():
    w = np.zeros((3, 1, 4, 4))
    w[0, 0] = _cosine(4, 1, 0)
    w[2, 0] = _cosine(4, 2, 0)
    spec = fq.filter_spectra(w)
    assert spec.dead == 1 and np.isnan(spec.fraction[1]).all() and np.isnan(spec.hff[1])
    np.testing.assert_allclose(spec.mean_fraction, np.nanmean(spec.fraction, axis=0))
    all_dead = fq.filter_spectra(np.zeros((2, 1, 3, 3)))
    assert all_dead.dead == 2 and math.isnan(all_dead.mean_hff)


def test_every_conv_of_resnet18():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=10)
    out = fq.conv_filter_spectra(model, (3, 32, 32))
    assert list(out) == list(fq.conv_layers(model))
    assert out["conv1"].P == 32 and out["layer4.1.conv2"].P == 3  # 1x1 maps: the kernel grid
    for name, s in out.items():
        assert np.isfinite(s.fraction).all() and s.dead == 0, name
        np.testing.assert_allclose(s.fraction.sum(axis=1), 1.0, rtol=1e-9)


# ------------------------------------------------ paired heat-map differences

def _planted(n=8, H=16, W=16, sigma=0.02, delta=0.2, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.1, 0.6, (H, W))
    planted = np.zeros((H, W))
    planted[2:6, 3:9] = delta
    baseline = truth + sigma * rng.standard_normal((n, H, W))
    treated = baseline + planted + sigma * rng.standard_normal((n, H, W))
    return treated, baseline, planted


def test_planted_difference_is_found_where_it_was_planted():
    treated, baseline, planted = _planted()
    d = fq.paired_heatmap_difference(treated, baseline)
    np.testing.assert_allclose(d.mean, (treated - baseline).mean(axis=0))
    inside = planted != 0
    assert d.excludes_zero[inside].all()
    assert d.excludes_zero[~inside].mean() < 0.15  # ~5% by chance
    assert (d.low[inside] < 0.2).all() and (d.high[inside] > 0.2).mean() > 0.8
    # the same decision as a one-sample t test per cell
    p = stats.ttest_1samp(treated - baseline, 0.0, axis=0).pvalue
    np.testing.assert_array_equal(d.excludes_zero, p < 0.05)
    assert np.abs(d.mean[inside]).mean() > 5 * d.noise  # planted 0.2 against 2 sigma / sqrt(pi)


def test_interval_coverage_and_noise_reference_on_a_null_of_many_cells():
    """No effect, 4096 independent cells: the t intervals cover zero in
    about 95% of cells; the noise reference is the seed SD (sigma) and the
    mean |b_s - b_t| of two normal draws, 2 sigma / sqrt(pi)."""
    n, sigma = 5, 0.03
    treated, baseline, _ = _planted(n=n, H=64, W=64, sigma=sigma, delta=0.0, seed=3)
    d = fq.paired_heatmap_difference(treated, baseline, confidence=0.9)
    covered = 1 - d.excludes_zero.mean()
    assert abs(covered - 0.9) < 3 * math.sqrt(0.9 * 0.1 / 4096)
    assert d.baseline_sd.mean() == pytest.approx(sigma * math.sqrt(2 / (n - 1)) * math.exp(
        math.lgamma(n / 2) - math.lgamma((n - 1) / 2)), rel=0.03)  # E[s] of a normal sample
    assert d.noise == pytest.approx(2 * sigma / math.sqrt(math.pi), rel=0.03)
    assert d.effect < d.noise  # a null effect reads below the noise reference


def test_identical_models_give_a_zero_map_and_two_seeds_work():
    _, baseline, _ = _planted(n=2)
    d = fq.paired_heatmap_difference(baseline, baseline)
    assert not d.mean.any() and not d.excludes_zero.any() and d.n == 2
    assert d.noise > 0
    for bad in (0, 1, 1.5, float("nan"), "high"):
        with pytest.raises(ValueError, match="confidence"):
            fq.paired_heatmap_difference(baseline, baseline, confidence=bad)
    with pytest.raises(ValueError, match="2 seeds"):
        fq.paired_heatmap_difference(baseline[:1], baseline[:1])
