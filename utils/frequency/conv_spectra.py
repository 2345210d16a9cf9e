"""Per-filter normalised spectra of conv kernels (docs/DEFINITIONS.md section 2.4).

A batch-norm layer after a conv makes the network invariant to each output
channel's scale, so a measure that weights filters by their norm (the
pooled kernel-bank spectrum of section 2.1) can move without the function
moving, and can stay put while the function changes. Here every filter
``w_o`` (all its input channels) is summarised by the fraction of its own
power in each ring:

    S_o = sum_i |fft2(w_oi, s=(P, P), norm="ortho")|^2,
    fraction_o(r) = sum_{bins in ring r} S_o / sum S_o,
    hff_o = sum_{rho > cutoff} S_o / sum S_o,

which no positive rescaling of ``w_o`` changes. Kernels are padded to the
layer's input resolution, as everywhere in this package. The layer's
summary is the plain mean over its filters (each filter one vote).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._eval import check_finite_weight, check_model
from ._grid import as_real_tensor, check_cutoff, high_mask, resolve_pad, ring_sum
from .layers import _select, check_input_shape, conv_input_resolutions, kernel_fft_size
from .spectrum import ring_counts, ring_frequencies

__all__ = ["FilterSpectra", "filter_spectra", "conv_filter_spectra"]


@dataclass(frozen=True, eq=False)
class FilterSpectra:
    """Scale-free spectra of one conv layer's filters (``O`` filters, ``R`` rings).

    Attributes (float64 numpy):
        fraction: ``(O, R)`` each filter's power per ring over its total;
            rows sum to 1. NaN rows for dead filters (all weights zero).
        hff: ``(O,)`` each filter's power above ``cutoff`` over its total.
        mean_fraction: ``(R,)`` mean of ``fraction`` over live filters.
        mean_hff: mean of ``hff`` over live filters (NaN if none is live).
        frequency: ``(R,)`` ring centres ``r / P`` in c/p.
        count: ``(R,)`` int64 bins per ring.
        P: FFT size (the layer's input resolution).
        cutoff: the HFF radius in c/p.
        dead: number of all-zero filters (left out of the means).
    """

    fraction: np.ndarray
    hff: np.ndarray
    mean_fraction: np.ndarray
    mean_hff: float
    frequency: np.ndarray
    count: np.ndarray
    P: int
    cutoff: float
    dead: int

    def to_numpy(self) -> dict:
        """Plain arrays for ``np.savez``."""
        return {"fraction": self.fraction, "hff": self.hff, "mean_fraction": self.mean_fraction,
                "mean_hff": np.float64(self.mean_hff), "frequency": self.frequency,
                "count": self.count, "P": np.int64(self.P), "cutoff": np.float64(self.cutoff),
                "dead": np.int64(self.dead)}


def filter_spectra(weight, pad_to=None, cutoff: float = 0.25) -> FilterSpectra:
    """Per-filter normalised radial spectra of a kernel bank.

    Args:
        weight: ``(C_out, C_in, k, k)`` conv weights (tensor, array or an
            ``nn.Conv2d``'s ``.weight``), finite.
        pad_to: FFT size ``P >= k``: the resolution of the layer's input
            (32 for CIFAR's conv1). Default ``k`` (the bare kernel grid,
            only a few rings: pass the resolution).
        cutoff: HFF radius in c/p, in ``[0, 0.707)``.

    Returns:
        :class:`FilterSpectra`, computed in float64.
    """
    if isinstance(weight, nn.Module):
        raise TypeError(f"weight: expected a weight tensor (C_out, C_in, k, k), got a "
                        f"{type(weight).__name__} module (pass module.weight)")
    w = as_real_tensor(weight, "weight", 4, torch.float64)
    if w.ndim != 4:
        raise ValueError(f"weight: expected conv weights (C_out, C_in, k, k), got shape "
                         f"{tuple(w.shape)}")
    c = check_cutoff(cutoff)
    P = resolve_pad(pad_to, w.shape[-2], w.shape[-1])
    F = torch.fft.fft2(w, s=(P, P), norm="ortho")
    S = (F.real.square() + F.imag.square()).sum(dim=1)  # (O, P, P): power over input channels
    total = S.sum(dim=(-2, -1))
    live = total > 0
    scale = torch.where(live, total, torch.full_like(total, float("nan")))
    fraction = (ring_sum(S) / scale[:, None]).cpu().numpy()
    hff = ((S * high_mask(P, c, S.device, S.dtype)).sum(dim=(-2, -1)) / scale).cpu().numpy()
    n_live = int(live.sum())
    if n_live:
        mean_fraction = fraction[live.cpu().numpy()].mean(axis=0)
        mean_hff = float(hff[live.cpu().numpy()].mean())
    else:
        mean_fraction = np.full(fraction.shape[1], np.nan)
        mean_hff = float("nan")
    return FilterSpectra(fraction=fraction, hff=hff, mean_fraction=mean_fraction,
                         mean_hff=mean_hff, frequency=ring_frequencies(P), count=ring_counts(P),
                         P=P, cutoff=c, dead=int(w.shape[0]) - n_live)


def conv_filter_spectra(model, input_shape, layers=None, *, cutoff: float = 0.25
                        ) -> dict[str, FilterSpectra]:
    """:func:`filter_spectra` of every (or each chosen) ``nn.Conv2d`` of any
    model, each padded to its layer's input resolution for images of
    ``input_shape = (C, H, W)`` (one forward pass of a zero image in eval
    mode; nothing in the model changes).

    Args:
        model: any ``nn.Module`` with at least one ``nn.Conv2d``.
        input_shape: one input image's ``(C, H, W)``.
        layers: ``None`` (every conv), a name or a list of names.
        cutoff: HFF radius in c/p.

    Returns:
        ``{name: FilterSpectra}`` in module order; ``name`` ``"conv1"`` is
        the first-layer measure that batch norm cannot fake.
    """
    check_model(model)
    shape = check_input_shape(input_shape)
    chosen = _select(model, layers)
    if not chosen:
        raise ValueError(f"model: {type(model).__name__} has no nn.Conv2d layers")
    weights = {name: check_finite_weight(conv, name) for name, conv in chosen.items()}
    res = conv_input_resolutions(model, shape)
    out = {}
    for name, conv in chosen.items():
        if name not in res:
            raise ValueError(f"layers: {name!r} does not run in a forward pass of a {shape} image")
        out[name] = filter_spectra(weights[name], pad_to=kernel_fft_size(conv, res[name]),
                                   cutoff=cutoff)
    return out
