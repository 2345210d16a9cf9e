"""Experiment A's modes (experiments/exp_a_modes.py): gradient descent with the
linearised theory beside it, label noise, held-out points -- end to end
through main.main on tiny configurations, and the pieces with known answers."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from matplotlib.image import imread

import main
from experiments import exp_a_heldout, exp_a_modes, exp_a_noise, exp_a_theory
from experiments import exp_a_analysis as analysis
from experiments import exp_a_core as exp_a
from utils import frequency as fq
from utils.regimen import Regimen

# A small MLP on the two lowest frequencies: GD learns both within 3,000 steps
# and the frozen-kernel prediction orders them as measured (measured 61 and
# 581 steps, predicted 40 and 473; at k = 3 the prediction is much faster
# than the network, which is not lazy at this width).
GD_TINY = ["--set", "optimizer=gd", "--set", "freqs=1,2", "--set", "n_points=32",
           "--set", "width=256", "--set", "depth=2", "--set", "steps=3000",
           "--set", "spectrum_kmax=8", "--set", "gif_frames=2"]
# Small Adam runs for the noise and held-out modes.
ADAM_SMALL = ["--set", "n_points=64", "--set", "spectrum_kmax=16", "--set", "gif_frames=2"]


def _run(tmp_path, *extra) -> tuple:
    code = main.main(["--experiment", "a", "--quick", "--seed", "0", "--out", str(tmp_path),
                      *extra])
    assert code == 0
    run_dir = next(p for p in tmp_path.iterdir() if p.name.endswith("_a_quick"))
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def _cfg(run_dir) -> exp_a.Config:
    return exp_a.config_from_run(run_dir)


# --------------------------------------------------------------------------
# GD + theory
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gd_run(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("gd")
    return _run(tmp, *GD_TINY, "--set", "arms=baseline,l2", "--set", "l2_reg=1e-3")


@pytest.mark.slow
def test_gd_theory_writes_its_file_figures_and_table(gd_run):
    run_dir, summary = gd_run
    arr = np.load(run_dir / "exp_a_arrays.npz")
    th = np.load(run_dir / "exp_a_theory.npz")
    assert th["pred_delta"].shape == arr["delta"].shape
    assert th["pred_gain"].shape == arr["gain"].shape
    assert th["ntk_eigenvalues"].shape == (1, 32)
    assert np.all(np.diff(th["ntk_eigenvalues"][0]) <= 0)            # descending
    # steady state only for the L2 arm
    assert np.all(np.isnan(th["steady_gain"][0])) and np.all(np.isfinite(th["steady_gain"][1]))
    for name in ("exp_a_theory_curves.png", "exp_a_ntk_spectrum.png"):
        assert (run_dir / "figures" / name).exists()
    titles = [t["title"] for t in summary["tables"]]
    assert any(t.startswith("Linearised-network prediction") and "reference only" not in t
               for t in titles)
    assert summary["modes"]["optimizer"] == "gd"


@pytest.mark.slow
def test_gd_theory_predicts_the_measured_learning_order(gd_run):
    run_dir, summary = gd_run
    arr = np.load(run_dir / "exp_a_arrays.npz")
    th = np.load(run_dir / "exp_a_theory.npz")
    for a in range(2):
        measured = exp_a_theory.learning_order(arr["t_learn"][a], arr["learned"][a])
        predicted = exp_a_theory.learning_order(th["pred_t_learn"][a], th["pred_learned"][a])
        assert measured is not None and measured == predicted == [0, 1]
    assert summary["modes"]["theory_order_agrees"] == {"baseline": True, "l2": True}


@pytest.mark.slow
def test_prediction_starts_from_the_measured_initial_network(gd_run):
    # Step 0 of the prediction is the linearisation point itself: same network.
    run_dir, _ = gd_run
    arr = np.load(run_dir / "exp_a_arrays.npz")
    th = np.load(run_dir / "exp_a_theory.npz")
    np.testing.assert_allclose(th["pred_delta"][:, :, 0], arr["delta"][:, :, 0], atol=1e-5)


@pytest.mark.slow
def test_gd_step_size_is_the_stable_step_of_the_initial_kernel(gd_run):
    run_dir, summary = gd_run
    cfg = _cfg(run_dir)
    _, u, y = exp_a_theory.training_arrays(cfg, 0)
    theta = fq.empirical_ntk(exp_a.initial_model(cfg, 0), u)
    for a, arm in enumerate(exp_a.build_arms(cfg)):
        want = fq.stable_gd_lr(theta, y.size, safety=0.9, l2=exp_a_modes.effective_l2(arm))
        assert summary["modes"]["gd_lr"][a][0] == pytest.approx(want, rel=1e-12)


def test_decoupled_gd_is_the_penalty_at_half_strength(one_thread):
    # SGD weight decay wd without momentum: W <- W - eta (grad + wd W), the
    # update of the penalty (wd / 2) ||W||^2. Same eta (same effective l2).
    cfg = dataclasses.replace(exp_a.Config().quick(), optimizer="gd", steps=20, warmup_steps=2,
                              n_checkpoints=5, width=32, depth=2, n_points=64, freqs=(2, 5))
    dec = Regimen(name="d", l2=2e-3, l2_mode="decoupled", dropout_at="hidden")
    pen = Regimen(name="p", l2=1e-3, l2_mode="penalty", dropout_at="hidden")
    assert exp_a_modes.effective_l2(dec) == exp_a_modes.effective_l2(pen) == 1e-3
    p_dec = exp_a.train_job(cfg, dec, 0)["preds"]
    p_pen = exp_a.train_job(cfg, pen, 0)["preds"]
    np.testing.assert_allclose(p_dec, p_pen, atol=1e-5)
    base = exp_a.train_job(cfg, Regimen(name="b", dropout_at="hidden"), 0)["preds"]
    assert np.abs(base[-1] - p_pen[-1]).max() > 10 * np.abs(p_dec[-1] - p_pen[-1]).max()


@pytest.mark.parametrize("optimizer, l2_mode", [("gd", "decoupled"), ("adam", "decoupled"),
                                               ("adam", "penalty")])
def test_stacked_optimizer_is_torch_optim_with_the_regimen_groups(one_thread, optimizer, l2_mode):
    # The stacked optimiser against torch.optim on one model with the
    # regimen's own param_groups (SGD without momentum for GD, AdamW/Adam),
    # fed the same gradients for a few steps.
    cfg = dataclasses.replace(exp_a.Config().quick(), optimizer=optimizer, width=16, depth=2)
    arm = Regimen(name="d", l2=1e-2, l2_mode=l2_mode, dropout_at="hidden")
    ref = exp_a.initial_model(cfg, 0)
    net = exp_a.StackedMLP([exp_a.initial_model(cfg, 0)], torch.device("cpu"))
    _, decay = exp_a._job_regimen_parts(arm, ref)
    lr = 0.05
    if optimizer == "gd":
        torch_opt = torch.optim.SGD(arm.param_groups(ref), lr=lr, momentum=0.0)
    elif l2_mode == "decoupled":
        torch_opt = torch.optim.AdamW(arm.param_groups(ref), lr=lr)
    else:
        torch_opt = torch.optim.Adam(ref.parameters(), lr=lr)
    opt = exp_a.StackedOptimizer(net.params, optimizer, torch.tensor([lr]),
                                 {n: torch.tensor([decay[n]]) for n in net.params})
    assert sorted(n for n, d in decay.items() if d) == sorted(
        n for n, _ in ref.named_parameters() if n.endswith("weight")) or l2_mode == "penalty"
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        for n, p in ref.named_parameters():
            p.grad = torch.randn(p.shape, generator=g)
            net.params[n].grad = p.grad[None].clone()
        torch_opt.step()
        opt.step(1.0)
    for n, p in ref.named_parameters():
        torch.testing.assert_close(net.params[n][0].detach(), p.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_theory_under_adam_is_labelled_reference_only(tmp_path):
    run_dir, summary = _run(tmp_path, *ADAM_SMALL, "--set", "theory=true",
                            "--set", "arms=baseline", "--set", "freqs=2,5")
    assert (run_dir / "exp_a_theory.npz").exists()
    assert summary["modes"]["theory_reference_only"] is True
    assert any("reference only" in t["title"] for t in summary["tables"])


def test_default_run_has_no_mode_outputs(tmp_path):
    run_dir, summary = _run(tmp_path, *ADAM_SMALL, "--set", "arms=baseline", "--set", "freqs=2,5")
    assert "modes" not in summary
    for name in ("exp_a_theory.npz", "exp_a_noise.npz", "exp_a_heldout.npz"):
        assert not (run_dir / name).exists()
    assert exp_a_modes.training_set(_cfg(run_dir), None, 0, None, None) is None


# --------------------------------------------------------------------------
# Label noise
# --------------------------------------------------------------------------

def test_noise_is_the_formula_and_the_same_in_every_arm_of_a_seed():
    cfg = dataclasses.replace(exp_a.Config(), noise_freqs=(7, 9), noise_amplitudes=(0.5, 2.0),
                              noise_phase=0.3, white_noise=0.1)
    x = 2 * np.pi * np.arange(cfg.n_points) / cfg.n_points
    sinus, white = exp_a_modes.noise_parts(cfg, x, 3)
    np.testing.assert_allclose(sinus, 0.5 * np.sin(7 * x + 0.3) + 2.0 * np.sin(9 * x + 0.3))
    s2, w2 = exp_a_modes.noise_parts(cfg, x, 3)
    assert np.array_equal(white, w2)
    _, w4 = exp_a_modes.noise_parts(cfg, x, 4)
    assert not np.array_equal(white, w4)
    assert white.std() == pytest.approx(0.1, rel=0.2)
    target = exp_a.target(cfg, 3)
    u, y = target.tensors()
    ut, yt = exp_a_modes.training_set(cfg, target, 3, u, y)
    np.testing.assert_allclose(yt[:, 0].numpy(), (target.y + sinus + white).astype(np.float32),
                               rtol=1e-6, atol=1e-6)


def test_noise_metrics_known_answer():
    # Output 0 is exactly clean + noise, output 1 exactly clean (Delta 1, gain 0).
    cfg = dataclasses.replace(exp_a.Config().quick(), seeds=(0,), noise_freqs=(30,),
                              noise_amplitudes=(0.5,), white_noise=0.2)
    t = exp_a.target(cfg, 0)
    sinus, white = exp_a_modes.noise_parts(cfg, t.x, 0)
    preds = np.stack([t.y + sinus + white, t.y])[:, None, None, :].repeat(3, axis=2)
    nz = exp_a_noise.noise_metrics(cfg, np.array([0, 1, 2]), preds)
    # output 0 reproduces the noise: what is left at k_n is the white noise's coefficient
    Z, W = fq.dft_coefficients(sinus, [30]), fq.dft_coefficients(white, [30])
    np.testing.assert_allclose(nz["noise_delta"][0], np.abs(W / Z)[0], rtol=1e-5)
    np.testing.assert_allclose(nz["noise_gain"][0], 1 + np.real(W / Z)[0], rtol=1e-5)
    np.testing.assert_allclose(nz["noise_delta"][1], 1, atol=1e-6)
    np.testing.assert_allclose(nz["noise_gain"][1], 0, atol=1e-6)
    np.testing.assert_allclose(nz["white_fit"][0], 1, atol=1e-4)
    np.testing.assert_allclose(nz["white_fit"][1], 0, atol=1e-6)
    assert exp_a_noise.verdict(0.01, 0.99, 0.1) == "memorised"
    assert exp_a_noise.verdict(0.99, 0.01, 0.1) == "refused"


@pytest.mark.slow
def test_huge_low_frequency_noise_is_memorised_by_the_baseline(tmp_path):
    run_dir, summary = _run(tmp_path, *ADAM_SMALL, "--set", "freqs=2,5", "--set", "arms=baseline",
                            "--set", "noise_freqs=3", "--set", "noise_amplitudes=5")
    nz = np.load(run_dir / "exp_a_noise.npz")
    assert nz["noise_delta"].shape == (1, 1, np.load(run_dir / "exp_a_arrays.npz")["steps"].size, 1)
    assert nz["noise_delta"][0, 0, 0, 0] > 0.5      # not there at init
    assert nz["noise_delta"][0, 0, -1, 0] < 0.1     # memorised by the end
    assert summary["modes"]["noise_verdicts"] == {"baseline": {"3": "memorised"}}
    assert (run_dir / "figures" / "exp_a_noise_curves.png").exists()
    assert any(t["title"].startswith("Label noise") for t in summary["tables"])


# --------------------------------------------------------------------------
# Held-out points
# --------------------------------------------------------------------------

def test_subgrid_spectra_average_to_the_full_grid_dft():
    # The full-grid sum is the even sum plus the odd sum; each sub-grid
    # coefficient in the N convention is twice its sum, so their mean is the
    # full DFT -- for any signal, band-limited or not.
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 64))
    tr, ho = exp_a_heldout.subgrid_spectra(v, [0, 3, 7, 15], 64)
    np.testing.assert_allclose((tr + ho) / 2, fq.dft_coefficients(v, [0, 3, 7, 15]), atol=1e-10)
    # band-limited below N/4: each sub-grid alone gives the full DFT
    x = 2 * np.pi * np.arange(64) / 64
    y = np.sin(3 * x + 0.4) + 0.5 * np.cos(7 * x)
    tr, ho = exp_a_heldout.subgrid_spectra(y, [3, 7], 64)
    np.testing.assert_allclose(tr, fq.dft_coefficients(y, [3, 7]), atol=1e-10)
    np.testing.assert_allclose(ho, fq.dft_coefficients(y, [3, 7]), atol=1e-10)


@pytest.mark.slow
def test_heldout_run_trains_on_even_points_and_reports_both(tmp_path):
    run_dir, summary = _run(tmp_path, *ADAM_SMALL, "--set", "freqs=2,5", "--set", "arms=baseline",
                            "--set", "train_points=even")
    arr = np.load(run_dir / "exp_a_arrays.npz")
    hm = np.load(run_dir / "exp_a_heldout.npz")
    assert hm["delta_train"].shape == hm["delta_heldout"].shape == arr["delta"].shape
    cfg = _cfg(run_dir)
    tr, ho = exp_a_heldout.subgrid_spectra(arr["preds"].astype(np.float64), cfg.freqs, 64)
    Y = fq.dft_coefficients(exp_a.target(cfg, 0).y, cfg.freqs)
    np.testing.assert_allclose(hm["delta_heldout"], fq.relative_error(ho, Y), atol=1e-9)
    # the loss is on the even points only: the recorded initial loss is theirs
    p0 = arr["preds"][0, 0, 0].astype(np.float64)
    y = exp_a.target(cfg, 0).y
    assert arr["train_loss"][0, 0, 0] == pytest.approx(np.mean((p0[::2] - y[::2]) ** 2), rel=1e-4)
    assert (run_dir / "figures" / "exp_a_heldout.png").exists()
    assert any(t["title"].startswith("Held-out points") for t in summary["tables"])


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"optimizer": "sgd"}, "optimizer"),
    ({"train_points": "odd"}, "train_points"),
    ({"noise_freqs": (20,)}, "noise_freqs"),                       # a target frequency
    ({"noise_freqs": (7, 9), "noise_amplitudes": (1.0,)}, "noise_amplitudes"),
    ({"noise_freqs": (300,)}, "noise_freqs"),                      # above N/2
    ({"train_points": "even", "noise_freqs": (130,)}, "noise_freqs"),  # above N/4
    ({"train_points": "even", "optimizer": "gd"}, "theory"),
    ({"white_noise": -1.0}, "white_noise"),
    ({"noise_phase": float("nan")}, "noise_phase"),
])
def test_bad_mode_fields_raise_naming_the_field(changes, field):
    cfg = dataclasses.replace(exp_a.Config(), **changes)
    with pytest.raises(ValueError, match=field):
        exp_a.validate(cfg)


def test_noise_table_shows_the_prediction_only_when_given():
    cfg = dataclasses.replace(exp_a.Config().quick(), seeds=(0,), freqs=(5,), noise_freqs=(9,),
                              steps=10)
    arms = [Regimen(name="baseline")]
    m = {"t": np.array([[[3.0]]]), "learned": np.array([[[True]]]),
         "delta": np.full((1, 1, 2, 1), 0.05), "gain": np.full((1, 1, 2, 1), 0.95)}
    nz = {"noise_t_learn": np.array([[[np.nan]]]), "noise_learned": np.array([[[False]]]),
          "noise_delta": np.full((1, 1, 2, 1), 0.97), "noise_gain": np.full((1, 1, 2, 1), 0.03),
          "white_fit": np.full((1, 1, 2), np.nan)}
    plain = exp_a_noise.table(cfg, arms, m, nz)
    assert len(plain["columns"]) == 7 and all(len(r) == 7 for r in plain["rows"])
    assert plain["rows"][1][1:3] == ["noise k=9", "not learned by T=10"]
    assert plain["rows"][1][-1] == "refused"
    pred = exp_a_noise.table(cfg, arms, m, nz, np.full((1, 1, 2, 1), 0.25))
    assert pred["columns"][-1].startswith("final Delta predicted")
    assert [r[-1] for r in pred["rows"]] == ["-", "0.250"]


@pytest.mark.slow
def test_gd_theory_with_label_noise_predicts_towards_the_noise(tmp_path):
    tiny = [a.replace("steps=3000", "steps=300") for a in GD_TINY]  # one --set per field
    run_dir, summary = _run(tmp_path, *tiny, "--set", "arms=baseline",
                            "--set", "noise_freqs=3", "--set", "noise_amplitudes=0.5")
    th = np.load(run_dir / "exp_a_theory.npz")
    nz = np.load(run_dir / "exp_a_noise.npz")
    assert th["pred_noise_delta"].shape == nz["noise_delta"].shape
    # step 0: prediction and network are the same initial function
    np.testing.assert_allclose(th["pred_noise_delta"][:, :, 0], nz["noise_delta"][:, :, 0],
                               atol=1e-5)
    noise_table = next(t for t in summary["tables"] if t["title"].startswith("Label noise"))
    assert noise_table["columns"][-1].startswith("final Delta predicted")


# --------------------------------------------------------------------------
# --report redraws the mode figures from the saved arrays
# --------------------------------------------------------------------------

def _assert_report_redraws(run_dir, names):
    """Delete the mode figures of a finished run, redraw through ``--report``
    and compare with what the run drew: same pixels, from the .npz files."""
    figs = run_dir / "figures"
    before = {n: imread(figs / n) for n in names}
    for n in names:
        (figs / n).unlink()
        (figs / n).with_suffix(".pdf").unlink()
    assert main.main(["--report", str(run_dir)]) == 0
    for n in names:
        assert (figs / n).stat().st_size > 0 and (figs / n).with_suffix(".pdf").is_file()
        after = imread(figs / n)
        assert after.shape == before[n].shape
        np.testing.assert_array_equal(after, before[n])


@pytest.mark.slow
def test_report_redraws_the_theory_figures(gd_run, tmp_path):
    run_dir = shutil.copytree(gd_run[0], tmp_path / gd_run[0].name)   # the fixture stays intact
    _assert_report_redraws(run_dir, ["exp_a_theory_curves.png", "exp_a_ntk_spectrum.png"])


@pytest.mark.slow
def test_report_redraws_the_noise_and_heldout_figures(tmp_path):
    run_dir, summary = _run(tmp_path, *ADAM_SMALL, "--set", "freqs=2,5", "--set", "arms=baseline",
                            "--set", "noise_freqs=7", "--set", "train_points=even")
    names = ["exp_a_noise_curves.png", "exp_a_heldout.png"]
    assert {f"figures/{n}" for n in names} <= {f["file"] for f in summary["figures"]}
    _assert_report_redraws(run_dir, names)


@pytest.mark.slow
def test_mode_tables_recompute_from_the_saved_arrays(gd_run, tmp_path):
    for run_dir, summary in (gd_run, _run(tmp_path, *ADAM_SMALL, "--set", "freqs=2,5",
                                          "--set", "noise_freqs=7", "--set", "steps=300")):
        tables = analysis.tables_from_run(_cfg(run_dir), run_dir)
        assert tables and summary["tables"][-len(tables):] == json.loads(json.dumps(tables))
