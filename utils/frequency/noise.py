"""Deterministic noise for robustness curves (docs/DEFINITIONS.md section 5).

Every function takes float images ``x: (B, C, H, W)`` with pixels in [0, 1]
*before* mean/std normalisation (anything outside [0, 1] raises ValueError:
noise added after normalisation gives flat, meaningless robustness maps),
returns ``clip(noisy, 0, 1)`` of the same shape, device and dtype, and never
touches the global RNG.

Determinism: pass ``seed`` (an int, or a ``torch.Generator`` from which one
int is drawn) and ``indices``, the images' indices in their dataset (default
``0..B-1``). The noise of image ``i`` then depends only on
``(seed, i, level)``: not on the batch size, the batch's other images, the
device or the model. Within one kind, levels scale one underlying draw
(common random numbers: curves are smooth in the level and paired across
levels); ``shot`` draws afresh per level. ``gaussian``, ``highpass``,
``lowpass`` and ``band`` share one white draw, masked differently, so that a
high- vs low-frequency comparison is paired too.

Additive Fourier noises (``highpass``, ``lowpass``, ``band``): white noise
masked to ``lo <= rho < hi`` (a Hermitian mask, ``rho`` in c/p), then
rescaled per image and channel to L2 norm ``eps``, so that every band has the
same energy. For scale: white noise of std ``s`` has a per-channel norm of
about ``s * sqrt(H * W)`` (``32 s`` on 32x32).
"""

from __future__ import annotations

import numpy as np
import torch

from ._grid import (CORNER, as_real_tensor, check_cutoff, check_positive, check_unit_range,
                    describe, rho_grid)
from ._rng import image_seed, per_image_draws, resolve_indices, resolve_seed

__all__ = [
    "GAUSSIAN_SIGMAS", "SHOT_LAMBDAS", "IMPULSE_AMOUNTS", "SPECKLE_CS", "NOISE_KINDS",
    "frequency_bands", "band_noise_pattern", "gaussian_noise", "highpass_noise",
    "lowpass_noise", "band_noise", "shot_noise", "impulse_noise", "speckle_noise", "add_noise",
]

# Levels from docs/DEFINITIONS.md section 5 (the CIFAR-10-C style ones are its 32x32
# severities, not ImageNet's).
GAUSSIAN_SIGMAS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.15, 0.20)
SHOT_LAMBDAS = (500, 250, 100, 75, 50)
IMPULSE_AMOUNTS = (0.01, 0.02, 0.03, 0.05, 0.07)
SPECKLE_CS = (0.06, 0.1, 0.12, 0.16, 0.2)
NOISE_KINDS = ("gaussian", "highpass", "lowpass", "band", "shot", "impulse", "speckle")


def _images(x) -> torch.Tensor:
    t = as_real_tensor(x, "x", 4, require_float=True)
    if t.ndim != 4:
        raise ValueError(f"x: expected a batch (B, C, H, W), got {tuple(t.shape)}")
    check_unit_range(t)
    return t


def _draws(t: torch.Tensor, seed, indices, stream: str, kind: str = "normal") -> torch.Tensor:
    idx = resolve_indices(indices, t.shape[0])
    d = per_image_draws(resolve_seed(seed), idx, tuple(t.shape[1:]), stream, kind)
    return d.to(t.device, t.dtype)


def frequency_bands(n_bands: int) -> list[tuple[float, float]]:
    """``n_bands`` equal-width ``[lo, hi)`` bands in c/p from DC to the corner;
    the last one ends just past 0.5 * sqrt(2) so that it holds the corner bins."""
    if isinstance(n_bands, bool) or not isinstance(n_bands, (int, np.integer)) or n_bands < 1:
        raise ValueError(f"n_bands: expected an int >= 1, got {describe(n_bands)}")
    edges = np.linspace(0.0, CORNER, n_bands + 1)
    edges[-1] = np.nextafter(CORNER, 1.0)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def _check_band(band) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ValueError(f"band: expected (lo, hi) in c/p, got {describe(band)}") from None
    if not (0.0 <= lo < CORNER and hi > lo):
        raise ValueError(f"band: expected 0 <= lo < {CORNER:.4f} and hi > lo (c/p), got {describe(band)}")
    return lo, hi


def band_noise_pattern(x, eps: float, band, *, seed, indices=None) -> torch.Tensor:
    """The additive pattern (before adding and clipping) of band noise.

    Args:
        x: ``(B, C, H, W)`` images (only shape, device and dtype are used).
        eps: L2 norm of the pattern, per image and channel.
        band: ``(lo, hi)`` in c/p: bins with ``lo <= rho < hi`` are kept.
        seed, indices: see the module docstring.

    Returns:
        ``(B, C, H, W)`` real pattern with per-channel norm ``eps``.
    """
    t = as_real_tensor(x, "x", 4, require_float=True)
    if t.ndim != 4:
        raise ValueError(f"x: expected a batch (B, C, H, W), got {tuple(t.shape)}")
    e = check_positive(eps, "eps", allow_zero=True)
    lo, hi = _check_band(band)
    rho = rho_grid(t.shape[-2], t.shape[-1])
    mask = (rho >= lo) & (rho < hi)
    if not mask.any():
        raise ValueError(f"band: no DFT bin of a {t.shape[-2]}x{t.shape[-1]} image has "
                         f"{lo} <= rho < {hi}")
    z = _draws(t, seed, indices, "white")
    ctype = torch.complex128 if t.dtype == torch.float64 else torch.complex64
    # A mask that depends on rho only is Hermitian, so the inverse is real.
    m = torch.fft.ifft2(torch.fft.fft2(z) * torch.from_numpy(mask).to(t.device, ctype)).real
    norms = m.square().sum(dim=(-2, -1), keepdim=True).sqrt()
    return m * (e / norms)


def band_noise(x, eps: float, band, *, seed, indices=None) -> torch.Tensor:
    """``clip(x + pattern, 0, 1)`` with equal-energy annulus noise in
    ``band = (lo, hi)`` c/p; ``x``: ``(B, C, H, W)``."""
    t = _images(x)
    return (t + band_noise_pattern(t, eps, band, seed=seed, indices=indices)).clamp(0.0, 1.0)


def highpass_noise(x, eps: float, *, seed, indices=None, cutoff: float = 0.25) -> torch.Tensor:
    """White noise masked to ``rho >= cutoff`` c/p, per-channel norm ``eps``."""
    return band_noise(x, eps, (check_cutoff(cutoff), np.inf), seed=seed, indices=indices)


def lowpass_noise(x, eps: float, *, seed, indices=None, cutoff: float = 0.25) -> torch.Tensor:
    """The control of :func:`highpass_noise`: ``rho < cutoff`` at the same norm."""
    c = check_cutoff(cutoff)
    if c == 0:
        raise ValueError("cutoff: expected > 0 for low-pass noise (no bin has rho < 0)")
    return band_noise(x, eps, (0.0, c), seed=seed, indices=indices)


def gaussian_noise(x, sigma: float, *, seed, indices=None) -> torch.Tensor:
    """``clip(x + sigma * z, 0, 1)``, ``z`` white standard normal."""
    t = _images(x)
    s = check_positive(sigma, "sigma", allow_zero=True)
    return (t + s * _draws(t, seed, indices, "white")).clamp(0.0, 1.0)


def shot_noise(x, lam: float, *, seed, indices=None) -> torch.Tensor:
    """CIFAR-10-C shot noise ``clip(Poisson(lam * x) / lam, 0, 1)``; a fresh
    draw per (seed, image, lam). Drawn on the CPU image by image."""
    t = _images(x)
    lam_ = check_positive(lam, "lam")
    idx = resolve_indices(indices, t.shape[0])
    s = resolve_seed(seed)
    rates = (t.detach().cpu().float() * lam_)
    out = torch.empty_like(rates)
    g = torch.Generator()
    for row, index in enumerate(idx):
        g.manual_seed(image_seed(s, "shot", index, lam_))
        out[row] = torch.poisson(rates[row], generator=g)
    return (out.to(t.device, t.dtype) / lam_).clamp(0.0, 1.0)


def impulse_noise(x, amount: float, *, seed, indices=None) -> torch.Tensor:
    """CIFAR-10-C impulse (salt and pepper, as skimage's ``s&p``): each value
    is replaced with probability ``amount``, by 1 or 0 with equal odds."""
    t = _images(x)
    a = check_positive(amount, "amount", allow_zero=True)
    if a > 1:
        raise ValueError(f"amount: expected a probability in [0, 1], got {describe(amount)}")
    idx = resolve_indices(indices, t.shape[0])
    u = per_image_draws(resolve_seed(seed), idx, (2,) + tuple(t.shape[1:]), "impulse",
                        "uniform").to(t.device, t.dtype)
    salt = (u[:, 1] < 0.5).to(t.dtype)
    return torch.where(u[:, 0] < a, salt, t)


def speckle_noise(x, c: float, *, seed, indices=None) -> torch.Tensor:
    """CIFAR-10-C speckle ``clip(x + x * c * z, 0, 1)``, ``z`` standard normal."""
    t = _images(x)
    c_ = check_positive(c, "c", allow_zero=True)
    return (t + t * c_ * _draws(t, seed, indices, "speckle")).clamp(0.0, 1.0)


def add_noise(x, kind: str, level: float, *, seed, indices=None, cutoff: float = 0.25,
              band=None) -> torch.Tensor:
    """One entry point: ``kind`` in :data:`NOISE_KINDS`; ``level`` is sigma
    (gaussian), eps (highpass, lowpass, band), lambda (shot), amount
    (impulse) or c (speckle); ``cutoff`` for highpass/lowpass, ``band`` for
    band. ``x``: ``(B, C, H, W)`` in [0, 1]; returns the same shape."""
    if not isinstance(kind, str):
        raise ValueError(f"kind: expected one of {NOISE_KINDS}, got {describe(kind)}")
    if kind == "gaussian":
        return gaussian_noise(x, level, seed=seed, indices=indices)
    if kind == "highpass":
        return highpass_noise(x, level, seed=seed, indices=indices, cutoff=cutoff)
    if kind == "lowpass":
        return lowpass_noise(x, level, seed=seed, indices=indices, cutoff=cutoff)
    if kind == "band":
        if band is None:
            raise ValueError("band: required for kind='band', as (lo, hi) in c/p")
        return band_noise(x, level, band, seed=seed, indices=indices)
    if kind == "shot":
        return shot_noise(x, level, seed=seed, indices=indices)
    if kind == "impulse":
        return impulse_noise(x, level, seed=seed, indices=indices)
    if kind == "speckle":
        return speckle_noise(x, level, seed=seed, indices=indices)
    raise ValueError(f"kind: expected one of {NOISE_KINDS}, got {describe(kind)}")
