"""Experiment A's analysis: per-frequency metrics, learning times, tables,
figures, and the optional modes' analyses (docs/DEFINITIONS.md section 1).

Everything here works from saved predictions and arrays: a run calls it once
its jobs are done, ``--report`` calls :func:`render_figures` on a finished
folder. Imports point down: :mod:`experiments.exp_a_core` and the modes'
analyses (:mod:`~experiments.exp_a_theory`, :mod:`~experiments.exp_a_noise`,
:mod:`~experiments.exp_a_heldout`), never the runner.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from experiments import dose
from experiments import exp_a_core as core
from experiments import exp_a_heldout, exp_a_noise, exp_a_theory
from experiments import exp_a_modes as modes
from experiments.exp_a_core import Config
from utils import frequency as fq
from utils import runs, stats
from utils import verdicts as vd
from utils.regimen import Regimen
from utils.visualization import exp_a as viz

# Figure -> one sentence on what to look for (used by the HTML report).
FIGURE_CAPTIONS = {
    "exp_a_fitting.gif": "The fit over training (seed 0), one cell per arm: above, target and "
                         "network over x; below, |H_k| against |Y_k|. Low frequencies appear "
                         "first.",
    "exp_a_frequency_curves.png": "Relative error per target frequency against step: the "
                                  "order in which the curves cross eps is the order of learning.",
    "exp_a_gain_curves.png": "Gain per frequency: a plateau below 1 means the regulariser "
                             "shrinks that component rather than only delaying it.",
    "exp_a_spectrum_heatmap.png": "Residual at every frequency up to k=64 against step: "
                                  "target rows darken as they are learned; spurious "
                                  "frequencies show as bright rows off the targets.",
}
# Stable figure names kept from the seed project (copied to results/figures/).
STABLE_FIGURES = ("exp_a_fitting.gif", "exp_a_frequency_curves.png")


def analyse(cfg: Config, arms: list[Regimen], steps: np.ndarray, preds: np.ndarray) -> dict:
    """Per-frequency metrics from saved predictions ``(A, S, C, N)``."""
    n_arms, n_seeds = preds.shape[:2]
    freqs = np.asarray(cfg.freqs)
    Y = np.stack([fq.dft_coefficients(core.target(cfg, s).y, freqs) for s in cfg.seeds])  # (S, K)
    H = fq.dft_coefficients(preds, freqs)                                             # (A,S,C,K)
    delta = fq.relative_error(H, Y[None, :, None, :])
    gain = fq.spectral_gain(H, Y[None, :, None, :])
    Yall = np.stack([fq.dft_coefficients(core.target(cfg, s).y) for s in cfg.seeds])
    Hall = fq.dft_coefficients(preds)
    kmax = cfg.spectrum_kmax
    residual = np.abs(Hall - Yall[None, :, None, :])[..., : kmax + 1] * 2 / cfg.n_points
    ls = fq.learning_states(np.moveaxis(delta, -2, -1), steps, cfg.eps, cfg.window_checkpoints,
                            cfg.window_fraction)                                     # (A,S,K)
    return {"delta": delta, "gain": gain, "residual": residual, "t": ls.t,
            "learned": ls.state == fq.LearningState.LEARNED, "state": ls.state,
            "below_since": ls.below_since,
            "pred_amp": np.abs(Hall)[..., : kmax + 1] * 2 / cfg.n_points,
            "target_amp": np.abs(Yall)[0, : kmax + 1] * 2 / cfg.n_points}


# Per-seed state names in summary.json, and the per-seed token in the table:
# a learning time, "<since>?" (below eps from <since> to T, window not
# complete) or "-" (not below eps at T).
STATE_NAMES = {fq.LearningState.LEARNED: "learned", fq.LearningState.UNCONFIRMED: "unconfirmed",
               fq.LearningState.NOT_LEARNED: "not learned"}


def _seed_token(state: int, t: float, since: float) -> str:
    if state == fq.LearningState.LEARNED:
        return f"{t:.0f}"
    return f"{since:.0f}?" if state == fq.LearningState.UNCONFIRMED else "-"


def _median_state(med: float, states: np.ndarray) -> str:
    """The state of the median seed: ``"learned"`` when the median t_k is a
    time, else that of the middle seed(s) with states ranked learned <
    unconfirmed < not learned, as times are (``"unconfirmed"`` when no middle
    seed is not learned)."""
    if np.isfinite(med):
        return STATE_NAMES[fq.LearningState.LEARNED]
    rank = {fq.LearningState.LEARNED: 0, fq.LearningState.UNCONFIRMED: 1,
            fq.LearningState.NOT_LEARNED: 2}
    ordered = sorted((int(x) for x in states), key=rank.__getitem__)
    middle = ordered[(len(ordered) - 1) // 2:len(ordered) // 2 + 1]
    if all(x != fq.LearningState.NOT_LEARNED for x in middle):
        return STATE_NAMES[fq.LearningState.UNCONFIRMED]
    return STATE_NAMES[fq.LearningState.NOT_LEARNED]


def _median_text(med: float, states: np.ndarray, T: int) -> str:
    """The median t_k, or the state of the median seed when that seed has no
    t_k (:func:`_median_state`)."""
    state = _median_state(med, states)
    if state == "learned":
        return f"{med:.0f}"
    if state == "unconfirmed":
        return f"below eps at T={T}, not confirmed"
    return f"not learned by T={T}"


def _states_text(states: np.ndarray) -> str:
    counts = [(int((states == code).sum()), name) for code, name in STATE_NAMES.items()]
    return ", ".join(f"{c} {name}" for c, name in counts if c)


def summarise(cfg: Config, arms: list[Regimen], m: dict
              ) -> tuple[dict, list[dict], list[dict], list[str]]:
    """Per-arm summary, the learning-time table's rows for display (report,
    console), its rows for machines (``learning_times.csv``: :data:`TABLE_COLUMNS`,
    numbers or None) and warnings."""
    freqs = list(cfg.freqs)
    rows, records, per_arm, warnings = [], [], {}, []
    base = next((i for i, a in enumerate(arms) if a.name == "baseline"), None)
    for a, arm in enumerate(arms):
        # the rank correlation is shown with its n (learned points) and withheld
        # below 3 of them: censored times are one tie block that orders nothing
        rho = fq.spectral_bias_order(freqs, m["t"][a], m["learned"][a], cfg.steps)
        n_pts = fq.learned_points(m["learned"][a])
        of = f"of {m['learned'][a].size}"
        arm_sum = {"label": arm.label(), "l2": arm.l2, "dropout": arm.dropout,
                   "spearman_k_vs_t": float(rho) if np.isfinite(rho) else None,
                   "spearman_n_learned": n_pts,
                   "spearman_text": (f"{rho:+.2f} (n = {n_pts} learned {of})" if np.isfinite(rho)
                                     else f"n/a (n = {n_pts} learned {of} < 3)" if n_pts < 3
                                     else f"n/a (n = {n_pts} learned {of}; no variation)"),
                   "frequencies": {}}
        for j, k in enumerate(freqs):
            t, lr_ = m["t"][a, :, j], m["learned"][a, :, j]
            state, since = m["state"][a, :, j], m["below_since"][a, :, j]
            med = core.median_censored(t, lr_)
            # Delta_k >= 0: its interval is cut at 0 (utils.stats.mean_ci). The
            # gain Re(H_k / Y_k) has no feasible bound (overshoot gives > 1, a
            # phase flip < 0), so it keeps the plain t-interval.
            fd = stats.summarize(m["delta"][a, :, -1, j], bounds=(0.0, np.inf))
            fg = stats.summarize(m["gain"][a, :, -1, j])
            entry = {"t_per_seed": [None if not l else float(v) for v, l in zip(t, lr_)],
                     "state_per_seed": [STATE_NAMES[int(x)] for x in state],
                     # below eps from this step to T (unconfirmed seeds only): a bound, not t_k
                     "below_since_per_seed": [float(v) if np.isfinite(v) else None for v in since],
                     "final_delta_per_seed": [float(v) for v in m["delta"][a, :, -1, j]],
                     "final_gain_per_seed": [float(v) for v in m["gain"][a, :, -1, j]],
                     "n_learned": int(lr_.sum()),
                     "n_unconfirmed": int((state == fq.LearningState.UNCONFIRMED).sum()),
                     "n_not_learned": int((state == fq.LearningState.NOT_LEARNED).sum()),
                     "t_median": med, "final_delta": fd, "final_gain": fg}
            if base is not None and a != base:
                tb, lb = m["t"][base, :, j], m["learned"][base, :, j]
                both = lr_ & lb
                entry["delay_vs_baseline"] = [float(x) if ok else None
                                              for x, ok in zip(t - tb, both)]
                # censoring-aware: a censored time bounds the delay (docs/DEFINITIONS.md 1)
                dlo, dhi = delay_bounds(cfg, m, a, base, j)
                mlo, mhi = core.median_bounds(dlo, dhi)
                entry["delay_median_vs_baseline"] = {"lo": _finite_or_none(mlo),
                                                     "hi": _finite_or_none(mhi),
                                                     "text": core.median_text(mlo, mhi)}
                gb = m["gain"][base, :, -1, j]
                entry["final_gain_ratio_vs_baseline"] = stats.summarize(m["gain"][a, :, -1, j] / gb)
            arm_sum["frequencies"][str(k)] = entry
            records.append({"arm": arm.name, "k": k,
                            "t_median": int(round(med)) if np.isfinite(med) else None,
                            "t_median_state": _median_state(med, state),
                            "n_seeds": int(lr_.size), "n_learned": entry["n_learned"],
                            "n_unconfirmed": entry["n_unconfirmed"],
                            "n_not_learned": entry["n_not_learned"],
                            **{f"final_{name}{suffix}": s_[key]
                               for name, s_ in (("delta", fd), ("gain", fg))
                               for suffix, key in (("", "mean"), ("_lo", "lo"), ("_hi", "hi"))}})
            rows.append({"arm": arm.name, "k": k,
                         "t_median": _median_text(med, state, cfg.steps),
                         "n_learned": f"{int(lr_.sum())}/{lr_.size}",
                         "states": _states_text(state),
                         "t_per_seed": " ".join(_seed_token(int(x), v, b)
                                                for x, v, b in zip(state, t, since)),
                         "final_delta": (f"{fd['mean']:.3f} [{fd['lo']:.3f}, {fd['hi']:.3f}]"
                                         if fd["n"] >= 2 else f"{fd['mean']:.3f} (n = {fd['n']})"),
                         "final_gain": (f"{fg['mean']:.3f} [{fg['lo']:.3f}, {fg['hi']:.3f}]"
                                        if fg["n"] >= 2 else f"{fg['mean']:.3f} (n = {fg['n']})")})
        per_arm[arm.name] = arm_sum
    if base is not None:
        for j, k in enumerate(freqs):
            state = m["state"][base, :, j]
            n_not = int((state == fq.LearningState.NOT_LEARNED).sum())
            n_unc = int((state == fq.LearningState.UNCONFIRMED).sum())
            if n_not:
                final = ", ".join(f"Delta {d:.3f}, gain {g:.3f}" for d, g, x in
                                  zip(m["delta"][base, :, -1, j], m["gain"][base, :, -1, j], state)
                                  if x == fq.LearningState.NOT_LEARNED)
                warnings.append(f"baseline did not learn k={k} in {n_not}/{len(cfg.seeds)} seeds "
                                f"by T={cfg.steps} steps (final {final}): learning times of the "
                                f"other arms at k={k} cannot separate 'slower' from 'too few "
                                f"steps'; raise --epochs")
            if n_unc:
                warnings.append(f"baseline's k={k} is below eps at T={cfg.steps} but not confirmed "
                                f"in {n_unc}/{len(cfg.seeds)} seeds (it crossed within the last "
                                f"window): its learning time is unknown, not T; raise --epochs")
    return per_arm, rows, records, warnings


# learning_times.csv, one row per arm and target frequency (docs/EXPERIMENTS.md):
# t_median the median t_k over seeds in steps (rounded to a step; empty when
# the median seed has no t_k, t_median_state then says why), the seeds' state
# counts, final Delta_k and gain with their 95% intervals. Per-seed times are
# in exp_a_tidy.csv (t_learn, below_since, learned).
TABLE_COLUMNS = ("arm", "k", "t_median", "t_median_state", "n_seeds", "n_learned",
                 "n_unconfirmed", "n_not_learned", "final_delta", "final_delta_lo",
                 "final_delta_hi", "final_gain", "final_gain_lo", "final_gain_hi")


def _csv_cell(v) -> str:
    """A number as Python reads it back, an empty cell for None or a
    non-finite interval end (one seed has none)."""
    if v is None or isinstance(v, float) and not np.isfinite(v):
        return ""
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def write_table(path: Path, records: list[dict]) -> Path:
    """``records`` (:func:`summarise`'s rows for machines) as a CSV with
    :data:`TABLE_COLUMNS`, through :mod:`csv` (it quotes what needs it)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TABLE_COLUMNS)
    for r in records:
        w.writerow([_csv_cell(r[c]) for c in TABLE_COLUMNS])
    return runs.write_text(path, buf.getvalue())


def pick_frames(n_ckpts: int, n_frames: int) -> np.ndarray:
    """Indices of at most ``n_frames`` checkpoints, evenly spread (the
    checkpoints are log-spaced early and linear late, so the frames are too)."""
    if n_ckpts <= n_frames:
        return np.arange(n_ckpts)
    return np.unique(np.round(np.linspace(0, n_ckpts - 1, n_frames)).astype(int))


def render_figures(run_dir: Path, cfg: Config | None = None) -> list[Path]:
    """Draw every figure of a finished run from its saved arrays alone
    (``exp_a_arrays.npz``, ``exp_a_gif.npz``, ``config.json``, and the modes'
    ``.npz`` files: :func:`render_mode_figures`)."""
    run_dir = Path(run_dir)
    if cfg is None:
        cfg = core.config_from_run(run_dir)
    arr = np.load(run_dir / "exp_a_arrays.npz")
    gif = np.load(run_dir / "exp_a_gif.npz")
    arms = core.build_arms(cfg)
    labels = [a.label() for a in arms]
    steps, n_seeds = arr["steps"], len(cfg.seeds)
    figs = run_dir / "figures"
    title = (f"Experiment A: MLP {cfg.depth}x{cfg.width} {cfg.activation} fits "
             + " + ".join(f"sin({k}x)" for k in cfg.freqs))
    return [
        viz.plot_frequency_curves(figs / "exp_a_frequency_curves.png", steps, arr["delta_mean"],
                                  arr["delta_lo"], arr["delta_hi"], cfg.freqs, labels, cfg.eps,
                                  n_seeds, title + "\nper-frequency relative error "
                                  "(eval mode, full grid)"),
        viz.plot_frequency_curves(figs / "exp_a_gain_curves.png", steps, arr["gain_mean"],
                                  arr["gain_lo"], arr["gain_hi"], cfg.freqs, labels, None, n_seeds,
                                  title + "\ngain Re(H_k/Y_k): below 1 = component shrunk",
                                  ylabel=r"gain $g_k$", reference=1.0),
        viz.plot_spectrum_heatmaps(figs / "exp_a_spectrum_heatmap.png", steps,
                                   arr["residual"].mean(axis=1), cfg.freqs, labels,
                                   title + f"\nresidual spectrum, mean over {n_seeds} seeds"),
        viz.make_fit_gif(figs / "exp_a_fitting.gif", arr["x"], arr["y"],
                         arr["preds"][:, 0][:, gif["frames"]], steps[gif["frames"]],
                         gif["target_amp"], gif["pred_amp"], cfg.freqs, labels,
                         f"Experiment A, seed {cfg.seeds[0]}", duration_ms=cfg.gif_frame_ms),
    ] + render_mode_figures(cfg, run_dir)


def render_dose(run_dir: Path) -> list[Path]:
    """The dose-response figures of a sweep (none without one)."""
    return dose.render_a(run_dir)


# --------------------------------------------------------------------------
# After the run
# --------------------------------------------------------------------------

def attach(cfg, arms, run_dir, steps, preds, m, summary: dict, log=print) -> dict:
    """Run the analyses of the active modes, write their files,
    and add their tables, figures and a ``modes`` entry to ``summary`` (in
    place; also returned). Nothing happens in the default configuration."""
    parts = []
    if modes.theory_on(cfg):
        parts.append(exp_a_theory.analyse_and_save(cfg, arms, run_dir, steps, preds, m, log))
    if modes.noise_on(cfg):
        parts.append(exp_a_noise.analyse_and_save(cfg, arms, run_dir, steps, preds, m, log))
    if cfg.train_points != "all":
        parts.append(exp_a_heldout.analyse_and_save(cfg, arms, run_dir, steps, preds, m, log))
    if not parts and cfg.optimizer == "adam":
        return summary
    summary["modes"] = {"optimizer": cfg.optimizer, "theory": modes.theory_on(cfg),
                        "noise_freqs": list(cfg.noise_freqs),
                        "noise_amplitudes": list(modes.noise_amplitudes(cfg)),
                        "white_noise": cfg.white_noise, "train_points": cfg.train_points}
    for p in parts:
        summary["tables"] += p["tables"]
        summary["figures"] += p["figures"]
        summary["modes"].update(p.get("summary", {}))
        summary.setdefault("warnings", []).extend(p.get("warnings", []))
    return summary


def render_mode_figures(cfg, run_dir) -> list:
    """Draw the figures of the active modes from their saved ``.npz`` files
    (and ``exp_a_arrays.npz``); ``[]`` in the default configuration. Called by
    :func:`render_figures`, so ``--report RUN_DIR``
    redraws them too."""
    paths = []
    if modes.theory_on(cfg):
        paths += exp_a_theory.render_figures(cfg, run_dir)
    if modes.noise_on(cfg):
        paths += exp_a_noise.render_figures(cfg, run_dir)
    if cfg.train_points != "all":
        paths += exp_a_heldout.render_figures(cfg, run_dir)
    return paths


def tables_from_run(cfg, run_dir) -> list[dict]:
    """The active modes' summary tables (theory, label noise, held-out, in
    :func:`attach`'s order), recomputed from the run folder's saved ``.npz``
    files alone: the same tables the run put in ``summary.json``."""
    run_dir = Path(run_dir)
    arms = core.build_arms(cfg)
    arr = np.load(run_dir / "exp_a_arrays.npz")
    m = {"t": arr["t_learn"], "learned": arr["learned"], "delta": arr["delta"],
         "gain": arr["gain"]}
    out, th = [], None
    if modes.theory_on(cfg):
        th = dict(np.load(run_dir / exp_a_theory.FILE))
        out.append(exp_a_theory.table(cfg, arms, m, th))
    if modes.noise_on(cfg):
        nz = dict(np.load(run_dir / exp_a_noise.FILE))
        predicted = th["pred_noise_delta"] if th is not None and cfg.noise_freqs else None
        out.append(exp_a_noise.table(cfg, arms, m, nz, predicted))
    if cfg.train_points != "all":
        out.append(exp_a_heldout.table(cfg, arms, dict(np.load(run_dir / exp_a_heldout.FILE))))
    return out


# --------------------------------------------------------------------------
# Verdicts: A's evidence on the claims (docs/DEFINITIONS.md section 1)
# --------------------------------------------------------------------------

# Per claim the sign of the effect that supports it, per statistic: a
# low-pass shrinks the final gain (g_arm - g_base < 0) and delays learning
# (t_arm - t_base > 0); "introduces high-frequency content" the opposite.
A_DIRECTIONS = {"l2_lowpass": {"gain": -1, "delay": +1},
                "dropout_highfreq": {"gain": +1, "delay": -1}}
A_FIGURES = {"gain": "figures/exp_a_gain_curves.png", "delay": "figures/exp_a_frequency_curves.png"}
# Smallest effect of interest on A's final gain g_k (target amplitude 1):
# a change of 0.05 is 5% of the frequency's amplitude kept or lost at the end
# of training, about the gain step between t_k's threshold (Delta_k < 0.1)
# and a fully learned frequency (docs/DEFINITIONS.md 10.1).
SESOI_GAIN = 0.05
SIGN_TEST = "exact sign test, two-sided, on seeds whose ordering is known (censoring-aware)"


def delay_bounds(cfg: Config, m: dict, a: int, base: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed bounds of arm ``a``'s delay of t_k (frequency index ``j``)
    against the baseline of the same seed (:func:`core.paired_delay_bounds`)."""
    def bounds(i):
        return core.time_bounds(m["t"][i, :, j], m["state"][i, :, j], m["below_since"][i, :, j],
                                cfg.steps)
    return core.paired_delay_bounds(bounds(a), bounds(base))


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def findings_a(cfg: Config, arms: list[Regimen], m: dict, per_arm: dict) -> list[dict]:
    """Findings on ``l2_lowpass`` and ``dropout_highfreq`` from experiment A,
    in :func:`utils.verdicts.finding`'s record format, experiment ``"A"``.

    Per arm that tests a claim (:func:`utils.verdicts.b_claim_arms`: L2 alone
    or dropout alone primary, both together extra evidence) and per target
    frequency, two paired statistics against the baseline of the same seed:
    the final gain difference ``g_arm - g_base`` (paired t-test) and the
    delay of t_k (censoring-aware: a censored time is a bound, the median is
    reported as its bounds, ``>= N`` when censored seeds decide it; exact
    sign test on the seeds whose ordering is known). Holm over every tested
    row of the claim; TOST at :data:`SESOI_GAIN` on the gain rows makes
    "absent" possible there (a censored delay has no interval: its rows are
    supported, contradicted or undetermined). Fewer than ``MIN_SEEDS``
    usable seeds: undetermined."""
    base = next((i for i, a in enumerate(arms) if a.name == "baseline"), None)
    if base is None:
        return []
    index = {a.name: i for i, a in enumerate(arms)}
    dataset = (f"synthetic 1D target sin(kx), k = {', '.join(map(str, cfg.freqs))}, "
               f"N = {cfg.n_points}")
    out = []
    for claim, members in vd.b_claim_arms(per_arm).items():
        rows = []
        for name, role in members:
            a = index[name]
            for j, k in enumerate(cfg.freqs):
                diff = m["gain"][a, :, -1, j] - m["gain"][base, :, -1, j]
                s = stats.paired_summary(diff)
                rows.append(dict(kind="gain", arm=name, role=role, k=k, n=s["n"], p=s["p"],
                                 sign=s["mean"], estimate=s["mean"], lo=s["lo"], hi=s["hi"],
                                 values=[_finite_or_none(v) for v in diff],
                                 statistic=f"final gain g_{k} minus the baseline's (same seed)",
                                 method_test=stats.PAIRED_TEST, shown=None))
                lo, hi = delay_bounds(cfg, m, a, base, j)
                pos, neg, p = core.sign_test_censored(lo, hi)
                mlo, mhi = core.median_bounds(lo, hi)
                est = mlo if np.isfinite(mlo) else mhi
                rows.append(dict(kind="delay", arm=name, role=role, k=k, n=pos + neg,
                                 p=p if pos + neg else float("nan"), sign=pos - neg,
                                 estimate=est, lo=mlo, hi=mhi,
                                 values=[_finite_or_none(x) if x == y else None
                                         for x, y in zip(lo, hi)],
                                 statistic=f"delay of t_{k} vs the baseline (steps, median over "
                                           "seeds, censoring-aware)",
                                 method_test=SIGN_TEST, shown=core.median_text(mlo, mhi),
                                 per_seed=" ".join(core.median_text(x, y) for x, y in zip(lo, hi))))
        tested = [i for i, r in enumerate(rows) if r["n"] >= vd.MIN_SEEDS and np.isfinite(r["p"])]
        adj, adj_t = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        if tested:
            adj[tested] = stats.holm([rows[i]["p"] for i in tested])
            # equivalence is tested on the gain rows only: a censored delay has
            # no interval to hold inside a margin (its rows stay undetermined)
            gains = [i for i in tested if rows[i]["kind"] == "gain"]
            if gains:
                adj_t[gains] = stats.holm([stats.tost_p(np.array(rows[i]["values"], dtype=float),
                                                        SESOI_GAIN) for i in gains])
        m_tested = max(len(tested), 1)
        family = (f"experiment A, {claim}: arms {', '.join(n for n, _ in members)} x k = "
                  f"{', '.join(map(str, cfg.freqs))} x (final gain, delay of t_k)")
        method = (f"Holm over {len(tested)} tests; per test its own (see statistic); TOST at "
                  f"+-{SESOI_GAIN:g} on the gain rows")
        c = vd.CLAIMS[claim]
        for i, r in enumerate(rows):
            p_adj, p_tost = _finite_or_none(adj[i]), _finite_or_none(adj_t[i])
            direction = A_DIRECTIONS[claim][r["kind"]]
            v = ("undetermined" if p_adj is None else
                 vd.verdict(float(r["sign"]), p_adj, r["n"], direction, p_tost))
            mde = power = needed = None
            if r["kind"] == "gain" and p_adj is not None and v in ("undetermined", "absent"):
                sd = float(np.nanstd(np.array(r["values"], dtype=float), ddof=1))
                if sd > 0:
                    mde = stats.minimal_detectable_effect(r["n"], sd, vd.ALPHA / m_tested, vd.POWER)
                    power = stats.paired_power(r["n"], SESOI_GAIN, sd, vd.ALPHA / m_tested)
                    needed = stats.seeds_for_effect(SESOI_GAIN, sd, vd.ALPHA / m_tested, vd.POWER)
            est = r["shown"] if r["shown"] is not None else vd._fmt(r["estimate"])
            extra = f"; per seed {r['per_seed']}" if r["kind"] == "delay" else ""
            why = ("" if p_adj is not None else
                   f"; not tested ({r['n']} usable seeds, at least {vd.MIN_SEEDS} needed)")
            text = (f"{r['arm']}: {v} -- {c.text} (experiment A, k = {r['k']}): {r['statistic']} "
                    f"{est}{extra}, n = {r['n']}"
                    + (f", Holm-adjusted p = {p_adj:.3g} ({r['method_test']})" if p_adj is not None
                       else why)
                    + (f", TOST p = {p_tost:.3g} at +-{SESOI_GAIN:g}" if p_tost is not None else "")
                    + (f"; MDE {mde:.3g}, power {power:.2f} at +-{SESOI_GAIN:g}"
                       f"{vd.seeds_needed(needed)}" if mde is not None else "") + ".")
            out.append({"claim": claim, "claim_text": c.text, "arm": r["arm"],
                        "arm_label": per_arm[r["arm"]]["label"], "verdict": v,
                        "statistic": r["statistic"],
                        "estimate": _finite_or_none(r["estimate"]),
                        "lo": _finite_or_none(r["lo"]), "hi": _finite_or_none(r["hi"]),
                        "n": int(r["n"]), "values": r["values"], "p_adjusted": p_adj,
                        "p_tost_adjusted": p_tost,
                        "sesoi": SESOI_GAIN if r["kind"] == "gain" else None,
                        "mde": mde, "power_at_sesoi": power, "seeds_for_sesoi": needed,
                        "secondary": None, "agreement": None,
                        "family": family, "method": f"{method}; {r['method_test']}",
                        "experiment": "A", "dataset_id": dataset, "figure": A_FIGURES[r["kind"]],
                        "role": r["role"], "text": text})
    return out
