"""Experiment C's summaries from its saved arrays: areas under the robustness
curves, accuracy relative to clean, heat-map error by band, cue-conflict
shares, the relation to B's spectra (Spearman), intervals over seeds, and the
figures. Everything here reads ``exp_c_arrays.npz`` (or the same dict), so a
summary or a figure can be rebuilt without the models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats as sps

from utils import stats
from utils.tables import format_table
from utils.visualization import exp_c as viz

ARRAYS = "exp_c_arrays.npz"
NOISE_CURVES = ("gaussian", "highpass", "lowpass", "shot", "impulse", "speckle")

FIGURE_CAPTIONS = {
    "exp_c_robustness.png": "Accuracy against noise strength, mean and 95% band over seeds: a "
                            "regulariser that makes a model ignore high frequencies keeps its "
                            "high-pass curve up while the low-pass control at the same energy "
                            "falls like the baseline's.",
    "exp_c_filtered.png": "Accuracy on low- and high-pass filtered test sets against the cutoff "
                          "(thin lines: clean accuracy): how much of each model's decision "
                          "survives in each band alone.",
    "exp_c_band_profile.png": "Accuracy under equal-energy noise in one annulus at a time: the dip "
                              "shows the frequencies a model is most sensitive to.",
    "exp_c_heatmaps.png": "Fourier heat maps (error rate per basis frequency, DC centred, mean "
                          "over seeds, fixed scale [0, 1]): bright rings far from the centre mean "
                          "sensitivity to high frequencies.",
    "exp_c_heatmap_diff.png": "Heat map minus the baseline's (same seeds): blue where the "
                              "regulariser made the model more robust, red where less.",
    "exp_c_ssr_vs_robustness.png": "Does B's spectral measure predict C's robustness? Each point "
                                   "is one model (arm, seed); Spearman's rho in the titles.",
    "exp_c_cue_conflict.png": "Cue-conflict images (low cue of one class, high cue of another): "
                              "the share of decisions that follow each cue.",
}


def _s(value) -> str:
    return str(np.asarray(value).item()) if np.ndim(value) == 0 else str(value)


def auc(x, acc) -> np.ndarray:
    """Trapezoid area under ``acc`` (..., L) over ``x`` (L,) rescaled to [0, 1]."""
    x = np.asarray(x, dtype=float)
    u = (x - x[0]) / (x[-1] - x[0])
    return np.trapezoid(np.asarray(acc, dtype=float), u, axis=-1)


def _ci(d: dict, fmt: str = "{:.3f}") -> str:
    return f"{fmt.format(d['mean'])} [{fmt.format(d['lo'])}, {fmt.format(d['hi'])}]"


def spearman(x, y) -> float:
    """Spearman's rho over the finite pairs (NaN with fewer than 3 or a constant side)."""
    x, y = np.ravel(x).astype(float), np.ravel(y).astype(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(sps.spearmanr(x[ok], y[ok]).statistic)


def heat_band_errors(heat, freqs, cut: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean heat-map error over bins with rho < cut and rho >= cut: ``(..., )`` each."""
    f = np.asarray(freqs, dtype=float)
    rho = np.hypot(f[:, None], f[None, :])
    heat = np.asarray(heat, dtype=float)
    return heat[..., rho < cut].mean(-1), heat[..., rho >= cut].mean(-1)


def derived(z) -> dict:
    """Per-model numbers from the raw arrays: AUCs, relative accuracies,
    heat-map band errors, cue shares, B's spectra and paired differences."""
    curves = [str(c) for c in z["curves"]]
    out = {"curves": curves, "auc": {}, "rel_last": {}}
    for c in curves:
        out["auc"][c] = auc(z[f"x_{c}"], z[f"acc_{c}"])
        out["rel_last"][c] = z[f"acc_{c}"][..., -1] / z["clean_acc_eval"]
    cut = float(z["noise_cutoff"])
    out["heat_low"], out["heat_high"] = heat_band_errors(z["heatmap"], z["heat_freq"], cut)
    if "cue_low" in z:
        out["cue"] = {"low cue": z["cue_low"], "high cue": z["cue_high"],
                      "neither": 1.0 - z["cue_low"] - z["cue_high"]}
    arms = [str(a) for a in z["arms"]]
    base = arms.index("baseline") if "baseline" in arms else None
    out["base"] = base
    if base is not None:
        out["d_auc_highpass"] = out["auc"]["highpass"] - out["auc"]["highpass"][base]
        out["d_auc_highpass"][base] = np.nan
    return out


def summarise(z) -> dict:
    """The summary dict (without wall times or the B-run details)."""
    d = derived(z)
    arms = [str(a) for a in z["arms"]]
    seeds = [int(s) for s in z["seeds"]]
    S = len(seeds)
    ds = _s(z["dataset_id"])
    curves = d["curves"]
    per_arm, rows_auc, rows_rel, rows_heat, rows_cue = {}, [], [], [], []
    noise = [c for c in curves if c in NOISE_CURVES]
    for a, arm in enumerate(arms):
        e = {"label": _s(z["arm_labels"][a]),
             "clean_acc": stats.summarize(z["clean_acc"][a]),
             "clean_acc_eval_subset": stats.summarize(z["clean_acc_eval"][a]),
             "auc": {c: stats.summarize(d["auc"][c][a]) for c in curves},
             "relative_acc_at_strongest": {c: stats.summarize(d["rel_last"][c][a]) for c in noise},
             "heatmap_error_low": stats.summarize(d["heat_low"][a]),
             "heatmap_error_high": stats.summarize(d["heat_high"][a])}
        if "cue" in d:
            e["cue_conflict"] = {k: stats.summarize(v[a]) for k, v in d["cue"].items()}
            rows_cue.append([arm] + [_ci(e["cue_conflict"][k]) for k in d["cue"]])
        per_arm[arm] = e
        rows_auc.append([arm, _ci(e["clean_acc"])] + [_ci(e["auc"][c]) for c in curves])
        rows_rel.append([arm] + [_ci(e["relative_acc_at_strongest"][c]) for c in noise])
        rows_heat.append([arm, _ci(e["heatmap_error_low"]), _ci(e["heatmap_error_high"])])
    cut = float(z["noise_cutoff"])
    corr = {"hff_vs_highpass_auc": spearman(z["b_hff_final"], d["auc"]["highpass"])}
    if d["base"] is not None:
        corr["ssr_vs_baseline_vs_delta_highpass_auc"] = spearman(z["b_ssr_base_norm_final"],
                                                                 d["d_auc_highpass"])
    tables = [
        {"title": f"Experiment C ({ds}): clean accuracy (whole B test set) and area under each "
                  f"accuracy curve (x axis scaled to [0, 1]), mean [95% interval] over {S} seeds",
         "columns": ["arm", "clean acc"] + [f"AUC {c}" for c in curves], "rows": rows_auc},
        {"title": "Accuracy relative to clean at the strongest level of each noise",
         "columns": ["arm"] + [f"{c} @ {z[f'level_{c}'][-1]:g}" for c in noise],
         "rows": rows_rel},
        {"title": f"Fourier heat map: mean error rate below and above {cut:g} c/p",
         "columns": ["arm", f"rho < {cut:g}", f"rho >= {cut:g}"], "rows": rows_heat},
        {"title": "B's conv1 spectrum (last epoch) against C's robustness: Spearman over "
                  "models (arms x seeds)",
         "columns": ["relation", "Spearman rho"],
         "rows": [[k.replace("_", " "), f"{v:+.2f}"] for k, v in corr.items()]}]
    if rows_cue:
        tables.append({"title": "Cue-conflict split: share of decisions that follow each cue "
                                f"(chance 1/{int(z['num_classes'])} each)",
                       "columns": ["arm"] + list(d["cue"]), "rows": rows_cue})
    warnings = []
    if S < 2:
        warnings.append("one seed only: no intervals; run B with more seeds")
    chance = 1.0 / int(z["num_classes"])
    weak = [arms[a] for a in range(len(arms)) if np.mean(z["clean_acc"][a]) < 1.5 * chance]
    if weak:
        warnings.append(f"arms near chance on clean data ({', '.join(weak)}): their robustness "
                        f"curves carry no information; train B longer")
    return {"experiment": "C", "dataset_id": ds, "arms": per_arm, "seeds": seeds,
            "correlations": corr,
            "figures": [{"file": f"figures/{n}", "caption": FIGURE_CAPTIONS[n]}
                        for n in figure_names(z)],
            "tables": tables, "warnings": warnings}


def figure_names(z) -> list[str]:
    names = ["exp_c_robustness.png", "exp_c_filtered.png", "exp_c_band_profile.png",
             "exp_c_heatmaps.png"]
    arms = [str(a) for a in z["arms"]]
    if "baseline" in arms and len(arms) > 1:
        names.append("exp_c_heatmap_diff.png")
    names.append("exp_c_ssr_vs_robustness.png")
    if "cue_low" in z:
        names.append("exp_c_cue_conflict.png")
    return names


def _panel(z, c: str, **extra) -> dict:
    m, lo, hi = stats.mean_ci(z[f"acc_{c}"], axis=1)
    titles = dict(zip([str(n) for n in z["curves"]], [str(t) for t in z["curve_titles"]]))
    xlabels = dict(zip([str(n) for n in z["curves"]], [str(t) for t in z["curve_xlabels"]]))
    return {"title": titles[c], "xlabel": xlabels[c], "x": z[f"x_{c}"], "mean": m, "lo": lo,
            "hi": hi, **extra}


def render_figures(run_dir: Path) -> list[Path]:
    """Draw every figure of Experiment C from ``exp_c_arrays.npz`` alone."""
    run_dir = Path(run_dir)
    z = dict(np.load(run_dir / ARRAYS))
    d = derived(z)
    figs = run_dir / "figures"
    arms = [str(a) for a in z["arms"]]
    labels = [str(x) for x in z["arm_labels"]]
    S = len(z["seeds"])
    tag = f"Experiment C ({_s(z['dataset_id'])})"
    chance = 1.0 / int(z["num_classes"])
    over = f"mean and 95% interval over {S} seeds"
    out = []
    noise = [c for c in d["curves"] if c in NOISE_CURVES]
    panels = []
    for c in noise:
        extra = {}
        if c in ("shot", "impulse", "speckle"):
            extra["xticklabels"] = ["clean"] + [f"{v:g}" for v in z[f"level_{c}"][1:]]
        panels.append(_panel(z, c, **extra))
    out.append(viz.plot_curve_panels(figs / "exp_c_robustness.png", panels, labels,
                                     f"{tag}: accuracy under noise, {over}", chance=chance))
    clean = z["clean_acc_eval"].mean(axis=1)
    out.append(viz.plot_curve_panels(figs / "exp_c_filtered.png",
                                     [_panel(z, "filter_low", reference=clean),
                                      _panel(z, "filter_high", reference=clean)], labels,
                                     f"{tag}: filtered test sets, {over}\n(thin horizontal lines: "
                                     f"clean accuracy of each arm)", chance=chance))
    out.append(viz.plot_curve_panels(figs / "exp_c_band_profile.png",
                                     [_panel(z, "band", vlines=[(0.5, "Nyquist")])], labels,
                                     f"{tag}:\nfrequency robustness profile, {over}",
                                     chance=chance))
    heat = z["heatmap"].mean(axis=1)
    P = heat.shape[-1]
    v = float(z.get("heatmap_v", np.nan))
    out.append(viz.plot_heatmaps(figs / "exp_c_heatmaps.png", heat, z["heat_freq"], arms,
                                 f"{tag}: Fourier heat maps ({P}x{P} bases, v = {v:g}, "
                                 f"{len(z['heat_indices'])} images), mean over {S} seeds"))
    if d["base"] is not None and len(arms) > 1:
        others = [a for a in range(len(arms)) if a != d["base"]]
        diff = heat[others] - heat[d["base"]]
        out.append(viz.plot_heatmaps(figs / "exp_c_heatmap_diff.png", diff, z["heat_freq"],
                                     [arms[a] for a in others],
                                     f"{tag}: heat map minus baseline (mean over {S} seeds)",
                                     diverging=True, label="error rate - baseline's"))
    cut = float(z["hff_cutoff"])
    scatter = [{"x": z["b_hff_final"], "y": d["auc"]["highpass"],
                "xlabel": f"B: HFF of conv1 at the last epoch (power above {cut:g} c/p)",
                "ylabel": "C: AUC of the high-pass noise curve",
                "title": f"all models; Spearman rho = "
                         f"{spearman(z['b_hff_final'], d['auc']['highpass']):+.2f}"}]
    if d["base"] is not None:
        scatter.append({"x": z["b_ssr_base_norm_final"], "y": d["d_auc_highpass"],
                        "xlabel": "B: normalized SSR vs baseline (same seed)",
                        "ylabel": "C: high-pass AUC minus the baseline's (same seed)",
                        "title": "paired with the baseline; Spearman rho = "
                                 f"{spearman(z['b_ssr_base_norm_final'], d['d_auc_highpass']):+.2f}",
                        "hline": 0.0, "vline": 0.0})
    out.append(viz.plot_scatter(figs / "exp_c_ssr_vs_robustness.png", scatter, arms,
                                f"{tag}: B's spectrum against C's high-pass robustness"))
    if "cue" in d:
        groups = {}
        for k, v in d["cue"].items():
            m, lo, hi = stats.mean_ci(v, axis=1)
            groups[k] = {"mean": m, "lo": lo, "hi": hi, "values": v}
        out.append(viz.plot_grouped_bars(figs / "exp_c_cue_conflict.png", arms, groups,
                                         f"{tag}: which cue do decisions follow? {over}",
                                         ylabel="share of cue-conflict images", chance=chance))
    return out


def print_summary(summary: dict, log=print) -> None:
    for table in summary["tables"]:
        log("\n" + format_table(table))
    w = summary.get("wall_seconds", {})
    if w:
        log(f"\n  evaluation {w['eval_images_per_s']:,.0f} images/s; heat map "
            f"{w['heatmap_per_model']:.1f} s per model; total {w['total']:.1f} s")
    for warning in summary["warnings"]:
        log(f"WARNING: {warning}")
