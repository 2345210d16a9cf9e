"""Grid and target validation of Experiment A (docs/DEFINITIONS.md section 1)."""

import numpy as np
import pytest

from data.toy_data import make_target


def test_grid_excludes_endpoint_and_maps_to_unit_interval():
    t = make_target(n_points=512)
    assert t.x[0] == 0 and t.x[-1] < 2 * np.pi
    np.testing.assert_allclose(np.diff(t.x), 2 * np.pi / 512)
    assert t.u.min() == -1.0 and t.u.max() < 1.0


@pytest.mark.parametrize("freqs", [(5, 20.5, 50), (0, 5), (-3, 5), (5, 5)])
def test_rejects_bad_frequencies(freqs):
    with pytest.raises(ValueError, match="freqs"):
        make_target(freqs=freqs, n_points=1024)


def test_rejects_coarse_grid():
    with pytest.raises(ValueError, match="n_points"):
        make_target(freqs=(5, 20, 50), n_points=399)
    make_target(freqs=(5, 20, 50), n_points=400)


def test_random_phases_are_seeded():
    a = make_target(random_phase_seed=1)
    b = make_target(random_phase_seed=1)
    c = make_target(random_phase_seed=2)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.y, c.y)


def test_bad_amplitudes_are_rejected():
    with pytest.raises(ValueError, match="amplitudes"):
        make_target(amplitudes=(1.0, 0.0, 1.0))
