"""The image networks: shapes, the first conv, state-dict sharing across
dropout rates, and the CIFAR form of ResNet-18."""

import pytest
import torch
from torch import nn

from models import MODELS, build_model
from models.cnn import SmallCNN
from models.resnet import ResNet18


pytestmark = pytest.mark.usefixtures("one_thread")


def _conv_params(c_in, c_out, k, bias=False):
    return c_in * c_out * k * k + (c_out if bias else 0)


def _resnet18_param_count(num_classes, in_channels):
    """Independent count, layer by layer, from the architecture of He et al.
    (2016) in its CIFAR form: conv weights, 2 parameters per BN channel,
    1x1 projection shortcuts where the width changes, linear 512 -> classes."""
    bn = lambda c: 2 * c  # noqa: E731
    total = _conv_params(in_channels, 64, 3) + bn(64)
    c_in = 64
    for c_out in (64, 128, 256, 512):
        for block in range(2):
            total += _conv_params(c_in, c_out, 3) + bn(c_out) + _conv_params(c_out, c_out, 3) + bn(c_out)
            if c_in != c_out:
                total += _conv_params(c_in, c_out, 1) + bn(c_out)
            c_in = c_out
    return total + 512 * num_classes + num_classes


def test_resnet18_parameter_count():
    n = sum(p.numel() for p in ResNet18().parameters())
    assert n == _resnet18_param_count(10, 3)
    assert abs(n - 11.17e6) < 0.01e6  # the commonly quoted size of CIFAR ResNet-18


def test_resnet18_cifar_form():
    model = ResNet18(num_classes=10)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.weight.data.shape == (64, 3, 3, 3)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        # feature maps keep 32x32 through the first stage: no stride or pool before it
        h = torch.relu(model.bn1(model.conv1(torch.randn(1, 3, 32, 32))))
        assert model.layer1(h).shape == (1, 64, 32, 32)
        assert model.layer4(model.layer3(model.layer2(model.layer1(h)))).shape == (1, 512, 4, 4)


def test_resnet18_grey_input_and_classes():
    model = ResNet18(num_classes=7, in_channels=1, dropout=0.0).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 16, 16)).shape == (3, 7)
    assert sum(p.numel() for p in model.parameters()) == _resnet18_param_count(7, 1)


@pytest.mark.parametrize("k1", [3, 5, 7])
@pytest.mark.parametrize("hw, c", [(32, 3), (28, 1), (16, 3)])
def test_small_cnn_shapes_and_conv1(k1, hw, c):
    model = SmallCNN(num_classes=10, in_channels=c, k1=k1, widths=(4, 8, 8)).eval()
    assert model.conv1.kernel_size == (k1, k1) and model.conv1.stride == (1, 1)
    assert model.conv1.weight.shape == (4, c, k1, k1)
    with torch.no_grad():
        assert model(torch.randn(2, c, hw, hw)).shape == (2, 10)
        # "same" padding: conv1 keeps the spatial size
        assert model.conv1(torch.randn(1, c, hw, hw)).shape[-2:] == (hw, hw)


def test_small_cnn_parameter_count():
    """Count from the layout in the module docstring: conv1 k1xk1, then 3x3
    convs, BN (2 per channel) after each, linear; convs have no bias with BN."""
    widths, k1, c = (16, 32, 64), 5, 3
    with_bn = SmallCNN(widths=widths, k1=k1)
    expected = _conv_params(c, 16, k1) + 2 * 16 + _conv_params(16, 32, 3) + 2 * 32 \
        + _conv_params(32, 64, 3) + 2 * 64 + 64 * 10 + 10
    assert sum(p.numel() for p in with_bn.parameters()) == expected
    no_bn = SmallCNN(widths=widths, k1=k1, norm="none")
    expected = _conv_params(c, 16, k1, True) + _conv_params(16, 32, 3, True) \
        + _conv_params(32, 64, 3, True) + 64 * 10 + 10
    assert sum(p.numel() for p in no_bn.parameters()) == expected
    assert no_bn.conv1.bias is not None and with_bn.conv1.bias is None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.modules())


@pytest.mark.parametrize("name, kwargs", [("small_cnn", {"widths": (4, 8)}), ("resnet18", {})])
def test_dropout_arms_share_state_dict(name, kwargs):
    base = build_model(name, 10, 3, 0.0, **kwargs)
    drop = build_model(name, 10, 3, 0.5, **kwargs)
    assert isinstance(base.dropout, nn.Identity) and isinstance(drop.dropout, nn.Dropout)
    assert list(base.state_dict()) == list(drop.state_dict())
    drop.load_state_dict(base.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        # dropout is the identity in eval mode, so equal weights give equal outputs
        assert torch.equal(base.eval()(x), drop.eval()(x))


def test_dropout_active_in_training():
    model = SmallCNN(widths=(4, 8), dropout=0.5).train()
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    b = model(x)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("kwargs, word", [
    ({"k1": 4}, "k1"), ({"k1": 0}, "k1"), ({"widths": ()}, "widths"), ({"widths": (8, 0)}, "widths"),
    ({"dropout": 1.0}, "dropout"), ({"dropout": -0.1}, "dropout"), ({"num_classes": 0}, "num_classes"),
])
def test_small_cnn_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        SmallCNN(**kwargs)


def test_resnet_rejects_bad_dropout():
    with pytest.raises(ValueError, match="dropout"):
        ResNet18(dropout=1.5)


def test_build_model_registry():
    assert set(MODELS) == {"small_cnn", "resnet18"}
    model = build_model("small_cnn", 5, 1, 0.25, k1=3, widths=(4, 8), norm="none")
    assert isinstance(model, SmallCNN) and model.conv1.weight.shape == (4, 1, 3, 3)
    assert model.fc.out_features == 5 and model.dropout.p == 0.25
    with pytest.raises(ValueError, match="name"):
        build_model("vgg", 10, 3, 0.0)
    with pytest.raises(ValueError, match="k1"):
        build_model("resnet18", 10, 3, 0.0, k1=5)


def test_norm_option_of_both_image_models():
    from models.resnet import ResNet18
    net = ResNet18(num_classes=10, dropout=0.0, norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert net.conv1.bias is not None
    # Fixup-style start: every residual branch's last conv is zero, so each block is its shortcut
    assert all(float(b.conv2.weight.detach().abs().max()) == 0 for s in (net.layer1, net.layer2, net.layer3,
                                                                   net.layer4) for b in s)
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert sum(isinstance(m, nn.BatchNorm2d) for m in ResNet18(dropout=0.0).modules()) == 20
    for cls in (SmallCNN, ResNet18):
        with pytest.raises(ValueError, match="norm"):
            cls(norm="group")
