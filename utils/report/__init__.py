"""HTML reports built from run folders alone (no training, no network).

``build_report(run_dir)`` writes ``<run_dir>/report.html`` for a single or an
``--experiment all`` run; ``build_comparison(run_dirs, out_dir)`` writes
``<out_dir>/comparison.html`` overlaying several runs. Both are standard
library only: ``string.Template`` and ``html.escape``, inline CSS, one inline
script that checks the images loaded, images linked relatively.

Every page opens with a findings section (``findings.py``): the seed
project's three claims, each with its verdict per arm from the experiments'
``summary["findings"]``, then one takeaway per experiment; runs made before
verdicts existed say so.
"""

from .compare import build_comparison
from .loading import load_run
from .single import build_report

__all__ = ["build_report", "build_comparison", "load_run"]
