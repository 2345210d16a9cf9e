"""Shared test set-up: Agg backend (chosen here, never by library imports),
repository root importable, and data caches kept out of the user's home."""

import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own cache and data roots unless a test sets them."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("FREQREG_CACHE", os.environ.get("FREQREG_TEST_CACHE", str(base / "cache")))
    monkeypatch.setenv("FREQREG_DATA", str(base / "data"))


@pytest.fixture
def one_thread():
    """Tiny tensors run faster on one thread, and two OpenMP threads spin badly
    when other jobs share the two cores (measured: 0.5 s against 17 s for the
    arms test of test_training.py under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



@pytest.fixture(scope="session")
def quick_all(tmp_path_factory) -> Path:
    """One quick run of every experiment, shared by the whole session:
    ``main.py`` + :data:`tests.fixtures.runs.QUICK_ALL` in a subprocess with
    OMP_NUM_THREADS=1 (A, B with its default arms x two seeds, C on B's models).
    Read-only: a test that changes a run folder copies it first."""
    from tests.fixtures.runs import QUICK_ALL, run_main

    out = tmp_path_factory.mktemp("quick_all")
    done = run_main(out, *QUICK_ALL)
    assert done.returncode == 0, done.stderr[-2000:]
    return next(out.glob("*_all_quick"))
