"""Fully connected network for Experiment A (1D regression)."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units, each Linear -> activation
    -> Dropout(p), then a linear read-out.

    Args:
        in_dim, out_dim: input and output sizes (1 and 1 for Experiment A).
        width: hidden units per layer.
        depth: number of hidden layers (>= 1).
        activation: one of ``relu``, ``tanh``, ``gelu``, ``silu``.
        dropout: rate on hidden layers, ``0 <= p < 1``. Parameter names do
            not depend on it, so every arm can start from the same weights.
    Shapes: ``x: (B, in_dim) -> (B, out_dim)``.
    """

    def __init__(self, in_dim: int = 1, width: int = 256, depth: int = 4,
                 activation: str = "relu", dropout: float = 0.0, out_dim: int = 1):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if depth < 1 or width < 1:
            raise ValueError(f"depth, width: expected >= 1, got depth={depth}, width={width}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {dropout}")
        layers: list[nn.Module] = []
        fan_in = in_dim
        for _ in range(depth):
            # Identity when p = 0 keeps parameter names equal across arms.
            layers += [nn.Linear(fan_in, width), ACTIVATIONS[activation](),
                       nn.Dropout(dropout) if dropout > 0 else nn.Identity()]
            fan_in = width
        self.hidden = nn.Sequential(*layers)
        self.readout = nn.Linear(fan_in, out_dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden(x))
