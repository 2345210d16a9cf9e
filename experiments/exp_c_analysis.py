"""Experiment C's summaries from its saved arrays: areas under the robustness
curves, accuracy relative to clean, heat-map error by band, cue-conflict
shares, the relation to B's spectra (Spearman with a seed-bootstrap interval),
intervals over seeds (cut to each quantity's feasible range), paired
differences against the baseline of the same seed, the findings on claim
reg_hf_robustness (utils.verdicts), a tidy CSV, and the figures. Everything
here reads ``exp_c_arrays.npz`` (or the same dict), so a summary or a figure
can be rebuilt without the models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats as sps

from utils import stats, tidy, verdicts as vd
from utils.tables import format_table, interval
from utils.visualization import exp_c as viz

ARRAYS = "exp_c_arrays.npz"
TIDY = "exp_c_tidy.csv"
UNIT = (0.0, 1.0)            # accuracies, areas under accuracy curves, error rates, shares
POSITIVE = (0.0, np.inf)     # accuracy relative to clean
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


def relative_auc(x, acc, clean, chance: float) -> np.ndarray:
    """AUC (:func:`auc`) of the accuracy-relative curve ``(acc - chance) /
    (clean - chance)``: the share of the model's above-chance clean accuracy
    that survives each strength (docs/DEFINITIONS.md 5.1). ``acc``: ``(..., L)``;
    ``clean``: ``(...)`` the same model's clean accuracy; NaN where
    ``clean <= chance`` (nothing to retain)."""
    clean = np.asarray(clean, dtype=float)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(clean > chance, (np.asarray(acc, dtype=float) - chance) / (clean - chance),
                       np.nan)
    return auc(x, rel)


def _ci(d: dict, fmt: str = ".3f") -> str:
    if not np.isfinite(d["mean"]):
        return "n/a"
    if not (np.isfinite(d["lo"]) and np.isfinite(d["hi"])):
        return f"{d['mean']:{fmt}} (n = {d['n']}, no interval)"
    return interval(d, fmt)


def write_tidy(run_dir: Path) -> Path:
    """``exp_c_tidy.csv`` (per-seed values, long form) next to the arrays."""
    run_dir = Path(run_dir)
    return tidy.write_tidy_csv(run_dir / TIDY, tidy.tidy_rows_c(run_dir / ARRAYS))


def spearman(x, y) -> float:
    """Spearman's rho over the finite pairs (NaN with fewer than 3 or a constant side)."""
    x, y = np.ravel(x).astype(float), np.ravel(y).astype(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(sps.spearmanr(x[ok], y[ok]).statistic)


def spearman_seeds(x, y, n_resamples: int = 2000) -> dict:
    """Spearman's rho over models (arms x seeds) with a seed-bootstrap range
    (2.5th to 97.5th percentile; not a confidence interval at a few seeds,
    utils.stats.seed_bootstrap) from resampling whole seeds (all arms of a seed together: models of one seed
    share their initial weights and data order, so they are not independent
    points). ``n`` counts the finite pairs; rho and interval are withheld
    (None) when fewer than 3 pairs carry information (NaN from
    :func:`spearman`: too few pairs or a constant side); the interval alone
    is withheld with fewer than 3 seeds.

    Args:
        x, y: ``(A, S)`` per-model values, NaN where a model has none.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x, y: expected two arrays of shape (A, S), got {x.shape}, {y.shape}")
    n = int((np.isfinite(x) & np.isfinite(y)).sum())
    rho = spearman(x, y)
    out = {"rho": None, "lo": None, "hi": None, "n": n, "n_seeds": int(x.shape[1]),
           "interval": f"bootstrap range (2.5-97.5 percentile; a range, not a 95% interval at "
                       f"few seeds) over resampled seeds (every ordered draw when S^S <= "
                       f"{n_resamples}, else {n_resamples} random draws); none below 3 seeds"}
    # 2 seeds give 3 distinct resamples, two of them one seed twice: no interval
    if np.isfinite(rho) and x.shape[1] >= 3:
        lo, hi, _ = stats.seed_bootstrap(spearman, [x, y], seed_axis=1, n_resamples=n_resamples)
        out.update(rho=rho, lo=lo if np.isfinite(lo) else None, hi=hi if np.isfinite(hi) else None)
    elif np.isfinite(rho):
        out["rho"] = rho
    return out


def _rho_text(c: dict) -> str:
    if c["rho"] is None:
        return f"n/a (n = {c['n']} < 3 informative)" if c["n"] < 3 else "n/a (a constant side)"
    iv = (f" [{c['lo']:+.2f}, {c['hi']:+.2f}]" if c["lo"] is not None else
          f" (no interval: {c['n_seeds']} seeds)" if c["n_seeds"] < 3 else " (no interval)")
    return f"{c['rho']:+.2f}{iv}"


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
    out = {"curves": curves, "auc": {}, "rel_last": {}, "rel_auc": {}}
    chance = 1.0 / int(z["num_classes"])
    for c in curves:
        out["auc"][c] = auc(z[f"x_{c}"], z[f"acc_{c}"])
        out["rel_last"][c] = z[f"acc_{c}"][..., -1] / z["clean_acc_eval"]
        if c in NOISE_CURVES:
            out["rel_auc"][c] = relative_auc(z[f"x_{c}"], z[f"acc_{c}"], z["clean_acc_eval"],
                                             chance)
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
        out["d_rel_auc_highpass"] = out["rel_auc"]["highpass"] - out["rel_auc"]["highpass"][base]
        out["d_rel_auc_highpass"][base] = np.nan
    return out


def vs_baseline(z, d: dict, a: int) -> dict:
    """Paired differences of arm ``a`` against the baseline of the same seed
    (utils.stats.paired_difference): AUCs, relative accuracy at the strongest
    level, heat-map band errors, clean accuracy, and the band profile per
    band (mean and interval of the differences at every level)."""
    b = d["base"]
    noise = [c for c in d["curves"] if c in NOISE_CURVES]
    out = {"clean_acc": stats.paired_difference(z["clean_acc"][a], z["clean_acc"][b]),
           "auc": {c: stats.paired_difference(d["auc"][c][a], d["auc"][c][b]) for c in d["curves"]},
           "relative_auc": {c: stats.paired_difference(d["rel_auc"][c][a], d["rel_auc"][c][b])
                            for c in d["rel_auc"]},
           "relative_acc_at_strongest": {c: stats.paired_difference(d["rel_last"][c][a],
                                                                    d["rel_last"][c][b])
                                         for c in noise},
           "heatmap_error_low": stats.paired_difference(d["heat_low"][a], d["heat_low"][b]),
           "heatmap_error_high": stats.paired_difference(d["heat_high"][a], d["heat_high"][b])}
    if "band" in d["curves"]:
        diff = np.asarray(z["acc_band"][a], float) - np.asarray(z["acc_band"][b], float)  # (S, L)
        m, lo, hi = stats.mean_ci(diff, axis=0)
        out["band_profile"] = {"x": np.asarray(z["x_band"], float).tolist(),
                               "levels": np.asarray(z["level_band"], float).tolist(),
                               "mean": m.tolist(), "lo": lo.tolist(), "hi": hi.tolist(),
                               "n": np.isfinite(diff).sum(axis=0).tolist(),
                               "values": diff.tolist()}
    return out


def findings_c(z, d: dict, weak=()) -> list[dict]:
    """Findings on reg_hf_robustness: every non-baseline arm; primary, the
    per-seed accuracy-relative high-pass AUC minus the baseline's; secondary,
    the raw high-pass AUC difference. Arms near chance on clean data (or
    all, when the baseline is) are undetermined: their curves carry no
    information."""
    arms = [str(a) for a in z["arms"]]
    if d["base"] is None:
        return []
    rows = []
    for a, name in enumerate(arms):
        if a == d["base"]:
            continue
        who = "baseline" if "baseline" in weak else name if name in weak else None
        rows.append({"arm": name, "arm_label": _s(z["arm_labels"][a]),
                     "values": d["d_rel_auc_highpass"][a],
                     "secondary_values": d["d_auc_highpass"][a],
                     "untestable_reason": None if who is None else
                     f"{who} is near chance on clean data"})
    return vd.claim_verdicts("reg_hf_robustness", rows, _s(z["dataset_id"])) if rows else []


def summarise(z) -> dict:
    """The summary dict (without wall times or the B-run details)."""
    d = derived(z)
    arms = [str(a) for a in z["arms"]]
    seeds = [int(s) for s in z["seeds"]]
    S = len(seeds)
    ds = _s(z["dataset_id"])
    curves = d["curves"]
    per_arm, rows_auc, rows_rel, rows_heat, rows_cue = {}, [], [], [], []
    rows_dauc, rows_drel, rows_dband = [], [], []
    noise = [c for c in curves if c in NOISE_CURVES]
    for a, arm in enumerate(arms):
        e = {"label": _s(z["arm_labels"][a]),
             "clean_acc": stats.summarize(z["clean_acc"][a], UNIT),
             "clean_acc_eval_subset": stats.summarize(z["clean_acc_eval"][a], UNIT),
             "auc": {c: stats.summarize(d["auc"][c][a], UNIT) for c in curves},
             "relative_acc_at_strongest": {c: stats.summarize(d["rel_last"][c][a], POSITIVE)
                                           for c in noise},
             "heatmap_error_low": stats.summarize(d["heat_low"][a], UNIT),
             "heatmap_error_high": stats.summarize(d["heat_high"][a], UNIT)}
        if "cue" in d:
            e["cue_conflict"] = {k: stats.summarize(v[a], UNIT) for k, v in d["cue"].items()}
            rows_cue.append([arm] + [_ci(e["cue_conflict"][k]) for k in d["cue"]])
        if d["base"] is not None and a != d["base"]:
            p = e["vs_baseline"] = vs_baseline(z, d, a)
            rows_dauc.append([arm, _ci(p["clean_acc"], "+.3f")]
                             + [_ci(p["auc"][c], "+.3f") for c in curves]
                             + [_ci(p["heatmap_error_low"], "+.3f"),
                                _ci(p["heatmap_error_high"], "+.3f")])
            rows_drel.append([arm] + [_ci(p["relative_acc_at_strongest"][c], "+.3f")
                                      for c in noise]
                             + [_ci(p["relative_auc"][c], "+.3f") for c in noise])
            if "band_profile" in p:
                bp = p["band_profile"]
                rows_dband.append([arm] + [_ci({"mean": m, "lo": lo, "hi": hi, "n": n}, "+.3f")
                                           for m, lo, hi, n in zip(bp["mean"], bp["lo"], bp["hi"],
                                                                   bp["n"])])
        per_arm[arm] = e
        rows_auc.append([arm, _ci(e["clean_acc"])] + [_ci(e["auc"][c]) for c in curves])
        rows_rel.append([arm] + [_ci(e["relative_acc_at_strongest"][c]) for c in noise])
        rows_heat.append([arm, _ci(e["heatmap_error_low"]), _ci(e["heatmap_error_high"])])
    cut = float(z["noise_cutoff"])
    corr = {"hff_vs_highpass_auc": spearman_seeds(z["b_hff_final"], d["auc"]["highpass"])}
    if d["base"] is not None:
        corr["ssr_vs_baseline_vs_delta_highpass_auc"] = spearman_seeds(z["b_ssr_base_norm_final"],
                                                                       d["d_auc_highpass"])
    chance = 1.0 / int(z["num_classes"])
    weak = [arms[a] for a in range(len(arms)) if np.mean(z["clean_acc"][a]) < 1.5 * chance]
    findings = findings_c(z, d, weak)
    for f in findings:
        per_arm[f["arm"]]["verdicts"] = {f["claim"]: f["verdict"]}
    over = f"mean [95% interval, cut to the feasible range] over {S} seeds"
    tables = [
        {"title": f"Experiment C ({ds}): clean accuracy (whole B test set) and area under each "
                  f"accuracy curve (x axis scaled to [0, 1]), {over}",
         "columns": ["arm", "clean acc"] + [f"AUC {c}" for c in curves], "rows": rows_auc},
        {"title": "Accuracy relative to clean at the strongest level of each noise",
         "columns": ["arm"] + [f"{c} @ {z[f'level_{c}'][-1]:g}" for c in noise],
         "rows": rows_rel},
        {"title": f"Fourier heat map: mean error rate below and above {cut:g} c/p",
         "columns": ["arm", f"rho < {cut:g}", f"rho >= {cut:g}"], "rows": rows_heat}]
    if rows_dauc:
        paired = f"minus the baseline's of the same seed, mean [95% interval] over {S} seeds"
        tables += [
            {"title": f"Paired differences: clean accuracy, AUCs and heat-map band errors {paired}",
             "columns": ["arm", "clean acc"] + [f"AUC {c}" for c in curves]
                        + [f"heat rho < {cut:g}", f"heat rho >= {cut:g}"], "rows": rows_dauc},
            {"title": f"Paired differences: accuracy relative to clean at the strongest level, "
                      f"and the AUC of the chance-corrected relative curve (acc - chance) / "
                      f"(clean - chance) (claim 3's primary statistic for highpass) {paired}",
             "columns": ["arm"] + [f"{c} @ {z[f'level_{c}'][-1]:g}" for c in noise]
                        + [f"relative AUC {c}" for c in noise],
             "rows": rows_drel}]
        if rows_dband:
            tables.append({"title": f"Paired differences: band-profile accuracy per band {paired}",
                           "columns": ["arm"] + [f"band {x:g}" for x in z["x_band"]],
                           "rows": rows_dband})
    tables.append(
        {"title": "B's conv1 spectrum (last epoch) against C's robustness: Spearman over "
                  f"models (arms x seeds), range from resampling whole seeds ({S} seeds: a "
                  f"range of the statistic, not a 95% confidence interval)",
         "columns": ["relation", "Spearman rho [bootstrap range]", "n models"],
         "rows": [[k.replace("_", " "), _rho_text(v), str(v["n"])] for k, v in corr.items()]})
    if rows_cue:
        tables.append({"title": "Cue-conflict split: share of decisions that follow each cue "
                                f"(chance 1/{int(z['num_classes'])} each)",
                       "columns": ["arm"] + list(d["cue"]), "rows": rows_cue})
    if findings:
        tables.append(vd.findings_table(findings, "C"))
    warnings = []
    if S < 2:
        warnings.append("one seed only: no intervals and no findings; run B with more seeds")
    if weak:
        warnings.append(f"arms near chance on clean data ({', '.join(weak)}): their robustness "
                        f"curves carry no information and their findings are undetermined; "
                        f"train B longer")
    return {"experiment": "C", "dataset_id": ds, "arms": per_arm, "seeds": seeds,
            "correlations": corr, "findings": findings,
            "takeaway": vd.takeaway("C", ds, findings),
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
    out.append(viz.plot_heatmaps(figs / "exp_c_heatmaps.png", heat, z["heat_freq"], labels,
                                 f"{tag}: Fourier heat maps ({P}x{P} bases, v = {v:g}, "
                                 f"{len(z['heat_indices'])} images), mean over {S} seeds"))
    if d["base"] is not None and len(arms) > 1:
        others = [a for a in range(len(arms)) if a != d["base"]]
        diff = heat[others] - heat[d["base"]]
        # seed noise: standard error of the paired per-seed difference, mean over pixels
        paired = z["heatmap"][others] - z["heatmap"][d["base"]][None]
        noise = float(np.nanmean(paired.std(axis=1, ddof=1)) / np.sqrt(S)) if S > 1 else None
        out.append(viz.plot_heatmaps(figs / "exp_c_heatmap_diff.png", diff, z["heat_freq"],
                                     [labels[a] for a in others],
                                     f"{tag}: heat map minus baseline (mean over {S} seeds)",
                                     diverging=True, label="error rate - baseline's",
                                     noise=noise))
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
    for f in summary.get("findings", []):
        log("  " + f["text"])
    if "takeaway" in summary:
        log("  TAKEAWAY: " + summary["takeaway"])
    for warning in summary["warnings"]:
        log(f"WARNING: {warning}")
