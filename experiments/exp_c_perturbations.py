"""Experiment C's perturbations: the robustness curves (noise families and
filtered sets, docs/DEFINITIONS.md sections 4 and 5) and the Fourier heat map
(section 6). Every perturbation acts on [0, 1] pixels before normalisation
and depends only on (image index, level, seed).

Both live in the library (:mod:`utils.frequency.robustness`,
:mod:`utils.frequency.heatmap`) so that a notebook gets the same numbers on
any model; this module maps C's config onto them."""

from __future__ import annotations

from utils import frequency as fq
from utils.frequency import Curve, fourier_heatmap  # noqa: F401  (C's names, re-exported)
from utils.frequency._grid import CORNER  # noqa: F401  (c/p, the corner of a square spectrum)


def make_curves(cfg, P: int) -> list[Curve]:
    """The curves of the run (``cfg``: experiment C's Config), for ``P x P`` images."""
    return fq.standard_curves(
        P, seed=cfg.noise_seed, gaussian_sigmas=cfg.gaussian_sigmas, noise_norms=cfg.noise_norms,
        noise_cutoff=cfg.noise_cutoff, band_norm=cfg.band_norm, n_bands=cfg.n_bands,
        corruptions=cfg.corruptions, filter_family=cfg.filter_family,
        filter_sigmas=cfg.filter_sigmas, filter_radii=cfg.filter_radii)
