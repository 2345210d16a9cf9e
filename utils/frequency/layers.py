"""Weight spectra of every conv layer of any model (docs/DEFINITIONS.md section 2).

A conv kernel's spectrum is sampled on the frequency axis of the images it
sees: its weights are zero-padded to the resolution of the layer's *input*
(32 for a CIFAR first layer, 8 for a stage that sees 8x8 maps). That
resolution is found by one forward pass of a zero image with hooks, so the
model's architecture need not be known.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._grid import describe
from ._eval import (check_finite_weight, check_model, eval_mode, model_dtype_device,
                    resolve_device)
from .spectrum import RadialSpectrum, radial_power_spectrum

__all__ = ["conv_layers", "conv_input_resolutions", "kernel_fft_size", "layer_weight_spectra"]


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Every ``nn.Conv2d`` of ``model`` by qualified name, in module order."""
    check_model(model)
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = len(shape) == 3 and all(s >= 1 for s in shape) and all(
            float(s) == float(t) for s, t in zip(shape, input_shape))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"input_shape: expected one image's shape (C, H, W) of ints >= 1, "
                         f"e.g. (3, 32, 32), got {describe(input_shape)}")
    return shape


def conv_input_resolutions(model: nn.Module, input_shape, device=None) -> dict[str, int]:
    """Spatial size ``max(H, W)`` of each conv layer's input for images of
    ``input_shape = (C, H, W)``.

    One forward pass of a zero image ``(1, C, H, W)`` in eval mode under
    ``torch.inference_mode`` (the model's mode is restored; no weight or
    batch-norm statistic changes), on ``device`` (default: the model's).
    A conv that does not run in the pass is left out; one that runs at two
    different resolutions (a shared layer) raises ValueError.
    """
    check_model(model)
    shape = check_input_shape(input_shape)
    dev = resolve_device(device, model)
    sizes: dict[str, int] = {}

    def hook(name):
        def record(_module, inputs, _output):
            size = int(max(inputs[0].shape[-2:]))
            if sizes.setdefault(name, size) != size:
                raise ValueError(f"model: conv layer {name!r} runs at two input resolutions "
                                 f"({sizes[name]} and {size}); its kernel has no single axis")
        return record

    hooks = [conv.register_forward_hook(hook(name)) for name, conv in conv_layers(model).items()]
    try:
        with eval_mode(model):
            model(torch.zeros(1, *shape, device=dev, dtype=model_dtype_device(model)[0]))
    finally:
        for h in hooks:
            h.remove()
    return sizes


def kernel_fft_size(conv: nn.Conv2d, resolution: int) -> int:
    """FFT size of a conv kernel: its input resolution, or the kernel size
    when that is larger (a 3x3 kernel on 1x1 maps cannot be cropped)."""
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"conv: expected an nn.Conv2d, got {type(conv).__name__}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution < 1:
        raise ValueError(f"resolution: expected an int >= 1, got {describe(resolution)}")
    return max(int(resolution), *conv.weight.shape[-2:])


def _select(model: nn.Module, layers) -> dict[str, nn.Conv2d]:
    convs = conv_layers(model)
    if layers is None:
        return convs
    names = [layers] if isinstance(layers, str) else layers
    try:
        names = list(names)
    except TypeError:
        names = None
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"layers: expected None (every conv), a conv's name or a list of "
                         f"names, got {describe(layers)}")
    missing = [n for n in names if n not in convs]
    if missing:
        raise ValueError(f"layers: {missing} are not nn.Conv2d layers of {type(model).__name__} "
                         f"(its convs: {list(convs)[:6]}{' ...' if len(convs) > 6 else ''})")
    return {n: convs[n] for n in names}


def layer_weight_spectra(model: nn.Module, input_shape, layers=None, *, reduce="mean",
                         dtype=torch.float64) -> dict[str, RadialSpectrum]:
    """Radial power spectrum of each chosen conv layer's weights, the kernels
    zero-padded to the layer's input resolution.

    Args:
        model: any ``nn.Module``.
        input_shape: one input image's ``(C, H, W)``, e.g. ``(3, 32, 32)``.
        layers: ``None`` (every ``nn.Conv2d``), a name (``"conv1"``) or a
            list of names (``["conv1", "layer1.0.conv2"]``).
        reduce: ``"mean"`` averages power over all kernels (``energy``
            ``(R,)``); ``None`` keeps ``(C_out, C_in, R)``.
        dtype: computation dtype (float64 by default, as experiment B).

    Returns:
        ``{name: RadialSpectrum}`` in module order; ``spectrum.P`` is the FFT
        size (the input resolution, or the kernel size if larger). A chosen
        layer that does not run on such an input raises ValueError.
    """
    chosen = _select(model, layers)
    res = conv_input_resolutions(model, input_shape)
    out = {}
    for name, conv in chosen.items():
        if name not in res:
            raise ValueError(f"layers: {name!r} does not run in a forward pass of a "
                             f"{tuple(input_shape)} image")
        out[name] = radial_power_spectrum(check_finite_weight(conv, name),
                                          pad_to=kernel_fft_size(conv, res[name]),
                                          reduce=reduce, dtype=dtype)
    return out
