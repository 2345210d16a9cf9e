"""Robustness curves of any image classifier (docs/DEFINITIONS.md sections 4 and 5):
accuracy on perturbed copies of a set of images, one number per level.

A :class:`Curve` is a named family of perturbations with its levels; the
builders below make the standard ones (white Gaussian, high-pass and
low-pass noise, band noise, CIFAR-10-C corruptions, low- and high-pass
filtered sets) and :func:`robustness_curves` evaluates a model on them.
Every perturbation acts on [0, 1] pixels before normalisation and depends
only on (image index, level, seed), so every model sees the same images and
the batching changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._eval import (Predictor, check_batch_size, check_labels, check_model, eval_mode,
                    resolve_device)
from ._grid import CORNER, as_real_tensor, check_unit_range, describe
from ._rng import resolve_indices
from ..progress import Progress
from .filters import FILTER_FAMILIES, filter_images, gaussian_f50
from .noise import (GAUSSIAN_SIGMAS, IMPULSE_AMOUNTS, SHOT_LAMBDAS, SPECKLE_CS, add_noise,
                    frequency_bands)

__all__ = [
    "Curve", "NOISE_NORMS", "FILTER_SIGMAS", "FILTER_RADII", "noise_curve", "band_curve",
    "corruption_curve", "filter_curves", "standard_curves", "robustness_curves",
]

# Experiment C's defaults: per-channel L2 norms of the high-/low-pass noise
# (white noise of std s has a norm of about 32 s on 32x32), blur sigmas in px
# (f50 0.265 ... 0.044 c/p) and ideal-disc radii in bins.
NOISE_NORMS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
FILTER_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)
FILTER_RADII = (2, 4, 6, 8, 12, 16)

_NORM_LABEL = "per-channel L2 norm of the noise (pixels in [0, 1])"


@dataclass(frozen=True)
class Curve:
    """One robustness curve: ``perturb(x01, idx, j)`` gives level ``j`` of
    images ``x01`` (B, C, H, W) in [0, 1] whose indices in their dataset are
    ``idx``; ``x`` is the plotted axis (ascending), ``levels`` the family's
    own parameter; ``clean_first``: level 0 is the clean image itself."""
    name: str
    title: str
    xlabel: str
    x: tuple[float, ...]
    levels: tuple[float, ...]
    perturb: Callable
    clean_first: bool = False


def _noise(kind: str, levels, seed: int, **kw) -> Callable:
    return lambda x, idx, j: add_noise(x, kind, levels[j], seed=seed, indices=idx, **kw)


def _levels(values, name: str) -> tuple[float, ...]:
    try:
        out = tuple(map(float, values))
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a sequence of numbers, got {describe(values)}") from None
    if not out:
        raise ValueError(f"{name}: expected at least one level, got {describe(values)}")
    return out


def noise_curve(kind: str, levels, *, seed: int = 0, cutoff: float = 0.25) -> Curve:
    """Additive noise, ``kind`` in ``gaussian`` (levels: std sigma),
    ``highpass`` (rho >= cutoff c/p) or ``lowpass`` (its control, rho <
    cutoff), levels the per-channel L2 norm. A first level of 0 is clean."""
    lv = _levels(levels, "levels")
    if kind == "gaussian":
        return Curve("gaussian", "white Gaussian noise", "noise std sigma (pixels in [0, 1])", lv,
                     lv, _noise("gaussian", lv, seed), lv[0] == 0)
    if kind == "highpass":
        return Curve("highpass", f"high-pass noise (rho >= {cutoff:g} c/p)", _NORM_LABEL, lv, lv,
                     _noise("highpass", lv, seed, cutoff=cutoff), lv[0] == 0)
    if kind == "lowpass":
        return Curve("lowpass", f"low-pass control (rho < {cutoff:g} c/p)", _NORM_LABEL, lv, lv,
                     _noise("lowpass", lv, seed, cutoff=cutoff), lv[0] == 0)
    raise ValueError(f"kind: expected 'gaussian', 'highpass' or 'lowpass', got {describe(kind)}")


def band_curve(norm: float = 4.0, n_bands: int = 8, *, seed: int = 0) -> Curve:
    """Equal-energy annulus noise of per-channel norm ``norm``, one of
    ``n_bands`` equal-width bands from DC to the corner per level; the axis
    is the band centre in c/p."""
    bands = frequency_bands(n_bands)
    centres = tuple((lo + min(hi, CORNER)) / 2 for lo, hi in bands)
    return Curve("band", f"band noise, norm {norm:g} per channel", "band centre (cycles/pixel)",
                 centres, centres, lambda x, idx, j: add_noise(x, "band", norm, seed=seed,
                                                               indices=idx, band=bands[j]))


_CORRUPTIONS = {"shot": (SHOT_LAMBDAS, np.inf), "impulse": (IMPULSE_AMOUNTS, 0.0),
                "speckle": (SPECKLE_CS, 0.0)}


def corruption_curve(kind: str, *, seed: int = 0) -> Curve:
    """CIFAR-10-C style ``shot``, ``impulse`` or ``speckle`` noise at its
    five 32x32 severities, with severity 0 the clean image."""
    if not isinstance(kind, str) or kind not in _CORRUPTIONS:
        raise ValueError(f"kind: expected one of {sorted(_CORRUPTIONS)}, got {describe(kind)}")
    levels, clean = _CORRUPTIONS[kind]
    levels = (clean,) + tuple(map(float, levels))  # lambda = inf is no shot noise
    f = _noise(kind, levels, seed)
    return Curve(kind, f"{kind} noise (CIFAR-10-C, 32x32 levels)", "severity (0 = clean)",
                 tuple(map(float, range(len(levels)))), levels,
                 lambda x, idx, j: x if j == 0 else f(x, idx, j), True)


def filter_curves(family: str = "gaussian", params=None, P: int = 32) -> list[Curve]:
    """The low- and high-pass filtered sets (``filter_low``, ``filter_high``)
    against the cutoff in c/p, ascending: ``gaussian`` takes sigmas in px
    (cutoff ``f50``), ``radial`` radii in bins (cutoff ``r / P``). Never
    clipped (a high-pass image is near zero mean)."""
    if family == "gaussian":
        params = sorted(_levels(FILTER_SIGMAS if params is None else params, "params"),
                        reverse=True)  # ascending cutoff
        cutoffs = tuple(gaussian_f50(s) for s in params)
        xlabel = "cutoff f50 = sqrt(ln 2) / (2 pi sigma) (cycles/pixel)"
    elif family == "radial":
        params = sorted(_levels(FILTER_RADII if params is None else params, "params"))
        cutoffs = tuple(r / P for r in params)
        xlabel = "cutoff radius r / P (cycles/pixel)"
    else:
        raise ValueError(f"family: expected 'gaussian' or 'radial' (a cutoff axis in c/p; "
                         f"{FILTER_FAMILIES[-1]!r} has none), got {describe(family)}")
    return [Curve(f"filter_{kind}", f"{kind}-pass filtered test set ({family})", xlabel, cutoffs,
                  tuple(params), lambda x, idx, j, kind=kind: filter_images(x, family, kind,
                                                                          params[j]))
            for kind in ("low", "high")]


def standard_curves(P: int = 32, *, seed: int = 0, gaussian_sigmas=GAUSSIAN_SIGMAS,
                    noise_norms=NOISE_NORMS, noise_cutoff: float = 0.25, band_norm: float = 4.0,
                    n_bands: int = 8, corruptions: bool = False, filter_family: str = "gaussian",
                    filter_sigmas=FILTER_SIGMAS, filter_radii=FILTER_RADII) -> list[Curve]:
    """Experiment C's curves for ``P x P`` images, in its order: gaussian,
    highpass, lowpass, band, (shot, impulse, speckle), filter_low,
    filter_high. The defaults are C's."""
    curves = [noise_curve("gaussian", gaussian_sigmas, seed=seed),
              noise_curve("highpass", noise_norms, seed=seed, cutoff=noise_cutoff),
              noise_curve("lowpass", noise_norms, seed=seed, cutoff=noise_cutoff),
              band_curve(band_norm, n_bands, seed=seed)]
    if corruptions:
        curves += [corruption_curve(kind, seed=seed) for kind in ("shot", "impulse", "speckle")]
    params = filter_sigmas if filter_family == "gaussian" else filter_radii
    return curves + filter_curves(filter_family, params, P)


def robustness_curves(model, images, labels, curves=None, *, mean=None, std=None,
                      batch_size: int = 1000, device=None, indices=None, progress=False,
                      amp_dtype=None, channels_last: bool = False) -> dict[str, dict]:
    """Accuracy and mean cross-entropy of ``model`` on every level of every curve.

    Args:
        model: any ``nn.Module`` mapping normalised images to logits; run in
            eval mode under ``torch.inference_mode`` (mode restored after).
        images: ``(N, C, H, W)`` float pixels in [0, 1], any device.
        labels: ``(N,)`` integer classes, each one of the model's outputs.
        curves: a list of :class:`Curve` (default :func:`standard_curves` of
            the image size with seed 0).
        mean, std: per-channel normalisation after the perturbation; ``None``
            is the identity.
        batch_size: images perturbed and evaluated at a time (the
            perturbation of an image does not depend on its batch).
        device, amp_dtype, channels_last: as in :func:`fourier_heatmap`.
        indices: ``(N,)`` dataset indices of the images (fix the noise;
            default ``0..N-1``).
        progress: False, True (a tqdm bar on stderr), None (a bar on a
            terminal only) or ``progress(done, total)`` counting evaluated
            images over all levels (:class:`utils.progress.Progress`).

    Returns:
        ``{name: {"x", "levels", "acc", "loss"}}``: float64 arrays, one entry
        per level, in the order of ``curves``; ``loss`` is the mean
        cross-entropy ``-log softmax(logits)[label]`` over the images
        (natural log; ``utils.training.evaluate``'s arithmetic). A
        ``clean_first`` curve's level 0 is the clean accuracy and loss
        (evaluated once, shared).

    Raises:
        ValueError naming the argument for bad input, and naming ``model``
        when its logits are not finite on any image at any level.
    """
    check_model(model)
    dev = resolve_device(device, model)
    images = as_real_tensor(images, "images", 4, require_float=True)
    if images.ndim != 4:
        raise ValueError(f"images: expected a batch (N, C, H, W), got {tuple(images.shape)}")
    check_unit_range(images, "images")
    N, C = images.shape[:2]
    y = check_labels(labels, N)
    bs = check_batch_size(batch_size)
    idx = torch.as_tensor(resolve_indices(indices, N))
    if curves is None:
        curves = standard_curves(max(images.shape[-2:]))
    if isinstance(curves, (Curve, str)) or not hasattr(curves, "__iter__"):
        raise ValueError(f"curves: expected a list of Curve, got {describe(curves)}")
    curves = list(curves)
    if not curves or not all(isinstance(c, Curve) for c in curves):
        raise ValueError(f"curves: expected a non-empty list of Curve, got {describe(curves)}")
    names = [c.name for c in curves]
    if len(set(names)) != len(names):
        raise ValueError(f"curves: expected distinct names, got {names}")
    predict = Predictor(model, C, mean=mean, std=std, device=dev, amp_dtype=amp_dtype,
                        channels_last=channels_last)
    runs = sum(len(c.levels) - bool(c.clean_first) for c in curves) + 1
    bar = Progress(runs * N, show=progress)

    def evaluate(perturb) -> tuple[float, float]:
        correct, loss = predict.evaluate(
            images, y, bs, None if perturb is None else
            (lambda xb, span: perturb(xb, idx[span[0]:span[1]])), bar.update)
        return correct / N, loss / N

    out = {}
    try:
        with eval_mode(model):
            predict.check_labels(images.to(dev), y)
            clean = evaluate(None)
            for c in curves:
                res = np.array([clean if j == 0 and c.clean_first else
                                evaluate(lambda x, i, j=j, c=c: c.perturb(x, i, j))
                                for j in range(len(c.levels))], dtype=np.float64).reshape(-1, 2)
                out[c.name] = {"x": np.asarray(c.x, dtype=np.float64),
                               "levels": np.asarray(c.levels, dtype=np.float64),
                               "acc": res[:, 0], "loss": res[:, 1]}
    finally:
        bar.close()
    return out
