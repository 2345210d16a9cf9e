"""Tidy CSVs: read back with the csv module, values are floats, the row
count follows from the array shapes, and a cell holds its array element."""

import csv
import math

import numpy as np
import pytest

from utils import tidy

A, S = 2, 3


def _read(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == list(tidy.COLUMNS)
    for r in rows:
        float(r["value"])                           # every value is numeric
    return rows


def _base(rng):
    return {"arms": np.array(["baseline", "l2"]), "seeds": np.array([0, 1, 2])}


def test_experiment_a_rows(tmp_path):
    rng = np.random.default_rng(0)
    C, K, R = 4, 3, 6
    t = rng.uniform(1, 100, (A, S, K))
    t[1, 2, 2] = np.nan                             # censored
    z = {**_base(rng), "steps": np.array([0, 1, 10, 100]), "freqs": np.array([5, 20, 50]),
         "delta": rng.uniform(size=(A, S, C, K)), "gain": rng.normal(size=(A, S, C, K)),
         "train_loss": rng.uniform(size=(A, S, C)), "t_learn": t, "learned": ~np.isnan(t),
         "below_since": np.where(np.isnan(t), 50.0, np.nan),
         "residual": rng.uniform(size=(A, S, C, R)), "preds": np.zeros((A, S, C, 8))}
    np.savez(tmp_path / "a.npz", **z)
    path = tidy.write_tidy_csv(tmp_path / "a.csv", tidy.tidy_rows_a(tmp_path / "a.npz"))
    rows = _read(path)
    assert len(rows) == A * S * (2 * C * K + C + 3 * K + C * R)
    hit = [r for r in rows if r["metric"] == "delta" and r["arm"] == "l2" and r["seed"] == "2"
           and r["step"] == "10" and r["k"] == "20"]
    assert len(hit) == 1 and float(hit[0]["value"]) == z["delta"][1, 2, 2, 1]
    assert hit[0]["level"] == ""                     # not applicable: empty cell
    cens = [r for r in rows if r["metric"] == "t_learn" and r["arm"] == "l2" and r["seed"] == "2"
            and r["k"] == "50"]
    assert math.isnan(float(cens[0]["value"])) and cens[0]["step"] == ""
    since = {(r["arm"], r["seed"], r["k"]): float(r["value"]) for r in rows
             if r["metric"] == "below_since"}
    assert since[("l2", "2", "50")] == 50.0 and math.isnan(since[("l2", "1", "50")])
    learned = [float(r["value"]) for r in rows if r["metric"] == "learned"]
    assert sorted(set(learned)) == [0.0, 1.0]


def test_experiment_b_rows(tmp_path):
    rng = np.random.default_rng(1)
    E1, R = 3, 5
    z = {**_base(rng), "epochs": np.arange(E1), "ring_frequency": np.linspace(0, 0.7, R),
         "profile": rng.uniform(size=(A, S, E1, R)), "conv1": np.zeros((A, S, E1, 2, 3, 3, 3))}
    for m in tidy.B_CURVES:
        z[m] = rng.uniform(size=(A, S, E1))
    z["ssr_base_norm"][0] = np.nan                  # baseline vs itself
    np.savez(tmp_path / "b.npz", **z)
    rows = _read(tidy.write_tidy_csv(tmp_path / "b.csv", tidy.tidy_rows_b(tmp_path / "b.npz")))
    assert len(rows) == A * S * E1 * (len(tidy.B_CURVES) + R)
    prof = [r for r in rows if r["metric"] == "profile" and r["arm"] == "baseline"
            and r["seed"] == "1" and r["step"] == "2"]
    np.testing.assert_array_equal([float(r["value"]) for r in prof], z["profile"][0, 1, 2])
    np.testing.assert_allclose([float(r["k"]) for r in prof], z["ring_frequency"])
    assert all(r["experiment"] == "B" for r in rows)


def test_experiment_c_rows(tmp_path):
    rng = np.random.default_rng(2)
    z = {**_base(rng), "curves": np.array(["gaussian", "shot"]),
         "level_gaussian": np.array([0.0, 0.1, 0.2]), "level_shot": np.array([np.inf, 60.0]),
         "heatmap": np.zeros((A, S, 4, 4))}
    for m in ("clean_acc", "clean_acc_eval", "b_final_test_acc", "b_hff_final",
              "b_ssr_base_norm_final"):
        z[m] = rng.uniform(size=(A, S))
    for c, L in (("gaussian", 3), ("shot", 2)):
        z[f"acc_{c}"], z[f"loss_{c}"] = rng.uniform(size=(A, S, L)), rng.uniform(size=(A, S, L))
    np.savez(tmp_path / "c.npz", **z)
    rows = _read(tidy.write_tidy_csv(tmp_path / "c.csv", tidy.tidy_rows_c(tmp_path / "c.npz")))
    assert len(rows) == A * S * (5 + 2 * 3 + 2 * 2)   # no cue arrays in this file
    clean = [r for r in rows if r["metric"] == "acc_shot" and r["level"] == "inf"]
    assert len(clean) == A * S and float(clean[0]["value"]) == z["acc_shot"][0, 0, 0]


def test_bad_rows_and_shapes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rows"):
        tidy.write_tidy_csv(tmp_path / "x.csv", [{"metric": "m", "value": "high"}])
    with pytest.raises(ValueError, match="rows"):
        tidy.write_tidy_csv(tmp_path / "x.csv", [{"metric": "m", "value": 1.0, "colour": 3}])
    with pytest.raises(ValueError, match="hff"):
        list(tidy._grid("B", "hff", np.zeros((2, 3)), ["a"], [0, 1, 2]))
