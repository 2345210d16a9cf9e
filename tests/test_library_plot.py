"""utils.frequency.plot: each helper draws on a new figure or the caller's
Axes, returns the figure, keeps every label inside it, shows names
literally, and refuses bad input naming the argument."""
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

import utils.frequency as fq
from utils.frequency import plot


def _inside(fig) -> None:
    """Everything drawn lies within the figure (nothing clipped): the tight
    box of the drawn artists, in inches, inside the figure's size."""
    fig.canvas.draw()
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    assert tight.x0 >= -0.01 and tight.y0 >= -0.01 and tight.x1 <= w + 0.01 \
        and tight.y1 <= h + 0.01, (tight, (w, h))
    assert any(t.get_text() for t in fig.findobj(matplotlib.text.Text))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 64, 3)).eval()


def test_package_import_does_not_load_matplotlib():
    code = "import sys, utils.frequency; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_heatmap_on_its_own_figure_and_on_a_given_axes(tmp_path):
    heat = fq.fourier_heatmap(_model(), torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 2]))
    fig = plot.plot_heatmap(heat, title="net $a$ {b}")
    assert fig.get_layout_engine() is not None  # constrained layout
    ax = fig.axes[0]
    assert ax.get_title() == r"net \$a\$ {b}"  # shown literally, never mathtext
    assert np.array_equal(ax.images[0].get_array(), heat)
    lo, hi = ax.get_xlim()
    assert lo < -0.5 + 1e-9 and 0.375 < hi < 0.5  # 8x8: frequencies -4/8 ... 3/8 c/p
    fig.savefig(tmp_path / "heat.png")
    _inside(fig)
    other, axes = plt.subplots(1, 2, layout="constrained")
    assert plot.plot_heatmap(heat, ax=axes[1], colorbar=False) is other
    assert len(axes[1].images) == 1 and not axes[0].images


def test_heatmap_difference_marks_the_planted_cells(tmp_path):
    rng = np.random.default_rng(0)
    b = 0.4 + 0.02 * rng.standard_normal((5, 8, 8))
    t = b + 0.02 * rng.standard_normal((5, 8, 8))
    t[:, 2, 3] += 0.3
    d = fq.paired_heatmap_difference(t, b)
    fig = plot.plot_heatmap_difference(d, title="l2")
    ax = fig.axes[0]
    im = ax.images[0]
    assert im.get_clim() == (-np.abs(d.mean).max(), np.abs(d.mean).max())  # centred at 0
    xs, ys = ax.lines[0].get_data()
    assert len(xs) == d.excludes_zero.sum()
    assert any(np.isclose(x, (3 - 4) / 8) and np.isclose(y, (2 - 4) / 8) for x, y in zip(xs, ys))
    fig.savefig(tmp_path / "diff.png")
    _inside(fig)


def test_robustness_curves_one_or_several_models_accuracy_and_loss(tmp_path):
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    curves = fq.standard_curves(8, gaussian_sigmas=(0.0, 0.1), noise_norms=(0.0, 1.0), n_bands=2)
    r = fq.robustness_curves(_model(), x, y, curves)
    fig = plot.plot_robustness_curves(r, definitions=curves)
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == len(curves)
    assert panels[0].get_xlabel() == curves[0].xlabel
    np.testing.assert_array_equal(panels[1].lines[0].get_ydata(), r["highpass"]["acc"])
    fig.savefig(tmp_path / "curves.png")
    _inside(fig)
    fig2 = plot.plot_robustness_curves({"a": r, "b": r}, "band", metric="loss")
    ax = fig2.axes[0]
    assert len(ax.lines) == 2 and ax.get_legend() is not None
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), r["band"]["loss"])
    _inside(fig2)


def test_spectra_of_every_kind_stop_at_nyquist(tmp_path):
    model = _model()
    x = torch.rand(2, 3, 8, 8)
    items = {"images": fq.get_radial_spectrum(x),
             "pooled": fq.layer_weight_spectra(model, (3, 8, 8))["0"],
             "per filter": fq.conv_filter_spectra(model, (3, 8, 8))["0"]}
    fig = plot.plot_spectrum(items, cutoff=0.25, title="conv1")
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # three spectra and the cutoff
    for line in ax.lines[:3]:
        assert line.get_xdata().max() == pytest.approx(0.5)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), items["images"][0][:5])
    fig.savefig(tmp_path / "spectra.png")
    _inside(fig)
    fig2 = plot.plot_spectrum(items["pooled"], nyquist=False, logy=False)
    assert fig2.axes[0].lines[0].get_xdata().max() == pytest.approx(fq.ring_frequencies(8)[-1])


def test_bad_input_names_the_argument():
    cases = [
        (plot.plot_heatmap, (np.zeros((4, 5)),), {}, "heat"),
        (plot.plot_heatmap, (np.full((4, 4), np.nan),), {}, "heat"),
        (plot.plot_heatmap, ("map",), {}, "heat"),
        (plot.plot_heatmap, (np.zeros((4, 4)),), {"ax": "left"}, "ax"),
        (plot.plot_heatmap_difference, (np.zeros((4, 4)),), {}, "diff"),
        (plot.plot_robustness_curves, ({},), {}, "results"),
        (plot.plot_robustness_curves, ({"g": {"x": [0], "acc": [1]}},), {"metric": "err"}, "metric"),
        (plot.plot_robustness_curves, ({"g": {"x": [0], "acc": [1]}}, "band"), {}, "curves"),
        (plot.plot_robustness_curves, ({"g": {"x": [0], "acc": [1]}},), {"axes": [1, 2]}, "axes"),
        (plot.plot_spectrum, ({},), {}, "spectra"),
        (plot.plot_spectrum, (np.zeros(5),), {}, "spectra"),
        (plot.plot_spectrum, ((np.zeros(5), np.zeros(4)),), {}, "spectra"),
    ]
    for fn, args, kw, needle in cases:
        with pytest.raises((ValueError, TypeError)) as err:
            fn(*args, **kw)
        msg = str(err.value)
        assert msg.startswith(needle + ":") and "\n" not in msg, (fn.__name__, msg)
