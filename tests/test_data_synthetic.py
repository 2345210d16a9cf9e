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


# ------------------------------------------------------------ synthetic-v2

from data import synthetic_v2 as V  # noqa: E402


@pytest.fixture(scope="module")
def small_v2():
    return V.load_synthetic_v2(seed=3, n_train=400, n_test=300)


def _detect_v2(x: torch.Tensor, band: str) -> torch.Tensor:
    """Like :func:`_detect` for v2's patterns: the class whose documented
    bins (both waves of a plaid) and colour axis hold the most power."""
    spec = torch.fft.fft2(x.double() / 255.0)
    scores = []
    for c in range(10):
        if band == "low":
            waves = V.LOW_PATTERNS[c % 5]
            axis = (S._RED_GREEN if c // 5 == 0 else S._BLUE_YELLOW).double()
        else:
            waves = V.HIGH_PATTERNS[c % 2][c // 2]
            axis = torch.ones(3, dtype=torch.float64) / math.sqrt(3.0)
        power = sum((spec[:, :, ky % S.SIZE, kx % S.SIZE] * axis).sum(dim=1).abs() ** 2
                    for kx, ky in waves)
        scores.append(power / len(waves))
    return torch.stack(scores, 1).argmax(1)


def test_v2_record_id_and_extras(small_v2):
    d = small_v2
    assert d.dataset_id == V.DATASET_ID == "synthetic-v2" and d.classes == S.CLASSES
    assert d.train_x.shape == (400, 3, 32, 32) and d.train_x.dtype == torch.uint8
    assert torch.bincount(d.train_y, minlength=10).tolist() == [40] * 10
    assert "seed=3" in d.source and "synthetic-v2" in d.source
    ex = d.extra
    assert ex["conflict_x"].shape == d.test_x.shape
    assert bool((ex["conflict_y_low"] != ex["conflict_y_high"]).all())
    for split, n in (("train", 400), ("test", 300)):
        for cue in ("low", "high"):
            shown = ex[f"{split}_y_{cue}"]
            assert shown.shape == (n,) and shown.dtype == torch.int64
            assert int(shown.min()) >= -1 and int(shown.max()) < 10


def test_v2_same_seed_same_bytes_and_independent_streams(small_v2):
    again = V.load_synthetic_v2(seed=3, n_train=400, n_test=300)
    for key in ("train_x", "test_x", "train_y"):
        assert torch.equal(getattr(small_v2, key), getattr(again, key))
    for key, value in small_v2.extra.items():
        assert torch.equal(value, again.extra[key]), key
    assert not torch.equal(V.load_synthetic_v2(seed=4, n_train=400, n_test=300).train_x,
                           small_v2.train_x)
    bigger = V.load_synthetic_v2(seed=3, n_train=500, n_test=300)
    assert torch.equal(bigger.test_x, small_v2.test_x)
    assert torch.equal(bigger.extra["conflict_x"], small_v2.extra["conflict_x"])


def test_entry_point_names_pick_the_version(small_v2):
    assert load_image_data("synthetic", seed=3, n_train=400, n_test=300).dataset_id == "synthetic-v2"
    v2 = load_image_data("synthetic-v2", seed=3, n_train=400, n_test=300)
    assert torch.equal(v2.train_x, small_v2.train_x)
    # v1 stays reachable under its id, byte for byte.
    v1 = load_image_data("synthetic-v1", seed=3, n_train=400, n_test=300)
    assert v1.dataset_id == "synthetic-v1"
    assert torch.equal(v1.train_x, S.load_synthetic(seed=3, n_train=400, n_test=300).train_x)


def test_cue_agreement_rates_by_construction():
    n = 40_000
    labels = torch.arange(n) % 10
    shown = V.cue_classes(labels, torch.Generator().manual_seed(0))
    agree = (shown == labels).double().mean().item()
    absent = (shown == -1).double().mean().item()
    for rate, p in ((agree, V.P_AGREE), (absent, V.P_ABSENT)):
        assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n), (rate, p)
    # A distractor is never the label and is uniform over the other nine.
    wrong = (shown >= 0) & (shown != labels)
    offsets = ((shown[wrong] - labels[wrong]) % 10)
    counts = torch.bincount(offsets, minlength=10).double()
    assert counts[0] == 0
    expect = wrong.sum().item() / 9
    assert torch.all((counts[1:] - expect).abs() < 4 * math.sqrt(expect))
    assert abs(wrong.double().mean().item() - V.P_DISTRACT) < 4 * math.sqrt(V.P_DISTRACT / n)


def test_cue_classes_reject_bad_probabilities():
    with pytest.raises(ValueError, match="p_agree"):
        V.cue_classes(torch.arange(5), torch.Generator(), p_agree=0.9, p_absent=0.2)


@pytest.mark.parametrize("a, b", [(V.P_AGREE, V.P_ABSENT), (0.6, 0.3), (0.8, 0.05), (0.5, 0.0)])
def test_bayes_accuracy_matches_its_closed_form(a, b):
    c = 1 - a - b
    # One cue: a shown class is right with probability a; absent, a guess (1/10).
    assert V.bayes_accuracy(1, a, b) == pytest.approx(a + b / 10, abs=1e-12)
    # Two: agreeing cues a^2; one absent 2ab; disagreeing (2ac) a coin flip;
    # both absent a guess. (Both wrong and equal, or one wrong and one absent,
    # loses: the shown class is the likelier one.)
    assert V.bayes_accuracy(2, a, b) == pytest.approx(a * a + 2 * a * b + a * c + b * b / 10,
                                                      abs=1e-12)


def test_v2_each_cue_informative_but_imperfect_and_both_better():
    one, two = V.bayes_accuracy(1), V.bayes_accuracy(2)
    assert 0.1 < one < two < 0.95


def test_v2_cues_lie_in_their_bands_and_survive_a_horizontal_flip():
    shown = torch.arange(200) % 10
    for cue, band, name in ((V.low_cue, S.SYNTHETIC_LOW_BAND, "low"),
                            (V.high_cue, S.SYNTHETIC_HIGH_BAND, "high")):
        pattern = cue(shown, torch.Generator().manual_seed(0)).double()
        power = torch.fft.fft2(pattern).abs() ** 2
        rho = _rho()
        inside = (rho <= band[1]) if band[0] == 0 else ((rho >= band[0]) & (rho < band[1]))
        assert power[..., ~inside].sum() / power.sum() < 1e-10
        assert power[..., 0, 0].max() / power.sum() < 1e-10
        # B's augmentation mirrors left-right: the class a cue shows must not change.
        x = (0.5 + pattern).clamp(0, 1).mul(255).round().to(torch.uint8)
        assert torch.equal(_detect_v2(x, name), shown)
        assert torch.equal(_detect_v2(x.flip(-1), name), shown)


def test_v2_absent_cue_is_zero():
    none = torch.full((4,), -1)
    gen = torch.Generator().manual_seed(0)
    assert V.low_cue(none, gen).abs().max() == 0 and V.high_cue(none, gen).abs().max() == 0


def test_v2_present_cues_are_readable_and_agree_with_the_label_as_built(small_v2):
    d, ex = small_v2, small_v2.extra
    for band in ("low", "high"):
        shown = ex[f"test_y_{band}"]
        present = shown >= 0
        pred = _detect_v2(d.test_x, band)
        # What makes the task hard is the construction, not unreadable cues.
        assert (pred[present] == shown[present]).double().mean() > 0.95
        conflict = _detect_v2(ex["conflict_x"], band) == ex[f"conflict_y_{band}"]
        assert conflict.double().mean() > 0.95
        # So the cue alone agrees with the label about as often as built (binomial 4 sigma).
        n = d.test_y.numel()
        acc = (pred == d.test_y).double().mean().item()
        p = V.bayes_accuracy(1)
        assert abs(acc - p) < 4 * math.sqrt(p * (1 - p) / n), (band, acc)


def test_v2_little_clipping(small_v2):
    saturated = ((small_v2.train_x == 0) | (small_v2.train_x == 255)).double().mean().item()
    assert saturated < 0.01
