"""Shared figure conventions (STYLE.md rule 6).

* Never pyplot's global state: figures are built with ``matplotlib.figure.Figure``
  and saved through their own canvas, so notebooks and threads are safe and no
  backend needs choosing at import.
* Okabe-Ito colours (colour-blind safe) plus a line style per arm, so arms
  stay apart in grey-scale print too.
* Every figure is saved as PNG (150 dpi) and PDF with TrueType (Type 42)
  fonts, which journals accept and which stay editable.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from utils.runs import write_bytes

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
             "#56B4E9", "#F0E442", "#000000"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

RC = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def arm_style(i: int) -> dict:
    """Colour, line style and marker of the i-th arm (stable across figures)."""
    return {"color": OKABE_ITO[i % len(OKABE_ITO)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "marker": MARKERS[i % len(MARKERS)]}


def style():
    """Context manager with the house rc settings. rcParams are read when
    artists are created, so wrap the whole figure-building body in it."""
    return matplotlib.rc_context(RC)


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with constrained layout (call inside ``style()``)."""
    return Figure(figsize=(width, height), layout="constrained")


PANEL_COLUMNS = 4  # arms per row of panels: 8 arms make two rows, not one 26-inch strip


def arm_panels(n_arms: int, width: float, height: float, extra_width: float = 0.0,
               stacked: int = 1, sharey: bool = True):
    """A grid with one cell per arm, at most :data:`PANEL_COLUMNS` cells a
    row, the rows filled evenly (5 arms: 3 + 2, not 4 + 1); a cell is
    ``stacked`` panels one above the other (``width`` x ``height`` inches
    per cell, ``extra_width`` for a legend beside). Panels of one kind share their y axis
    (``sharey``): all of them when ``stacked == 1``, row by row otherwise.
    Cells left over in the last row are hidden.

    Returns:
        (figure, the arms' panels in order: an axes each when ``stacked == 1``,
        else an array of its ``stacked`` axes, top first; the panel grid
        ``(rows * stacked, cols)``, whose column 0 carries the y labels).
    """
    rows = -(-n_arms // PANEL_COLUMNS)
    cols = -(-n_arms // rows)
    fig = new_figure(width * cols + extra_width, height * rows)
    share = "row" if sharey and stacked > 1 else sharey  # a fit and a spectrum: not one scale
    grid = fig.subplots(rows * stacked, cols, sharey=share, squeeze=False)
    cells = [grid[r * stacked:(r + 1) * stacked, c] for r in range(rows) for c in range(cols)]
    for cell in cells[n_arms:]:
        for ax in cell:
            ax.set_visible(False)
    cells = cells[:n_arms]
    return fig, [c[0] for c in cells] if stacked == 1 else cells, grid


def save_figure(fig: Figure, path: Path, pdf: bool = True, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (PNG) and, if ``pdf``, a PDF beside it.
    Returns the PNG path."""
    path = Path(path)
    names_as_typed(fig)
    with matplotlib.rc_context(RC):  # rendered in memory, written atomically, never through a link
        for target, kwargs in [(path, {"dpi": dpi})] + [(path.with_suffix(".pdf"), {})] * pdf:
            buf = io.BytesIO()
            buf.name = str(target)  # what the figure is saved as, for whoever inspects savefig
            fig.savefig(buf, format=target.suffix.lstrip(".") or "png", **kwargs)
            write_bytes(target, buf.getvalue())
    return path


def names_as_typed(fig: Figure) -> None:
    """Titles, figure texts and legend entries carry the user's names
    (dataset ids, arms), never intended mathtext: they are drawn as typed
    (mathtext off for them; axis labels keep theirs, e.g. ``$\\Delta_k$``).
    ``save_figure`` applies it to every figure."""
    texts = list(fig.texts)
    legends = list(fig.legends)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title]
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for legend in legends:
        texts += list(legend.get_texts())
        if legend.get_title() is not None:
            texts.append(legend.get_title())
    for text in texts:
        text.set_parse_math(False)


def split_label(label: str) -> tuple[str, str]:
    """``"l2 (L2 penalty 5e-4*sum||W||^2, crop+flip)"`` -> ``("l2", "L2 penalty ...")``:
    an arm's short name and its regimen text ("" when the label is a bare name)."""
    label = str(label)
    name, sep, rest = label.partition(" (")
    if sep and rest.endswith(")"):
        return name, rest[:-1]
    return label, ""


def short_names(labels) -> list[str]:
    """The arms' short names (panel titles, tick labels)."""
    return [split_label(lab)[0] for lab in labels]


def _chars_per_line(fig: Figure, fontsize: float, ncol: int) -> int:
    """About how many characters of ``fontsize`` fit in one of ``ncol``
    legend columns across the figure (handles and padding taken off)."""
    width_pt = fig.get_figwidth() * 72 - 24
    return max(12, int(width_pt / ncol / (0.56 * fontsize)) - 6)


def _wrap_entries(fig: Figure, labels, fontsize: float, ncol: int | None):
    """(ncol, labels wrapped to fit). The most columns (up to 4) in which
    every label fits on one line; one column with wrapped labels otherwise."""
    longest = max(len(lab) for lab in labels)
    if ncol is None:
        ncol = next((c for c in (4, 3, 2) if c <= len(labels)
                     and longest <= _chars_per_line(fig, fontsize, c)), 1)
    width = _chars_per_line(fig, fontsize, ncol)
    return ncol, [textwrap.fill(lab, width, subsequent_indent="   ", break_on_hyphens=False,
                                break_long_words=False) for lab in labels]


def legend_below(fig: Figure, axes, ncol: int | None = None, fontsize: float = 8, **kw):
    """One figure legend under the axes (constrained layout makes room), for
    legends that would cover data inside the axes: with 8 arms a ``loc="best"``
    legend has nowhere to go. Entries are collected from ``axes`` (one or a
    list), each label once, in drawing order; an arm's label ``name (regimen)``
    is shown as ``name: regimen``, wrapped to the figure's width, so the legend
    is the key and is never clipped."""
    handles, labels = [], []
    for ax in (axes if isinstance(axes, (list, tuple)) else [axes]):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if not labels:
        return None
    shown = [": ".join(p for p in split_label(lab) if p) for lab in labels]
    ncol, shown = _wrap_entries(fig, shown, fontsize, ncol)
    _make_room(fig, shown, ncol, fontsize)
    return fig.legend(handles, shown, loc="outside lower center", ncol=ncol, fontsize=fontsize,
                      **kw)


def _make_room(fig: Figure, entries, ncol: int, fontsize: float) -> None:
    """Grow the figure by the height of a legend below it, so the axes keep
    their size however many (wrapped) entries it has."""
    rows = [entries[i:i + ncol] for i in range(0, len(entries), ncol)]
    lines = sum(max(e.count("\n") + 1 for e in row) for row in rows)
    fig.set_figheight(fig.get_figheight() + (lines * fontsize * 1.45 + 14) / 72)


def arm_ticks(ax, x, labels, fontsize: float = 8) -> None:
    """Arms on a categorical axis by short name: level when they fit side by
    side, vertical otherwise (slanted long names collide with each other)."""
    names = short_names(labels)
    fig = ax.get_figure()
    per_tick = fig.get_figwidth() * 72 * 0.8 / max(len(names), 1)
    longest = max(len(n) for n in names) * 0.6 * fontsize
    level = longest < per_tick
    if not level and not getattr(fig, "_freqreg_tick_room", False):
        fig.set_figheight(fig.get_figheight() + longest / 72)  # the axes keep their height
        fig._freqreg_tick_room = True  # once per figure, however many panels
    ax.set_xticks(x, names, rotation=0 if level else 90, fontsize=fontsize)


def arm_key(fig: Figure, labels, fontsize: float = 7):
    """For panels titled by short arm names: a key under the figure, one
    ``name: regimen`` entry per arm that has regimen text, wrapped to fit."""
    entries = [f"{n}: {r}" for n, r in map(split_label, labels) if r]
    if not entries:
        return None
    ncol, shown = _wrap_entries(fig, entries, fontsize, None)
    _make_room(fig, shown, ncol, fontsize)
    handles = [Line2D([], [], linestyle="none") for _ in shown]
    return fig.legend(handles, shown, loc="outside lower center", ncol=ncol, fontsize=fontsize,
                      handlelength=0, handletextpad=0, frameon=False, title="key",
                      title_fontsize=fontsize)


def wrap_text(text: str, inches: float, fontsize: float = 9) -> str:
    """``text`` broken into lines of at most ``inches`` at ``fontsize`` (axis
    labels longer than their axes run into the next panel or off the canvas)."""
    return textwrap.fill(str(text), max(10, int(inches * 72 / (0.56 * fontsize))))


def suptitle(fig: Figure, title: str, fontsize: float = 10, margin: float = 0.3):
    """``fig``'s title, each of its lines wrapped to the figure's width (less
    ``margin`` inches): a title wider than a one-arm figure runs off the canvas."""
    width = fig.get_figwidth() - margin
    lines = [wrap_text(line, width, fontsize) for line in str(title).split("\n")]
    return fig.suptitle("\n".join(lines), fontsize=fontsize)


def integer_ticks(axis) -> None:
    """Ticks at whole numbers only (an epoch axis with 3 epochs otherwise
    gets 0.5, 1.5, ...). ``axis``: ``ax.xaxis`` or ``ax.yaxis``."""
    axis.set_major_locator(MaxNLocator(integer=True))


def _drawn_texts(fig: Figure) -> list:
    """The non-empty, visible text artists a saved figure shows: titles,
    labels, drawn tick labels (those inside the view), annotations, legends."""
    texts = [t for t in fig.texts]
    for leg in fig.legends:
        texts += [leg.get_title(), *leg.get_texts()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        for axis, (lo, hi) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            texts.append(axis.label)
            texts.append(axis.get_offset_text())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not (lo - 1e-9 * (hi - lo) <= loc <= hi + 1e-9 * (hi - lo)):
                    continue
                texts += [t for t in (tick.label1, tick.label2) if t.get_visible()]
        if ax.get_legend() is not None:
            texts += [ax.get_legend().get_title(), *ax.get_legend().get_texts()]
    if getattr(fig, "_suptitle", None) is not None:
        texts.append(fig._suptitle)
    return [t for t in dict.fromkeys(texts)
            if t.get_visible() and t.get_text().strip() and t.get_figure(root=True) is fig]


def layout_problems(fig: Figure, tol: float = 1.0) -> list[str]:
    """What a reader would see as broken in ``fig`` once drawn: text that
    lies (partly) outside the canvas, and two texts that overlap. ``tol``:
    pixels of slack (antialiasing). Draws the figure (on an Agg canvas if it
    has none); call inside ``style()``."""
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    boxes, problems = [], []
    for t in _drawn_texts(fig):
        bb = t.get_window_extent(renderer)
        if bb.width <= 0 or bb.height <= 0:
            continue
        if bb.x0 < -tol or bb.y0 < -tol or bb.x1 > W + tol or bb.y1 > H + tol:
            problems.append(f"outside the canvas: {t.get_text()!r}")
        boxes.append((t, bb))
    for i, (t1, b1) in enumerate(boxes):
        for t2, b2 in boxes[i + 1:]:
            dx = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
            dy = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
            if dx > tol and dy > tol:
                problems.append(f"overlap: {t1.get_text()!r} and {t2.get_text()!r}")
    return problems
