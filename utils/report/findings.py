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


def _interval(est, lo, hi) -> str:
    if est is None or not math.isfinite(est):
        return "\u2013"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{fmt_num(est)} (no interval)"
    return f"{fmt_num(est)} [{fmt_num(lo)}, {fmt_num(hi)}]"


def finding_row(label: str, part: Part, f: Finding) -> dict:
    """One finding as plain data for a template (h5's Jinja2 page) or the
    HTML below. Every value is a string or None, already formatted:
    ``run``, ``claim``, ``claim_title``, ``experiment``, ``dataset``,
    ``arm``, ``arm_label``, ``verdict``, ``statistic``, ``primary``
    (estimate [interval]), ``per_seed``, ``n``, ``p_adjusted``,
    ``p_tost_adjusted``, ``mde_power`` ("MDE x / power y at +-SESOI", or
    None where the result was significant or untested), ``secondary_statistic``,
    ``secondary`` (estimate [interval]), ``secondary_verdict``,
    ``agreement`` ("agree" / "disagree" / None), ``method``, ``family``,
    ``figure`` (run-relative path or None), ``text`` (the full sentence)."""
    sec = f.secondary or {}
    mde = (None if f.mde is None or f.power_at_sesoi is None else
           f"MDE {fmt_num(f.mde)} / power {f.power_at_sesoi:.2f} at \u00b1{fmt_num(f.sesoi)}"
           + ("" if f.seeds_for_sesoi is None else f" (~{f.seeds_for_sesoi:,} seeds for it)"))
    sv = sec.get("verdict")
    return {"run": label or None, "claim": f.claim, "claim_title": CLAIM_TITLES[f.claim],
            "experiment": f.experiment, "dataset": f.dataset_id or part.dataset_id or "built-in",
            "arm": f.arm, "arm_label": f.arm_label, "verdict": f.verdict,
            "statistic": f.statistic or None, "primary": _interval(f.estimate, f.lo, f.hi),
            "per_seed": ", ".join(fmt_num(v) for v in f.values) or None,
            "n": None if f.n is None else str(f.n),
            "p_adjusted": None if f.p_adjusted is None else fmt_num(f.p_adjusted),
            "p_tost_adjusted": None if f.p_tost_adjusted is None else fmt_num(f.p_tost_adjusted),
            "mde_power": mde, "secondary_statistic": sec.get("statistic") or None,
            "secondary": (_interval(sec.get("estimate"), sec.get("lo"), sec.get("hi"))
                          if sec else None),
            "secondary_verdict": sv,
            "agreement": None if sv is None else ("agree" if sv == f.verdict else "disagree"),
            "method": f.method or None, "family": f.family or None, "figure": f.figure,
            "text": f.text or None}


def finding_rows(runs: list[tuple[str, Run]]) -> list[dict]:
    """Every finding of the runs as :func:`finding_row` dicts, claims in the
    report's order, then runs and experiments (A, B, C) as recorded."""
    parts = [(label, p) for label, r in runs for p in r.parts]
    return [finding_row(label, p, f) for claim in CLAIMS for label, p in parts
            for f in p.findings or () if f.claim == claim]


def _row(label: str, part: Part, f: Finding, out_dir: Path, embed: bool) -> str:
    r = finding_row(label, part, f)
    arm = f"<strong>{esc(f.arm_label)}</strong>"
    if f.claim_text:
        arm += f'<div class="sub">{esc(f.claim_text)}</div>'
    dash = "\u2013"
    number = f"{esc(f.statistic)}{': ' if f.statistic else ''}{esc(r['primary'])}"
    seeds = f"{esc(r['per_seed'] or 'not recorded')}{f' (n = {f.n})' if f.n is not None else ''}"
    p = esc(r["p_adjusted"] or dash)
    if r["p_tost_adjusted"] is not None:
        p += f'<div class="sub">TOST {esc(r["p_tost_adjusted"])}</div>'
    if r["secondary_verdict"] is None:
        second = dash
    else:
        second = (f"{esc(r['secondary_statistic'] or '')}: {esc(r['secondary'])} "
                  f"{verdict_badge(r['secondary_verdict'])}")
        if r["agreement"] == "disagree":
            second += '<div class="bad">primary and secondary disagree</div>'
    method = esc(f.method) or dash
    if f.family:
        method += f"; family: {esc(f.family)}"
    cells = ([esc(label)] if label else []) + [
        arm, verdict_badge(f.verdict), number, p, esc(r["mde_power"] or dash), second, seeds,
        f"{esc(f.experiment)}, <code>{esc(r['dataset'])}</code>", method,
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
        "arm", "verdict", "primary estimate [interval]", "adjusted p", "MDE / power",
        "secondary estimate and verdict", "per seed", "experiment, dataset", "method", "figure",
        "reading"]
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
