"""models.resolve_model_factory: a user's model by import path."""

import pytest
import torch
from torch import nn

from models import resolve_model_factory


class Tiny(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(self.conv1(x).mean(dim=(-2, -1)))


def tiny_factory(in_channels, num_classes, regimen):  # other order on purpose: passed by name
    assert regimen is None
    return Tiny(num_classes, in_channels)


class Builders:
    @staticmethod
    def tiny(num_classes, in_channels, regimen=None):
        return Tiny(num_classes, in_channels)


def no_conv1(num_classes, in_channels, regimen):
    return nn.Linear(in_channels, num_classes)


def not_a_module(num_classes, in_channels, regimen):
    return "model"


def wrong_signature(classes, channels):
    return Tiny(classes, channels)


NOT_CALLABLE = 3


def test_factory_by_import_path_builds_the_model():
    build = resolve_model_factory(f"{__name__}:tiny_factory")
    model = build(num_classes=7, in_channels=1)
    assert isinstance(model, Tiny) and model.conv1.in_channels == 1
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 7)
    assert build.spec == f"{__name__}:tiny_factory"
    dotted = resolve_model_factory(f"{__name__}:Builders.tiny")(3, 2)
    assert dotted.conv1.in_channels == 2 and dotted.fc.out_features == 3


@pytest.mark.parametrize("spec, match", [
    ("no_colon", "import path"),
    ("a:b:c", "import path"),
    (":factory", "import path"),
    (42, "import path"),
    ("surely_not_a_module_xyz:f", "cannot import"),
    (f"{__name__}:missing", "no attribute"),
    (f"{__name__}:Builders.missing", "no attribute"),
    (f"{__name__}:NOT_CALLABLE", "not a callable"),
])
def test_bad_path_is_one_line_value_error(spec, match):
    with pytest.raises(ValueError, match=match) as e:
        resolve_model_factory(spec)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, match", [("no_conv1", "conv1"), ("not_a_module", "nn.Module"),
                                         ("wrong_signature", "by name")])
def test_bad_factory_is_one_line_value_error(name, match):
    build = resolve_model_factory(f"{__name__}:{name}")
    with pytest.raises(ValueError, match=match) as e:
        build(10, 3)
    assert "\n" not in str(e.value)


def buggy(num_classes, in_channels, regimen):
    return Tiny(num_classes, in_channels) + 1  # a TypeError from the factory's own body


def test_an_error_inside_the_factory_is_not_relabelled():
    from models import UserModelError  # named as the user's, with the original type and text
    with pytest.raises(UserModelError,
                       match="failed in its factory: TypeError: unsupported operand"):
        resolve_model_factory(f"{__name__}:buggy")(10, 3)
