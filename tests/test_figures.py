"""Figure details that a reader relies on: the HFF cut drawn and named is the
run's own (not a hard-coded 0.25), legends never sit on the data however many
arms, and epoch axes carry whole-number ticks.

B's figures are drawn here from a constructed ``exp_b_arrays.npz`` (8 arms, 2
seeds, 3 epochs, 16x16 grid, cut 0.3 c/p), so no training is needed; each
Figure is caught as it is saved by wrapping ``save_figure``.
"""

import json
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from experiments import exp_b_analysis
from utils import frequency as fq
from utils import runs
from utils.visualization import exp_a as viz_a
from utils.visualization import exp_a_theory as viz_theory
from utils.visualization import exp_b as viz_b
from utils.visualization import exp_c as viz_c
from utils.visualization.common import PANEL_COLUMNS, layout_problems, split_label, style

P, CUT, A, S, E1 = 16, 0.3, 8, 2, 4   # grid, HFF cut, arms, seeds, epochs + init
NAMES = [f"arm{i}" for i in range(A)]
LABELS = [f"arm{i} (L2 {i}e-4*sum||W||^2, dropout p=0.{i})" for i in range(A)]


@pytest.fixture
def saved(monkeypatch):
    """``{png name: Figure}`` of every figure the code would save while the
    test runs, drawn on an Agg canvas (laid out as when saved) but not written:
    PNG + PDF of every figure would make these tests ten times slower."""
    figures = {}

    def capture(fig, path, *args, **kw):
        with style():
            FigureCanvasAgg(fig).draw()
        figures[path.name] = fig
        return path

    for module in (viz_a, viz_theory, viz_b, viz_c):
        monkeypatch.setattr(module, "save_figure", capture)
    return figures


def make_b_arrays(run_dir, *, cut=CUT, with_cut=True):
    rng = np.random.default_rng(0)
    R = len(fq.ring_frequencies(P))
    profile = rng.uniform(0.1, 1.0, (A, S, E1, R))
    keys = dict(arms=np.array(NAMES), arm_labels=np.array(LABELS), dataset_id=np.array("test-16"),
                seeds=np.arange(S), epochs=np.arange(E1),
                conv1=rng.standard_normal((A, S, E1, 4, 3, 3, 3)).astype(np.float32),
                ring_count=fq.ring_counts(P), ring_frequency=fq.ring_frequencies(P),
                profile=profile / profile.sum(-1, keepdims=True),
                hff=rng.uniform(0.5, 0.9, (A, S, E1)),
                # the reference a run at this cut records
                hff_white=np.array(fq.white_noise_hff(P, cut)),
                test_acc=rng.uniform(0.2, 0.9, (A, S, E1)))
    for k in ("ssr_time_abs", "ssr_time_norm", "ssr_base_abs", "ssr_base_norm"):
        keys[k] = rng.normal(0, 0.1, (A, S, E1))
    if with_cut:
        keys["hff_cutoff"] = np.array(cut)
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.save_npz(run_dir / exp_b_analysis.ARRAYS, **keys)
    return run_dir


def labels_of(fig) -> list[str]:
    out = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return out


def visible_tick_labels(ax, which: str) -> list[str]:
    lo, hi = sorted(getattr(ax, f"get_{which}lim")())
    ticks = getattr(ax, f"get_{which}ticks")()
    texts = [t.get_text() for t in getattr(ax, f"get_{which}ticklabels")()]
    return [t for v, t in zip(ticks, texts) if lo - 1e-9 <= v <= hi + 1e-9]


def assert_integer_ticks(ax, which: str):
    shown = visible_tick_labels(ax, which)
    assert len(shown) >= 2, shown
    for text in shown:
        assert text.replace("\u2212", "-").lstrip("-").isdigit(), f"{which} tick {text!r}"


def assert_legend_outside_axes(fig):
    renderer = fig.canvas.get_renderer()
    assert fig.legends, "no figure legend"
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_visible() and ax.get_label() != "<colorbar>":
                assert not box.overlaps(ax.get_window_extent(renderer)), \
                    f"legend {box} overlaps the axes {ax.get_window_extent(renderer)}"
    for ax in fig.axes:
        assert ax.get_legend() is None, "a legend inside the axes covers data"


@pytest.mark.parametrize("source", ["arrays", "config.json", "summary.json", "cfg"])
def test_b_figures_draw_and_name_the_runs_cut(tmp_path, saved, source):
    run = make_b_arrays(tmp_path / "run", with_cut=source == "arrays")
    cfg = None
    if source == "config.json":
        (run / "config.json").write_text(json.dumps({"experiments": {"b": {"hff_cutoff": CUT}}}))
    elif source == "summary.json":
        (run / "summary.json").write_text(json.dumps({"dataset_id": "test-16",
                                                      "hff_cutoff": CUT}))
    elif source == "cfg":
        from experiments.exp_b_spectrum_evolution import Config
        cfg = Config(hff_cutoff=CUT)
    exp_b_analysis.render_figures(run, cfg)
    hff = saved["exp_b_hff.png"]
    assert f"power above {CUT:g} c/p" in hff.axes[0].get_ylabel()
    evo = saved["exp_b_spectrum_evolution.png"]
    assert f"HFF cut {CUT:g} c/p" in evo._suptitle.get_text()
    panels = [ax for ax in evo.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == A
    for ax in panels:  # the dashed line sits at the run's cut in every panel
        assert any(np.allclose(line.get_xdata(), [CUT, CUT]) for line in ax.lines)
        assert not any(np.allclose(line.get_xdata(), [0.25, 0.25]) for line in ax.lines)
    for name, fig in saved.items():
        assert not any("0.25" in text for text in labels_of(fig)), name


def test_b_figures_refuse_a_cut_the_arrays_contradict(tmp_path, saved):
    run = make_b_arrays(tmp_path / "run", with_cut=False)
    # a stale config (default 0.25) next to arrays measured at 0.3
    (run / "config.json").write_text(json.dumps({"experiments": {"b": {"hff_cutoff": 0.25}}}))
    assert fq.white_noise_hff(P, 0.25) != fq.white_noise_hff(P, CUT)
    with pytest.raises(ValueError, match="hff_cutoff: 0.25 c/p from .*config.json"):
        exp_b_analysis.render_figures(run)
    (run / "config.json").unlink()
    with pytest.raises(ValueError, match="no hff_cutoff"):
        exp_b_analysis.render_figures(run)


def test_b_epoch_axes_have_integer_ticks_and_legends_below(tmp_path, saved):
    exp_b_analysis.render_figures(make_b_arrays(tmp_path / "run"))
    for name in ("exp_b_hff.png", "exp_b_accuracy.png"):
        fig = saved[name]
        assert_integer_ticks(fig.axes[0], "x")
        assert_legend_outside_axes(fig)
        # every arm (and the white-noise line of the HFF figure) is in the legend,
        # as "name: regimen" (wrapped lines joined back)
        texts = [t.get_text().replace("\n   ", " ") for t in fig.legends[0].get_texts()]
        assert texts[:A] == [": ".join(split_label(lab)) for lab in LABELS]
    assert_legend_outside_axes(saved["exp_b_radial_profiles.png"])
    evo = saved["exp_b_spectrum_evolution.png"]
    assert_integer_ticks(evo.axes[0], "y")


def test_arm_curves_keep_fractional_ticks_when_not_asked(tmp_path, saved):
    # integer_x is opt-in: a non-epoch axis (e.g. a strength) keeps 0.5 steps
    x = np.linspace(0, 1.5, 4)
    m = np.zeros((2, 4))
    viz_b.plot_arm_curves(tmp_path / "c.png", x, m, m, m, ["a", "b"], xlabel="x",
                          ylabel="y", title="t")
    shown = visible_tick_labels(saved["c.png"].axes[0], "x")
    assert any("." in t for t in shown), shown


def test_c_scatter_legend_is_below_the_panels(tmp_path, saved):
    rng = np.random.default_rng(1)
    panels = [{"x": rng.normal(size=(A, S)), "y": rng.normal(size=(A, S)), "xlabel": "x",
               "ylabel": "y", "title": t, "hline": 0.0} for t in ("one", "two")]
    viz_c.plot_scatter(tmp_path / "s.png", panels, NAMES, "scatter")
    fig = saved["s.png"]
    assert_legend_outside_axes(fig)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == NAMES


# --- layout: no text off the canvas, no two labels on top of each other ---------

LONG_ARMS = ["baseline", "l2_small_penalty_on_every_weight:l2=1e-5",
             "l2_medium_penalty_on_every_weight:l2=1e-4", "l2_large_penalty_on_every_weight:l2=1e-3",
             "decoupled_weight_decay_like_adamw:l2=1e-4,l2_mode=decoupled",
             "dropout_light_in_the_hidden_layers:dropout=0.1",
             "dropout_heavy_in_the_hidden_layers:dropout=0.3",
             "l2_and_dropout_combined_regimen:l2=1e-4,dropout=0.2"]


def _layout_of_a_run(tmp_path_factory, monkeypatch_cls, extra):
    """{png name: layout problems} of every figure a quick ``all`` run saves
    (checked on the Figure as it is saved, so nothing is missed), and of the
    first and last frames of A's GIF (as they are drawn)."""
    from matplotlib.figure import Figure

    import main

    found = {}
    original = Figure.savefig
    fit_figure = viz_a.fit_figure

    def checked_frames(x, y, preds, *args, **kw):
        fig, show = fit_figure(x, y, preds, *args, **kw)
        last = len(preds[0]) - 1

        def show_checked(f, step):
            pixels = show(f, step)
            if f in (0, last):
                with style():
                    found[f"exp_a_fitting.gif frame {f}"] = layout_problems(fig)
            return pixels
        return fig, show_checked

    monkeypatch_cls.setattr(viz_a, "fit_figure", checked_frames)

    def checked(self, fname, *args, **kw):
        name = str(getattr(fname, "name", fname))  # save_figure renders into a named buffer
        if name.endswith(".png"):
            with style():
                FigureCanvasAgg(self)
                found[name.rsplit("/", 1)[-1]] = layout_problems(self)
        return original(self, fname, *args, **kw)

    monkeypatch_cls.setattr(Figure, "savefig", checked)
    out = tmp_path_factory.mktemp("layout")
    assert main.main(["--experiment", "all", "--quick", "--seeds", "2", "--workers", "1",
                      "--set", "a.steps=150", "--progress", "off", "--out", str(out), *extra]) == 0
    monkeypatch_cls.undo()
    (run,) = out.iterdir()
    found["run folder"] = run
    return found


@pytest.fixture(scope="module")
def layout_default(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        return _layout_of_a_run(tmp_path_factory, mp, [])


@pytest.fixture(scope="module")
def layout_eight_long_arms(tmp_path_factory):
    extra = [a for arm in LONG_ARMS for a in ("--arm", arm)]
    with pytest.MonkeyPatch.context() as mp:
        return _layout_of_a_run(tmp_path_factory, mp, extra)


@pytest.mark.slow
@pytest.mark.parametrize("run", ["layout_default", "layout_eight_long_arms"])
def test_no_figure_has_text_off_the_canvas_or_overlapping(run, request):
    found = dict(request.getfixturevalue(run))
    del found["run folder"]
    # every experiment's figures were checked, not just some, and both ends of the GIF
    assert {name.split("_")[1] for name in found} == {"a", "b", "c"}, sorted(found)
    assert len([name for name in found if name.startswith("exp_a_fitting.gif frame")]) == 2, \
        sorted(found)
    bad = {name: problems for name, problems in found.items() if problems}
    assert not bad, "\n".join(f"{n}: {p}" for n, ps in bad.items() for p in ps[:5])


def _columns(fig) -> int:
    """How many panels side by side the figure has (visible axes, colour bars aside)."""
    return len({round(ax.get_position().x0, 3) for ax in fig.axes
                if ax.get_visible() and ax.get_label() != "<colorbar>"})


def _key_texts(fig) -> list[str]:
    return [t.get_text().replace("\n   ", " ") for leg in fig.legends
            if leg.get_title().get_text() == "key" for t in leg.get_texts()]


def _a_labels(arms):
    from experiments import exp_a_core as core
    cfg = core.Config(arms=tuple(arms))
    return [a.label() for a in core.build_arms(cfg)]


@pytest.mark.parametrize("arms", [["baseline"], "default", LONG_ARMS],
                         ids=["1", "default", "8-long"])
def test_gif_frames_are_a_grid_with_a_key_and_no_clipped_or_overlapping_text(arms):
    """A's GIF, first and last frame, laid out like A's static figures: at most
    PANEL_COLUMNS arms a row (8 arms no longer make a 26-inch strip), short
    names over the cells, each regimen once in the key below."""
    from experiments import exp_a_core as core
    labels = _a_labels(core.Config().arms if arms == "default" else arms)
    A, F, N, K = len(labels), 3, 64, 24
    x = 2 * np.pi * np.arange(N) / N
    y = np.sin(5 * x) + np.sin(20 * x)
    preds = y + np.random.default_rng(0).normal(0, 0.3, (A, F, N))
    amp = lambda v: (np.abs(np.fft.rfft(v, axis=-1)) * 2 / N)[..., :K + 1]  # noqa: E731
    fig, show = viz_a.fit_figure(x, y, preds, amp(y), amp(preds), (5, 20), labels, "Experiment A")
    sizes = set()
    for f, step in ((0, 1), (F - 1, 123_456)):
        pixels = show(f, step)
        sizes.add(pixels.shape)
        with style():
            assert layout_problems(fig) == [], (f, layout_problems(fig))
        assert fig._suptitle.get_text().endswith(f"step {step:,}")
    assert len(sizes) == 1  # every frame the same size: the layout is fixed
    rows = -(-A // PANEL_COLUMNS)
    assert _columns(fig) == -(-A // rows)  # a cell is one column (fit above spectrum)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [split_label(lab)[0] for lab in labels]
    assert _key_texts(fig) == [": ".join(split_label(lab)) for lab in labels]


@pytest.mark.parametrize("arms", [["baseline"], ["baseline", "l2"], LONG_ARMS],
                         ids=["1", "2", "8-long"])
def test_a_static_and_mode_figures_fit_at_any_number_of_arms(tmp_path, saved, arms):
    """A's curves, residual map and the modes' figures (theory, label noise,
    held-out points) on A's arm grid: a title wider than one arm's figure is
    wrapped, the legend beside the panels clears it, nothing else collides."""
    labels = _a_labels(arms)
    A, C, K, freqs = len(labels), 12, 3, (5, 20, 50)
    rng = np.random.default_rng(A)
    steps = np.geomspace(1, 1e4, C)
    d = rng.uniform(0, 1, (A, C, K))
    title = ("Experiment A: MLP 4x256 relu fits sin(5x) + sin(20x) + sin(50x)\n"
             "per-frequency relative error (eval mode, full grid)")
    viz_a.plot_frequency_curves(tmp_path / "fc.png", steps, d, 0.9 * d, 1.1 * d, freqs, labels,
                                0.1, 2, title)
    viz_a.plot_spectrum_heatmaps(tmp_path / "sh.png", steps, rng.uniform(0, 1, (A, C, 65)),
                                 freqs, labels, title)
    viz_theory.plot_theory_overlay(tmp_path / "th.png", steps, d, 0.9 * d, freqs, labels, 0.1,
                                   title)
    viz_theory.plot_noise_curves(tmp_path / "nc.png", steps, d, d[..., :2], freqs, (30, 40),
                                 labels, 0.1, title)
    viz_theory.plot_heldout(tmp_path / "ho.png", steps, d, 1.1 * d, np.arange(65),
                            rng.uniform(0, 1, (A, 65)), rng.uniform(0, 1, (A, 65)), freqs,
                            labels, 0.1, title)
    rows = -(-A // PANEL_COLUMNS)
    for name in ("fc.png", "sh.png", "th.png", "nc.png", "ho.png"):
        fig = saved[name]
        assert _columns(fig) == -(-A // rows), name
        with style():
            assert layout_problems(fig) == [], (name, layout_problems(fig))


LONG_C_LABELS = [f"{name} (L2 penalty {i}e-4*sum||W||^2, dropout p=0.{i}, crop+flip)"
                 for i, name in enumerate(a.split(":")[0] for a in LONG_ARMS)]


@pytest.mark.parametrize("n", [1, 5, 8])
def test_heatmaps_wrap_into_a_grid_without_clipped_or_overlapping_text(tmp_path, saved, n):
    """C's Fourier heat maps and their difference to the baseline: at most
    PANEL_COLUMNS maps a row, rows filled evenly, the seed noise marked on the
    difference's colour bar, nothing clipped or overlapping."""
    P = 12
    f = np.fft.fftshift(np.fft.fftfreq(P))
    maps = np.random.default_rng(n).uniform(0.3, 0.6, (n, P, P))
    title = ("Experiment C (test-12): Fourier heat maps (12x12 bases, v = 4, 64 images), "
             "mean over 2 seeds")
    viz_c.plot_heatmaps(tmp_path / "h.png", maps, f, LONG_C_LABELS[:n], title)
    figs = [saved["h.png"]]
    if n > 1:
        viz_c.plot_heatmaps(tmp_path / "d.png", maps[1:] - maps[0], f, LONG_C_LABELS[1:n],
                            title, diverging=True, label="error rate - baseline's", noise=0.02)
        figs.append(saved["d.png"])
        (bar,) = [ax for ax in figs[1].axes if ax.get_label() == "<colorbar>"]
        assert sorted(line.get_ydata()[0] for line in bar.lines) == [-0.02, 0.02]
        assert "seed noise 0.020" in bar.get_ylabel()
    for fig, count in zip(figs, (n, n - 1)):
        rows = -(-count // PANEL_COLUMNS)
        assert _columns(fig) == -(-count // rows)
        with style():
            assert layout_problems(fig) == [], layout_problems(fig)


def test_layout_check_sees_clipped_and_overlapping_text():
    """The checker itself: a legend pushed off the canvas and two labels drawn
    on the same spot are reported; a clean figure is not."""
    from matplotlib.figure import Figure

    from utils.visualization.common import layout_problems, new_figure

    with style():
        clean = new_figure(4, 3)
        ax = clean.add_subplot()
        ax.plot([0, 1], [0, 1], label="a line")
        ax.set_title("title")
        assert layout_problems(clean) == []

        clipped = Figure(figsize=(4, 3))
        ax = clipped.add_subplot()
        ax.plot([0, 1], [0, 1], label="an arm whose label is far too long to fit " * 2)
        clipped.legend(loc="center left", bbox_to_anchor=(0.6, 0.5))
        FigureCanvasAgg(clipped)
        assert any("outside the canvas" in p for p in layout_problems(clipped))

        crowded = Figure(figsize=(4, 3))
        crowded.text(0.4, 0.5, "first label")
        crowded.text(0.42, 0.5, "second label")
        FigureCanvasAgg(crowded)
        assert any("overlap" in p for p in layout_problems(crowded))


# --- tables for machines hold numbers, not display strings -----------------------

# a number standing alone (not the 2 of "l2"): what a display string packs several of
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])", re.I)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def display_cells(path) -> list[str]:
    """Cells of a CSV that a program cannot read as numbers although they hold
    them: two or more numbers in one cell ("0.78 [0.75, 0.81]", "3/3", "249 231"),
    or text in a column whose other cells are numbers ("not learned by T=400")."""
    import csv
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = []
    for col in (rows[0].keys() if rows else ()):
        cells = [r[col] for r in rows if r[col] not in ("", None)]
        numeric = any(_is_number(c) for c in cells)
        for c in cells:
            if len(_NUMBER.findall(c)) >= 2 or "/" in c and _NUMBER.search(c) \
                    or (numeric and not _is_number(c)):
                bad.append(f"{path.name}:{col}: {c!r}")
                break
    return bad


def test_display_cell_detector():
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        good, bad = Path(d) / "good.csv", Path(d) / "bad.csv"
        good.write_text("arm,k,mean,lo,hi,n_learned\nl2+dropout,5,0.78,0.75,0.81,3\n"
                        "dropout=0.1,20,,,,0\n")
        bad.write_text('arm,t,ci,frac\nl2,240,"0.78 [0.75, 0.81]",3/3\nl2,not learned,"1 [0, 2]",0/3\n')
        assert display_cells(good) == []
        assert [b.split(":")[1] for b in display_cells(bad)] == ["t", "ci", "frac"]


@pytest.mark.slow
def test_every_csv_cell_that_is_a_number_is_a_number(layout_default):
    run = layout_default["run folder"]
    csvs = sorted(run.rglob("*.csv"))
    assert {p.parent.name for p in csvs} >= {"exp_a", "exp_b", "exp_c"}
    bad = [b for p in csvs for b in display_cells(p)]
    assert not bad, "\n".join(bad)
    top = json.loads((run / "summary.json").read_text())
    assert "headline" not in top  # the top summary no longer copies display tables
