"""The fault seam (tests/fault_seam/sitecustomize.py) kills a process in its
N-th atomic write, with nothing in the product code but the write itself."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import sys
from pathlib import Path
from utils import runs
for i in range(4):
    runs.write_json(Path(sys.argv[1]) / f"f{i}.json", {"i": i})
"""


def _run(tmp_path, env):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, timeout=120,
                          env={**os.environ, **env}).returncode


def test_the_seam_kills_the_nth_write_before_it_replaces_the_target(tmp_path):
    seam = {"PYTHONPATH": str(ROOT / "tests" / "fault_seam"), "FREQREG_FAULT_AFTER_WRITES": "3"}
    assert _run(tmp_path, seam) == 137
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["f0.json", "f1.json"]
    assert len(list(tmp_path.glob("f2.json.tmp-*"))) == 1    # written, never put in place


def test_without_the_seam_the_variable_does_nothing(tmp_path):
    assert _run(tmp_path, {"FREQREG_FAULT_AFTER_WRITES": "1"}) == 0
    assert len(list(tmp_path.glob("*.json"))) == 4
