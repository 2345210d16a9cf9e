"""The experiments, and the contract every one of them keeps.

An experiment is a module (listed in :data:`MODULES`) with:

``NAME``
    its folder name inside an ``--experiment all`` run (``exp_a`` ...).
``Config``
    a frozen dataclass holding every setting, each with a comment; its
    ``quick()`` returns the same code path with every axis shrunk.
``validate(cfg)``
    raises ``ValueError`` naming the field for a config that cannot run. It
    runs before any folder is created, and again at the top of ``run``, so a
    config from Python or from a saved ``config.json`` is checked the same way.
``run(cfg, run_dir, log=print, resume=False, launch=None, [data=None]) -> dict``
    does the work, writes arrays, figures and ``summary.json`` into
    ``run_dir`` and returns the summary. No argparse, no printing of the
    config. ``resume=True`` continues an interrupted folder, keeping every
    finished job; ``launch`` says how the jobs run.
``render_figures(run_dir)``, ``render_dose(run_dir)``
    redraw every figure from the saved arrays (``--report``);
``STABLE_FIGURES``
    the headline figures ``docs/refresh_figures.py`` copies to ``docs/figures/``
    (runs themselves write only into their own folder).

Optional parts, used when present:

``preset(cfg, device, name=None)``
    the device's preset (CPU or GPU sizes), then a named one (``--preset``);
``preflight(cfg, data)``
    runs the model once on the prepared data before any folder exists;
``prepare(cfg, data=None, parts=())``
    loads the input before any work (its result is passed to ``run`` as
    ``data=``), so missing data stops the run before the folder exists;
    ``data``: images given from Python; ``parts``: the letters of the run;
``in_run(cfg, folders)``
    the config inside a run whose experiments write to ``folders`` (letter
    -> folder): how an experiment reads another's output of the same run
    (C evaluates that run's B).

The command line (:mod:`experiments.cli`) derives its ``--experiment`` choices
and the order of ``all`` from :data:`MODULES`; nothing else lists the experiments.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# letter -> module, in the order of an "all" run (C evaluates B's models).
MODULES = {"a": "experiments.exp_a_synthetic", "b": "experiments.exp_b_spectrum_evolution",
           "c": "experiments.exp_c_robustness"}
LETTERS = tuple(MODULES)


def registry() -> dict[str, ModuleType]:
    """letter -> the imported experiment module."""
    return {k: importlib.import_module(v) for k, v in MODULES.items()}
