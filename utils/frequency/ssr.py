"""SSR, the spectral suppression ratio (docs/DEFINITIONS.md section 3).

``SSR = (E_high_before - E_high_after) / E_high_before``: positive when high
frequencies were suppressed, range ``(-inf, 1]``, NaN with a warning when
``E_high_before = 0``. Two flavours:

* ``absolute``: ``E_high`` is the raw power above the cut, summed over every
  bin with ``rho > cutoff`` and every kernel of the layer.
* ``normalized``: ``E_high`` is the HFF (high power / total power). Lead with
  it: weight penalties shrink ``||W||`` (which the absolute flavour mixes with
  a change of shape), and behind a batch norm the scale of conv1 is moot.

They are tied by ``1 - SSR_abs = (||W_after||^2 / ||W_before||^2) * (1 - SSR_norm)``,
which :meth:`SSRResult.identity_residual` checks.

Two comparisons, which only differ in the tensors passed:

* ``comparison="time"``: ``before`` = the layer at initialisation (before the
  first optimiser step, *not* after epoch 1), ``after`` = the same run at
  epoch ``t``. Training alone changes the spectrum.
* ``comparison="vs_baseline"``: ``before`` = the unregularised run,
  ``after`` = the regularised run, same epoch and seed. Only this one
  isolates the regulariser.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ._grid import as_float_array, as_real_tensor, check_cutoff, describe, high_mask, resolve_pad

__all__ = ["SSRResult", "spectral_suppression_ratio", "compute_ssr", "COMPARISONS"]

COMPARISONS = ("time", "vs_baseline")


@dataclass(frozen=True, eq=False)  # tensors/arrays have no boolean ==
class SSRResult:
    """SSR of a layer; each number is a float, or a float64 ``(T,)`` array
    when a stack of ``after`` tensors was given.

    ``e_high_*``: power above the cut (summed over kernels); ``hff_*``: HFF
    of the layer (pooled over kernels); ``norm_sq_*``: ``||W||^2``.
    """

    ssr_abs: float | np.ndarray
    ssr_norm: float | np.ndarray
    e_high_before: float
    e_high_after: float | np.ndarray
    hff_before: float
    hff_after: float | np.ndarray
    norm_sq_before: float
    norm_sq_after: float | np.ndarray
    cutoff: float
    P: int
    comparison: str

    def identity_residual(self) -> float | np.ndarray:
        """``(1 - SSR_abs) - (||W_a||^2 / ||W_b||^2) (1 - SSR_norm)``: zero up
        to rounding; log it next to both SSRs."""
        ratio = np.asarray(self.norm_sq_after) / self.norm_sq_before
        res = (1.0 - np.asarray(self.ssr_abs)) - ratio * (1.0 - np.asarray(self.ssr_norm))
        return res if res.ndim else float(res)

    def as_dict(self) -> dict:
        """JSON-ready dict (arrays become lists)."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in asdict(self).items()}


def _ratio(before: float, after: np.ndarray, what: str) -> np.ndarray:
    if not before > 0:
        warnings.warn(f"SSR: {what} before is {before}; SSR is undefined (NaN)",
                      RuntimeWarning, stacklevel=3)
        return np.full(after.shape, np.nan)
    return (before - after) / before


def _high_and_total(w: torch.Tensor, P: int, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Per stack entry (dim 0): high-band power and total power, float64."""
    F = torch.fft.fft2(w, s=(P, P), norm="ortho")
    S = (F.real.square() + F.imag.square()).reshape(w.shape[0], -1, P, P).sum(dim=1)
    high = (S * high_mask(P, cutoff, S.device, S.dtype)).sum(dim=(-2, -1))
    return high.cpu().numpy(), S.sum(dim=(-2, -1)).cpu().numpy()


def spectral_suppression_ratio(before, after, cutoff: float = 0.25, pad_to=None,
                               comparison: str = "time") -> SSRResult:
    """SSR of a layer's weights, both flavours, in float64 (docs/DEFINITIONS.md 3).

    Args:
        before: real ``(..., k, k)`` weights, e.g. conv1 at initialisation
            (``comparison="time"``) or in the baseline run
            (``comparison="vs_baseline"``).
        after: same shape as ``before``, or ``(T, *before.shape)`` for a stack
            (e.g. one entry per epoch); the results then have shape ``(T,)``.
        cutoff: radius in c/p; power in bins with ``rho > cutoff`` is "high".
        pad_to: FFT size ``P >= k``, the layer's input resolution (32 for a
            CIFAR conv1); default ``max(k_h, k_w)``.
        comparison: ``"time"`` or ``"vs_baseline"``; a label echoed in the
            result so that logs say which comparison a number is.

    Returns:
        :class:`SSRResult`. NaN (with a RuntimeWarning) where the high-band
        power or the norm of ``before`` is zero.
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison: expected one of {COMPARISONS}, got {describe(comparison)}")
    c = check_cutoff(cutoff)
    b = as_real_tensor(before, "before", 2, torch.float64)
    a = as_real_tensor(after, "after", 2, torch.float64)
    if a.shape == b.shape:
        stacked = False
        a = a.unsqueeze(0)
    elif a.shape[1:] == b.shape:
        stacked = True
    else:
        raise ValueError(f"after: expected shape {tuple(b.shape)} or (T, *{tuple(b.shape)}), "
                         f"got {tuple(a.shape)}")
    a = a.to(b.device)
    P = resolve_pad(pad_to, b.shape[-2], b.shape[-1])
    eb, tb = (float(v[0]) for v in _high_and_total(b.unsqueeze(0), P, c))
    ea, ta = _high_and_total(a, P, c)
    nb = float(b.square().sum())
    na = a.reshape(a.shape[0], -1).square().sum(dim=1).cpu().numpy()
    hb = eb / tb if tb > 0 else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        ha = ea / ta
    ssr_abs = _ratio(eb, ea, "high-band power")
    ssr_norm = _ratio(hb, ha, "high-frequency fraction")

    def out(v):
        return v if stacked else float(v[0])

    return SSRResult(ssr_abs=out(ssr_abs), ssr_norm=out(ssr_norm), e_high_before=eb,
                     e_high_after=out(ea), hff_before=hb, hff_after=out(ha),
                     norm_sq_before=nb, norm_sq_after=out(na), cutoff=c, P=P,
                     comparison=comparison)


def _as_profile(s, name: str) -> np.ndarray:
    s = as_float_array(s, name)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"{name}: expected a 1D radial spectrum with >= 2 rings, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: contains non-finite values")
    if np.any(s < 0):
        raise ValueError(f"{name}: a power spectrum must be >= 0, got a minimum of {s.min():.4g}")
    return s


def compute_ssr(spectrum_before, spectrum_after, high_freq_threshold: float = 0.5, *,
                frequencies=None, counts=None) -> tuple[float, float, float]:
    """Seed-compatible SSR on two 1D radial spectra on one frequency axis.

    ``ssr, energy_before, energy_after = compute_ssr(s_before, s_after, 0.5)``

    The high band is every ring whose frequency is at or above
    ``high_freq_threshold * f_max``, ``f_max`` the axis's highest frequency.
    Without ``frequencies`` the axis is taken as equally spaced from 0 (what
    :func:`get_radial_spectrum` returns: ring ``i`` at ``i / P``), so ring
    ``i`` of ``R`` is high when ``i >= threshold * (R - 1)``.

    How the band "energy" is formed: :func:`get_radial_spectrum` returns the
    *mean* power per ring and no counts, so by default this sums the mean
    power of the high rings (the seed's behaviour). That weights every ring
    equally; it is not the energy, since outer rings hold more bins. Pass
    ``counts`` (:func:`ring_counts` of ``P``) to weight by bins and get the
    physical energy ``sum count_r * mean_power_r`` -- the same per-ring energy
    :class:`RadialSpectrum` holds. For the exact per-bin cut and both SSR
    flavours use :func:`spectral_suppression_ratio` on the weights.

    Args:
        spectrum_before, spectrum_after: ``(R,)`` non-negative mean power per
            ring (or energy per ring, with ``counts`` left out).
        high_freq_threshold: fraction of ``f_max``, ``0 < t <= 1``.
        frequencies: optional ``(R,)`` ring frequencies (c/p).
        counts: optional ``(R,)`` bins per ring.

    Returns:
        ``(ssr, energy_before, energy_after)`` floats; ``ssr`` is NaN with a
        RuntimeWarning when ``energy_before`` is 0.
    """
    sb = _as_profile(spectrum_before, "spectrum_before")
    sa = _as_profile(spectrum_after, "spectrum_after")
    if sb.shape != sa.shape:
        raise ValueError(f"spectrum_after: expected shape {sb.shape} like spectrum_before, got {sa.shape}")
    try:
        t = float(high_freq_threshold)
    except (TypeError, ValueError):
        raise ValueError(f"high_freq_threshold: expected a number, got {describe(high_freq_threshold)}") from None
    if not 0.0 < t <= 1.0:
        raise ValueError(f"high_freq_threshold: expected a fraction of the highest frequency in "
                         f"(0, 1], got {describe(high_freq_threshold)}")
    if frequencies is None:
        f = np.arange(sb.size, dtype=np.float64)
    else:
        f = as_float_array(frequencies, "frequencies")
        if f.shape != sb.shape or not np.all(np.isfinite(f)) or np.any(np.diff(f) <= 0):
            raise ValueError(f"frequencies: expected {sb.shape} increasing finite values, got {describe(f)}")
    w = np.ones_like(sb)
    if counts is not None:
        w = as_float_array(counts, "counts")
        if w.shape != sb.shape or np.any(w <= 0):
            raise ValueError(f"counts: expected {sb.shape} positive bin counts, got {describe(w)}")
    # A relative tolerance so that t = 1 keeps the top ring despite rounding.
    high = f >= t * f[-1] * (1 - 1e-12)
    eb = float(np.sum(w[high] * sb[high]))
    ea = float(np.sum(w[high] * sa[high]))
    ssr = float(_ratio(eb, np.asarray([ea]), "high-band energy")[0])
    return ssr, eb, ea
