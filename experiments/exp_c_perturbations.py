"""Experiment C's perturbations: the robustness curves (noise families and
filtered sets, SCIENCE.md sections 4 and 5) and the Fourier heat map
(section 6). Every perturbation acts on [0, 1] pixels before normalisation
and depends only on (image index, level, seed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from utils import frequency as fq
from utils import training

CORNER = 0.5 * np.sqrt(2.0)  # c/p, the corner of a square spectrum


# --------------------------------------------------------------------------
# perturbed evaluation sets
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Curve:
    """One robustness curve: ``perturb(x01, idx, j)`` gives level ``j`` of
    images ``x01`` (B, C, H, W) in [0, 1] whose indices in B's test set are
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
    return lambda x, idx, j: fq.add_noise(x, kind, levels[j], seed=seed, indices=idx, **kw)


def make_curves(cfg, P: int) -> list[Curve]:
    """The curves of the run (``cfg``: experiment C's Config), for ``P x P`` images."""
    seed, cut = cfg.noise_seed, cfg.noise_cutoff
    sig = tuple(map(float, cfg.gaussian_sigmas))
    eps = tuple(map(float, cfg.noise_norms))
    norm_label = "per-channel L2 norm of the noise (pixels in [0, 1])"
    curves = [
        Curve("gaussian", "white Gaussian noise", "noise std sigma (pixels in [0, 1])", sig, sig,
              _noise("gaussian", sig, seed), sig[0] == 0),
        Curve("highpass", f"high-pass noise (rho >= {cut:g} c/p)", norm_label, eps, eps,
              _noise("highpass", eps, seed, cutoff=cut), eps[0] == 0),
        Curve("lowpass", f"low-pass control (rho < {cut:g} c/p)", norm_label, eps, eps,
              _noise("lowpass", eps, seed, cutoff=cut), eps[0] == 0)]
    bands = fq.frequency_bands(cfg.n_bands)
    centres = tuple((lo + min(hi, CORNER)) / 2 for lo, hi in bands)
    curves.append(Curve("band", f"band noise, norm {cfg.band_norm:g} per channel",
                        "band centre (cycles/pixel)", centres, centres,
                        lambda x, idx, j: fq.add_noise(x, "band", cfg.band_norm, seed=seed,
                                                       indices=idx, band=bands[j])))
    if cfg.corruptions:
        for kind, levels, clean in (("shot", fq.SHOT_LAMBDAS, np.inf),
                                    ("impulse", fq.IMPULSE_AMOUNTS, 0.0),
                                    ("speckle", fq.SPECKLE_CS, 0.0)):
            levels = (clean,) + tuple(map(float, levels))  # lambda = inf is no shot noise
            curves.append(Curve(kind, f"{kind} noise (CIFAR-10-C, 32x32 levels)",
                                "severity (0 = clean)", tuple(map(float, range(len(levels)))),
                                levels, lambda x, idx, j, f=_noise(kind, levels, seed):
                                x if j == 0 else f(x, idx, j), True))
    if cfg.filter_family == "gaussian":
        params = sorted(map(float, cfg.filter_sigmas), reverse=True)  # ascending cutoff
        cutoffs = tuple(fq.gaussian_f50(s) for s in params)
        xlabel = "cutoff f50 = sqrt(ln 2) / (2 pi sigma) (cycles/pixel)"
    else:
        params = sorted(map(float, cfg.filter_radii))
        cutoffs = tuple(r / P for r in params)
        xlabel = "cutoff radius r / P (cycles/pixel)"
    for kind in ("low", "high"):
        curves.append(Curve(f"filter_{kind}", f"{kind}-pass filtered test set ({cfg.filter_family})",
                            xlabel, cutoffs, tuple(params),
                            lambda x, idx, j, kind=kind: fq.filter_images(
                                x, cfg.filter_family, kind, params[j])))
    return curves


# --------------------------------------------------------------------------
# Fourier heat map
# --------------------------------------------------------------------------

def fourier_heatmap(model: Callable, x01: torch.Tensor, y: torch.Tensor, *, indices, v: float,
                    seed: int, mean, std, batch_size: int, device, amp_dtype=None,
                    channels_last: bool = False) -> np.ndarray:
    """Error rate of ``model`` under each Fourier basis perturbation.

    ``x01``: (B, C, P, P) float images in [0, 1] on ``device``; ``y``: (B,)
    labels; ``indices``: (B,) their indices in the test set (they fix the
    random signs). ``model``: any ``nn.Module`` with at least one
    parameter (its dtype is the input's) mapping normalised images to logits. Each image and basis ``U_uv`` gives ``clip(x + r v U_uv, 0, 1)``
    before normalisation (``r`` a sign per channel); the distinct bases go
    through the model together, ``batch_size // len(bases)`` images at a
    time, so the per-image sign draws happen about once per image.

    Returns float64 ``(P, P)``: error rates, DC at ``(P//2, P//2)``,
    symmetric under ``(u, v) -> (-u, -v)``.
    """
    P = x01.shape[-1]
    if x01.ndim != 4 or x01.shape[-2] != P:
        raise ValueError(f"x01: expected square images (B, C, P, P), got {tuple(x01.shape)}")
    pos = fq.distinct_positions(P)
    U = fq.fourier_basis(P, device=x01.device)[pos[:, 0], pos[:, 1]]
    ids = pos[:, 0] * P + pos[:, 1]
    n, B = len(pos), x01.shape[0]
    idx = torch.as_tensor(indices)
    y = y.cpu()
    errors = torch.zeros(n, dtype=torch.int64)
    per_call = max(1, batch_size // n)
    K = min(n, batch_size)
    for i0 in range(0, B, per_call):
        i1 = min(B, i0 + per_call)
        for k0 in range(0, n, K):
            k1 = min(n, k0 + K)
            batch = fq.perturb_with_basis(x01[i0:i1], U[k0:k1], v, seed=seed, indices=idx[i0:i1],
                                          basis_ids=ids[k0:k1])
            pred = training.predict(model, batch.flatten(0, 1), mean=mean, std=std,
                                    batch_size=batch.shape[0] * batch.shape[1], device=device,
                                    amp_dtype=amp_dtype, channels_last=channels_last)
            errors[k0:k1] += (pred.view(k1 - k0, i1 - i0) != y[i0:i1]).sum(dim=1)
    return fq.assemble_heatmap(errors.double() / B, P)
