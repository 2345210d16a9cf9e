"""Experiment A's runner: which frequency is learned when, with and without
L2 and dropout (docs/DEFINITIONS.md section 1).

The experiment's entry points (``experiments/__init__.py``'s contract):
``Config``, ``validate`` and ``config_from_run`` from the core
(:mod:`experiments.exp_a_core`), ``render_figures`` and ``render_dose`` from
the analysis (:mod:`experiments.exp_a_analysis`), and :func:`run`, which
trains the jobs (stacks of them, :func:`experiments.exp_a_core.stacks`)
through the launcher and hands the predictions to the analysis. Nothing in
experiment A imports this module.

Measured on a 2-core AMD EPYC CPU (float32, torch 2.14.1): see README
"Experiment A" for the default run's wall time and learning times.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from experiments import dose
from experiments import exp_a_analysis as analysis
from experiments import exp_a_core as core
from experiments.exp_a_analysis import STABLE_FIGURES, render_dose, render_figures  # noqa: F401
from experiments.exp_a_core import Config, config_from_run, validate  # noqa: F401
from utils import runs, stats, tidy, verdicts
from utils.executor import Job, Launch, run_jobs
from utils.jobs import JobStore
from utils.regimen import Regimen, sweep_axis
from utils.tables import format_table

NAME = "exp_a"


def _headline(job, result: dict) -> str:
    loss = np.asarray(result["loss"])[:, -1]
    return f"{loss.size} job(s), train MSE " + ", ".join(f"{x:.2e}" for x in loss)


def _run_jobs(cfg: Config, arms: list[Regimen], log=print, store: JobStore | None = None,
              launch: Launch | None = None, run_dir: Path | None = None) -> dict:
    """Every (arm, seed) job, in the stacks of :func:`experiments.exp_a_core.stacks`,
    through the launcher (utils.executor): one launcher job per stack, saved in
    ``store`` as soon as it finishes and loaded instead of trained on resume.
    Returns ``{(arm index, seed index): {"preds", "loss", "seconds"}}``."""
    launch = launch or Launch(workers=1)  # from Python: this process (main.py: the pool)
    groups = core.stacks(cfg, arms)
    names = [f"stack{i}_" + "-".join(f"seed{cfg.seeds[s]}" for s in dict.fromkeys(
        s for _, s in g)) for i, g in enumerate(groups)]
    jobs = [Job(name, core.train_stack,
                (cfg, [(arms[a], cfg.seeds[s]) for a, s in g], name),
                core.stack_key(cfg, arms, g)) for name, g in zip(names, groups)]
    done = run_jobs(jobs, launch, device=cfg.device, store=store, label="[exp A]", log=log,
                    headline=_headline, run_dir=run_dir)
    out = {}
    for job, g in zip(jobs, groups):
        r = done[job.name]
        for i, (a, s) in enumerate(g):
            out[a, s] = {"preds": r["preds"][i], "loss": r["loss"][i],
                         "seconds": float(r["seconds"]) / len(g)}
    return out


def run(cfg: Config, run_dir: Path, log=print, resume: bool = False,
        launch: Launch | None = None) -> dict:
    """Train every arm and seed, measure, save arrays, figures and the table.
    Returns the summary dict (also written to ``summary.json``). Each job's
    result is kept under ``jobs/`` as it finishes; ``resume``: jobs found
    there (for this very config) are loaded instead of trained again."""
    validate(cfg)
    run_dir = Path(run_dir)
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    arms = core.build_arms(cfg)
    metrics = runs.JsonlLogger(run_dir / "metrics.jsonl")
    t_start = time.perf_counter()
    short = core.short_run_warning(cfg)
    if short:
        log(f"WARNING: {short}")

    store = JobStore(run_dir / "jobs")
    if resume:  # the per-job and per-step records are rewritten below from all jobs
        metrics.drop(lambda r: r.get("kind") in ("step", "job"))
    results = _run_jobs(cfg, arms, log, store, launch, run_dir)
    for a, arm in enumerate(arms):
        for s, seed in enumerate(cfg.seeds):
            metrics.log("job", arm=arm.name, seed=seed, seconds=results[a, s]["seconds"])
    steps = core.run_checkpoints(cfg)
    preds = np.stack([np.stack([results[a, s]["preds"] for s in range(len(cfg.seeds))])
                      for a in range(len(arms))])                                  # (A,S,C,N)
    loss = np.stack([np.stack([results[a, s]["loss"] for s in range(len(cfg.seeds))])
                     for a in range(len(arms))])
    m = analysis.analyse(cfg, arms, steps, preds)
    for a, arm in enumerate(arms):
        for s, seed in enumerate(cfg.seeds):
            for i, step in enumerate(steps):
                metrics.log("step", arm=arm.name, seed=seed, step=int(step), train_mse=loss[a, s, i],
                            **{f"delta_{k}": m["delta"][a, s, i, j] for j, k in enumerate(cfg.freqs)},
                            **{f"gain_{k}": m["gain"][a, s, i, j] for j, k in enumerate(cfg.freqs)})
    train_seconds = time.perf_counter() - t_start

    d_mean, d_lo, d_hi = stats.mean_ci(m["delta"], axis=1, bounds=(0.0, np.inf))  # Delta_k >= 0
    g_mean, g_lo, g_hi = stats.mean_ci(m["gain"], axis=1)
    target0 = core.target(cfg, cfg.seeds[0])
    runs.save_npz(run_dir / "exp_a_arrays.npz", steps=steps, x=target0.x, y=target0.y,
                  freqs=np.asarray(cfg.freqs), arms=np.asarray([a.name for a in arms]),
                  seeds=np.asarray(cfg.seeds), preds=preds, train_loss=loss,
                  delta=m["delta"], gain=m["gain"], residual=m["residual"],
                  t_learn=m["t"], learned=m["learned"], learn_state=m["state"],
                  below_since=m["below_since"],
                  delta_mean=d_mean, delta_lo=d_lo, delta_hi=d_hi,
                  gain_mean=g_mean, gain_lo=g_lo, gain_hi=g_hi)
    tidy.write_tidy_csv(run_dir / "exp_a_tidy.csv", tidy.tidy_rows_a(run_dir / "exp_a_arrays.npz"))
    per_arm, rows, records, warnings = analysis.summarise(cfg, arms, m)
    findings = analysis.findings_a(cfg, arms, m, per_arm)
    analysis.write_table(run_dir / "learning_times.csv", records)
    dose.save_axis(run_dir, sweep_axis(arms, cfg.sweep, core.base_regimen(cfg)), [a.name for a in arms])

    frames = analysis.pick_frames(steps.size, cfg.gif_frames)
    runs.save_npz(run_dir / "exp_a_gif.npz", frames=frames, target_amp=m["target_amp"],
                  pred_amp=m["pred_amp"][:, 0][:, frames])
    summary = {
        "experiment": "A",
        "target": {"freqs": list(cfg.freqs), "n_points": cfg.n_points,
                   "amplitudes": list(cfg.amplitudes) or [1.0] * len(cfg.freqs),
                   "random_phases": cfg.random_phases},
        "steps": cfg.steps, "eps": cfg.eps, "seeds": list(cfg.seeds),
        "arms": per_arm,
        "takeaway": verdicts.takeaway_a(per_arm, cfg.freqs, cfg.steps),
        "findings": findings,
        "table": rows,
        # What the HTML report shows: figures with what to look for, and tables.
        "figures": [{"file": f"figures/{name}", "caption": caption}
                    for name, caption in analysis.FIGURE_CAPTIONS.items()],
        "tables": [{"title": f"Learning times t_k (steps; Delta_k < {cfg.eps:g} sustained), "
                             f"median over {len(cfg.seeds)} seeds; final Delta_k and gain "
                             "with 95% intervals. Per seed: t_k; '<step>?' below eps from "
                             "<step> to T, not confirmed; '-' not learned (Delta_k >= eps at T)",
                    "columns": list(rows[0]), "rows": [list(r.values()) for r in rows]},
                   {"title": "Spectral-bias order: Spearman correlation of k and t_k, pooled "
                             "over seeds (+1 = strictly low to high)",
                    "columns": ["arm", "spearman"],
                    "rows": [[a, v["spearman_text"]] for a, v in per_arm.items()]}],
        "gif": {"frames": int(frames.size), "frame_ms": cfg.gif_frame_ms, "loop": 0},
        "warnings": ([short] if short else []) + warnings,
        "wall_seconds": {"training": train_seconds, "total": time.perf_counter() - t_start},
    }
    if findings:
        summary["tables"].append(verdicts.findings_table(findings, "A"))
    dose_table = dose.a_table(run_dir, {"t_learn": m["t"], "learned": m["learned"],
                                        "gain": m["gain"], "freqs": np.asarray(cfg.freqs)})
    if dose_table:
        summary["tables"].append(dose_table)
        summary["figures"] += [{"file": f"figures/{n}", "caption": dose.CAPTIONS[n]}
                               for n in ("exp_a_dose_response.png", "exp_a_dose_delay.png")]
    analysis.attach(cfg, arms, run_dir, steps, preds, m, summary, log)  # nothing in the default mode
    runs.write_json(run_dir / "summary.json", summary)
    render_figures(run_dir, cfg)
    render_dose(run_dir)
    summary["wall_seconds"]["total"] = time.perf_counter() - t_start
    runs.write_json(run_dir / "summary.json", summary)
    log("\n" + format_table(summary["tables"][0]))
    for arm in arms:
        log(f"  spectral-bias order (Spearman k vs t_k, pooled over seeds), {arm.name}: "
            f"{per_arm[arm.name]['spearman_text']}")
    for w in warnings:
        log(f"WARNING: {w}")
    return summary
