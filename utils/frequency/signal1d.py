"""Per-frequency learning metrics for 1D fits (docs/DEFINITIONS.md section 1).

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
  stays below ``eps`` for a whole window (see :func:`learning_times`). A
  component without one is in one of two other states, never merged with
  the first or with each other (:class:`LearningState`).

Everything here is pure numpy/torch: no files, no plotting, no global RNG.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np
import torch

from ._grid import as_float_array, as_numpy, describe

__all__ = [
    "dft_coefficients",
    "relative_error",
    "spectral_gain",
    "learning_times",
    "learning_states",
    "LearningState",
    "LearningStates",
    "spearman",
    "spectral_bias_order",
    "learned_points",
]


def _as_complex(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except ValueError:
        arr = np.asarray(None)
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"{name}: expected an array of (complex) coefficients, got {describe(x)}")
    return arr.astype(np.complex128)


def _as_flags(x, name: str) -> np.ndarray:
    arr = as_numpy(x, name)
    if arr.dtype.kind not in "biu":
        raise ValueError(f"{name}: expected booleans (True = learned), got {describe(x)}")
    return arr.astype(bool)


def _broadcast(H: np.ndarray, Y: np.ndarray) -> None:
    try:
        np.broadcast_shapes(H.shape, Y.shape)
    except ValueError:
        raise ValueError(f"Y: expected a shape that broadcasts against H {H.shape} (one target "
                         f"coefficient per frequency), got {Y.shape}") from None


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
    s = as_float_array(signal, "signal")
    if s.ndim < 1 or s.shape[-1] < 2:
        raise ValueError(f"signal: expected shape (..., N) with N >= 2, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("signal: contains non-finite values")
    spec = np.fft.rfft(s, axis=-1)
    if ks is None:
        return spec
    ks = np.asarray(ks)
    if ks.ndim != 1 or not np.issubdtype(ks.dtype, np.integer):
        raise ValueError(f"ks: expected a 1D sequence of integers, got {describe(ks)}")
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
    H, Y = _as_complex(H, "H"), _as_complex(Y, "Y")
    _check_target(Y)
    _broadcast(H, Y)
    return np.abs(H - Y) / np.abs(Y)


def spectral_gain(H, Y) -> np.ndarray:
    """Gain ``g_k = Re(H_k / Y_k)`` (1 = learned at full amplitude), shape as
    :func:`relative_error`."""
    H, Y = _as_complex(H, "H"), _as_complex(Y, "Y")
    _check_target(Y)
    _broadcast(H, Y)
    return np.real(H / Y)


class LearningState(enum.IntEnum):
    """Where a component stands at the end of a run (the codes of
    :attr:`LearningStates.state`)."""

    #: ``Delta_k >= eps`` at the last checkpoint: not learned by T (it never
    #: went below eps, or only in dips that came back up).
    NOT_LEARNED = 0
    #: below eps for a whole window: learned at ``t_k``.
    LEARNED = 1
    #: below eps from some checkpoint through the last one, but too close to
    #: the end for the window to be completed: neither learned nor not.
    UNCONFIRMED = 2


class LearningStates(NamedTuple):
    """Result of :func:`learning_states`; every field has delta's leading shape."""

    t: np.ndarray            # float64: t_k where LEARNED, NaN elsewhere (never T)
    state: np.ndarray        # int8: LearningState codes
    below_since: np.ndarray  # float64: step where the final below-eps stretch began,
                             # where UNCONFIRMED; NaN elsewhere
    final_delta: np.ndarray  # float64: Delta_k at the last checkpoint


def learning_states(delta, steps, eps: float = 0.1, window_checkpoints: int = 5,
                    window_fraction: float = 0.02) -> LearningStates:
    """Learning time ``t_k(eps)`` with a sustained-window rule, and the state
    of every component that has none.

    ``t_k`` is the step of the first checkpoint ``i`` such that ``Delta_k``
    stays below ``eps`` at every checkpoint from ``i`` through the end of the
    window. The window starting at checkpoint ``i`` spans the longer of
    ``window_checkpoints`` checkpoints (``i`` included) and
    ``window_fraction * steps[-1]`` steps, and must end inside the run. So a
    curve that dips under ``eps`` and comes back within the window is not
    learned at the dip, and a crossing in the last window cannot be confirmed.

    States (:class:`LearningState`), never merged: LEARNED (``t`` is
    ``t_k``); UNCONFIRMED (below eps at the last checkpoint, the window not
    complete; ``below_since`` says from which checkpoint); NOT_LEARNED
    (``Delta_k >= eps`` at the end; ``final_delta`` says how far). No time is
    ever imputed: ``t`` is NaN unless LEARNED.

    Args:
        delta: ``(..., C)`` relative errors at ``C`` checkpoints.
        steps: ``(C,)`` increasing step numbers of the checkpoints.
        eps: threshold, ``0 < eps``.
        window_checkpoints: minimum number of checkpoints in the window, >= 1.
        window_fraction: minimum window length as a fraction of the run, >= 0.

    Returns:
        :class:`LearningStates`, each field shaped ``delta.shape[:-1]``.
    """
    d = as_float_array(delta, "delta")
    st = as_float_array(steps, "steps")
    if st.ndim != 1 or d.shape[-1:] != st.shape:
        raise ValueError(f"steps: expected shape ({d.shape[-1] if d.ndim else '?'},) "
                         f"matching delta's last axis, got {st.shape} for delta {d.shape}")
    if st.size == 0 or np.any(np.diff(st) <= 0):
        raise ValueError("steps: expected a non-empty, strictly increasing sequence")
    if not eps > 0:
        raise ValueError(f"eps: expected > 0, got {eps}")
    if window_checkpoints < 1:
        raise ValueError(f"window_checkpoints: expected >= 1, got {window_checkpoints}")
    if not window_fraction >= 0:
        raise ValueError(f"window_fraction: expected >= 0, got {window_fraction}")
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
    # Length of the final below-eps stretch: the position of the first
    # checkpoint at or above eps counted from the end (C when there is none).
    rev = below[..., ::-1]
    trailing = np.where(rev.all(axis=-1), C, np.argmax(~rev, axis=-1))
    unconfirmed = below[..., -1] & ~learned
    since = np.where(unconfirmed, st[np.clip(C - trailing, 0, C - 1)], np.nan)
    state = np.where(learned, LearningState.LEARNED,
                     np.where(unconfirmed, LearningState.UNCONFIRMED,
                              LearningState.NOT_LEARNED)).astype(np.int8)
    return LearningStates(t=t, state=state, below_since=since, final_delta=d[..., -1].copy())


def learning_times(delta, steps, eps: float = 0.1, window_checkpoints: int = 5,
                   window_fraction: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """``(t, learned)`` of :func:`learning_states` (same arguments): ``t``
    float64 ``(...,)`` with ``NaN`` where not learned, ``learned`` bool.

    ``learned`` is False for UNCONFIRMED and NOT_LEARNED alike; callers that
    report why a component has no ``t_k`` use :func:`learning_states`.
    """
    r = learning_states(delta, steps, eps, window_checkpoints, window_fraction)
    return r.t, r.state == LearningState.LEARNED


def spearman(a, b) -> float:
    """Spearman rank correlation of two 1D samples (``scipy.stats.spearmanr``:
    average ranks for ties); NaN when either sample is constant."""
    from scipy import stats  # lazy, as in heatmap.py: importing the library stays light

    a = as_float_array(a, "a").ravel()
    b = as_float_array(b, "b").ravel()
    if a.size != b.size or a.size < 2:
        raise ValueError(f"a, b: expected equal sizes >= 2, got {a.size} and {b.size}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # scipy would warn and return NaN
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


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
    ks = as_float_array(ks, "ks")
    t = np.atleast_2d(as_float_array(t, "t"))
    learned = np.atleast_2d(_as_flags(learned, "learned"))
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
    return int(np.count_nonzero(_as_flags(learned, "learned")))
