"""Experiment B end to end on tiny data: files, spectra, SSR, resume, errors."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

import main
from experiments import exp_b_spectrum_evolution as exp_b

QUICK = ["--experiment", "b", "--quick", "--dataset", "synthetic"]


@pytest.fixture(scope="module")
def quick_b(tmp_path_factory):
    out = tmp_path_factory.mktemp("b")
    assert main.main([*QUICK, "--out", str(out)]) == 0
    return next(p for p in out.iterdir() if p.name.endswith("_b_quick"))


def test_run_folder_and_figures(quick_b):
    for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "exp_b_arrays.npz",
                 "report.html", "figures/exp_b_spectrum_evolution.png",
                 "figures/exp_b_ssr_comparison.png", "figures/exp_b_accuracy.png",
                 "figures/exp_b_hff.png", "figures/exp_b_kernels.png",
                 "figures/exp_b_radial_profiles.png"):
        assert (quick_b / name).is_file(), name
    summary = json.loads((quick_b / "summary.json").read_text())
    assert summary["dataset_id"] == "synthetic-v2"
    with np.load(quick_b / "exp_b_arrays.npz") as z:  # the figures' titles read it from here
        assert str(z["dataset_id"]) == "synthetic-v2"
    for c in summary["checkpoints"]:
        assert (quick_b / c["path"]).is_file()


def test_spectra_shapes_and_init_recorded_before_first_step(quick_b):
    cfg = exp_b.Config().quick()
    z = np.load(quick_b / "exp_b_arrays.npz")
    A, S, E1 = len(cfg.arms), len(cfg.seeds), cfg.epochs + 1
    assert z["conv1"].shape == (A, S, E1, cfg.widths[0], 3, cfg.k1, cfg.k1)
    assert z["ring_energy"].shape[:3] == (A, S, E1)
    assert z["ring_energy"].shape[-1] == z["ring_frequency"].size
    # epoch 0 is the initial state: identical across arms of a seed, and equal
    # to a freshly initialised model with that seed (before any step)
    data = exp_b.load_data(dataclasses.replace(exp_b.Config().quick(), dataset="synthetic"))
    for s, seed in enumerate(cfg.seeds):
        init = exp_b.initial_state(dataclasses.replace(cfg, dataset="synthetic"), data, seed)
        for a in range(A):
            np.testing.assert_array_equal(z["conv1"][a, s, 0], init["conv1.weight"].numpy())
    assert not np.array_equal(z["conv1"][0, 0, 0], z["conv1"][0, 0, 1])
    # Parseval: ring energies sum to ||W||^2 at every epoch
    np.testing.assert_allclose(z["ring_energy"].sum(-1), z["norm_sq"], rtol=1e-5)


def test_ssr_finite_and_decomposition(quick_b):
    z = np.load(quick_b / "exp_b_arrays.npz")
    assert np.all(np.isfinite(z["ssr_time_norm"])) and np.all(np.isfinite(z["ssr_time_abs"]))
    np.testing.assert_allclose(z["ssr_time_norm"][:, :, 0], 0.0, atol=1e-12)
    assert np.all(np.isnan(z["ssr_base_norm"][0]))            # baseline vs itself
    assert np.all(np.isfinite(z["ssr_base_norm"][1:]))
    ratio = z["norm_sq"] / z["norm_sq"][:, :, :1]
    np.testing.assert_allclose(1 - z["ssr_time_abs"], ratio * (1 - z["ssr_time_norm"]),
                               rtol=1e-4, atol=1e-6)
    summary = json.loads((quick_b / "summary.json").read_text())
    # l2 and l2w test the L2 claim, dropout and dropconv the dropout claim: 4 findings
    assert len(summary["verdicts"]) == len(summary["findings"]) == 4
    assert summary["identity_max_residual"] < 1e-9


def test_final_checkpoint_reproduces_reported_accuracy(quick_b):
    from models import build_model
    from utils.checkpoints import load_checkpoint
    from utils.training import evaluate
    summary = json.loads((quick_b / "summary.json").read_text())
    c = summary["checkpoints"][-1]
    meta = torch.load(quick_b / c["path"], weights_only=True)["meta"]
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_kwargs"].items()}
    model = build_model(meta["model"], meta["num_classes"], meta["in_channels"],
                        meta["dropout"], **kw)
    load_checkpoint(quick_b / c["path"], model=model)
    data = exp_b.load_data(exp_b.config_from_run(quick_b))
    ev = evaluate(model, data.test_x, data.test_y, mean=meta["mean"], std=meta["std"],
                  device="cpu")
    assert ev["acc"] == pytest.approx(c["final_test_acc"])


def test_input_gradient_recorded_and_reproduced_from_the_checkpoint(quick_b):
    """The primary statistic of claims 1-2: recorded per epoch; at epoch 0
    equal across the arms of a seed (same weights, eval mode: dropout off);
    at the end recomputed from the saved model by the library function."""
    from models import build_model
    from utils.checkpoints import load_checkpoint
    from utils.frequency import input_gradient_spectrum
    cfg = exp_b.config_from_run(quick_b)
    z = np.load(quick_b / "exp_b_arrays.npz")
    A, S, E1 = len(cfg.arms), len(cfg.seeds), cfg.epochs + 1
    data = exp_b.load_data(cfg)
    idx = exp_b.input_grad_indices(cfg, data.test_x.shape[0])
    assert z["ig_hff"].shape == (A, S, E1) and z["ig_hff_images"].shape == (A, S, E1, idx.size)
    assert np.all((z["ig_hff"] >= 0) & (z["ig_hff"] <= 1))
    np.testing.assert_allclose(z["ig_hff"][:, :, 0], z["ig_hff"][:1, :, 0].repeat(A, 0),
                               rtol=1e-6)
    summary = json.loads((quick_b / "summary.json").read_text())
    c = summary["checkpoints"][-1]
    meta = torch.load(quick_b / c["path"], weights_only=True)["meta"]
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_kwargs"].items()}
    model = build_model(meta["model"], meta["num_classes"], meta["in_channels"],
                        meta["dropout"], dropout_at=meta["dropout_at"], **kw)
    load_checkpoint(quick_b / c["path"], model=model)
    m, sd = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    x = ((data.test_x[idx].double() - m.double()) / sd.double()).float()
    r = input_gradient_spectrum(model, x, data.test_y[idx], cutoff=cfg.hff_cutoff)
    np.testing.assert_allclose(z["ig_hff_images"][-1, -1, -1], r.hff_per_image, rtol=1e-5)
    assert "input_gradient_hff_vs_baseline" in summary["arms"][c["arm"]]
    f = summary["findings"][0]
    assert f["statistic"].startswith("input-gradient HFF") and f["secondary"] is not None
    assert (quick_b / "figures" / "exp_b_input_gradient.png").is_file()


class _Crash(Exception):
    pass


def test_resume_gives_the_same_result(quick_b, tmp_path, monkeypatch):
    """Crash in the middle of the second job, resume, compare with the
    uninterrupted run: identical weights at every epoch and accuracies."""
    real = exp_b.training.train_one_epoch
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:          # job 2 (l2, seed 0), epoch 2 of 2
            raise _Crash()
        return real(*args, **kwargs)

    monkeypatch.setattr(exp_b.training, "train_one_epoch", crashing)
    assert main.main([*QUICK, "--out", str(tmp_path)]) == 1   # an unexpected error: one line
    monkeypatch.setattr(exp_b.training, "train_one_epoch", real)
    crashed = next(tmp_path.iterdir())
    assert not (crashed / "summary.json").exists()
    assert "_Crash" in (crashed / "error.log").read_text()
    assert main.main(["--resume", str(crashed)]) == 0
    a = np.load(quick_b / "exp_b_arrays.npz")
    b = np.load(crashed / "exp_b_arrays.npz")
    np.testing.assert_array_equal(a["conv1"], b["conv1"])
    np.testing.assert_array_equal(a["test_acc"], b["test_acc"])
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])


def test_non_finite_loss_stops_with_step(tmp_path, capsys):
    code = main.main([*QUICK, "--out", str(tmp_path), "--set", "lr=1e30", "--seed", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "non-finite loss" in err and "step" in err


def test_missing_dataset_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import data.cifar10 as c10
    monkeypatch.setattr(c10, "cifar10_reachable", lambda *a, **k: False)
    code = main.main(["--experiment", "b", "--quick", "--dataset", "cifar10",
                      "--data-root", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "CIFAR-10" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_corrupt_checkpoint_on_resume_is_clear(quick_b, tmp_path, capsys):
    """A damaged checkpoint is a miss (issue 25): named, and its job runs again."""
    broken = tmp_path / "broken"
    shutil.copytree(quick_b, broken)
    victim = next((broken / "checkpoints").iterdir())
    victim.write_bytes(victim.read_bytes()[:100])
    (broken / "summary.json").unlink()        # interrupted: the part is not finished
    code = main.main(["--resume", str(broken)])
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if victim.name in line)
    assert code == 0 and "corrupt" in note and "runs again" in note


def test_every_conv_layer_tracked_on_request(tmp_path):
    cfg = dataclasses.replace(exp_b.Config().quick(), dataset="synthetic", seeds=(0,),
                              arms=("baseline", "l2"), epochs=1, track_all_convs=True)
    exp_b.run(cfg, tmp_path, log=lambda *a: None)
    z = np.load(tmp_path / "exp_b_arrays.npz")
    layers = sorted(k for k in z.files if k.startswith("layer_"))
    assert layers == ["layer_blocks_0", "layer_blocks_4", "layer_conv1"], layers
    first = z[layers[0]]
    assert first.shape[:3] == (2, 1, 2)          # arms, seeds, epochs + 1
    # conv1's tracked ring energies (padded to its 32x32 input) match the
    # spectrum computed from the saved weights
    np.testing.assert_allclose(z["layer_conv1"].sum(-1) * cfg.widths[0] * 3,
                               z["norm_sq"], rtol=1e-4)


def test_study_preset_gives_b_and_c_ten_seeds_on_top_of_the_device_preset():
    from experiments import exp_c_robustness as exp_c
    b = exp_b.preset(exp_b.Config(), "cpu", "study")
    assert b.seeds == tuple(range(10)) and b.n_train == exp_b.PRESETS["cpu"]["n_train"]
    assert exp_b.preset(exp_b.Config(), "cuda", "study").model == "resnet18"
    assert exp_b.preset(exp_b.Config(), "cpu").seeds == exp_b.Config().seeds
    assert exp_c.preset(exp_c.Config(), "cpu", "study").heatmap_n < exp_c.PRESETS["cpu"]["heatmap_n"]
    for mod in (exp_b, exp_c):
        with pytest.raises(ValueError, match="preset"):
            mod.preset(mod.Config(), "cpu", "huge")


@pytest.mark.parametrize("all_convs", [False, True])
def test_spectra_through_the_tracker_equal_bs_own_snapshot(all_convs):
    """The history entries B writes through utils.frequency.SpectrumTracker are
    bitwise those of B's own snapshot before it (kept here as the reference)."""
    from models.cnn import SmallCNN
    from utils.frequency import conv_input_resolutions, radial_power_spectrum

    def old_record(model):
        rec = {"conv1": model.conv1.weight.detach().float().cpu().numpy().copy()}
        if all_convs:
            for name, r in conv_input_resolutions(model, (3, 32, 32), device="cpu").items():
                w = dict(model.named_modules())[name].weight.detach()
                rec[f"conv_spec/{name}"] = radial_power_spectrum(
                    w, pad_to=r, reduce="mean", dtype=torch.float64).energy.cpu().numpy()
        return rec

    torch.manual_seed(0)
    model = SmallCNN(widths=(4, 8, 8))
    cfg = dataclasses.replace(exp_b.Config(), track_all_convs=all_convs)
    tracker = exp_b.spectrum_tracker(model, (3, 32, 32), cfg)
    for epoch in range(3):
        new, old = exp_b.spectra_record(tracker, epoch, all_convs), old_record(model)
        assert sorted(new) == sorted(old) and len(old) == (4 if all_convs else 1)
        for key in old:
            assert new[key].dtype == old[key].dtype, key
            np.testing.assert_array_equal(new[key], old[key], err_msg=key)
        with torch.no_grad():  # the next "epoch": every weight moves
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.1)
    with pytest.raises(ValueError, match="keep_weights"):  # only the latest weights are kept
        tracker.ssr()


def test_ci_text_spells_the_interval_as_before():
    from experiments.exp_b_analysis import ci_text
    d = {"mean": 0.12345, "lo": -0.5, "hi": 0.75, "n": 3}
    assert ci_text(d) == "{:+.3f} [{:+.3f}, {:+.3f}]".format(d["mean"], d["lo"], d["hi"])
    assert ci_text(d, ".3f") == "{:.3f} [{:.3f}, {:.3f}]".format(d["mean"], d["lo"], d["hi"])
    assert ci_text({**d, "lo": float("nan")}) == f"{d['mean']:+.3f} (n = 3, no interval)"
