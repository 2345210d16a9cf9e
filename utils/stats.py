"""Summaries over seeds: mean with a 95% t-interval (SCIENCE.md conventions:
never one seed alone)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as _st


def mean_ci(values, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and two-sided Student-t interval over ``axis`` (the seed axis).

    NaNs are ignored per position; with fewer than two finite values the
    interval collapses to the mean (one seed gives no interval, and saying
    so is the caller's job). Returns ``(mean, lo, hi)``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = np.moveaxis(v, axis, 0)
    n = np.sum(np.isfinite(v), axis=0)
    finite = np.where(np.isfinite(v), v, np.nan)
    # all-NaN positions (e.g. the baseline's SSR against itself) stay NaN quietly
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(finite, axis=0)
        sd = np.nanstd(finite, axis=0, ddof=1) if v.shape[0] > 1 else np.zeros_like(mean)
        half = _st.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    half = np.where(n >= 2, half, 0.0)
    return mean, mean - half, mean + half


def summarize(values) -> dict:
    """``{"mean", "lo", "hi", "n", "values"}`` for a 1D sample over seeds."""
    v = np.asarray(values, dtype=np.float64).ravel()
    m, lo, hi = mean_ci(v)
    return {"mean": float(m), "lo": float(lo), "hi": float(hi),
            "n": int(np.isfinite(v).sum()), "values": v.tolist()}
