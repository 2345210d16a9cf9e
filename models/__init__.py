"""The image networks by name, for experiments and checkpoints.

``models.mlp.MLP`` (Experiment A, 1D regression) is not here: it is not an
image classifier and takes different arguments.
"""

from __future__ import annotations

import inspect

from torch import nn

from models.cnn import SmallCNN
from models.resnet import ResNet18

MODELS = {"small_cnn": SmallCNN, "resnet18": ResNet18}


def build_model(name: str, num_classes: int, in_channels: int, dropout: float = 0.0, *,
                dropout_at: str = "classifier", **kwargs) -> nn.Module:
    """``MODELS[name](num_classes=..., in_channels=..., dropout=...,
    dropout_at=..., **kwargs)``;
    ``kwargs`` are the model's own (e.g. ``k1``, ``widths``, ``batch_norm``
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
