"""Read a run folder into plain records for the report (no HTML here).

A run folder is either one experiment (``summary.json`` with
``"experiment": "A"``) or an ``--experiment all`` folder whose
``summary.json`` says ``"experiment": "all"`` and names one sub-folder per
experiment in ``"parts"``. Each experiment's summary follows the generic
contract (``figures``, ``tables``, ``warnings``, ``wall_seconds``, optional
``dataset_id`` / ``dataset_notes``), so nothing here knows what A, B or C
compute.

Every problem is a ``ValueError`` whose one-line message names the file,
because ``main.py`` prints it as is and exits with code 2. The one exception
is ``findings`` (the claims' verdicts, newer than the rest of the contract):
a malformed entry is skipped and described in ``Part.findings_skipped`` for
the page to show, so one bad verdict never hides the rest of a report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

SUMMARY = "summary.json"
# Files the report writes itself: never listed as run outputs, so a rebuild
# sees the same folder as the first build.
REPORT_FILES = ("report.html", "report_standalone.html", "comparison.html")


@dataclass(frozen=True)
class Figure:
    file: str          # POSIX path relative to the experiment's folder
    caption: str


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


# The seed project's three claims, in the order the report shows them.
CLAIMS = ("l2_lowpass", "dropout_highfreq", "reg_hf_robustness")
# the four states of utils.verdicts, then the two words of runs made before them
VERDICTS = ("supported", "contradicted", "absent", "undetermined", "not supported",
            "inconclusive")


@dataclass(frozen=True)
class Finding:
    """One claim tested on one arm (an entry of ``summary["findings"]``)."""
    claim: str                 # one of CLAIMS
    verdict: str               # one of VERDICTS
    arm: str
    arm_label: str
    claim_text: str
    statistic: str
    estimate: float | None     # None / NaN: not measurable (shown as a dash)
    lo: float | None
    hi: float | None
    n: int | None              # seeds that gave a finite value
    values: tuple[float | None, ...]  # per seed; None where not finite
    p_adjusted: float | None
    family: str
    method: str
    experiment: str
    dataset_id: str
    figure: str | None         # relative to the experiment's folder
    text: str
    # newer fields (utils.verdicts: TOST, MDE/power, the secondary statistic); None in older runs
    p_tost_adjusted: float | None = None
    sesoi: float | None = None
    mde: float | None = None
    power_at_sesoi: float | None = None
    seeds_for_sesoi: int | None = None  # paired seeds that would detect the SESOI (planning)
    secondary: dict | None = None   # {"statistic", "estimate", "lo", "hi", "verdict", ...}


@dataclass(frozen=True)
class Part:
    """One experiment's results inside a run folder."""
    letter: str        # "A", "B", "C"
    rel: str           # folder relative to the run folder ("" when it is the run folder)
    path: Path
    summary: dict
    figures: tuple[Figure, ...]
    tables: tuple[Table, ...]
    warnings: tuple[str, ...]
    dataset_id: str | None
    dataset_notes: tuple[str, ...]
    wall_seconds: dict
    # None: the summary has no "findings" key (the run predates verdicts)
    findings: tuple[Finding, ...] | None = None
    takeaway: str | None = None
    findings_skipped: tuple[str, ...] = ()  # why entries were left out, for the page


@dataclass(frozen=True)
class Run:
    path: Path
    summary: dict
    config: dict | None
    env: dict | None
    parts: tuple[Part, ...]
    warnings: tuple[str, ...] = field(default=())  # run-level (top summary of an "all" run)


def _read_json(path: Path, *, required: bool) -> Any:
    if not path.is_file():
        if required:
            raise ValueError(f"{path}: file not found (not a run folder, or the run did not finish)")
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _as_dict(obj: Any, path: Path) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _strings(value: Any, path: Path, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{path}: {key!r} must be a string or a list of strings")
    return tuple(value)


def _inside(rel: str, path: Path, key: str) -> str:
    """A relative POSIX path that stays inside its folder, so links work after zipping."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel:
        raise ValueError(f"{path}: {key} must be a relative path inside the run folder, got {rel!r}")
    return p.as_posix()


def _figures(value: Any, path: Path) -> tuple[Figure, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{path}: 'figures' must be a list of {{file, caption}} objects")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise ValueError(f"{path}: figures[{i}] must be an object with a string 'file'")
        caption = item.get("caption", "")
        if not isinstance(caption, str):
            raise ValueError(f"{path}: figures[{i}].caption must be a string")
        out.append(Figure(_inside(item["file"], path, f"figures[{i}].file"), caption))
    return tuple(out)


def _tables(value: Any, path: Path) -> tuple[Table, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{path}: 'tables' must be a list of {{title, columns, rows}} objects")
    out = []
    for i, t in enumerate(value):
        if (not isinstance(t, dict) or not isinstance(t.get("columns"), list)
                or not isinstance(t.get("rows"), list)
                or not all(isinstance(r, list) for r in t["rows"])):
            raise ValueError(f"{path}: tables[{i}] must have a 'columns' list and a 'rows' "
                             "list of lists")
        out.append(Table(str(t.get("title", "")), tuple(str(c) for c in t["columns"]),
                         tuple(tuple(r) for r in t["rows"])))
    return tuple(out)


class _Garbage(Exception):
    """A findings entry that cannot be shown; the message says why."""


def _num(item: dict, key: str) -> float | None:
    v = item.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Garbage(f"{key} must be a number or null, got {v!r}")
    return float(v)


def _count(item: dict, key: str) -> int | None:
    v = item.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _Garbage(f"{key} must be a whole number >= 1 or null, got {v!r}")
    return v


def _text(item: dict, key: str) -> str:
    v = item.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise _Garbage(f"{key} must be a string, got {type(v).__name__}")
    return v


def _secondary(item: Any) -> dict | None:
    """The secondary statistic's record, or None (absent, or not a dict of
    the expected kinds: never a reason to drop the primary finding)."""
    if not isinstance(item, dict) or item.get("verdict") not in VERDICTS:
        return None
    out = {"statistic": item.get("statistic") if isinstance(item.get("statistic"), str) else "",
           "verdict": item["verdict"]}
    for k in ("estimate", "lo", "hi", "p_adjusted", "mde", "power_at_sesoi", "sesoi"):
        try:
            out[k] = _num(item, k)
        except _Garbage:
            out[k] = None
    return out


def _finding(item: Any, letter: str, path: Path) -> Finding:
    if not isinstance(item, dict):
        raise _Garbage(f"expected an object, got {type(item).__name__}")
    claim = item.get("claim")
    if claim not in CLAIMS:
        raise _Garbage(f"claim must be one of {', '.join(CLAIMS)}, got {claim!r}")
    verdict = item.get("verdict")
    verdict = verdict.strip().lower() if isinstance(verdict, str) else verdict
    if verdict not in VERDICTS:
        raise _Garbage(f"verdict must be one of {', '.join(VERDICTS)}, got {item.get('verdict')!r}")
    arm = item.get("arm")
    if not isinstance(arm, str) or not arm:
        raise _Garbage(f"arm must be a non-empty string, got {arm!r}")
    n = item.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise _Garbage(f"n must be a count (int >= 0) or null, got {n!r}")
    values = item.get("values")
    if values is None:
        values = []
    if not isinstance(values, list) or not all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        raise _Garbage("values must be a list of numbers or nulls")
    lo, hi, estimate = _num(item, "lo"), _num(item, "hi"), _num(item, "estimate")
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi) and lo > hi:
        raise _Garbage(f"interval [{lo:g}, {hi:g}] has lo > hi")
    figure = item.get("figure")
    if figure is not None:
        if not isinstance(figure, str):
            raise _Garbage(f"figure must be a string, got {type(figure).__name__}")
        try:
            figure = _inside(figure, path, "figure")
        except ValueError:
            raise _Garbage(f"figure must be a relative path inside the run folder, "
                           f"got {figure!r}") from None
    experiment = _text(item, "experiment").upper() or letter
    return Finding(claim=claim, verdict=verdict, arm=arm, arm_label=_text(item, "arm_label") or arm,
                   claim_text=_text(item, "claim_text"), statistic=_text(item, "statistic"),
                   estimate=estimate, lo=lo, hi=hi, n=n,
                   values=tuple(None if v is None else float(v) for v in values),
                   p_adjusted=_num(item, "p_adjusted"), family=_text(item, "family"),
                   method=_text(item, "method"), experiment=experiment,
                   dataset_id=_text(item, "dataset_id"), figure=figure, text=_text(item, "text"),
                   p_tost_adjusted=_num(item, "p_tost_adjusted"), sesoi=_num(item, "sesoi"),
                   mde=_num(item, "mde"), power_at_sesoi=_num(item, "power_at_sesoi"),
                   seeds_for_sesoi=_count(item, "seeds_for_sesoi"),
                   secondary=_secondary(item.get("secondary")))


def _findings(s: dict, letter: str, path: Path, shown: str):
    """``(findings or None, takeaway or None, skipped)`` of one summary; ``shown``
    names the file on the page (relative, so a moved folder gives the same page)."""
    skipped = []
    findings = None
    if "findings" in s:
        raw = s["findings"]
        if not isinstance(raw, list):
            skipped.append(f"{shown}: 'findings' must be a list of objects, got "
                           f"{type(raw).__name__}; all ignored")
            raw = []
        found = []
        for i, item in enumerate(raw):
            try:
                found.append(_finding(item, letter, path))
            except _Garbage as e:
                skipped.append(f"{shown}: findings[{i}] skipped: {e}")
        findings = tuple(found)
    takeaway = s.get("takeaway")
    if takeaway is not None and not isinstance(takeaway, str):
        skipped.append(f"{shown}: 'takeaway' must be a string, got {type(takeaway).__name__}; "
                       "ignored")
        takeaway = None
    return findings, (takeaway.strip() or None) if takeaway else None, tuple(skipped)


def _part(folder: Path, rel: str, letter_hint: str | None) -> Part:
    path = folder / SUMMARY
    s = _as_dict(_read_json(path, required=True), path)
    letter = s.get("experiment", letter_hint)
    if not isinstance(letter, str) or not letter:
        raise ValueError(f"{path}: missing the 'experiment' field")
    wall = s.get("wall_seconds") or {}
    if not isinstance(wall, dict):
        raise ValueError(f"{path}: 'wall_seconds' must be an object")
    dataset_id = s.get("dataset_id")
    findings, takeaway, skipped = _findings(s, letter.upper(), path,
                                            str(PurePosixPath(rel, SUMMARY)) if rel else SUMMARY)
    return Part(letter=letter.upper(), rel=rel, path=folder, summary=s,
                findings=findings, takeaway=takeaway, findings_skipped=skipped,
                figures=_figures(s.get("figures"), path), tables=_tables(s.get("tables"), path),
                warnings=_strings(s.get("warnings"), path, "warnings"),
                dataset_id=None if dataset_id is None else str(dataset_id),
                dataset_notes=_strings(s.get("dataset_notes"), path, "dataset_notes"),
                wall_seconds=wall)


def load_run(run_dir: str | Path) -> Run:
    """Read ``run_dir`` (single-experiment or ``all`` layout); parts in A, B, C order."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: not a folder")
    top_path = run_dir / SUMMARY
    top = _as_dict(_read_json(top_path, required=True), top_path)
    config = _read_json(run_dir / "config.json", required=False)
    env = _read_json(run_dir / "env.json", required=False)
    if str(top.get("experiment", "")).lower() == "all":
        parts_map = top.get("parts")
        if not isinstance(parts_map, dict) or not parts_map:
            raise ValueError(f"{top_path}: an 'all' run needs 'parts' mapping experiment -> sub-folder")
        parts = tuple(_part(run_dir / _inside(str(sub), top_path, f"parts[{k!r}]"),
                            _inside(str(sub), top_path, f"parts[{k!r}]"), str(k))
                      for k, sub in parts_map.items())
        warnings = _strings(top.get("warnings"), top_path, "warnings")
    else:
        parts = (_part(run_dir, "", None),)
        warnings = ()
    parts = tuple(sorted(parts, key=lambda p: p.letter))
    return Run(path=run_dir, summary=top,
               config=config if isinstance(config, dict) else None,
               env=env if isinstance(env, dict) else None,
               parts=parts, warnings=warnings)


def part_files(part: Part) -> list[tuple[str, int]]:
    """Top-level files of an experiment folder as (name, bytes), sorted; the report's
    own outputs and half-written temporaries are left out so rebuilds are identical."""
    out = []
    for p in sorted(part.path.iterdir()):
        if p.is_file() and p.name not in REPORT_FILES and ".tmp-" not in p.name:
            out.append((p.name, p.stat().st_size))
    return out
