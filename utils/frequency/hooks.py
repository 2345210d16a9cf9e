"""Radial spectra of feature maps through forward hooks (docs/DEFINITIONS.md section 2).

Feature maps ``(B, C, H, W)`` are analysed like images: ``P = max(H, W)``
unless ``pad_to`` is given, power averaged over batch and channels with
``reduce="mean"`` (never the maps averaged before the FFT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ._grid import describe
from .spectrum import RadialSpectrum, radial_power_spectrum

__all__ = ["feature_map_spectra"]


def _resolve_layers(model: nn.Module, layers) -> dict[str, nn.Module]:
    if isinstance(layers, Mapping):
        resolved = dict(layers)
        for name, mod in resolved.items():
            if not isinstance(mod, nn.Module):
                raise ValueError(f"layers: expected nn.Module values, got {type(mod).__name__} "
                                 f"for {name!r}")
        return resolved
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"layers: expected a dict name -> module or a non-empty list of "
                         f"submodule names, got {describe(layers)}")
    resolved = {}
    for name in layers:
        try:
            resolved[name] = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"layers: {name!r} is not a submodule of {type(model).__name__}") from None
    return resolved


def feature_map_spectra(model: nn.Module, x: torch.Tensor, layers, pad_to=None,
                        reduce: str | None = "mean", dtype=None) -> dict[str, RadialSpectrum]:
    """Radial power spectra of chosen layers' outputs for one forward pass.

    Runs ``model(x)`` under ``torch.no_grad()`` with a forward hook on each
    layer; the hooks are removed afterwards even if the pass fails. The
    model's train/eval mode is left as it is: call ``model.eval()`` first to
    measure with dropout off and batch-norm statistics frozen.

    Args:
        model: the network.
        x: its input batch, e.g. ``(B, C, H, W)``.
        layers: ``{name: module}`` or a list of submodule names
            (``["conv1", "layer1.0.conv2"]``).
        pad_to, reduce, dtype: as in :func:`radial_power_spectrum`
            (``reduce="mean"`` averages power over batch and channels).

    Returns:
        ``{name: RadialSpectrum}``. A layer whose output is not a tensor
        ``(..., H, W)``, that does not run, or that runs more than once in the
        pass raises ValueError.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.is_complex() or x.numel() == 0:
        raise ValueError(f"x: expected a non-empty real tensor (the model's input batch), got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError("x: contains non-finite values (NaN or inf)")
    targets = _resolve_layers(model, layers)
    spectra: dict[str, RadialSpectrum] = {}
    calls = {name: 0 for name in targets}

    def make_hook(name):
        def hook(_module, _inputs, output):
            calls[name] += 1
            if not isinstance(output, torch.Tensor) or output.ndim < 2:
                raise ValueError(f"layers: output of {name!r} is not a (..., H, W) tensor")
            if not bool(torch.isfinite(output).all()):
                raise ValueError(f"model: the output of layer {name!r} is not finite (NaN or inf)")
            # Computed inside the hook so that activations are not kept.
            spectra[name] = radial_power_spectrum(output, pad_to=pad_to, reduce=reduce, dtype=dtype)
        return hook

    handles = [mod.register_forward_hook(make_hook(name)) for name, mod in targets.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    for name, n in calls.items():
        if n != 1:
            raise ValueError(f"layers: {name!r} ran {n} times in one forward pass; expected once")
    return spectra
