"""Command line: bad input is one line on stderr and exit code 2, before any work."""

import pytest

import main
from experiments import cli


def _run(capsys, *argv):
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, needle", [
    (["--experiment", "z"], "--experiment"),
    (["--epochs", "-5"], "--epochs"),
    (["--epochs", "0"], "--epochs"),
    (["--dropout", "1.0"], "--dropout"),
    (["--dropout", "-0.1"], "--dropout"),
    (["--l2_reg", "-1e-4"], "--l2_reg"),
    (["--l2-reg", "nan"], "--l2_reg"),
    (["--set", "no_such_key=3"], "no_such_key"),
    (["--set", "width=wide"], "width"),
    (["--set", "justakey"], "key=value"),
    (["--seeds", "0,0"], "--seeds"),
    (["--seed", "1", "--seeds", "2"], "--seed"),
    (["--set", "freqs=5,20.5"], "freqs"),
    (["--set", "n_points=100"], "n_points"),
    (["--bogus-flag"], "unrecognized"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code, out, err = _run(capsys, *argv, "--out", str(tmp_path))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []        # nothing started


def test_unwritable_output_folder(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, out, err = _run(capsys, "--quick", "--out", str(blocker / "results"))
    assert code == 2 and "not writable" in err and len(err.strip().splitlines()) == 1


def test_help_states_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--experiment", "--epochs", "--l2_reg", "--dropout", "--seeds", "--device",
                 "--out", "--quick", "--set"):
        assert flag in out
    assert "default: results" in out and "default: auto" in out


def test_dash_and_underscore_spellings_agree():
    p = cli.build_parser()
    assert p.parse_args(["--l2-reg", "0.01"]).l2_reg == p.parse_args(["--l2_reg", "0.01"]).l2_reg


def test_flags_and_overrides_reach_the_config():
    from experiments import runner
    args = cli.build_parser().parse_args(
        ["--epochs", "777", "--l2_reg", "0.003", "--dropout", "0.2", "--seeds", "4",
         "--set", "width=32", "--set", "a.lr=0.004", "--quick"])
    cfg = runner.build_configs(["a"], "cpu", quick=args.quick,
                               changes=cli.config_changes(cli.flag_values(args, "cpu"), ["a"]),
                               overrides=runner.split_overrides(args.overrides, ["a"]))["a"]
    assert (cfg.steps, cfg.l2_reg, cfg.dropout, cfg.seeds) == (777, 0.003, 0.2, (0, 1, 2, 3))
    assert (cfg.width, cfg.lr) == (32, 0.004)
    assert cfg.n_checkpoints == 40          # --quick shrank it; explicit flags won


def test_a_second_sweep_is_refused_in_one_line(capsys, tmp_path):
    code, out, err = _run(capsys, "--sweep", "l2=0,1e-4", "--sweep", "dropout=0,0.2", "--quick",
                          "--out", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--sweep" in err and "dropout=0,0.2" in err
    assert list(tmp_path.iterdir()) == []


def test_print_config_shows_the_resolved_config_without_running(capsys, tmp_path):
    code, out, err = _run(capsys, "--experiment", "a", "--quick", "--set", "width=32",
                          "--print-config", "--out", str(tmp_path))
    import json
    shown = json.loads(out)
    from experiments import exp_a_synthetic as exp_a
    assert code == 0 and shown["experiments"]["a"]["width"] == 32
    assert shown["experiments"]["a"]["steps"] == exp_a.Config().quick().steps
    assert shown["launch"]["workers"] == 1     # --quick runs the jobs in this process
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_version_comes_from_the_package_metadata(capsys):
    from importlib import metadata
    with pytest.raises(SystemExit) as e:
        main.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"main.py {metadata.version('freqreg')}"


def test_usage_names_the_command_typed(capsys):
    assert main.main(["--bogus"], prog="freqreg") == 2
    assert capsys.readouterr().err.startswith("freqreg: error:")
    assert cli.build_parser("freqreg").format_usage().startswith("usage: freqreg")


def test_compare_of_one_folder_leaves_no_folder(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    code, out, err = _run(capsys, "--compare", str(tmp_path / "run"), "--out", str(tmp_path / "o"))
    assert code == 2 and "at least two different run folders" in err and not (tmp_path / "o").exists()


def test_arm_help_lists_every_knob():
    from utils.regimen import _KNOBS
    text = " ".join(cli.build_parser().format_help().split())
    assert all(knob in text for knob in _KNOBS)
