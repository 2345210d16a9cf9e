"""The console's closing block: what a finished run found, in a few lines
under 120 characters, and where the report is (no tables: those are in the
report and the CSVs).

One line per claim, experiment and arm: the verdict, estimate [95%
interval], Holm-adjusted p and statistic of the row that best answers the claim
(:func:`utils.report.overview._decisive`); where an experiment tests the
claim several times on one arm (A: every target frequency, final gain and
delay) the line tallies the others. A part without verdict rows shows its
takeaway instead.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from .loading import CLAIMS, Run
from .overview import CLAIM_TITLES, _decisive, fmt_num, fmt_p

WIDTH = 120


def _clip(line: str, width: int = WIDTH) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def verdict_lines(run: Run) -> list[str]:
    """The verdicts of ``run``'s parts, grouped by claim (see the module docstring)."""
    groups: dict[tuple[str, str, str], list] = {}
    for part in run.parts:
        for f in part.findings or ():
            groups.setdefault((f.claim, part.letter, f.arm), []).append(f)
    order = {c: i for i, c in enumerate(CLAIMS)}
    out, claim = [], None
    for key in sorted(groups, key=lambda k: (order.get(k[0], len(order)), k[1])):
        if key[0] != claim:
            claim = key[0]
            out.append(_clip(f"{CLAIM_TITLES.get(claim, claim)}:"))
        found = groups[key]
        f = _decisive([{"verdict": x.verdict, "_p": x.p_adjusted, "f": x} for x in found])["f"]
        p = f"adj. p {fmt_p(f.p_adjusted)}" if f.p_adjusted is not None else "not tested"
        what = f.statistic.split(" (")[0]  # its method in parentheses is the report's
        # what a reader needs first, so that clipping a long arm's line takes the rest
        line = (f"  {key[1]} {f.arm}: {f.verdict}, {fmt_num(f.estimate)} "
                f"[{fmt_num(f.lo)}, {fmt_num(f.hi)}], {p}")
        if len(found) > 1:
            tally: dict[str, int] = {}
            for x in found:
                tally[x.verdict] = tally.get(x.verdict, 0) + 1
            line += (f" ({len(found)} tests, all {f.verdict})" if len(tally) == 1 else
                     f" ({len(found)} tests: " + ", ".join(f"{n} {v}" for v, n in tally.items())
                     + ")")
        if what:
            line += f"; {what}"
        out.append(_clip(line))
    return out


def closing_lines(run: Run, report: Path, wall: float) -> list[str]:
    """The whole block: a rule, the verdicts (or each part's takeaway where it
    has no verdict rows), the time, the report and the run folder."""
    out = ["", "=== verdicts (details in the report) ==="]
    out += verdict_lines(run)
    for part in run.parts:
        if not part.findings and part.takeaway:
            out += textwrap.wrap(part.takeaway, WIDTH, subsequent_indent="  ")
    if len(out) == 2:
        out.append("no verdicts recorded")
    out += [f"finished in {wall:.1f} s", f"report: {report}", f"run folder: {run.path}"]
    return out
