"""Summaries over seeds: means with 95% intervals, paired differences against
the baseline with a paired t-test, the equivalence test (TOST) against a
smallest effect of interest, the minimal detectable effect and the power of
the paired t-test, Holm's correction over a family of tests, and a
seed-cluster bootstrap range (docs/DEFINITIONS.md 10: never one seed alone).

Rules every function here follows:

* Only finite values count. ``n`` is the number of finite seeds, and a
  position with fewer than two of them gets no interval (``lo = hi = NaN``)
  and no p-value: one finite value of three is one value, not three.
* Intervals are Student-t intervals over seeds. A quantity with a feasible
  range (accuracy in [0, 1], ``Delta_k >= 0``, SSR <= 1) passes ``bounds``
  and its interval is the t-interval intersected with that range (see
  :func:`mean_ci` for why this and not a logit transform). Unbounded
  quantities (paired differences) keep the plain t-interval.

Pure numpy/scipy: no files, no printing, no global random state.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings

import numpy as np
from scipy import optimize as _opt
from scipy import special as _sp
from scipy import stats as _st

PAIRED_TEST = "paired t-test, two-sided"
TOST_TEST = "TOST, two one-sided paired t-tests"


def _check_level(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level: expected a coverage in (0, 1), got {level!r}")
    return float(level)


def _check_bounds(bounds) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds: expected (lo, hi) with lo < hi (either may be infinite), "
                         f"got {bounds!r}") from None
    if not lo < hi or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"bounds: expected (lo, hi) with lo < hi, got {bounds!r}")
    return lo, hi


def mean_ci(values, axis: int = 0, level: float = 0.95, bounds=None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and two-sided Student-t interval over ``axis`` (the seed axis).

    Args:
        values: array ``(..., S, ...)``; non-finite entries are ignored per
            position (``n`` = finite count there).
        axis: the seed axis.
        level: coverage of the interval, in (0, 1).
        bounds: ``(lo, hi)``, the feasible range of the quantity (either end
            may be ``+-inf``), or ``None`` for an unbounded one. Finite
            values outside it by more than rounding (1e-9 relative) raise
            ``ValueError`` (a wrong number upstream).

    Returns ``(mean, lo, hi)`` with the seed axis removed. Where fewer than
    two finite values exist, ``lo`` and ``hi`` are NaN (no interval); the
    mean is NaN where none exists.

    Range-respecting interval: with 2 or 3 seeds the t quantile is large
    (12.7 for n = 2) and the plain interval leaves the feasible range
    (accuracy [-0.04, 0.25]). The interval returned with ``bounds`` is the
    t-interval intersected with ``[lo, hi]``. The true mean of a quantity
    with that range lies in it, so the intersection contains the true mean
    exactly when the t-interval does: the coverage is unchanged, the
    estimate (the sample mean) always lies inside, and values on the edge
    (accuracy 1.0, ``Delta_k = 0``) need no special case. A t-interval on a
    logit or log scale was considered and not used: it covers the mean of
    the transformed values (a median-like centre), not the mean that the
    tables report, and it is undefined at the edges.
    """
    level = _check_level(level)
    b = _check_bounds(bounds)
    v = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    ok = np.isfinite(v)
    # a rounding-level excursion (1 - a - b of two shares, a trapezoid area of
    # accuracies) is not an error; anything larger is a wrong number upstream
    tol = 1e-9 * max(1.0, *(abs(x) for x in b if math.isfinite(x))) if b is not None else 0.0
    if b is not None and np.any(ok & ((v < b[0] - tol) | (v > b[1] + tol))):
        bad = v[ok & ((v < b[0] - tol) | (v > b[1] + tol))]
        raise ValueError(f"values: expected within bounds [{b[0]:g}, {b[1]:g}], got "
                         f"{bad.size} outside (e.g. {bad.flat[0]:g})")
    n = ok.sum(axis=0)
    finite = np.where(ok, v, np.nan)
    # all-NaN positions (e.g. the baseline's SSR against itself) stay NaN quietly
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(finite, axis=0)
        sd = np.nanstd(finite, axis=0, ddof=1)
        # Student-t quantile (scipy.special's ufunc: scipy.stats.t.ppf is ~50x slower per call)
        half = _sp.stdtrit(np.maximum(n - 1, 1), 0.5 + level / 2) * sd / np.sqrt(np.maximum(n, 1))
    lo = np.where(n >= 2, mean - half, np.nan)
    hi = np.where(n >= 2, mean + half, np.nan)
    if b is not None:
        lo, hi = np.maximum(lo, b[0]), np.minimum(hi, b[1])  # NaN stays NaN
    return mean, lo, hi


def summarize(values, bounds=None, level: float = 0.95) -> dict:
    """``{"mean", "lo", "hi", "n", "values"}`` for a 1D sample over seeds
    (``n`` finite seeds; ``bounds`` as in :func:`mean_ci`)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    m, lo, hi = mean_ci(v, level=level, bounds=bounds)
    return {"mean": float(m), "lo": float(lo), "hi": float(hi),
            "n": int(np.isfinite(v).sum()), "values": v.tolist()}


def _t_test_p(d: np.ndarray) -> float:
    """Two-sided one-sample t-test of mean 0 on the finite ``d``.

    With zero spread the t statistic is 0/0 or +-inf and the test has no
    answer: p = 1 for all-zero differences (nothing changed: the estimate
    is exactly 0 over ``n`` seeds) and NaN for identical non-zero ones
    (three equal differences are not evidence of anything the t-test can
    weigh; the caller reports them untestable, docs/DEFINITIONS.md 10)."""
    n = d.size
    if n < 2:
        return float("nan")
    if np.all(d == d[0]):  # identical values: the rounded sd may be 1e-17, not 0
        return 1.0 if d[0] == 0.0 else float("nan")
    sd = float(np.std(d, ddof=1))
    mean = float(np.mean(d))
    t = mean / (sd / math.sqrt(n))
    return float(2.0 * _sp.stdtr(n - 1, -abs(t)))


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    return float(alpha)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: expected an int >= 2 (paired seeds), got {n!r}")
    return int(n)


def tost_p(differences, sesoi: float) -> float:
    """Equivalence test of paired differences against ``[-sesoi, +sesoi]``:
    two one-sided t-tests (Schuirmann 1987), ``H0: mean <= -sesoi`` and
    ``H0: mean >= +sesoi``; the returned p is the larger of the two one-sided
    p-values, so ``p < alpha`` declares the mean inside the bounds at level
    ``alpha``.

    Args:
        differences: ``(S,)`` paired per-seed values; non-finite ones do
            not count.
        sesoi: smallest effect size of interest, > 0, in the units of the
            differences.

    Returns NaN with fewer than two finite values or identical non-zero
    values (zero spread: untestable, as in the t-test); 0 when every value
    is exactly 0 (nothing changed, which is inside any bound).
    """
    if isinstance(sesoi, bool) or not isinstance(sesoi, (int, float)) or not (
            math.isfinite(sesoi) and sesoi > 0):
        raise ValueError(f"sesoi: expected a finite number > 0, got {sesoi!r}")
    d = np.asarray(differences, dtype=np.float64).ravel()
    d = d[np.isfinite(d)]
    n = d.size
    if n < 2:
        return float("nan")
    if np.all(d == d[0]):
        return 0.0 if d[0] == 0.0 else float("nan")
    sd = float(np.std(d, ddof=1))
    mean = float(np.mean(d))
    se = sd / math.sqrt(n)
    p_low = float(_sp.stdtr(n - 1, -(mean + sesoi) / se))   # H0 mean <= -sesoi
    p_high = float(_sp.stdtr(n - 1, (mean - sesoi) / se))   # H0 mean >= +sesoi
    return max(p_low, p_high)


def paired_power(n: int, effect: float, sd: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` with ``n``
    pairs against a true mean difference ``effect`` when the differences
    have standard deviation ``sd``: ``P(|T| > t_{1-alpha/2, n-1})`` with
    ``T`` noncentral t, ``n - 1`` degrees of freedom, noncentrality
    ``effect / (sd / sqrt(n))`` (scipy.stats.nct)."""
    n, alpha = _check_n(n), _check_alpha(alpha)
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd: expected a finite number > 0, got {sd!r}")
    if not math.isfinite(effect):
        raise ValueError(f"effect: expected a finite number, got {effect!r}")
    df, nc = n - 1, abs(effect) / (sd / math.sqrt(n))
    crit = float(_st.t.ppf(1 - alpha / 2, df))
    # the lower tail as the upper tail of -T (scipy's nct.cdf returns NaN far in its tail)
    return float(_st.nct.sf(crit, df, nc) + _st.nct.sf(crit, df, -nc))


def minimal_detectable_effect(n: int, sd: float, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """The smallest true mean difference that the two-sided paired t-test at
    level ``alpha`` with ``n`` pairs detects with probability ``power``,
    for differences of standard deviation ``sd`` (the inverse of
    :func:`paired_power` in ``effect``; exact noncentral t, not the normal
    approximation, which is far off at 3 seeds)."""
    n, alpha = _check_n(n), _check_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power: expected a probability in (0, 1), got {power!r}")
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd: expected a finite number > 0, got {sd!r}")
    return _mde_in_se(n, alpha, float(power)) * sd / math.sqrt(n)


def seeds_for_effect(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8,
                     n_max: int = 100_000) -> int | None:
    """The fewest pairs ``n`` at which the two-sided paired t-test at level
    ``alpha`` detects a true mean difference ``effect`` with probability at
    least ``power`` (:func:`paired_power`, exact noncentral t), for
    differences of standard deviation ``sd`` (a planning number: ``sd`` is
    usually the one observed so far). None when more than ``n_max`` pairs
    would be needed. The normal approximation
    ``((z_{1-alpha/2} + z_power) sd / effect)^2`` gives the start; the exact
    power, which grows with ``n``, is then walked to the smallest ``n``
    (a few steps: t's heavier tails need slightly more pairs than z)."""
    _check_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power: expected a probability in (0, 1), got {power!r}")
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd: expected a finite number > 0, got {sd!r}")
    if not (math.isfinite(effect) and effect != 0):
        raise ValueError(f"effect: expected a finite non-zero number, got {effect!r}")
    z = float(_st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power))
    start = (z * sd / abs(effect)) ** 2
    if start > n_max:
        return None
    n = max(2, math.ceil(start))
    while paired_power(n, effect, sd, alpha) < power:
        n += 1
        if n > n_max:
            return None
    while n > 2 and paired_power(n - 1, effect, sd, alpha) >= power:
        n -= 1
    return n


@functools.lru_cache(maxsize=256)
def _mde_in_se(n: int, alpha: float, power: float) -> float:
    """The MDE in units of the standard error: a function of ``n``, ``alpha``
    and ``power`` alone (cached: simulations ask for it thousands of times)."""
    # power grows monotonically with the noncentrality; bracket it, then solve
    f = lambda k: paired_power(n, k, 1.0 * math.sqrt(n), alpha) - power  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return float(_opt.brentq(f, 0.0, hi, xtol=1e-12))


def paired_summary(differences, level: float = 0.95, bounds=None) -> dict:
    """Mean, interval, ``n`` and paired t-test p-value of per-seed paired
    differences (or of a per-seed statistic that is already paired, like
    B's SSR against the baseline of the same seed; the null is 0).

    Args:
        differences: ``(S,)`` per-seed values; non-finite ones do not count.
        level: interval coverage.
        bounds: feasible range, as in :func:`mean_ci` (``None`` for plain
            differences, which are unbounded in practice).

    Returns ``{"mean", "lo", "hi", "n", "values", "p", "test", "sd"}``:
    ``p`` is the two-sided paired (one-sample on the differences) t-test of
    mean 0 with ``n - 1`` degrees of freedom, NaN when ``n < 2`` or the
    differences are identical and non-zero (untestable), 1 when they are all
    exactly 0; ``sd`` is their standard deviation (NaN when ``n < 2``).
    """
    v = np.asarray(differences, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"differences: expected shape (S,), got {v.shape}")
    out = summarize(v, bounds=bounds, level=level)
    fin = v[np.isfinite(v)]
    out["p"] = _t_test_p(fin)
    out["test"] = PAIRED_TEST
    out["sd"] = (float("nan") if fin.size < 2 else 0.0 if np.all(fin == fin[0])
                 else float(np.std(fin, ddof=1)))
    return out


def paired_difference(treated, base, level: float = 0.95) -> dict:
    """Per-seed differences ``treated - base`` over the seeds where both are
    finite, with :func:`paired_summary`'s mean, interval, ``n`` and p-value.

    Args:
        treated, base: ``(S,)`` per-seed values of the same quantity, seed
            ``i`` of one paired with seed ``i`` of the other (same init,
            same data order).

    ``values`` holds the ``S`` differences, NaN where either side is not
    finite.
    """
    t = np.asarray(treated, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if t.ndim != 1 or t.shape != b.shape:
        raise ValueError(f"treated, base: expected two arrays of shape (S,), got {t.shape} "
                         f"and {b.shape}")
    d = np.where(np.isfinite(t) & np.isfinite(b), t - b, np.nan)
    return paired_summary(d, level=level)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of one family of tests.

    With the ``m`` finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``,
    the adjusted value is ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting
    where it is below ``alpha`` controls the family-wise error rate at
    ``alpha`` under any dependence between the tests (Holm 1979).

    Args:
        pvalues: ``(m,)`` p-values in [0, 1]; NaN marks a test that was not
            made (too few seeds): it stays NaN and does not count in ``m``.

    Returns float64 ``(m,)`` in the input order.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvalues: expected shape (m,), got {p.shape}")
    if np.any(np.isinf(p)) or np.any((p[~np.isnan(p)] < 0) | (p[~np.isnan(p)] > 1)):
        raise ValueError(f"pvalues: expected values in [0, 1] or NaN, got {p.tolist()}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="mergesort")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def seed_bootstrap(statistic, arrays, seed_axis: int = 1, n_resamples: int = 2000,
                   level: float = 0.95, rng_seed: int = 0) -> tuple[float, float, int]:
    """Percentile range of ``statistic`` by resampling whole seeds.

    Models of one seed share their initial weights and data order, so they
    are not independent points: a resample draws ``S`` seeds with
    replacement and keeps every arm of a drawn seed together.

    Args:
        statistic: callable taking arrays shaped like ``arrays`` (with the
            seed axis resampled) and returning a float (NaN allowed: such
            resamples are dropped).
        arrays: sequence of arrays sharing the seed axis length ``S``.
        seed_axis: the seed axis of every array.
        n_resamples: number of random resamples (>= 100); when ``S ** S``
            is no larger, all ``S ** S`` ordered draws are used instead.
        level: interval coverage.
        rng_seed: seed of the local generator (results are reproducible).

    Returns ``(lo, hi, n_valid)``: NaN bounds when ``S < 2`` or fewer than
    half the draws give a finite statistic. With 3 seeds only 10 distinct
    resamples exist and the nominal 95% covers the truth far less often (an
    audit, issue 22, found 0.76): it is a *range* (how much the statistic moves with the
    seeds), not a confidence interval, and callers must label it so.
    """
    level = _check_level(level)
    if not (isinstance(n_resamples, int) and n_resamples >= 100):
        raise ValueError(f"n_resamples: expected an int >= 100, got {n_resamples!r}")
    arrs = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not arrs:
        raise ValueError("arrays: expected at least one array")
    sizes = {a.shape[seed_axis] for a in arrs}
    if len(sizes) != 1:
        raise ValueError(f"arrays: expected one seed-axis length, got {sorted(sizes)}")
    S = sizes.pop()
    if S < 2:
        return float("nan"), float("nan"), 0
    if S ** S <= n_resamples:
        # few seeds: every ordered draw, each equally likely -- the exact
        # bootstrap distribution (27 draws for 3 seeds), no Monte Carlo error
        draws = np.array(list(itertools.product(range(S), repeat=S)))
    else:
        draws = np.random.default_rng(rng_seed).integers(0, S, size=(n_resamples, S))
    n_draws = len(draws)
    vals = np.array([statistic(*[np.take(a, d, axis=seed_axis) for a in arrs]) for d in draws],
                    dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if vals.size < n_draws / 2:
        return float("nan"), float("nan"), int(vals.size)
    q = (1 - level) / 2
    # quantiles of the empirical distribution itself (no interpolation between draws)
    lo, hi = np.quantile(vals, [q, 1 - q], method="inverted_cdf")
    return float(lo), float(hi), int(vals.size)
