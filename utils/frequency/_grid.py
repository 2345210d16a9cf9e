"""Shared plumbing of the 2D tools: input checks and frequency grids.

Frequencies are in cycles per pixel (c/p), docs/DEFINITIONS.md conventions: on an
``n``-point axis the DFT bin ``k`` (``numpy.fft.fftfreq`` order) sits at
``k / n`` c/p, Nyquist is 0.5 and the corner of a square grid is about 0.707.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import torch

# The corner of a square spectrum, 0.5 * sqrt(2) c/p: no bin lies beyond it.
CORNER = 0.5 * math.sqrt(2.0)

_FLOAT_DTYPES = (torch.float32, torch.float64)


def describe(value) -> str:
    """A one-line, short picture of an argument for an error message: arrays
    and tensors by type, shape and dtype (their repr spans many lines)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def as_numpy(x, name: str) -> np.ndarray:
    """``np.asarray(x)``, with a ragged or otherwise unconvertible ``x``
    refused in one line naming ``name``."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: expected an array, got {describe(x)}") from None


def as_float_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 numpy array, or ValueError naming ``name`` (strings,
    objects, complex numbers and ragged lists are refused)."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ValueError(f"{name}: expected real numbers, got dtype {x.dtype}")
        return x.detach().to("cpu", torch.float64).numpy()
    arr = as_numpy(x, name)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected an array of real numbers, got {describe(x)}")
    return arr.astype(np.float64)


def check_dtype(dtype, name: str = "dtype") -> None:
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name}: expected None, torch.float32 or torch.float64, got {describe(dtype)}")


def as_real_tensor(x, name: str = "x", min_ndim: int = 2, dtype=None,
                   require_float: bool = False) -> torch.Tensor:
    """``x`` as a detached real floating tensor on its own device.

    numpy arrays (and anything ``np.asarray`` takes) become CPU tensors.
    ``dtype=None`` keeps float64 input in float64 and computes everything
    else in float32. Raises ValueError on complex, boolean or empty input,
    on fewer than ``min_ndim`` dims and on non-finite values.
    """
    check_dtype(dtype)
    if not isinstance(x, torch.Tensor):
        try:
            arr = np.asarray(x)
        except ValueError:  # ragged
            raise ValueError(f"{name}: expected a numeric array or tensor, got {describe(x)}") from None
        if arr.dtype.kind not in "biufc":
            raise ValueError(f"{name}: expected a numeric array or tensor, got {describe(x)}")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    x = x.detach()
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name}: expected a real numeric tensor, got dtype {x.dtype}")
    if require_float and not x.is_floating_point():
        raise ValueError(f"{name}: expected float pixels in [0, 1], got dtype {x.dtype} "
                         "(convert uint8 images with x.float() / 255)")
    if x.ndim < min_ndim:
        want = "(..., H, W)" if min_ndim == 2 else f"at least {min_ndim} dims"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor, got shape {tuple(x.shape)}")
    target = dtype if dtype is not None else (
        torch.float64 if x.dtype == torch.float64 else torch.float32)
    x = x.to(target)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains non-finite values (NaN or inf)")
    return x


def check_unit_range(x: torch.Tensor, name: str = "x") -> None:
    """Pixels must be in [0, 1] *before* normalisation (docs/DEFINITIONS.md
    conventions): noise or filters applied after mean/std normalisation are a
    known bug that this check catches."""
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: expected pixels in [0, 1] before mean/std normalisation, "
                         f"got values in [{lo:.4g}, {hi:.4g}]")


def resolve_pad(pad_to, H: int, W: int) -> int:
    """FFT size ``P``: ``max(H, W)`` by default, else ``pad_to >= max(H, W)``."""
    if pad_to is None:
        return max(H, W)
    if isinstance(pad_to, bool) or not isinstance(pad_to, (int, np.integer)):
        raise ValueError(f"pad_to: expected None or an int, got {describe(pad_to)}")
    if pad_to < max(H, W):
        raise ValueError(f"pad_to: expected >= the input size {H}x{W} (zero padding only; "
                         f"cropping would discard signal), got {pad_to}")
    return int(pad_to)


def check_size(P, name: str = "P") -> int:
    """A grid size: an int >= 1."""
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {describe(P)}")
    return int(P)


def check_positive(value, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {describe(value)}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {want}, got {describe(value)}")
    return v


def check_cutoff(cutoff, name: str = "cutoff") -> float:
    """A radius in c/p that splits the grid: ``0 <= cutoff < 0.707`` (corner)."""
    c = check_positive(cutoff, name, allow_zero=True)
    if c >= CORNER:
        raise ValueError(f"{name}: expected a radius in c/p in [0, {CORNER:.4f}) "
                         f"(the corner of the spectrum), got {describe(cutoff)}")
    return c


def integer_frequencies(n: int) -> np.ndarray:
    """Signed integer DFT frequencies of an ``n``-point axis (fftfreq order)."""
    return np.rint(np.fft.fftfreq(n) * n).astype(np.int64)


class ByteBoundedCache:
    """LRU cache of arrays/tensors bounded by their bytes, not their count:
    one 2048x2048 grid weighs as much as 4096 32x32 ones. An entry larger
    than the bound is computed and returned but not kept."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._items: collections.OrderedDict = collections.OrderedDict()
        self._bytes: dict = {}

    @property
    def nbytes(self) -> int:
        return sum(self._bytes.values())

    def get(self, key, make):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        size = _nbytes(value)
        if size <= self.max_bytes:
            while self._items and self.nbytes + size > self.max_bytes:
                old, _ = self._items.popitem(last=False)
                del self._bytes[old]
            self._items[key] = value
            self._bytes[key] = size
        return value

    def clear(self) -> None:
        self._items.clear()
        self._bytes.clear()


def _nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    return 0


# Frequency grids and ring indices, at most 64 MiB together (a 2048x2048
# rho grid is 32 MiB; CIFAR's 32x32 ones are 8 KiB each).
GRID_CACHE = ByteBoundedCache(64 * 2**20)


def rho_grid(H: int, W: int) -> np.ndarray:
    """float64 ``(H, W)`` radius ``sqrt(fu^2 + fv^2)`` in c/p, fftfreq order.

    Symmetric under ``k -> -k mod n`` (Nyquist bins included), so masks that
    depend only on it are Hermitian-symmetric.
    """
    H, W = int(H), int(W)

    def make():
        rho = np.hypot(np.fft.fftfreq(H)[:, None], np.fft.fftfreq(W)[None, :])
        rho.setflags(write=False)
        return rho

    return GRID_CACHE.get(("rho", H, W), make)


def ring_index(P: int) -> tuple[np.ndarray, int]:
    """Ring of every bin of a ``P x P`` grid: ``round(rho * P)``, flattened.

    Computed from the integer frequencies, ``round(sqrt(ku^2 + kv^2))``, which
    is exact: ``sqrt`` of an integer is never a half-integer, so no bin sits
    on a rounding tie. Returns ``(ring (P*P,) int64, number_of_rings)``.
    """
    P = int(P)

    def make():
        k = integer_frequencies(P)
        ring = np.rint(np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)).astype(np.int64).ravel()
        ring.setflags(write=False)
        return ring, int(ring.max()) + 1

    return GRID_CACHE.get(("ring", P), make)


def _ring_gather(P: int, device: torch.device) -> torch.Tensor:
    """``(R, M)`` int64: row ``r`` lists the flat bins of ring ``r``, padded
    with ``P*P`` (a zero appended to the power) up to the largest ring's
    ``M`` bins. ``R * M`` is about ``2.2 P^2``: memory linear in pixels."""
    ring, R = ring_index(P)
    order = np.argsort(ring, kind="stable")
    counts = np.bincount(ring, minlength=R)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_ring = ring[order]
    idx = np.full((R, int(counts.max())), P * P, dtype=np.int64)
    idx[sorted_ring, np.arange(P * P) - starts[sorted_ring]] = order
    return torch.from_numpy(idx).to(device)


# Gather indices per (P, device), at most 128 MiB (P = 2048 needs about 75).
RING_CACHE = ByteBoundedCache(128 * 2**20)


def ring_sum(S: torch.Tensor) -> torch.Tensor:
    """Power summed per ring: ``(..., P, P)`` -> ``(..., R)``.

    A gather and a sum over a fixed order, so deterministic on every device
    (no atomics, unlike ``index_add`` or a weighted ``bincount`` on CUDA) and
    O(P^2) memory per leading element (a dense one-hot ring matrix was
    O(P^3): 48 GB at 2048x2048).
    """
    P = S.shape[-1]
    idx = RING_CACHE.get((P, str(S.device)), lambda: _ring_gather(P, S.device))
    flat = S.reshape(*S.shape[:-2], P * P)
    flat = torch.cat([flat, flat.new_zeros(*flat.shape[:-1], 1)], dim=-1)
    return flat[..., idx].sum(dim=-1)


def high_mask(P: int, cutoff: float, device, dtype) -> torch.Tensor:
    """``(P, P)`` 1 where ``rho > cutoff`` (strictly), per bin: an exact cut,
    unlike a cut between rings."""
    return torch.from_numpy(rho_grid(P, P) > cutoff).to(device, dtype)
