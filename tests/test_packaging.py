"""The installed form is safe despite the generic top-level names (utils,
data, models, experiments, main): a wheel refuses to build, so nothing is
copied over another project's files, and main.py names a shadowing package
in one line instead of crashing later."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(pythonpath):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, pythonpath)))
    env.pop("PYTHONSTARTUP", None)
    return env


def _fake_package(folder: Path, name: str) -> Path:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("raise RuntimeError('the wrong package ran')\n")
    return folder


@pytest.mark.parametrize("name", ["models", "utils"])
def test_python_m_main_in_a_folder_with_a_same_named_package_is_one_line(tmp_path, name):
    cwd = _fake_package(tmp_path, name)
    out = subprocess.run([sys.executable, "-m", "main", "--help"], cwd=cwd, env=_env([ROOT]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("main.py: error:") and repr(name) in lines[0]
    assert str(cwd / name) in lines[0]


def test_python_m_main_with_a_shadowing_package_first_on_pythonpath(tmp_path):
    first = _fake_package(tmp_path / "elsewhere", "utils")
    out = subprocess.run([sys.executable, "-m", "main", "--help"], cwd=tmp_path,
                         env=_env([first, ROOT]), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "'utils'" in out.stderr and str(first / "utils") in out.stderr


def test_python_main_py_is_not_shadowed_by_the_current_folder(tmp_path):
    """``python main.py`` puts the script's folder first on sys.path, so a
    package in the current folder cannot shadow the project's."""
    cwd = _fake_package(tmp_path, "models")
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "--help"], cwd=cwd,
                         env=_env([]), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--experiment" in out.stdout


def test_an_unrelated_folder_that_is_no_package_does_not_shadow(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "weights.txt").write_text("not python\n")  # no __init__.py
    out = subprocess.run([sys.executable, "-m", "main", "--help"], cwd=tmp_path,
                         env=_env([ROOT]), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--experiment" in out.stdout


def _pip(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                           "--no-build-isolation", "--no-deps", "--disable-pip-version-check",
                           *args], cwd=cwd, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_installing_next_to_another_utils_package_overwrites_nothing(tmp_path):
    other = tmp_path / "other"
    (other / "utils").mkdir(parents=True)
    marker = "OTHER_PROJECT = True  # another project's utils\n"
    (other / "utils" / "__init__.py").write_text(marker)
    (other / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "otherproject"
        version = "1.0"
        [tool.setuptools]
        packages = ["utils"]
        """))
    target = tmp_path / "site"
    done = _pip("--target", str(target), str(other), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (target / "utils" / "__init__.py").read_text() == marker
    before = sorted(p.name for p in target.iterdir())

    refused = _pip("--target", str(target), str(ROOT), cwd=tmp_path)
    assert refused.returncode != 0
    assert "refusing to build a wheel" in refused.stdout + refused.stderr
    assert "pip install -e ." in refused.stdout + refused.stderr
    assert (target / "utils" / "__init__.py").read_text() == marker  # untouched
    assert sorted(p.name for p in target.iterdir()) == before        # nothing added


def test_backend_refuses_wheels_and_keeps_editable_and_sdist_hooks(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "buildsys"))
    import editable_only
    from setuptools import build_meta

    for hook in ("build_wheel", "prepare_metadata_for_build_wheel", "get_requires_for_build_wheel"):
        with pytest.raises(SystemExit, match="pip install -e ."):
            getattr(editable_only, hook)("unused")
    for hook in ("build_editable", "prepare_metadata_for_build_editable",
                 "get_requires_for_build_editable", "build_sdist"):
        assert getattr(editable_only, hook) is getattr(build_meta, hook)
    text = (ROOT / "pyproject.toml").read_text()
    assert 'build-backend = "editable_only"' in text and 'backend-path = ["buildsys"]' in text


def test_console_command_runs_the_same_main(tmp_path):
    """``freqreg`` (pyproject [project.scripts]) is main.main: the same help
    and the same one-line errors, from any folder."""
    exe = Path(sys.executable).parent / "freqreg"
    if not exe.is_file():
        pytest.skip("the project is not installed in this environment (pip install -e .)")
    out = subprocess.run([str(exe), "--help"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "--launcher" in out.stdout and "--experiment" in out.stdout
    bad = subprocess.run([str(exe), "--experiment", "a", "--threads", "0"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    # the same one line as main.py's, under the name the user typed
    assert bad.stderr.strip() == ("freqreg: error: --threads: expected an integer >= 1 and "
                                  "<= 1024, got 0")
