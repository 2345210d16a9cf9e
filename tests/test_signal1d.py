"""Known answers for the 1D metrics of Experiment A (docs/DEFINITIONS.md section 1)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from data.toy_data import make_target
from utils.frequency import (LearningState, dft_coefficients, learning_states, learning_times,
                             relative_error, spearman, spectral_bias_order, spectral_gain)


def _coeffs(signal, ks=(5, 20, 50)):
    return dft_coefficients(signal, np.array(ks))


def test_perfect_fit_has_zero_error_and_unit_gain():
    t = make_target()
    Y = _coeffs(t.y)
    np.testing.assert_allclose(relative_error(Y, Y), 0.0, atol=1e-15)
    np.testing.assert_allclose(spectral_gain(Y, Y), 1.0, atol=1e-15)


@pytest.mark.parametrize("a", [0.1, 0.5, 1.0, math.pi / 2, 3.0])
def test_pure_phase_shift(a):
    # |e^{ia} - 1| = 2|sin(a/2)|: phase errors count (0.5 rad -> 0.495).
    t = make_target()
    shifted = make_target(phases=(a, a, a))
    d = relative_error(_coeffs(shifted.y), _coeffs(t.y))
    np.testing.assert_allclose(d, 2 * abs(math.sin(a / 2)), rtol=1e-12)
    np.testing.assert_allclose(spectral_gain(_coeffs(shifted.y), _coeffs(t.y)), math.cos(a),
                               atol=1e-12)


def test_phase_error_of_half_radian_is_not_zero():
    t, s = make_target(), make_target(phases=(0.5, 0.5, 0.5))
    assert relative_error(_coeffs(s.y), _coeffs(t.y))[0] == pytest.approx(0.495, abs=1e-3)


@given(c=st.floats(-2, 3))
@settings(max_examples=25, deadline=None)
def test_scaled_fit_gives_matching_gain(c):
    t = make_target()
    Y = _coeffs(t.y)
    H = _coeffs(c * t.y)
    np.testing.assert_allclose(spectral_gain(H, Y), c, atol=1e-10)
    np.testing.assert_allclose(relative_error(H, Y), abs(1 - c), atol=1e-10)


def test_grid_puts_each_sine_in_its_own_bin():
    t = make_target(n_points=512)
    spec = np.abs(dft_coefficients(t.y))
    np.testing.assert_allclose(spec[[5, 20, 50]], 256.0, rtol=1e-12)
    off = np.delete(spec, [5, 20, 50])
    assert off.max() < 1e-10


def test_amplitude_and_phase_of_a_component_are_recovered():
    t = make_target(freqs=(3,), n_points=64, amplitudes=(2.0,), phases=(0.3,))
    c = dft_coefficients(t.y, [3])[0]
    # sin(kx + phi) = Im e^{i(kx+phi)} -> coefficient -i N/2 A e^{i phi}
    np.testing.assert_allclose(c, -1j * 32 * 2.0 * np.exp(0.3j), atol=1e-10)


STEPS = np.arange(1, 101) * 10  # 100 checkpoints, 10..1000


def test_learning_time_is_first_sustained_crossing():
    d = np.ones(100)
    d[40:] = 0.05
    t, ok = learning_times(d, STEPS, eps=0.1)
    assert ok and t == STEPS[40]


def test_dip_that_comes_back_is_not_learned():
    d = np.ones(100)
    d[20:23] = 0.05          # three checkpoints below eps, then back up
    t, ok = learning_times(d, STEPS, eps=0.1)
    assert not ok and np.isnan(t)
    d[60:] = 0.01            # later it is learned for good
    t, ok = learning_times(d, STEPS, eps=0.1)
    assert ok and t == STEPS[60]


def test_window_is_longer_of_count_and_fraction():
    # 2% of 1000 steps = 20 steps = 2 checkpoints here, so the 5-checkpoint rule binds:
    d = np.ones(100)
    d[10:14] = 0.05          # 4 checkpoints: not enough
    d[30:35] = 0.05          # 5 checkpoints: enough
    t, ok = learning_times(d, STEPS, eps=0.1)
    assert ok and t == STEPS[30]
    # with a 10% window (100 steps = 10 checkpoints) the 5-checkpoint run no longer counts
    t, ok = learning_times(d, STEPS, eps=0.1, window_fraction=0.1)
    assert not ok


def test_crossing_too_late_to_confirm_is_censored():
    d = np.ones(100)
    d[-3:] = 0.01            # below eps only at the last three checkpoints
    t, ok = learning_times(d, STEPS, eps=0.1)
    assert not ok and np.isnan(t)


def test_learning_times_are_batched_over_leading_dims():
    d = np.ones((2, 3, 100))
    d[0, 1, 50:] = 0.0
    d[1, 2, 70:] = 0.0
    t, ok = learning_times(d, STEPS)
    assert ok.sum() == 2 and t[0, 1] == STEPS[50] and t[1, 2] == STEPS[70]
    assert np.isnan(t[0, 0])


def test_learning_times_reject_bad_steps():
    with pytest.raises(ValueError, match="steps"):
        learning_times(np.ones(5), np.array([1, 2, 2, 3, 4]))
    with pytest.raises(ValueError, match="steps"):
        learning_times(np.ones(5), np.arange(4))
    with pytest.raises(ValueError, match="eps"):
        learning_times(np.ones(5), np.arange(1, 6), eps=0)


def _old_spearman(a, b) -> float:
    """The library's hand-written Spearman before it called scipy (the
    reference): average ranks by a loop over tie blocks, Pearson of ranks."""
    def rank(v):
        order = np.argsort(v, kind="mergesort")
        ranks, sv, i = np.empty(v.size), v[order], 0
        while i < v.size:
            j = i
            while j + 1 < v.size and sv[j + 1] == sv[i]:
                j += 1
            ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
            i = j + 1
        return ranks
    ra, rb = rank(np.asarray(a, float)), rank(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


@given(st.lists(st.integers(0, 20), min_size=2, max_size=30),
       st.lists(st.integers(0, 20), min_size=2, max_size=30))
@settings(max_examples=60, deadline=None)
def test_spearman_equals_the_old_hand_written_one(a, b):
    n = min(len(a), len(b))
    a, b = np.array(a[:n]), np.array(b[:n])
    old, ours = _old_spearman(a, b), spearman(a, b)
    if np.isnan(old):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(old, abs=1e-12)


def test_spectral_bias_order_ranks_censored_last():
    ks = [5, 20, 50]
    t = np.array([[100.0, 900.0, np.nan], [120.0, 800.0, np.nan]])
    learned = ~np.isnan(t)
    assert spectral_bias_order(ks, t, learned, horizon=1000) == pytest.approx(
        stats.spearmanr(np.tile(ks, 2), [100, 900, 1e9, 120, 800, 1e9]).statistic)
    reversed_t = np.array([[900.0, 500.0, 100.0]])
    assert spectral_bias_order(ks, reversed_t, np.ones((1, 3), bool), 1000) == pytest.approx(-1)


def test_relative_error_needs_nonzero_target():
    with pytest.raises(ValueError, match="Y"):
        relative_error(np.ones(2), np.array([1.0, 0.0]))


def test_dft_rejects_non_finite_and_out_of_range():
    with pytest.raises(ValueError, match="signal"):
        dft_coefficients(np.array([1.0, np.nan, 0.0, 1.0]))
    with pytest.raises(ValueError, match="ks"):
        dft_coefficients(np.zeros(16), [9])


def test_spectral_bias_order_is_withheld_below_three_learned_points():
    from utils.frequency import learned_points
    ks = [5, 20, 50]
    t = np.array([[100.0, 900.0, np.nan], [np.nan, np.nan, np.nan]])
    learned = ~np.isnan(t)
    assert learned_points(learned) == 2
    assert np.isnan(spectral_bias_order(ks, t, learned, horizon=1000))
    # the same two learned points and a third: a correlation again
    t3 = np.array([[100.0, 900.0, np.nan], [120.0, np.nan, np.nan]])
    assert learned_points(~np.isnan(t3)) == 3
    assert spectral_bias_order(ks, t3, ~np.isnan(t3), 1000) == pytest.approx(
        stats.spearmanr(np.tile(ks, 2), [100, 900, 1e9, 120, 1e9, 1e9]).statistic)


# --- the three end states (docs/DEFINITIONS.md section 1: never merged, never T) -----

def _states(d, **kw):
    return learning_states(d, STEPS, eps=0.1, **kw)


def test_learned_component_has_its_time_and_no_bound():
    d = np.ones(100)
    d[40:] = 0.05
    r = _states(d)
    assert r.state == LearningState.LEARNED and r.t == STEPS[40]
    assert np.isnan(r.below_since) and r.final_delta == 0.05


def test_learned_stays_learned_when_it_rises_after_its_window():
    d = np.ones(100)
    d[30:60] = 0.05          # sustained for 30 checkpoints, then back above eps
    r = _states(d)
    assert r.state == LearningState.LEARNED and r.t == STEPS[30] and r.final_delta == 1.0


def test_crossing_in_the_last_window_is_unconfirmed_not_learned():
    d = np.ones(100)
    d[-3:] = 0.01            # three checkpoints below eps: the 5-checkpoint window cannot end
    r = _states(d)
    assert r.state == LearningState.UNCONFIRMED
    assert np.isnan(r.t)     # no time imputed, least of all T
    assert r.below_since == STEPS[-3] and r.final_delta == 0.01


def test_above_eps_at_the_end_is_not_learned_with_its_final_delta():
    d = np.linspace(1.0, 0.3, 100)
    d[20:23] = 0.05          # a dip that comes back does not count
    r = _states(d)
    assert r.state == LearningState.NOT_LEARNED and np.isnan(r.t) and np.isnan(r.below_since)
    assert r.final_delta == d[-1]


def test_states_are_batched_and_old_return_values_agree():
    d = np.ones((2, 3, 100))
    d[0, 1, 50:] = 0.0       # learned at checkpoint 50
    d[1, 2, -2:] = 0.0       # below eps only at the last two checkpoints
    r = learning_states(d, STEPS)
    expect = np.full((2, 3), LearningState.NOT_LEARNED)
    expect[0, 1], expect[1, 2] = LearningState.LEARNED, LearningState.UNCONFIRMED
    np.testing.assert_array_equal(r.state, expect)
    assert r.state.dtype == np.int8 and r.t.shape == r.below_since.shape == (2, 3)
    assert r.below_since[1, 2] == STEPS[-2] and np.isnan(r.below_since[0, 1])
    t, ok = learning_times(d, STEPS)
    np.testing.assert_array_equal(ok, r.state == LearningState.LEARNED)
    np.testing.assert_array_equal(t, r.t)


def test_every_checkpoint_below_eps_is_learned_at_the_first():
    r = _states(np.zeros(100))
    assert r.state == LearningState.LEARNED and r.t == STEPS[0]


def test_learning_states_reject_negative_window_fraction():
    with pytest.raises(ValueError, match="window_fraction"):
        learning_states(np.ones(5), np.arange(1, 6), window_fraction=-0.1)
