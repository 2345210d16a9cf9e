"""``build_comparison(run_dirs, out_dir)``: several runs on one page.

Meant for runs that differ in a setting or two (two L2 strengths, CIFAR-10
against its JPEG copy): a table of the config fields that differ, then per
experiment the same figure from every run side by side and each table
stacked with a run column. Figures are linked relatively from ``out_dir``.
Runs that swept the same knob (``sweep.json``) also get their dose-response
overlaid on one figure drawn into ``out_dir/figures`` at the top of the
experiment's section; runs sweeping different knobs get a note instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from utils.runs import write_text

from .dose_overlay import compare_overlay

from .findings import findings_section
from .loading import Figure, Run, Table, load_run
from .markup import esc, fmt_cell, fmt_seconds, figure, href, page, table, warning_box
from .sections import (command_line, dataset_ids, figure_block, missing_figures, part_warnings,
                       rel_link, run_warnings, seeds_text, total_seconds)

COMPARISON_NAME = "comparison.html"
# Environment fields worth flagging when runs differ in them (all others vary
# by nature: start time, argv, thread counts).
ENV_FIELDS = ("git_sha", "git_dirty", "device", "device_name", "python", "torch", "cuda", "numpy")
ABSENT = "(absent)"


def _flatten(obj: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = fmt_cell(obj) if not isinstance(obj, str) else obj


def settings(run: Run) -> dict[str, str]:
    """Flat ``field -> shown value`` of what a run was asked to do and where it ran."""
    out: dict[str, str] = {}
    _flatten((run.config or {}).get("experiments") or {}, "", out)
    for p in run.parts:
        out[f"{p.letter.lower()}.dataset_id"] = p.dataset_id or ABSENT
    for k in ENV_FIELDS:
        if run.env and k in run.env:
            out[f"env.{k}"] = fmt_cell(run.env[k])
    return out


def differing_settings(runs: list[Run]) -> list[tuple[str, list[str]]]:
    per_run = [settings(r) for r in runs]
    keys: list[str] = []
    for s in per_run:
        keys += [k for k in s if k not in keys]
    rows = []
    for k in keys:
        values = [s.get(k, ABSENT) for s in per_run]
        if len(set(values)) > 1:
            rows.append((k, values))
    return rows


def _labels(runs: list[Run]) -> list[str]:
    labels: list[str] = []
    for r in runs:
        name, i = r.path.name, 2
        while name in labels:
            name, i = f"{r.path.name} #{i}", i + 1
        labels.append(name)
    return labels


def _table_key(tables: tuple[Table, ...]) -> list[tuple[tuple[str, ...], int]]:
    """Match tables across runs by their columns and how many with those columns
    came before: titles often carry run-dependent numbers (``T=400``, ``2 seeds``)."""
    seen: dict[tuple[str, ...], int] = {}
    keys = []
    for t in tables:
        n = seen.get(t.columns, 0)
        seen[t.columns] = n + 1
        keys.append((t.columns, n))
    return keys


def overlay_name(letter: str) -> str:
    """The comparison folder's overlaid dose-response figure of one experiment."""
    return f"figures/compare_exp_{letter.lower()}_dose.png"


def _dose_overlay(letter: str, parts: list, labels: list[str], out_dir: Path, load) -> str:
    """Runs holding a sweep of the same knob overlaid on one dose-response
    figure (drawn from the runs' saved arrays by ``load``), or notes saying
    why not; nothing when no run swept or no ``load`` is given."""
    if load is None:
        return ""
    fig, caption, notes = compare_overlay(
        letter, [p.path if p is not None else None for p in parts], labels,
        out_dir / overlay_name(letter), load)
    out = []
    if fig is not None:
        out += [f'<h3 id="exp-{esc(letter.lower())}-dose">Dose-response, runs overlaid</h3>',
                figure(href(overlay_name(letter)), caption)]
    out += [f'<p class="dose-note">{esc(n)}</p>' for n in notes]
    return "\n".join(out)


def _experiment_section(letter: str, runs: list[Run], labels: list[str], out_dir: Path,
                        dose_loaders: dict) -> str:
    parts = [{p.letter: p for p in r.parts}.get(letter) for r in runs]
    out = [f'<section id="exp-{esc(letter.lower())}"><h2>Experiment {esc(letter)}</h2>',
           _dose_overlay(letter, parts, labels, out_dir, dose_loaders.get(letter))]
    for label, part in zip(labels, parts):
        if part is None:
            out.append(f"<p>{esc(label)}: experiment {esc(letter)} not in this run.</p>")
        else:
            out.append(warning_box(part_warnings(part) + missing_figures(part),
                                   f"Warnings of {label}"))
    files: list[str] = []
    captions: dict[str, str] = {}
    for part in parts:
        for f in part.figures if part else ():
            if f.file not in files:
                files.append(f.file)
                captions[f.file] = f.caption
    if files:
        out.append("<h3>Figures</h3>")
    for file in files:
        cells = []
        for label, part in zip(labels, parts):
            if part is not None and any(f.file == file for f in part.figures):
                cells.append(figure_block(part, Figure(file, ""), out_dir, embed=False,
                                          label=label))
            else:
                cells.append(f'<figure><div class="label">{esc(label)}</div>'
                             f'<div class="missing">not in this run</div></figure>')
        out.append(f"<h4><code>{esc(file)}</code></h4><p>{esc(captions[file])}</p>"
                   f'<div class="side">{"".join(cells)}</div>')
    groups: dict[tuple, list[tuple[str, Table]]] = {}
    for label, part in zip(labels, parts):
        if part is not None:
            for key, t in zip(_table_key(part.tables), part.tables):
                groups.setdefault(key, []).append((label, t))
    if groups:
        out.append("<h3>Tables</h3>")
    for (columns, _), members in groups.items():
        rows = [(label, *r) for label, t in members for r in t.rows]
        titles = {t.title for _, t in members}
        out.append(table(("run", *columns), rows, title=members[0][1].title))
        if len(titles) > 1:
            out.append('<p class="sub">Titles by run: ' + "; ".join(
                f"{esc(label)}: {esc(t.title)}" for label, t in members) + "</p>")
    out.append("</section>")
    return "\n".join(x for x in out if x)


def render(runs: list[Run], out_dir: Path, dose_loaders: dict | None = None) -> str:
    labels = _labels(runs)
    overview = []
    for label, r in zip(labels, runs):
        report = r.path / "report.html"
        link = (f'<a href="{href(rel_link(report, out_dir))}">report</a>' if report.is_file()
                else "no report.html")
        total = total_seconds(r)
        overview.append(
            f"<tr><td>{esc(label)}</td><td><code>{esc(command_line(r))}</code></td>"
            f"<td>{esc(', '.join(dataset_ids(r)) or 'built-in')}</td><td>{esc(seeds_text(r))}</td>"
            f"<td>{esc(fmt_seconds(total) if total is not None else 'not recorded')}</td>"
            f"<td>{len(run_warnings(r, tag=False))}</td><td>{link}</td></tr>")
    diffs = differing_settings(runs)
    letters = sorted({p.letter for r in runs for p in r.parts})
    title = f"Comparison of {len(runs)} runs: experiment{'s' if len(letters) > 1 else ''} " \
            + ", ".join(letters)
    body = [f"<h1>{esc(title)}</h1>",
            '<p class="sub">Built from the run folders alone; figures are linked relative to '
            "this file, so keep the folders where they are (or zip them together).</p>",
            findings_section(list(zip(labels, runs)), out_dir),
            '<div class="scroll"><table><thead><tr><th>run</th><th>command</th><th>dataset</th>'
            "<th>seeds</th><th>wall time</th><th>warnings</th><th>report</th></tr></thead>"
            "<tbody>" + "".join(overview) + "</tbody></table></div>",
            "<h2>Settings that differ</h2>",
            table(("field", *labels), [(k, *v) for k, v in diffs]) if diffs
            else "<p>The recorded configurations, datasets and environments are identical.</p>",
            "<nav><strong>Experiments</strong><ul>" + "".join(
                f'<li><a href="#exp-{esc(x.lower())}">Experiment {esc(x)}</a></li>'
                for x in letters) + "</ul></nav>"]
    body += [_experiment_section(x, runs, labels, out_dir, dose_loaders or {}) for x in letters]
    return page(title, "\n".join(body))


def build_comparison(run_dirs: list[str | Path], out_dir: str | Path,
                     dose_loaders: dict | None = None) -> Path:
    """Write ``<out_dir>/comparison.html`` comparing ``run_dirs`` and return its path.
    ``dose_loaders``: experiment letter -> ``load(run_dir)`` of its
    dose-response panels (``experiments.dose.DOSE``), for the overlay.

    Each folder must hold a summary.json (else ``ValueError`` naming it). Links
    to the runs' figures are relative to ``out_dir`` (``os.path.relpath``).
    """
    run_dirs = list(run_dirs)
    if len(run_dirs) < 2:
        raise ValueError(f"run_dirs: expected at least 2 run folders to compare, "
                         f"got {len(run_dirs)}")
    runs = [load_run(d) for d in run_dirs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_text(out_dir / COMPARISON_NAME, render(runs, out_dir, dose_loaders))

