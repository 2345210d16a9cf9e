"""Tidy (long-form) CSV of an experiment's per-seed arrays: one measured
number per row, so that any table or plot can be rebuilt with a group-by
and no knowledge of the ``.npz`` layouts.

Columns (:data:`COLUMNS`): ``experiment, arm, seed, step, k, level, metric,
value``. ``value`` is always numeric (NaN and infinities spelled ``nan``,
``inf``, ``-inf``, which Python's ``float`` and pandas both read); a column
that does not apply to a row (``k`` for a loss, ``level`` outside C) is an
empty cell. What the axes mean per experiment:

* A (``exp_a_arrays.npz``): ``step`` = optimiser step of the checkpoint,
  ``k`` = integer frequency. Metrics ``delta``, ``gain`` (step, k),
  ``train_loss`` (step), ``t_learn`` (k; the seed's learning time, NaN =
  censored, never T), ``learned`` (k; 1/0), ``below_since`` (k; an
  unconfirmed seed's step from which Delta_k stayed below eps to T, NaN
  otherwise), ``residual_amplitude`` (step, k = 0..k_max).
* B (``exp_b_arrays.npz``): ``step`` = epoch (0 = initialisation), ``k`` =
  radial frequency in cycles per pixel. Metrics ``hff``, ``norm_sq``,
  ``ssr_time_abs``, ``ssr_time_norm``, ``ssr_base_abs``, ``ssr_base_norm``
  (NaN for the baseline against itself), ``test_acc``, ``test_loss``,
  ``train_acc``, ``train_loss`` (step), ``profile`` (step, k). The spectra
  of other conv layers (``layer_*``) stay in the npz only.
* C (``exp_c_arrays.npz``): ``level`` = the curve's own level (noise
  strength, filter cutoff, band; ``inf`` is shot noise's clean level).
  Metrics ``clean_acc``, ``clean_acc_eval``, ``b_final_test_acc``,
  ``b_hff_final``, ``b_ssr_base_norm_final``, ``cue_low``/``cue_high``
  (when present), and ``acc_<curve>``, ``loss_<curve>`` (level). The heat
  maps (a 2D frequency per value) stay in the npz only.

Per-seed values only, never means.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from utils import runs

COLUMNS = ("experiment", "arm", "seed", "step", "k", "level", "metric", "value")


def _cell(key: str, v) -> str:
    if v is None:
        return ""
    if key == "value":
        if isinstance(v, (bool, np.bool_)):
            return str(int(v))
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"rows: expected a numeric 'value', got {v!r}") from None
        return repr(f) if math.isfinite(f) else ("nan" if math.isnan(f) else
                                                 ("inf" if f > 0 else "-inf"))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return repr(int(f)) if f.is_integer() and key in ("seed", "step") else repr(f)
    return str(v.item() if isinstance(v, np.generic) else v)


def write_tidy_csv(path, rows: Iterable[dict]) -> Path:
    """Write ``rows`` (dicts with keys among :data:`COLUMNS`; ``metric`` and
    ``value`` required) as a CSV with exactly those columns, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        extra = set(r) - set(COLUMNS)
        if extra or "metric" not in r or "value" not in r:
            raise ValueError(f"rows: expected keys among {COLUMNS} with 'metric' and 'value', "
                             f"got {sorted(r)}")
        w.writerow([_cell(c, r.get(c)) for c in COLUMNS])
    return runs.write_text(Path(path), buf.getvalue())


def _grid(experiment: str, metric: str, arr, arms, seeds, **axes) -> Iterator[dict]:
    """Rows of ``arr`` ``(A, S, *axes)``: one per element, the trailing axes
    named by ``axes`` (``name=coordinates``, in order)."""
    arr = np.asarray(arr, dtype=np.float64)
    names = list(axes)
    coords = [np.asarray(axes[n]).ravel() for n in names]
    want = (len(arms), len(seeds), *(c.size for c in coords))
    if arr.shape != want:
        raise ValueError(f"{metric}: expected shape {want} (arms, seeds, {', '.join(names)}), "
                         f"got {arr.shape}")
    arms = [str(a) for a in arms]
    seeds = [int(s) for s in seeds]
    for idx in np.ndindex(arr.shape):
        row = {"experiment": experiment, "arm": arms[idx[0]], "seed": seeds[idx[1]],
               "metric": metric, "value": arr[idx]}
        for n, c, i in zip(names, coords, idx[2:]):
            row[n] = c[i].item()
        yield row


def tidy_rows_a(npz_path) -> list[dict]:
    """Rows of experiment A's ``exp_a_arrays.npz`` (see the module docstring)."""
    with np.load(npz_path) as z:
        arms, seeds, steps, freqs = z["arms"], z["seeds"], z["steps"], z["freqs"]
        out = []
        for m in ("delta", "gain"):
            out += _grid("A", m, z[m], arms, seeds, step=steps, k=freqs)
        out += _grid("A", "train_loss", z["train_loss"], arms, seeds, step=steps)
        out += _grid("A", "t_learn", z["t_learn"], arms, seeds, k=freqs)
        out += _grid("A", "learned", z["learned"].astype(np.float64), arms, seeds, k=freqs)
        out += _grid("A", "below_since", z["below_since"], arms, seeds, k=freqs)
        out += _grid("A", "residual_amplitude", z["residual"], arms, seeds, step=steps,
                     k=np.arange(z["residual"].shape[-1]))
    return out


B_CURVES = ("hff", "norm_sq", "ssr_time_abs", "ssr_time_norm", "ssr_base_abs", "ssr_base_norm",
            "test_acc", "test_loss", "train_acc", "train_loss")


def tidy_rows_b(npz_path) -> list[dict]:
    """Rows of experiment B's ``exp_b_arrays.npz`` (see the module docstring)."""
    with np.load(npz_path) as z:
        arms, seeds, epochs = z["arms"], z["seeds"], z["epochs"]
        out = []
        for m in B_CURVES:
            out += _grid("B", m, z[m], arms, seeds, step=epochs)
        out += _grid("B", "profile", z["profile"], arms, seeds, step=epochs,
                     k=z["ring_frequency"])
    return out


C_PER_MODEL = ("clean_acc", "clean_acc_eval", "b_final_test_acc", "b_hff_final",
               "b_ssr_base_norm_final", "cue_low", "cue_high")


def tidy_rows_c(npz_path) -> list[dict]:
    """Rows of experiment C's ``exp_c_arrays.npz`` (see the module docstring)."""
    with np.load(npz_path) as z:
        arms, seeds = z["arms"], z["seeds"]
        out = []
        for m in C_PER_MODEL:
            if m in z.files:
                out += _grid("C", m, z[m], arms, seeds)
        for c in (str(c) for c in z["curves"]):
            for kind in ("acc", "loss"):
                if f"{kind}_{c}" in z.files:
                    out += _grid("C", f"{kind}_{c}", z[f"{kind}_{c}"], arms, seeds,
                                 level=z[f"level_{c}"])
    return out
