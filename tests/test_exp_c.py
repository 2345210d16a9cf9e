"""Experiment C: end to end on quick B models, model discovery and its
errors, and known answers for the heat map, the curves and the AUC."""

import dataclasses
import json
import math
import os
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from experiments import exp_c_analysis as analysis
from experiments import exp_c_robustness as exp_c
from utils import checkpoints as ckpt
from utils import frequency as fq

# Every axis of the quick config shrunk further: the tests check plumbing,
# not statistics.
TINY = dataclasses.replace(exp_c.Config().quick(), n_eval=48, heatmap_n=3)


@pytest.fixture(scope="module")
def b_run(quick_all):
    """The shared quick run's B (its default arms x two seeds: small models); read-only."""
    return quick_all / "exp_b"


@pytest.fixture(scope="module")
def c_run(b_run, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("c") / "run"
    cfg = dataclasses.replace(TINY, b_run=str(b_run), n_eval=None)  # the whole B test set
    summary = exp_c.run(cfg, run_dir, log=lambda *_: None)
    return run_dir, summary


@pytest.mark.slow
def test_quick_run_writes_summary_arrays_and_figures(c_run, b_run):
    run_dir, summary = c_run
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["experiment"] == "C" and on_disk["b_run"] == str(b_run)
    assert on_disk["dataset_id"] == json.loads((b_run / "summary.json").read_text())["dataset_id"]
    for key in ("figures", "tables", "warnings", "wall_seconds", "models", "arms"):
        assert key in on_disk, key
    for fig in on_disk["figures"]:
        png = run_dir / fig["file"]
        assert png.is_file() and png.with_suffix(".pdf").is_file(), fig["file"]
        assert fig["caption"]
    names = {os.path.basename(f["file"]) for f in on_disk["figures"]}
    assert {"exp_c_robustness.png", "exp_c_filtered.png", "exp_c_band_profile.png",
            "exp_c_heatmaps.png", "exp_c_heatmap_diff.png", "exp_c_ssr_vs_robustness.png",
            "exp_c_cue_conflict.png"} <= names  # synthetic B run: cue conflict too
    for table in on_disk["tables"]:
        assert all(len(r) == len(table["columns"]) for r in table["rows"]), table["title"]
    b = json.loads((b_run / "summary.json").read_text())
    n_arms, n_seeds = len(b["arms"]), len(b["seeds"])
    assert len(on_disk["models"]) == n_arms * n_seeds
    z = np.load(run_dir / analysis.ARRAYS)
    for key in z.files:
        if key.startswith(("acc_", "clean_acc", "cue_")) or key == "heatmap":
            assert np.all((z[key] >= 0) & (z[key] <= 1)), key
    assert z["heatmap"].shape == (n_arms, n_seeds, 32, 32)
    # the heat map is mirror-symmetric: (u, v) and (-u, -v) hold the same basis
    h = z["heatmap"][..., 1:, 1:]
    assert np.array_equal(h, h[..., ::-1, ::-1])


@pytest.mark.slow
def test_clean_accuracy_equals_b_final_test_accuracy(c_run):
    run_dir, summary = c_run
    z = np.load(run_dir / analysis.ARRAYS)
    assert np.array_equal(z["clean_acc"], z["b_final_test_acc"])
    assert np.array_equal(z["clean_acc_eval"], z["b_final_test_acc"])  # n_eval=None: same set
    for m in summary["models"]:
        assert m["clean_acc"] == m["b_final_test_acc"]
    # every curve's clean first level is the clean accuracy itself
    for c in ("gaussian", "highpass", "lowpass"):
        assert np.array_equal(z[f"acc_{c}"][..., 0], z["clean_acc_eval"])
    assert not any("differs from B" in w for w in summary["warnings"])


@pytest.mark.slow
def test_figures_rebuild_from_the_arrays_alone(c_run):
    run_dir, _ = c_run
    shutil.rmtree(run_dir / "figures")
    paths = analysis.render_figures(run_dir)
    assert len(paths) == 7 and all(p.is_file() for p in paths)


@pytest.mark.slow
def test_same_seed_gives_identical_arrays(c_run, b_run, tmp_path):
    run_dir, _ = c_run
    again = tmp_path / "again"
    exp_c.run(dataclasses.replace(TINY, b_run=str(b_run), n_eval=None), again,
              log=lambda *_: None)
    one, two = (np.load(d / analysis.ARRAYS) for d in (run_dir, again))
    assert sorted(one.files) == sorted(two.files)
    for key in one.files:
        if key != "heatmap_seconds":
            np.testing.assert_array_equal(one[key], two[key], err_msg=key)


def test_perturbations_depend_only_on_image_index_level_and_seed():
    x = torch.rand(6, 3, 32, 32)
    idx = torch.arange(100, 106)
    keep = torch.tensor([4, 1])
    for curve in exp_c.make_curves(dataclasses.replace(exp_c.Config(), corruptions=True), 32):
        for j in (0, len(curve.levels) - 1):
            whole = curve.perturb(x, idx, j)
            part = curve.perturb(x[keep], idx[keep], j)
            assert torch.equal(whole[keep], part), (curve.name, j)
        if curve.name != "filter_low" and curve.name != "filter_high":
            other = exp_c.make_curves(dataclasses.replace(exp_c.Config(), noise_seed=1,
                                                          corruptions=True), 32)
            changed = next(c for c in other if c.name == curve.name).perturb(x, idx, 1)
            assert not torch.equal(changed, curve.perturb(x, idx, 1)), curve.name


def test_gaussian_filter_cutoffs_are_the_half_power_frequencies():
    curves = {c.name: c for c in exp_c.make_curves(exp_c.Config(), 32)}
    x = curves["filter_low"].x
    assert list(x) == sorted(x)
    # docs/DEFINITIONS.md section 4: f50 for sigma = 0.5, 1, 1.5, 2 px
    for f50 in (0.265, 0.133, 0.088, 0.066):
        assert min(abs(v - f50) for v in x) < 0.0015
    band = curves["band"].x
    assert band[0] > 0 and band[-1] < 0.5 * math.sqrt(2) and list(band) == sorted(band)


def test_missing_models_is_one_clear_error(tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    cfg = dataclasses.replace(TINY, results_root=str(empty))
    with pytest.raises(exp_c.MissingModels) as err:
        exp_c.run(cfg, tmp_path / "c", log=lambda *_: None)
    msg = str(err.value)
    assert msg.startswith(f"no experiment-B models found under {empty}/")
    assert "python main.py --experiment b" in msg and "train_if_missing=true" in msg
    with pytest.raises(exp_c.MissingModels, match="not a finished experiment-B run"):
        exp_c.run(dataclasses.replace(TINY, b_run=str(empty)), tmp_path / "c2",
                  log=lambda *_: None)


def test_newest_b_run_is_found_in_plain_and_all_folders(tmp_path):
    def fake(rel, experiment, age):
        path = tmp_path / rel / "summary.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"experiment": experiment}))
        os.utime(path, (1e9 - age, 1e9 - age))

    fake("old_b", "B", 30)
    fake("newer_all/exp_b", "B", 20)
    fake("newest_a", "A", 0)
    fake("broken", "B", 5)
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    assert exp_c.find_b_run(tmp_path) == tmp_path / "newer_all" / "exp_b"
    assert exp_c.find_b_run(tmp_path / "nothing_here") is None


@pytest.mark.slow
def test_checkpoint_for_another_model_and_dataset_is_refused(b_run, tmp_path):
    copy = tmp_path / "b_copy"
    shutil.copytree(b_run, copy)
    path = copy / "checkpoints" / "l2_seed0.pt"
    saved = ckpt.load_checkpoint(path)
    model = nn.Linear(2, 2)
    ckpt.save_checkpoint(path, model=model, epoch=saved["epoch"],
                         meta={**saved["meta"], "model": "resnet18", "dataset_id": "cifar10"})
    with pytest.raises(ckpt.CheckpointError) as err:
        exp_c.run(dataclasses.replace(TINY, b_run=str(copy)), tmp_path / "c", log=lambda *_: None)
    msg = str(err.value)
    for name in ("resnet18", "cifar10", "small_cnn", "synthetic-v2"):
        assert name in msg, (name, msg)


class LowPassEnergyDetector(nn.Module):
    """Says "class 1" when the image, ideally low-passed (radius ``r`` bins),
    has energy above a threshold around grey: a model that sees only the
    frequencies inside the disc."""

    def __init__(self, radius: float, mean, std, threshold: float = 8.0):
        super().__init__()
        self.radius = radius
        self.threshold = nn.Parameter(torch.tensor(threshold), requires_grad=False)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        grey = x * self.std + self.mean - 0.5  # back to [0, 1] pixels, minus grey
        energy = fq.radial_lowpass(grey, self.radius).square().sum(dim=(1, 2, 3))
        return torch.stack([self.threshold - energy, energy - self.threshold], dim=1)


def test_heatmap_of_an_ideal_low_pass_model_lights_up_its_pass_band_only():
    """Independent derivation: a class-0 image is grey plus texture outside
    the disc, so its low-passed energy is 0; a basis of norm v = 4 inside
    the disc adds 16 per channel (48 > 8) and flips it, one outside is
    removed by the filter and changes nothing. A class-1 image carries a
    low-frequency wave of norm 10 per channel, whose low-passed energy stays
    >= 3 * (10 - 4)^2 whatever is added. So with half of the images in each
    class the error is exactly 0.5 inside the disc and 0 outside."""
    P, radius, mean, std = 32, 6.0, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    g = torch.Generator().manual_seed(0)
    texture = fq.radial_highpass(torch.randn(4, 3, P, P, generator=g), radius)
    texture = 0.1 * texture / texture.abs().amax(dim=(1, 2, 3), keepdim=True)
    wave = fq.fourier_basis(P)[P // 2 + 2, P // 2 + 1]  # (u, v) = (2, 1): rho 0.07 c/p
    x = torch.cat([0.5 + texture, (0.5 + 10.0 * wave).expand(4, 3, P, P)])
    y = torch.tensor([0] * 4 + [1] * 4)
    model = LowPassEnergyDetector(radius, mean, std)
    heat = exp_c.fourier_heatmap(model, x, y, indices=torch.arange(10, 18), v=4.0, seed=3,
                                 mean=mean, std=std, batch_size=600, device="cpu")
    k = np.arange(P) - P // 2
    inside = np.hypot(k[:, None], k[None, :]) < radius  # DC centred, rho * P < r
    assert heat.shape == (P, P)
    assert np.array_equal(heat, np.where(inside, 0.5, 0.0))
    assert heat[P // 2, P // 2] == 0.5  # DC sits at the centre


def test_auc_and_spearman_known_answers():
    x = np.array([0.0, 0.5, 2.0])  # uneven spacing: scaled to [0, 0.25, 1]
    assert analysis.auc(x, np.full(3, 0.7)) == pytest.approx(0.7)
    assert analysis.auc(x, 1.0 - x / 2.0) == pytest.approx(0.5)  # a line from 1 to 0
    # accuracy-relative: (acc - chance) / (clean - chance); a model that keeps its clean
    # accuracy scores 1 whatever that accuracy is, one falling linearly to chance 0.5
    clean = np.array([0.9, 0.6])
    keep = np.repeat(clean[:, None], 3, axis=1)
    np.testing.assert_allclose(analysis.relative_auc(x, keep, clean, 0.1), [1.0, 1.0])
    fall = clean[:, None] + (0.1 - clean[:, None]) * (x / 2.0)[None]
    np.testing.assert_allclose(analysis.relative_auc(x, fall, clean, 0.1), [0.5, 0.5])
    assert math.isnan(analysis.relative_auc(x, np.full(3, 0.1), 0.1, 0.1))  # nothing to retain
    assert analysis.spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert math.isnan(analysis.spearman([1, 2], [3, 4]))


@pytest.mark.parametrize("change", [dict(n_eval=0), dict(heatmap_n=-1),
                                    dict(gaussian_sigmas=(0.1, 0.05)), dict(noise_norms=(1.0,)),
                                    dict(filter_family="square"), dict(n_bands=1),
                                    dict(heatmap_v=0.0), dict(noise_cutoff=0.8)])
def test_validate_rejects_bad_fields(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        exp_c.validate(dataclasses.replace(exp_c.Config(), **change))


def _old_evaluate_curves(model, curves, x01, y, idx, *, batch_size, ev):
    """C's own loop before it called the library (kept here as the reference):
    training.evaluate on the clean images and on each whole perturbed set."""
    from utils import training
    out = {"clean_eval": training.evaluate(model, x01, y, batch_size=batch_size, **ev)}
    clean = out["clean_eval"]
    for c in curves:
        acc, loss = np.empty(len(c.levels)), np.empty(len(c.levels))
        for j in range(len(c.levels)):
            r = clean if j == 0 and c.clean_first else training.evaluate(
                model, c.perturb(x01, idx, j), y, batch_size=batch_size, **ev)
            acc[j], loss[j] = r["acc"], r["loss"]
        out[f"acc_{c.name}"], out[f"loss_{c.name}"] = acc, loss
    out["clean_eval"] = clean["acc"]
    return out


@pytest.mark.parametrize("channels_last", [False, True])
def test_curves_through_the_library_equal_cs_own_loop(channels_last):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Dropout(0.3),
                          nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x01 = torch.rand(30, 3, 32, 32)
    y = torch.randint(0, 10, (30,))
    idx = torch.arange(200, 230)
    ev = dict(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), device=torch.device("cpu"),
              amp_dtype=None, channels_last=channels_last)
    cfg = dataclasses.replace(exp_c.Config().quick(), corruptions=True)
    curves = exp_c.make_curves(cfg, 32)
    new = exp_c.evaluate_curves(model, curves, x01, y, idx, batch_size=11, ev=ev)
    old = _old_evaluate_curves(model, curves, x01, y, idx, batch_size=11, ev=ev)
    assert new["clean_eval"] == old["clean_eval"]
    assert new["images"] == 30 * (1 + sum(len(c.levels) - c.clean_first for c in curves))
    for c in curves:
        for what in ("acc", "loss"):
            np.testing.assert_array_equal(new[f"{what}_{c.name}"], old[f"{what}_{c.name}"],
                                          err_msg=f"{what}_{c.name}")
    assert len({float(v) for v in new["loss_gaussian"]}) > 1  # the noise changed something
