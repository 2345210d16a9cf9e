"""The image networks by name, for experiments and checkpoints.

``models.mlp.MLP`` (Experiment A, 1D regression) is not here: it is not an
image classifier and takes different arguments.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from torch import nn

from models.cnn import SmallCNN
from models.resnet import ResNet18

MODELS = {"small_cnn": SmallCNN, "resnet18": ResNet18}

# A run folder is data, not code: an import path read from a folder
# (config.json, a checkpoint's meta) is imported only when the user named it
# on this command line (``--set b.model=...``) or said ``--trust-model-code``.
# The built-in names above are always fine. main.py sets this per command;
# Python code that builds its own config is the user's code: trusted.
_TRUST: dict = {"all": True, "specs": frozenset()}


def set_trusted_model_code(specs=(), *, trust_all: bool = False) -> None:
    """The import paths this process may import from a run folder's files
    (``specs``: those the user gave on the command line), or any
    (``trust_all``: ``--trust-model-code``). Replaces the previous setting."""
    _TRUST["all"] = bool(trust_all)
    _TRUST["specs"] = frozenset(specs)


def check_model_trusted(spec: str, where: str) -> None:
    """ValueError (one line) unless ``spec`` is a built-in model name, was
    named by the user, or all model code is trusted. ``where``: the file or
    folder the name was read from."""
    if not isinstance(spec, str) or ":" not in spec or _TRUST["all"] or spec in _TRUST["specs"]:
        return
    raise ValueError(f"model: {where} names model code to import ({spec!r}); a run folder is "
                     f"data, not code, so it is not imported unless you say so: add "
                     f"--set b.model={spec} or --trust-model-code if you trust that folder")


class UserModelError(RuntimeError):
    """The user's model code (a ``pkg.module:factory``) failed: at import,
    in the factory, or in its forward pass. main.py reports it as such (exit
    1, the traceback kept in the run folder's error.log), not as bad input
    and not as this tool's bug."""


def build_model(name: str, num_classes: int, in_channels: int, dropout: float = 0.0, *,
                dropout_at: str = "classifier", **kwargs) -> nn.Module:
    """``MODELS[name](num_classes=..., in_channels=..., dropout=...,
    dropout_at=..., **kwargs)``;
    ``kwargs`` are the model's own (e.g. ``k1``, ``widths``, ``norm``
    for ``small_cnn``). Unknown name or keyword -> ValueError."""
    if name not in MODELS:
        raise ValueError(f"name: expected one of {sorted(MODELS)}, got {name!r}")
    cls = MODELS[name]
    accepted = set(inspect.signature(cls).parameters) - {"num_classes", "in_channels", "dropout",
                                                         "dropout_at"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"kwargs: {name} takes {sorted(accepted) or 'no other arguments'}, "
                         f"got {unknown}")
    return cls(num_classes=num_classes, in_channels=in_channels, dropout=dropout,
               dropout_at=dropout_at, **kwargs)


def resolve_model_factory(spec: str) -> Callable[..., nn.Module]:
    """Bring your own model: ``"pkg.module:factory"`` -> a checked constructor.

    The factory contract: ``factory(num_classes=..., in_channels=...,
    regimen=...) -> nn.Module`` whose first conv layer is ``.conv1`` (an
    ``nn.Conv2d``; experiment B tracks it). ``regimen`` describes the arm's
    regularisation and may be ``None`` (for now it always is); a factory
    that ignores it is fine. The arguments are passed by name, so that a
    factory with ``(in_channels, num_classes)`` in the other order still
    gets the right values.

    ``factory`` may be a dotted attribute (``"pkg.mod:Class.build"``).
    Returns a function ``build(num_classes, in_channels, regimen=None)``
    that calls the factory and checks what it returns. A spec without
    ``:``, a module that does not import, a missing or non-callable
    attribute, and (when called) a factory that returns no ``nn.Module``
    with an ``nn.Conv2d`` ``.conv1`` raise a one-line ValueError.
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"model: expected an import path 'pkg.module:factory', got {spec!r}")
    module_name, attr = spec.split(":")
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise UserModelError(f"your model {spec} failed at import: {_text(e)}") from e
        raise ValueError(f"model: cannot import module {module_name!r} of {spec!r} ({e})") from None
    except (Exception, SystemExit) as e:  # its own code failed (SyntaxError, sys.exit, ...)
        raise UserModelError(f"your model {spec} failed at import: {_text(e)}") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"model: {module_name!r} has no attribute {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"model: {spec!r} is a {type(obj).__name__}, not a callable factory")
    factory = obj

    def build(num_classes: int, in_channels: int, regimen=None) -> nn.Module:
        kwargs = dict(num_classes=num_classes, in_channels=in_channels, regimen=regimen)
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # some builtins have none: just call
            signature = None
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError as e:  # checked before the call: a TypeError inside it is the user's
                raise ValueError(f"model: {spec!r} must accept (num_classes, in_channels, "
                                 f"regimen) by name ({e})") from None
        try:
            model = factory(**kwargs)
        except (Exception, SystemExit) as e:
            raise UserModelError(f"your model {spec} failed in its factory: {_text(e)}") from e
        if not isinstance(model, nn.Module):
            raise ValueError(f"model: {spec!r} returned a {type(model).__name__}, expected an "
                             f"nn.Module")
        if not isinstance(getattr(model, "conv1", None), nn.Conv2d):
            raise ValueError(f"model: {spec!r} returned a {type(model).__name__} without an "
                             f"nn.Conv2d .conv1 (the first conv layer experiment B tracks)")
        _report_forward_errors(model, spec)
        return model

    build.spec = spec
    return build


def _text(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _report_forward_errors(model: nn.Module, spec: str) -> None:
    """An error inside the user's forward pass (a shape error, ...) becomes a
    UserModelError naming the model (the original is its cause)."""
    import types
    inner = type(model).forward  # the class's: a deep copy of the model stays itself

    def forward(self, *args, **kwargs):
        try:
            return inner(self, *args, **kwargs)
        except (Exception, SystemExit) as e:
            raise UserModelError(f"your model {spec} failed in its forward pass: {_text(e)}") from e

    model.forward = types.MethodType(forward, model)


def check_forward(model: nn.Module, num_classes: int, image_shape, name: str) -> None:
    """Run two blank images of ``image_shape`` (C, H, W) through ``model``
    before any work: logits of shape (2, num_classes) or a one-line error
    (ValueError for a built-in model, e.g. images too small for its
    poolings; UserModelError from the user's own code)."""
    import torch
    x = torch.zeros(2, *image_shape)
    was = model.training
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except UserModelError:
        raise
    except Exception as e:  # noqa: BLE001 - a built-in model that cannot take these images
        raise ValueError(f"model: {name} cannot take images of shape {tuple(image_shape)} "
                         f"({_text(e)})") from None
    finally:
        model.train(was)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, num_classes):
        raise ValueError(f"model: {name} returned {shape} for 2 images of shape "
                         f"{tuple(image_shape)}; expected logits of shape (2, {num_classes}), "
                         f"one per class")
