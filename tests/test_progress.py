"""utils.progress.Progress: the one progress helper (bar, callback, timed lines)."""

import pytest

from utils import progress as progress_module
from utils.progress import Progress


def test_callback_gets_the_running_count():
    calls = []
    with Progress(10, show=lambda done, total: calls.append((done, total))) as bar:
        for n in (3, 3, 4):
            bar.update(n)
    assert calls == [(3, 10), (6, 10), (10, 10)] and bar.bar is None


def test_timed_lines_stop_at_the_total(monkeypatch):
    clock = iter([0.0, 1.0, 2.5, 4.0, 4.4, 100.0])   # creation, then one reading per update
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    lines = []
    bar = Progress(5_000, "step", show=False, every=2.0, log=lines.append)
    for _ in range(4):   # 1 s: too soon; 2.5 s: a line; 4 s and 4.4 s: too soon after it
        bar.update(1_000)
    bar.update(1_000)    # due (100 s), but the total: no line (the job's own line says so)
    assert lines == ["step 2,000/5,000"]


def test_eta_is_the_mean_rate_times_what_is_left(monkeypatch):
    clock = iter([0.0, 10.0, 200.0])   # creation, then one reading per eta()
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    bar = Progress(4, show=False)
    bar.update()
    assert bar.eta() == f"{10.0 * 3:.0f} s"           # 10 s a thing, 3 left
    bar.update()
    assert bar.eta() == f"{200.0 / 2 * 2 / 60:.1f} min"  # 100 s a thing, 2 left: > 2 min


def test_a_bar_only_when_asked_or_on_a_terminal(capsys):
    with Progress(3, "quiet") as bar:       # None: stderr is not a terminal under pytest
        bar.update(3)
    assert bar.bar is None and capsys.readouterr() == ("", "")
    lines = []
    with Progress(3, "asked", show=True, log=lines.append) as bar:
        bar.update()
        bar.write("a line above the bar")
    out, err = capsys.readouterr()
    assert lines == ["a line above the bar"] and out == "" and "asked" in err


@pytest.mark.parametrize("show", ["yes", 1, 0.5])
def test_a_bad_show_names_the_argument(show):
    with pytest.raises(ValueError, match="^progress: expected"):
        Progress(3, show=show)
