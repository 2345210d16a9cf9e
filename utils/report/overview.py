"""The top of a report: what the run found, in a few plain sentences, and one
compact verdict table over all experiments (no HTML here: the templates
draw it).

The source is each part's findings as ``loading.py`` validated them
(``Part.findings``), turned into plain row dicts; fields a summary records
beyond the ones ``loading.Finding`` knows (``mde``, ``power``,
``secondary_*`` ...) are carried over from the raw entry, so the table shows
whatever a verdict row holds.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path, PurePosixPath
from typing import Any

from .loading import CLAIMS, Part, Run
from .sections import rel_link

# The claims as the seed project states them.
CLAIM_TITLES = {
    "l2_lowpass": "L2 acts as a low-pass filter",
    "dropout_highfreq": "Dropout introduces high-frequency content",
    "reg_hf_robustness": "Regularisation buys robustness to high-frequency noise",
}
# Verdicts in the order a reader should meet them (decided before undecided).
VERDICT_ORDER = ("supported", "contradicted", "not supported", "absent", "undetermined",
                 "inconclusive")

# Columns of the compact table: (row key, header); a column is shown when any row has it.
COLUMNS = (("experiment", "exp."), ("claim_title", "claim"), ("arm", "arm"),
           ("verdict", "verdict"), ("interval", "estimate [95% interval]"),
           ("p_adjusted", "adjusted p"), ("mde", "min. detectable effect"),
           ("power", "power"), ("figure", "figure"))
_SHOWN_ELSEWHERE = {"claim", "arm", "arm_label", "verdict", "estimate", "lo", "hi", "p_adjusted",
                    "mde", "power", "experiment", "figure", "text", "claim_text", "values",
                    "statistic", "dataset_id", "family", "method", "n"}


def fmt_num(v: Any) -> str:
    """Three significant digits with a sign for estimates; a dash when not measurable."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return "\u2013"
    return f"{v:+.3g}" if v else "0"


def fmt_p(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return "\u2013"
    return "< 0.001" if v < 0.001 else f"{v:.2g}"


def _raw_entries(part: Part) -> dict[tuple[str, str, str], dict]:
    """The summary's raw finding records by (claim, arm, statistic): one arm
    may be tested on several statistics (experiment A: per frequency)."""
    raw = part.summary.get("findings")
    if not isinstance(raw, list):
        return {}
    return {(str(e.get("claim")), str(e.get("arm")), str(e.get("statistic"))): e
            for e in raw if isinstance(e, dict)}


def verdict_rows(run: Run, out_dir: Path, *, embed: bool = False) -> list[dict]:
    """One dict per (experiment, claim, arm), in claim order then experiment."""
    rows = []
    for part in run.parts:
        raw = _raw_entries(part)
        for f in part.findings or ():
            row = dataclasses.asdict(f)
            extra = raw.get((f.claim, f.arm, str(f.statistic)), {})
            for key, value in extra.items():
                if key not in row and isinstance(value, (int, float, str)) \
                        and not isinstance(value, bool):
                    row[key] = value
            row["experiment"] = part.letter
            row["claim_title"] = CLAIM_TITLES.get(f.claim, f.claim)
            row["interval"] = (f"{fmt_num(f.estimate)} [{fmt_num(f.lo)}, {fmt_num(f.hi)}]"
                               if f.estimate is not None else None)
            row["p_adjusted"] = fmt_p(f.p_adjusted) if f.p_adjusted is not None else None
            for key in ("mde", "power"):
                if key in row:
                    row[key] = fmt_num(row[key]).lstrip("+") if key == "power" else fmt_num(row[key])
            row["figure"] = _figure_link(part, f.figure, out_dir, embed)
            row["extra"] = {k: v for k, v in row.items()
                            if k not in _SHOWN_ELSEWHERE and k not in dict(COLUMNS)
                            and k not in ("extra", "values")}
            rows.append(row)
    order = {c: i for i, c in enumerate(CLAIMS)}
    rows.sort(key=lambda r: (order.get(r["claim"], len(order)), r["experiment"]))
    return rows


def _figure_link(part: Part, figure: str | None, out_dir: Path, embed: bool) -> dict | None:
    if not figure:
        return None
    path = part.path / figure
    name = str(PurePosixPath(part.rel, figure)) if part.rel else figure
    return {"name": PurePosixPath(figure).name, "href": None if embed else rel_link(path, out_dir),
            "missing": not path.is_file(), "path": name}


def columns(rows: list[dict]) -> list[tuple[str, str]]:
    """The compact table's columns: those some row fills."""
    return [(k, h) for k, h in COLUMNS if any(r.get(k) not in (None, "") for r in rows)]


def _decisive(rows: list[dict]) -> dict:
    """The row that best answers a claim: a decided verdict first, then the
    smallest adjusted p."""
    def key(r):
        rank = VERDICT_ORDER.index(r["verdict"]) if r["verdict"] in VERDICT_ORDER else 99
        p = r.get("_p")
        return (rank, p if isinstance(p, (int, float)) and math.isfinite(p) else 2.0)
    return min(rows, key=key)


def summary_sentences(run: Run, rows: list[dict]) -> list[str]:
    """Three to five plain sentences: what was tested, one per claim with its
    key number and interval, and which experiments have no verdict rows."""
    tested = [p for p in run.parts if p.findings]
    without = [p.letter for p in run.parts if not p.findings]
    out = []
    if rows:
        arms = sorted({r["arm"] for r in rows})
        exps = ", ".join(p.letter for p in tested)
        ids = sorted({r["dataset_id"] or p.dataset_id or "" for p in tested
                      for r in rows if r["experiment"] == p.letter} - {""})
        on = f" on {', '.join(ids)}" if ids else ""
        out.append(f"This run tested {len({r['claim'] for r in rows})} of the seed project's "
                   f"{len(CLAIMS)} claims on {len(arms)} arm{'s' * (len(arms) != 1)} against "
                   f"the baseline of the same seed (experiment{'s' * (len(tested) > 1)} "
                   f"{exps}{on}).")
    for claim in CLAIMS:
        mine = [dict(r, _p=_raw_p(run, r)) for r in rows if r["claim"] == claim]
        if not mine:
            continue
        r = _decisive(mine)
        counts = {}
        for x in mine:
            counts[x["verdict"]] = counts.get(x["verdict"], 0) + 1
        tally = ", ".join(f"{n} {v}" for v, n in counts.items())
        number = f"{r['statistic'] or 'effect'} {r['interval']}" if r["interval"] else "no number"
        p = f", adjusted p {r['p_adjusted']}" if r.get("p_adjusted") else ""
        lead = (f"{CLAIM_TITLES[claim]}: {r['verdict']} for {r['arm']} ({number}{p})"
                if len(mine) == 1 else
                f"{CLAIM_TITLES[claim]}: {tally} over {len(mine)} tests of "
                f"{len({(x['experiment'], x['arm']) for x in mine})} arms; the clearest is "
                f"{r['arm']}, {r['verdict']} ({number}{p})")
        out.append(lead + ".")
    if without and tested:
        out.append(f"Experiment{'s' * (len(without) > 1)} {', '.join(without)} "
                   f"{'record' if len(without) > 1 else 'records'} no verdict rows; "
                   "the measurements are in the sections below.")
    elif not tested:
        out.append("No experiment of this run records verdicts on the claims; the "
                   "measurements are in the sections below.")
    return out[:5]


def _raw_p(run: Run, row: dict):
    for part in run.parts:
        if part.letter == row["experiment"]:
            for f in part.findings or ():
                if f.claim == row["claim"] and f.arm == row["arm"]:
                    return f.p_adjusted
    return None
