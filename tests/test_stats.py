"""Intervals over seeds, paired differences, Holm's correction, seed bootstrap."""

import numpy as np
import pytest
from scipy import stats as st

from utils.stats import (holm, mean_ci, minimal_detectable_effect, seeds_for_effect, paired_difference,
                         paired_power, paired_summary, seed_bootstrap, tost_p,
                         summarize)


def test_t_interval_matches_scipy():
    v = np.array([0.1, 0.4, 0.35, 0.2])
    m, lo, hi = mean_ci(v)
    ref = st.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=st.sem(v))
    assert m == pytest.approx(v.mean()) and (lo, hi) == pytest.approx(ref)


def test_nan_positions_stay_nan_quietly(recwarn):
    m, lo, hi = mean_ci(np.array([[np.nan, 1.0], [np.nan, 3.0]]), axis=0)
    assert np.isnan(m[0]) and m[1] == 2.0 and len(recwarn) == 0


def test_single_value_has_no_interval():
    s = summarize([0.5])
    assert s["mean"] == 0.5 and s["n"] == 1 and np.isnan(s["lo"]) and np.isnan(s["hi"])


def test_one_finite_value_of_three_gives_no_interval():
    s = summarize([0.5, np.nan, np.inf])
    assert s["n"] == 1 and s["mean"] == 0.5 and np.isnan(s["lo"]) and np.isnan(s["hi"])
    p = paired_summary(np.array([0.5, np.nan, np.nan]))
    assert p["n"] == 1 and np.isnan(p["p"]) and np.isnan(p["lo"])


def test_only_finite_seeds_count():
    v = np.array([0.1, np.nan, 0.4, np.inf, 0.3])
    fin = v[np.isfinite(v)]
    s = summarize(v)
    ref = st.t.interval(0.95, fin.size - 1, loc=fin.mean(), scale=st.sem(fin))
    assert s["n"] == 3 and s["mean"] == pytest.approx(fin.mean())
    assert (s["lo"], s["hi"]) == pytest.approx(ref)


def test_bounded_interval_is_t_interval_cut_to_the_range():
    acc = np.array([0.02, 0.19])           # n = 2: the plain interval leaves [0, 1]
    _, plain_lo, plain_hi = mean_ci(acc)
    assert plain_lo < 0                    # the bug the bounds fix
    m, lo, hi = mean_ci(acc, bounds=(0, 1))
    assert m == pytest.approx(acc.mean())
    assert lo == 0.0 and hi == pytest.approx(min(plain_hi, 1.0))
    # half-bounded (Delta_k >= 0): only the lower end is cut
    delta = np.array([0.01, 0.9, 0.05])
    _, plo, phi = mean_ci(delta)
    _, blo, bhi = mean_ci(delta, bounds=(0, np.inf))
    assert plo < 0 and blo == 0.0 and bhi == pytest.approx(phi)
    # inside the range nothing changes
    inner = np.array([0.4, 0.5, 0.45, 0.55])
    np.testing.assert_allclose(mean_ci(inner, bounds=(0, 1)), mean_ci(inner))


def test_bounded_interval_keeps_the_t_coverage():
    """Cutting to the range never drops the true mean: same coverage as the
    t-interval on the same samples (simulated, Beta-distributed accuracies)."""
    rng = np.random.default_rng(3)
    a, b = 0.5, 4.0
    true = a / (a + b)
    x = rng.beta(a, b, size=(4000, 3))
    _, lo, hi = mean_ci(x, axis=1)
    _, blo, bhi = mean_ci(x, axis=1, bounds=(0, 1))
    assert np.all((blo >= 0) & (bhi <= 1))
    np.testing.assert_array_equal((lo <= true) & (true <= hi), (blo <= true) & (true <= bhi))


def test_bounds_reject_values_outside_and_bad_arguments():
    with pytest.raises(ValueError, match="values"):
        mean_ci([0.5, 1.2], bounds=(0, 1))
    neither = 1.0 - 0.9 - 0.1                      # a share that rounds below 0
    assert neither < 0 and mean_ci([neither, 0.1], bounds=(0, 1))[1] == 0.0
    with pytest.raises(ValueError, match="bounds"):
        mean_ci([0.5, 0.6], bounds=(1, 0))
    with pytest.raises(ValueError, match="level"):
        mean_ci([0.5, 0.6], level=95)


def test_paired_difference_matches_scipy_ttest_rel():
    treated = np.array([0.61, 0.70, 0.66, 0.72])
    base = np.array([0.60, 0.64, 0.65, 0.63])
    d = paired_difference(treated, base)
    ref = st.ttest_rel(treated, base)
    ci = st.t.interval(0.95, 3, loc=(treated - base).mean(), scale=st.sem(treated - base))
    assert d["n"] == 4 and d["p"] == pytest.approx(ref.pvalue)
    assert d["mean"] == pytest.approx((treated - base).mean())
    assert (d["lo"], d["hi"]) == pytest.approx(ci)
    np.testing.assert_allclose(d["values"], treated - base)
    assert "two-sided" in d["test"]


def test_paired_difference_uses_seeds_where_both_are_finite():
    treated = np.array([1.0, 2.0, np.nan, 4.0])
    base = np.array([0.5, np.nan, 1.0, 3.0])
    d = paired_difference(treated, base)
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.75)
    assert np.isnan(d["values"][1]) and np.isnan(d["values"][2])
    assert d["p"] == pytest.approx(st.ttest_1samp([0.5, 1.0], 0.0).pvalue)


def test_paired_difference_degenerate_spread():
    assert paired_difference(np.ones(3), np.ones(3))["p"] == 1.0
    # identical non-zero differences: zero spread, no test (never p = 0)
    assert np.isnan(paired_difference(np.ones(3) * 2, np.ones(3))["p"])
    with pytest.raises(ValueError, match="treated, base"):
        paired_difference(np.ones(3), np.ones(2))


def _holm_by_definition(p):
    """Reject H_(i) at level a iff p_(j) <= a / (m - j + 1) for all j <= i; the
    adjusted p-value is the smallest a that rejects it, searched over the
    candidate levels (m - j + 1) p_(j)."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    cands = sorted({min(1.0, (m - j) * p[order[j]]) for j in range(m)} | {1.0})
    adj = [None] * m
    for i, idx in enumerate(order):
        adj[idx] = next(a for a in cands
                        if all(p[order[j]] <= a / (m - j) + 1e-15 for j in range(i + 1)))
    return adj


def test_holm_hand_example():
    # m = 3, sorted 0.01 < 0.02 < 0.04: multipliers 3, 2, 1 -> 0.03, 0.04, 0.04;
    # the running maximum leaves them as they are.
    p = [0.04, 0.01, 0.02]
    expect = [max(3 * 0.01, 2 * 0.02, 1 * 0.04), 3 * 0.01, max(3 * 0.01, 2 * 0.02)]
    np.testing.assert_allclose(holm(p), expect)
    np.testing.assert_allclose(holm(p), _holm_by_definition(p))


def test_holm_running_maximum_and_cap():
    p = [0.01, 0.011, 0.5, 0.03]          # 4*0.01=0.04, 3*0.011=0.033 -> 0.04; 2*0.03=0.06; 0.5
    np.testing.assert_allclose(holm(p), [0.04, 0.04, 0.5, 0.06])
    np.testing.assert_allclose(holm(p), _holm_by_definition(p))
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])


def test_holm_against_definition_on_random_families():
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 5):
        for _ in range(20):
            p = rng.uniform(0, 0.2, size=m).tolist()
            np.testing.assert_allclose(holm(p), _holm_by_definition(p), atol=1e-12)


def test_holm_nan_is_not_a_test():
    out = holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], holm([0.01, 0.02]))
    with pytest.raises(ValueError, match="pvalues"):
        holm([0.5, 1.5])


def test_seed_bootstrap_known_distribution():
    # two seeds with values 0 and 1: the 4 ordered draws give means 0, 1/2,
    # 1/2, 1, so the 95% percentile interval is [0, 1]
    x = np.array([[0.0, 1.0]])
    lo, hi, n = seed_bootstrap(lambda a: float(a.mean()), [x], seed_axis=1)
    assert (lo, hi) == (0.0, 1.0) and n == 4
    # 5 seeds (5^5 > 2000): random draws; the mean of 0/1 seeds (two ones)
    # has resampled means k/5, 2.5% and 97.5% quantiles of Binomial(5, 0.4)/5
    x5 = np.array([[0.0, 0.0, 0.0, 1.0, 1.0]])
    lo, hi, n = seed_bootstrap(lambda a: float(a.mean()), [x5], seed_axis=1)
    assert n == 2000
    assert (lo, hi) == (st.binom.ppf(0.025, 5, 0.4) / 5, st.binom.ppf(0.975, 5, 0.4) / 5)


def test_seed_bootstrap_keeps_arms_of_a_seed_together():
    rng = np.random.default_rng(1)
    col = rng.normal(size=5)
    x = np.stack([col, col])               # arm 0 and arm 1 equal within every seed
    lo, hi, _ = seed_bootstrap(lambda a: float(np.all(a[0] == a[1])), [x], seed_axis=1)
    assert lo == hi == 1.0


def test_seed_bootstrap_one_seed_gives_nothing():
    lo, hi, n = seed_bootstrap(lambda a: float(a.mean()), [np.ones((3, 1))], seed_axis=1)
    assert np.isnan(lo) and np.isnan(hi) and n == 0


def test_tost_against_two_one_sided_scipy_tests():
    d = np.array([0.01, -0.005, 0.012, 0.003, -0.002])
    lo = st.ttest_1samp(d, -0.02, alternative="greater").pvalue
    hi = st.ttest_1samp(d, 0.02, alternative="less").pvalue
    assert tost_p(d, 0.02) == pytest.approx(max(lo, hi))
    assert tost_p([0.0, 0.0, 0.0], 0.02) == 0.0              # nothing changed
    assert np.isnan(tost_p([0.01, 0.01, 0.01], 0.02))          # zero spread: no test
    assert np.isnan(tost_p([0.01, np.nan], 0.02))              # one finite value
    for bad in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="sesoi"):
            tost_p(d, bad)


def test_power_and_mde_are_inverse_and_match_the_normal_limit():
    for n in (3, 10):
        m = minimal_detectable_effect(n, 0.5, alpha=0.05, power=0.8)
        assert paired_power(n, m, 0.5, 0.05) == pytest.approx(0.8, abs=1e-8)
    # large n: the normal approximation (z_{1-a/2} + z_{power}) sd / sqrt(n)
    z = st.norm.ppf(0.975) + st.norm.ppf(0.8)
    assert minimal_detectable_effect(2000, 1.0) == pytest.approx(z / np.sqrt(2000), rel=2e-3)
    assert paired_power(5, 0.0, 1.0) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="n"):
        paired_power(1, 0.1, 1.0)
    with pytest.raises(ValueError, match="sd"):
        minimal_detectable_effect(3, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        paired_power(3, 0.1, 1.0, alpha=1.5)


@pytest.mark.parametrize("effect, sd, alpha, power", [
    (0.02, 0.065, 0.025, 0.8), (-0.3, 0.5, 0.05, 0.8), (1.0, 0.4, 0.05, 0.9), (0.05, 0.3, 0.01, 0.8)])
def test_seeds_for_an_effect_is_the_fewest_with_that_power(effect, sd, alpha, power):
    """The planning number: at n the test reaches the power (paired_power, the
    exact noncentral t), at n - 1 it does not."""
    n = seeds_for_effect(effect, sd, alpha, power)
    assert paired_power(n, effect, sd, alpha) >= power - 1e-9
    if n > 2:
        assert paired_power(n - 1, effect, sd, alpha) < power
    # large n: the normal approximation ((z_{1-a/2} + z_power) sd / effect)^2
    if n > 200:
        z = st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)
        assert n == pytest.approx((z * sd / effect) ** 2, rel=0.02)


def test_seeds_for_an_effect_refuses_what_has_no_answer():
    assert seeds_for_effect(1e-6, 1.0, n_max=1000) is None      # beyond n_max: None, not a guess
    for kw, word in (({"effect": 0.0}, "effect"), ({"effect": float("nan")}, "effect"),
                     ({"sd": 0.0}, "sd"), ({"alpha": 0.0}, "alpha"), ({"power": 1.0}, "power")):
        args = {"effect": 0.1, "sd": 1.0, **kw}
        with pytest.raises(ValueError, match=word):
            seeds_for_effect(**args)


@pytest.mark.parametrize("n", [3, 10])
def test_simulated_error_rates_at_the_declared_sesoi(n):
    """At each claim's SESOI and the run's n (3 default, 10 study): a true
    mean of exactly +SESOI is declared equivalent at most alpha of the time
    (TOST's type-I error), and a planted effect of SESOI is detected by the
    paired t-test as often as paired_power says, within simulation error."""
    from utils.verdicts import SESOI_INPUT_GRADIENT_HFF as sesoi
    rng = np.random.default_rng(22)
    reps, alpha, sd = 4000, 0.05, sesoi      # effect of one SD of the differences
    d = rng.normal(sesoi, sd, size=(reps, n))
    tost = np.array([tost_p(row, sesoi) for row in d])
    se = np.sqrt(alpha * (1 - alpha) / reps)
    assert np.mean(tost < alpha) <= alpha + 3 * se
    detected = np.mean([paired_summary(row)["p"] < alpha for row in d])
    power = paired_power(n, sesoi, sd, alpha)
    assert abs(detected - power) < 3 * np.sqrt(power * (1 - power) / reps) + 1e-3
    # no effect: TOST finds equivalence with its own power, and is not a test that cannot fail
    z = rng.normal(0.0, sd / 4, size=(reps, n))
    assert np.mean([tost_p(row, sesoi) < alpha for row in z]) > alpha
