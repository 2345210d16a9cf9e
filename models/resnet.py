"""ResNet-18 in its CIFAR form (He et al. 2016, as in kuangliu/pytorch-cifar).

Differences from the ImageNet ResNet-18, all for 32x32 inputs: the first conv
is 3x3 with stride 1 (not 7x7 stride 2) and there is no max-pool, so the
feature maps go 32 -> 32 -> 16 -> 8 -> 4 through the four stages. Dropout
before the classifier is optional (Identity at p = 0). With 10 classes the
network has 11,173,962 parameters (the count the tests derive layer by layer).

For GPU runs. On the 2-core test CPU a training step (batch 128, float32,
forward + backward + SGD) ran at 6 to 13 images/s, measured while other jobs
shared the machine: far too slow for Experiment B there.
"""

from __future__ import annotations

import torch
from torch import nn

from .cnn import check_norm


def _norm(channels: int, norm: str) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; a 1x1 conv + BN shortcut
    when the stride or the width changes. ``x: (B, c_in, H, W) ->
    (B, c_out, H / stride, W / stride)``. With ``norm="none"`` the convs
    carry biases and the residual branch's last conv starts at zero (Fixup /
    SkipInit, Zhang et al. 2019), so that the unnormalised network starts as
    its shortcuts and trains at the batch-norm learning rate."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = _norm(c_out, norm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=bias)
        self.bn2 = _norm(c_out, norm)
        if norm == "none":
            nn.init.zeros_(self.conv2.weight)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=bias), _norm(c_out, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3x3 stride-1 ``conv1`` (reachable as ``model.conv1``,
    e.g. ``model.conv1.weight.data``), no max-pool, BasicBlocks [2, 2, 2, 2]
    with widths 64-128-256-512, global average pool, dropout, linear.

    Args:
        num_classes: outputs of the classifier.
        dropout: rate before the classifier, ``0 <= p < 1``; Identity at 0, so
            parameter names (and ``load_state_dict(strict=True)``) do not
            depend on it.
        in_channels: 3 for colour images, 1 for grey.
        dropout_at: ``"classifier"`` (before the linear layer) or ``"conv"``
            (channel dropout, ``Dropout2d``, after each of the four residual
            stages; the classifier then has none).
        norm: ``"batch"`` (the standard network) or ``"none"`` (no
            normalisation anywhere, Fixup-style zero-initialised residual
            branches, see :class:`BasicBlock`): the variant in which L2 acts on
            ``conv1``'s scale and shape directly.

    Shapes: ``x: (B, in_channels, H, W) -> (B, num_classes)``.
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.5, in_channels: int = 3,
                 dropout_at: str = "classifier", norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes, in_channels: expected >= 1, got "
                             f"num_classes={num_classes}, in_channels={in_channels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {dropout}")
        if dropout_at not in ("classifier", "conv"):
            raise ValueError(f"dropout_at: expected 'classifier' or 'conv', got {dropout_at!r}")
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=norm == "none")
        self.bn1 = _norm(64, norm)
        widths, c_in, stages = (64, 128, 256, 512), 64, []
        for i, c_out in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride, norm),
                                        BasicBlock(c_out, c_out, 1, norm)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        on_conv = dropout > 0 and dropout_at == "conv"
        self.dropout = nn.Dropout(dropout) if dropout > 0 and not on_conv else nn.Identity()
        self.stage_dropout = nn.ModuleList(nn.Dropout2d(dropout) if on_conv else nn.Identity()
                                           for _ in range(4))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        for stage, drop in zip((self.layer1, self.layer2, self.layer3, self.layer4),
                               self.stage_dropout):
            x = drop(stage(x))
        return self.fc(self.dropout(self.pool(x).flatten(1)))
