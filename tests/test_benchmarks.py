"""The benchmarks' shape (benchmarks/README.md): one script per question,
each on the shared harness (common.base_parser: --smoke; common.print_ratio:
the one ``ratio |`` line), each listed in the README. Running them is the
benchmarks' own business (``--smoke``); this only reads them."""

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def _called(path: Path) -> set[str]:
    return {n.func.id for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _common():
    sys.path.insert(0, str(BENCH))
    try:
        import common
    finally:
        sys.path.remove(str(BENCH))
    return common


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_script_uses_the_harness_and_prints_its_ratio(script):
    called = _called(script)
    assert {"base_parser", "setup", "print_ratio"} <= called, sorted(called)
    assert f"`python benchmarks/{script.name}" in (BENCH / "README.md").read_text()


def test_the_ratio_line_is_median_and_quartiles_of_the_rounds(capsys):
    common = _common()
    values = [0.7, 0.9, 1.1, 0.8, 1.0]
    common.print_ratio("x / y", common.spread(values), 0.85)
    q1, med, q3 = np.percentile(values, [25, 50, 75])   # numpy's linear = the inclusive method
    assert capsys.readouterr().out == (f"ratio | x / y: {med:.3f} [{q1:.3f}, {q3:.3f}]  "
                                       f"MET (target >= 0.85)\n")
    common.print_ratio("peak / limit", 1.25, 1.0, higher_is_better=False, fmt=".2f")
    assert capsys.readouterr().out == "ratio | peak / limit: 1.25  MISSED (target <= 1)\n"


def test_smoke_is_a_flag_of_every_script_and_said_in_the_environment_line(capsys):
    common = _common()
    args = common.base_parser("d", repeats=2).parse_args(["--smoke"])
    assert args.smoke and args.repeats == 2 and args.threads is None
    common.setup(args)
    assert "SMOKE" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--repeats"):
        common.setup(common.base_parser("d", repeats=2).parse_args(["--repeats", "0"]))
