"""The dose-response figure of several runs overlaid (``--compare``): runs
that swept the same knob share one axis; the others get a note. Each run's
panels come from the experiment's own loader (``experiments.dose.DOSE``),
passed in by the caller.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import numpy as np

from utils.visualization.dose import plot_dose_panels

SWEEP = "sweep.json"  # a run folder's sweep axis (experiments.dose.save_axis)

# --------------------------------------------------------------------------
# Overlay of several runs (``--compare``)
# --------------------------------------------------------------------------

OVERLAY_CAPTION = ("Dose-response of experiment {x} over {knob}, the compared runs overlaid: one "
                   "colour per run (legend), mean and 95% interval over that run's seeds, dots "
                   "for single seeds; the zero point (baseline) apart at the left. Each panel is "
                   "one measure of the run's own {fig}; paired measures are against the baseline "
                   "of the same run and seed.")
_PER_EXP_FIGURE = {"A": "exp_a_dose_response.png", "B": "exp_b_dose_response.png",
                   "C": "exp_c_dose_response.png"}


def _union(value_lists: list[list]) -> list:
    out: list = []
    for vs in value_lists:
        out += [v for v in vs if v not in out]
    return sorted(out) if _numeric_values(out) else out


def _numeric_values(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def overlay_panels(doses: list[dict], labels: list[str]) -> tuple[list, list[dict], int]:
    """``(values, panels, ncols)``: each (panel, series) of the runs' ``x_dose``
    output becomes one panel holding one series per run, on the union of the
    runs' values (NaN where a run lacks a value or a measure)."""
    values = _union([list(d["values"]) for d in doses])
    keys: list[tuple[int, str]] = []
    meta: dict[tuple[int, str], dict] = {}
    for d in doses:
        for i, panel in enumerate(d["panels"]):
            for name, _ in panel["series"]:
                if (i, name) not in meta:
                    keys.append((i, name))
                    meta[(i, name)] = panel
    keys.sort(key=lambda k: k[0])  # stable: a panel's series stay in first-seen order
    multi = {i for i, _ in keys if sum(1 for j, _ in keys if j == i) > 1}
    panels = []
    for i, name in keys:
        series = []
        for label, d in zip(labels, doses):
            got = dict(d["panels"][i]["series"]) if i < len(d["panels"]) else {}
            arr = np.asarray(got[name], float) if name in got else None
            S = arr.shape[1] if arr is not None else 1
            full = np.full((len(values), S), np.nan)
            if arr is not None:
                for row, v in enumerate(d["values"]):
                    full[values.index(v)] = arr[row]
            series.append((label, full))
        p = meta[(i, name)]
        # wrapped: a left-aligned title wider than its axes runs off the last column
        head = "\n".join(textwrap.wrap(p["title"], 26))
        panels.append({"title": f"{head}\n{name}" if i in multi else head,
                       "ylabel": p["ylabel"], "reference": p.get("reference"),
                       "series": series, "dodge": True})
    counts = [sum(1 for j, _ in keys if j == i) for i in sorted({i for i, _ in keys})]
    ncols = counts[0] if len(set(counts)) == 1 and counts[0] > 1 else min(4, len(panels))
    return values, panels, ncols


def compare_overlay(letter: str, run_dirs: list[Path], labels: list[str], path: Path,
                    load: Callable[[Path], dict | None]) -> tuple[Path | None, str, list[str]]:
    """Draw experiment ``letter``'s dose-response of several runs into ``path``.
    ``load(run_dir)``: one run's dose-response panels (``experiments.dose.DOSE``).

    ``run_dirs``: the experiment's folder in each run (None where the run lacks
    the experiment). Returns ``(figure or None, caption, notes)``: the figure
    when at least two runs hold a sweep of the same knob, and notes saying why
    runs were left out (another knob, unreadable arrays) or why nothing was
    drawn; all empty when no run holds a sweep.
    """
    swept, notes = [], []
    for label, d in zip(labels, run_dirs):
        if d is None or not (Path(d) / SWEEP).is_file():
            continue
        try:
            dose = load(d)
        except (OSError, KeyError, ValueError, IndexError) as e:
            notes.append(f"{label}: its sweep's arrays cannot be read ({type(e).__name__}: {e}); "
                         "left out of the dose-response overlay.")
            continue
        if dose is not None:
            swept.append((label, dose))
    if not swept:
        return None, "", notes
    by_knob: dict[str, list] = {}
    for label, dose in swept:
        by_knob.setdefault(dose["knob"], []).append((label, dose))
    knob = max(by_knob, key=lambda k: len(by_knob[k]))  # first of the largest group
    group = by_knob[knob]
    where = "; ".join(f"{lab}: {d['knob']}" for lab, d in swept)
    if len(group) < 2:
        if len(swept) > 1:
            notes.append(f"No dose-response overlay for experiment {letter}: the runs sweep "
                         f"different knobs ({where}), so their strengths share no axis.")
        else:
            notes.append(f"No dose-response overlay for experiment {letter}: only "
                         f"{swept[0][0]} holds a sweep ({knob}).")
        return None, "", notes
    others = [(lab, d) for lab, d in swept if d["knob"] != knob]
    if others:
        notes.append(f"Left out of experiment {letter}'s dose-response overlay (over {knob}): "
                     + ", ".join(f"{lab} (sweeps {d['knob']})" for lab, d in others)
                     + "; a sweep of another knob shares no axis with it.")
    labels_in = [lab for lab, _ in group]
    values, panels, ncols = overlay_panels([d for _, d in group], labels_in)
    title = (f"Experiment {letter}: dose-response over {knob}, "
             f"{len(group)} runs overlaid (mean and 95% interval over seeds)")
    fig = plot_dose_panels(Path(path), knob, values, panels, title, ncols=ncols)
    return fig, OVERLAY_CAPTION.format(x=letter, knob=knob, fig=_PER_EXP_FIGURE[letter]), notes
