"""HTML building blocks shared by the run report and the comparison report.

The page shell and the top of a run's report are Jinja2 templates
(``templates/``, autoescaped); these helpers build the detail fragments they
embed. Every piece of run text goes through ``esc``; links
are relative POSIX paths, percent-quoted, so a zipped run folder still opens
offline. The page carries its own CSS and one inline script; it loads
nothing from the network.
"""

from __future__ import annotations

import base64
import html
import json
import math
import mimetypes
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".svg", ".webp")


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def href(rel: str) -> str:
    """A relative POSIX path as an attribute value (``#``, ``?``, spaces and ``<`` quoted)."""
    return esc(quote(rel, safe="/"))


def data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def fmt_cell(value: Any) -> str:
    """Text of a table cell: floats to 6 significant digits, None and NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def fmt_seconds(s: Any) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s):
        return fmt_cell(s)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def fmt_rate(r: Any, unit: str) -> str:
    """A throughput: ``454.9 images/s`` (thousands separated), never a duration."""
    if not isinstance(r, (int, float)) or isinstance(r, bool) or not math.isfinite(r):
        return fmt_cell(r)
    return f"{r:,.1f} {unit}/s"


def fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def table(columns: Iterable[str], rows: Iterable[Iterable[Any]], title: str = "") -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{esc(fmt_cell(v))}</td>" for v in r) + "</tr>"
                     for r in rows)
    cap = f"<caption>{esc(title)}</caption>" if title else ""
    return (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table></div>")


def kv_table(pairs: Iterable[tuple[str, str]], css_class: str = "kv") -> str:
    """Two-column table; values are already HTML (callers escape them)."""
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="{css_class}"><tbody>\n{rows}\n</tbody></table>'


def warning_box(items: Iterable[str], title: str = "Warnings", anchor: str = "") -> str:
    """A styled list of warnings (nothing when empty); ``anchor``: an id to link to."""
    items = list(items)
    if not items:
        return ""
    lis = "\n".join(f"<li>{esc(w)}</li>" for w in items)
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return (f'<div class="warnings"{ident} role="alert"><strong>{esc(title)} ({len(items)})'
            f"</strong><ul>\n{lis}\n</ul></div>")


def figure(src: str | None, caption: str, *, label: str = "", extra_links: str = "",
           note: str = "") -> str:
    """One figure; ``src`` is an attribute-ready value (``href(...)`` or a data URI),
    or None to show ``note`` in a dashed box instead (a missing file must not look
    like a blank plot, and must not count as a broken image)."""
    head = f'<div class="label">{esc(label)}</div>' if label else ""
    if src is None:
        body = f'<div class="missing">{esc(note)}</div>'
    else:
        body = f'<img src="{src}" alt="{esc(caption)}">'
    cap = f"<figcaption>{esc(caption)}{extra_links}</figcaption>" if caption or extra_links else ""
    return f"<figure>{head}{body}{cap}</figure>"


def details(summary: str, inner: str, open_: bool = False) -> str:
    return (f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>\n"
            f"{inner}\n</details>")


def pre_json(obj: Any) -> str:
    return f"<pre>{esc(json.dumps(obj, indent=2, sort_keys=False))}</pre>"


CSS = """
:root { --fg:#1b1b1b; --muted:#5c5c5c; --line:#d6d6d6; --bg:#ffffff; --warn:#fff4d6;
        --warn-line:#c98a00; --code:#f4f4f4; --bad:#b00020; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); background: var(--bg); margin: 0 auto; padding: 1.5rem 2rem 4rem;
       max-width: 1200px; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin-top: 1.8rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
            background: var(--code); border-radius: 3px; }
code { padding: 0 .25em; }
pre { padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.warnings { background: var(--warn); border-left: 5px solid var(--warn-line);
            padding: .6rem 1rem; margin: 1rem 0; }
.warnings ul { margin: .3rem 0 0; padding-left: 1.2rem; }
.dirty, .bad { color: var(--bad); font-weight: 600; }
.scroll { overflow-x: auto; margin: .8rem 0; }
table { border-collapse: collapse; font-size: 13.5px; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; caption-side: top; }
th, td { border: 1px solid var(--line); padding: .25rem .55rem; text-align: left;
         vertical-align: top; }
thead th { background: #f0f0f0; }
table.kv th { background: #f7f7f7; white-space: nowrap; }
details { margin: .6rem 0; }
summary { cursor: pointer; font-weight: 600; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); display: block; }
figcaption { color: var(--muted); margin-top: .3rem; }
figcaption a { margin-left: .5em; }
.label { font-weight: 600; font-size: 13px; margin-bottom: .2rem; }
.missing { border: 2px dashed var(--bad); color: var(--bad); padding: 2rem; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
        gap: 1rem; align-items: start; }
.side figure { margin: .3rem 0; }
nav ul { padding-left: 1.2rem; margin: .2rem 0; }
img.broken { outline: 4px solid var(--bad); }
#findings h2 { margin-top: 1.2rem; }
#findings h3 { margin: 1rem 0 .3rem; }
table.findings td { font-size: 13px; }
table.findings td .sub { margin: 0; font-size: 12px; }
.verdict { display: inline-block; padding: 0 .45em; border-radius: 3px; font-weight: 600;
           white-space: nowrap; border: 1px solid; }
.v-supported { background: #dcf2e0; color: #14532d; border-color: #2e7d32; }
.v-not-supported { background: #eeeeee; color: #333333; border-color: #8a8a8a; }
.v-contradicted { background: #fde2e2; color: #8b0000; border-color: #b00020; }
.v-inconclusive { background: #e6ecf7; color: #1f3a68; border-color: #5b7bb5; }
.v-absent { background: #fff4d6; color: #5c4400; border-color: #b8860b; }
.v-undetermined { background: #f0e8f7; color: #3f1f5c; border-color: #7e57a8; }
#summary p.finding { margin: .3rem 0; font-size: 16px; }
p, li, figcaption, summary { overflow-wrap: anywhere; }
table.verdicts .c-experiment, table.verdicts .c-interval, table.verdicts .c-verdict,
table.verdicts .c-p_adjusted, table.verdicts th { white-space: nowrap; }
table.verdicts td { font-size: 13.5px; }
table.verdicts .c-arm { min-width: 15em; }
table.verdicts .c-figure { overflow-wrap: anywhere; }
table.verdicts .c-claim_title { min-width: 9em; }
ul.glance { padding-left: 1.2rem; margin: .4rem 0 .8rem; }
ul.glance li { margin: .15rem 0; }
ul.glance a { font-weight: 600; }
.untested, .predates { color: var(--muted); font-style: italic; margin: .2rem 0 .6rem; }
"""

# After `load`, record whether every image decoded and any script error, on
# <body> data attributes, so a headless browser's --dump-dom can check the page.
# Registered in <head> so it also sees errors thrown while the body is parsed.
SCRIPT = """
(function () {
  var jsErrors = [];
  function publish() {
    if (!document.body) return;
    document.body.dataset.jsErrors = String(jsErrors.length);
    if (jsErrors.length) document.body.dataset.jsErrorText = jsErrors.join(" | ");
  }
  window.addEventListener("error", function (e) {
    if (e instanceof ErrorEvent) { jsErrors.push(String(e.message)); publish(); }
  }, true);
  window.addEventListener("load", function () {
    var imgs = Array.prototype.slice.call(document.images);
    var broken = imgs.filter(function (im) { return !(im.complete && im.naturalWidth > 0); });
    broken.forEach(function (im) { im.classList.add("broken"); });
    var b = document.body.dataset;
    b.imagesTotal = String(imgs.length);
    b.imagesBroken = String(broken.length);
    b.imagesOk = broken.length === 0 ? "true" : "false";
    // wider than the window: something forces a horizontal scroll bar
    b.overflowX = String(document.documentElement.scrollWidth > window.innerWidth);
    publish();
  });
})();
"""

def page(title: str, body: str) -> str:
    """The page shell (``templates/page.html.j2``) around an HTML ``body``."""
    from .templating import render, safe
    return render("page.html.j2", title=title, css=safe(CSS), script=safe(SCRIPT),
                  body=safe(body))
