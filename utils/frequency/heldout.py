"""Fourier coefficients off the full grid: held-out points (docs/DEFINITIONS.md 12).

Held-out evaluation trains on an interleaved sub-grid of the periodic grid
``x_j = 2 pi j / N`` (e.g. the even points) and measures on the rest. An FFT
of samples that are not the full uniform grid is wrong (it drops the
sub-grid's offset phase, and on irregular points it is not a Fourier
transform at all). Two exact estimators instead:

* :func:`subgrid_dft_coefficients`, for a uniform sub-grid ``x_m = 2 pi
  (offset + stride m) / N``, ``m = 0..M-1``: the DFT over the sub-grid at the
  true positions. Exact for content below the sub-grid's Nyquist ``M / 2``;
  content at ``k' = +-k (mod M)`` folds onto ``k`` (aliasing, with a phase).
  Cheap (one FFT), no matrix to solve. Use it for interleaved sub-grids.
* :func:`fourier_coefficients_lstsq`, for arbitrary points: least squares on
  ``{1, cos kx, sin kx}``. Exact when the signal lies in the span of the
  basis; energy outside the basis leaks into the fitted coefficients in
  proportion to the basis's non-orthogonality on those points. Use it for
  random or irregular points, with a basis that covers every frequency that
  carries energy.

Both return complex coefficients in the convention of
:func:`~utils.frequency.dft_coefficients` on an ``n_grid``-point periodic
grid: the DFT the signal would have there (``n_grid * c0`` at ``k = 0`` and
``(n_grid / 2) (a_k - i b_k)`` for ``a_k cos kx + b_k sin kx``). The default
``n_grid`` is the number of points given. Every metric is a ratio, so any
``n_grid`` works as long as ``H`` and ``Y`` use the same; to compare with
``dft_coefficients`` of the full ``N``-point grid, pass ``n_grid=N``.

Positions are the periodic coordinate ``x`` in radians (experiment A feeds
the network ``u = x / pi - 1``, so ``x = pi (u + 1)``).
"""

from __future__ import annotations

import numpy as np
import torch

from ._grid import as_float_array, as_numpy, describe

__all__ = ["fourier_coefficients_lstsq", "subgrid_dft_coefficients"]


def _real(a, name: str) -> np.ndarray:
    if getattr(a, "dtype", None) in (bool, np.bool_, torch.bool):
        raise ValueError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    arr = as_float_array(a, name)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite values")
    return arr


def _int_freqs(ks, name: str) -> np.ndarray:
    k = as_numpy(ks, name)
    if k.ndim != 1 or k.size == 0 or not np.issubdtype(k.dtype, np.integer) or k.min() < 0:
        raise ValueError(f"{name}: expected a non-empty 1D sequence of integers >= 0, got {describe(ks)}")
    return k.astype(np.int64)


def _n_grid(n_grid, default: int) -> int:
    if n_grid is None:
        return default
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 2:
        raise ValueError(f"n_grid: expected None or an int >= 2, got {describe(n_grid)}")
    return int(n_grid)


def _to_dft(c0_or_a: np.ndarray, b: np.ndarray, ks: np.ndarray, n: int) -> np.ndarray:
    """Cosine/sine amplitudes to the DFT convention of an ``n``-point grid."""
    return np.where(ks == 0, n * c0_or_a, 0.5 * n * (c0_or_a - 1j * b))


def fourier_coefficients_lstsq(x, values, ks, basis_ks=None, n_grid=None) -> np.ndarray:
    """Fourier coefficients at arbitrary points by least squares.

    Fits ``values ~ c0 + sum_{k in basis} (a_k cos kx + b_k sin kx)`` and
    returns the coefficients of ``ks``.

    Args:
        x: ``(M,)`` positions in radians (period ``2 pi``).
        values: ``(..., M)`` real samples at ``x`` (leading dims are fitted
            independently, one solve).
        ks: ``(K,)`` integer frequencies to return; each must be in the basis.
        basis_ks: frequencies of the fit; default ``0..max(ks)`` (the signal
            is assumed band-limited to ``max(ks)``; content above the basis
            leaks in). The constant is always included.
        n_grid: grid size whose DFT convention the result uses (module
            docstring); default ``M``. Every basis frequency must lie below
            ``n_grid / 2`` (the Nyquist bin's sine is invisible on that grid).

    Returns:
        complex128 ``(..., K)``.

    Raises:
        ValueError when the points cannot separate the basis (design matrix
        of lower rank than the number of basis functions: too few points, or
        a uniform sub-grid whose Nyquist the basis reaches).
    """
    xv = _real(x, "x")
    if xv.ndim != 1 or xv.size < 1:
        raise ValueError(f"x: expected shape (M,) with M >= 1, got {xv.shape}")
    v = _real(values, "values")
    if v.ndim < 1 or v.shape[-1] != xv.size:
        raise ValueError(f"values: expected shape (..., {xv.size}) matching x, got {v.shape}")
    k = _int_freqs(ks, "ks")
    basis = (np.arange(int(k.max()) + 1) if basis_ks is None
             else np.union1d([0], _int_freqs(basis_ks, "basis_ks")))
    missing = np.setdiff1d(k, basis)
    if missing.size:
        raise ValueError(f"ks: expected frequencies inside basis_ks, got {missing.tolist()} outside")
    n = _n_grid(n_grid, xv.size)
    if 2 * basis.max() >= n:
        raise ValueError(f"basis_ks: expected frequencies below n_grid / 2 = {n / 2:g}, "
                         f"got up to {int(basis.max())}")
    # basis is sorted and starts at 0, whose cosine is the constant column.
    pos = basis[1:]
    X = np.concatenate([np.cos(np.outer(xv, basis)), np.sin(np.outer(xv, pos))], axis=1)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise ValueError(f"x: the {xv.size} points cannot separate the {X.shape[1]} basis "
                         f"functions of frequencies 0..{int(basis.max())} (design matrix rank "
                         f"{rank}); use fewer basis frequencies or more points")
    lead = v.shape[:-1]
    coef, *_ = np.linalg.lstsq(X, v.reshape(-1, xv.size).T, rcond=None)   # (2B - 1, L)
    B = basis.size
    a = coef[:B]
    b = np.concatenate([np.zeros((1, coef.shape[1])), coef[B:]])          # no sine at k = 0
    idx = np.searchsorted(basis, k)
    out = _to_dft(a[idx], b[idx], k[:, None], n)                          # (K, L)
    return out.T.reshape(*lead, k.size)


def subgrid_dft_coefficients(values, ks, stride: int, offset: int, n_grid=None) -> np.ndarray:
    """Exact DFT on the interleaved sub-grid ``x_m = 2 pi (offset + stride m) / N``.

    ``N = stride * M`` for ``M`` samples. Returns ``sum_m v_m exp(-i k x_m)``
    at the true positions (an FFT of the samples times the offset phase
    ``exp(-2 pi i k offset / N)``), rescaled to the ``n_grid`` convention.
    For a signal band-limited below ``M / 2`` with ``n_grid = N`` it equals
    ``dft_coefficients`` of the full grid at ``ks``; content at
    ``k' = +-k (mod M)`` aliases onto ``k``.

    Args:
        values: ``(..., M)`` samples on the sub-grid, in order of ``m``.
        ks: ``(K,)`` integer frequencies, ``0 <= k < M / 2``.
        stride: sub-grid spacing in full-grid points (2 for even/odd), >= 1.
        offset: index of the first sub-grid point, ``0 <= offset < stride``.
        n_grid: convention grid size (module docstring); default ``M``.

    Returns:
        complex128 ``(..., K)``.
    """
    v = _real(values, "values")
    if v.ndim < 1 or v.shape[-1] < 2:
        raise ValueError(f"values: expected shape (..., M) with M >= 2, got {v.shape}")
    for name, val in (("stride", stride), ("offset", offset)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
            raise ValueError(f"{name}: expected an int, got {describe(val)}")
    if stride < 1:
        raise ValueError(f"stride: expected an int >= 1, got {stride}")
    if not 0 <= offset < stride:
        raise ValueError(f"offset: expected 0 <= offset < stride = {stride}, got {offset}")
    M = v.shape[-1]
    k = _int_freqs(ks, "ks")
    if 2 * k.max() >= M:
        raise ValueError(f"ks: expected frequencies below the sub-grid's Nyquist M / 2 = {M / 2:g} "
                         f"(above it cos and sin alias onto lower bins), got up to {int(k.max())}")
    n = _n_grid(n_grid, M)
    N = stride * M
    spec = np.fft.fft(v, axis=-1)[..., k]
    phase = np.exp(-2j * np.pi * k * offset / N)
    # sum over the sub-grid is M c_k; the n-point convention is n c_k (k = 0)
    # and (n / 2)(a - i b) = n c_k for k > 0, so both rescale by n / M.
    return spec * phase * (n / M)
