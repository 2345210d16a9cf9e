"""Checkpoints: every stateful object of a run in one atomically written file,
and loading that refuses, with a message a user can act on, anything that
does not fit.

A checkpoint holds ``format``, ``epoch``, ``meta`` (plain types: model name
and kwargs, dataset id, arm, seed, config hash ...) and the state dicts of
the model, the optimiser and the scheduler. No RNG state is needed: the
engine draws every epoch's randomness from ``(seed, epoch)`` alone
(:mod:`utils.training`). Files are read with ``torch.load(weights_only=True)``,
so loading one never runs pickled code.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from utils.runs import save_torch

FORMAT = "freqreg-checkpoint-v1"
_KEYS = ("format", "epoch", "meta", "model", "optimizer", "scheduler")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or was saved for another run or model."""


def _check_plain(value, where: str) -> None:
    """Meta must load under ``weights_only=True`` and read the same in JSON."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"meta: {where} must be finite, got {value}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"meta: keys must be strings, got {k!r} in {where}")
            _check_plain(v, f"{where}.{k}")
        return
    raise ValueError(f"meta: {where} must be a plain value (None, bool, int, float, str, "
                     f"list, dict), got {type(value).__name__}")


def _unwrap(model: nn.Module) -> nn.Module:
    # torch.compile wraps the module and prefixes its keys with "_orig_mod.".
    return getattr(model, "_orig_mod", model)


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer=None, scheduler=None,
                    epoch: int, meta: dict) -> Path:
    """Write the checkpoint atomically (temporary file in the same folder,
    fsync, ``os.replace``) and return its path. ``epoch``: the number of
    epochs completed. ``meta``: plain values only (checked here, so a bad
    value fails now and not at load time)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch: expected an int >= 0, got {epoch!r}")
    if not isinstance(meta, dict):
        raise ValueError(f"meta: expected a dict, got {type(meta).__name__}")
    _check_plain(meta, "meta")
    payload = {
        "format": FORMAT,
        "epoch": epoch,
        "meta": dict(meta),
        "model": _unwrap(model).state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
    }
    return save_torch(Path(path), payload)


def _check_meta(path: Path, saved: dict, expect: dict) -> None:
    missing = object()
    diffs = {k: (saved.get(k, missing), v) for k, v in expect.items() if saved.get(k, missing) != v}
    if not diffs:
        return
    show = lambda v: "<missing>" if v is missing else repr(v)  # noqa: E731
    others = "; ".join(f"{k}: saved {show(s)}, this run {show(e)}"
                       for k, (s, e) in diffs.items() if k not in ("model", "dataset_id"))
    if "model" in diffs or "dataset_id" in diffs:
        run = {**saved, **expect}
        message = (f"checkpoint {path} was saved for model {saved.get('model', '?')} on dataset "
                   f"{saved.get('dataset_id', '?')}, but this run uses {run.get('model', '?')} "
                   f"on {run.get('dataset_id', '?')}")
        raise CheckpointError(message + (f"; also {others}" if others else ""))
    raise CheckpointError(f"checkpoint {path} does not match this run: {others}")


def _load_model_state(path: Path, model: nn.Module, state: dict) -> None:
    own = _unwrap(model).state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} saved {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("shape mismatches", shapes)):
        if items:
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit this model ("
                              + "; ".join(problems) + ")")
    _unwrap(model).load_state_dict(state, strict=True)


def load_checkpoint(path: str | Path, *, model: nn.Module | None = None, optimizer=None,
                    scheduler=None, expect: dict | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint, check it, and load it into the objects given.

    Checks, in order, each a :class:`CheckpointError` with the path: the file
    exists; it is a readable checkpoint of this format; every key of
    ``expect`` equals the saved meta (e.g. ``{"model": "small_cnn",
    "dataset_id": "cifar10"}``); the model state fits ``model`` (names the
    first missing/unexpected keys and shape mismatches). Then loads the
    model, optimiser and scheduler states (build the scheduler on the
    optimiser before loading, as in a fresh run). Returns the checkpoint dict
    (``epoch``, ``meta``, the state dicts).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint ({reason})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or any(k not in ckpt for k in _KEYS):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint (expected format "
                              f"{FORMAT} with keys {list(_KEYS)}, found {found})")
    if expect:
        _check_meta(path, ckpt["meta"], expect)
    if model is not None:
        _load_model_state(path, model, ckpt["model"])
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if ckpt[name] is None:
            raise CheckpointError(f"checkpoint {path} holds no {name} state, but one was asked for")
        try:
            obj.load_state_dict(ckpt[name])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {path}: the {name} state does not fit this "
                                  f"{name} ({exc})") from exc
    return ckpt

