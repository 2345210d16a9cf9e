"""Fourier basis images and the Fourier heat map (docs/DEFINITIONS.md section 6).

Yin et al. 2019, "A Fourier-perspective on model robustness": for each
frequency of a ``P x P`` grid, a real basis image ``U_uv`` with unit L2 norm
whose FFT is non-zero only at ``(u, v)`` and its mirror ``(-u, -v)``:
``U_uv(m, n) = cos(2 pi (u m + v n) / P) / ||.||``. Each test image and
channel is perturbed as ``clip(x + r * v * U_uv, 0, 1)`` on [0, 1] pixels
(before normalisation), ``r`` a random sign per channel, ``v = 4`` for CIFAR.

Indexing is that of ``fftshift``: position ``(i, j)`` of a ``P x P`` map holds
frequency ``(u, v) = (i - P//2, j - P//2)`` (rows, columns), so DC sits at
``(P//2, P//2)`` for odd and even ``P``. ``(u, v)`` and ``(-u, -v)`` (modulo
``P``) give the same basis image, so only 514 of the 1024 positions of a 32x32
grid are distinct (510 mirror pairs plus 4 self-mirrored: DC and the three
Nyquist ones); evaluate those and mirror with :func:`assemble_heatmap`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._grid import (as_float_array, as_real_tensor, check_dtype, check_positive, check_size, check_unit_range,
                    describe)
from ._rng import per_image_draws, resolve_indices, resolve_seed

__all__ = [
    "basis_frequencies",
    "fourier_basis",
    "distinct_positions",
    "mirror_map",
    "perturb_with_basis",
    "assemble_heatmap",
]


def basis_frequencies(P: int = 32) -> np.ndarray:
    """int64 ``(P, P, 2)``: frequency ``(u, v)`` (cycles per ``P`` px) at each
    fftshift position ``(i, j)``; ``(u, v) / P`` is in c/p."""
    P = check_size(P)
    k = np.arange(P) - P // 2
    return np.stack(np.meshgrid(k, k, indexing="ij"), axis=-1).astype(np.int64)


def fourier_basis(P: int = 32, dtype=torch.float32, device=None) -> torch.Tensor:
    """All ``P * P`` basis images, ``(P, P, P, P)``: ``[i, j]`` is ``U_uv`` for
    the fftshift position ``(i, j)``; each is real with unit L2 norm.
    Built in float64 (phases reduced modulo ``P`` first), then cast."""
    P = check_size(P)
    check_dtype(dtype)
    uv = torch.from_numpy(basis_frequencies(P))
    m = torch.arange(P)
    # Integer phase modulo P keeps cos exact to float64 rounding.
    phase = (uv[:, :, 0, None, None] * m[:, None] + uv[:, :, 1, None, None] * m[None, :]) % P
    U = torch.cos(2.0 * math.pi * phase.double() / P)
    U = U / U.square().sum(dim=(-2, -1), keepdim=True).sqrt()
    return U.to(device=device, dtype=dtype or torch.float32)


@functools.lru_cache(maxsize=16)
def _mirror_tables(P: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(P)
    mirror = (2 * (P // 2) - i) % P  # position of -u under fftshift indexing
    flat = i[:, None] * P + i[None, :]
    flat_mirror = mirror[:, None] * P + mirror[None, :]
    rep = np.minimum(flat, flat_mirror)
    distinct = np.unique(rep)
    positions = np.stack([distinct // P, distinct % P], axis=-1).astype(np.int64)
    index = np.searchsorted(distinct, rep).astype(np.int64)
    positions.setflags(write=False)
    index.setflags(write=False)
    return positions, index


def distinct_positions(P: int = 32) -> np.ndarray:
    """int64 ``(n, 2)`` fftshift positions ``(i, j)`` of the distinct basis
    images (of each mirror pair, the one first in raster order); ``n = 514``
    for ``P = 32``. ``i * P + j`` is a good ``basis_ids`` entry."""
    return _mirror_tables(check_size(P))[0].copy()


def mirror_map(P: int = 32) -> np.ndarray:
    """int64 ``(P, P)``: for every fftshift position, the row of
    :func:`distinct_positions` that holds its basis image (itself or its
    mirror)."""
    return _mirror_tables(check_size(P))[1].copy()


def perturb_with_basis(x, basis_images, v: float = 4.0, *, seed, indices=None,
                       basis_ids=None) -> torch.Tensor:
    """Every image perturbed by every basis image, in one batched op.

    ``out[k, b, c] = clip(x[b, c] + r[k, b, c] * v * U_k, 0, 1)``, with
    ``r = +-1`` a random sign per (basis, image, channel). The signs depend
    only on ``(seed, indices[b], basis_ids[k], c)``, not on the batch or the
    chunk of bases, so every model sees the same perturbations.

    Args:
        x: ``(B, C, H, W)`` float images in [0, 1] (before normalisation).
        basis_images: ``(K, H, W)`` (or one ``(H, W)``), e.g.
            ``fourier_basis(32)[pos[:, 0], pos[:, 1]]`` for rows ``pos`` of
            :func:`distinct_positions`.
        v: perturbation norm (4 for CIFAR on [0, 1] pixels).
        seed: int or ``torch.Generator`` (one int is drawn from it).
        indices: ``(B,)`` dataset indices of the images; default ``0..B-1``.
        basis_ids: ``(K,)`` ints in ``[0, H * W)`` naming the bases (use the
            flat position ``i * P + j``); default ``0..K-1``.

    Returns:
        ``(K, B, C, H, W)`` on ``x``'s device; ``.flatten(0, 1)`` makes one
        big batch of ``K * B`` images for a model.
    """
    t = as_real_tensor(x, "x", 4, require_float=True)
    if t.ndim != 4:
        raise ValueError(f"x: expected a batch (B, C, H, W), got {tuple(t.shape)}")
    check_unit_range(t)
    B, C, H, W = t.shape
    U = as_real_tensor(basis_images, "basis_images", 2, t.dtype).to(t.device)
    if U.ndim == 2:
        U = U.unsqueeze(0)
    if U.ndim != 3 or U.shape[-2:] != (H, W):
        raise ValueError(f"basis_images: expected (K, {H}, {W}) like x, got {tuple(U.shape)}")
    K = U.shape[0]
    scale = check_positive(v, "v", allow_zero=True)
    ids = np.arange(K) if basis_ids is None else np.asarray(
        basis_ids.cpu() if isinstance(basis_ids, torch.Tensor) else basis_ids)
    if ids.shape != (K,) or not np.issubdtype(ids.dtype, np.integer) or (
            K and (ids.min() < 0 or ids.max() >= H * W)):
        raise ValueError(f"basis_ids: expected {K} ints in [0, {H * W}), got {describe(basis_ids)}")
    idx = resolve_indices(indices, B)
    # One fixed-size block of H*W*C uniforms per image, so a basis's sign
    # does not depend on which other bases are in the chunk.
    u = per_image_draws(resolve_seed(seed), idx, (H * W, C), "basis_sign", "uniform")
    r = torch.where(u[:, torch.from_numpy(ids.astype(np.int64))] < 0.5, -1.0, 1.0)  # (B, K, C)
    r = r.permute(1, 0, 2).to(t.device, t.dtype)
    # In place after one allocation: the (K, B, C, H, W) output is the big cost.
    out = (scale * r)[..., None, None] * U[:, None, None]
    return out.add_(t.unsqueeze(0)).clamp_(0.0, 1.0)


def assemble_heatmap(values, P: int = 32) -> np.ndarray:
    """Mirror per-basis values into a ``(..., P, P)`` map, DC at ``(P//2, P//2)``.

    Args:
        values: ``(..., n)`` one value (e.g. error rate) per row of
            :func:`distinct_positions` (``n = 514`` for ``P = 32``).
        P: grid size.

    Returns:
        float64 numpy ``(..., P, P)``, symmetric under ``(u, v) -> (-u, -v)``.
    """
    positions, index = _mirror_tables(check_size(P))
    vals = as_float_array(values, "values")
    if vals.ndim < 1 or vals.shape[-1] != len(positions):
        raise ValueError(f"values: expected (..., {len(positions)}) (one per distinct basis of "
                         f"a {P}x{P} grid), got {vals.shape}")
    return vals[..., index]
