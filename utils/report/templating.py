"""The Jinja2 environment of the reports: templates in ``templates/``,
autoescaping on (run text is never trusted), undefined names an error."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=False)


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


def safe(fragment: str) -> Markup:
    """An HTML fragment built (and escaped) by this package, passed through as is."""
    return Markup(fragment)
