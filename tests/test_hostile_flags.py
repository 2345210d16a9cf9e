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
    # unscoped then scoped, scoped then unscoped, to one value or two, A and B fields
    (["--set", "lr=0.01", "--set", "a.lr=0.02"], ["lr=0.01", "a.lr=0.02", "experiment a's lr"]),
    (["--set", "b.lr=0.02", "--set", "lr=0.01"], ["b.lr=0.02", "lr=0.01", "experiment b's lr"]),
    (["--set", "lr=0.01", "--set", "b.lr=0.01"], ["b.lr=0.01", "experiment b's lr"]),
    (["--experiment", "a", "--set", "a.width=32", "--set", "width=64"], ["a.width=32", "width=64"]),
    (["--experiment", "b", "--set", "batch_size=64", "--set", "b.batch_size=64"],
     ["batch_size=64", "b.batch_size=64", "experiment b's batch_size"]),
    (["--experiment", "b", "--set", "n-train=1000", "--set", "b.n_train=2000"],
     ["n_train=1000", "b.n_train=2000"]),
    (["--set", "a.lr=0.1", "--set", "a.lr=0.2"], ["a.lr=0.1", "a.lr=0.2"]),
    (["--experiment", "c", "--set", "c.heatmap_n=4", "--set", "heatmap_n=4"],
     ["c.heatmap_n=4", "experiment c's heatmap_n"]),
])
def test_a_scoped_and_an_unscoped_set_on_one_field(capsys, tmp_path, argv, needles):
    _refused(capsys, tmp_path, argv, needles)


def test_one_field_set_twice_from_python_is_refused(tmp_path):
    for overrides in ({"lr": 0.01, "a.lr": 0.02}, {"a.steps": 5, "steps": 5}):
        with pytest.raises(ValueError, match="give it once"):
            main.run_experiment("a", overrides, out=tmp_path / "out", quick=True)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def saved(tmp_path, capsys):
    """Run folders' config.json (as --print-config prints them, the same
    resolution): 'all' with the default arms, and B with only named arms,
    which no strength flag reads."""
    paths = {}
    for name, argv in (("all", ["--quick"]),
                       ("named", ["--experiment", "b", "--quick", "--arm", "baseline",
                                  "--arm", "w:l2=1e-4,dropout=0.2"]),
                       ("sweep", ["--experiment", "a", "--quick", "--sweep", "l2=0,1e-3"])):
        assert main.main([*argv, "--print-config", "--out", str(tmp_path / "out")]) == 0
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(capsys.readouterr().out)
    return paths


@pytest.mark.parametrize("which,argv,needles", [
    ("all", ["--arm", "baseline"], ["--arm", "--config", "a: arms baseline,l2,dropout"]),
    ("all", ["--sweep", "l2=0,1e-3"], ["--sweep", "--config", "sweep none"]),
    ("all", ["--l2-reg", "1e-3"], ["--l2_reg", "--config", "l2_reg"]),
    ("all", ["--dropout", "0.2"], ["--dropout", "--config"]),
    ("named", ["--l2_reg", "1e-3"], ["--l2_reg", "--config", "b: l2_reg"]),
    ("named", ["--arm", "l2", "--l2_reg", "1e-3"], ["--arm", "--config", "w:l2=1e-4"]),
    ("sweep", ["--arm", "baseline", "--arm", "l2"], ["--arm", "--config", "sweep l2=0,1e-3"]),
    ("sweep", ["--sweep", "l2=0,1e-3"], ["--sweep", "--config"]),  # even the same sweep
    # the way out is a saved field by --set, but not a strength that no saved arm reads
    ("named", ["--set", "l2_reg=1e-3"], ["--set l2_reg=1e-3", "l2 and l2+dropout",
                                          "baseline,w:l2=1e-4,dropout=0.2"]),
    ("named", ["--set", "b.dropout=0.3"], ["--set dropout=0.3", "dropout and l2+dropout"]),
    ("sweep", ["--set", "dropout=0.3"], ["--set dropout=0.3", "experiment a's arms"]),
])
def test_arm_flags_beside_a_saved_config(capsys, tmp_path, saved, which, argv, needles):
    """The saved arms are the run's definition: the arm flags beside --config
    are refused naming both sources (they used to mix: --arm kept the saved
    sweep, --l2_reg went unread when no saved arm is a shorthand)."""
    _refused(capsys, tmp_path, ["--config", str(saved[which]), *argv], needles)


def test_a_saved_field_changed_by_set_is_applied_and_the_rest_kept(capsys, tmp_path, saved):
    import json
    before = json.loads(saved["named"].read_text())["experiments"]["b"]
    code = main.main(["--config", str(saved["named"]), "--set", "arms=baseline,l2",
                      "--set", "l2_reg=1e-3", "--epochs", "3", "--print-config",
                      "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    after = json.loads(out)["experiments"]["b"]
    assert before["epochs"] != 3
    assert code == 0 and err == "", err
    assert (after["arms"], after["l2_reg"], after["epochs"]) == (["baseline", "l2"], 1e-3, 3)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"arms", "l2_reg", "epochs"}


def test_a_strength_set_that_no_arm_reads_is_refused_from_python(tmp_path):
    with pytest.raises(ValueError, match="l2 and l2\\+dropout"):
        main.run_experiment("a", {"arms": ("baseline", "w:l2=1e-3"), "l2_reg": 1e-2},
                            out=tmp_path / "out", quick=True)
    assert not (tmp_path / "out").exists()


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
    ["--set", "a.lr=0.01", "--set", "b.lr=0.02", "--print-config"],
    ["--experiment", "a", "--set", "arms=baseline,l2", "--set", "l2_reg=1e-3", "--print-config"],
])
def test_flags_that_fit_together_still_run(capsys, tmp_path, argv):
    # the refusals above are not a blanket: each flag here is read
    argv = [str(tmp_path) if a == "B" else a for a in argv]
    code = main.main([*argv, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
