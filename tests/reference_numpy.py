"""An independent, deliberately plain float64 numpy version of docs/DEFINITIONS.md
section 2, to check the vectorised torch code against.

It shares nothing with ``utils.frequency``: padding by hand, ``np.fft.fft2``,
radii from ``np.hypot`` of ``np.fft.fftfreq`` and an explicit loop over bins.
"""

from __future__ import annotations

import numpy as np


def radial_spectrum_2d(img: np.ndarray, P: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``(H, W)`` array -> (energy per ring, count per ring, ring freq c/p)."""
    img = np.asarray(img, dtype=np.float64)
    padded = np.zeros((P, P))
    padded[: img.shape[0], : img.shape[1]] = img
    power = np.abs(np.fft.fft2(padded)) ** 2 / (P * P)  # "ortho" = 1/sqrt(P*P) each way
    f = np.fft.fftfreq(P)
    n_rings = int(round(np.hypot(0.5, 0.5) * P)) + 2
    energy = np.zeros(n_rings)
    count = np.zeros(n_rings, dtype=np.int64)
    for a in range(P):
        for b in range(P):
            r = int(round(np.hypot(f[a], f[b]) * P))
            energy[r] += power[a, b]
            count[r] += 1
    used = np.nonzero(count)[0].max() + 1
    return energy[:used], count[:used], np.arange(used) / P


def hff(img: np.ndarray, P: int, cutoff: float) -> float:
    img = np.asarray(img, dtype=np.float64)
    padded = np.zeros((P, P))
    padded[: img.shape[0], : img.shape[1]] = img
    power = np.abs(np.fft.fft2(padded)) ** 2
    f = np.fft.fftfreq(P)
    rho = np.hypot(f[:, None], f[None, :])
    return float(power[rho > cutoff].sum() / power.sum())
