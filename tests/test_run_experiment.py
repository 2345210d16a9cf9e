"""Experiments from Python: run_experiment writes the same run folder as the
command line, on built-in data or on your own tensors / Dataset."""

import json

import pytest
import torch

import main
from data.user import as_image_data


def _images(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.5
    x[:, y % 3, : 8] += 0.4  # a learnable cue: the class brightens one channel's top half
    return x.clamp(0, 1), y


class _Set(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        self.x, self.y = _images(n, seed)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


@pytest.mark.slow
def test_run_experiment_on_your_own_tensors_writes_the_cli_folder(tmp_path):
    tr_x, tr_y = _images(96, 0)
    te_x, te_y = _images(32, 1)
    run = main.run_experiment("b", {"seeds": (0,), "epochs": 1, "batch_size": 16,
                                    "arms": ("baseline", "l2"), "n_train": None, "n_test": None},
                              out=tmp_path, quick=True, data=(tr_x, tr_y, te_x, te_y),
                              dataset_id="mine-v1", log_to_stdout=False)
    for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "exp_b_arrays.npz",
                 "report.html", "figures/exp_b_ssr_comparison.png"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset_id"] == "mine-v1" and summary["finished"]
    assert json.loads((run / "config.json").read_text())["experiments"]["b"]["dataset"] == "provided"
    # C on the same images, from the B folder
    c = main.run_experiment("c", {"b_run": str(run), "n_eval": 16, "heatmap_n": 2},
                            out=tmp_path / "c", quick=True, data=(tr_x, tr_y, te_x, te_y),
                            dataset_id="mine-v1", log_to_stdout=False)
    cs = json.loads((c / "summary.json").read_text())
    assert not any("differs from B's" in w for w in cs["warnings"])
    # the folder says what it needs to be resumed: the images again
    assert main.main(["--experiment", "c", "--quick", "--from-run", str(run),
                      "--out", str(tmp_path / "x")]) == 2


def test_a_dataset_is_materialised_once_and_named(tmp_path):
    data = as_image_data((_Set(40, 0), _Set(20, 1)), dataset_id="mine-ds")
    assert data.dataset_id == "mine-ds" and data.train_x.dtype == torch.uint8
    assert tuple(data.train_x.shape) == (40, 3, 16, 16) and data.num_classes == 4
    x, _ = _images(40, 0)
    assert torch.equal(data.train_x, (x * 255).round().to(torch.uint8))


@pytest.mark.parametrize("bad, needle", [
    (lambda x, y: (x * 2, y, x, y), "[0, 1]"),
    (lambda x, y: (x, y.float(), x, y), "integer labels"),
    (lambda x, y: (x[:, :, :, :8], y, x, y), "shape"),
    (lambda x, y: (x, y), "expected (image, label)"),
])
def test_bad_user_data_is_one_clear_error(bad, needle, tmp_path):
    x, y = _images(8, 0)
    with pytest.raises(ValueError) as e:
        main.run_experiment("b", out=tmp_path, quick=True, data=bad(x, y), dataset_id="m",
                            log_to_stdout=False)
    assert needle in str(e.value)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="dataset_id"):
        as_image_data((x, y, x, y), dataset_id="no spaces")


def test_bad_overrides_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="l2_reg"):
        main.run_experiment("a", {"l2_reg": float("nan")}, out=tmp_path, quick=True)
    assert not list(tmp_path.iterdir())
