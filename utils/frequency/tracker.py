"""Track conv layers' weight spectra during your own training loop
(docs/DEFINITIONS.md sections 2 and 3).

    tracker = SpectrumTracker(model, layers=("conv1",), input_shape=(3, 32, 32))
    tracker.snapshot(0)                 # at initialisation, before any step
    for step in ...:
        ...optimiser step...
        tracker.snapshot(step)
    tracker.ssr()["conv1"].ssr_norm     # (T,) SSR against the first snapshot
    np.savez("spectra.npz", **tracker.as_arrays())

SSR's "before" is the first snapshot: take it at initialisation (docs/DEFINITIONS.md
3), not after the first epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._eval import check_finite_weight
from ._grid import check_cutoff, describe, high_mask, ring_sum
from .layers import _select, check_input_shape, conv_input_resolutions, kernel_fft_size
from .spectrum import power_spectrum_2d, ring_counts, ring_frequencies
from .ssr import SSRResult, spectral_suppression_ratio

__all__ = ["SpectrumTracker"]


class SpectrumTracker:
    """Radial spectrum and HFF of chosen conv layers at chosen steps.

    Args:
        model: the network being trained (read only: a snapshot copies the
            weights and changes nothing, not even the train/eval mode).
        layers: conv names (``("conv1",)``), one name, or ``None`` for every
            ``nn.Conv2d``.
        input_shape: one input image's ``(C, H, W)``; each layer's kernels
            are padded to the resolution of its input for these images (one
            forward pass of a zero image, at construction).
        cutoff: HFF / SSR radius in c/p (0.25 by default, as experiment B).
        keep_weights: keep every snapshot's weights (True), which
            :meth:`ssr` and :meth:`as_arrays` need, or only the latest one's
            (False: a training loop that saves its own history per epoch,
            like experiment B, reads :meth:`latest`).

    Memory: each snapshot keeps a CPU copy of the tracked weights (float32,
    or float64 for a float64 model), so that SSR can be taken afterwards;
    ResNet-18's conv1 is 1,728 numbers, all its convs about 11 M.
    """

    def __init__(self, model: nn.Module, layers=("conv1",), *, input_shape, cutoff: float = 0.25,
                 keep_weights: bool = True):
        self.layers = _select(model, layers)
        self.input_shape = check_input_shape(input_shape)
        self.cutoff = check_cutoff(cutoff)
        res = conv_input_resolutions(model, self.input_shape)
        absent = [n for n in self.layers if n not in res]
        if absent:
            raise ValueError(f"layers: {absent} do not run in a forward pass of a "
                             f"{self.input_shape} image")
        self.P = {n: kernel_fft_size(conv, res[n]) for n, conv in self.layers.items()}
        if not isinstance(keep_weights, bool):
            raise ValueError(f"keep_weights: expected True or False, got {describe(keep_weights)}")
        self.keep_weights = keep_weights
        self.steps: list[int] = []
        self._weights: dict[str, list[torch.Tensor]] = {n: [] for n in self.layers}
        self._energy: dict[str, list[np.ndarray]] = {n: [] for n in self.layers}
        self._hff: dict[str, list[float]] = {n: [] for n in self.layers}
        self._ssr: tuple[int, dict[str, SSRResult]] | None = None

    def snapshot(self, step: int) -> dict[str, float]:
        """Record every tracked layer now; returns ``{name: HFF}``. ``step``:
        an int, larger than the previous snapshot's."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step: expected an int >= 0, got {describe(step)}")
        if self.steps and step <= self.steps[-1]:
            raise ValueError(f"step: expected more than the last snapshot's {self.steps[-1]}, "
                             f"got {step}")
        out = {}
        # every layer checked before any is recorded: a refused snapshot
        # leaves the record as it was
        weights = {name: check_finite_weight(conv, name) for name, conv in self.layers.items()}
        with torch.no_grad():
            for name, w in weights.items():
                w = w.to("cpu", torch.float64 if w.dtype == torch.float64 else torch.float32,
                         copy=True)
                energy, hff = self._measure(w, self.P[name])
                if not self.keep_weights:
                    self._weights[name].clear()
                self._weights[name].append(w)
                self._energy[name].append(energy)
                self._hff[name].append(hff)
                out[name] = hff
        self.steps.append(int(step))
        return out

    def _measure(self, w: torch.Tensor, P: int) -> tuple[np.ndarray, float]:
        """Ring energies and HFF of the kernel bank from one FFT: the steps of
        ``radial_power_spectrum(..., reduce="mean")`` and
        ``high_frequency_fraction(..., reduce="mean")`` in float64 on the
        power averaged over kernels (one FFT instead of two: on ResNet-18's
        last stage, 262,144 kernels, the FFT is the whole cost)."""
        S = power_spectrum_2d(w, pad_to=P, dtype=torch.float64).reshape(-1, P, P).mean(dim=0)
        energy = ring_sum(S)
        hff = (S * high_mask(P, self.cutoff, S.device, S.dtype)).sum() / S.sum()
        return energy.numpy(), float(hff)

    def _require(self) -> None:
        if not self.steps:
            raise ValueError("snapshot: no snapshot taken yet; call tracker.snapshot(0) at "
                             "initialisation first")

    def latest(self) -> dict[str, dict]:
        """The latest snapshot per layer: ``{name: {"weight", "energy",
        "hff"}}`` (a CPU copy of the weight as a numpy array, the ``(R,)``
        ring energies of :meth:`energy`, the HFF)."""
        self._require()
        return {n: {"weight": self._weights[n][-1].numpy(), "energy": self._energy[n][-1],
                    "hff": self._hff[n][-1]} for n in self.layers}

    def hff(self) -> dict[str, np.ndarray]:
        """``{name: (T,) HFF}``, pooled over kernels, one per snapshot."""
        self._require()
        return {n: np.asarray(v, dtype=np.float64) for n, v in self._hff.items()}

    def energy(self) -> dict[str, np.ndarray]:
        """``{name: (T, R) energy per ring}`` (power averaged over kernels);
        ``mean_power = energy / ring_counts(P)``."""
        self._require()
        return {n: np.stack(v) for n, v in self._energy.items()}

    def ssr(self) -> dict[str, SSRResult]:
        """SSR of every snapshot against the first (``comparison="time"``),
        both flavours: ``ssr_abs`` and ``ssr_norm`` are ``(T,)`` arrays (0 at
        the first snapshot), from :func:`spectral_suppression_ratio`."""
        self._require()
        if not self.keep_weights:
            raise ValueError("keep_weights: SSR needs every snapshot's weights; build the "
                             "tracker with keep_weights=True")
        # Kept until the next snapshot: as_arrays() needs it too, and on all
        # of ResNet-18's convs it costs about a second per snapshot.
        if self._ssr is None or self._ssr[0] != len(self.steps):
            self._ssr = (len(self.steps), {
                n: spectral_suppression_ratio(w[0], torch.stack(w), cutoff=self.cutoff,
                                              pad_to=self.P[n], comparison="time")
                for n, w in self._weights.items()})
        return dict(self._ssr[1])

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays for ``np.savez``: ``steps`` (T,), ``cutoff``, and
        per layer ``<name>/weight`` (T, ...), ``/energy`` and ``/mean_power``
        (T, R), ``/frequency`` and ``/count`` (R,), ``/P``, ``/hff``,
        ``/ssr_abs`` and ``/ssr_norm`` (T,)."""
        self._require()
        out = {"steps": np.asarray(self.steps, dtype=np.int64),
               "cutoff": np.float64(self.cutoff)}
        energy, hff, ssr = self.energy(), self.hff(), self.ssr()
        for n in self.layers:
            P = self.P[n]
            counts = ring_counts(P)
            out[f"{n}/weight"] = torch.stack(self._weights[n]).numpy()
            out[f"{n}/energy"] = energy[n]
            out[f"{n}/mean_power"] = energy[n] / counts
            out[f"{n}/frequency"] = ring_frequencies(P)
            out[f"{n}/count"] = counts
            out[f"{n}/P"] = np.int64(P)
            out[f"{n}/hff"] = hff[n]
            out[f"{n}/ssr_abs"] = np.asarray(ssr[n].ssr_abs, dtype=np.float64)
            out[f"{n}/ssr_norm"] = np.asarray(ssr[n].ssr_norm, dtype=np.float64)
        return out
