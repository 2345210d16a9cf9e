"""synthetic-v2: the embedded 10-class image set, made hard enough that the
arms of experiments B and C can differ on it.

On synthetic-v1 every arm of B's CPU preset reaches 100% test accuracy, so
nothing separates them offline. Here each cue is informative but imperfect,
by construction, and harder to read:

1. **Each cue shows a class of its own.** Independently for the low and the
   high cue of an image with label y: with probability :data:`P_AGREE` the
   cue shows y; with :data:`P_ABSENT` it is absent (amplitude 0); otherwise
   (:data:`P_DISTRACT`) it shows a distractor, uniform over the other nine
   classes. The class each cue shows is kept (``extra["<split>_y_low"]``,
   ``extra["<split>_y_high"]``, -1 where absent), so the agreement rates can
   be checked. With perfectly readable cues the best possible accuracy is
   :func:`bayes_accuracy`: 0.72 from one cue alone, 0.844 from both (0.7 +
   0.2/10 alone; together a present cue covers the other's absence, and a
   disagreement is a coin flip). Label flips alone would not do: with two
   cues of equal reliability p the Bayes accuracy of both is again p, so
   the absent state is what makes the two cues worth combining.
2. **Flip-invariant patterns.** B trains with random horizontal flips,
   which map a wavevector (kx, ky) to (-kx, ky): v1's oblique gratings then
   turn into another class's. Every v2 pattern is either axis-aligned or a
   plaid of a wavevector and its mirror image (each at amplitude 1/sqrt 2,
   independent random phases, so the power equals one grating's), hence
   unchanged in class by a flip. Low cue of class c: pattern ``c % 5`` of
   (3,0); (0,3); (2,2)+(-2,2); (1,3)+(-1,3); (3,1)+(-3,1) (rho 0.088-0.099
   c/p) along colour axis ``c // 5`` (red-green, blue-yellow), as in v1. High
   cue: grey, pattern ``c // 2`` of (10,0); (0,10); (7,7)+(-7,7);
   (8,6)+(-8,6); (6,8)+(-6,8) (rho 0.31 c/p) at radius index ``c % 2`` = 0,
   or (14,0); (0,14); (10,10)+(-10,10); (11,8)+(-11,8); (8,11)+(-8,11)
   (rho 0.42-0.44 c/p) at 1. The bands are v1's (:func:`data.synthetic.cue_bands`).
3. **Lower contrast and noise.** Amplitudes :data:`LOW_AMPLITUDE` and
   :data:`HIGH_AMPLITUDE` times a gain ~ U(:data:`GAIN_RANGE`) per image,
   over v1's coloured 1/f background, plus white Gaussian pixel noise of std
   :data:`NOISE_STD` on every channel.

The cue-conflict split (``extra["conflict_x"]``, the size of test) carries
both cues, always present, the low one of ``conflict_y_low`` and the high
one of ``conflict_y_high`` (a different class, uniform over the other nine):
accuracy against either label tells which band a model relies on, as in v1.

Measured (B's CPU preset, baseline only: ``python main.py --experiment b
--dataset synthetic --set arms=baseline --seeds 2``, i.e. SmallCNN 16-32-64,
10,000 train / 2,000 test images of data_seed 0, 8 epochs, batch 256, SGD lr
0.05, random crop and flip): test accuracy 0.791 and 0.766 for seeds 0 and
1 (on v1: 100%). That is above the 0.72 either cue alone allows and below
the 0.844 of both, so the models use both cues and are not saturated. On the
same 2,000 test images a detector that reads each cue's documented bins
names every present cue correctly (100%, each cue) and agrees with the
label 72.05% of the time from either cue alone: the task is hard by
construction, not because a cue is unreadable.
Train, test and conflict come from three independent generators derived from
``seed`` and the version with numpy's SeedSequence (never the global RNG):
the same seed gives the same bytes (generated on one CPU thread, as v1, so
whatever the caller's thread count), and v2 shares no random stream with v1.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from data import synthetic as v1
from data.record import ImageData, make_image_data

DATASET_ID = "synthetic-v2"
NUM_CLASSES, SIZE, CLASSES = v1.NUM_CLASSES, v1.SIZE, v1.CLASSES
DEFAULT_N_TRAIN = v1.DEFAULT_N_TRAIN
DEFAULT_N_TEST = v1.DEFAULT_N_TEST

# Cue states (see the module docstring): 0.72 Bayes accuracy per cue, 0.844 both.
P_AGREE = 0.7
P_ABSENT = 0.2
P_DISTRACT = 1.0 - P_AGREE - P_ABSENT

_PLAID = (1 / math.sqrt(2.0), 1 / math.sqrt(2.0))
# Per pattern: up to two wavevectors (kx, ky) and their amplitude weights.
LOW_PATTERNS = (((3, 0),), ((0, 3),), ((2, 2), (-2, 2)), ((1, 3), (-1, 3)), ((3, 1), (-3, 1)))
HIGH_PATTERNS = ((((10, 0),), ((0, 10),), ((7, 7), (-7, 7)), ((8, 6), (-8, 6)), ((6, 8), (-6, 8))),
                 (((14, 0),), ((0, 14),), ((10, 10), (-10, 10)), ((11, 8), (-11, 8)),
                  ((8, 11), (-8, 11))))
LOW_AMPLITUDE = 0.045
HIGH_AMPLITUDE = 0.04
GAIN_RANGE = (0.5, 1.5)
NOISE_STD = 0.03

_STREAMS = {"train": 0, "test": 1, "conflict": 2}
_VERSION = 2
_CHUNK = 2048


def stream_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for one split of v2, independent of the others and of v1's."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    state = np.random.SeedSequence([seed, _STREAMS[stream], _VERSION]).generate_state(
        1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0]) & (2**63 - 1))


def _pattern_table(patterns) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 2, 2) wavevectors and (P, 2) weights; a single grating gets a
    second wave of weight 0."""
    k = torch.zeros(len(patterns), 2, 2)
    w = torch.zeros(len(patterns), 2)
    for i, waves in enumerate(patterns):
        k[i, : len(waves)] = torch.tensor(waves, dtype=torch.float32)
        w[i, : len(waves)] = torch.tensor((1.0,) if len(waves) == 1 else _PLAID)
    return k, w


def _patterns(k: torch.Tensor, w: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Sum of weighted plane waves with independent random phases.
    k: (n, 2, 2) wavevectors, w: (n, 2). Returns (n, 32, 32)."""
    n = k.shape[0]
    waves = v1._plane_waves(k.reshape(2 * n, 2), gen).reshape(n, 2, SIZE, SIZE)
    return (w[:, :, None, None] * waves).sum(dim=1)


def cue_classes(labels: torch.Tensor, gen: torch.Generator, p_agree: float = P_AGREE,
                p_absent: float = P_ABSENT) -> torch.Tensor:
    """The class each image's cue shows: the label with probability
    ``p_agree``, -1 (absent) with ``p_absent``, else a distractor uniform
    over the other nine classes. labels: int64 (n,). Returns int64 (n,)."""
    if not (0 <= p_agree and 0 <= p_absent and p_agree + p_absent <= 1):
        raise ValueError(f"p_agree, p_absent: expected non-negative with sum <= 1, got "
                         f"{p_agree}, {p_absent}")
    u = torch.rand(labels.numel(), generator=gen)
    other = (labels + torch.randint(1, NUM_CLASSES, (labels.numel(),), generator=gen)) % NUM_CLASSES
    shown = torch.where(u < p_agree, labels, other)
    return torch.where((u >= p_agree) & (u < p_agree + p_absent), torch.full_like(labels, -1), shown)


def low_cue(shown: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The low-frequency cue of each shown class (-1: none), zero mean.
    shown: int64 (n,). Returns float32 (n, 3, 32, 32)."""
    k, w = _pattern_table(LOW_PATTERNS)
    c = shown.clamp_min(0)
    colour = torch.stack([v1._RED_GREEN, v1._BLUE_YELLOW])[c // 5]
    gain = LOW_AMPLITUDE * v1._uniform(shown.numel(), GAIN_RANGE, gen) * (shown >= 0)
    wave = _patterns(k[c % 5], w[c % 5], gen)
    return gain[:, None, None, None] * colour[:, :, None, None] * wave[:, None]


def high_cue(shown: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The high-frequency cue of each shown class (-1: none), grey, zero
    mean. shown: int64 (n,). Returns float32 (n, 3, 32, 32)."""
    tables = [_pattern_table(p) for p in HIGH_PATTERNS]
    k = torch.stack([t[0] for t in tables])  # (radius, pattern, 2, 2)
    w = torch.stack([t[1] for t in tables])
    c = shown.clamp_min(0)
    gain = HIGH_AMPLITUDE * v1._uniform(shown.numel(), GAIN_RANGE, gen) * (shown >= 0)
    wave = _patterns(k[c % 2, c // 2], w[c % 2, c // 2], gen)
    return gain[:, None, None, None] * v1._LUMINANCE[None, :, None, None] * wave[:, None]


def render(y_low: torch.Tensor, y_high: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Images showing the low cue of ``y_low`` and the high cue of ``y_high``
    (-1: that cue absent), as uint8 (n, 3, 32, 32); generated in chunks."""
    out = torch.empty(y_low.numel(), 3, SIZE, SIZE, dtype=torch.uint8)
    for start in range(0, y_low.numel(), _CHUNK):
        lo, hi = y_low[start:start + _CHUNK], y_high[start:start + _CHUNK]
        x = v1.background(lo.numel(), gen) + low_cue(lo, gen) + high_cue(hi, gen)
        x = x + NOISE_STD * torch.randn(x.shape, generator=gen)
        out[start:start + _CHUNK] = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return out


def bayes_accuracy(cues: int = 2, p_agree: float = P_AGREE, p_absent: float = P_ABSENT) -> float:
    """Best possible accuracy from ``cues`` (1 or 2) independent cues of the
    construction above, each perfectly readable (its class, or its absence,
    seen without error): ``sum over observations of max_y P(y, obs)``, by
    exact enumeration with a uniform prior over the ten classes."""
    if cues not in (1, 2):
        raise ValueError(f"cues: expected 1 or 2, got {cues!r}")
    p_other = (1.0 - p_agree - p_absent) / (NUM_CLASSES - 1)
    obs_values = range(-1, NUM_CLASSES)

    def likelihood(o: int, y: int) -> float:
        return p_absent if o < 0 else (p_agree if o == y else p_other)

    total = 0.0
    for obs in itertools.product(obs_values, repeat=cues):
        total += max(math.prod(likelihood(o, y) for o in obs) for y in range(NUM_CLASSES))
    return total / NUM_CLASSES


def load_synthetic_v2(seed: int = 0, n_train: int | None = None,
                      n_test: int | None = None) -> ImageData:
    """synthetic-v2 with ``n_train`` (default 20,000) train images, ``n_test``
    (default 2,000) test images and as many cue-conflict images."""
    n_train = DEFAULT_N_TRAIN if n_train is None else n_train
    n_test = DEFAULT_N_TEST if n_test is None else n_test
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name}: expected a positive int or None, got {n!r}")
    with v1.one_thread():  # bytes independent of the caller's thread count (see v1)
        splits, extra = {}, {}
        for split, n in (("train", n_train), ("test", n_test)):
            gen = stream_generator(seed, split)
            y = v1.balanced_labels(n, gen)
            y_low, y_high = cue_classes(y, gen), cue_classes(y, gen)
            splits[split] = (render(y_low, y_high, gen), y)
            extra[f"{split}_y_low"], extra[f"{split}_y_high"] = y_low, y_high
        gen = stream_generator(seed, "conflict")
        y_low = v1.balanced_labels(n_test, gen)
        y_high = (y_low + torch.randint(1, NUM_CLASSES, (n_test,), generator=gen)) % NUM_CLASSES
        extra.update(conflict_x=render(y_low, y_high, gen), conflict_y_low=y_low,
                     conflict_y_high=y_high)
        return make_image_data(
            *splits["train"], *splits["test"], classes=CLASSES, dataset_id=DATASET_ID,
            source=f"generated (seed={seed}, {DATASET_ID}, data/synthetic_v2.py)", extra=extra)
