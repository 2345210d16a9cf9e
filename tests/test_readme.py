"""The README must stay true: its python examples run as written, and CI runs
its test command verbatim."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_python_block_runs(i):
    out = subprocess.run([sys.executable, "-c", BLOCKS[i]], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"README block {i} failed:\n{BLOCKS[i]}\n{out.stderr[-2000:]}"


def _commands():
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(c.strip() for c in _commands() if "pytest" in c)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_readme_main_command_uses_existing_flags():
    import main
    parser = main.build_parser()
    main_cmd = next(c.strip() for c in _commands() if "main.py" in c)
    argv = main_cmd.split("main.py", 1)[1].split()
    parser.parse_args(argv)          # raises (exit 2) on a stale flag
