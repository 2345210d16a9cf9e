"""Regimens end to end: a quick sweep through A, B and C (dose-response
figures and tables from the saved arrays), custom arms from the command line,
and B's kept early-stopping checkpoints evaluated by C."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

import main

# A smaller than --quick inside an 'all' run (the checks here do not depend on
# A's size): as tests.fixtures.runs.SMALL_A, through the a. prefix.
A_SMALL = ("--set", "a.steps=30", "--set", "a.n_checkpoints=10", "--set", "a.gif_frames=4")


@pytest.fixture(scope="module")
def sweep_all(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    code = main.main(["--experiment", "all", "--quick", "--seeds", "2", "--workers", "1",
                      "--sweep", "l2=0,1e-3,1e-2", "--set", "b.epochs=2", *A_SMALL,
                      "--out", str(out)])
    assert code == 0
    return next(out.glob("*_all_quick"))


@pytest.mark.slow
def test_sweep_pairs_every_value_with_the_baseline_and_draws_dose_response(sweep_all):
    for part, figs in (("exp_a", ("exp_a_dose_response.png", "exp_a_dose_delay.png")),
                       ("exp_b", ("exp_b_dose_response.png",)),
                       ("exp_c", ("exp_c_dose_response.png",))):
        axis = json.loads((sweep_all / part / "sweep.json").read_text())
        assert axis["knob"] == "l2" and axis["values"] == [0.0, 1e-3, 1e-2]
        assert [axis["arm_names"][i] for i in axis["arms"]] == ["baseline", "l2=0.001", "l2=0.01"]
        for name in figs:
            img = iio.imread(sweep_all / part / "figures" / name)
            assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
        summary = json.loads((sweep_all / part / "summary.json").read_text())
        assert any(f["file"] == f"figures/{figs[0]}" for f in summary["figures"])
    # paired: every arm of a seed starts from the same weights (B's epoch 0)
    with np.load(sweep_all / "exp_b" / "exp_b_arrays.npz") as z:
        for s in range(2):
            for a in range(1, 3):
                assert np.array_equal(z["conv1"][a, s, 0], z["conv1"][0, s, 0])
    b = json.loads((sweep_all / "exp_b" / "summary.json").read_text())
    table = next(t for t in b["tables"] if t["title"].startswith("Dose-response"))
    assert [r[0] for r in table["rows"]] == ["0", "0.001", "0.01"]
    assert b["regimens"]["l2=0.01"]["l2"] == 0.01
    # --report redraws them from the folder alone
    (sweep_all / "exp_b" / "figures" / "exp_b_dose_response.png").unlink()
    assert main.main(["--report", str(sweep_all)]) == 0
    assert (sweep_all / "exp_b" / "figures" / "exp_b_dose_response.png").is_file()


@pytest.mark.slow
def test_custom_arms_and_early_stopping_checkpoints(tmp_path):
    out = tmp_path / "b"
    code = main.main(["--experiment", "b", "--quick", "--seeds", "1", "--set", "epochs=2",
                      "--set", "keep_epochs=1", "--arm", "baseline",
                      "--arm", "conv:dropout=0.3,dropout_at=conv",
                      "--arm", "mix:l2=1e-3,label_smoothing=0.1,input_noise=0.05,augment=none",
                      "--out", str(out)])
    assert code == 0
    b_run = next(out.glob("*_b_quick"))
    summary = json.loads((b_run / "summary.json").read_text())
    assert list(summary["arms"]) == ["baseline", "conv", "mix"]
    assert summary["regimens"]["conv"]["dropout_at"] == "conv"
    assert summary["arms"]["mix"]["label"].startswith("mix (L2 penalty 0.001")
    assert (b_run / "checkpoints" / "conv_seed0_epoch1.pt").is_file()
    c_out = tmp_path / "c"
    code = main.main(["--experiment", "c", "--quick", "--from-run", str(b_run),
                      "--set", "epoch=1", "--out", str(c_out)])
    assert code == 0
    c = json.loads((next(c_out.glob("*_c_quick")) / "summary.json").read_text())
    assert c["b_epoch"] == 1
    with np.load(b_run / "exp_b_arrays.npz") as z:
        want = z["test_acc"][:, 0, 1]
    got = [m["clean_acc"] for m in c["models"]]
    np.testing.assert_allclose(got, want, atol=1e-12)   # the epoch-1 models, not the last
    assert not any("differs from B's" in w for w in c["warnings"])
    code = main.main(["--experiment", "c", "--quick", "--from-run", str(b_run),
                      "--set", "epoch=2", "--out", str(c_out / "x")])
    assert code == 2 and not (c_out / "x").exists()


@pytest.mark.slow
def test_a_users_model_by_import_path_through_b_and_c(tmp_path):
    spec = "tests.fixtures.user_models:tiny_net"
    code = main.main(["--experiment", "all", "--quick", "--seeds", "1", "--workers", "1",
                      "--arm", "baseline", "--arm", "dropout", "--set", "b.model=" + spec,
                      "--set", "b.epochs=1", *A_SMALL, "--out", str(tmp_path)])
    assert code == 0
    run = next(tmp_path.glob("*_all_quick"))
    b = json.loads((run / "exp_b" / "summary.json").read_text())
    assert b["model"] == spec and list(b["arms"]) == ["baseline", "dropout"]
    with np.load(run / "exp_b" / "exp_b_arrays.npz") as z:
        assert z["conv1"].shape[-2:] == (5, 5)
    c = json.loads((run / "exp_c" / "summary.json").read_text())
    assert not any("differs from B's" in w for w in c["warnings"])
    for bad in ("tests.fixtures.user_models:nope", "no_such_pkg.mod:f", "justaname:"):
        assert main.main(["--experiment", "b", "--quick", "--set", "model=" + bad,
                          "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
