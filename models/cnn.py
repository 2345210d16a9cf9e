"""A small, fast CNN for Experiment B on a 2-core CPU (32x32 and 28x28 images).

Layout (defaults ``k1=5``, ``widths=(16, 32, 64)``)::

    conv1 k1 x k1, stride 1 (in -> widths[0])  max-pool 2  BN  ReLU
    [conv 3x3 (widths[i-1] -> widths[i])       max-pool 2  BN  ReLU] for i >= 1
    global average pool  ->  dropout (Identity at p = 0)  ->  linear

With ``dropout_at="conv"`` the dropout is channel dropout (``Dropout2d``,
whole feature maps) after each conv block instead, the first right after
conv1's block, so it acts on what conv1 learns; the classifier then has none.

``conv1`` keeps stride 1 and a configurable odd kernel so that its weight has
a radial spectrum worth tracking (a 3x3 kernel has only two non-DC frequency
rings). Pooling right after each conv (as airbench does) runs batch norm and
ReLU on a quarter of the pixels; the spatial size goes 32 -> 16 -> 8 -> 4
(28 -> 14 -> 7 -> 3 for Fashion-MNIST).

Why these widths: measured on the 2-core AMD EPYC test CPU (float32, batch
256, forward + backward + SGD step on random 3x32x32 data, channels_last,
median of 7 interleaved repeats with the machine otherwise idle):
16-32-64 about 3,300 images/s, 24-48-96 about 1,650, 32-64-128 about 1,000
(NCHW memory: 2,200 and 700 for the first and last). Test accuracy on the
JPEG copy of CIFAR-10 after 3 epochs of 25,000 images (one-cycle SGD, lr 0.1,
crop + flip, seed 0): 56.0%, 59.9% and 60.1%. Only the narrowest stays well
above the 1,500 images/s that Experiment B's 10-minute default needs once
augmentation and evaluation are added. With other jobs on the two cores all
of these drop 3 to 6 times.
"""

from __future__ import annotations

import torch
from torch import nn


NORMS = ("batch", "none")


def check_norm(norm) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {list(NORMS)}, got {norm!r}")
    return norm


def _norm(channels: int, norm: str) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


class SmallCNN(nn.Module):
    """Small CNN whose first conv, ``model.conv1``, is the layer Experiment B
    tracks.

    Args:
        num_classes: outputs of the classifier.
        in_channels: 3 for CIFAR-10, 1 for Fashion-MNIST.
        k1: kernel size of ``conv1``; odd (``padding = k1 // 2`` keeps the size).
        widths: channels of conv1 and of each following 3x3 block (one
            max-pool per entry).
        norm: ``"batch"`` (BatchNorm after every conv) or ``"none"`` (no
            normalisation; the convs carry a bias instead). Behind a batch
            norm the scale of ``conv1`` does not matter, so L2's gradient on
            it is purely radial (docs/DEFINITIONS.md section 3): the
            ``"none"`` variant is the one where L2 can reshape conv1 directly.
        dropout: rate, ``0 <= p < 1``. At 0 the layer is an ``Identity``;
            parameter names never depend on it or on its placement, so all
            arms of a seed can load the same initial weights.
        dropout_at: ``"classifier"`` (before the linear read-out) or
            ``"conv"`` (channel dropout after every conv block).

    Shapes: ``x: (B, in_channels, H, W) -> (B, num_classes)``; H, W >= 2 **
    len(widths).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, k1: int = 5,
                 widths: tuple[int, ...] = (16, 32, 64), norm: str = "batch",
                 dropout: float = 0.0, dropout_at: str = "classifier"):
        super().__init__()
        if not isinstance(k1, int) or k1 < 1 or k1 % 2 == 0:
            raise ValueError(f"k1: expected an odd kernel size >= 1, got {k1!r}")
        widths = tuple(widths)
        if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths: expected a non-empty tuple of ints >= 1, got {widths!r}")
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes, in_channels: expected >= 1, got "
                             f"num_classes={num_classes}, in_channels={in_channels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {dropout}")
        if dropout_at not in ("classifier", "conv"):
            raise ValueError(f"dropout_at: expected 'classifier' or 'conv', got {dropout_at!r}")
        check_norm(norm)
        bias = norm == "none"  # a bias in front of a batch norm is cancelled by it
        self.conv1 = nn.Conv2d(in_channels, widths[0], k1, padding=k1 // 2, bias=bias)
        self.bn1 = _norm(widths[0], norm)
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias), nn.MaxPool2d(2),
                       _norm(c_out, norm), nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        on_conv = dropout > 0 and dropout_at == "conv"
        on_fc = dropout > 0 and dropout_at == "classifier"
        self.dropout = nn.Dropout(dropout) if on_fc else nn.Identity()
        # One per conv block, outside `blocks` so parameter names do not move.
        self.conv_dropout = nn.ModuleList(nn.Dropout2d(dropout) if on_conv else nn.Identity()
                                          for _ in widths)
        self.dropout_at_conv = on_conv
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(nn.functional.max_pool2d(self.conv1(x), 2)))
        if self.dropout_at_conv:
            x = self.conv_dropout[0](x)
            for i in range(len(self.conv_dropout) - 1):  # 4 modules per block
                for layer in self.blocks[4 * i:4 * i + 4]:
                    x = layer(x)
                x = self.conv_dropout[i + 1](x)
        else:
            x = self.blocks(x)
        x = self.pool(x).flatten(1)
        return self.fc(self.dropout(x))
