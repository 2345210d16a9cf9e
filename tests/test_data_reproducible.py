"""The embedded image sets are a function of their seed alone (same bytes at
1, 2 and 3 torch threads, in fresh processes), and a job that finds other
bytes under the run's dataset id refuses them (data/digest.py)."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data import synthetic
from data.digest import DataMismatch, check_data, data_digest
from data.images import load_image_data

ROOT = Path(__file__).resolve().parent.parent
# B's quick sizes (512 train, 256 test images, 256 conflict images).
SIZES = dict(seed=0, n_train=512, n_test=256)
_HASHES = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from data.digest import data_digest
from data.images import load_image_data
out = {name: data_digest(load_image_data(name, **json.loads(sys.argv[2])))
       for name in ("synthetic-v1", "synthetic-v2")}
out["threads"] = torch.get_num_threads()
print(json.dumps(out))
"""


def _hashes(threads: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", _HASHES, str(threads), json.dumps(SIZES)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_synthetic_sets_have_the_same_bytes_at_1_2_and_3_threads():
    runs = {t: _hashes(t) for t in (1, 2, 3)}
    assert [runs[t].pop("threads") for t in (1, 2, 3)] == [1, 2, 3]  # the counts took effect
    assert runs[1] == runs[2] == runs[3]
    assert runs[1]["synthetic-v1"] != runs[1]["synthetic-v2"]
    # ... and the bytes of this process (whatever its thread count) too.
    assert runs[1]["synthetic-v2"] == data_digest(load_image_data("synthetic-v2", **SIZES))


def test_generation_leaves_the_callers_thread_count(one_thread):
    torch.set_num_threads(2)
    with synthetic.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(KeyError), synthetic.one_thread():
        raise KeyError("inside")
    assert torch.get_num_threads() == 2


@pytest.fixture(scope="module")
def small():
    return load_image_data("synthetic-v2", seed=1, n_train=40, n_test=20)


def test_digest_is_sha256_of_every_tensor_and_sees_one_byte(small):
    import hashlib
    d = data_digest(small)
    assert len(d) == 64 and int(d, 16) >= 0 and data_digest(small) == d
    same = dataclasses.replace(small, train_x=small.train_x.clone())
    assert data_digest(same) == d  # content, not identity
    for field in ("train_x", "test_x"):
        x = getattr(small, field).clone()
        x.view(-1)[7] ^= 1
        assert data_digest(dataclasses.replace(small, **{field: x})) != d, field
    conflict = small.extra["conflict_x"].clone()
    conflict.view(-1)[0] ^= 1
    assert data_digest(dataclasses.replace(small, extra={**small.extra,
                                                         "conflict_x": conflict})) != d
    y = small.train_y.clone()
    y[0] = (y[0] + 1) % 10
    assert data_digest(dataclasses.replace(small, train_y=y)) != d
    # An independent computation for a record without extras.
    bare = dataclasses.replace(small, extra={})
    h = hashlib.sha256()
    for name in ("train_x", "train_y", "test_x", "test_y"):
        t = getattr(bare, name)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode() + t.numpy().tobytes())
    assert data_digest(bare) == h.hexdigest()


def test_check_data_refuses_other_bytes_or_id_in_one_line(small):
    check_data(small, "synthetic-v2", data_digest(small))
    other = load_image_data("synthetic-v2", seed=2, n_train=40, n_test=20)
    with pytest.raises(DataMismatch) as err:
        check_data(other, "synthetic-v2", data_digest(small))
    msg = str(err.value)
    assert "\n" not in msg and "synthetic-v2" in msg
    assert data_digest(small)[:16] in msg and data_digest(other)[:16] in msg
    with pytest.raises(DataMismatch, match="synthetic-v1"):
        check_data(small, "synthetic-v1", data_digest(small))
    with pytest.raises(TypeError, match="data"):
        data_digest(small.train_x)


@pytest.mark.slow
def test_a_b_job_refuses_data_of_another_digest(small, tmp_path):
    from experiments import exp_b_spectrum_evolution as exp_b
    cfg = exp_b.Config().quick()
    arm = exp_b.build_arms(cfg)[0]
    with pytest.raises(DataMismatch, match="synthetic-v2") as err:
        exp_b.run_job(cfg, arm, 0, str(tmp_path), False, "synthetic-v2", "0" * 64, small)
    assert data_digest(small)[:16] in str(err.value) and "0" * 16 in str(err.value)
    assert not list(tmp_path.iterdir())  # refused before anything was written
    meta = exp_b.checkpoint_meta(cfg, small, arm, 0)
    assert meta["data_sha256"] == data_digest(small)  # what resume and experiment C check
