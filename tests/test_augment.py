"""Tests for utils/augment.py: batched crop/flip against a per-image reference
loop, determinism, flip rate, dtypes, and normalisation."""
import pytest
import torch

from utils.augment import normalize, random_crop_flip, to_float
from data.images import channel_stats


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference_views(img: torch.Tensor, pad: int) -> list[tuple[int, int, bool, torch.Tensor]]:
    """Every (dy, dx, flipped) crop of one zero-padded image, by plain slicing."""
    c, h, w = img.shape
    padded = torch.zeros(c, h + 2 * pad, w + 2 * pad, dtype=img.dtype)
    padded[:, pad:pad + h, pad:pad + w] = img
    views = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            views.append((dy, dx, False, crop))
            views.append((dy, dx, True, crop.flip(-1)))
    return views


def _reference_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int,
                         flip: bool) -> torch.Tensor:
    """The documented draws (offsets ``randint(0, 2 pad + 1, (2, B))`` when
    ``pad``, then ``rand(B) < 0.5`` when ``flip``) applied by plain slicing,
    one image at a time. Pinning the draws keeps every saved run's
    augmentation reproducible across faster implementations."""
    b, c, h, w = x.shape
    dy, dx = (torch.randint(0, 2 * pad + 1, (2, b), generator=generator) if pad
              else torch.zeros(2, b, dtype=torch.int64))
    mirrored = torch.rand(b, generator=generator) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    padded = torch.zeros(b, c, h + 2 * pad, w + 2 * pad, dtype=x.dtype)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    out = torch.empty(b, c, h, w, dtype=x.dtype)
    for i in range(b):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if mirrored[i] else crop
    return out


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("pad,flip", [(4, True), (1, True), (3, False), (0, True)])
def test_output_equals_per_image_slicing_with_the_same_draws(dtype, pad, flip):
    g = _gen(11)
    for b, c, h, w in [(37, 3, 8, 8), (5, 1, 6, 9), (64, 3, 32, 32)]:
        x = (torch.rand(b, c, h, w, generator=g) * 255).to(dtype)
        for layout in (x, x.contiguous(memory_format=torch.channels_last)):
            seed = int(torch.randint(0, 2 ** 31, (1,), generator=g))
            out = random_crop_flip(layout, _gen(seed), pad=pad, flip=flip)
            assert out.dtype == dtype and out.shape == x.shape
            assert torch.equal(out, _reference_crop_flip(x, _gen(seed), pad, flip))


def test_pad0_noflip_is_identity():
    x = torch.rand(5, 3, 8, 8)
    assert torch.equal(random_crop_flip(x, _gen(0), pad=0, flip=False), x)


def test_each_output_is_a_shifted_flipped_crop_and_all_shifts_occur():
    pad = 2
    x = torch.rand(300, 3, 6, 7)  # non-square, random: every view of an image is distinct
    out = random_crop_flip(x, _gen(1), pad=pad)
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for i in range(x.shape[0]):
        matches = [(dy, dx, f) for dy, dx, f, v in _reference_views(x[i], pad)
                   if torch.equal(out[i], v)]
        assert len(matches) == 1, f"image {i}: {len(matches)} matching views"
        seen.add(matches[0])
    # 300 uniform draws miss a given one of the 25 offsets with probability
    # (24/25)^300, about 5e-6 (and the seed is fixed): all must appear.
    assert {(dy, dx) for dy, dx, _ in seen} == {(a, b) for a in range(5) for b in range(5)}
    assert {f for _, _, f in seen} == {False, True}


def test_same_seed_same_output_and_other_seed_differs():
    x = torch.rand(64, 3, 8, 8)
    a = random_crop_flip(x, _gen(7))
    b = random_crop_flip(x, _gen(7))
    c = random_crop_flip(x, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_flip_probability_is_one_half():
    n = 4000
    x = torch.rand(n, 1, 4, 4)
    out = random_crop_flip(x, _gen(3), pad=0, flip=True)
    flipped = (out != x).flatten(1).any(dim=1).float().mean().item()
    # Binomial(4000, 0.5): std of the rate is 0.0079; 5 std either side.
    assert abs(flipped - 0.5) < 0.04
    assert torch.equal(out[out.ne(x).flatten(1).any(1)], x.flip(-1)[out.ne(x).flatten(1).any(1)])


def test_uint8_and_float_follow_the_same_draws():
    x8 = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    out8 = random_crop_flip(x8, _gen(5), pad=3)
    outf = random_crop_flip(x8.float(), _gen(5), pad=3)
    assert out8.dtype == torch.uint8
    assert torch.equal(out8.float(), outf)


def test_generator_drives_everything_not_the_global_rng():
    x = torch.rand(16, 3, 8, 8)
    torch.manual_seed(0)
    a = random_crop_flip(x, _gen(2))
    torch.manual_seed(1)
    b = random_crop_flip(x, _gen(2))
    assert torch.equal(a, b)


def test_bad_arguments_raise_valueerror():
    with pytest.raises(ValueError, match="x"):
        random_crop_flip(torch.rand(3, 8, 8), _gen(0))
    with pytest.raises(ValueError, match="pad"):
        random_crop_flip(torch.rand(1, 3, 8, 8), _gen(0), pad=-1)
    with pytest.raises(ValueError, match="generator"):
        random_crop_flip(torch.rand(1, 3, 8, 8), 0)
    with pytest.raises(ValueError, match="x"):
        to_float(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="mean/std"):
        normalize(torch.rand(2, 3, 4, 4), (0.5, 0.5), (0.2, 0.2))
    with pytest.raises(ValueError, match="std"):
        normalize(torch.rand(2, 1, 4, 4), (0.5,), (0.0,))


def test_to_float_and_normalize_give_zero_mean_unit_std():
    x = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    x01 = to_float(x)
    assert x01.dtype == torch.float32
    assert torch.equal(x01 * 255, x.float())
    mean, std = channel_stats(x)
    z = normalize(x01, mean, std).double()
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    # channel_stats is the population std, so compare with unbiased=False.
    assert torch.allclose(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64),
                          atol=1e-5)
    assert normalize(x01[0], mean, std).shape == (3, 8, 8)
