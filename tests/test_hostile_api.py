"""--config types, the Python API and arm semantics (issue 25): a value of
the wrong type from a saved config.json is refused naming the field and the
type; test labels the model never trains on are refused; a script without
an ``if __name__ == '__main__':`` guard gets one clear line, not a
BrokenProcessPool; an arm named 'baseline' is the base regimen."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import main
from experiments import exp_a_synthetic as exp_a
from experiments import exp_b_spectrum_evolution as exp_b
from experiments import exp_c_robustness as exp_c
from utils.config import check_types
from tests.fixtures.runs import one_line as _one_line, run_cli as _run

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- --config types

@pytest.mark.parametrize("exp, mod, field, value, expected", [
    ("b", exp_b, "augment", "false", "a boolean"),
    ("b", exp_b, "augment", 0, "a boolean"),
    ("b", exp_b, "seeds", 3, "a list of an integer"),
    ("b", exp_b, "seeds", [0, "1"], "a list of an integer"),
    ("b", exp_b, "lr", "0.1", "a number"),
    ("b", exp_b, "batch_size", 64.0, "an integer"),
    ("b", exp_b, "n_train", True, "an integer or null"),
    ("b", exp_b, "widths", "16,32", "a list of an integer"),
    ("b", exp_b, "model", 5, "a string"),
    ("a", exp_a, "width", "64", "an integer"),
    ("c", exp_c, "gaussian_sigmas", 0.1, "a list of a number"),
])
def test_a_saved_config_of_the_wrong_type_is_refused(capsys, tmp_path, exp, mod, field, value,
                                                     expected):
    fields = dataclasses.asdict(mod.Config().quick())
    assert field in fields
    fields[field] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"argv": [], "experiments": {exp: fields}}))
    for argv in (["--config", path, "--out", tmp_path / "out"], ["--resume", tmp_path]):
        code, out, err = _run(capsys, *argv)
        line = _one_line(err)
        assert code == 2 and f"{field}: expected {expected}" in line, line
    assert not (tmp_path / "out").exists()


def test_every_default_config_has_its_own_types():
    for mod in (exp_a, exp_b, exp_c):
        check_types(mod.Config())
        check_types(mod.Config().quick())
    with pytest.raises(ValueError, match="augment: expected a boolean"):
        exp_b.validate(dataclasses.replace(exp_b.Config(), augment="false"))


# --------------------------------------------------------------------------- Python API

def _images(n, labels):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g), labels


@pytest.mark.parametrize("train_labels, test_labels, unseen", [
    ([0, 1, 2, 3], [0, 1, 2, 3, 4], [4]),
    ([0, 1], [0, 1, 2, 3], [2, 3]),
    ([1, 2, 3], [0, 1], [0]),
])
def test_test_labels_never_trained_on_are_refused(tmp_path, train_labels, test_labels, unseen):
    from data.user import as_image_data
    tr_y = torch.tensor(train_labels * 4)
    te_y = torch.tensor(test_labels * 2)
    tr_x, _ = _images(len(tr_y), tr_y)
    te_x, _ = _images(len(te_y), te_y)
    with pytest.raises(ValueError, match=rf"test_y: labels {unseen}".replace("[", r"\[")
                       .replace("]", r"\]")):
        as_image_data((tr_x, tr_y, te_x, te_y), dataset_id="mine")
    with pytest.raises(ValueError, match="never appear in train_y"):
        main.run_experiment("b", {"seeds": (0,), "epochs": 1}, data=(tr_x, tr_y, te_x, te_y),
                            dataset_id="mine", out=tmp_path / "out", log_to_stdout=False)
    assert not (tmp_path / "out").exists()
    # the same data without the unseen test images is accepted
    keep = torch.isin(te_y, tr_y)
    data = as_image_data((tr_x, tr_y, te_x[keep], te_y[keep]), dataset_id="mine")
    assert data.test_y.numel() == int(keep.sum())


def test_a_script_without_a_main_guard_gets_one_clear_line(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport main\n"
                      f"main.run_experiment('a', {{'seeds': (0, 1)}}, quick=True, "
                      f"out={str(tmp_path / 'out')!r}, jobs={{'workers': 2}}, "
                      f"log_to_stdout=False)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    assert "BrokenProcessPool" not in proc.stderr
    assert "put the call under `if __name__ == '__main__':`" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("utils.executor.WorkerDied")
    # the workers started no run of their own
    assert len(list((tmp_path / "out").iterdir())) == 1


# --------------------------------------------------------------------------- arms

@pytest.mark.parametrize("exp, arm", [("b", "baseline:l2=1e-4"), ("b", "baseline:dropout=0.2"),
                                      ("a", "baseline:l2=3e-4"),
                                      ("b", "baseline:label_smoothing=0.1")])
def test_an_arm_named_baseline_with_a_regulariser_is_refused(capsys, tmp_path, exp, arm):
    code, out, err = _run(capsys, "--experiment", exp, "--arm", arm, "--arm", "l2",
                          "--out", tmp_path / "out")
    assert code == 2 and "arm 'baseline' carries a regulariser" in _one_line(err)
    assert not (tmp_path / "out").exists()
