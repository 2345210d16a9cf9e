"""Checkpoints: round trip, atomic writes, and a clear CheckpointError for a
missing, corrupt, foreign or mismatched file."""

import pytest
import torch
from torch import nn

from models.cnn import SmallCNN
from utils.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from utils.regimen import Regimen
from utils.training import make_optimizer, make_schedule

META = {"model": "small_cnn", "model_kwargs": {"widths": [4, 8], "k1": 3}, "dataset_id": "cifar10",
        "arm": "l2", "seed": 1, "config_hash": "abc123", "l2": 5e-4}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(widths=(4, 8), k1=3, seed=0):
    torch.manual_seed(seed)
    return SmallCNN(num_classes=10, k1=k1, widths=widths, dropout=0.2)


def trained_objects():
    model = tiny()
    opt = make_optimizer(model, Regimen(name="l2", l2=1e-3), lr=0.1)
    sched = make_schedule(opt, "cosine", total_steps=10, warmup_steps=2)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    return model, opt, sched


@pytest.fixture
def saved(tmp_path):
    model, opt, sched = trained_objects()
    path = save_checkpoint(tmp_path / "run" / "last.pt", model=model, optimizer=opt, scheduler=sched,
                           epoch=3, meta=META)
    return path, model, opt, sched


def test_round_trip_restores_every_state(saved):
    path, model, opt, sched = saved
    fresh = tiny(seed=5)
    opt2 = make_optimizer(fresh, Regimen(name="l2", l2=1e-3), lr=0.1)
    sched2 = make_schedule(opt2, "cosine", total_steps=10, warmup_steps=2)
    ckpt = load_checkpoint(path, model=fresh, optimizer=opt2, scheduler=sched2,
                           expect={"model": "small_cnn", "dataset_id": "cifar10", "seed": 1})
    assert ckpt["epoch"] == 3 and ckpt["meta"] == META
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    assert sched2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"] == 3
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(opt.state[p]["momentum_buffer"], opt2.state[q]["momentum_buffer"])


def test_atomic_write_leaves_only_the_file(saved):
    path, model, opt, sched = saved
    save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, epoch=4, meta=META)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
    assert load_checkpoint(path)["epoch"] == 4


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match=f"checkpoint not found: {path}"):
        load_checkpoint(path)
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_file(saved, damage):
    path = saved[0]
    data = path.read_bytes()
    path.write_bytes({"garbage": b"this is not a checkpoint" * 10,
                      "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=r"checkpoint .*last\.pt is corrupt or not a checkpoint \("):
        load_checkpoint(path, model=tiny())


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="corrupt or not a checkpoint .*expected format"):
        load_checkpoint(path)


def test_meta_mismatch_names_both_sides(tmp_path):
    model = tiny()
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1,
                           meta={"model": "resnet18", "dataset_id": "synthetic-v1", "seed": 0})
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, expect={"model": "small_cnn", "dataset_id": "cifar10"})
    assert str(err.value) == (f"checkpoint {path} was saved for model resnet18 on dataset "
                              "synthetic-v1, but this run uses small_cnn on cifar10")
    with pytest.raises(CheckpointError, match=r"does not match this run: seed: saved 0, this run 3"):
        load_checkpoint(path, expect={"model": "resnet18", "seed": 3})
    with pytest.raises(CheckpointError, match=r"arm: saved <missing>, this run 'l2'"):
        load_checkpoint(path, expect={"arm": "l2"})


def test_architecture_mismatch_names_keys(saved):
    path = saved[0]
    with pytest.raises(CheckpointError, match=r"does not fit this model .*conv1\.weight saved "
                                              r"\(4, 3, 3, 3\) vs model \(4, 3, 5, 5\)"):
        load_checkpoint(path, model=tiny(k1=5))
    with pytest.raises(CheckpointError, match=r"unexpected keys: blocks\.0\.weight, blocks\.2\.weight"):
        load_checkpoint(path, model=tiny(widths=(4,)))
    with pytest.raises(CheckpointError, match=r"missing keys: .*bn1\.weight"):
        load_checkpoint(path, model=SmallCNN(k1=3, widths=(4, 8, 8), norm="none"))


def test_optimizer_mismatch(saved):
    path = saved[0]
    other = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(CheckpointError, match="optimizer state does not fit"):
        load_checkpoint(path, optimizer=other)


def test_meta_must_be_plain(tmp_path):
    with pytest.raises(ValueError, match="meta"):
        save_checkpoint(tmp_path / "c.pt", model=tiny(), epoch=0, meta={"x": torch.zeros(1)})
    with pytest.raises(ValueError, match="finite"):
        save_checkpoint(tmp_path / "c.pt", model=tiny(), epoch=0, meta={"x": float("nan")})
    assert not (tmp_path / "c.pt").exists()


def test_compiled_wrapper_saves_plain_keys(tmp_path):
    """A torch.compile wrapper keeps the module as ``_orig_mod``; the file must
    hold the plain keys (built here without compiling: the same attribute)."""
    model = tiny()
    wrapper = nn.Module()
    wrapper._orig_mod = model
    path = save_checkpoint(tmp_path / "c.pt", model=wrapper, epoch=0, meta={})
    assert list(load_checkpoint(path)["model"]) == list(model.state_dict())
