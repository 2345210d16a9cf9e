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

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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


def save_figure(fig: Figure, path: Path, pdf: bool = True, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (PNG) and, if ``pdf``, a PDF beside it.
    Returns the PNG path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names_as_typed(fig)
    with matplotlib.rc_context(RC):
        fig.savefig(path, dpi=dpi)
        if pdf:
            fig.savefig(path.with_suffix(".pdf"))
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


def legend_below(fig: Figure, axes, ncol: int | None = None, **kw):
    """One figure legend under the axes (constrained layout makes room), for
    legends that would cover data inside the axes: with 8 arms a ``loc="best"``
    legend has nowhere to go. Entries are collected from ``axes`` (one or a
    list), each label once, in drawing order."""
    handles, labels = [], []
    for ax in (axes if isinstance(axes, (list, tuple)) else [axes]):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if not labels:
        return None
    if ncol is None:
        # two columns only when two labels fit side by side in the figure
        # (a regimen's legend text can be long; a clipped legend says nothing)
        width_chars = fig.get_figwidth() * 72 / (0.6 * 8)   # ~ characters at 8 pt
        ncol = 2 if len(labels) > 2 and 2 * max(map(len, labels)) + 8 < width_chars else 1
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kw)


def integer_ticks(axis) -> None:
    """Ticks at whole numbers only (an epoch axis with 3 epochs otherwise
    gets 0.5, 1.5, ...). ``axis``: ``ax.xaxis`` or ``ax.yaxis``."""
    axis.set_major_locator(MaxNLocator(integer=True))
