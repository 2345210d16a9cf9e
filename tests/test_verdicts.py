"""Verdict rules on constructed inputs, the findings schema, and the
family-wise error rate under no effect (simulated)."""

import math

import numpy as np
import pytest
from scipy import stats as st

from utils import stats, verdicts
from utils.verdicts import EXTRA, PRIMARY, b_claim_arms, claim_verdicts, verdict

SCHEMA = {"claim", "claim_text", "arm", "arm_label", "verdict", "statistic", "estimate", "lo",
          "hi", "n", "values", "p_adjusted", "p_tost_adjusted", "sesoi", "mde", "power_at_sesoi",
          "seeds_for_sesoi", "family", "method", "experiment", "dataset_id", "figure", "text", "role", "secondary",
          "agreement"}
SES = verdicts.SESOI_INPUT_GRADIENT_HFF


def _arm(name, values, **kw):
    return {"arm": name, "arm_label": f"{name} (label)", "values": values, **kw}


def _one(claim, values, **kw):
    return claim_verdicts(claim, [_arm("x", values, **kw)], dataset_id="synthetic-v1")[0]


def test_clear_effect_is_supported_with_its_numbers():
    v = np.array([0.30, 0.32, 0.29])
    f = _one("dropout_highfreq", v)                # dropout: input-gradient HFF raised
    ref = st.ttest_1samp(v, 0.0).pvalue          # one arm: Holm leaves p as it is
    assert f["verdict"] == "supported" and f["p_adjusted"] == pytest.approx(ref)
    assert f["estimate"] == pytest.approx(v.mean()) and f["n"] == 3 and f["lo"] > 0
    assert f["values"] == pytest.approx(v.tolist())
    assert set(f) == SCHEMA and f["experiment"] == "B" and f["dataset_id"] == "synthetic-v1"
    assert f"{v.mean():+.3f}" in f["text"] and "supported" in f["text"]
    assert f["mde"] is None and f["secondary"] is None      # significant: no MDE needed
    assert f["method"].startswith("Holm over 1 arm, paired t-test, two-sided and TOST")


def test_wrong_sign_is_contradicted_and_the_direction_is_per_claim():
    v = [0.30, 0.32, 0.29]
    assert _one("l2_lowpass", v)["verdict"] == "contradicted"       # L2 raised the HFF
    assert _one("dropout_highfreq", v)["verdict"] == "supported"
    assert _one("reg_hf_robustness", v)["verdict"] == "supported"


def test_small_tight_effect_is_absent_and_equals_tost():
    v = np.array([0.001, -0.002, 0.0015, 0.0, -0.001])
    f = _one("l2_lowpass", v)
    lo = st.ttest_1samp(v, -SES, alternative="greater").pvalue
    hi = st.ttest_1samp(v, SES, alternative="less").pvalue
    assert f["verdict"] == "absent" and f["p_tost_adjusted"] == pytest.approx(max(lo, hi))
    assert f["p_adjusted"] > 0.05 and f["sesoi"] == SES
    assert f["mde"] == pytest.approx(stats.minimal_detectable_effect(5, v.std(ddof=1)))
    assert "equivalent to no effect" in f["text"]


def test_wide_null_is_undetermined_with_mde_and_power():
    v = np.array([0.1, -0.1, 0.05])
    f = _one("l2_lowpass", v)
    assert f["verdict"] == "undetermined" and f["p_adjusted"] > 0.05
    assert f["p_tost_adjusted"] > 0.05 and f["lo"] < 0 < f["hi"]
    sd = v.std(ddof=1)
    assert f["mde"] == pytest.approx(stats.minimal_detectable_effect(3, sd, 0.05, 0.8))
    assert f["power_at_sesoi"] == pytest.approx(stats.paired_power(3, SES, sd, 0.05))
    assert f["seeds_for_sesoi"] == stats.seeds_for_effect(SES, sd, 0.05, 0.8)
    assert "minimal detectable effect" in f["text"] and "power" in f["text"]
    assert f"about {f['seeds_for_sesoi']:,} seeds would detect it" in f["text"]


def test_mde_uses_the_holm_first_step_level_in_a_family():
    fs = claim_verdicts("l2_lowpass", [_arm("a", [0.1, -0.1, 0.05]), _arm("b", [0.2, -0.1, 0.0])],
                        "d")
    sd = np.std([0.1, -0.1, 0.05], ddof=1)
    assert fs[0]["mde"] == pytest.approx(stats.minimal_detectable_effect(3, sd, 0.025, 0.8))


def test_zero_spread_is_untestable_unless_all_zero():
    same = _one("dropout_highfreq", [0.05, 0.05, 0.05])
    assert same["verdict"] == "undetermined" and same["p_adjusted"] is None
    assert "zero spread" in same["text"]
    zero = _one("dropout_highfreq", [0.0, 0.0, 0.0])
    assert zero["verdict"] == "absent" and zero["estimate"] == 0 and zero["n"] == 3
    assert "exactly 0" in zero["text"]


def test_one_finite_seed_is_undetermined_and_not_in_the_family():
    fs = claim_verdicts("dropout_highfreq", [_arm("a", [0.3, np.nan, np.nan]),
                                             _arm("b", [0.30, 0.32, 0.29])], "d")
    a, b = fs
    assert a["verdict"] == "undetermined" and a["p_adjusted"] is None and a["n"] == 1
    assert math.isnan(a["lo"]) and math.isnan(a["hi"]) and a["values"][1] is None
    assert "no interval" in a["text"]
    # b alone forms the family: its p is not multiplied by 2
    assert b["method"].startswith("Holm over 1 arm,") and b["family"].endswith(": b")
    assert b["p_adjusted"] == pytest.approx(st.ttest_1samp([0.30, 0.32, 0.29], 0).pvalue)


def test_marked_untestable_arm_is_undetermined():
    f = _one("l2_lowpass", [0.30, 0.32, 0.29], untestable_reason="ends near chance")
    assert f["verdict"] == "undetermined" and "ends near chance" in f["text"]


def test_secondary_is_shown_beside_and_disagreement_is_said():
    f = _one("l2_lowpass", [-0.30, -0.32, -0.29], secondary_values=[0.001, -0.001, 0.0005])
    assert f["verdict"] == "supported"
    sec = f["secondary"]
    assert sec["verdict"] in ("absent", "undetermined") and f["agreement"] == "disagree"
    assert "disagree" in f["text"] and sec["statistic"].startswith("conv1")
    both = _one("l2_lowpass", [-0.30, -0.32, -0.29], secondary_values=[0.30, 0.32, 0.29])
    assert both["secondary"]["verdict"] == "supported" and both["agreement"] == "agree"


def test_holm_makes_a_borderline_effect_undetermined_in_a_family_of_two():
    v = np.array([0.05, 0.25, 0.2, 0.35])
    p = st.ttest_1samp(v, 0.0).pvalue
    assert 0.025 < p < 0.05                     # significant alone, not after Holm over 2
    assert _one("dropout_highfreq", v)["verdict"] == "supported"
    pair = claim_verdicts("dropout_highfreq", [_arm("d", v), _arm("l2+dropout", [0.1, -0.1, 0.0],
                                                                 role=EXTRA)], "d")
    assert pair[0]["verdict"] == "undetermined"
    assert pair[0]["p_adjusted"] == pytest.approx(stats.holm([p, st.ttest_1samp(
        [0.1, -0.1, 0.0], 0.0).pvalue])[0])
    assert pair[0]["method"].startswith("Holm over 2 arms") and "extra evidence" in pair[1]["text"]


def test_rules_reject_bad_arguments():
    with pytest.raises(ValueError, match="claim"):
        claim_verdicts("l2_is_great", [], "d")
    with pytest.raises(ValueError, match="direction"):
        verdict(0.1, 0.01, 3, direction=0)
    with pytest.raises(ValueError, match="arms"):
        claim_verdicts("l2_lowpass", [{"arm": "x"}], "d")


def test_findings_table_rows_fit_their_columns():
    fs = claim_verdicts("l2_lowpass", [_arm("l2", [0.1, -0.1, 0.05],
                                            secondary_values=[0.01, 0.02, 0.0])], "syn")
    t = verdicts.findings_table(fs, "B")
    assert all(len(r) == len(t["columns"]) for r in t["rows"])
    assert t["rows"][0][2] == "undetermined" and t["rows"][0][8].startswith("MDE")


def test_b_arms_are_classified_by_l2_and_dropout():
    per_arm = {"baseline": {"l2": 0.0, "dropout": 0.0}, "l2": {"l2": 5e-4, "dropout": 0.0},
               "dropout": {"l2": 0.0, "dropout": 0.3}, "l2+dropout": {"l2": 5e-4, "dropout": 0.3},
               "l2=0.01": {"l2": 0.01, "dropout": 0.0}}
    got = b_claim_arms(per_arm)
    assert got["l2_lowpass"] == [("l2", PRIMARY), ("l2+dropout", EXTRA), ("l2=0.01", PRIMARY)]
    assert got["dropout_highfreq"] == [("dropout", PRIMARY), ("l2+dropout", EXTRA)]
    with pytest.raises(ValueError, match="per_arm"):
        b_claim_arms({"l2": {"label": "x"}})


def test_takeaway_names_each_claim_and_verdict():
    fs = (claim_verdicts("l2_lowpass", [_arm("l2", [-0.30, -0.32, -0.29])], "syn")
          + claim_verdicts("dropout_highfreq", [_arm("dropout", [0.1, -0.1, 0.05])], "syn"))
    line = verdicts.takeaway("B", "syn", fs)
    assert "L2 acts as a low-pass filter? l2 supported" in line
    assert "dropout undetermined" in line and "\n" not in line


@pytest.mark.slow
def test_family_wise_error_under_no_effect():
    """No effect, 3 arms x 3 seeds, differences ~ N(0, 1): Holm keeps the rate
    of runs with any 'supported'/'contradicted' near 5%; the unadjusted rule
    (p < 0.05 per arm) gives about 1 - 0.95^3 = 14%, so the test can fail."""
    rng = np.random.default_rng(12)
    runs, alpha = 4000, 0.05
    d = rng.normal(size=(runs, 3, 3))                        # run, arm, seed
    any_holm = 0
    for r in range(runs):
        fs = claim_verdicts("reg_hf_robustness", [_arm(f"a{i}", d[r, i]) for i in range(3)], "sim")
        any_holm += any(f["verdict"] in ("supported", "contradicted") for f in fs)
    raw_p = st.ttest_1samp(d, 0.0, axis=-1).pvalue           # the same test, unadjusted
    assert stats.paired_summary(d[0, 0])["p"] == pytest.approx(raw_p[0, 0])
    any_raw = np.mean(np.any(raw_p < alpha, axis=1))
    assert any_holm / runs < 0.07
    assert abs(any_raw - (1 - (1 - alpha) ** 3)) < 0.025


def _c_arrays(d_highpass, clean=0.8):
    """A minimal exp_c_arrays dict: baseline + 2 arms, 3 seeds, curves
    'highpass' (2 levels) and 'band' (3 bands); the high-pass AUC of arm i
    exceeds the baseline's by d_highpass[i] in every seed."""
    A, S = 3, 3
    rng = np.random.default_rng(5)
    base_hp = np.array([0.50, 0.55, 0.52])
    acc_hp = np.empty((A, S, 2))
    acc_hp[..., 0] = clean
    for a in range(A):
        auc = base_hp + (0 if a == 0 else d_highpass[a - 1])
        acc_hp[a, :, 1] = 2 * auc - clean          # trapezoid over [0, 1]: (clean + last) / 2
    return {"arms": np.array(["baseline", "l2", "dropout"]), "seeds": np.array([0, 1, 2]),
            "arm_labels": np.array(["baseline (none)", "l2 (L2)", "dropout (p)"]),
            "dataset_id": np.array("synthetic-v1"), "num_classes": np.array(10),
            "curves": np.array(["highpass", "band"]),
            "x_highpass": np.array([0.0, 0.1]), "level_highpass": np.array([0.0, 0.1]),
            "acc_highpass": acc_hp,
            "x_band": np.array([0.1, 0.25, 0.4]), "level_band": np.array([0.1, 0.25, 0.4]),
            "acc_band": rng.uniform(0.3, 0.7, (A, S, 3)),
            "clean_acc": np.full((A, S), clean), "clean_acc_eval": np.full((A, S), clean),
            "heatmap": rng.uniform(0, 1, (A, S, 4, 4)), "heat_freq": (np.arange(4) - 2) / 4,
            "noise_cutoff": np.array(0.25), "b_hff_final": rng.uniform(0.2, 0.4, (A, S)),
            "b_ssr_base_norm_final": np.where(np.arange(A)[:, None] == 0, np.nan,
                                              rng.normal(0, 0.1, (A, S)))}


def test_experiment_c_findings_and_paired_differences():
    from experiments import exp_c_analysis as analysis
    shift = np.array([0.10, 0.11, 0.09])            # l2: a clear gain in every seed
    z = _c_arrays([shift, np.array([-0.01, 0.02, 0.0])])
    s = analysis.summarise(z)
    by_arm = {f["arm"]: f for f in s["findings"]}
    assert set(by_arm) == {"l2", "dropout"} and all(set(f) == SCHEMA for f in s["findings"])
    assert by_arm["l2"]["verdict"] == "supported"
    assert by_arm["dropout"]["verdict"] == "undetermined"
    # primary: the chance-corrected relative AUC; clean accuracy is equal across arms here,
    # so it is the raw AUC difference scaled by 1 / (clean - chance)
    assert by_arm["l2"]["estimate"] == pytest.approx(shift.mean() / (0.8 - 0.1))
    assert by_arm["l2"]["secondary"]["estimate"] == pytest.approx(shift.mean())
    assert by_arm["l2"]["method"].startswith("Holm over 2 arms")
    assert by_arm["l2"]["experiment"] == "C"
    np.testing.assert_allclose(s["arms"]["l2"]["vs_baseline"]["auc"]["highpass"]["values"], shift)
    band = s["arms"]["dropout"]["vs_baseline"]["band_profile"]
    np.testing.assert_allclose(band["mean"], (z["acc_band"][2] - z["acc_band"][0]).mean(0))
    assert band["n"] == [3, 3, 3]
    assert "l2 supported" in s["takeaway"]
    c = s["correlations"]["hff_vs_highpass_auc"]
    assert c["n"] == 9 and c["lo"] <= c["rho"] <= c["hi"]
    assert s["correlations"]["ssr_vs_baseline_vs_delta_highpass_auc"]["n"] == 6
    for table in s["tables"]:
        assert all(len(r) == len(table["columns"]) for r in table["rows"]), table["title"]


def test_experiment_c_near_chance_is_inconclusive_and_rho_is_withheld():
    from experiments import exp_c_analysis as analysis
    z = _c_arrays([np.array([0.10, 0.11, 0.09])] * 2, clean=0.11)   # 10 classes: chance 0.1
    s = analysis.summarise(z)
    assert {f["verdict"] for f in s["findings"]} == {"undetermined"}
    assert "near chance" in s["findings"][0]["text"]
    pair = analysis.spearman_seeds(np.array([[0.1, 0.2], [0.3, 0.5]]),
                                   np.array([[1.0, 2.0], [3.0, 4.0]]))   # 2 seeds: rho, no interval
    assert pair["rho"] == pytest.approx(1.0) and pair["lo"] is None and pair["n"] == 4
    assert analysis._rho_text(pair) == "+1.00 (no interval: 2 seeds)"
    flat = analysis.spearman_seeds(np.array([[0.1, 0.2], [0.3, 0.4]]), np.ones((2, 2)))
    assert flat["rho"] is None and flat["n"] == 4 and "constant" in analysis._rho_text(flat)
    two = analysis.spearman_seeds(np.array([[0.1, np.nan], [0.2, np.nan]]),
                                  np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert two["rho"] is None and two["n"] == 2 and analysis._rho_text(two).startswith("n/a")


def _a_metrics(cfg, arms, t, learned, rng):
    A, S, K = t.shape
    from utils.frequency import LearningState
    state = np.where(learned, LearningState.LEARNED, LearningState.NOT_LEARNED)
    return {"t": t, "learned": learned, "delta": rng.uniform(0, 0.05, (A, S, 4, K)),
            "gain": rng.uniform(0.9, 1.0, (A, S, 4, K)), "state": state,
            "below_since": np.full((A, S, K), np.nan)}


def test_experiment_a_summary_spearman_n_and_takeaway():
    import dataclasses

    from experiments import exp_a_analysis, exp_a_core as exp_a
    cfg = dataclasses.replace(exp_a.Config().quick(), seeds=(0, 1), freqs=(5, 20, 50))
    arms = exp_a.build_arms(cfg)
    A, S, K = len(arms), len(cfg.seeds), len(cfg.freqs)
    rng = np.random.default_rng(0)
    t = np.broadcast_to(np.array([100.0, 800.0, 2000.0]), (A, S, K)).copy()
    learned = np.ones((A, S, K), bool)
    t[1:, :, -1] = np.nan                          # every other arm misses k_max
    learned[1:, :, -1] = False
    t[1, :, 1:] = np.nan                           # arm 1 learns only k_min: 2 points
    learned[1, :, 1:] = False
    per_arm, rows, _, _ = exp_a_analysis.summarise(cfg, arms, _a_metrics(cfg, arms, t, learned, rng))
    base, weak = per_arm["baseline"], per_arm[arms[1].name]
    assert base["spearman_k_vs_t"] == pytest.approx(1.0) and base["spearman_n_learned"] == S * K
    assert base["spearman_text"] == f"+1.00 (n = {S * K} learned of {S * K})"
    # arm 1: k = 5 learned in 2 seeds, nothing else -- 2 informative points, withheld
    assert weak["spearman_k_vs_t"] is None and weak["spearman_n_learned"] == 2
    assert weak["spearman_text"] == "n/a (n = 2 learned of 6 < 3)"
    fd = base["frequencies"][str(cfg.freqs[0])]["final_delta"]
    assert fd["lo"] >= 0.0                           # Delta_k >= 0: interval cut at 0
    line = verdicts.takeaway_a(per_arm, cfg.freqs, cfg.steps)
    order = ", ".join(str(k) for k in cfg.freqs)
    assert f"baseline learned k = {order} in that order" in line
    # missed k_max in every seed, the baseline learned it at 2000: the delay is a bound
    assert (f"{arms[1].name} at k = {max(cfg.freqs)}: median delay >= {cfg.steps - 2000:+d} steps "
            f"over {S} seeds, 0 learned") in line


def test_another_experiment_brings_its_own_statistic():
    st_a = verdicts.Statistic("final gain at k = 50 minus the baseline's", -1, 0.05, "figures/a.png")
    (f,) = claim_verdicts("l2_lowpass", [_arm("l2", [-0.3, -0.32, -0.29])], "syn",
                          primary=st_a, experiment="A")
    assert f["experiment"] == "A" and f["statistic"] == st_a.name and f["sesoi"] == 0.05
    assert f["verdict"] == "supported" and f["figure"] == "figures/a.png"
