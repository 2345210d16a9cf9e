"""Plain-text rendering of the summary tables every experiment returns
(``{"title", "columns", "rows"}``, the same records the HTML report shows)."""

from __future__ import annotations


def format_table(table: dict) -> str:
    """Title, header, rule and rows, columns padded to their widest cell."""
    cols, rows = table["columns"], table["rows"]
    width = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(cols)]
    head = "  ".join(str(c).ljust(w) for c, w in zip(cols, width))
    body = ["  ".join(str(v).ljust(w) for v, w in zip(r, width)) for r in rows]
    return "\n".join([table["title"], head, "-" * len(head), *body])


def interval(d: dict, fmt: str = ".3f") -> str:
    """``"mean [lo, hi]"`` of a ``{"mean", "lo", "hi"}`` record, each number
    in format ``fmt`` (``".3f"``, ``"+.0f"``, ...): the one spelling of an
    estimate with its interval in tables and the console."""
    return f"{d['mean']:{fmt}} [{d['lo']:{fmt}}, {d['hi']:{fmt}}]"
