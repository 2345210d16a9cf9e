"""``build_report(run_dir)``: one HTML page describing a run folder.

Built from the folder alone (config.json, env.json, summary.json and the
figures it lists), so it can be rebuilt any time without training. The
output depends only on the folder's contents: no build time is written,
so rebuilding gives the same bytes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from utils.runs import write_text

from .findings import findings_section
from .loading import Part, Run, load_run
from .markup import (CSS, SCRIPT, details, esc, fmt_seconds, kv_table, pre_json, table,
                     warning_box)
from .overview import columns, summary_sentences, verdict_rows
from .templating import render as render_template
from .templating import safe
from .sections import (command_line, config_tables, dataset_ids, env_table, figure_block,
                       file_list, missing_figures, part_warnings, run_warnings, seeds_text,
                       total_seconds, wall_table)

REPORT_NAME = "report.html"
STANDALONE_NAME = "report_standalone.html"


def title_of(run: Run) -> str:
    letters = [p.letter for p in run.parts]
    title = ("Experiment " if len(letters) == 1 else "Experiments ") + ", ".join(letters)
    ids = dataset_ids(run)
    return title + (f" \u2014 {', '.join(ids)}" if ids else "")


def _part_section(run: Run, part: Part, out_dir: Path, *, embed: bool) -> str:
    multi = len(run.parts) > 1
    out = [f'<section id="exp-{esc(part.letter.lower())}">',
           f"<h2>Experiment {esc(part.letter)}</h2>"]
    if part.dataset_id:
        out.append(f"<p>dataset: <code>{esc(part.dataset_id)}</code></p>")
    if multi:  # with one experiment the box at the top is this experiment's box
        out.append(warning_box(part_warnings(part) + missing_figures(part),
                               f"Warnings of experiment {part.letter}"))
    if part.wall_seconds:
        out.append(details("Wall time", wall_table(part)))
    if part.figures:
        out.append("<h3>Figures</h3>")
        out += [figure_block(part, f, out_dir, embed=embed) for f in part.figures]
    if part.tables:
        out.append("<h3>Tables</h3>")
        out += [table(t.columns, t.rows, title=t.title) for t in part.tables]
    out.append(details(f"Files in {part.rel + '/' if part.rel else 'the run folder'}",
                       file_list(part, out_dir, embed=embed)))
    out.append("</section>")
    return "\n".join(x for x in out if x)


def render(run: Run, out_dir: Path, *, embed: bool = False) -> str:
    """The report's HTML text for ``run``, with links relative to ``out_dir``:
    what was found (sentences and one verdict table over A, B and C) first,
    everything else folded or below (``templates/report.html.j2``)."""
    multi = len(run.parts) > 1
    total = total_seconds(run)
    ids = dataset_ids(run)
    facts = kv_table([
        ("command", f"<code>{esc(command_line(run))}</code>"),
        ("run folder", f"<code>{esc(run.path.name)}</code>"),
        ("dataset", ", ".join(f"<code>{esc(i)}</code>" for i in ids) if ids
         else "built-in (no image dataset)"),
        ("seeds", esc(seeds_text(run))),
        ("wall time", esc(fmt_seconds(total)) if total is not None else "not recorded"),
    ])
    warnings = run_warnings(run, tag=multi)
    rows = verdict_rows(run, out_dir, embed=embed)
    judged = dataclasses.replace(run, parts=tuple(p for p in run.parts if p.findings is not None))
    return render_template(
        "report.html.j2", title=title_of(run), run_name=run.path.name, css=safe(CSS),
        script=safe(SCRIPT), sentences=summary_sentences(run, rows), rows=rows,
        columns=columns(rows), extra_rows=[r for r in rows if r["extra"]],
        n_warnings=len(warnings), warnings=safe(warning_box(warnings, anchor="warnings")),
        facts=safe(facts),
        nav=[{"letter": p.letter, "n_warnings": len(part_warnings(p))} for p in run.parts]
        if multi else [],
        # the detailed verdicts of the parts that record some (a part without
        # verdict rows is named in the sentences above, not called "old")
        findings=safe(findings_section([("", judged)], out_dir, embed=embed)) if judged.parts
        else None,
        env=safe(env_table(run.env) + details("All recorded environment fields",
                                              pre_json(run.env or {}))
                 + details("Configuration", config_tables(run))),
        parts=[safe(_part_section(run, p, out_dir, embed=embed)) for p in run.parts])


def build_report(run_dir: str | Path, *, embed: bool = False) -> Path:
    """Write ``<run_dir>/report.html`` (atomically) and return its path.

    Images are linked relatively (``figures/x.png``, ``exp_a/figures/x.png``) so
    the folder can be zipped and opened offline. ``embed=True`` instead writes
    ``report_standalone.html`` with the images inlined as data URIs, for sharing
    one file. A missing or corrupt summary.json raises ``ValueError`` naming it.
    """
    run = load_run(run_dir)
    out = run.path / (STANDALONE_NAME if embed else REPORT_NAME)
    return write_text(out, render(run, run.path, embed=embed))
