"""Verdicts on the seed project's three claims, with their evidence.

The claims are hypotheses, each tested on a per-seed *paired* statistic
(treated arm against the baseline of the same seed: same initial weights,
same data order), whose null value is 0:

* ``l2_lowpass`` -- "L2 acts as a low-pass filter". Experiment B, the
  normalized SSR of conv1 against the baseline at the last epoch; the
  claimed direction is > 0 (the baseline's high-frequency fraction was
  suppressed). Tested on arms with ``l2 > 0`` and ``dropout == 0``.
* ``dropout_highfreq`` -- "Dropout introduces high-frequency content".
  Same statistic, claimed direction < 0 (conv1's HFF raised). Arms with
  ``dropout > 0`` and ``l2 == 0``.
* ``reg_hf_robustness`` -- "Regularisation buys robustness to
  high-frequency noise". Experiment C, the high-pass-noise AUC minus the
  baseline's of the same seed, claimed direction > 0. Every non-baseline arm.

Arms with both ``l2 > 0`` and ``dropout > 0`` are tested for both B claims
too, as rows labelled "extra evidence" (the effect cannot be attributed to
either regulariser alone). They are part of the family: every test that
can yield a verdict counts in the correction.

The rules, applied to each arm of a claim (:func:`verdict`):

1. **inconclusive** when fewer than ``min_n = 2`` seeds give a finite paired
   value, when the p-value is NaN, or when the caller marks the arm
   untestable (e.g. it ends near chance accuracy, so its spectrum or its
   robustness curves describe a network that has not learned the task).
   Such an arm is not tested and does not count in the family.
2. Otherwise a two-sided paired t-test of mean 0 gives ``p``. The
   **family** is every tested arm of the same claim in one run; the
   p-values are adjusted by Holm's method, which keeps the chance of any
   false "supported" or "contradicted" in the family at most ``alpha``
   (0.05). Simulated with no effect, 3 arms and 3 seeds, unadjusted 95%
   verdicts claim an effect in about 14% of runs (1 - 0.95^3); Holm brings
   that under 5% (tests/test_verdicts.py).
3. **supported**: Holm-adjusted ``p < alpha`` and the mean paired value in
   the claimed direction.
4. **contradicted**: Holm-adjusted ``p < alpha`` with the mean in the
   opposite direction (a detected effect against the claim; a two-sided
   test with a directional decision keeps each direction's error at most
   ``alpha / 2``).
5. **not supported**: tested, no detectable effect (adjusted ``p >=
   alpha``). This is absence of evidence at the run's size, not evidence
   of absence: with 2 or 3 seeds only large effects are detectable, and
   the interval in the finding says how large an effect remains possible.

Claims are separate hypotheses, each with its own family; no correction is
made across claims or across experiments.

Pure: no files, no printing, no random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from utils import stats

VERDICTS = ("supported", "not supported", "contradicted", "inconclusive")
ALPHA = 0.05
MIN_SEEDS = 2
PRIMARY = "primary"
EXTRA = "extra evidence (L2 and dropout together: not attributable to either alone)"


@dataclass(frozen=True)
class Claim:
    key: str
    text: str          # the hypothesis as one sentence
    direction: int     # +1: claimed effect makes the statistic > 0; -1: < 0
    experiment: str
    statistic: str     # what the per-seed value is
    figure: str        # the run-relative figure that shows it


CLAIMS = {c.key: c for c in (
    Claim("l2_lowpass", "L2 acts as a low-pass filter", +1, "B",
          "normalized SSR vs baseline (conv1, last epoch)", "figures/exp_b_ssr_comparison.png"),
    Claim("dropout_highfreq", "Dropout introduces high-frequency content", -1, "B",
          "normalized SSR vs baseline (conv1, last epoch)", "figures/exp_b_ssr_comparison.png"),
    Claim("reg_hf_robustness", "Regularisation buys robustness to high-frequency noise", +1, "C",
          "high-pass-noise AUC minus the baseline's (same seed)",
          "figures/exp_c_robustness.png"),
)}


def _claim(claim: str) -> Claim:
    if claim not in CLAIMS:
        raise ValueError(f"claim: expected one of {list(CLAIMS)}, got {claim!r}")
    return CLAIMS[claim]


def b_claim_arms(per_arm: dict) -> dict[str, list[tuple[str, str]]]:
    """Which arms of experiment B test which claim, from their ``l2`` and
    ``dropout`` entries: ``{claim: [(arm name, role), ...]}`` in arm order,
    ``role`` :data:`PRIMARY` or :data:`EXTRA`. The baseline tests nothing."""
    out = {"l2_lowpass": [], "dropout_highfreq": []}
    for name, e in per_arm.items():
        if name == "baseline":
            continue
        for key in ("l2", "dropout"):
            if key not in e:
                raise ValueError(f"per_arm: expected an {key!r} entry for arm {name!r}, "
                                 f"got keys {sorted(e)}")
        l2, p = float(e["l2"]), float(e["dropout"])
        if l2 > 0 and p == 0:
            out["l2_lowpass"].append((name, PRIMARY))
        elif p > 0 and l2 == 0:
            out["dropout_highfreq"].append((name, PRIMARY))
        elif l2 > 0 and p > 0:
            out["l2_lowpass"].append((name, EXTRA))
            out["dropout_highfreq"].append((name, EXTRA))
    return out


def verdict(estimate: float, p_adjusted: float | None, n: int, direction: int,
            alpha: float = ALPHA, min_n: int = MIN_SEEDS) -> str:
    """One of :data:`VERDICTS` by the rules of the module docstring."""
    if direction not in (1, -1):
        raise ValueError(f"direction: expected +1 or -1, got {direction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    if (n < min_n or p_adjusted is None or not math.isfinite(p_adjusted)
            or not math.isfinite(estimate)):
        return "inconclusive"
    if p_adjusted >= alpha or estimate == 0:
        return "not supported"
    return "supported" if np.sign(estimate) == direction else "contradicted"


def _fmt(x: float, spec: str = "+.3f") -> str:
    return format(x, spec) if x is not None and math.isfinite(x) else "n/a"


def _sentence(c: Claim, arm: str, role: str, v: str, s: dict, p_adj, method: str,
              reason: str | None) -> str:
    head = f"{arm}: {v} -- {c.text}"
    if role != PRIMARY:
        head += f" [{role}]"
    if s["n"] >= 2:
        num = (f"{c.statistic} {_fmt(s['mean'])} [{_fmt(s['lo'])}, {_fmt(s['hi'])}] "
               f"(95% interval over n = {s['n']} seeds)")
    else:
        num = (f"{c.statistic} {_fmt(s['mean'])} from n = {s['n']} finite seed"
               f"{'' if s['n'] == 1 else 's'}: no interval")
    if v == "inconclusive":
        why = reason or f"fewer than {MIN_SEEDS} finite paired seeds"
        return f"{head}: {num}; not tested ({why})."
    tail = f"Holm-adjusted p = {p_adj:.3g} ({method})"
    gloss = {"supported": "the effect is in the claimed direction",
             "contradicted": "a detected effect in the opposite direction",
             "not supported": "no detectable effect in the claimed direction"}[v]
    return f"{head}: {gloss}; {num}, {tail}."


def finding(claim: str, arm: str, arm_label: str, verdict_: str, summary: dict,
            p_adjusted: float | None, family: str, method: str, dataset_id: str,
            role: str = PRIMARY, reason: str | None = None) -> dict:
    """One finding record (the schema the report renderer reads).

    ``summary`` is :func:`utils.stats.paired_summary`'s dict for the arm."""
    c = _claim(claim)
    if verdict_ not in VERDICTS:
        raise ValueError(f"verdict_: expected one of {VERDICTS}, got {verdict_!r}")
    p = None if p_adjusted is None or not math.isfinite(p_adjusted) else float(p_adjusted)
    return {
        "claim": c.key, "claim_text": c.text, "arm": arm, "arm_label": arm_label,
        "verdict": verdict_, "statistic": c.statistic,
        "estimate": float(summary["mean"]), "lo": float(summary["lo"]),
        "hi": float(summary["hi"]), "n": int(summary["n"]),
        "values": [float(x) if math.isfinite(x) else None for x in summary["values"]],
        "p_adjusted": p, "family": family, "method": method, "experiment": c.experiment,
        "dataset_id": dataset_id, "figure": c.figure, "role": role,
        "text": _sentence(c, arm, role, verdict_, summary, p, method, reason),
    }


def claim_verdicts(claim: str, arms: list[dict], dataset_id: str, alpha: float = ALPHA,
                   level: float = 0.95, min_n: int = MIN_SEEDS) -> list[dict]:
    """Findings for every arm tested for ``claim`` in one run.

    Args:
        claim: a key of :data:`CLAIMS`.
        arms: one dict per arm: ``"arm"`` (name), ``"arm_label"`` (legend
            text), ``"values"`` (per-seed paired statistic, NaN where a seed
            gave none), optionally ``"role"`` (:data:`PRIMARY` or
            :data:`EXTRA`), ``"bounds"`` (feasible range of the statistic,
            for the interval) and ``"inconclusive_reason"`` (the arm cannot
            be tested: it is reported inconclusive and left out of the family).
        dataset_id: the data the run used.
        alpha: family-wise error level.

    Returns one :func:`finding` per arm, in the order given.
    """
    c = _claim(claim)
    sums, reasons = [], []
    for a in arms:
        for key in ("arm", "arm_label", "values"):
            if key not in a:
                raise ValueError(f"arms: expected key {key!r} in every entry, got {sorted(a)}")
        s = stats.paired_summary(np.asarray(a["values"], dtype=np.float64), level=level,
                                 bounds=a.get("bounds"))
        reason = a.get("inconclusive_reason")
        if reason is None and (s["n"] < min_n or not math.isfinite(s["p"])):
            reason = (f"{s['n']} finite paired seed{'' if s['n'] == 1 else 's'}, "
                      f"at least {min_n} needed")
        sums.append(s)
        reasons.append(reason)
    tested = [i for i, r in enumerate(reasons) if r is None]
    adj = np.full(len(arms), np.nan)
    if tested:
        adj[tested] = stats.holm([sums[i]["p"] for i in tested])
    m = len(tested)
    names = ", ".join(arms[i]["arm"] for i in tested) or "none"
    family = f"arms tested for {c.key} in this run ({c.experiment}): {names}"
    method = f"Holm over {m} arm{'' if m == 1 else 's'}, {stats.PAIRED_TEST}, alpha {alpha:g}"
    out = []
    for i, a in enumerate(arms):
        p = None if reasons[i] is not None else float(adj[i])
        v = ("inconclusive" if reasons[i] is not None else
             verdict(sums[i]["mean"], p, sums[i]["n"], c.direction, alpha, min_n))
        out.append(finding(claim, a["arm"], a["arm_label"], v, sums[i], p, family, method,
                           dataset_id, role=a.get("role", PRIMARY), reason=reasons[i]))
    return out


def _ci_text(mean, lo, hi, n) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{_fmt(mean)} (n = {n}, no interval)"
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def findings_table(findings: list[dict], experiment: str) -> dict:
    """The findings as a summary table ``{"title", "columns", "rows"}``, one
    row per claim and arm, per-seed values beside the interval."""
    rows = [[f["claim"], f["arm"] + ("" if f["role"] == PRIMARY else " (extra evidence)"),
             f["verdict"], _ci_text(f["estimate"], f["lo"], f["hi"], f["n"]), str(f["n"]),
             " ".join(_fmt(v) for v in f["values"]), _fmt(f["p_adjusted"], ".3g")]
            for f in findings]
    return {"title": f"Experiment {experiment}: claims tested against the baseline of the same "
                     f"seed ({stats.PAIRED_TEST}, Holm within each claim's arms, alpha {ALPHA:g})",
            "columns": ["claim", "arm", "verdict", "statistic mean [95% interval]", "n",
                        "per-seed values", "Holm-adjusted p"],
            "rows": rows}


def takeaway(experiment: str, dataset_id: str, findings: list[dict]) -> str:
    """One line: each claim's verdicts on its primary arms (extra-evidence
    rows only counted), e.g. for experiment B or C."""
    parts = []
    for key in dict.fromkeys(f["claim"] for f in findings):
        fs = [f for f in findings if f["claim"] == key]
        prim = [f for f in fs if f["role"] == PRIMARY]
        shown = ", ".join(f"{f['arm']} {f['verdict']} ({_fmt(f['estimate'])} "
                          f"[{_fmt(f['lo'])}, {_fmt(f['hi'])}], n={f['n']})" for f in prim)
        extra = len(fs) - len(prim)
        if extra:
            shown += (f"{'; ' if shown else ''}{extra} extra-evidence row"
                      f"{'' if extra == 1 else 's'}: "
                      + ", ".join(f"{f['arm']} {f['verdict']}" for f in fs if f not in prim))
        parts.append(f"{CLAIMS[key].text}? {shown}")
    if not parts:
        return f"Experiment {experiment} ({dataset_id}): no arm tested any claim."
    return f"Experiment {experiment} ({dataset_id}): " + "; ".join(parts) + "."


def takeaway_a(per_arm: dict, freqs, steps: int) -> str:
    """One line for experiment A: the baseline's learning order and what each
    regulariser did at the highest frequency ``k_max`` (median delay against
    the baseline, censoring-aware, and final gain ratio), from ``summarise``'s
    ``per_arm``."""
    kmax = str(max(int(k) for k in freqs))
    parts = []
    base = per_arm.get("baseline")
    if base is not None:
        fr = base["frequencies"]
        learned = [k for k in fr if fr[k]["n_learned"] > 0 and math.isfinite(fr[k]["t_median"])]
        order = sorted(learned, key=lambda k: fr[k]["t_median"])
        missing = [k for k in fr if k not in learned]
        parts.append("baseline learned k = " + (", ".join(order) or "none")
                     + (" in that order" if len(order) > 1 else "")
                     + (f" (not {', '.join(missing)} by T = {steps})" if missing else "")
                     + f", Spearman k vs t_k {base.get('spearman_text', 'n/a')}")
    for name, e in per_arm.items():
        if name == "baseline":
            continue
        f = e["frequencies"][kmax]
        # censoring-aware (experiments.exp_a_analysis): ">= N" when censored seeds decide it
        med = f.get("delay_median_vs_baseline")
        delay = (f"median delay {med['text']} steps over {len(f['t_per_seed'])} seeds, "
                 f"{f['n_learned']} learned" if med else f"learned in {f['n_learned']} seeds")
        g = f.get("final_gain_ratio_vs_baseline", f["final_gain"])
        what = "gain ratio vs baseline" if "final_gain_ratio_vs_baseline" in f else "gain"
        parts.append(f"{name} at k = {kmax}: {delay}, final {what} {_fmt(g['mean'], '.2f')} "
                     f"[{_fmt(g['lo'], '.2f')}, {_fmt(g['hi'], '.2f')}]")
    return "Experiment A: " + "; ".join(parts) + "."
