"""Experiment B's measurements from the recorded conv1 weights: radial
spectra, HFF, SSR (both flavours, both comparisons, docs/DEFINITIONS.md 3), intervals
over seeds (cut to each quantity's feasible range), paired tests against the
baseline, the findings on claims l2_lowpass and dropout_highfreq
(utils.verdicts), a tidy CSV of the per-seed arrays, and the figures drawn
from the saved arrays alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from utils import frequency as fq
from utils import runs, stats, tidy, verdicts as vd
from utils.tables import format_table, interval
from utils.visualization import exp_b as viz

ARRAYS = "exp_b_arrays.npz"
TIDY = "exp_b_tidy.csv"
# Feasible ranges, for intervals that stay inside them (utils.stats.mean_ci)
UNIT = (0.0, 1.0)              # accuracy, HFF
POSITIVE = (0.0, np.inf)       # ratios of squared norms
SSR_RANGE = (-np.inf, 1.0)     # SSR = 1 - after/before, after >= 0
DIFF_RANGE = (-1.0, 1.0)       # a difference of two fractions

FIGURE_CAPTIONS = {
    "exp_b_spectrum_evolution.png": "conv1's radial power profile (share of the layer's energy) "
                                    "per epoch and arm on one colour scale: a low-pass effect "
                                    "shows as the right-hand side darkening faster than the "
                                    "baseline's.",
    "exp_b_ssr_comparison.png": "Spectral suppression ratio at the last epoch: left against "
                                "initialisation (training alone moves it), right against the "
                                "baseline of the same seed (isolates the regulariser); bars "
                                "above 0 mean high frequencies suppressed.",
    "exp_b_hff.png": "High-frequency fraction of conv1 over epochs with the white-noise "
                     "reference (where Kaiming initialisation starts).",
    "exp_b_accuracy.png": "Test accuracy per epoch: what each regulariser costs or buys.",
    "exp_b_radial_profiles.png": "Radial profile at initialisation and at the end per arm "
                                 "(log scale).",
    "exp_b_input_gradient.png": "High-frequency fraction of the input-gradient spectrum "
                                "|F(d log p_y / dx)|^2 over a fixed set of test images, per "
                                "epoch: the primary statistic of the L2 and dropout claims "
                                "(what the whole network is sensitive to, not one layer).",
    "exp_b_kernels.png": "First-layer kernels at the end (seed 0), each scaled to its own "
                         "maximum: smoother kernels mean less high-frequency content.",
}


def _stack(results: dict, arms, seeds, key: str) -> np.ndarray:
    return np.stack([np.stack([np.stack([np.asarray(h[key]) for h in results[a.name, s]])
                               for s in seeds]) for a in arms])


def _stack_or_nan(results: dict, arms, seeds, key: str, shape=()) -> np.ndarray:
    """``_stack`` of a key that older histories (or ``input_grad_images = 0``) lack: NaN."""
    first = results[arms[0].name, seeds[0]]
    if all(key in h for a in arms for s in seeds for h in results[a.name, s]):
        return _stack(results, arms, seeds, key).astype(np.float64)
    return np.full((len(arms), len(seeds), len(first), *shape), np.nan)


def ci_text(d: dict, fmt: str = "+.3f") -> str:
    """``mean [lo, hi]`` (:func:`utils.tables.interval`), or the mean with
    "n = 1, no interval" when fewer than two seeds were finite (utils.stats
    leaves lo/hi NaN then)."""
    if not np.isfinite(d["mean"]):
        return "n/a"
    if not (np.isfinite(d["lo"]) and np.isfinite(d["hi"])):
        return f"{d['mean']:{fmt}} (n = {d['n']}, no interval)"
    return interval(d, fmt)


def findings_b(per_arm: dict, dataset_id: str, near_chance=()) -> list[dict]:
    """Findings on l2_lowpass and dropout_highfreq (utils.verdicts) from the
    per-arm entries: their ``l2``/``dropout`` say which claim an arm tests;
    ``input_gradient_hff_vs_baseline`` holds the primary per-seed statistic,
    ``ssr_vs_baseline_norm`` the secondary. Arms near chance accuracy (or
    all, when the baseline is) are undetermined: the spectra of a network
    that has not learned the task say nothing about the claim."""
    out = []
    for claim, members in vd.b_claim_arms(per_arm).items():
        arms = []
        for name, role in members:
            weak = ("baseline" if "baseline" in near_chance else
                    name if name in near_chance else None)
            e = per_arm[name]
            # without input gradients (input_grad_images = 0) the primary has 0 finite seeds
            # and is undetermined; the secondary is still tested
            reason = None if weak is None else f"{weak} ends near chance accuracy"
            arms.append({"arm": name, "arm_label": e["label"], "role": role,
                         "values": e["input_gradient_hff_vs_baseline"]["values"],
                         "bounds": DIFF_RANGE,
                         "secondary_values": e["ssr_vs_baseline_norm"]["values"],
                         "secondary_bounds": SSR_RANGE, "untestable_reason": reason})
        if arms:
            out += vd.claim_verdicts(claim, arms, dataset_id)
    return out


def analyse_and_save(cfg, data, arms, results: dict, run_dir: Path) -> dict:
    """Compute everything from the histories, save ``exp_b_arrays.npz`` and
    return the summary dict (without wall times)."""
    seeds = list(cfg.seeds)
    A, S = len(arms), len(seeds)
    W = _stack(results, arms, seeds, "conv1").astype(np.float64)          # (A,S,E+1,O,I,k,k)
    E1 = W.shape[2]
    P = data.image_shape[-1]
    cut = cfg.hff_cutoff
    acc = {k: _stack(results, arms, seeds, k) for k in ("test_acc", "test_loss", "train_acc",
                                                        "train_loss")}
    ssr_t = {f: np.full((A, S, E1), np.nan) for f in ("abs", "norm")}
    ssr_b = {f: np.full((A, S, E1), np.nan) for f in ("abs", "norm")}
    hff = np.empty((A, S, E1))
    norm_sq = np.empty((A, S, E1))
    residual = 0.0
    base = next((i for i, a in enumerate(arms) if a.name == "baseline"), None)
    for a in range(A):
        for s in range(S):
            r = fq.spectral_suppression_ratio(W[a, s, 0], W[a, s], cut, pad_to=P, comparison="time")
            ssr_t["abs"][a, s], ssr_t["norm"][a, s] = r.ssr_abs, r.ssr_norm
            hff[a, s], norm_sq[a, s] = r.hff_after, r.norm_sq_after
            residual = max(residual, float(np.nanmax(np.abs(r.identity_residual()))))
            if base is None or a == base:
                continue
            for e in range(E1):
                rb = fq.spectral_suppression_ratio(W[base, s, e], W[a, s, e], cut, pad_to=P,
                                                   comparison="vs_baseline")
                ssr_b["abs"][a, s, e], ssr_b["norm"][a, s, e] = rb.ssr_abs, rb.ssr_norm
                residual = max(residual, abs(rb.identity_residual()))
    # one arm at a time keeps the padded FFTs small (ResNet-18 runs have 51 epochs)
    energy = np.stack([fq.radial_power_spectrum(torch.from_numpy(W[a]), pad_to=P,
                                                dtype=torch.float64).energy.sum(dim=(-3, -2)).numpy()
                       for a in range(A)])                                # (A,S,E+1,R) per layer
    count, freq = fq.ring_counts(P), fq.ring_frequencies(P)
    profile = energy / count / energy.sum(-1, keepdims=True)             # share per bin of ring
    ig_hff = _stack_or_nan(results, arms, seeds, "ig_hff")                 # (A,S,E+1)
    ig_energy = _stack_or_nan(results, arms, seeds, "ig_energy", (freq.size,))
    ig_images = _stack_or_nan(results, arms, seeds, "ig_hff_images", (0,))
    extra = {}
    conv_keys = [k for k in results[arms[0].name, seeds[0]][0] if k.startswith("conv_spec/")]
    for k in conv_keys:
        extra["layer_" + k.split("/", 1)[1].replace(".", "_")] = _stack(results, arms, seeds, k)
    runs.save_npz(run_dir / ARRAYS, arms=np.array([a.name for a in arms]),
                  dataset_id=np.array(data.dataset_id),
                  arm_labels=np.array([a.label() for a in arms]), hff_cutoff=np.array(cut),
                  seeds=np.array(seeds), epochs=np.arange(E1), conv1=W.astype(np.float32),
                  ring_energy=energy, ring_count=count, ring_frequency=freq,
                  profile=profile, hff=hff, norm_sq=norm_sq, hff_white=fq.white_noise_hff(P, cut),
                  ssr_time_abs=ssr_t["abs"], ssr_time_norm=ssr_t["norm"],
                  ssr_base_abs=ssr_b["abs"], ssr_base_norm=ssr_b["norm"], ig_hff=ig_hff,
                  ig_energy=ig_energy, ig_hff_images=ig_images, **acc, **extra)

    tidy.write_tidy_csv(run_dir / TIDY, tidy.tidy_rows_b(run_dir / ARRAYS))  # per-seed, long form

    per_arm = {}
    for a, arm in enumerate(arms):
        entry = {"label": arm.label(), "l2": arm.l2, "dropout": arm.dropout,
                 "final_test_acc": stats.summarize(acc["test_acc"][a, :, -1], UNIT),
                 "hff_init": stats.summarize(hff[a, :, 0], UNIT),
                 "hff_final": stats.summarize(hff[a, :, -1], UNIT),
                 "input_gradient_hff_init": stats.summarize(ig_hff[a, :, 0], UNIT),
                 "input_gradient_hff_final": stats.summarize(ig_hff[a, :, -1], UNIT),
                 "norm_sq_ratio_final": stats.summarize(norm_sq[a, :, -1] / norm_sq[a, :, 0],
                                                        POSITIVE),
                 "ssr_time_norm": stats.summarize(ssr_t["norm"][a, :, -1], SSR_RANGE),
                 "ssr_time_abs": stats.summarize(ssr_t["abs"][a, :, -1], SSR_RANGE)}
        if base is not None and a != base:
            # already paired (same seed, same epoch): the null is 0, the test is on the values
            entry["ssr_vs_baseline_norm"] = stats.paired_summary(ssr_b["norm"][a, :, -1],
                                                                 bounds=SSR_RANGE)
            entry["ssr_vs_baseline_abs"] = stats.paired_summary(ssr_b["abs"][a, :, -1],
                                                                bounds=SSR_RANGE)
            entry["input_gradient_hff_vs_baseline"] = stats.paired_difference(
                ig_hff[a, :, -1], ig_hff[base, :, -1])
            entry["test_acc_vs_baseline"] = stats.paired_difference(acc["test_acc"][a, :, -1],
                                                                    acc["test_acc"][base, :, -1])
        per_arm[arm.name] = entry
    chance = 1.0 / data.num_classes
    near_chance = [n for n, e in per_arm.items() if e["final_test_acc"]["mean"] < chance + 0.05]
    findings = findings_b(per_arm, data.dataset_id, near_chance) if base is not None else []
    for f in findings:
        per_arm[f["arm"]].setdefault("verdicts", {})[f["claim"]] = f["verdict"]

    ci = ci_text
    rows = []
    for name, e in per_arm.items():
        rows.append([name, ci(e["final_test_acc"], ".3f"),
                     ci(e["input_gradient_hff_final"], ".3f"),
                     ci(e["input_gradient_hff_vs_baseline"])
                     if "input_gradient_hff_vs_baseline" in e else "-",
                     ci(e["hff_final"], ".3f"), ci(e["ssr_time_norm"]), ci(e["ssr_time_abs"]),
                     ci(e["ssr_vs_baseline_norm"]) if "ssr_vs_baseline_norm" in e else "-",
                     ci(e["ssr_vs_baseline_abs"]) if "ssr_vs_baseline_abs" in e else "-"])
    warnings = list(data.notes)
    if near_chance:
        warnings.append(f"arms {', '.join(near_chance)} end near chance accuracy "
                        f"({chance:.2f}): their spectra describe a network that has not learned "
                        f"the task, so their findings are undetermined (train longer)")
    if base is None:
        warnings.append("no baseline arm: no paired comparison, no findings")
    if not np.all(np.isfinite(acc["train_loss"][:, :, 1:])):
        warnings.append("some training losses are not finite")
    title_ds = f"dataset {data.dataset_id}"
    return {
        "experiment": "B",
        "dataset_id": data.dataset_id,
        "dataset_notes": list(data.notes),
        "dataset": {"name": cfg.dataset, "source": data.source, "n_train": int(data.train_x.shape[0]),
                    "n_test": int(data.test_x.shape[0]), "classes": list(data.classes),
                    "mean": list(data.mean), "std": list(data.std)},
        "model": cfg.model, "seeds": seeds, "epochs": cfg.epochs, "hff_cutoff": cut,
        "hff_white_noise": fq.white_noise_hff(P, cut), "pad_to": P,
        "input_grad_images": int(ig_images.shape[-1]),
        "identity_max_residual": residual,
        "arms": per_arm,
        "findings": findings,
        "takeaway": vd.takeaway("B", data.dataset_id, findings),
        "verdicts": [f["text"] for f in findings],
        "checkpoints": [{"arm": arm.name, "seed": s,
                         "path": f"checkpoints/{arm.name}_seed{s}.pt",
                         "final_test_acc": float(acc["test_acc"][a, j, -1])}
                        for a, arm in enumerate(arms) for j, s in enumerate(seeds)],
        "figures": [{"file": f"figures/{n}", "caption": c} for n, c in FIGURE_CAPTIONS.items()],
        "tables": [{"title": f"Experiment B ({title_ds}), last epoch, mean [95% interval, cut "
                             f"to the feasible range] over {S} seeds (finite ones); SSR > 0 = "
                             f"high frequencies suppressed (cut {cut:g} c/p)",
                    "columns": ["arm", "test acc", "input-gradient HFF",
                                "input-gradient HFF vs baseline", "conv1 HFF",
                                "SSR norm vs init", "SSR abs vs init",
                                "SSR norm vs baseline", "SSR abs vs baseline"],
                    "rows": rows},
                   *([vd.findings_table(findings, "B")] if findings else [])],
        "warnings": warnings,
    }


def render_figures(run_dir: Path, cfg=None) -> list[Path]:
    """Draw every figure of Experiment B from ``exp_b_arrays.npz`` alone."""
    run_dir = Path(run_dir)
    z = np.load(run_dir / ARRAYS)
    # The arrays name their dataset (the first drawing happens before
    # summary.json exists); folders written before they did: the summary's.
    summary_path = run_dir / "summary.json"
    ds = (str(z["dataset_id"]) if "dataset_id" in z.files else
          runs.read_json(summary_path)["dataset_id"] if summary_path.exists() else None)
    # The HFF cut the run measured with, never an assumed 0.25: the arrays'
    # own record if they carry one, else the config the run was made with
    # (given, or its config.json), else the summary.
    config_path = run_dir / "config.json"
    if "hff_cutoff" in z.files:
        cut, source = float(z["hff_cutoff"]), ARRAYS
    elif cfg is not None:
        cut, source = float(cfg.hff_cutoff), "the config passed in"
    elif config_path.exists() and "hff_cutoff" in (
            saved := runs.read_json(config_path).get("experiments", {}).get("b", {})):
        cut, source = float(saved["hff_cutoff"]), str(config_path)
    elif summary_path.exists() and "hff_cutoff" in (saved := runs.read_json(summary_path)):
        cut, source = float(saved["hff_cutoff"]), str(summary_path)
    else:
        raise ValueError(f"{run_dir}: no hff_cutoff in {ARRAYS}, config.json or summary.json; "
                         "cannot label the HFF figures")
    # The white-noise reference was computed at the run's cut: a cut from a
    # stale config that disagrees with it would mislabel every HFF figure.
    P = int(round(float(np.sqrt(z["ring_count"].sum()))))
    if abs(fq.white_noise_hff(P, cut) - float(z["hff_white"])) > 1e-9:
        raise ValueError(f"hff_cutoff: {cut:g} c/p from {source} gives a white-noise HFF of "
                         f"{fq.white_noise_hff(P, cut):.4f} on {P}x{P}, but {ARRAYS} recorded "
                         f"{float(z['hff_white']):.4f}; the run used another cut")
    labels = [str(x) for x in z["arm_labels"]]
    names = [str(x) for x in z["arms"]]
    S = z["seeds"].size
    epochs = z["epochs"]
    figs = run_dir / "figures"
    tag = f" ({ds})" if ds else ""
    out = []
    prof = z["profile"].mean(axis=1)
    out.append(viz.plot_spectrum_evolution(figs / "exp_b_spectrum_evolution.png",
                                           z["ring_frequency"], epochs, prof, labels,
                                           f"Experiment B{tag}: conv1 radial power spectrum, "
                                           f"mean over {S} seeds", cutoff=cut))
    panels = {}
    for title, key in (("vs initialisation (time)", "time"),
                       ("vs baseline (same seed, same epoch)", "base")):
        panels[title] = {}
        for flav, short in (("normalized (HFF)", "norm"), ("absolute (energy)", "abs")):
            vals = z[f"ssr_{key}_{short}"][:, :, -1]
            m, lo, hi = stats.mean_ci(vals, axis=1)
            panels[title][flav] = {"mean": m, "lo": lo, "hi": hi, "values": vals}
    out.append(viz.plot_ssr_comparison(figs / "exp_b_ssr_comparison.png", names, panels,
                                       f"Experiment B{tag}: spectral suppression ratio of "
                                       f"conv1, last epoch"))
    m, lo, hi = stats.mean_ci(z["hff"], axis=1)
    out.append(viz.plot_arm_curves(figs / "exp_b_hff.png", epochs, m, lo, hi, labels,
                                   xlabel="epoch (0 = initialisation)",
                                   ylabel=f"HFF of conv1 (power above {cut:g} c/p)",
                                   title=f"Experiment B{tag}: high-frequency fraction, "
                                         f"mean and 95% interval over {S} seeds",
                                   reference=float(z["hff_white"]),
                                   reference_label="white noise (Kaiming init)", integer_x=True))
    if "ig_hff" in z.files and np.isfinite(z["ig_hff"]).any():
        m, lo, hi = stats.mean_ci(z["ig_hff"], axis=1, bounds=UNIT)
        n_img = z["ig_hff_images"].shape[-1]
        out.append(viz.plot_arm_curves(figs / "exp_b_input_gradient.png", epochs, m, lo, hi,
                                       labels, xlabel="epoch (0 = initialisation)",
                                       ylabel=f"input-gradient HFF (power above {cut:g} c/p)",
                                       title=f"Experiment B{tag}: HFF of d log p_y / dx over "
                                             f"{n_img} test images, mean and 95% interval "
                                             f"over {S} seeds",
                                       reference=float(z["hff_white"]),
                                       reference_label="white noise", integer_x=True))
    m, lo, hi = stats.mean_ci(z["test_acc"], axis=1)
    out.append(viz.plot_arm_curves(figs / "exp_b_accuracy.png", epochs, m, lo, hi, labels,
                                   xlabel="epoch (0 = initialisation)", ylabel="test accuracy",
                                   title=f"Experiment B{tag}: test accuracy, mean and 95% "
                                         f"interval over {S} seeds", ylim=(0, 1),
                                   integer_x=True))
    fm, flo, fhi = stats.mean_ci(z["profile"][:, :, -1], axis=1)
    out.append(viz.plot_radial_profiles(figs / "exp_b_radial_profiles.png", z["ring_frequency"],
                                        z["profile"][:, :, 0].mean(axis=(0, 1)), fm, flo, fhi,
                                        labels, f"Experiment B{tag}: conv1 radial profile"))
    out.append(viz.plot_kernels(figs / "exp_b_kernels.png", z["conv1"][:, 0, -1], names,
                                f"Experiment B{tag}: conv1 kernels after the last epoch, "
                                f"seed {int(z['seeds'][0])}"))
    return out


def print_summary(summary: dict, log=print) -> None:
    log("\n" + format_table(summary["tables"][0]))
    for v in summary["verdicts"]:
        log("  " + v)
    log("  TAKEAWAY: " + summary["takeaway"])
    log(f"  (identity 1-SSR_abs = ||W_a||^2/||W_b||^2 (1-SSR_norm): max residual "
        f"{summary['identity_max_residual']:.1e})")
    for w in summary["warnings"]:
        log(f"WARNING: {w}")
