"""Today's four arms (baseline, l2, dropout, l2+dropout; penalty and decoupled
L2) give bit-identical results on the CPU after the regimen redesign: the
fingerprints in tests/fixtures/regimen_reference.json were made at the commit
it records (before utils/regimen.py existed) by
tests/fixtures/make_regimen_reference.py, which this test runs again."""

import json
from pathlib import Path

import pytest

from tests.fixtures import make_regimen_reference as ref

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "regimen_reference.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ref.CASES))
def test_four_arms_bit_identical_to_the_pre_regimen_commit(case, one_thread, tmp_path):
    # A's reference was made by the one-job path (train_job), which stays; the
    # batched default is bit-identical to it for jobs without dropout
    # (tests/test_exp_a_batched.py) and draws other seeded masks for dropout.
    flags = ref.CASES[case] + (["--set", "batched=false"] if case.startswith("a") else [])
    got = ref.fingerprint(case, flags, tmp_path)
    want = REFERENCE["cases"][case]
    assert sorted(got) == sorted(want)
    differ = sorted(k for k in want if got[k] != want[k])
    assert not differ, f"{case}: differs from commit {REFERENCE['commit'][:7]} at {differ}"
