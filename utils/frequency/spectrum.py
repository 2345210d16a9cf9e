"""Radial power spectrum and high-frequency fraction (docs/DEFINITIONS.md section 2).

Notation:

* ``x``: real ``(..., H, W)``: conv weights ``(C_out, C_in, k, k)``, images
  ``(B, C, H, W)``, feature maps, or a single ``(H, W)`` array.
* ``P``: FFT size. ``F = fft2(x, s=(P, P), norm="ortho")`` zero-pads the
  bottom and right of ``x`` up to ``P x P`` (power is shift invariant, so where
  the zeros go does not matter). ``P = max(H, W)`` unless ``pad_to`` is given;
  conv kernels should be padded to the resolution of the layer's input
  (``pad_to=32`` for a CIFAR first layer) so that their spectrum is sampled on
  the images' frequency axis. Non-square inputs are padded on both sides to
  the same ``P``. Padding interpolates; it adds no resolution.
  :func:`get_radial_spectrum` alone (the seed's API) pads conv weights to 32
  by default and says so in a warning; see its docstring for the rule.
* ``S = |F|^2``: power. With ``norm="ortho"``, ``sum(S) = sum(x^2)``
  (Parseval) for every ``P >= max(H, W)``.
* ``rho = sqrt(fu^2 + fv^2)``: radius of a bin in cycles/pixel; ring index
  ``round(rho * P)``, so ring ``r`` is centred on ``r / P`` c/p. The corner
  rings (``rho > 0.5``, up to ``0.5 * sqrt(2)``) are kept: energies always
  include them; plots may stop at Nyquist (``frequency <= 0.5``).

Averaging over kernels, channels or a batch averages *power*, never the
signals before the FFT (that would cancel energy). Leading dims are reduced
only on request (``reduce="mean"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ._grid import (as_real_tensor, check_cutoff, check_size, describe, high_mask, resolve_pad,
                    rho_grid, ring_index, ring_sum)

__all__ = [
    "RadialSpectrum",
    "radial_power_spectrum",
    "get_radial_spectrum",
    "ring_counts",
    "ring_frequencies",
    "power_spectrum_2d",
    "high_frequency_fraction",
    "white_noise_hff",
]

_REDUCTIONS = (None, "mean")

# get_radial_spectrum's default for conv weights: the resolution of a CIFAR
# first layer's input (docs/DEFINITIONS.md section 2: kernels are padded to the
# layer's input resolution). Without it a 3x3 kernel has three rings.
KERNEL_PAD_TO = 32
# A 4-D input whose spatial sides are all at most this is read as a kernel
# bank: the largest common first-layer kernel is 7x7 (ResNet stems), while
# images and feature maps that small are rare enough to be told by a warning.
KERNEL_MAX_SIZE = 7


@dataclass(frozen=True, eq=False)  # tensors/arrays have no boolean ==
class RadialSpectrum:
    """Per-ring summary of ``S = |fft2(x, s=(P, P), norm="ortho")|^2``.

    Attributes (torch tensors on the input's device; ``R`` rings):
        energy: ``(..., R)`` summed power per ring. Over rings it sums to
            ``sum(x^2)`` per leading element (``reduce=None``) or to the mean
            of ``sum(x^2)`` over leading elements (``reduce="mean"``).
        count: ``(R,)`` int64 number of bins per ring (every ring is non-empty).
        mean_power: ``(..., R)`` ``energy / count``: the profile to plot.
        frequency: ``(R,)`` ring centres ``r / P`` in c/p, low to high, up to
            and including the corner rings.
        P: the FFT size.
        reduce: ``None`` (leading dims kept) or ``"mean"`` (power averaged).
    """

    energy: torch.Tensor
    count: torch.Tensor
    mean_power: torch.Tensor
    frequency: torch.Tensor
    P: int
    reduce: str | None

    def to_numpy(self) -> dict:
        """Plain numpy arrays (float64 / int64), ready for ``np.savez``."""
        return {
            "energy": self.energy.detach().cpu().double().numpy(),
            "count": self.count.cpu().numpy(),
            "mean_power": self.mean_power.detach().cpu().double().numpy(),
            "frequency": self.frequency.cpu().double().numpy(),
            "P": np.int64(self.P),
        }


def _check_reduce(reduce) -> None:
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce: expected None (keep leading dims) or 'mean' "
                         f"(average power over them), got {describe(reduce)}")


def power_spectrum_2d(x, pad_to=None, dtype=None) -> torch.Tensor:
    """``S = |fft2(x, s=(P, P), norm="ortho")|^2`` in fftfreq order.

    Args:
        x: real ``(..., H, W)`` tensor or array (CPU or CUDA).
        pad_to: FFT size ``P >= max(H, W)``; default ``max(H, W)``.
        dtype: ``torch.float32`` or ``torch.float64``; default float64 for
            float64 input, float32 otherwise.

    Returns:
        ``(..., P, P)`` power on ``x``'s device.
    """
    t = as_real_tensor(x, "x", 2, dtype)
    P = resolve_pad(pad_to, t.shape[-2], t.shape[-1])
    F = torch.fft.fft2(t, s=(P, P), norm="ortho")
    return F.real.square() + F.imag.square()


def ring_counts(P: int) -> np.ndarray:
    """int64 ``(R,)`` number of bins of a ``P x P`` grid in each ring."""
    ring, R = ring_index(check_size(P))
    return np.bincount(ring, minlength=R).astype(np.int64)


def ring_frequencies(P: int) -> np.ndarray:
    """float64 ``(R,)`` ring centres ``r / P`` in c/p (corner rings included)."""
    P = check_size(P)
    return np.arange(ring_index(P)[1], dtype=np.float64) / P


def radial_power_spectrum(x, pad_to=None, reduce=None, dtype=None) -> RadialSpectrum:
    """Radial power spectrum of real ``(..., H, W)`` input (docs/DEFINITIONS.md 2).

    One FFT and one gather-and-sum over ring indices (memory linear in
    pixels); no loop over radii.

    Args:
        x: real ``(..., H, W)`` tensor or array.
        pad_to: FFT size ``P``; default ``max(H, W)``. Pass the layer's input
            resolution for conv kernels (32 for CIFAR conv1). ``P < H or W``
            raises ValueError.
        reduce: ``None`` keeps the leading dims (``energy`` is
            ``(..., R)``); ``"mean"`` averages the power over every leading
            dim before binning (``energy`` is ``(R,)``).
        dtype: computation dtype, ``torch.float32`` or ``torch.float64``.

    Returns:
        :class:`RadialSpectrum`.
    """
    _check_reduce(reduce)
    S = power_spectrum_2d(x, pad_to, dtype)
    P = S.shape[-1]
    if reduce == "mean":
        S = S.reshape(-1, P, P).mean(dim=0)
    energy = ring_sum(S)
    count = torch.from_numpy(ring_counts(P)).to(S.device)
    frequency = torch.from_numpy(ring_frequencies(P)).to(S.device, S.dtype)
    return RadialSpectrum(energy=energy, count=count, mean_power=energy / count.to(S.dtype),
                          frequency=frequency, P=P, reduce=reduce)


def _shape(x) -> tuple[int, ...]:
    """Shape without converting; ``()`` for what is not an array (ragged
    lists), which ``as_real_tensor`` then rejects with a message naming ``x``."""
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    try:
        return tuple(np.shape(x))
    except ValueError:
        return ()


def _looks_like_kernels(x) -> bool:
    """The rule of :func:`get_radial_spectrum`: a 4-D ``(C_out, C_in, k, k)``
    input that is an ``nn.Parameter`` or has both spatial sides <= 7."""
    shape = _shape(x)
    if len(shape) != 4:
        return False
    side = max(shape[-2:])
    # a Parameter at least 32 wide would not be padded anyway: no warning
    return side <= KERNEL_MAX_SIZE or (isinstance(x, torch.nn.Parameter) and side < KERNEL_PAD_TO)


def get_radial_spectrum(x, pad_to=None, dtype=torch.float64) -> tuple[np.ndarray, np.ndarray]:
    """Seed-compatible API: ``spectrum, frequencies = get_radial_spectrum(x)``.

    Accepts an image ``(C, H, W)``, a batch ``(B, C, H, W)``, feature maps
    ``(C, H, W)`` or conv weights ``(O, I, k, k)``.

    Default FFT size (``pad_to=None``), decided in this order:

    * conv weights -- a 4-D input that is a ``torch.nn.Parameter`` (e.g.
      ``model.conv1.weight``) or whose spatial sides are both <= 7 -- are
      zero-padded to ``P = 32`` (the input resolution of a CIFAR first layer;
      ``KERNEL_PAD_TO``) and a ``UserWarning`` names the resolution used
      (a Parameter with a side >= 32 is left at ``max(H, W)``). Unpadded, a 3x3 kernel has
      only three rings (0, 0.333, 0.471 c/p), which is not a spectrum. Pass
      ``pad_to`` = the layer's input resolution (28 for MNIST, 64 for Tiny
      ImageNet; ``pad_to=k`` for the bare k x k grid) to choose it and
      silence the warning;
    * anything else (images, batches, feature maps, 2-D or 3-D input, or
      4-D input larger than 7x7 that is not a Parameter): ``P = max(H, W)``,
      as before.

    An explicit ``pad_to`` is always used as given.

    Returns:
        ``(spectrum, frequencies)``: float64 numpy ``(R,)`` arrays. ``spectrum``
        is the mean power per ring, with the power averaged over *all* leading
        dims (never just ``x[0]``); ``frequencies`` are the ring centres in c/p,
        low to high, up to and including the corner rings (beyond Nyquist 0.5).
        Use :func:`radial_power_spectrum` for energies, counts or per-element
        spectra (it has no kernel default: pipelines pass ``pad_to``).
    """
    if pad_to is None and _looks_like_kernels(x):
        shape = _shape(x)
        pad_to = KERNEL_PAD_TO
        # stacklevel 2: the warning points at the caller's line, not this one
        warnings.warn(f"get_radial_spectrum: x of shape {shape} is read as conv weights "
                      f"(C_out, C_in, k, k) and zero-padded to a {pad_to}x{pad_to} FFT grid "
                      f"(resolution {pad_to}: the CIFAR first-layer input) so that its spectrum "
                      f"is sampled on the images' frequency axis; pass pad_to= the layer's input "
                      f"resolution to choose another (pad_to={max(shape[-2:])} for the "
                      f"unpadded grid) and silence this warning", UserWarning, stacklevel=2)
    spec = radial_power_spectrum(x, pad_to=pad_to, reduce="mean", dtype=dtype)
    out = spec.to_numpy()
    return out["mean_power"], out["frequency"]


def high_frequency_fraction(x, cutoff: float = 0.25, pad_to=None, reduce=None,
                            dtype=None) -> torch.Tensor:
    """``HFF(x; c) = sum_{rho > c} S / sum S`` per FFT bin (docs/DEFINITIONS.md 2).

    Show :func:`white_noise_hff` next to it: white noise on 32x32 gives
    about 0.81, which is where Kaiming-initialised kernels start.

    Args:
        x: real ``(..., H, W)``.
        cutoff: radius ``c`` in c/p, ``0 <= c < 0.707``; bins with
            ``rho > c`` (strictly) count as high.
        pad_to: FFT size ``P`` as in :func:`radial_power_spectrum`.
        reduce: ``None``: one HFF per leading element, shape ``(...)``;
            ``"mean"``: HFF of the power averaged over leading dims (the
            energy-weighted, pooled fraction of a kernel bank), shape ``()``.
        dtype: computation dtype.

    Returns:
        Tensor of HFFs in [0, 1]; NaN where ``x`` is all zeros.
    """
    _check_reduce(reduce)
    c = check_cutoff(cutoff)
    S = power_spectrum_2d(x, pad_to, dtype)
    if reduce == "mean":
        S = S.reshape(-1, *S.shape[-2:]).mean(dim=0)
    high = high_mask(S.shape[-1], c, S.device, S.dtype)
    return (S * high).sum(dim=(-2, -1)) / S.sum(dim=(-2, -1))


def white_noise_hff(P: int, cutoff: float = 0.25) -> float:
    """Expected HFF of white noise on a ``P x P`` grid: the fraction of bins
    with ``rho > cutoff`` (white noise has flat expected power). About 0.81
    for ``P = 32`` and the default cutoff."""
    P = check_size(P)
    return float(np.mean(rho_grid(P, P) > check_cutoff(cutoff)))
