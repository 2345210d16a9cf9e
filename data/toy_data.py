"""The 1D target of Experiment A on its periodic grid (docs/DEFINITIONS.md section 1).

``y(x) = sum_k A_k sin(k x + phi_k)`` sampled at ``x_j = 2 pi j / N``,
``j = 0..N-1`` (endpoint excluded). With whole-number ``k`` every component
falls exactly in DFT bin ``k``: nothing leaks (largest off-bin value at
rounding level, ~1e-15). The network sees ``u = x / pi - 1`` in ``[-1, 1)``.

Validation rejects non-integer frequencies and grids with ``N < 8 k_max``
(docs/DEFINITIONS.md: ``N = 512`` is enough for ``k_max = 50``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ToyTarget:
    """Target sampled on the periodic grid.

    Attributes:
        x: float64 ``(N,)`` grid ``2 pi j / N``.
        u: float64 ``(N,)`` network input ``x / pi - 1`` in ``[-1, 1)``.
        y: float64 ``(N,)`` target values.
        freqs: int ``(K,)`` target frequencies (cycles per period).
        amplitudes: ``(K,)``; phases: ``(K,)`` radians.
    """

    x: np.ndarray
    u: np.ndarray
    y: np.ndarray
    freqs: np.ndarray
    amplitudes: np.ndarray
    phases: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.x.size)

    def tensors(self, device="cpu", dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, y)`` as ``(N, 1)`` tensors for training."""
        u = torch.as_tensor(self.u, dtype=dtype, device=device).unsqueeze(-1)
        y = torch.as_tensor(self.y, dtype=dtype, device=device).unsqueeze(-1)
        return u, y


def validate_grid(freqs, n_points: int) -> np.ndarray:
    """Check frequencies are positive whole numbers and ``N >= 8 * k_max``.

    Returns the frequencies as an int array; raises ``ValueError`` otherwise."""
    f = np.asarray(freqs, dtype=np.float64).ravel()
    if f.size == 0:
        raise ValueError("freqs: expected at least one frequency, got none")
    if not np.all(np.isfinite(f)) or np.any(f != np.round(f)) or np.any(f < 1):
        raise ValueError(f"freqs: expected positive whole numbers (cycles per period), got {list(freqs)}")
    if len(set(f.tolist())) != f.size:
        raise ValueError(f"freqs: expected distinct frequencies, got {list(freqs)}")
    if int(n_points) != n_points or n_points < 8 * f.max():
        raise ValueError(f"n_points: expected a whole number >= 8 * k_max = {int(8 * f.max())}, "
                         f"got {n_points}")
    return f.astype(np.int64)


def make_target(freqs=(5, 20, 50), n_points: int = 512, amplitudes=None, phases=None,
                random_phase_seed: int | None = None) -> ToyTarget:
    """Build the target on the periodic grid.

    Args:
        freqs: whole-number frequencies ``k``.
        n_points: grid size ``N`` (``>= 8 * max(k)``).
        amplitudes: ``A_k`` (default all 1); must be non-zero.
        phases: ``phi_k`` in radians (default all 0).
        random_phase_seed: if given (and ``phases`` is None), draw
            ``phi_k ~ U[0, 2 pi)`` from this seed (an option in docs/DEFINITIONS.md).
    """
    k = validate_grid(freqs, n_points)
    amp = np.ones(k.size) if amplitudes is None else np.asarray(amplitudes, dtype=np.float64)
    if amp.shape != k.shape or np.any(amp == 0) or not np.all(np.isfinite(amp)):
        raise ValueError(f"amplitudes: expected {k.size} finite non-zero values, got {amplitudes}")
    if phases is None and random_phase_seed is not None:
        phases = np.random.default_rng(random_phase_seed).uniform(0, 2 * math.pi, k.size)
    ph = np.zeros(k.size) if phases is None else np.asarray(phases, dtype=np.float64)
    if ph.shape != k.shape or not np.all(np.isfinite(ph)):
        raise ValueError(f"phases: expected {k.size} finite values, got {phases}")
    x = 2 * math.pi * np.arange(n_points) / n_points
    y = (amp[:, None] * np.sin(k[:, None] * x[None, :] + ph[:, None])).sum(0)
    return ToyTarget(x=x, u=x / math.pi - 1.0, y=y, freqs=k, amplitudes=amp, phases=ph)
