"""--compare overlays runs that swept the same knob on one dose-response
figure per experiment (drawn from the runs' saved arrays by the same
per-run panel function as each run's own figure); a knob that differs gives
a note instead."""

import json
import shutil

import imageio.v3 as iio
import numpy as np
import pytest

import main
from experiments import dose
from utils.report.dose_overlay import overlay_panels


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two quick B sweeps over l2 that differ in the learning rate."""
    out = []
    for lr in ("0.05", "0.2"):
        root = tmp_path_factory.mktemp(f"lr{lr}")
        code = main.main(["--experiment", "b", "--quick", "--seeds", "2", "--sweep", "l2=0,1e-3",
                          "--set", "epochs=1", "--set", f"lr={lr}", "--out", str(root)])
        assert code == 0
        out.append(next(root.glob("*_b_quick")))
    return out


def _compare(dirs, out):
    assert main.main(["--compare", *map(str, dirs), "--out", str(out)]) == 0
    return next(out.glob("*_compare"))


@pytest.mark.slow
def test_compare_overlays_runs_of_the_same_knob(two_runs, tmp_path):
    cmp_dir = _compare(two_runs, tmp_path / "cmp")
    fig = cmp_dir / "figures" / "compare_exp_b_dose.png"
    img = iio.imread(fig)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 600
    html = (cmp_dir / "comparison.html").read_text()
    assert 'src="figures/compare_exp_b_dose.png"' in html
    # at the top of B's section: before the per-run figures and tables
    section = html[html.index('<section id="exp-b">'):]
    assert section.index("compare_exp_b_dose.png") < section.index("<h3>Figures</h3>")
    assert "Dose-response of experiment B over l2, the compared runs overlaid" in html
    assert "dose-note" not in html
    # every run's own figure draws from the same panel data as the overlay
    d = dose.b_dose(two_runs[0])
    assert d["knob"] == "l2" and d["values"] == [0.0, 1e-3]
    # input-gradient HFF, SSR, conv1 HFF and accuracy: every panel a paired difference
    assert [p["series"][0][1].shape for p in d["panels"]] == [(2, 2)] * 4
    assert all(np.all(p["series"][0][1][0] == 0.0) for p in d["panels"])  # the baseline's row
    with np.load(two_runs[0] / "exp_b_arrays.npz") as z:
        np.testing.assert_array_equal(d["panels"][-1]["series"][0][1][1],
                                      z["test_acc"][1, :, -1] - z["test_acc"][0, :, -1])


@pytest.mark.slow
def test_compare_finds_parts_of_an_all_folder_and_notes_another_knob(two_runs, tmp_path):
    # an --experiment all layout holding B in exp_b/
    all_dir = tmp_path / "run_all"
    shutil.copytree(two_runs[1], all_dir / "exp_b")
    (all_dir / "summary.json").write_text(json.dumps({"experiment": "all",
                                                      "parts": {"B": "exp_b"}}))
    cmp_dir = _compare([two_runs[0], all_dir], tmp_path / "cmp_all")
    assert iio.imread(cmp_dir / "figures" / "compare_exp_b_dose.png").ndim == 3
    # the same sweep relabelled as another knob: no shared axis, a note says why
    other = tmp_path / "other_knob"
    shutil.copytree(two_runs[1], other)
    axis = json.loads((other / "sweep.json").read_text())
    (other / "sweep.json").write_text(json.dumps({**axis, "knob": "dropout"}))
    cmp_dir = _compare([two_runs[0], other], tmp_path / "cmp_knob")
    assert not (cmp_dir / "figures" / "compare_exp_b_dose.png").exists()
    html = (cmp_dir / "comparison.html").read_text()
    assert "No dose-response overlay for experiment B: the runs sweep different knobs" in html
    assert f"{two_runs[0].name}: l2; other_knob: dropout" in html


def test_overlay_panels_one_panel_per_measure_one_series_per_run():
    """A's layout: two panels of K series each become 2K panels of one
    series per run, on the union of the runs' values (NaN where absent)."""
    def fake(values, S):
        V = len(values)
        return {"knob": "l2", "values": values, "panels": [
            {"title": "delay", "ylabel": "steps", "reference": 0.0,
             "series": [(f"k={k}", np.full((V, S), float(k))) for k in (5, 20, 50)]},
            {"title": "gain", "ylabel": "gain", "reference": 1.0,
             "series": [(f"k={k}", np.ones((V, S))) for k in (5, 20, 50)]}]}
    values, panels, ncols = overlay_panels([fake([0.0, 1e-3], 2), fake([0.0, 1e-2], 3)],
                                                ["r1", "r2"])
    assert values == [0.0, 1e-3, 1e-2] and ncols == 3
    assert [p["title"] for p in panels] == ["delay\nk=5", "delay\nk=20", "delay\nk=50",
                                            "gain\nk=5", "gain\nk=20", "gain\nk=50"]
    (l1, a1), (l2, a2) = panels[1]["series"]
    assert (l1, l2) == ("r1", "r2") and a1.shape == (3, 2) and a2.shape == (3, 3)
    assert np.all(a1[:2] == 20.0) and np.isnan(a1[2]).all()
    assert np.isnan(a2[1]).all() and np.all(a2[[0, 2]] == 20.0)
