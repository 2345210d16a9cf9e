"""A run folder is data, not code (issue 25): a model import path read from
someone else's folder (config.json, a B folder that C evaluates) is never
imported unless the user named it on the command line (``--set b.model=``)
or said ``--trust-model-code``; ``--report`` and ``--compare`` never import
it. Each case plants a module whose import leaves a marker file."""

import json
import shutil
import uuid

import pytest

import main
import models
from tests.fixtures.runs import one_line as _one_line, run_cli as _run


@pytest.fixture(autouse=True)
def _restore_trust():
    yield
    models.set_trusted_model_code((), trust_all=True)  # Python's default


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """An importable module whose import writes ``marker``; its factory is valid."""
    name = f"evil_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / "site"
    pkg.mkdir()
    marker = tmp_path / "IMPORTED"
    (pkg / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from models.cnn import SmallCNN\n"
        "def make(num_classes, in_channels, regimen=None):\n"
        "    return SmallCNN(num_classes=num_classes, in_channels=in_channels)\n")
    monkeypatch.syspath_prepend(str(pkg))
    return f"{name}:make", marker


@pytest.fixture(scope="module")
def b_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bq")
    assert main.main(["--experiment", "b", "--quick", "--seeds", "1", "--set", "epochs=1",
                      "--out", str(out)]) == 0
    return next(out.glob("*_b_quick"))


def _with_model(folder, spec):
    """A copy of a run folder whose config.json names ``spec`` as B's model."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    cfg["experiments"]["b"]["model"] = spec
    path.write_text(json.dumps(cfg))
    return folder


def _evil_b_folder(b_run, tmp_path, spec):
    dst = tmp_path / "someone_elses_b"
    shutil.copytree(b_run, dst)
    return _with_model(dst, spec)


def test_config_naming_code_is_refused_without_consent(capsys, tmp_path, evil, b_run):
    spec, marker = evil
    folder = _evil_b_folder(b_run, tmp_path, spec)
    code, out, err = _run(capsys, "--config", folder / "config.json", "--out", tmp_path / "out")
    assert code == 2
    line = _one_line(err)
    assert spec in line and "--trust-model-code" in line
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_resume_naming_code_is_refused_without_consent(capsys, tmp_path, evil, b_run):
    spec, marker = evil
    folder = _evil_b_folder(b_run, tmp_path, spec)
    (folder / "summary.json").unlink()  # an unfinished run: resume would train
    code, out, err = _run(capsys, "--resume", folder)
    assert code == 2 and spec in _one_line(err)
    assert not marker.exists()


def test_c_on_a_folder_naming_code_is_refused(capsys, tmp_path, evil, b_run):
    spec, marker = evil
    folder = _evil_b_folder(b_run, tmp_path, spec)
    code, out, err = _run(capsys, "--experiment", "c", "--quick", "--from-run", folder,
                          "--out", tmp_path / "out")
    assert code == 2 and spec in _one_line(err)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_report_and_compare_never_import(capsys, tmp_path, evil, b_run):
    spec, marker = evil
    folder = _evil_b_folder(b_run, tmp_path, spec)
    for argv in (["--report", folder], ["--compare", folder, b_run, "--out", tmp_path / "cmp"]):
        code, out, err = _run(capsys, *argv)
        assert code == 0, err
        assert not marker.exists(), argv
    # consent means nothing where nothing is imported: refused, not ignored
    code, out, err = _run(capsys, "--report", folder, "--trust-model-code")
    assert code == 2 and "--trust-model-code" in err and not marker.exists()


@pytest.mark.parametrize("consent", [["--trust-model-code"], ["--set", "b.model={spec}"]])
def test_consent_on_the_command_line_imports_it(capsys, tmp_path, evil, b_run, consent):
    spec, marker = evil
    folder = _evil_b_folder(b_run, tmp_path, spec)
    consent = [c.format(spec=spec) for c in consent]
    # a later check (warmup > epochs) stops the run after the model was resolved
    code, out, err = _run(capsys, "--config", folder / "config.json", *consent,
                          "--set", "b.warmup_epochs=50", "--out", tmp_path / "out")
    assert code == 2 and "warmup_epochs" in _one_line(err)
    assert marker.exists()


def test_consent_for_another_path_is_no_consent(capsys, tmp_path, evil, b_run):
    spec, marker = evil
    folder = _evil_b_folder(b_run, tmp_path, spec)
    code, out, err = _run(capsys, "--config", folder / "config.json",
                          "--set", "b.model=models.cnn:SmallCNN", "--set", "b.warmup_epochs=50",
                          "--out", tmp_path / "out")
    # the command line's own path replaces the folder's: that one is trusted, the folder's unused
    assert not marker.exists()
    code, out, err = _run(capsys, "--experiment", "c", "--quick", "--from-run", folder,
                          "--set", "c.noise_seed=1", "--out", tmp_path / "out2")
    assert code == 2 and spec in _one_line(err) and not marker.exists()


def test_built_in_names_need_no_consent(capsys, tmp_path, b_run):
    folder = tmp_path / "plain"
    shutil.copytree(b_run, folder)
    for name in models.MODELS:
        _with_model(folder, name)
        code, out, err = _run(capsys, "--config", folder / "config.json",
                              "--set", "b.warmup_epochs=50", "--out", tmp_path / "out")
        assert code == 2 and "warmup_epochs" in _one_line(err), err
