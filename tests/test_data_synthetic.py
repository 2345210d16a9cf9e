"""Tests for data/synthetic.py: determinism, independent streams, the cue
bands (checked with torch.fft directly), the 1/f background, and that each
cue alone carries the label in the final uint8 images."""
import math

import pytest
import torch

from data import synthetic as S
from data.images import channel_stats, load_image_data


@pytest.fixture(scope="module")
def small():
    return S.load_synthetic(seed=3, n_train=400, n_test=300)


def _rho() -> torch.Tensor:
    f = torch.fft.fftfreq(S.SIZE, dtype=torch.float64)
    return torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def test_record_shapes_labels_and_stats(small):
    assert small.dataset_id == "synthetic-v1" and small.classes == S.CLASSES
    assert small.train_x.shape == (400, 3, 32, 32) and small.train_x.dtype == torch.uint8
    assert small.test_x.shape == (300, 3, 32, 32) and small.test_y.dtype == torch.int64
    assert torch.bincount(small.train_y, minlength=10).tolist() == [40] * 10
    assert (small.mean, small.std) == channel_stats(small.train_x)
    assert "seed=3" in small.source
    ex = small.extra
    assert ex["conflict_x"].shape == small.test_x.shape and ex["conflict_x"].dtype == torch.uint8
    assert ex["conflict_y_low"].dtype == ex["conflict_y_high"].dtype == torch.int64
    assert bool((ex["conflict_y_low"] != ex["conflict_y_high"]).all())
    # The offset to the high class is uniform over 1..9: every offset occurs.
    offsets = (ex["conflict_y_high"] - ex["conflict_y_low"]) % 10
    assert set(offsets.tolist()) == set(range(1, 10))


def test_same_seed_same_bytes_other_seed_differs(small):
    again = S.load_synthetic(seed=3, n_train=400, n_test=300)
    for a, b in [(small.train_x, again.train_x), (small.test_x, again.test_x),
                 (small.extra["conflict_x"], again.extra["conflict_x"]),
                 (small.train_y, again.train_y)]:
        assert torch.equal(a, b)
    other = S.load_synthetic(seed=4, n_train=400, n_test=300)
    assert not torch.equal(small.train_x, other.train_x)


def test_splits_come_from_independent_streams(small):
    # Changing the train size must not change test or conflict images.
    bigger = S.load_synthetic(seed=3, n_train=500, n_test=300)
    assert torch.equal(bigger.test_x, small.test_x)
    assert torch.equal(bigger.extra["conflict_x"], small.extra["conflict_x"])
    assert not torch.equal(bigger.train_x[:400], small.train_x)


def test_global_rng_is_untouched():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    S.load_synthetic(seed=1, n_train=20, n_test=10)
    assert torch.equal(torch.rand(1), before)


@pytest.mark.parametrize("cue, band", [(S.low_cue, S.SYNTHETIC_LOW_BAND),
                                       (S.high_cue, S.SYNTHETIC_HIGH_BAND)])
def test_each_cue_lies_in_its_band(cue, band):
    labels = torch.arange(200) % 10
    pattern = cue(labels, torch.Generator().manual_seed(0)).double()
    power = torch.fft.fft2(pattern).abs() ** 2  # (n, 3, 32, 32)
    rho = _rho()
    inside = (rho <= band[1]) if band[0] == 0 else ((rho >= band[0]) & (rho < band[1]))
    assert band == S.cue_bands()["low" if cue is S.low_cue else "high"]
    # Whole-cycle wavevectors put all energy on in-band bins; what is left
    # outside is float32 rounding (relative ~1e-14 in power).
    outside = power[..., ~inside].sum() / power.sum()
    assert outside < 1e-10
    # No DC: the cue does not shift the mean colour.
    assert power[..., 0, 0].max() / power.sum() < 1e-10


def test_background_power_falls_as_one_over_f_squared():
    bg = S.background(512, torch.Generator().manual_seed(1)).double()
    power = (torch.fft.fft2(bg - bg.mean(dim=(2, 3), keepdim=True)).abs() ** 2).mean(dim=(0, 1))
    ring = (_rho() * S.SIZE).round().long()
    radii = torch.arange(2, 14)
    profile = torch.stack([power[ring == r].mean() for r in radii])
    slope = torch.linalg.lstsq(torch.stack([radii.double().log(), torch.ones(12, dtype=torch.float64)], 1),
                               profile.log()[:, None]).solution[0, 0]
    # Built with amplitude 1/rho, so the power law exponent is -2.
    assert abs(slope.item() + 2.0) < 0.3


def _detect(x: torch.Tensor, band: str) -> torch.Tensor:
    """Nearest-energy classifier: the class whose documented cue bin (and
    colour axis) holds the most power. Uses no training and no template."""
    spec = torch.fft.fft2(x.double() / 255.0)  # (n, 3, 32, 32)
    scores = []
    for c in range(10):
        if band == "low":
            kx, ky = S.LOW_WAVEVECTORS[c % 5]
            axis = (S._RED_GREEN if c // 5 == 0 else S._BLUE_YELLOW).double()
        else:
            kx, ky = S.HIGH_WAVEVECTORS[c % 2][c // 2]
            axis = torch.ones(3, dtype=torch.float64) / math.sqrt(3.0)
        coeff = (spec[:, :, ky % S.SIZE, kx % S.SIZE] * axis).sum(dim=1)
        scores.append(coeff.abs() ** 2)
    return torch.stack(scores, 1).argmax(1)


def test_each_cue_alone_identifies_the_class(small):
    for band in ("low", "high"):
        acc = (_detect(small.test_x, band) == small.test_y).double().mean().item()
        assert acc > 0.9, f"{band} cue detector accuracy {acc:.3f}"
    cx = small.extra["conflict_x"]
    assert (_detect(cx, "low") == small.extra["conflict_y_low"]).double().mean() > 0.9
    assert (_detect(cx, "high") == small.extra["conflict_y_high"]).double().mean() > 0.9


def test_little_clipping(small):
    saturated = ((small.train_x == 0) | (small.train_x == 255)).double().mean().item()
    assert saturated < 0.01


def test_entry_point_and_bad_arguments():
    data = load_image_data("synthetic", seed=2, n_train=30, n_test=20)
    assert data.train_x.shape[0] == 30 and data.test_x.shape[0] == 20
    assert data.extra["conflict_x"].shape[0] == 20
    with pytest.raises(ValueError, match="seed"):
        S.load_synthetic(seed=-1, n_train=10, n_test=10)
    with pytest.raises(ValueError, match="n_train"):
        S.load_synthetic(seed=0, n_train=0, n_test=10)
