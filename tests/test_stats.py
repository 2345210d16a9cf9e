"""Intervals over seeds."""

import numpy as np
import pytest
from scipy import stats as st

from utils.stats import mean_ci, summarize


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
    assert s["lo"] == s["hi"] == s["mean"] == 0.5 and s["n"] == 1
