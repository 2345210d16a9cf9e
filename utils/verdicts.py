"""Verdicts on the seed project's three claims, with their evidence.

The claims are hypotheses, each tested on a per-seed *paired* statistic
(treated arm against the baseline of the same seed: same initial weights,
same data order), whose null value is 0. Each claim has one pre-registered
**primary** statistic, which measures what the network computes, and one
**secondary** statistic shown beside it (docs/DEFINITIONS.md 10.1):

* ``l2_lowpass`` -- "L2 acts as a low-pass filter". Primary: the
  high-frequency fraction of the input-gradient spectrum
  ``|F(d log p_y / dx)|^2`` (``utils.frequency.input_gradient_spectrum``) at
  the last epoch minus the baseline's; claimed direction < 0. Secondary:
  conv1's normalised SSR against the baseline (claimed > 0). Arms with
  ``l2 > 0`` and ``dropout == 0``.
* ``dropout_highfreq`` -- "Dropout introduces high-frequency content".
  The same two statistics, claimed directions > 0 (primary) and < 0
  (secondary). Arms with ``dropout > 0`` and ``l2 == 0``.
* ``reg_hf_robustness`` -- "Regularisation buys robustness to
  high-frequency noise". Experiment C. Primary: the area under the
  *accuracy-relative* high-pass-noise curve (accuracy under noise divided
  by the same model's clean accuracy) minus the baseline's, claimed > 0.
  Secondary: the raw high-pass AUC difference (which mixes clean accuracy
  in). Every non-baseline arm.

Arms with both ``l2 > 0`` and ``dropout > 0`` are tested for both B claims
too, as rows labelled "extra evidence". They are part of the family.

Every claim declares a **smallest effect size of interest** (SESOI,
:data:`SESOI`, justified in docs/DEFINITIONS.md 10.1): the effect below
which the claim would be of no practical consequence. The rules, per arm
of a claim (:func:`verdict`), for the primary and the secondary statistic
separately:

1. **undetermined** without a test: fewer than ``min_n = 2`` finite paired
   seeds, identical non-zero differences (zero spread: the t-test has no
   answer, never ``p = 0``), or an arm the caller marks untestable (it ends
   near chance accuracy). Such an arm is left out of the family.
2. Otherwise a two-sided paired t-test of mean 0 gives ``p`` and TOST
   (two one-sided paired t-tests against ``+-SESOI``) gives ``p_tost``.
   The **family** is every tested arm of the claim in the run; both sets of
   p-values are adjusted by Holm's method, which keeps the chance of any
   false "supported"/"contradicted" (and, separately, of any false
   "absent") in the family at most ``alpha`` = 0.05.
3. **supported**: adjusted ``p < alpha``, mean in the claimed direction.
4. **contradicted**: adjusted ``p < alpha``, mean in the opposite direction.
5. **absent**: adjusted ``p >= alpha`` and adjusted ``p_tost < alpha``: the
   effect is within ``+-SESOI`` (evidence of no effect of interest). All
   differences exactly 0 (the arm changed nothing) is absent too.
6. **undetermined**: neither test decides: the run is too small for this
   effect. The finding then carries the minimal detectable effect (MDE) at
   the run's ``n`` and the power at the SESOI, both for the two-sided
   paired t-test at level ``alpha / m`` (``m`` the family size: the level
   that Holm's first step demands, so the numbers are not optimistic), at
   power 0.8, from the observed spread of the differences
   (``utils.stats.minimal_detectable_effect``, ``paired_power``).

Claims are separate hypotheses, each with its own family; no correction is
made across claims, experiments, or between primary and secondary (the
secondary never decides the claim's verdict; where the two disagree the
finding says so).

Pure: no files, no printing, no random state.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from utils import stats
from utils.tables import interval

VERDICTS = ("supported", "contradicted", "absent", "undetermined")
ALPHA = 0.05
POWER = 0.8
MIN_SEEDS = 2
PRIMARY = "primary"
EXTRA = "extra evidence (L2 and dropout together: not attributable to either alone)"

# Smallest effects of interest, one place (docs/DEFINITIONS.md 10.1 justifies them).
# Input-gradient HFF: a fraction of the gradient's power; 0.02 is 2 percentage
# points of the network's sensitivity moving across the cut (about a third of
# dropout's +0.06 on the default run, and 2.5% of white noise's 0.81).
SESOI_INPUT_GRADIENT_HFF = 0.02
# conv1 normalised SSR = 1 - HFF_arm / HFF_base: a relative change; 0.03 is a
# 3% relative change of conv1's HFF (the bound the issue-22 audit used).
SESOI_SSR_NORM = 0.03
# AUC over a [0, 1] strength axis of accuracy relative to clean accuracy (or
# of raw accuracy): 0.02 is 2 points of (relative) accuracy retained on
# average over the strengths, below which no practitioner would pick a
# regulariser for robustness.
SESOI_AUC = 0.02


@dataclass(frozen=True)
class Statistic:
    name: str          # what the per-seed value is
    direction: int     # +1: claimed effect makes it > 0; -1: < 0
    sesoi: float       # smallest effect size of interest, in its units
    figure: str        # the run-relative figure that shows it


@dataclass(frozen=True)
class Claim:
    key: str
    text: str          # the hypothesis as one sentence
    experiment: str
    primary: Statistic
    secondary: Statistic


_IG = "input-gradient HFF minus the baseline's (same seed, last epoch)"
_SSR = "conv1 normalised SSR vs baseline (last epoch)"
CLAIMS = {c.key: c for c in (
    Claim("l2_lowpass", "L2 acts as a low-pass filter", "B",
          Statistic(_IG, -1, SESOI_INPUT_GRADIENT_HFF, "figures/exp_b_input_gradient.png"),
          Statistic(_SSR, +1, SESOI_SSR_NORM, "figures/exp_b_ssr_comparison.png")),
    Claim("dropout_highfreq", "Dropout introduces high-frequency content", "B",
          Statistic(_IG, +1, SESOI_INPUT_GRADIENT_HFF, "figures/exp_b_input_gradient.png"),
          Statistic(_SSR, -1, SESOI_SSR_NORM, "figures/exp_b_ssr_comparison.png")),
    Claim("reg_hf_robustness", "Regularisation buys robustness to high-frequency noise", "C",
          Statistic("accuracy-relative high-pass-noise AUC minus the baseline's (same seed)",
                    +1, SESOI_AUC, "figures/exp_c_robustness.png"),
          Statistic("raw high-pass-noise AUC minus the baseline's (same seed)", +1, SESOI_AUC,
                    "figures/exp_c_robustness.png")),
)}
SESOI = {k: {"primary": c.primary.sesoi, "secondary": c.secondary.sesoi}
         for k, c in CLAIMS.items()}


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
            p_tost_adjusted: float | None = None, alpha: float = ALPHA,
            min_n: int = MIN_SEEDS) -> str:
    """One of :data:`VERDICTS` by the rules of the module docstring."""
    if direction not in (1, -1):
        raise ValueError(f"direction: expected +1 or -1, got {direction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    if (n < min_n or p_adjusted is None or not math.isfinite(p_adjusted)
            or not math.isfinite(estimate)):
        return "undetermined"
    if p_adjusted < alpha and estimate != 0:
        return "supported" if np.sign(estimate) == direction else "contradicted"
    if p_tost_adjusted is not None and math.isfinite(p_tost_adjusted) and p_tost_adjusted < alpha:
        return "absent"
    return "undetermined"


def _fmt(x, spec: str = "+.3f") -> str:
    return format(x, spec) if x is not None and math.isfinite(x) else "n/a"


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _test_family(st: Statistic, arms: list[dict], key: str, alpha: float, level: float,
                 min_n: int) -> list[dict]:
    """Summary, tests, Holm over the family and verdict of one statistic
    (``arms[i][key]`` the per-seed values) for every arm."""
    rows = []
    for a in arms:
        vals = a.get(key)
        vals = np.full(1, np.nan) if vals is None else np.asarray(vals, dtype=np.float64)
        s = stats.paired_summary(vals, level=level, bounds=a.get("bounds") if key == "values"
                                 else a.get("secondary_bounds"))
        reason = a.get("untestable_reason")
        if reason is None:
            if s["n"] < min_n:
                reason = (f"{s['n']} finite paired seed{'' if s['n'] == 1 else 's'}, "
                          f"at least {min_n} needed")
            elif not math.isfinite(s["p"]):
                reason = (f"the {s['n']} paired differences are identical and non-zero "
                          f"(zero spread: no test)")
        rows.append({"summary": s, "reason": reason,
                     "p_tost": stats.tost_p(vals, st.sesoi) if reason is None else float("nan")})
    tested = [i for i, r in enumerate(rows) if r["reason"] is None]
    m = len(tested)
    adj, adj_t = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    if tested:
        adj[tested] = stats.holm([rows[i]["summary"]["p"] for i in tested])
        adj_t[tested] = stats.holm([rows[i]["p_tost"] for i in tested])
    for i, r in enumerate(rows):
        s = r["summary"]
        r["p_adjusted"], r["p_tost_adjusted"] = _num(adj[i]), _num(adj_t[i])
        r["verdict"] = ("undetermined" if r["reason"] is not None else
                        verdict(s["mean"], r["p_adjusted"], s["n"], st.direction,
                                r["p_tost_adjusted"], alpha, min_n))
        if s["n"] >= 2 and s["mean"] == 0 and s["sd"] == 0:
            r["verdict"] = "absent"  # every difference exactly 0: the arm changed nothing
        r["mde"] = r["power_at_sesoi"] = r["seeds_for_sesoi"] = None
        if r["reason"] is None and r["verdict"] in ("undetermined", "absent") and s["sd"] > 0:
            a_eff = alpha / max(m, 1)
            r["mde"] = stats.minimal_detectable_effect(s["n"], s["sd"], a_eff, POWER)
            r["power_at_sesoi"] = stats.paired_power(s["n"], st.sesoi, s["sd"], a_eff)
            r["seeds_for_sesoi"] = stats.seeds_for_effect(st.sesoi, s["sd"], a_eff, POWER)
        r["m"] = m
    return rows


def _numbers(st: Statistic, s: dict) -> str:
    if s["n"] >= 2 and math.isfinite(s["lo"]):
        return (f"{st.name} {interval(s, '+.3f')} "
                f"(95% t-interval over n = {s['n']} seeds)")
    return (f"{st.name} {_fmt(s['mean'])} from n = {s['n']} finite seed"
            f"{'' if s['n'] == 1 else 's'}: no interval")


def _sentence(c: Claim, arm: str, role: str, r: dict, sec: dict | None, alpha: float) -> str:
    st, s, v = c.primary, r["summary"], r["verdict"]
    head = f"{arm}: {v} -- {c.text}"
    if role != PRIMARY:
        head += f" [{role}]"
    num = _numbers(st, s)
    if r["reason"] is not None:
        text = f"{head}: {num}; not tested ({r['reason']})."
    elif s["sd"] == 0 and s["mean"] == 0:
        text = f"{head}: all {s['n']} paired differences are exactly 0 (the arm changed nothing)."
    else:
        gloss = {"supported": "an effect in the claimed direction",
                 "contradicted": "a detected effect in the opposite direction",
                 "absent": f"equivalent to no effect within +-{st.sesoi:g} (the declared "
                           f"smallest effect of interest)",
                 "undetermined": "neither an effect nor its absence is shown at this size"}[v]
        text = (f"{head}: {gloss}; {num}, Holm-adjusted p = {_fmt(r['p_adjusted'], '.3g')}, "
                f"TOST p = {_fmt(r['p_tost_adjusted'], '.3g')} (+-{st.sesoi:g})")
        if r["mde"] is not None:
            text += (f"; minimal detectable effect {r['mde']:.3g} at n = {s['n']} "
                     f"(power {POWER:g}, alpha {alpha:g}/{r['m']}), power "
                     f"{r['power_at_sesoi']:.2f} at the SESOI{seeds_needed(r['seeds_for_sesoi'])}")
        text += "."
    if sec is not None and sec["verdict"] != v and r["reason"] is None:
        text += (f" The secondary statistic ({c.secondary.name}) reads {sec['verdict']} "
                 f"({_fmt(sec['summary']['mean'])}): primary and secondary disagree.")
    return text


def _secondary_record(c: Claim, r: dict) -> dict:
    s = r["summary"]
    return {"statistic": c.secondary.name, "direction": c.secondary.direction,
            "sesoi": c.secondary.sesoi, "verdict": r["verdict"], "estimate": _num(s["mean"]),
            "lo": _num(s["lo"]), "hi": _num(s["hi"]), "n": int(s["n"]),
            "values": [_num(x) for x in s["values"]], "p_adjusted": r["p_adjusted"],
            "p_tost_adjusted": r["p_tost_adjusted"], "mde": r["mde"],
            "power_at_sesoi": r["power_at_sesoi"], "figure": c.secondary.figure}


def claim_verdicts(claim: str, arms: list[dict], dataset_id: str, alpha: float = ALPHA,
                   level: float = 0.95, min_n: int = MIN_SEEDS, *,
                   primary: Statistic | None = None, secondary: Statistic | None = None,
                   experiment: str | None = None) -> list[dict]:
    """Findings for every arm tested for ``claim`` in one run.

    Args:
        claim: a key of :data:`CLAIMS`.
        arms: one dict per arm: ``"arm"`` (name), ``"arm_label"`` (legend
            text), ``"values"`` (per-seed primary paired statistic, NaN where
            a seed gave none), optionally ``"secondary_values"`` (the
            secondary statistic), ``"role"`` (:data:`PRIMARY` or
            :data:`EXTRA`), ``"bounds"`` / ``"secondary_bounds"`` (feasible
            ranges, for the intervals) and ``"untestable_reason"`` (the arm
            cannot be tested: undetermined, left out of both families).
        dataset_id: the data the run used.
        alpha: family-wise error level.
        primary, secondary, experiment: another experiment's own
            statistics for the claim (e.g. experiment A's paired final gain
            at high k, with its own direction and SESOI), replacing the
            pre-registered ones of :data:`CLAIMS` for this call.

    Returns one finding dict per arm, in the order given (fields: see
    docs/DEFINITIONS.md 10.1 and :func:`findings_rows`).
    """
    c = _claim(claim)
    changes = {k: v for k, v in (("primary", primary), ("secondary", secondary),
                                 ("experiment", experiment)) if v is not None}
    if changes:
        c = dataclasses.replace(c, **changes)
    for a in arms:
        for key in ("arm", "arm_label", "values"):
            if key not in a:
                raise ValueError(f"arms: expected key {key!r} in every entry, got {sorted(a)}")
    prim = _test_family(c.primary, arms, "values", alpha, level, min_n)
    has_sec = any(a.get("secondary_values") is not None for a in arms)
    sec = _test_family(c.secondary, arms, "secondary_values", alpha, level, min_n) if has_sec \
        else [None] * len(arms)
    tested = [a["arm"] for a, r in zip(arms, prim) if r["reason"] is None]
    family = f"arms tested for {c.key} in this run ({c.experiment}): {', '.join(tested) or 'none'}"
    m = len(tested)
    method = (f"Holm over {m} arm{'' if m == 1 else 's'}, {stats.PAIRED_TEST} and "
              f"{stats.TOST_TEST} at +-{c.primary.sesoi:g}, alpha {alpha:g}")
    out = []
    for a, r, rs in zip(arms, prim, sec):
        s = r["summary"]
        role = a.get("role", PRIMARY)
        f = {"claim": c.key, "claim_text": c.text, "arm": a["arm"], "arm_label": a["arm_label"],
             "verdict": r["verdict"], "statistic": c.primary.name,
             "estimate": float(s["mean"]), "lo": float(s["lo"]), "hi": float(s["hi"]),
             "n": int(s["n"]), "values": [_num(x) for x in s["values"]],
             "p_adjusted": r["p_adjusted"], "p_tost_adjusted": r["p_tost_adjusted"],
             "sesoi": c.primary.sesoi, "mde": r["mde"], "power_at_sesoi": r["power_at_sesoi"],
             "seeds_for_sesoi": r["seeds_for_sesoi"],
             "family": family, "method": method, "experiment": c.experiment,
             "dataset_id": dataset_id, "figure": c.primary.figure, "role": role,
             "secondary": None if rs is None else _secondary_record(c, rs),
             "agreement": None if rs is None else (
                 "agree" if rs["verdict"] == r["verdict"] else "disagree"),
             "text": _sentence(c, a["arm"], role, r, rs, alpha)}
        out.append(f)
    return out


def _ci_text(mean, lo, hi, n) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{_fmt(mean)} (n = {n}, no interval)"
    return interval({"mean": mean, "lo": lo, "hi": hi}, "+.3f")


def seeds_needed(n: int | None) -> str:
    """``"; about N seeds would detect it"``: how many paired seeds the SESOI
    needs at the power and level of the MDE, with the observed spread as
    the planning value (:func:`utils.stats.seeds_for_effect`)."""
    if n is None:
        return "; more than 100,000 seeds would be needed to detect it"
    return f"; about {n:,} seeds would detect it (at the observed spread)"


def mde_text(f: dict) -> str:
    """``MDE x / power y at SESOI z`` for an undetermined or absent finding
    (or a secondary record), a dash otherwise."""
    if f.get("mde") is None:
        return "-"
    n = f.get("seeds_for_sesoi")
    return (f"MDE {f['mde']:.3g} / power {f['power_at_sesoi']:.2f} at "
            f"+-{f['sesoi']:g}" + (f" (~{n:,} seeds for it)" if n is not None else ""))


def findings_table(findings: list[dict], experiment: str) -> dict:
    """The findings as a summary table ``{"title", "columns", "rows"}``, one
    row per claim and arm: primary verdict and numbers, MDE / power, and the
    secondary statistic's estimate and verdict beside them."""
    rows = []
    for f in findings:
        sec = f.get("secondary")
        rows.append([f["claim"], f["arm"] + ("" if f["role"] == PRIMARY else " (extra evidence)"),
                     f["verdict"], _ci_text(f["estimate"], f["lo"], f["hi"], f["n"]),
                     str(f["n"]), " ".join(_fmt(v) for v in f["values"]),
                     _fmt(f["p_adjusted"], ".3g"), _fmt(f["p_tost_adjusted"], ".3g"),
                     mde_text(f),
                     "-" if sec is None else
                     f"{_ci_text(sec['estimate'], sec['lo'], sec['hi'], sec['n'])} "
                     f"{sec['verdict']}"])
    return {"title": f"Experiment {experiment}: claims tested against the baseline of the same "
                     f"seed ({stats.PAIRED_TEST} and TOST at each claim's smallest effect of "
                     f"interest, Holm within each claim's arms, alpha {ALPHA:g}); secondary "
                     f"statistic beside the primary",
            "columns": ["claim", "arm", "verdict", "primary mean [95% interval]", "n",
                        "per-seed values", "Holm-adjusted p", "TOST p (Holm)",
                        "MDE / power", "secondary [95% interval] verdict"],
            "rows": rows}


def takeaway(experiment: str, dataset_id: str, findings: list[dict]) -> str:
    """One line: each claim's verdicts on its primary arms (extra-evidence
    rows only counted), e.g. for experiment B or C."""
    parts = []
    for key in dict.fromkeys(f["claim"] for f in findings):
        fs = [f for f in findings if f["claim"] == key]
        prim = [f for f in fs if f["role"] == PRIMARY]
        shown = ", ".join(f"{f['arm']} {f['verdict']} ({_fmt(f['estimate'])} "
                          f"[{_fmt(f['lo'])}, {_fmt(f['hi'])}], n={f['n']}"
                          + ("; secondary disagrees" if f.get("agreement") == "disagree" else "")
                          + ")" for f in prim)
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
