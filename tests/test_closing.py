"""The console's closing block (utils/report/closing.py): the verdicts of a
finished run, one line per claim, experiment and arm, in lines a terminal
shows whole, then the report's path; read from the session's quick run."""

import shutil

from experiments import registry, runner
from utils.report.closing import WIDTH, closing_lines
from utils.report.loading import load_run
from utils.report.overview import CLAIM_TITLES, VERDICT_ORDER


def test_closing_block_has_one_line_per_claim_experiment_and_arm(quick_all):
    run = load_run(quick_all)
    lines = closing_lines(run, quick_all / "report.html", 12.0)
    assert len(lines) <= 25 and max(map(len, lines)) <= WIDTH, "\n".join(lines)
    assert lines[-2:] == [f"report: {quick_all / 'report.html'}", f"run folder: {quick_all}"]
    groups = {}
    for part in run.parts:
        for f in part.findings or ():
            groups.setdefault((part.letter, f.arm, f.claim), []).append(f)
    assert {k[0] for k in groups} == {"A", "B", "C"}
    for (letter, arm, claim), found in groups.items():
        # the row that answers the claim best: a decided verdict, then the smallest p
        best = min(found, key=lambda f: (VERDICT_ORDER.index(f.verdict),
                                         2.0 if f.p_adjusted is None else f.p_adjusted))
        heading = lines.index(f"{CLAIM_TITLES[claim]}:")
        shown = [ln for ln in lines[heading + 1:] if ln.startswith(f"  {letter} {arm}: ")]
        assert shown and shown[0].startswith(f"  {letter} {arm}: {best.verdict}, "), \
            (letter, arm, claim, shown)


def test_a_run_prints_the_closing_block_not_tables(quick_all, tmp_path, monkeypatch, capsys):
    run_dir = shutil.copytree(quick_all, tmp_path / "run")
    import utils.report
    monkeypatch.setattr(utils.report, "build_report", lambda d: d / "report.html")
    assert runner._finish(run_dir, ["a", "b", "c"], registry(), 3.0) == 0
    out = capsys.readouterr().out
    assert out == "\n".join(closing_lines(load_run(run_dir), run_dir / "report.html", 3.0)) + "\n"
    assert "=== verdicts" in out


def test_dataset_note_is_said_before_the_first_experiment_trains(tmp_path, monkeypatch, capsys):
    """B's data is prepared before A trains, so its note (e.g. CIFAR-10 missing:
    a synthetic set) is printed then, once, not when B starts minutes later."""
    from types import SimpleNamespace

    mods = registry()
    note = "CIFAR-10 was not used (test). Using the embedded synthetic set instead"
    monkeypatch.setattr(mods["b"], "prepare", lambda cfg, data=None, parts=(): SimpleNamespace(
        notes=(note,)))
    monkeypatch.setattr(mods["b"], "preflight", lambda cfg, data: None)
    started = []
    monkeypatch.setattr(runner, "_run_part", lambda mod, cfg, sub, launch, **kw: started.append(
        (mod.NAME, capsys.readouterr().out)))
    monkeypatch.setattr(runner, "_finish", lambda *args: 0)
    cfgs = runner.build_configs(["a", "b"], "cpu", changes={}, overrides={}, quick=True)
    assert runner.start("all", ["a", "b"], cfgs, runner.build_launch({}, quick=True), tmp_path,
                        {}, argv=None, device="cpu", quick=True) == 0
    first, before = started[0]
    assert first == mods["a"].NAME
    assert before.count(f"NOTE: {note}") == 1
    assert before.index(f"NOTE: {note}") < before.index("run folder:")
