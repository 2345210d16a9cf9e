"""Low- and high-pass filters for image batches (docs/DEFINITIONS.md section 4).

Every filter multiplies ``fft2`` of each ``(H, W)`` channel by a real,
Hermitian-symmetric mask and takes the real part of the inverse (the
imaginary part is rounding noise, below 1e-6). Three families, always
recorded by name:

* ``gaussian`` (blur): ``low = G_sigma * x``, ``high = x - low``. The
  convolution is done in the Fourier domain with the Gaussian's transfer
  function ``T(f) = exp(-2 pi^2 sigma^2 rho^2)``, ``rho`` in c/p on the DFT
  grid; that is a *circular* convolution: the image wraps around, so pixels
  within ~2 sigma of one border mix with the opposite border. We chose it
  over spatial reflect padding because it makes the cutoff exact: the
  half-power point ``|T(f50)|^2 = 1/2`` gives
  ``f50 = sqrt(ln 2) / (2 pi sigma)``: 0.265, 0.133, 0.088, 0.066 c/p for
  sigma = 0.5, 1, 1.5, 2 px. (Amplitude 1/2 would be at
  ``sqrt(2 ln 2) / (2 pi sigma)``, a factor sqrt(2) higher.)
* ``radial`` (ideal disc, Wang et al. 2020): low keeps bins with
  ``rho * P < r`` (``P = max(H, W)``, so ``r`` counts frequency bins);
  high is the complement, so ``low + high = x`` and, the two being
  orthogonal, their energies add up to that of ``x``.
* ``square`` (Yin et al. 2019): low keeps a ``B x B`` square of bins around
  DC; their "high-pass" keeps a ``B x B`` square around the Nyquist corner
  ``(H/2, W/2)``, which is *not* the complement of the low-pass. ``B`` must
  be odd (an even square around DC is not Hermitian-symmetric) and ``H, W``
  even for the high-pass (an odd grid has no Nyquist bin to centre on).

Filters are linear and per channel; no clipping unless ``clip=True``. A
high-pass image is near zero mean: evaluate it as is, add the mean back only
to display it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._grid import as_numpy, as_real_tensor, check_positive, check_size, describe, integer_frequencies, rho_grid

__all__ = [
    "FILTER_FAMILIES",
    "gaussian_f50",
    "gaussian_transfer",
    "radial_mask",
    "square_mask",
    "apply_fourier_mask",
    "gaussian_lowpass",
    "gaussian_highpass",
    "radial_lowpass",
    "radial_highpass",
    "square_lowpass",
    "square_highpass",
    "filter_images",
]

FILTER_FAMILIES = ("gaussian", "radial", "square")


def gaussian_f50(sigma: float) -> float:
    """Half-power cutoff ``sqrt(ln 2) / (2 pi sigma)`` in c/p of the Gaussian
    blur with standard deviation ``sigma`` px."""
    return math.sqrt(math.log(2.0)) / (2.0 * math.pi * check_positive(sigma, "sigma"))


def gaussian_transfer(H: int, W: int, sigma: float) -> np.ndarray:
    """float64 ``(H, W)`` transfer function ``exp(-2 pi^2 sigma^2 rho^2)`` of
    the Gaussian blur on the DFT grid (fftfreq order; DC at ``[0, 0]``)."""
    H, W, s = check_size(H, "H"), check_size(W, "W"), check_positive(sigma, "sigma")
    return np.exp(-2.0 * math.pi ** 2 * s ** 2 * rho_grid(H, W) ** 2)


def radial_mask(H: int, W: int, radius: float) -> np.ndarray:
    """bool ``(H, W)``: bins with ``rho * max(H, W) < radius`` (fftfreq order)."""
    H, W, r = check_size(H, "H"), check_size(W, "W"), check_positive(radius, "radius")
    return rho_grid(H, W) * max(H, W) < r


def _check_size(size, H: int, W: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size: expected an odd int B, got {describe(size)}")
    if size % 2 == 0:
        raise ValueError(f"size: expected an odd B so that the mask is Hermitian-symmetric, got {size}")
    if not 1 <= size <= min(H, W):
        raise ValueError(f"size: expected 1 <= B <= {min(H, W)} for {H}x{W} images, got {size}")
    return int(size)


def square_mask(H: int, W: int, size: int, corner: bool = False) -> np.ndarray:
    """bool ``(H, W)`` ``B x B`` square of bins, fftfreq order.

    ``corner=False``: around DC (``|ku|, |kv| <= (B - 1) / 2``).
    ``corner=True``: around the Nyquist corner ``(H/2, W/2)``, measured
    periodically (Yin et al.'s high-pass); needs even ``H`` and ``W``.
    """
    H, W = check_size(H, "H"), check_size(W, "W")
    B = _check_size(size, H, W)
    ku, kv = integer_frequencies(H), integer_frequencies(W)
    if corner:
        if H % 2 or W % 2:
            raise ValueError(f"x: the corner square needs even H and W (a Nyquist bin), got {H}x{W}")
        # Periodic distance to Nyquist: |k| measured from n/2 instead of 0.
        ku, kv = H // 2 - np.abs(ku), W // 2 - np.abs(kv)
    half = (B - 1) // 2
    return (np.abs(ku)[:, None] <= half) & (np.abs(kv)[None, :] <= half)


def _is_hermitian(mask: np.ndarray) -> bool:
    # mask[-k mod n] for every k: flip, then roll so that index 0 maps to 0.
    mirrored = np.roll(mask[::-1, ::-1], shift=(1, 1), axis=(0, 1))
    return bool(np.allclose(mask, np.conj(mirrored), rtol=0.0, atol=1e-12))


def apply_fourier_mask(x, mask) -> torch.Tensor:
    """``real(ifft2(mask * fft2(x)))`` per ``(H, W)`` channel.

    Args:
        x: real float ``(..., H, W)`` tensor or array.
        mask: ``(H, W)`` numpy array in fftfreq order (DC at ``[0, 0]``),
            Hermitian-symmetric (``mask[-k] = conj(mask[k])``) so that the
            result is real; anything else raises ValueError.

    Returns:
        ``(..., H, W)`` tensor, ``x``'s device, float32 (float64 for float64).
    """
    t = as_real_tensor(x, "x", 2, require_float=True)
    m = as_numpy(mask, "mask")
    if m.dtype == bool:
        m = m.astype(np.float64)
    if m.shape != tuple(t.shape[-2:]):
        raise ValueError(f"mask: expected shape {tuple(t.shape[-2:])}, got {m.shape}")
    if not _is_hermitian(m):
        raise ValueError("mask: expected a Hermitian-symmetric mask (mask[-k] == conj(mask[k])); "
                         "otherwise the filtered image is not real")
    ctype = torch.complex128 if t.dtype == torch.float64 else torch.complex64
    mt = torch.from_numpy(np.ascontiguousarray(m)).to(t.device, ctype)
    return torch.fft.ifft2(torch.fft.fft2(t) * mt).real


def gaussian_lowpass(x, sigma: float) -> torch.Tensor:
    """``G_sigma * x`` (circular), ``x``: ``(..., H, W)``; see module doc."""
    t = as_real_tensor(x, "x", 2, require_float=True)
    return apply_fourier_mask(t, gaussian_transfer(t.shape[-2], t.shape[-1], sigma))


def gaussian_highpass(x, sigma: float) -> torch.Tensor:
    """``x - G_sigma * x``, ``(..., H, W)``; near zero mean, not clipped."""
    t = as_real_tensor(x, "x", 2, require_float=True)
    return t - gaussian_lowpass(t, sigma)


def radial_lowpass(x, radius: float) -> torch.Tensor:
    """Keep bins with ``rho * max(H, W) < radius``; ``x``: ``(..., H, W)``."""
    t = as_real_tensor(x, "x", 2, require_float=True)
    return apply_fourier_mask(t, radial_mask(t.shape[-2], t.shape[-1], radius).astype(np.float64))


def radial_highpass(x, radius: float) -> torch.Tensor:
    """The complement of :func:`radial_lowpass`: ``x - radial_lowpass(x)``."""
    t = as_real_tensor(x, "x", 2, require_float=True)
    return t - radial_lowpass(t, radius)


def square_lowpass(x, size: int) -> torch.Tensor:
    """Keep the odd ``size x size`` square of bins around DC; ``(..., H, W)``."""
    t = as_real_tensor(x, "x", 2, require_float=True)
    return apply_fourier_mask(t, square_mask(t.shape[-2], t.shape[-1], size).astype(np.float64))


def square_highpass(x, size: int) -> torch.Tensor:
    """Yin et al.'s high-pass: keep the odd ``size x size`` square around the
    Nyquist corner (not the complement of :func:`square_lowpass`)."""
    t = as_real_tensor(x, "x", 2, require_float=True)
    mask = square_mask(t.shape[-2], t.shape[-1], size, corner=True)
    return apply_fourier_mask(t, mask.astype(np.float64))


_FILTERS = {
    ("gaussian", "low"): gaussian_lowpass, ("gaussian", "high"): gaussian_highpass,
    ("radial", "low"): radial_lowpass, ("radial", "high"): radial_highpass,
    ("square", "low"): square_lowpass, ("square", "high"): square_highpass,
}


def filter_images(x, family: str, kind: str = "low", cutoff=None, clip: bool = False) -> torch.Tensor:
    """One entry point for the three families.

    Args:
        x: real float ``(..., H, W)`` images (docs/DEFINITIONS.md: [0, 1] pixels).
        family: ``"gaussian"``, ``"radial"`` or ``"square"``.
        kind: ``"low"`` or ``"high"``.
        cutoff: the family's parameter: ``sigma`` in px (gaussian), radius
            ``r`` in bins (radial), odd square size ``B`` (square).
        clip: clamp the result to [0, 1] (off by default; it would distort a
            high-pass image, which is near zero mean).

    Returns:
        ``(..., H, W)`` real tensor.
    """
    if not isinstance(family, str) or family not in FILTER_FAMILIES:
        raise ValueError(f"family: expected one of {FILTER_FAMILIES}, got {describe(family)}")
    if not isinstance(kind, str) or kind not in ("low", "high"):
        raise ValueError(f"kind: expected 'low' or 'high', got {describe(kind)}")
    if cutoff is None:
        raise ValueError(f"cutoff: required (sigma, radius or odd size B for family {family!r})")
    out = _FILTERS[(family, kind)](x, cutoff)
    return out.clamp(0.0, 1.0) if clip else out
