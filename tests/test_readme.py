"""The README and the docs must stay true: every python example in them runs
as written, and CI runs the README's test command verbatim."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
BLOCKS = [(f"{path.relative_to(ROOT)} block {i}", code) for path in DOCS
          for i, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))]


def test_readme_and_docs_have_examples():
    assert re.search(r"```python\n", README), "the README shows the library in use"
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("name,code", BLOCKS, ids=[name for name, _ in BLOCKS])
def test_python_block_runs(name, code):
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"{name} failed:\n{code}\n{out.stderr[-2000:]}"


def test_readme_is_a_front_page_and_its_links_resolve():
    assert len(README.splitlines()) <= 250
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" not in target:
                assert (path.parent / target).exists(), f"{path.relative_to(ROOT)}: {target}"


def _commands():
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(c.strip() for c in _commands() if "pytest" in c)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_readme_main_command_uses_existing_flags():
    from experiments import cli
    parser = cli.build_parser()
    main_cmd = next(c.strip() for c in _commands() if "main.py" in c)
    argv = main_cmd.split("main.py", 1)[1].split()
    parser.parse_args(argv)          # raises (exit 2) on a stale flag


# --- runs never write tracked files; the README's figures change only on request ---

def _git_status():
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return out.stdout


@pytest.mark.slow
def test_a_run_writes_only_its_folder_and_a_config_rerun_stays_quick(tmp_path):
    import json

    import main
    out = tmp_path / "results"
    before = _git_status()
    from tests.fixtures.runs import SMALL_A
    assert main.main(["--experiment", "a", "--quick", "--seed", "0", *SMALL_A,
                      "--out", str(out)]) == 0
    (first,) = out.iterdir()
    assert json.loads((first / "config.json").read_text())["quick"] is True
    # rerunning what the folder records, without --quick, is the same quick run
    assert main.main(["--config", str(first / "config.json"), "--out", str(out)]) == 0
    folders = sorted(out.iterdir())
    assert len(folders) == 2 and all(p.is_dir() and p.name.endswith("_a_quick") for p in folders)
    first_rec, second_rec = (json.loads((p / "config.json").read_text()) for p in folders)
    assert second_rec["quick"] is True and second_rec["experiments"] == first_rec["experiments"]
    assert _git_status() == before
    # and a quick run's figures are never published to the README
    sys.path.insert(0, str(ROOT / "docs"))
    import refresh_figures
    assert refresh_figures.main([str(first), "--dest", str(tmp_path / "figs")]) == 2
    assert not (tmp_path / "figs").exists()


def test_refresh_figures_copies_a_full_runs_headline_figures(tmp_path):
    from experiments import registry
    sys.path.insert(0, str(ROOT / "docs"))
    import refresh_figures
    mods = registry()
    run = tmp_path / "20260101-000000_all"
    (run).mkdir()
    (run / "config.json").write_text('{"quick": false, "experiments": {"a": {}, "b": {}, "c": {}}}')
    expected = {}
    for k, mod in mods.items():
        (run / mod.NAME / "figures").mkdir(parents=True)
        for name in mod.STABLE_FIGURES:
            (run / mod.NAME / "figures" / name).write_text(f"{k}/{name}")
            expected[name] = f"{run.name}/{mod.NAME}"
    dest = tmp_path / "docs_figures"
    assert refresh_figures.main([str(run), "--dest", str(dest)]) == 0
    for name, src in expected.items():
        assert (dest / name).read_text() == (run / src.split("/")[1] / "figures" / name).read_text()
    assert (dest / "SOURCE.txt").read_text().splitlines() == [
        f"{n} {s}" for n, s in sorted(expected.items())]
    # a later run of one experiment replaces that experiment's figures and lines only
    b_run = tmp_path / "20260102-000000_b"
    (b_run / "figures").mkdir(parents=True)
    (b_run / "config.json").write_text('{"quick": false, "experiments": {"b": {}}}')
    for name in mods["b"].STABLE_FIGURES:
        (b_run / "figures" / name).write_text(f"new b/{name}")
        expected[name] = b_run.name
    assert refresh_figures.main([str(b_run), "--dest", str(dest)]) == 0
    assert (dest / mods["b"].STABLE_FIGURES[0]).read_text().startswith("new b/")
    assert (dest / "SOURCE.txt").read_text().splitlines() == [
        f"{n} {s}" for n, s in sorted(expected.items())]
    # an unfinished run (a figure missing) is refused and copies nothing more
    (run / mods["c"].NAME / "figures" / mods["c"].STABLE_FIGURES[0]).unlink()
    assert refresh_figures.main([str(run), "--dest", str(tmp_path / "other")]) == 2
    assert not (tmp_path / "other").exists()


def test_readme_figures_are_the_tracked_docs_copies():
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert figures, "the README shows a headline figure"
    for f in figures:
        assert f.startswith("docs/figures/") and (ROOT / f).is_file(), f
