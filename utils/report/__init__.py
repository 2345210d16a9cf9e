"""HTML reports built from run folders alone (no training, no network).

``build_report(run_dir)`` writes ``<run_dir>/report.html`` for a single or an
``--experiment all`` run; ``build_comparison(run_dirs, out_dir)`` writes
``<out_dir>/comparison.html`` overlaying several runs. Pages are Jinja2
templates (``templates/``, autoescaped) around fragments built here; inline
CSS, one inline script that checks the images loaded and the page's width,
images linked relatively.

A run's report opens with what it found (``overview.py``): three to five
plain sentences generated from the verdict rows, then one compact verdict
table over A, B and C; the per-claim details (``findings.py``) are folded
below. A part that records no verdict rows is named as such.
"""

from .compare import build_comparison
from .loading import load_run
from .single import build_report

__all__ = ["build_report", "build_comparison", "load_run"]
