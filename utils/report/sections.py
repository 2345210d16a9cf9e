"""Pieces of a report rendered from loaded run records (``loading.Run``/``Part``).

Shared by the single-run report and the comparison report. Links are made
relative to ``out_dir``, the folder the HTML file is written to.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

from .loading import Figure, Part, Run, part_files
from .markup import (IMAGE_SUFFIXES, data_uri, esc, figure, fmt_bytes, fmt_cell, fmt_rate,
                     fmt_seconds, href, kv_table, table)


def rel_link(target: Path, out_dir: Path) -> str:
    """POSIX path of ``target`` relative to ``out_dir`` (the page's folder)."""
    return PurePosixPath(Path(os.path.relpath(target, out_dir)).as_posix()).as_posix()


def part_warnings(part: Part) -> list[str]:
    """The experiment's warnings; dataset notes first, since a substitute or
    non-default dataset changes how every number below must be read. B also
    copies its dataset notes into ``warnings``: each is shown once, as a note."""
    notes = [f"dataset {part.dataset_id or '?'}: {n}" for n in part.dataset_notes]
    rest = [w for w in part.warnings if w not in part.dataset_notes]
    return list(dict.fromkeys(notes + rest))


def missing_figures(part: Part) -> list[str]:
    return [f"figure listed in summary.json is missing: {PurePosixPath(part.rel, f.file)}"
            for f in part.figures if not (part.path / f.file).is_file()]


def run_warnings(run: Run, *, tag: bool) -> list[str]:
    """All warnings of a run. With ``tag`` each is shown once, prefixed by the
    experiments it applies to (``[B, C] dataset ...``: B and C share a dataset,
    so its note would otherwise repeat); without, one item per part and warning
    (a count of what each part reported)."""
    out = list(run.warnings)
    if not tag:
        for p in run.parts:
            out += part_warnings(p) + missing_figures(p)
        return out
    letters: dict[str, list[str]] = {}
    for p in run.parts:
        for w in part_warnings(p) + missing_figures(p):
            letters.setdefault(w, [])
            if p.letter not in letters[w]:
                letters[w].append(p.letter)
    return out + [f"[{', '.join(ls)}] {w}" for w, ls in letters.items()]


def dataset_ids(run: Run) -> list[str]:
    ids = []
    for p in run.parts:
        if p.dataset_id and p.dataset_id not in ids:
            ids.append(p.dataset_id)
    return ids


def command_line(run: Run) -> str:
    argv = (run.config or {}).get("argv") or (run.env or {}).get("argv")
    if not isinstance(argv, list) or not argv:
        return "not recorded"
    argv = [str(a) for a in argv]
    # main.main(argv) called from Python records argv without the program name.
    if not argv[0].endswith(".py"):
        argv = ["main.py", *argv]
    return "python " + shlex.join(argv)


def total_seconds(run: Run) -> float | None:
    top = run.summary.get("wall_seconds")
    if isinstance(top, dict) and isinstance(top.get("total"), (int, float)):
        return float(top["total"])
    totals = [p.wall_seconds.get("total") for p in run.parts]
    if totals and all(isinstance(t, (int, float)) for t in totals):
        return float(sum(totals))
    return None


def seeds_text(run: Run) -> str:
    seeds = []
    for p in run.parts:
        for s in p.summary.get("seeds") or []:
            if s not in seeds:
                seeds.append(s)
    if not seeds and run.env:
        seeds = list(run.env.get("seeds") or [])
    return ", ".join(str(s) for s in seeds) if seeds else "not recorded"


def env_table(env: dict | None) -> str:
    if not env:
        return "<p>env.json not recorded.</p>"
    def v(key: str) -> str:
        return esc(fmt_cell(env.get(key))) if key in env else "not recorded"
    sha = env.get("git_sha")
    dirty = env.get("git_dirty")
    git = f"<code>{esc(sha)}</code>" if sha else "not a git checkout"
    if dirty:
        git += (' <span class="dirty">dirty: uncommitted changes, the sha alone does not '
                "reproduce this run</span>")
    elif dirty is False:
        git += " (clean)"
    cuda = v("cuda") + (f" (available: {v('cuda_available')})" if "cuda_available" in env else "")
    device = v("device") + (f" ({v('device_name')})" if env.get("device_name") else "")
    return kv_table([("python", v("python")), ("torch", v("torch")), ("CUDA", cuda),
                     ("numpy", v("numpy")), ("device", device), ("git", git),
                     ("started at", v("started_at"))])


def config_rows(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, fmt_cell(v)) for k, v in cfg.items()]


def config_tables(run: Run) -> str:
    exps = (run.config or {}).get("experiments")
    if not isinstance(exps, dict) or not exps:
        return "<p>config.json not recorded.</p>"
    out = []
    for key in sorted(exps):
        cfg = exps[key]
        rows = config_rows(cfg) if isinstance(cfg, dict) else [("value", fmt_cell(cfg))]
        out.append(table(["field", "value"], rows, title=f"Experiment {str(key).upper()}"))
    return "\n".join(out)


def figure_block(part: Part, fig: Figure, out_dir: Path, *, embed: bool, label: str = "") -> str:
    """One figure of ``part``: an image (linked relatively, or inlined when ``embed``),
    a link when the file is not an image, and a PDF link when a PDF sibling exists."""
    path = part.path / fig.file
    name = str(PurePosixPath(part.rel, fig.file)) if part.rel else fig.file
    if not path.is_file():
        return figure(None, fig.caption, label=label, note=f"file missing: {name}")
    link = rel_link(path, out_dir)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        if embed:
            return figure(None, fig.caption, label=label,
                          note=f"{name}: not an image, left out of the single-file report")
        head = f'<div class="label">{esc(label)}</div>' if label else ""
        return (f'<figure>{head}<a href="{href(link)}">{esc(name)}</a>'
                f"<figcaption>{esc(fig.caption)}</figcaption></figure>")
    pdf = path.with_suffix(".pdf")
    extra = ""
    if pdf.is_file() and not embed:
        extra = f' <a href="{href(rel_link(pdf, out_dir))}">PDF</a>'
    src = data_uri(path) if embed else href(link)
    return figure(src, fig.caption, label=label, extra_links=extra)


def file_list(part: Part, out_dir: Path, *, embed: bool) -> str:
    rows = []
    for name, size in part_files(part):
        if embed:  # a single shared file cannot follow links to its siblings
            shown = f"<code>{esc(name)}</code>"
        else:
            shown = f'<a href="{href(rel_link(part.path / name, out_dir))}">{esc(name)}</a>'
        rows.append(f"<li>{shown} ({fmt_bytes(size)})</li>")
    return f"<ul>{''.join(rows)}</ul>" if rows else "<p>none</p>"


def fmt_wall(key: str, value: Any) -> str:
    """One ``wall_seconds`` entry: durations as durations, and the rates the
    experiments record there (``eval_images_per_s``) as rates, not as seconds."""
    if key.endswith("_per_s") and isinstance(value, (int, float)) and not isinstance(value, bool):
        unit = key[:-len("_per_s")].rsplit("_", 1)[-1] or "items"
        return fmt_rate(value, unit)
    return fmt_seconds(value)


def wall_table(part: Part) -> str:
    if not part.wall_seconds:
        return ""
    return kv_table([(k, esc(fmt_wall(k, v))) for k, v in part.wall_seconds.items()])
