"""The optimiser side of the engine: which weights L2 acts on, the penalty,
SGD with the penalty or with decoupled decay, and the learning-rate schedule.

Two kinds of L2, never to be confused (docs/DEFINITIONS.md: the penalty is what this
project calls L2):

- ``"penalty"``: ``loss = CE + lambda * sum_W ||W||^2`` over :func:`l2_params`.
  Its gradient adds ``2 * lambda * W``, which then passes through momentum.
  :func:`utils.training.train_one_epoch` adds it to the loss.
- ``"decoupled"`` (SGDW, Loshchilov & Hutter 2019): before each SGD update,
  ``W <- W - lr_t * lambda * W`` on the same parameters, outside the gradient
  and the momentum. ``lr_t`` is the scheduled learning rate (PyTorch's
  convention; the paper's ``lambda`` equals ``lr_0 * lambda`` here). Without
  momentum, penalty ``lambda`` matches decoupled ``2 * lambda``; with momentum
  ``mu`` the penalty is about ``1 / (1 - mu)`` times stronger again, so the
  same number means different regularisation in the two modes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from utils.regimen import L2_MODES, Regimen, l2_penalty, weight_params  # noqa: F401  (re-exported)

SCHEDULES = ("cosine", "onecycle", "constant")


# --------------------------------------------------------------------------
# L2
# --------------------------------------------------------------------------

# The L2 set and the penalty belong to the regimen (utils/regimen.py); the
# names stay importable from here.
l2_params = weight_params


class SGDL2(torch.optim.SGD):
    """SGD with momentum whose first parameter group is :func:`l2_params` of
    the model, carrying ``l2`` (lambda) and ``l2_mode``; the second group
    holds every other parameter with ``l2 = 0``.

    ``l2_mode="decoupled"``: each :meth:`step` first multiplies the weights of
    the L2 group (those with a gradient) by ``1 - lr * l2``, then takes the
    plain SGD step, so ``W_{t+1} = (1 - lr_t l2) W_t - lr_t * update_t`` with
    the update from the loss gradient alone. ``l2_mode="penalty"``: the
    optimiser does nothing extra; :func:`train_one_epoch` adds the penalty to
    the loss. The mode and lambda live in the param groups, so they travel in
    ``state_dict()``.
    """

    def __init__(self, groups: list[dict], *, lr: float, momentum: float, nesterov: bool):
        super().__init__(groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=0.0)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            # A closure would see the decayed weights; nothing here needs one.
            raise ValueError("closure: SGDL2.step takes no closure")
        for group in self.param_groups:
            if group.get("l2_mode") == "decoupled" and group.get("l2", 0.0) > 0:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - group["lr"] * group["l2"])
        return super().step()


def make_optimizer(model: nn.Module, regimen: Regimen | None = None, *, lr: float,
                   momentum: float = 0.9, nesterov: bool = True) -> SGDL2:
    """SGD for ``model`` carrying ``regimen``'s L2 rule (see :class:`SGDL2`;
    None: no regulariser). The regimen is the one place the L2 strength is
    set: build the optimiser from the regimen :func:`train_one_epoch` gets."""
    regimen = regimen or Regimen(name="none")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr: expected a finite number > 0, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum: expected 0 <= momentum < 1, got {momentum}")
    if nesterov and momentum == 0:
        raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0")
    decay = regimen.penalised(model)
    decay_ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in decay_ids]
    groups = [{"params": decay, "l2": float(regimen.l2), "l2_mode": regimen.l2_mode},
              {"params": rest, "l2": 0.0, "l2_mode": regimen.l2_mode}]
    return SGDL2([g for g in groups if g["params"]], lr=lr, momentum=momentum, nesterov=nesterov)


def make_schedule(optimizer: torch.optim.Optimizer, kind: str = "cosine", *, total_steps: int,
                  warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step learning-rate multiplier; call ``scheduler.step()`` after each
    optimiser step. Step ``s`` (0-based) during warm-up gets
    ``(s + 1) / warmup_steps``; after it, with ``u`` the fraction of the
    remaining steps done: ``cosine`` ``(1 + cos(pi u)) / 2``; ``onecycle``
    ``1 - u`` (a triangle with the warm-up); ``constant`` ``1``."""
    if kind not in SCHEDULES:
        raise ValueError(f"kind: expected one of {SCHEDULES}, got {kind!r}")
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps: expected an int >= 1, got {total_steps!r}")
    if not isinstance(warmup_steps, int) or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps: expected an int in [0, total_steps={total_steps}], "
                         f"got {warmup_steps!r}")

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, kind, total_steps, warmup_steps))


def lr_multiplier(step: int, kind: str, total_steps: int, warmup_steps: int) -> float:
    """The schedule of every experiment, for 0-based optimiser step ``step``:
    ``(step + 1) / warmup_steps`` during warm-up; after it, with ``span =
    total_steps - warmup_steps`` (at least 1) and ``d = min(step -
    warmup_steps, span)``: ``cosine`` ``(1 + cos(pi d / span)) / 2``,
    ``onecycle`` ``1 - d / span``, ``constant`` 1. (The arithmetic order is
    experiment A's original one, so its results are bit-identical; B's
    cosine differed from it by at most one float64 ulp at some steps.)"""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    span = max(total_steps - warmup_steps, 1)
    d = min(step - warmup_steps, span)
    return 0.5 * (1.0 + math.cos(math.pi * d / span)) if kind == "cosine" else 1.0 - d / span
