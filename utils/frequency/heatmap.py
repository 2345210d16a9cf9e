"""The Fourier heat map of any image classifier (docs/DEFINITIONS.md section 6).

For each distinct basis image ``U_uv`` of a ``P x P`` grid (514 on 32x32;
the other positions are their mirrors), the error rate of the model on
``clip(x + r v U_uv, 0, 1)``, ``r`` a random sign per (basis, image,
channel) fixed by ``(seed, image index, basis)``. Perturbations act on
[0, 1] pixels; the model's own normalisation is passed in as ``mean`` and
``std`` and applied after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._eval import (Predictor, check_batch_size, check_labels, check_model, eval_mode,
                    resolve_device)
from ._grid import as_real_tensor, check_positive, check_unit_range, describe
from ._rng import resolve_indices
from ..progress import Progress
from .basis import assemble_heatmap, distinct_positions, fourier_basis, perturb_with_basis

__all__ = ["fourier_heatmap", "HeatmapDifference", "paired_heatmap_difference"]


def fourier_heatmap(model, images, labels, *, v: float = 4.0, seed=0, mean=None, std=None,
                    batch_size: int = 1000, device=None, indices=None, progress=False,
                    amp_dtype=None, channels_last: bool = False) -> np.ndarray:
    """Error rate of ``model`` under each Fourier basis perturbation.

    Args:
        model: any ``nn.Module`` mapping normalised ``(N, C, P, P)`` images to
            logits ``(N, classes)``. It runs in eval mode under
            ``torch.inference_mode``; its train/eval mode is restored after.
            Inputs are cast to the dtype of its first parameter (float32 for
            a model with none).
        images: ``(B, C, P, P)`` float pixels in [0, 1] (square), any device.
        labels: ``(B,)`` integer classes, each one of the model's outputs.
        v: perturbation norm (4 for CIFAR on [0, 1] pixels, Yin et al.).
        seed: int or ``torch.Generator``: with ``indices`` it fixes the signs.
        mean, std: per-channel normalisation applied after the perturbation;
            ``None``: the identity (a model that takes [0, 1] pixels).
        batch_size: images per forward pass (bases x images). The distinct
            bases go through the model together, ``batch_size // n_bases``
            images at a time (at least one), so the sign draws happen about
            once per image.
        device: where the model runs; default the device of its parameters.
        indices: ``(B,)`` the images' indices in their dataset (default
            ``0..B-1``): an image gets the same signs whatever its batch.
        progress: False, True (a tqdm bar on stderr), None (a bar on a
            terminal only), or a callable ``progress(done, total)`` counting
            evaluated (image, basis) pairs (:class:`utils.progress.Progress`).
        amp_dtype: ``None`` or ``torch.bfloat16`` (CUDA only).
        channels_last: feed the model channels_last tensors.

    Returns:
        float64 ``(P, P)`` error rates, DC at ``(P//2, P//2)``, symmetric
        under ``(u, v) -> (-u, -v)``. The same numbers as experiment C's heat
        map for the same inputs (C calls this function).

    Raises:
        ValueError naming the argument for bad input, and naming ``model``
        when its logits are not finite (a NaN model has no error rate).
    """
    check_model(model)
    dev = resolve_device(device, model)
    images = as_real_tensor(images, "images", 4, require_float=True)
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images: expected square images (B, C, P, P), got "
                         f"{tuple(images.shape)}")
    check_unit_range(images, "images")
    B, C, P = images.shape[0], images.shape[1], images.shape[-1]
    y = check_labels(labels, B)
    batch_size = check_batch_size(batch_size)
    check_positive(v, "v", allow_zero=True)
    idx = torch.as_tensor(resolve_indices(indices, B))
    x01 = images.to(dev)
    predict = Predictor(model, C, mean=mean, std=std, device=dev, amp_dtype=amp_dtype,
                        channels_last=channels_last)
    pos = distinct_positions(P)
    U = fourier_basis(P, device=x01.device)[pos[:, 0], pos[:, 1]]
    ids = pos[:, 0] * P + pos[:, 1]
    n = len(pos)
    errors = torch.zeros(n, dtype=torch.int64)
    per_call = max(1, batch_size // n)
    K = min(n, batch_size)
    bar = Progress(B * n, show=progress)
    try:
        with eval_mode(model):
            predict.check_labels(x01, y)
            for i0 in range(0, B, per_call):
                i1 = min(B, i0 + per_call)
                for k0 in range(0, n, K):
                    k1 = min(n, k0 + K)
                    batch = perturb_with_basis(x01[i0:i1], U[k0:k1], v, seed=seed,
                                               indices=idx[i0:i1], basis_ids=ids[k0:k1])
                    pred = predict(batch.flatten(0, 1))
                    errors[k0:k1] += (pred.view(k1 - k0, i1 - i0) != y[i0:i1]).sum(dim=1)
                    bar.update((k1 - k0) * (i1 - i0))
    finally:
        bar.close()
    return assemble_heatmap(errors.double() / B, P)


def _seed_maps(maps, name: str) -> np.ndarray:
    try:
        arr = np.asarray(maps.detach().cpu() if isinstance(maps, torch.Tensor) else maps)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)) \
            or np.issubdtype(arr.dtype, np.bool_):
        raise ValueError(f"{name}: expected real heat maps (seeds, H, W), got "
                         f"{getattr(arr, 'dtype', type(maps).__name__)}")
    if arr.ndim != 3 or arr.size == 0:
        raise ValueError(f"{name}: expected heat maps (seeds, H, W), one per seed, got shape "
                         f"{arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains non-finite values (NaN or inf)")
    return arr


@dataclass(frozen=True, eq=False)
class HeatmapDifference:
    """Paired difference of Fourier heat maps, treated minus baseline, seed by
    seed (docs/DEFINITIONS.md section 6.1). float64 ``(H, W)`` unless said.

    Attributes:
        mean: mean over seeds of ``treated[s] - baseline[s]``.
        low, high: per-cell two-sided Student-t interval of that mean at
            ``confidence`` (``n - 1`` degrees of freedom), not corrected for
            the ``H * W`` cells: about ``(1 - confidence)`` of the cells of
            two identical models exclude zero by chance.
        sd: per-cell SD (ddof 1) of the paired differences.
        excludes_zero: bool ``(H, W)``, the interval excludes 0.
        baseline_sd: the noise reference: per-cell seed-to-seed SD (ddof 1)
            of the baseline maps.
        self_difference: per-cell mean of ``|baseline[s] - baseline[t]|``
            over seed pairs ``s < t``: how much a map differs from itself
            across seeds.
        noise: mean of ``self_difference`` over cells (one number).
        effect: mean of ``|mean|`` over cells, to read beside ``noise``.
        n: number of seeds; confidence: the interval's level.
    """

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sd: np.ndarray
    excludes_zero: np.ndarray
    baseline_sd: np.ndarray
    self_difference: np.ndarray
    noise: float
    effect: float
    n: int
    confidence: float


def paired_heatmap_difference(treated, baseline, *, confidence: float = 0.95
                              ) -> HeatmapDifference:
    """Paired Fourier heat-map difference against the baseline of the same seed.

    Args:
        treated, baseline: ``(seeds, H, W)`` heat maps (e.g. error rates
            from :func:`fourier_heatmap`); row ``s`` of both comes from the
            same seed. At least 2 seeds.
        confidence: level of the per-cell t intervals, in (0, 1).

    Returns:
        :class:`HeatmapDifference`.
    """
    from scipy import stats

    t_maps = _seed_maps(treated, "treated")
    b_maps = _seed_maps(baseline, "baseline")
    if t_maps.shape != b_maps.shape:
        raise ValueError(f"treated: expected the shape of baseline {b_maps.shape} (maps paired "
                         f"seed by seed), got {t_maps.shape}")
    n = t_maps.shape[0]
    if n < 2:
        raise ValueError(f"treated: expected at least 2 seeds for an interval, got {n}")
    try:
        conf = float(confidence)
    except (TypeError, ValueError):
        conf = float("nan")
    if not 0.0 < conf < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), got {describe(confidence)}")
    d = t_maps - b_maps
    mean = d.mean(axis=0)
    sd = d.std(axis=0, ddof=1)
    half = stats.t.ppf(0.5 + conf / 2, n - 1) * sd / np.sqrt(n)
    low, high = mean - half, mean + half
    i, j = np.triu_indices(n, k=1)
    self_diff = np.abs(b_maps[i] - b_maps[j]).mean(axis=0)
    return HeatmapDifference(mean=mean, low=low, high=high, sd=sd,
                             excludes_zero=(low > 0) | (high < 0),
                             baseline_sd=b_maps.std(axis=0, ddof=1), self_difference=self_diff,
                             noise=float(self_diff.mean()), effect=float(np.abs(mean).mean()),
                             n=n, confidence=conf)
