"""The findings section at the top of a report: the seed project's three
claims, each with its verdict per arm, the number behind it and where it
comes from.

Built from ``Part.findings`` / ``Part.takeaway`` (``loading.py`` has already
dropped malformed entries and said why). A claim that no experiment of the
run tested says so instead of vanishing; a run whose summaries have no
``findings`` key predates verdicts and the section says that instead.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath

from .loading import CLAIMS, Finding, Part, Run
from .markup import esc, href, warning_box
from .sections import rel_link

# The claims as the seed project states them.
CLAIM_TITLES = {
    "l2_lowpass": "L2 acts as a low-pass filter",
    "dropout_highfreq": "Dropout introduces high-frequency content",
    "reg_hf_robustness": "Regularisation buys robustness to high-frequency noise",
}
assert tuple(CLAIM_TITLES) == CLAIMS


def fmt_num(v: float | None) -> str:
    """Three significant digits; a dash for a number that was not measurable."""
    if v is None or not math.isfinite(v):
        return "\u2013"
    return f"{v:.3g}"


def verdict_badge(verdict: str) -> str:
    # the word is always written out: the colour only repeats it
    return f'<span class="verdict v-{esc(verdict.replace(" ", "-"))}">{esc(verdict)}</span>'


def _figure_cell(part: Part, f: Finding, out_dir: Path, embed: bool) -> str:
    if f.figure is None:
        return "\u2013"
    path = part.path / f.figure
    name = str(PurePosixPath(part.rel, f.figure)) if part.rel else f.figure
    if not path.is_file():
        return f'<span class="bad">missing: {esc(name)}</span>'
    if embed:  # a single shared file cannot follow links to its siblings
        return f"<code>{esc(name)}</code>"
    return f'<a href="{href(rel_link(path, out_dir))}">{esc(PurePosixPath(f.figure).name)}</a>'


def _row(label: str, part: Part, f: Finding, out_dir: Path, embed: bool) -> str:
    arm = f"<strong>{esc(f.arm_label)}</strong>"
    if f.claim_text:
        arm += f'<div class="sub">{esc(f.claim_text)}</div>'
    number = (f"{esc(f.statistic)}{': ' if f.statistic else ''}{fmt_num(f.estimate)} "
              f"[{fmt_num(f.lo)}, {fmt_num(f.hi)}]")
    seeds = ", ".join(fmt_num(v) for v in f.values) or "not recorded"
    n = f" (n = {f.n})" if f.n is not None else ""
    dataset = f.dataset_id or part.dataset_id or "built-in"
    method = esc(f.method) or "\u2013"
    if f.family:
        method += f"; family: {esc(f.family)}"
    if f.p_adjusted is not None:
        method += f"; adjusted p = {fmt_num(f.p_adjusted)}"
    cells = ([esc(label)] if label else []) + [
        arm, verdict_badge(f.verdict), number, f"{seeds}{n}",
        f"{esc(f.experiment)}, <code>{esc(dataset)}</code>", method,
        _figure_cell(part, f, out_dir, embed), esc(f.text)]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def findings_section(runs: list[tuple[str, Run]], out_dir: Path, n_warnings: int = 0, *,
                     embed: bool = False) -> str:
    """The section's HTML. ``runs``: ``(label, run)`` pairs, label ``""`` for a
    single-run report (a comparison adds a run column); links relative to
    ``out_dir``; ``n_warnings``: the warnings shown below, pointed to here;
    ``embed``: the single-file report (figures named, not linked)."""
    parts = [(label, p) for label, r in runs for p in r.parts]
    out = ['<section id="findings"><h2>Findings</h2>']
    if n_warnings:
        out.append(f'<p class="sub">Read these with the <a href="#warnings">{n_warnings} '
                   f'warning{"s" if n_warnings > 1 else ""}</a> below.</p>')
    skipped = [w for _, p in parts for w in p.findings_skipped]
    old = [(label, p) for label, p in parts if p.findings is None]
    if len(old) == len(parts):
        what = "These runs predate" if len(runs) > 1 else "This run predates"
        out.append(f'<p class="predates">{what} verdicts: no summary.json records findings, so '
                   "the claims are not assessed here. The measurements are in the figures and "
                   "tables below.</p>")
        out += [warning_box(skipped, "Findings entries skipped"), "</section>"]
        return "\n".join(x for x in out if x)
    if old:
        names = ", ".join(f"{label + ': ' if label else ''}experiment {p.letter}"
                          for label, p in old)
        out.append(f'<p class="predates">Predates verdicts (no findings recorded): '
                   f"{esc(names)}.</p>")
    # At a glance first, so that every claim's verdicts fit in the first
    # screen; the tables with the numbers follow.
    glance = []
    for claim in CLAIMS:
        items = [f"{esc(label + ' / ' if label else '')}{esc(f.arm)} {verdict_badge(f.verdict)}"
                 for label, p in parts for f in p.findings or () if f.claim == claim]
        shown = (" &middot; ".join(items) if items
                 else '<span class="untested">not tested in this run</span>')
        glance.append(f'<li><a href="#claim-{claim}">{esc(CLAIM_TITLES[claim])}</a>: {shown}</li>')
    out.append('<ul class="glance">' + "".join(glance) + "</ul>")
    head = (["run"] if any(label for label, _ in runs) else []) + [
        "arm", "verdict", "estimate [interval]", "per seed", "experiment, dataset",
        "method", "figure", "reading"]
    for claim in CLAIMS:
        rows = [_row(label, p, f, out_dir, embed) for label, p in parts
                for f in p.findings or () if f.claim == claim]
        out.append(f'<div class="claim" id="claim-{claim}"><h3>{esc(CLAIM_TITLES[claim])}</h3>')
        if rows:
            out.append('<div class="scroll"><table class="findings"><thead><tr>'
                       + "".join(f"<th>{esc(h)}</th>" for h in head)
                       + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")
        else:
            out.append('<p class="untested">not tested in this run</p>')
        out.append("</div>")
    takeaways = []
    for label, p in parts:
        if p.findings is None:
            continue
        who = f"{label}, experiment {p.letter}" if label else f"Experiment {p.letter}"
        text = esc(p.takeaway) if p.takeaway else '<span class="sub">no takeaway recorded</span>'
        takeaways.append(f"<li><strong>{esc(who)}</strong>: {text}</li>")
    out.append("<h3>Takeaways</h3><ul class=\"takeaways\">" + "".join(takeaways) + "</ul>")
    out.append(warning_box(skipped, "Findings entries skipped"))
    out.append("</section>")
    return "\n".join(x for x in out if x)
