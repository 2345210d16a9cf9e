"""Dose-response results of a sweep (one regulariser's strength over values,
every value paired with the same seeds and initial weights), for A, B and C.

Each experiment saves its sweep axis as ``sweep.json`` in its folder
(``knob``, ``values``, ``arms``: the arm index of each value, the base value
being the baseline; C copies B's); everything here reads that and the saved
arrays alone, so ``--report`` redraws it. Differences are paired: the same seed's baseline is
subtracted before the interval over seeds is taken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from utils import runs, stats
from utils.tables import interval
from utils.report.dose_overlay import SWEEP
from utils.visualization.dose import plot_dose_heatmap, plot_dose_panels

CAPTIONS = {
    "exp_a_dose_response.png": "Dose-response of experiment A: per target frequency, the delay "
                               "of its learning time against the baseline of the same seed, and "
                               "its final gain, against the regulariser's strength (zero point "
                               "at the left).",
    "exp_a_dose_delay.png": "Median delay of t_k against the baseline (steps) per strength and "
                            "frequency; grey: not learned by T in every seed.",
    "exp_b_dose_response.png": "Dose-response of experiment B: conv1's normalized SSR against the "
                               "baseline (> 0: high frequencies suppressed), its HFF and the test "
                               "accuracy at the last epoch, against strength.",
    "exp_c_dose_response.png": "Dose-response of experiment C, paired differences against the "
                               "baseline of the same seed: high- and low-pass noise AUC, heat-map "
                               "error below and above the cut, and the band profile.",
}




def save_axis(run_dir: Path, axis: dict | None, arm_names: list[str]) -> None:
    """Write the sweep axis of a run (nothing without a sweep)."""
    if axis:
        runs.write_json(Path(run_dir) / SWEEP, {**axis, "arm_names": list(arm_names)})


def read_axis(run_dir: Path) -> tuple[str, list, list[int], int] | None:
    """``(knob, values, arm index per value, baseline arm index)`` or None."""
    path = Path(run_dir) / SWEEP
    if not path.is_file():
        return None
    ax = runs.read_json(path)
    names = list(ax["arm_names"])
    base = names.index("baseline") if "baseline" in names else int(ax["arms"][0])
    return str(ax["knob"]), list(ax["values"]), [int(i) for i in ax["arms"]], base


def _title(z, what: str, knob: str) -> str:
    ds = f" ({np.asarray(z['dataset_id']).item()})" if "dataset_id" in z else ""
    return f"{what}{ds}: dose-response over {knob}, mean and 95% interval over seeds"


# --------------------------------------------------------------------------
# A
# --------------------------------------------------------------------------

def a_results(run_dir: Path, z) -> dict | None:
    axis = read_axis(run_dir)
    if axis is None:
        return None
    knob, values, idx, base = axis
    t, learned = np.asarray(z["t_learn"], float), np.asarray(z["learned"], bool)   # (A,S,K)
    gain = np.asarray(z["gain"], float)[:, :, -1, :]                                # (A,S,K)
    both = learned[idx] & learned[base][None]
    delay = np.where(both, t[idx] - t[base][None], np.nan)                         # (V,S,K)
    out = {"knob": knob, "values": values, "freqs": [int(k) for k in z["freqs"]],
           "delay": delay, "gain": gain[idx], "learned": learned[idx]}
    if "learn_state" in z and "below_since" in z:
        # censoring-aware bounds of the per-seed delays (a censored t_k is a bound)
        from experiments import exp_a_core
        bounds = exp_a_core.time_bounds(t, np.asarray(z["learn_state"]),
                                        np.asarray(z["below_since"], float), int(z["steps"][-1]))
        out["delay_lo"], out["delay_hi"] = exp_a_core.paired_delay_bounds(
            (bounds[0][idx], bounds[1][idx]), (bounds[0][base][None], bounds[1][base][None]))
    return out


def _load(run_dir: Path, name: str) -> dict:
    with np.load(Path(run_dir) / name) as f:
        return {k: f[k] for k in f.files}


def a_dose(run_dir: Path) -> dict | None:
    """Experiment A's dose-response panels of one run (None without a sweep):
    ``knob``, ``values``, ``title``, ``panels`` (the ``series`` form of
    ``plot_dose_panels``, (V, S) arrays) and ``results`` (``a_results``).
    ``render_a`` and the comparison's overlay both draw from this."""
    run_dir = Path(run_dir)
    z = _load(run_dir, "exp_a_arrays.npz")
    r = a_results(run_dir, z)
    if r is None:
        return None
    ks = r["freqs"]
    panels = [{"title": "delay of t_k vs baseline (steps)", "ylabel": "steps (paired)",
               "reference": 0.0,
               "series": [(f"k={k}", r["delay"][:, :, j]) for j, k in enumerate(ks)]},
              {"title": "final gain g_k", "ylabel": "gain Re(H_k/Y_k)", "reference": 1.0,
               "series": [(f"k={k}", r["gain"][:, :, j]) for j, k in enumerate(ks)]}]
    return {"knob": r["knob"], "values": r["values"], "panels": panels, "results": r,
            "title": _title(z, "Experiment A", r["knob"])}


def render_a(run_dir: Path) -> list[Path]:
    run_dir = Path(run_dir)
    d = a_dose(run_dir)
    if d is None:
        return []
    r = d["results"]
    figs = run_dir / "figures"
    ks, V, S = r["freqs"], len(r["values"]), r["delay"].shape[1]
    out = [plot_dose_panels(figs / "exp_a_dose_response.png", d["knob"], d["values"],
                            d["panels"], d["title"])]
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(r["delay"], axis=1)                                  # (V,K)
    if "delay_lo" in r:
        # the median of the per-seed delays lies between the medians of their
        # bounds: the heat map shows that bound, ">= N" where censored seeds decide it
        from experiments import exp_a_core
        mlo, mhi = np.median(r["delay_lo"], axis=1), np.median(r["delay_hi"], axis=1)
        med = np.where(np.isfinite(mlo), mlo, np.where(np.isfinite(mhi), mhi, np.nan))
        cell = [[exp_a_core.median_text(mlo[i, j], mhi[i, j]) for j in range(len(ks))]
                for i in range(V)]
    else:  # an older folder without the learning states
        cell = [[f"{med[i, j]:+.0f}" if np.isfinite(med[i, j]) else "not learned"
                 for j in range(len(ks))] for i in range(V)]
    text = [[cell[i][j] + (f"\n{int(r['learned'][i, :, j].sum())}/{S} learned"
                           if not r["learned"][i, :, j].all() else "")
             for j in range(len(ks))] for i in range(V)]
    out.append(plot_dose_heatmap(figs / "exp_a_dose_delay.png", r["knob"], r["values"], ks, med,
                                 text, "Experiment A: median delay of t_k vs baseline "
                                 "(censoring-aware)", "steps (paired, median over seeds)"))
    return out


def a_table(run_dir: Path, z) -> dict | None:
    r = a_results(run_dir, z)
    if r is None:
        return None
    rows = []
    for i, v in enumerate(r["values"]):
        for j, k in enumerate(r["freqs"]):
            d = stats.summarize(r["delay"][i, :, j])
            g = stats.summarize(r["gain"][i, :, j])
            rows.append([f"{v:g}" if isinstance(v, float) else str(v), k,
                         f"{int(r['learned'][i, :, j].sum())}/{r['learned'].shape[1]}",
                         (f"{interval(d, '+.0f')} (n={d['n']})"
                          if d["n"] else "n/a (not learned)"),
                         interval(g)])
    return {"title": f"Dose-response over {r['knob']}: delay of t_k against the baseline of the "
                     "same seed (seeds where both learned k) and final gain, mean [95% interval]",
            "columns": [r["knob"], "k", "learned", "delay (steps)", "final gain"], "rows": rows}


# --------------------------------------------------------------------------
# B
# --------------------------------------------------------------------------

def b_dose(run_dir: Path) -> dict | None:
    """Experiment B's dose-response panels of one run (see ``a_dose``)."""
    run_dir = Path(run_dir)
    axis = read_axis(run_dir)
    if axis is None:
        return None
    z = _load(run_dir, "exp_b_arrays.npz")
    knob, values, idx, base = axis
    panels = []
    if "ig_hff" in z and np.isfinite(z["ig_hff"]).any():
        panels.append({"title": "input-gradient HFF - baseline (primary)",
                       "ylabel": "HFF difference (paired; < 0 low-pass)", "reference": 0.0,
                       "series": [("input-gradient HFF", _paired(z["ig_hff"][:, :, -1], idx,
                                                                 base))]})
    panels += [{"title": "normalized SSR vs baseline", "ylabel": "SSR (paired; > 0 low-pass)",
                "reference": 0.0,
                "series": [("SSR", _base_zero(z["ssr_base_norm"][:, :, -1], idx))]},
               {"title": "conv1 HFF - baseline", "ylabel": "HFF difference (paired)",
                "reference": 0.0, "series": [("HFF", _paired(z["hff"][:, :, -1], idx, base))]},
               {"title": "test accuracy - baseline", "ylabel": "accuracy difference (paired)",
                "reference": 0.0,
                "series": [("accuracy", _paired(z["test_acc"][:, :, -1], idx, base))]}]
    return {"knob": knob, "values": values, "panels": panels,
            "title": _title(z, "Experiment B", knob)}


def render_b(run_dir: Path) -> list[Path]:
    d = b_dose(run_dir)
    if d is None:
        return []
    return [plot_dose_panels(Path(run_dir) / "figures" / "exp_b_dose_response.png", d["knob"],
                             d["values"], d["panels"], d["title"])]


def _paired(per_arm: np.ndarray, idx: list[int], base: int) -> np.ndarray:
    """``(V, S)``: each sweep value's per-seed value minus the baseline's of
    the same seed (docs/DEFINITIONS.md 10: paired differences; the baseline's
    row is 0)."""
    a = np.asarray(per_arm, float)
    return a[idx] - a[base][None]


def _base_zero(per_arm: np.ndarray, idx: list[int]) -> np.ndarray:
    """A paired measure against the baseline (NaN for the baseline itself) with
    the baseline's row set to 0, its value by definition."""
    out = np.asarray(per_arm, float)[idx].copy()
    out[np.all(np.isnan(out), axis=1)] = 0.0
    return out


def b_table(run_dir: Path, z) -> dict | None:
    axis = read_axis(run_dir)
    if axis is None:
        return None
    knob, values, idx, base = axis
    rows = []
    for v, i in zip(values, idx):
        ssr = stats.summarize(z["ssr_base_norm"][i, :, -1]) if i != base else None
        d_acc = stats.summarize(z["test_acc"][i, :, -1] - z["test_acc"][base, :, -1])
        hff = stats.summarize(z["hff"][i, :, -1])
        ig = (stats.summarize(z["ig_hff"][i, :, -1] - z["ig_hff"][base, :, -1])
              if "ig_hff" in z else None)
        rows.append([f"{v:g}" if isinstance(v, float) else str(v),
                     "-" if ig is None or not np.isfinite(ig["mean"]) else
                     interval(ig, "+.3f"),
                     "0 (baseline)" if ssr is None else
                     interval(ssr, "+.3f"),
                     interval(hff),
                     interval(d_acc, "+.3f")])
    return {"title": f"Dose-response over {knob} (last epoch): input-gradient HFF minus the "
                     "baseline's of the same seed, conv1's normalized SSR vs that baseline, "
                     "conv1's HFF, and test accuracy minus the baseline's, mean [95% interval]",
            "columns": [knob, "input-gradient HFF - baseline", "SSR norm vs baseline",
                        "conv1 HFF", "test acc - baseline"],
            "rows": rows}


# --------------------------------------------------------------------------
# C
# --------------------------------------------------------------------------

def c_results(run_dir: Path, z, auc, heat_band_errors) -> dict | None:
    """Paired differences vs the baseline per sweep value, (V, S) each."""
    axis = read_axis(run_dir)
    if axis is None:
        return None
    knob, values, idx, base = axis
    out = {"knob": knob, "values": values}
    from experiments.exp_c_analysis import relative_auc
    chance = 1.0 / int(z["num_classes"])
    for c in ("highpass", "lowpass"):
        a = auc(z[f"x_{c}"], z[f"acc_{c}"])                                          # (A,S)
        out[f"auc_{c}"] = a[idx] - a[base][None]
        r = relative_auc(z[f"x_{c}"], z[f"acc_{c}"], z["clean_acc_eval"], chance)
        out[f"rel_auc_{c}"] = r[idx] - r[base][None]
    low, high = heat_band_errors(z["heatmap"], z["heat_freq"], float(z["noise_cutoff"]))
    out["heat_low"], out["heat_high"] = low[idx] - low[base][None], high[idx] - high[base][None]
    band = np.asarray(z["acc_band"], float)                                          # (A,S,L)
    out["band"] = band[idx] - band[base][None]
    out["band_x"] = np.asarray(z["x_band"], float)
    return out


def c_dose(run_dir: Path) -> dict | None:
    """Experiment C's dose-response panels of one run (see ``a_dose``)."""
    from experiments.exp_c_analysis import ARRAYS, auc, heat_band_errors
    run_dir = Path(run_dir)
    if read_axis(run_dir) is None:
        return None
    z = _load(run_dir, ARRAYS)
    r = c_results(run_dir, z, auc, heat_band_errors)
    if r is None:
        return None
    cut = float(z["noise_cutoff"])
    bands = [(f"band {x:.2f} c/p", r["band"][:, :, j]) for j, x in enumerate(r["band_x"])]
    panels = [{"title": "accuracy-relative noise AUC - baseline (claim 3's primary)",
               "ylabel": "relative-AUC difference (paired)",
               "reference": 0.0, "series": [("high-pass noise", r["rel_auc_highpass"]),
                                            ("low-pass noise", r["rel_auc_lowpass"])]},
              {"title": "raw noise AUC - baseline", "ylabel": "AUC difference (paired)",
               "reference": 0.0, "series": [("high-pass noise", r["auc_highpass"]),
                                            ("low-pass noise", r["auc_lowpass"])]},
              {"title": "heat map: error - baseline", "ylabel": "error-rate difference",
               "reference": 0.0, "series": [(f"rho < {cut:g}", r["heat_low"]),
                                            (f"rho >= {cut:g}", r["heat_high"])]},
              {"title": "band noise: acc - baseline", "ylabel": "accuracy difference",
               "reference": 0.0, "series": bands}]
    return {"knob": r["knob"], "values": r["values"], "panels": panels, "results": r,
            "title": _title(z, "Experiment C", r["knob"])}


def render_c(run_dir: Path) -> list[Path]:
    d = c_dose(run_dir)
    if d is None:
        return []
    return [plot_dose_panels(Path(run_dir) / "figures" / "exp_c_dose_response.png", d["knob"],
                             d["values"], d["panels"], d["title"])]


DOSE = {"A": a_dose, "B": b_dose, "C": c_dose}
