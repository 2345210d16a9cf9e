"""Hostile input for the library (utils.frequency), by class: models whose
outputs or weights are not finite, non-finite/empty/ill-typed/ill-shaped
arguments, labels outside the model's classes. Every case ends in a one-line
ValueError/TypeError naming the argument (or ``model``), never a normal-
looking number."""
import numpy as np
import pytest
import torch
from torch import nn

import utils.frequency as fq


def _fails(needle, call, *args, kind=(ValueError, TypeError), **kwargs) -> str:
    with pytest.raises(Exception) as err:
        call(*args, **kwargs)
    assert isinstance(err.value, kind), f"{type(err.value).__name__}: {err.value}"
    msg = str(err.value)
    assert needle in msg and "\n" not in msg, msg
    return msg


class Linear(nn.Module):
    """A 3-class linear classifier of 3x8x8 images; ``poison`` sets what its
    logits become: ``nan``/``inf``/``-inf`` everywhere, ``nan_some`` NaN for
    images whose mean pixel exceeds 0.4 only, ``weights`` NaN weights."""

    def __init__(self, poison=None, classes=3):
        super().__init__()
        self.fc = nn.Linear(3 * 64, classes)
        self.poison = poison
        with torch.no_grad():
            if poison == "weights":
                self.fc.weight[0, 0] = float("nan")

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if self.poison in ("nan", "inf", "-inf"):
            out = out + float(self.poison)
        elif self.poison == "nan_some":
            bad = (x.flatten(1).mean(1) > 0.4)[:, None]
            out = torch.where(bad, torch.full_like(out, float("nan")), out)
        return out


def _data(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g) * 0.5, torch.arange(n) % 3


def _heatmap(model, x, y, **kw):
    return fq.fourier_heatmap(model, x, y, batch_size=64, **kw)


def _curves(model, x, y, **kw):
    curves = [fq.noise_curve("gaussian", (0.0, 0.1), seed=1)]
    return fq.robustness_curves(model, x, y, curves, **kw)


EVALUATORS = [_heatmap, _curves]


# ------------------------------------------------ class 1: non-finite models

@pytest.mark.parametrize("evaluate", EVALUATORS, ids=["heatmap", "curves"])
@pytest.mark.parametrize("poison", ["nan", "inf", "-inf", "weights"])
def test_model_with_non_finite_logits_is_refused(evaluate, poison):
    x, y = _data()
    _fails("model", evaluate, Linear(poison), x, y)


def test_model_non_finite_on_perturbed_images_only_is_refused():
    """Clean images are fine (mean 0.25); a heavy level of noise or a basis
    perturbation pushes some above the NaN threshold: refused, not scored
    as errors of class 0."""
    x, y = _data()
    model = Linear("nan_some")
    assert torch.isfinite(model(x)).all()
    curves = [fq.noise_curve("gaussian", (0.0, 0.05, 2.0), seed=1)]
    _fails("model", fq.robustness_curves, model, x, y, curves)
    _fails("model", fq.fourier_heatmap, model, x.clamp(0.3, 0.35), y, v=40.0)


def test_model_with_wrong_outputs_is_refused():
    x, y = _data()
    for out in (lambda t: t.flatten(1).sum(1),  # (N,) not (N, classes)
                lambda t: t.flatten(1)[:, :0],  # no classes
                lambda t: (t.flatten(1)[:, :3] > 0.2).long(),  # integer "logits"
                lambda t: torch.complex(t.flatten(1)[:, :3], t.flatten(1)[:, :3]),
                lambda t: [t]):
        class M(nn.Module):
            def forward(self, t, out=out):
                return out(t)
        for evaluate in EVALUATORS:
            _fails("model", evaluate, M(), x, y)
    for bad in (None, "model", lambda t: t):
        for evaluate in EVALUATORS:
            _fails("model", evaluate, bad, x, y)


def test_conv_layers_with_non_finite_weights_are_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3))
    with torch.no_grad():
        model[2].weight[1, 0, 0, 0] = float("inf")
    _fails("'2'", fq.layer_weight_spectra, model, (3, 8, 8))
    _fails("'2'", fq.conv_filter_spectra, model, (3, 8, 8))
    tracker = fq.SpectrumTracker(model, None, input_shape=(3, 8, 8))
    _fails("'2'", tracker.snapshot, 0)
    with torch.no_grad():
        model[2].weight[1, 0, 0, 0] = 0.0
    tracker.snapshot(0)  # the refused snapshot left nothing half-recorded
    assert tracker.steps == [0] and all(len(e) == 1 for e in tracker.energy().values())
    with torch.no_grad():
        model[2].weight[1, 0, 0, 0] = float("inf")
    with torch.no_grad():
        model[0].bias[0] = float("nan")  # NaN feature maps
    _fails("model", fq.feature_map_spectra, model.eval(), torch.rand(1, 3, 8, 8), ["0"])


def test_ntk_of_a_non_finite_model_is_refused():
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    u = torch.linspace(-1, 1, 5)
    with torch.no_grad():
        model[2].bias.fill_(float("nan"))
    for call in (fq.empirical_ntk, fq.weight_jvp, fq.linearise):
        _fails("model", call, model, u)

    class Overflow(nn.Module):  # finite parameters, infinite output
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def forward(self, t):
            return self.lin(t) * float("inf")
    for call in (fq.empirical_ntk, fq.linearise):
        _fails("model", call, Overflow().double(), u)


# --------------------------------------------- class 2: non-finite arguments

@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_name_the_argument(value):
    x, y = _data()
    x[1, 0, 2, 3] = value
    for evaluate in EVALUATORS:
        _fails("images", evaluate, Linear(), x, y)
    _fails("x", fq.radial_power_spectrum, x)
    _fails("x", fq.high_frequency_fraction, x)
    _fails("x", fq.get_radial_spectrum, x)
    _fails("x", fq.feature_map_spectra, nn.Sequential(nn.Identity()), x, ["0"])
    _fails("u", fq.empirical_ntk, nn.Linear(1, 1), torch.tensor([0.0, value]))
    _fails("v", _heatmap, Linear(), *_data(), v=value)
    _fails("mean", _curves, Linear(), *_data(), mean=(0.5, value, 0.5))
    maps = np.zeros((3, 4, 4))
    bad = maps.copy()
    bad[0, 1, 1] = value
    _fails("treated", fq.paired_heatmap_difference, bad, maps)
    _fails("baseline", fq.paired_heatmap_difference, maps, bad)
    _fails("weight", fq.filter_spectra, torch.full((2, 1, 3, 3), value))


# ------------------------------------------------------------ class 3: empty

def test_empty_arguments_name_the_argument():
    model = Linear()
    x, y = _data()
    for evaluate in EVALUATORS:
        _fails("images", evaluate, model, x[:0], y[:0])
        _fails("labels", evaluate, model, x, y[:0])
    _fails("curves", fq.robustness_curves, model, x, y, [])
    _fails("x", fq.radial_power_spectrum, np.zeros((0, 8, 8)))
    _fails("x", fq.get_radial_spectrum, [])
    _fails("treated", fq.paired_heatmap_difference, np.zeros((0, 4, 4)), np.zeros((0, 4, 4)))
    _fails("weight", fq.filter_spectra, torch.zeros(0, 3, 3, 3))
    _fails("model", fq.conv_filter_spectra, nn.Sequential(nn.Flatten()), (3, 8, 8))
    _fails("x", fq.feature_map_spectra, nn.Sequential(nn.Identity()), torch.zeros(0, 3, 8, 8),
           ["0"])


# -------------------------------------------------------- class 4: wrong type

def test_wrong_dtypes_name_the_argument():
    model = Linear()
    x, y = _data()
    cases = [
        (dict(images=(x * 255).to(torch.uint8)), "images"),
        (dict(images=x.bool()), "images"),
        (dict(images=torch.complex(x, x)), "images"),
        (dict(images=np.array([[object()]])), "images"),
        (dict(labels=y.float()), "labels"),
        (dict(labels=y.bool()), "labels"),
        (dict(labels=["a", "b", "c", "d"]), "labels"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(batch_size=True), "batch_size"),
    ]
    for evaluate in EVALUATORS:
        for change, needle in cases:
            args = dict(images=x, labels=y)
            args.update(change)
            _fails(needle, evaluate, model, args.pop("images"), args.pop("labels"), **args)
    _fails("curves", fq.robustness_curves, model, x, y, "gaussian")
    _fails("x", fq.radial_power_spectrum, torch.zeros(4, 4, dtype=torch.complex64))
    _fails("treated", fq.paired_heatmap_difference, [["a"]], np.zeros((1, 1)))
    _fails("weight", fq.filter_spectra, torch.zeros(2, 1, 3, 3, dtype=torch.bool))
    _fails("model", fq.conv_filter_spectra, "conv1", (3, 8, 8))


# ------------------------------------------------------- class 5: wrong shape

def test_wrong_shapes_name_the_argument():
    model = Linear()
    x, y = _data()
    for evaluate in EVALUATORS:
        _fails("images", evaluate, model, x[0], y)  # one image, no batch
        _fails("labels", evaluate, model, x, y[:2])  # too few labels
        _fails("labels", evaluate, model, x, y[:, None])  # (N, 1)
    _fails("images", _heatmap, model, torch.rand(2, 3, 8, 6), y[:2])  # not square
    _fails("treated", fq.paired_heatmap_difference, np.zeros((3, 4, 4)), np.zeros((3, 4, 5)))
    _fails("treated", fq.paired_heatmap_difference, np.zeros((3, 4, 4)), np.zeros((2, 4, 4)))
    _fails("treated", fq.paired_heatmap_difference, np.zeros((4, 4)), np.zeros((4, 4)))
    _fails("weight", fq.filter_spectra, torch.zeros(3, 3, 3))
    _fails("pad_to", fq.filter_spectra, torch.zeros(2, 1, 5, 5), pad_to=3)
    _fails("input_shape", fq.conv_filter_spectra, nn.Conv2d(3, 2, 3), (8, 8))


# ------------------------------------------- class 6: labels outside classes

@pytest.mark.parametrize("label", [3, 10, -1, 2 ** 40])
def test_labels_outside_the_models_classes_are_refused(label):
    """A label the model cannot output counts as an error forever: an
    accuracy of 0 that looks like a measurement."""
    model = Linear(classes=3)
    x, y = _data()
    y = y.clone()
    y[-1] = label
    for evaluate in EVALUATORS:
        msg = _fails("labels", evaluate, model, x, y)
        assert str(label) in msg


def test_labels_inside_the_classes_but_unused_are_fine():
    """Classes the labels never name are allowed (a subset of a test set)."""
    model = Linear(classes=5)
    x, _ = _data()
    y = torch.zeros(4, dtype=torch.int64)
    heat = _heatmap(model, x, y)
    assert heat.shape == (8, 8) and np.isfinite(heat).all()
    out = _curves(model, x, y)
    assert np.isfinite(out["gaussian"]["loss"]).all()


# ------------------------------- class 7: every public function, bad arrays

class _AnyInput(nn.Module):
    """One output per row whatever the input's shape, so that only the
    argument under test is wrong."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)

    def forward(self, x):
        return self.lin(x.flatten(1).float().mean(1, keepdim=True))


_BAD = {"nan": np.full((2, 4, 4), np.nan), "inf": np.array([1.0, np.inf, 2.0]),
        "empty": np.zeros((0, 4, 4)), "empty list": [], "complex": np.zeros((4, 4), complex),
        "bool": np.zeros((4, 4), bool), "string": "abc", "strings": [["1", "a"]],
        "ragged": [[1.0], [1.0, 2.0]], "none": None, "object": object()}
_CLASSES = {"Curve", "RadialSpectrum", "SSRResult", "LearningState", "LearningStates",
            "SpectrumTracker", "FilterSpectra", "HeatmapDifference", "Linearisation"}


def _fill(param):
    """A valid-looking value for every other required argument."""
    if param.name == "model":
        return _AnyInput()
    if param.name in ("P", "n_bands", "stride", "n_points", "H", "W", "resolution"):
        return 4
    if param.name in ("offset", "seed"):
        return 0
    if param.name in ("kind", "family"):
        return "gaussian"
    if param.name in ("sigma", "radius", "eps", "level", "lam", "amount", "c", "size", "l2",
                      "horizon", "v"):
        return 1
    if param.name == "ks":
        return np.array([1, 2])
    if param.name == "lrs":
        return np.array([0.1])
    if param.name == "conv":
        return nn.Conv2d(1, 1, 3)
    if param.name == "input_shape":
        return (1, 4, 4)
    return np.random.default_rng(0).random((3, 4, 4))


def _public_functions():
    import inspect
    for name in fq.__all__:
        obj = getattr(fq, name)
        if name in _CLASSES or not callable(obj):
            continue
        every = list(inspect.signature(obj).parameters)
        params = [p for p in inspect.signature(obj).parameters.values()
                  if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
        keywords = {p.name: _fill(p) for p in inspect.signature(obj).parameters.values()
                    if p.default is p.empty and p.kind is p.KEYWORD_ONLY}
        for i, p in enumerate(params):
            yield name, obj, params, every, keywords, i


@pytest.mark.parametrize("bad", list(_BAD), ids=list(_BAD))
def test_every_public_function_names_a_bad_argument(bad):
    """Each required argument of each public function in turn gets a bad
    value: the call either works (some values are legal somewhere) or ends
    in one line naming an argument; never a raw numpy/torch error."""
    checked, wrong = 0, []
    for name, fn, params, every, keywords, i in _public_functions():
        args = [_BAD[bad] if j == i else _fill(p) for j, p in enumerate(params)]
        try:
            fn(*args, **keywords)
        except (ValueError, TypeError) as err:
            msg = str(err)
            named = msg.split(":")[0].split(", ")  # "x: ..." or "a, b: ..."
            if "\n" in msg or ":" not in msg or not set(named) <= set(every + ["model"]):
                wrong.append(f"{name}({params[i].name}={bad}): {type(err).__name__}: {msg}")
        except Exception as err:  # noqa: BLE001 - the point of the test
            wrong.append(f"{name}({params[i].name}={bad}): {type(err).__name__}: {err}")
        checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked > 60
