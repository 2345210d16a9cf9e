"""Known answers for Fourier coefficients off the full grid (docs/DEFINITIONS.md 12):
sub-grid DFT and least squares on the Fourier basis."""

import numpy as np
import pytest

from data.toy_data import make_target
from utils.frequency import (dft_coefficients, fourier_coefficients_lstsq, relative_error,
                             subgrid_dft_coefficients)

N = 64
KMAX = 12          # band limit of the random test signal: below every sub-grid's Nyquist


def _signal(x, a, b):
    k = np.arange(a.size)
    return (a[:, None] * np.cos(np.outer(k, x)) + b[:, None] * np.sin(np.outer(k, x))).sum(0)


@pytest.fixture
def band_limited():
    """A random trigonometric polynomial of degree KMAX, its exact coefficients
    in the DFT convention of the N-grid (N c0; (N/2)(a_k - i b_k)), and x."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=KMAX + 1), rng.normal(size=KMAX + 1)
    b[0] = 0.0
    exact = np.where(np.arange(KMAX + 1) == 0, N * a, 0.5 * N * (a - 1j * b))
    return a, b, exact


def test_lstsq_on_the_full_grid_reproduces_the_dft(band_limited):
    a, b, exact = band_limited
    x = 2 * np.pi * np.arange(N) / N
    s = _signal(x, a, b)
    ks = np.arange(KMAX + 1)
    np.testing.assert_allclose(dft_coefficients(s, ks), exact, atol=1e-11)
    np.testing.assert_allclose(fourier_coefficients_lstsq(x, s, ks), dft_coefficients(s, ks),
                               atol=1e-11)
    # the project's target: with a basis up to N/2 - 1, the full-grid fit is the DFT
    t = make_target((3, 7), N)
    ks = np.array([0, 3, 5, 7])
    np.testing.assert_allclose(fourier_coefficients_lstsq(x, t.y, ks, basis_ks=np.arange(N // 2)),
                               dft_coefficients(t.y, ks), atol=1e-11)


@pytest.mark.parametrize("offset", [0, 1])
def test_even_and_odd_subgrids_recover_the_full_grid_coefficients(band_limited, offset):
    a, b, exact = band_limited
    x = 2 * np.pi * np.arange(N) / N
    s = _signal(x, a, b)
    ks = np.arange(KMAX + 1)
    sub = subgrid_dft_coefficients(s[offset::2], ks, stride=2, offset=offset, n_grid=N)
    np.testing.assert_allclose(sub, exact, atol=1e-11)
    fit = fourier_coefficients_lstsq(x[offset::2], s[offset::2], ks, n_grid=N)
    np.testing.assert_allclose(fit, exact, atol=1e-11)


def test_fft_of_the_odd_points_alone_is_wrong(band_limited):
    # the trap the sub-grid DFT avoids: the offset phase exp(-i k 2 pi / N)
    a, b, exact = band_limited
    x = 2 * np.pi * np.arange(N) / N
    s = _signal(x, a, b)
    naive = np.fft.fft(s[1::2])[1:KMAX + 1] * 2
    assert np.abs(naive - exact[1:]).max() > 1.0


def test_random_points_recover_known_coefficients(band_limited):
    a, b, exact = band_limited
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 2 * np.pi, 40)           # 40 points, 25 basis functions
    ks = np.array([0, 3, KMAX])
    fit = fourier_coefficients_lstsq(x, _signal(x, a, b), ks, basis_ks=np.arange(KMAX + 1),
                                     n_grid=N)
    np.testing.assert_allclose(fit, exact[ks], atol=1e-10)


def test_heldout_metrics_of_the_target_against_itself_and_a_phase_shift():
    # Delta measured on the held-out odd points of the project's target
    t = make_target((3, 7), N)
    shifted = make_target((3, 7), N, phases=(0.5, 0.5))
    ks = t.freqs
    Y = subgrid_dft_coefficients(t.y[1::2], ks, 2, 1)
    H = subgrid_dft_coefficients(shifted.y[1::2], ks, 2, 1)
    np.testing.assert_allclose(relative_error(H, Y), 2 * np.sin(0.25), rtol=1e-12)


def test_leading_dimensions_are_fitted_independently(band_limited):
    a, b, exact = band_limited
    x = 2 * np.pi * np.arange(N) / N
    s = _signal(x, a, b)
    batch = np.stack([[s, 2 * s], [-s, 0 * s]])                  # (2, 2, N)
    ks = np.array([1, 4])
    fit = fourier_coefficients_lstsq(x[::2], batch[..., ::2], ks, n_grid=N)
    sub = subgrid_dft_coefficients(batch[..., ::2], ks, 2, 0, n_grid=N)
    want = np.array([[1, 2], [-1, 0]])[..., None] * exact[ks]
    assert fit.shape == sub.shape == (2, 2, 2)
    np.testing.assert_allclose(fit, want, atol=1e-10)
    np.testing.assert_allclose(sub, want, atol=1e-10)


def test_default_convention_is_the_number_of_points_given(band_limited):
    a, b, exact = band_limited
    x = 2 * np.pi * np.arange(N) / N
    s = _signal(x, a, b)
    ks = np.arange(KMAX + 1)
    # M = N / 2 points: coefficients in the M-grid convention, half the N-grid ones
    np.testing.assert_allclose(subgrid_dft_coefficients(s[::2], ks, 2, 0), exact / 2, atol=1e-11)
    np.testing.assert_allclose(fourier_coefficients_lstsq(x[::2], s[::2], ks), exact / 2,
                               atol=1e-11)


def test_bad_input_raises_valueerror_naming_the_argument():
    x = 2 * np.pi * np.arange(16) / 16
    s = np.sin(x)
    # too few points for the basis
    with pytest.raises(ValueError, match="x: the 8 points cannot separate"):
        fourier_coefficients_lstsq(x[::2], s[::2], [1], basis_ks=np.arange(5), n_grid=16)
    # enough points, but on the even sub-grid k = 7 aliases onto k = 1
    with pytest.raises(ValueError, match="x: the 8 points cannot separate"):
        fourier_coefficients_lstsq(x[::2], s[::2], [1], basis_ks=[1, 7], n_grid=16)
    with pytest.raises(ValueError, match="basis_ks"):
        fourier_coefficients_lstsq(x, s, [1], basis_ks=[8])
    with pytest.raises(ValueError, match="ks"):
        fourier_coefficients_lstsq(x, s, [3], basis_ks=[1, 2])
    with pytest.raises(ValueError, match="values"):
        fourier_coefficients_lstsq(x, s[:-1], [1])
    with pytest.raises(ValueError, match="x"):
        fourier_coefficients_lstsq(np.full(16, np.nan), s, [1])
    with pytest.raises(ValueError, match="ks"):
        subgrid_dft_coefficients(s[::2], [4], 2, 0)
    with pytest.raises(ValueError, match="offset"):
        subgrid_dft_coefficients(s[::2], [1], 2, 2)
    with pytest.raises(ValueError, match="stride"):
        subgrid_dft_coefficients(s[::2], [1], 0, 0)
    with pytest.raises(ValueError, match="n_grid"):
        subgrid_dft_coefficients(s[::2], [1], 2, 0, n_grid=1)
