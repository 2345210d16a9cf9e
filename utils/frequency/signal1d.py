"""Per-frequency learning metrics for 1D fits (SCIENCE.md section 1).

Notation (Rahaman et al. 2019, "On the spectral bias of neural networks"):

* ``y``   target sampled on the periodic grid ``x_j = 2 pi j / N``.
* ``h_t`` the network's prediction on the same grid after step ``t``.
* ``Y_k``, ``H_k(t)`` their DFT coefficients at integer frequency ``k``,
  always computed in float64 (with ``x_j`` on the periodic grid, ``sin(k x)``
  falls exactly in bin ``k``, nothing leaks).
* ``Delta_k(t) = |H_k(t) - Y_k| / |Y_k|``: phase-aware relative error. It is
  near 1 before the component is learned and 0 when it is. (The
  amplitude-only form ``||H_k| - |Y_k|| / |Y_k|`` scores a pure phase error as
  0 and is deliberately not offered.)
* ``g_k(t) = Re(H_k / Y_k)``: gain. A plateau below 1 means the component is
  shrunk (what weight penalties do), not merely slow.
* ``t_k(eps)``: learning time, the first checkpoint from which ``Delta_k``
  stays below ``eps`` for a whole window (see :func:`learning_times`).

Everything here is pure numpy/torch: no files, no plotting, no global RNG.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "dft_coefficients",
    "relative_error",
    "spectral_gain",
    "learning_times",
    "spearman",
    "spectral_bias_order",
    "learned_points",
]


def _as_float64_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def dft_coefficients(signal, ks=None) -> np.ndarray:
    """DFT coefficients of real signals sampled on a periodic grid.

    Args:
        signal: real array or tensor, shape ``(..., N)``.
        ks: integer frequencies to return (``0 <= k <= N // 2``); all
            ``N // 2 + 1`` non-negative frequencies when ``None``.

    Returns:
        complex128 array ``(..., len(ks))``: ``sum_j s_j exp(-2 pi i k j / N)``
        (unnormalised; every metric here is a ratio, so the convention cancels).
    """
    s = _as_float64_numpy(signal)
    if s.ndim < 1 or s.shape[-1] < 2:
        raise ValueError(f"signal: expected shape (..., N) with N >= 2, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("signal: contains non-finite values")
    spec = np.fft.rfft(s, axis=-1)
    if ks is None:
        return spec
    ks = np.asarray(ks)
    if ks.ndim != 1 or not np.issubdtype(ks.dtype, np.integer):
        raise ValueError(f"ks: expected a 1D sequence of integers, got {ks!r}")
    if ks.size and (ks.min() < 0 or ks.max() > s.shape[-1] // 2):
        raise ValueError(f"ks: frequencies must lie in [0, {s.shape[-1] // 2}], got {ks.tolist()}")
    return spec[..., ks]


def _check_target(Y: np.ndarray) -> None:
    if np.any(np.abs(Y) == 0):
        raise ValueError("Y: target coefficient is zero at some frequency; "
                         "Delta_k and g_k are only defined where Y_k != 0")


def relative_error(H, Y) -> np.ndarray:
    """Phase-aware relative error ``Delta_k = |H_k - Y_k| / |Y_k|``.

    Args:
        H: complex ``(..., K)``, prediction coefficients (any leading dims).
        Y: complex ``(K,)`` or broadcastable, target coefficients, non-zero.

    Returns:
        float64 ``(..., K)``.
    """
    H = np.asarray(H, dtype=np.complex128)
    Y = np.asarray(Y, dtype=np.complex128)
    _check_target(Y)
    return np.abs(H - Y) / np.abs(Y)


def spectral_gain(H, Y) -> np.ndarray:
    """Gain ``g_k = Re(H_k / Y_k)`` (1 = learned at full amplitude), shape as
    :func:`relative_error`."""
    H = np.asarray(H, dtype=np.complex128)
    Y = np.asarray(Y, dtype=np.complex128)
    _check_target(Y)
    return np.real(H / Y)


def learning_times(delta, steps, eps: float = 0.1, window_checkpoints: int = 5,
                   window_fraction: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Learning time ``t_k(eps)`` with a sustained-window rule and censoring.

    ``t_k`` is the step of the first checkpoint ``i`` such that ``Delta_k``
    stays below ``eps`` at every checkpoint from ``i`` through the end of the
    window. The window starting at checkpoint ``i`` spans the longer of
    ``window_checkpoints`` checkpoints (``i`` included) and
    ``window_fraction * steps[-1]`` steps. A window must end inside the run;
    a component whose window cannot be completed is *censored*: reported as
    not learned (``NaN``), never imputed as ``T``. So a curve that dips under
    ``eps`` and comes back within the window is not learned at the dip.

    Args:
        delta: ``(..., C)`` relative errors at ``C`` checkpoints.
        steps: ``(C,)`` increasing step numbers of the checkpoints.
        eps: threshold, ``0 < eps``.
        window_checkpoints: minimum number of checkpoints in the window, >= 1.
        window_fraction: minimum window length as a fraction of the run.

    Returns:
        ``(t, learned)``: float64 ``(...,)`` with ``NaN`` where censored, and
        bool ``(...,)``.
    """
    d = _as_float64_numpy(delta)
    st = np.asarray(steps, dtype=np.float64)
    if st.ndim != 1 or d.shape[-1:] != st.shape:
        raise ValueError(f"steps: expected shape ({d.shape[-1] if d.ndim else '?'},) "
                         f"matching delta's last axis, got {st.shape} for delta {d.shape}")
    if st.size == 0 or np.any(np.diff(st) <= 0):
        raise ValueError("steps: expected a non-empty, strictly increasing sequence")
    if not eps > 0:
        raise ValueError(f"eps: expected > 0, got {eps}")
    if window_checkpoints < 1:
        raise ValueError(f"window_checkpoints: expected >= 1, got {window_checkpoints}")
    C = st.size
    # Window end (a step number) for each start checkpoint i.
    idx_n = np.arange(C) + window_checkpoints - 1
    end_by_count = np.where(idx_n < C, st[np.minimum(idx_n, C - 1)], np.inf)
    end = np.maximum(end_by_count, st + window_fraction * st[-1])
    complete = end <= st[-1]
    # last checkpoint index inside each window
    last = np.searchsorted(st, end, side="right") - 1
    below = d < eps
    # run[..., j] = number of consecutive True values starting at j
    run = np.zeros(d.shape, dtype=np.int64)
    acc = np.zeros(d.shape[:-1], dtype=np.int64)
    for j in range(C - 1, -1, -1):
        acc = np.where(below[..., j], acc + 1, 0)
        run[..., j] = acc
    ok = complete & (run >= (last - np.arange(C) + 1)) & below
    learned = ok.any(axis=-1)
    first = np.argmax(ok, axis=-1)
    t = np.where(learned, st[first], np.nan)
    return t, learned


def _rank(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size, dtype=np.float64)
    sorted_a = a[order]
    i = 0
    while i < a.size:
        j = i
        while j + 1 < a.size and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a, b) -> float:
    """Spearman rank correlation of two 1D samples (average ranks for ties);
    NaN when either sample is constant."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size < 2:
        raise ValueError(f"a, b: expected equal sizes >= 2, got {a.size} and {b.size}")
    ra, rb = _rank(a), _rank(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def spectral_bias_order(ks, t, learned, horizon: float, min_learned: int = 3) -> float:
    """Spearman correlation between frequency ``k`` and learning time, pooled
    over seeds. +1 means strictly low-to-high.

    Args:
        ks: ``(K,)`` frequencies.
        t: ``(S, K)`` learning times (NaN where censored).
        learned: ``(S, K)`` bool.
        horizon: the run length ``T``. Censored components are ranked after
            every learned one (their time is only known to exceed ``T``), tied
            with each other; ``T`` is used only for ranking, never reported.
        min_learned: fewest learned (seed, k) points for a correlation.
            Censored points are one tie block that says only "later than
            every learned one", so the order rests on the learned points;
            with fewer than ``min_learned`` (default 3) of them the value is
            withheld as NaN (see :func:`learned_points` for the count).
    """
    ks = np.asarray(ks, dtype=np.float64)
    t = np.atleast_2d(np.asarray(t, dtype=np.float64))
    learned = np.atleast_2d(np.asarray(learned, dtype=bool))
    if t.shape != learned.shape or t.shape[-1] != ks.size:
        raise ValueError(f"t, learned: expected shape (S, {ks.size}), got {t.shape}, {learned.shape}")
    if learned_points(learned) < min_learned:
        return float("nan")
    ranked_t = np.where(learned, t, 2.0 * float(horizon) + 1.0)
    k_pooled = np.broadcast_to(ks, t.shape)
    return spearman(k_pooled, ranked_t)


def learned_points(learned) -> int:
    """Number of learned (seed, k) points: the ``n`` shown beside
    :func:`spectral_bias_order`."""
    return int(np.count_nonzero(np.asarray(learned, dtype=bool)))
