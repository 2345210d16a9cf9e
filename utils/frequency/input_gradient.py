"""The input-gradient spectrum of a classifier (docs/DEFINITIONS.md 2.5): a
function-level measure of which frequencies a network is sensitive to.

For each image ``x`` with label ``y`` (given, or the predicted class), the
gradient ``g = d log p_y(x) / dx`` of the log-softmax probability with
respect to the model's input, ``(C, H, W)``. Its power spectrum
``|fft2(g, norm="ortho")|^2`` says how much a small perturbation at each
frequency moves the model's confidence: the image analogue of experiment A's
per-frequency view. Unlike conv1's kernel spectrum it is not blind to a
batch norm behind the layer, and it sees every layer.

* ``mean_power``/``energy``: the radial spectrum (the library's ring binning,
  :func:`utils.frequency.radial_power_spectrum`) of the power averaged over
  images and channels.
* ``hff_per_image``: per image, the fraction of the gradient's power (summed
  over channels) in FFT bins with ``rho > cutoff`` -- the same per-bin
  convention as :func:`utils.frequency.high_frequency_fraction`.
* ``hff``: the mean of ``hff_per_image`` (every image weighs the same,
  whatever its gradient's norm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._eval import check_batch_size, check_model, model_dtype_device, resolve_device
from ._grid import as_real_tensor, check_cutoff, high_mask
from .spectrum import power_spectrum_2d, radial_power_spectrum, ring_counts, ring_frequencies

__all__ = ["InputGradientSpectrum", "input_gradient_spectrum"]


@dataclass(frozen=True, eq=False)
class InputGradientSpectrum:
    """float64 numpy arrays; ``R`` rings of a ``P x P`` grid, ``B`` images.

    Attributes:
        frequency: ``(R,)`` ring centres in c/p.
        energy: ``(R,)`` power per ring, averaged over images and channels.
        count: ``(R,)`` bins per ring.
        mean_power: ``(R,)`` ``energy / count``: the profile to plot.
        hff: mean of ``hff_per_image``.
        hff_per_image: ``(B,)`` HFF of each image's gradient (NaN where the
            gradient is exactly zero).
        cutoff: the HFF cut in c/p.
        P: the grid size.
    """

    frequency: np.ndarray
    energy: np.ndarray
    count: np.ndarray
    mean_power: np.ndarray
    hff: float
    hff_per_image: np.ndarray
    cutoff: float
    P: int


def _check_images(images) -> torch.Tensor:
    x = as_real_tensor(images, "images", 4)  # NaN/inf, empty, complex, < 4 dims -> ValueError
    if x.ndim != 4:
        raise ValueError(f"images: expected shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"images: expected square images (B, C, P, P), got {tuple(x.shape)}")
    return x


def _check_labels(labels, n: int, classes: int) -> torch.Tensor:
    if isinstance(labels, torch.Tensor):
        t = labels.detach().cpu()
    else:
        arr = np.asarray(labels)
        if arr.dtype == object:
            raise ValueError(f"labels: expected {n} integer class labels, got {labels!r}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool or tuple(t.shape) != (n,):
        raise ValueError(f"labels: expected {n} integer class labels, shape ({n},), got "
                         f"{t.dtype} {tuple(t.shape)}")
    t = t.to(torch.int64)
    if n and (int(t.min()) < 0 or int(t.max()) >= classes):
        raise ValueError(f"labels: expected classes in [0, {classes}) (the model's outputs), got "
                         f"values in [{int(t.min())}, {int(t.max())}]")
    return t


def input_gradient_spectrum(model, images, labels=None, *, cutoff: float = 0.25,
                            batch_size: int = 256, device=None) -> InputGradientSpectrum:
    """Radial power spectrum and HFF of ``d log p_y / dx`` over ``images``.

    Args:
        model: any ``nn.Module`` mapping ``(N, C, P, P)`` inputs (as given
            here: pass images normalised the way the model expects) to
            logits ``(N, classes)``. It runs in eval mode (dropout off,
            batch-norm statistics frozen); its mode is restored after, and
            its parameters' ``.grad`` are left untouched.
        images: ``(B, C, P, P)`` finite float inputs, B >= 1.
        labels: ``(B,)`` integer classes in ``[0, classes)``, or ``None`` for
            the model's own prediction per image.
        cutoff: HFF cut in c/p, ``0 <= cutoff < 0.707``.
        batch_size: images per forward/backward pass.
        device: where the model runs; default its parameters' device.

    Returns:
        :class:`InputGradientSpectrum`.
    """
    check_model(model)
    x = _check_images(images)
    c = check_cutoff(cutoff)
    bs = check_batch_size(batch_size)
    dev = resolve_device(device, model)
    dtype = model_dtype_device(model)[0]
    B, P = x.shape[0], x.shape[-1]
    high = high_mask(P, c, torch.device("cpu"), torch.float64)
    energy = torch.zeros(ring_counts(P).size, dtype=torch.float64)
    hff = np.empty(B)
    y_all = None
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            for i in range(0, B, bs):
                xb = x[i:i + bs].to(dev, dtype).requires_grad_(True)
                logits = model(xb)
                if (not isinstance(logits, torch.Tensor) or logits.ndim != 2
                        or logits.shape[0] != xb.shape[0]):
                    raise ValueError(f"model: expected logits (N, classes) for N = {xb.shape[0]} "
                                     f"inputs, got {type(logits).__name__} "
                                     f"{tuple(getattr(logits, 'shape', ()))}")
                if y_all is None and labels is not None:
                    y_all = _check_labels(labels, B, logits.shape[1])
                yb = (logits.detach().argmax(1) if y_all is None
                      else y_all[i:i + bs].to(logits.device))
                logp = torch.log_softmax(logits.double(), dim=1)
                sel = logp.gather(1, yb.view(-1, 1)).sum()
                (g,) = torch.autograd.grad(sel, xb)
                g = g.detach().to("cpu", torch.float64)
                # the library's ring binning: power averaged over this batch's images and channels
                energy += radial_power_spectrum(g, reduce="mean").energy * (g.shape[0] / B)
                S = power_spectrum_2d(g).sum(dim=1)                       # (b, P, P)
                total = S.sum(dim=(-2, -1))
                with np.errstate(invalid="ignore"):
                    hff[i:i + g.shape[0]] = ((S * high).sum(dim=(-2, -1)) / total).numpy()
    finally:
        model.train(was_training)
    count = ring_counts(P).astype(np.float64)
    e = energy.numpy()
    return InputGradientSpectrum(frequency=ring_frequencies(P), energy=e, count=count,
                                 mean_power=e / count,
                                 hff=float(np.nanmean(hff)) if np.isfinite(hff).any()
                                 else float("nan"),
                                 hff_per_image=hff, cutoff=c, P=P)
