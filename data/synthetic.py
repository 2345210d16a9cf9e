"""synthetic-v1: an embedded 10-class image set, generated from a seed, in
which the label is carried twice, by a low- and by a high-frequency cue.

Kept byte for byte under its id (``load_image_data("synthetic-v1")``); the
name ``synthetic`` now means synthetic-v2 (:mod:`data.synthetic_v2`), because
here every arm of experiment B's CPU preset reaches 100% test accuracy.

Every image is 32x32 RGB, float pixels in [0, 1] clipped and rounded to
uint8. Coordinates: row i, column j; a wavevector k = (kx, ky) in cycles per
image (whole numbers, so each cue sits exactly on its DFT bins and leaks
nowhere) gives the plane wave ``cos(2 pi (kx j + ky i) / 32 + phi)`` of
radial frequency ``rho = |k| / 32`` cycles per pixel (c/p).

1. **Background** (natural-image statistics, carries no label): three
   independent 1/f fields (white complex Gaussian Fourier coefficients
   times 1/rho, DC removed, so power falls as 1/rho^2), each scaled to
   unit std per image; one luminance field added to all channels with std
   ``s ~ U(0.08, 0.14)``, and two chroma fields along the red-green axis
   (1, -1, 0)/sqrt(2) and the blue-yellow axis (1, 1, -2)/sqrt(6), each with
   std 0.35 s. Mean brightness ~ U(0.35, 0.65) on all channels, plus a mean
   colour offset of std 0.03 along each chroma axis.
2. **Low cue**, class c: one plane wave along a chroma axis,
   amplitude ``0.06 * g`` (g ~ U(0.8, 1.2) per image) times the unit colour
   vector, random phase phi ~ U(0, 2 pi) per image (so it is a spectral line,
   not a template). Orientation index ``c % 5`` picks k from
   (3,0), (2,2), (1,3), (-1,3), (-2,2): rho 0.094, 0.088, 0.099, 0.099, 0.088
   c/p (angles 0, 45, 72, 108, 135 deg). Colour index ``c // 5`` picks the
   red-green (0) or the blue-yellow (1) axis. All of it lies in
   :data:`SYNTHETIC_LOW_BAND` = (0, 0.1] c/p.
3. **High cue**, class c: one grey (equal on R, G, B) grating, amplitude
   ``0.05 * g`` (g ~ U(0.8, 1.2)) per channel, random phase per image.
   Orientation index ``c // 2`` and frequency index ``c % 2`` (grouping the
   classes differently from the low cue: classes whose low cues share an
   orientation, c and c + 5, never share a high-cue orientation) pick k from (10,0), (8,6), (3,10), (-3,10), (-8,6)
   (rho 0.31-0.33 c/p) at index 0, or (14,0), (11,8), (4,13), (-4,13),
   (-11,8) (rho 0.42-0.44 c/p) at index 1; angles 0, 37, 73, 107, 143 deg.
   All of it lies in :data:`SYNTHETIC_HIGH_BAND` = [0.3, 0.5) c/p.

Train and test images carry both cues of their class. The cue-conflict split
(``extra["conflict_x"]``, same size as test) carries the low cue of
``conflict_y_low`` and the high cue of ``conflict_y_high``, always a
different class, uniform over the other nine: accuracy against either label
tells which band a model relies on.

Amplitudes were chosen so that each cue alone is learnable and neither
dominates. Measured (10,000 train / 2,000 test images, seed 0; a 3-layer
ReLU CNN, 32-64-64 channels, 3x3, max-pools, Adam 2e-3, batch 128): trained
and tested on radially low-passed images (rho*32 < 3.5) it reaches 100% test
accuracy after one epoch; on high-passed images (rho*32 >= 9.6) 99.3% after
one epoch; on the full images 100% after two epochs, and on the conflict
split it then follows the low cue for 41% and the high cue for 36% of the
images (chance: 10% each). At amplitudes 0.10/0.06 (20,000 train images)
every model was at 100% after one epoch; at 0.05/0.03 the high cue alone
reached only 54% after one epoch and 78% after two.

Classes are balanced and shuffled. Train, test and conflict come from three
independent torch generators derived from ``seed`` with numpy's
SeedSequence (never the global RNG): the same seed gives the same bytes.
Generation runs on one CPU thread (:func:`one_thread`), whatever the
caller's thread count, because float32 kernels split across threads round
differently (at 2 threads 111 of 61M bytes of the default set differed): the
bytes are a function of the seed and the sizes alone, on one machine, in any
process (docs/DEFINITIONS.md, Reproducibility).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from data.record import ImageData, make_image_data

DATASET_ID = "synthetic-v1"
NUM_CLASSES = 10
SIZE = 32
CLASSES = tuple(f"class{c}" for c in range(NUM_CLASSES))
DEFAULT_N_TRAIN = 20_000
DEFAULT_N_TEST = 2_000

SYNTHETIC_LOW_BAND = (0.0, 0.1)   # c/p, every low-cue wavevector has rho <= 0.1
SYNTHETIC_HIGH_BAND = (0.3, 0.5)  # c/p, every high-cue wavevector has 0.3 <= rho < 0.5

LOW_WAVEVECTORS = ((3, 0), (2, 2), (1, 3), (-1, 3), (-2, 2))
HIGH_WAVEVECTORS = (((10, 0), (8, 6), (3, 10), (-3, 10), (-8, 6)),
                    ((14, 0), (11, 8), (4, 13), (-4, 13), (-11, 8)))
LOW_AMPLITUDE = 0.06
HIGH_AMPLITUDE = 0.05
GAIN_RANGE = (0.8, 1.2)
BACKGROUND_STD_RANGE = (0.08, 0.14)
CHROMA_RATIO = 0.35
BRIGHTNESS_RANGE = (0.35, 0.65)
COLOUR_OFFSET_STD = 0.03

_LUMINANCE = torch.tensor([1.0, 1.0, 1.0])
_RED_GREEN = torch.tensor([1.0, -1.0, 0.0]) / math.sqrt(2.0)
_BLUE_YELLOW = torch.tensor([1.0, 1.0, -2.0]) / math.sqrt(6.0)
_STREAMS = {"train": 0, "test": 1, "conflict": 2}
# Images generated per step: bounds the float temporaries to about 50 MB.
_CHUNK = 2048


@contextlib.contextmanager
def one_thread():
    """Run the body on one torch CPU thread (BLAS, FFT and elementwise
    kernels included), restoring the caller's thread count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cue_bands() -> dict[str, tuple[float, float]]:
    """The radial-frequency bands (c/p) that hold each cue's energy."""
    return {"low": SYNTHETIC_LOW_BAND, "high": SYNTHETIC_HIGH_BAND}


def stream_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for one split, independent of the others."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    state = np.random.SeedSequence([seed, _STREAMS[stream]]).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0]) & (2**63 - 1))


def _uniform(n: int, bounds: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * torch.rand(n, generator=gen)


def _plane_waves(k: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Unit-amplitude cosines with random phase. k: (n, 2) whole cycles per
    image as (kx, ky). Returns (n, 32, 32)."""
    grid = torch.arange(SIZE, dtype=torch.float32)
    phase = 2 * math.pi * torch.rand(k.shape[0], generator=gen)
    arg = (k[:, 0, None, None] * grid[None, None, :] + k[:, 1, None, None] * grid[None, :, None])
    return torch.cos(2 * math.pi * arg / SIZE + phase[:, None, None])


def low_cue(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The low-frequency cue of each label, zero mean. labels: (n,).
    Returns float32 (n, 3, 32, 32)."""
    k = torch.tensor(LOW_WAVEVECTORS, dtype=torch.float32)[labels % 5]
    colour = torch.stack([_RED_GREEN, _BLUE_YELLOW])[labels // 5]
    gain = LOW_AMPLITUDE * _uniform(labels.numel(), GAIN_RANGE, gen)
    wave = _plane_waves(k, gen)
    return (gain[:, None, None, None] * colour[:, :, None, None] * wave[:, None])


def high_cue(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The high-frequency cue of each label, zero mean. labels: (n,).
    Returns float32 (n, 3, 32, 32)."""
    k = torch.tensor(HIGH_WAVEVECTORS, dtype=torch.float32)[labels % 2, labels // 2]
    gain = HIGH_AMPLITUDE * _uniform(labels.numel(), GAIN_RANGE, gen)
    wave = _plane_waves(k, gen)
    return gain[:, None, None, None] * _LUMINANCE[None, :, None, None] * wave[:, None]


def background(n: int, gen: torch.Generator) -> torch.Tensor:
    """Coloured 1/f backgrounds with their mean colour. Returns float32
    (n, 3, 32, 32)."""
    freq = torch.fft.fftfreq(SIZE)
    rho = torch.sqrt(freq[:, None] ** 2 + freq[: SIZE // 2 + 1, None].T ** 2)
    one_over_f = torch.where(rho > 0, 1.0 / rho.clamp_min(1e-12), torch.zeros(()))
    # White complex Gaussian coefficients on the half plane, shaped by 1/rho:
    # irfft2 enforces the Hermitian symmetry, so the field is real and its
    # expected power is 1/rho^2, at one inverse FFT per field.
    coeffs = torch.randn(n, 3, SIZE, SIZE // 2 + 1, dtype=torch.complex64, generator=gen)
    fields = torch.fft.irfft2(coeffs * one_over_f, s=(SIZE, SIZE))
    fields = fields / fields.std(dim=(2, 3), keepdim=True)
    std = _uniform(n, BACKGROUND_STD_RANGE, gen)[:, None]
    weights = torch.cat([std, CHROMA_RATIO * std, CHROMA_RATIO * std], dim=1)  # (n, field)
    axes = torch.stack([_LUMINANCE, _RED_GREEN, _BLUE_YELLOW])  # (field, rgb)
    image = torch.einsum("nf,fc,nfhw->nchw", weights, axes, fields)
    brightness = _uniform(n, BRIGHTNESS_RANGE, gen)
    offsets = COLOUR_OFFSET_STD * torch.randn(n, 2, generator=gen)
    mean_colour = brightness[:, None] * _LUMINANCE + offsets @ axes[1:]
    return image + mean_colour[:, :, None, None]


def render(y_low: torch.Tensor, y_high: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Images carrying the low cue of ``y_low`` and the high cue of
    ``y_high``, as uint8 (n, 3, 32, 32); generated in chunks."""
    out = torch.empty(y_low.numel(), 3, SIZE, SIZE, dtype=torch.uint8)
    for start in range(0, y_low.numel(), _CHUNK):
        lo, hi = y_low[start:start + _CHUNK], y_high[start:start + _CHUNK]
        x = background(lo.numel(), gen) + low_cue(lo, gen) + high_cue(hi, gen)
        out[start:start + _CHUNK] = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return out


def balanced_labels(n: int, gen: torch.Generator) -> torch.Tensor:
    """n labels, each class n // 10 or n // 10 + 1 times, shuffled. int64 (n,)."""
    return (torch.arange(n) % NUM_CLASSES)[torch.randperm(n, generator=gen)]


def load_synthetic(seed: int = 0, n_train: int | None = None,
                   n_test: int | None = None) -> ImageData:
    """synthetic-v1 with ``n_train`` (default 20,000) train images, ``n_test``
    (default 2,000) test images and as many cue-conflict images."""
    n_train = DEFAULT_N_TRAIN if n_train is None else n_train
    n_test = DEFAULT_N_TEST if n_test is None else n_test
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name}: expected a positive int or None, got {n!r}")
    with one_thread():
        splits = {}
        for split, n in (("train", n_train), ("test", n_test)):
            gen = stream_generator(seed, split)
            y = balanced_labels(n, gen)
            splits[split] = (render(y, y, gen), y)
        gen = stream_generator(seed, "conflict")
        y_low = balanced_labels(n_test, gen)
        y_high = (y_low + torch.randint(1, NUM_CLASSES, (n_test,), generator=gen)) % NUM_CLASSES
        conflict_x = render(y_low, y_high, gen)
        return make_image_data(
            *splits["train"], *splits["test"], classes=CLASSES, dataset_id=DATASET_ID,
            source=f"generated (seed={seed}, {DATASET_ID}, data/synthetic.py)",
            extra={"conflict_x": conflict_x, "conflict_y_low": y_low, "conflict_y_high": y_high})
