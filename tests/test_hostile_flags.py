"""Conflicting flags are refused, never resolved silently (issue 25): two
flags that contradict each other, or a flag that nothing in the command
would read, end in one line naming the flags, exit 2, before any folder."""

import pytest

import main


def _refused(capsys, tmp_path, argv, needles):
    out_root = tmp_path / "out"
    code = main.main([*argv, "--out", str(out_root)] if "--out" not in argv else argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == main.EXIT_BAD_INPUT and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out_root.exists()  # refused before any folder
    return lines[0]


@pytest.mark.parametrize("argv,needles", [
    # two spellings of one setting
    (["--seed", "1", "--seeds", "3"], ["--seed", "--seeds"]),
    # a named preset against what it sets
    (["--preset", "study", "--quick"], ["--preset study", "--quick"]),
    (["--preset", "study", "--seeds", "4"], ["--preset study", "--seeds"]),
    (["--preset", "study", "--seed", "0"], ["--preset study", "--seed"]),
    # the strength flags with arms that never read them
    (["--sweep", "l2=0,1e-4", "--l2-reg", "1e-3"], ["--l2_reg", "--sweep l2=0,1e-4"]),
    (["--sweep", "dropout=0,0.2", "--dropout", "0.3"], ["--dropout", "--sweep dropout=0,0.2"]),
    (["--arm", "baseline", "--arm", "w:l2=1e-4", "--l2_reg", "1e-3"], ["--l2_reg", "--arm w:l2"]),
    (["--arm", "baseline", "--arm", "l2", "--dropout", "0.2"], ["--dropout", "--arm l2"]),
    # the local pool's flags with another launcher
    (["--launcher", "slurm", "--slurm-cluster", "debug", "--workers", "2"], ["--workers", "slurm"]),
    (["--launcher", "ray", "--jobs-per-gpu", "2"], ["--jobs-per-gpu", "ray"]),
])
def test_contradicting_flags(capsys, tmp_path, argv, needles):
    _refused(capsys, tmp_path, argv, needles)


@pytest.mark.parametrize("argv,needles", [
    (["--experiment", "b", "--epochs", "3", "--set", "b.epochs=4"], ["--epochs", "b.epochs"]),
    (["--experiment", "a", "--epochs", "300", "--set", "steps=400"], ["--epochs", "a.steps"]),
    (["--seed", "2", "--set", "seeds=1"], ["--seed", "seeds"]),
    (["--seeds", "2", "--set", "b.seeds=1"], ["--seeds", "b.seeds"]),
    (["--l2-reg", "1e-3", "--set", "a.l2_reg=1e-4"], ["--l2_reg", "a.l2_reg"]),
    (["--sweep", "l2=0,1e-4", "--set", "a.arms=baseline"], ["--sweep", "a.arms"]),
    (["--device", "cpu", "--set", "device=cpu"], ["--device", "device"]),
    (["--experiment", "c", "--from-run", "x", "--set", "b_run=y"], ["--from-run", "c.b_run"]),
    (["--set", "lr=0.1", "--set", "lr=0.2"], ["lr=0.1", "lr=0.2"]),
])
def test_a_flag_and_set_on_one_field(capsys, tmp_path, argv, needles):
    _refused(capsys, tmp_path, argv, needles)


@pytest.mark.parametrize("argv,needles", [
    (["--experiment", "a", "--from-run", "x"], ["--from-run", "experiment c"]),
    (["--experiment", "b", "--from-run", "x"], ["--from-run", "experiment c"]),
    (["--experiment", "a", "--dataset", "synthetic"], ["--dataset", "experiment b"]),
    (["--experiment", "a", "--data-root", "x"], ["--data-root", "experiment b"]),
    (["--experiment", "c", "--epochs", "3"], ["--epochs", "experiments a and b"]),
    (["--experiment", "c", "--arm", "l2"], ["--arm", "experiments a and b"]),
    (["--experiment", "c", "--sweep", "l2=0,1e-3"], ["--sweep", "experiments a and b"]),
    (["--experiment", "c", "--l2-reg", "1e-3"], ["--l2_reg", "experiments a and b"]),
    (["--experiment", "a", "--preset", "study"], ["--preset study", "experiments b and c"]),
])
def test_a_flag_no_experiment_of_the_run_reads(capsys, tmp_path, argv, needles):
    _refused(capsys, tmp_path, argv, needles)


@pytest.mark.parametrize("argv,needles", [
    (["--resume", "RUN", "--quick"], ["--resume", "--quick"]),
    (["--resume", "RUN", "--print-config"], ["--resume", "--print-config"]),
    (["--resume", "RUN", "--experiment", "a"], ["--resume", "--experiment"]),
    (["--report", "RUN", "--epochs", "2"], ["--report", "--epochs"]),
    (["--report", "RUN", "--trust-model-code"], ["--report", "--trust-model-code"]),
    (["--report", "RUN", "--print-config"], ["--report", "--print-config"]),
    (["--compare", "RUN", "RUN", "--seed", "2"], ["--compare", "--seed"]),
    (["--compare", "RUN", "RUN", "--experiment", "b"], ["--compare", "--experiment"]),
    (["--report", "RUN", "--compare", "RUN", "RUN"], ["--report", "--compare"]),
])
def test_modes_that_take_no_other_flags(capsys, tmp_path, argv, needles):
    run = tmp_path / "run"
    run.mkdir()
    argv = [str(run) if a == "RUN" else a for a in argv]
    out_given = ["--out", str(tmp_path / "out")] if "--compare" in argv else []
    _refused(capsys, tmp_path, [*argv, *out_given], needles)


@pytest.mark.parametrize("argv", [
    ["--experiment", "c", "--from-run", "B", "--print-config"],
    ["--experiment", "all", "--dataset", "synthetic", "--epochs", "300", "--print-config"],
    ["--arm", "baseline", "--arm", "l2", "--l2-reg", "1e-3", "--print-config"],
    ["--sweep", "l2=0,1e-4", "--arm", "baseline", "--arm", "dropout", "--dropout", "0.2",
     "--print-config"],
    ["--experiment", "b", "--preset", "study", "--print-config"],
    ["--experiment", "b", "--epochs", "3", "--set", "b.lr=0.1", "--print-config"],
    ["--seed", "3", "--set", "a.lr=0.01", "--print-config"],
])
def test_flags_that_fit_together_still_run(capsys, tmp_path, argv):
    # the refusals above are not a blanket: each flag here is read
    argv = [str(tmp_path) if a == "B" else a for a in argv]
    code = main.main([*argv, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
