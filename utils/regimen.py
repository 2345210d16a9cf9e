"""The regulariser as one concept: a frozen :class:`Regimen` is the full set of
regularisation knobs of one arm, validated once, able to describe itself and
to supply its own mechanics (docs/DEFINITIONS.md, "Regimens").

Knobs (each combinable with every other):

==================  =========================================================
``l2``              strength lambda >= 0 of the L2 rule on the weights of
                    Conv and Linear layers (biases and normalisation
                    parameters excluded)
``l2_mode``         ``penalty``: ``lambda * sum ||W||^2`` added to the loss
                    (coupled: its gradient passes through momentum / Adam);
                    ``decoupled``: SGDW / AdamW decay ``W <- W - lr*lambda*W``
``dropout``         rate ``0 <= p < 1``
``dropout_at``      where: ``hidden`` (A's MLP hidden layers), ``classifier``
                    (B: before the linear read-out), ``conv`` (B: channel
                    dropout after each conv block / residual stage, which is
                    what can touch conv1's learning directly)
``label_smoothing`` ``0 <= eps < 1`` of the cross-entropy (B)
``augment``         ``none`` or ``crop_flip`` (4-pixel crop + flip) (B)
``input_noise``     sigma >= 0 of Gaussian noise added to [0, 1] pixels before
                    normalisation, clipped to [0, 1], drawn per (seed, epoch) (B)
``cutout``          side in pixels of one square zeroed at a random place in
                    every training image (DeVries & Taylor 2017), 0 = off (B)
==================  =========================================================

Arms on the command line: a shorthand (``baseline``, ``l2``, ``dropout``,
``l2+dropout``: today's arms, with the experiment's default strengths) or
``NAME:knob=value,knob=value`` on top of the experiment's base regimen, e.g.
``l2conv:l2=5e-4,dropout=0.2,dropout_at=conv``. A sweep ``KNOB=v1,v2,...``
adds one arm per value (named ``KNOB=value``) on the same base; the value that
equals the base is the baseline itself.

Adding a regulariser (the extension contract):

1. add a field to :class:`Regimen` with a default that means "off", and its
   check to :meth:`Regimen.__post_init__` (``_KNOBS`` holds its type and range
   for the parser); say in :meth:`Regimen.label` how it reads in a legend;
2. give it its mechanics here (a method the engine calls: a loss option, a
   parameter group, an input transform) and call it from the one place in
   ``utils/training.py`` (B) or ``experiments/exp_a_synthetic.py`` (A) where
   that kind of mechanic already lives;
3. list it in the ``KNOBS`` of the experiments that support it (others refuse
   it with a clear error), and add a test with a known answer.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

L2_MODES = ("penalty", "decoupled")
PLACEMENTS = ("hidden", "classifier", "conv")
AUGMENTS = ("none", "crop_flip")
SHORTHANDS = ("baseline", "l2", "dropout", "l2+dropout")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,63}$")
_WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                  nn.ConvTranspose3d, nn.Linear)


def _finite(name: str, value, lo: float, hi: float | None = None, hi_open: bool = False) -> float:
    """``value`` as a float in ``[lo, hi]`` (``[lo, hi)`` when ``hi_open``),
    finite; ValueError naming ``name`` otherwise (NaN fails every test)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    ok = math.isfinite(v) and v >= lo and (hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        rng = f">= {lo:g}" if hi is None else f"in [{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{name}: expected a finite number {rng}, got {value!r}")
    return v


@dataclass(frozen=True)
class Regimen:
    """Every regularisation knob of one arm (see the module docstring)."""
    name: str = "baseline"
    l2: float = 0.0
    l2_mode: str = "penalty"
    dropout: float = 0.0
    dropout_at: str = "hidden"
    label_smoothing: float = 0.0
    augment: str = "none"
    input_noise: float = 0.0
    cutout: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"arm name: expected 1-64 characters from letters, digits and "
                             f"'_.+=-' (it names files), got {self.name!r}")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: normalise once)
        set_("l2", _finite("l2", self.l2, 0.0))
        set_("dropout", _finite("dropout", self.dropout, 0.0, 1.0, hi_open=True))
        set_("label_smoothing", _finite("label_smoothing", self.label_smoothing, 0.0, 1.0,
                                        hi_open=True))
        set_("input_noise", _finite("input_noise", self.input_noise, 0.0, 1.0))
        if isinstance(self.cutout, bool) or not isinstance(self.cutout, int) or not (
                0 <= self.cutout <= 64):
            raise ValueError(f"cutout: expected a whole number of pixels in [0, 64], got "
                             f"{self.cutout!r}")
        for key, choices in (("l2_mode", L2_MODES), ("dropout_at", PLACEMENTS),
                             ("augment", AUGMENTS)):
            if getattr(self, key) not in choices:
                raise ValueError(f"{key}: expected one of {list(choices)}, got "
                                 f"{getattr(self, key)!r}")

    # ------------------------------------------------------------ description
    def knobs(self) -> dict:
        """The knobs as a plain dict (config.json, checkpoints, summaries)."""
        d = dataclasses.asdict(self)
        d.pop("name")
        return d

    def is_baseline_of(self, base: "Regimen") -> bool:
        return self.knobs() == base.knobs()

    def label(self) -> str:
        """Legend text that says exactly which regulariser this is; the one
        function every figure, table and report uses."""
        parts = []
        if self.l2 > 0:
            parts.append(f"L2 penalty {self.l2:g}*sum||W||^2" if self.l2_mode == "penalty"
                         else f"decoupled weight decay {self.l2:g}")
        if self.dropout > 0:
            parts.append(f"dropout p={self.dropout:g}"
                         + ("" if self.dropout_at == "hidden" else f" at {self.dropout_at}"))
        if self.label_smoothing > 0:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        if self.augment != "none":
            parts.append({"crop_flip": "crop+flip"}[self.augment])
        if self.input_noise > 0:
            parts.append(f"input noise sigma={self.input_noise:g}")
        if self.cutout > 0:
            parts.append(f"cutout {self.cutout}px")
        return self.name + (" (" + ", ".join(parts) + ")" if parts else " (no regulariser)")

    # ------------------------------------------------------------- mechanics
    def penalised(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters the L2 rule acts on: :func:`weight_params`."""
        return weight_params(model)

    @property
    def has_penalty(self) -> bool:
        """True when the loss carries an L2 term (penalty mode, ``l2 > 0``)."""
        return self.l2_mode == "penalty" and self.l2 > 0

    def penalty(self, params: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """``l2 * sum_W ||W||^2`` when :attr:`has_penalty`, else None
        (decoupled decay is the optimiser's job, see :meth:`param_groups`)."""
        if not self.has_penalty or not params:
            return None
        return self.l2 * l2_penalty(params)

    def param_groups(self, model: nn.Module) -> list[dict]:
        """Optimiser groups: the L2 set first with ``weight_decay = l2`` in
        decoupled mode (0 in penalty mode), then every other parameter with
        0. Empty groups are dropped."""
        decay = self.penalised(model)
        ids = {id(p) for p in decay}
        rest = [p for p in model.parameters() if id(p) not in ids]
        wd = self.l2 if self.l2_mode == "decoupled" else 0.0
        groups = [{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
        return [g for g in groups if g["params"]]

    def cross_entropy(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy with this regimen's label smoothing."""
        if self.label_smoothing > 0:
            return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return F.cross_entropy(logits, y)

    def augmenter(self):
        """``augment(batch, generator) -> batch`` or None: crop + flip when
        ``augment`` says so, then cutout when ``cutout > 0``."""
        if self.augment == "none" and self.cutout == 0:
            return None
        from utils.augment import random_crop_flip

        def augment(x, g):
            if self.augment == "crop_flip":
                x = random_crop_flip(x, g, pad=4, flip=True)
            return _cutout(x, g, self.cutout) if self.cutout else x
        return augment

    def add_input_noise(self, x01: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``clip(x01 + sigma * n, 0, 1)`` in place, ``n ~ N(0, 1)`` drawn
        from ``generator`` (contiguous order, so the draw does not depend on
        the memory layout); ``x01`` float pixels in [0, 1] BEFORE
        normalisation."""
        if self.input_noise == 0:
            return x01
        n = torch.randn(x01.shape, generator=generator, device=x01.device, dtype=x01.dtype)
        return x01.add_(n, alpha=self.input_noise).clamp_(0.0, 1.0)


def _cutout(x: torch.Tensor, generator: torch.Generator, size: int) -> torch.Tensor:
    """Zero one ``size x size`` square per image of ``x`` (B, C, H, W) at a
    centre drawn uniformly over the image from ``generator`` (the square may
    leave the image, as in DeVries & Taylor 2017). A new tensor."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator, device=generator.device).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator, device=generator.device).to(x.device)
    dy = torch.arange(h, device=x.device)[None, :] - cy[:, None]          # (B, H)
    dx = torch.arange(w, device=x.device)[None, :] - cx[:, None]          # (B, W)
    lo, hi = -(size // 2), size - size // 2
    inside = ((dy >= lo) & (dy < hi))[:, :, None] & ((dx >= lo) & (dx < hi))[:, None, :]
    return x.masked_fill(inside[:, None], 0)


# --------------------------------------------------------------------------
# the L2 set and the penalty
# --------------------------------------------------------------------------

def weight_params(model: nn.Module) -> list[nn.Parameter]:
    """Weights of the Conv and Linear layers of ``model``, in module order:
    no biases, no normalisation parameters. Shared weights appear once. A
    parametrised weight (``torch.nn.utils.parametrize``, e.g. spectral norm)
    contributes its underlying parameter ``parametrizations.weight.original``
    -- ``module.weight`` is then a computed tensor that no optimiser holds."""
    from torch.nn.utils import parametrize

    seen, out = set(), []
    for module in model.modules():
        if not isinstance(module, _WEIGHT_LAYERS):
            continue
        if parametrize.is_parametrized(module, "weight"):
            plist = module.parametrizations.weight
            p = getattr(plist, "original", None)
            if p is None:  # a parametrisation with several originals
                raise ValueError(f"model: {type(module).__name__} has a weight parametrisation "
                                 "with several original tensors; the L2 set is ambiguous")
        else:
            p = module.weight
        if isinstance(p, nn.Parameter) and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def l2_penalty(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sum_W ||W||^2`` (no lambda, no 1/2), differentiable; 0-d tensor.

    A plain loop of ``p.pow(2).sum()``: measured on the 2-core CPU against
    ``torch._foreach_norm`` (norms, stacked, squared) and ``torch.cat``, the
    loop was as fast within noise for SmallCNN and ResNet-18 (forward +
    backward) and the only one that matches a float64 sum to 1e-7.
    """
    if len(params) == 0:
        raise ValueError("params: expected at least one tensor, got an empty list")
    return torch.stack([p.pow(2).sum() for p in params]).sum()


# --------------------------------------------------------------------------
# arms from text
# --------------------------------------------------------------------------

# knob -> parser of its text value (the range is checked by Regimen itself)
_KNOBS = {"l2": float, "l2_mode": str, "dropout": float, "dropout_at": str,
          "label_smoothing": float, "augment": str, "input_noise": float, "cutout": int}
KNOB_NAMES = tuple(_KNOBS)


def _parse_knob(key: str, text: str, where: str):
    if key not in _KNOBS:
        raise ValueError(f"{where}: unknown knob {key!r}; expected one of {list(_KNOBS)}")
    if _KNOBS[key] in (float, int):
        try:
            return _KNOBS[key](text)
        except ValueError:
            raise ValueError(f"{where}: {key} expected a number, got {text!r}") from None
    return text.strip()


def parse_arm(spec: str, base: Regimen, shorthands: dict[str, Regimen]) -> Regimen:
    """One arm from ``NAME`` (a shorthand) or ``NAME:knob=value,...`` (knobs
    on top of ``base``). ValueError with the spec on any problem."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"arm: expected a name or NAME:knob=value,..., got {spec!r}")
    name, sep, rest = spec.strip().partition(":")
    name = name.strip()
    if not sep:
        if name not in shorthands:
            raise ValueError(f"arm {spec!r}: unknown shorthand; expected one of "
                             f"{list(shorthands)} or NAME:knob=value,... (knobs: {list(_KNOBS)})")
        return shorthands[name]
    changes = {}
    for item in (s for s in rest.split(",") if s.strip()):
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"arm {spec!r}: expected knob=value, got {item!r}")
        if key in changes:
            raise ValueError(f"arm {spec!r}: knob {key!r} given twice")
        changes[key] = _parse_knob(key, text, f"arm {spec!r}")
    try:
        return dataclasses.replace(base, name=name, **changes)
    except ValueError as e:
        raise ValueError(f"arm {spec!r}: {e}") from None


def parse_sweep(text: str) -> tuple[str, tuple]:
    """``"l2=0,1e-5,1e-4"`` -> ``("l2", (0.0, 1e-05, 0.0001))``."""
    key, eq, values = (text or "").partition("=")
    key = key.strip()
    if not eq or key not in _KNOBS:
        raise ValueError(f"sweep: expected KNOB=v1,v2,... with KNOB one of {list(_KNOBS)}, "
                         f"got {text!r}")
    vals = tuple(_parse_knob(key, v, "sweep") for v in values.split(",") if v.strip())
    if len(vals) < 2:
        raise ValueError(f"sweep: expected at least 2 values, got {text!r}")
    if len(set(vals)) != len(vals):
        raise ValueError(f"sweep: values repeat in {text!r}")
    return key, vals


def sweep_name(knob: str, value) -> str:
    return f"{knob}={value:g}" if isinstance(value, float) else f"{knob}={value}"


def build_regimens(specs: Iterable[str], base: Regimen, shorthands: dict[str, Regimen],
                   sweep: str = "", allowed: Iterable[str] = KNOB_NAMES,
                   placements: Iterable[str] = PLACEMENTS) -> list[Regimen]:
    """The arms of a run: one per spec, then one per sweep value that is not
    the base (the base regimen is the sweep's zero point and must be among
    the arms, as ``baseline``). Names and regimens must be distinct: two arms
    that are the same regimen would train the same model twice and be
    counted as two. ``allowed``/``placements``: what the experiment supports;
    any other knob set away from its ``Regimen()`` default is refused."""
    arms = [parse_arm(s, base, shorthands) for s in specs]
    if sweep:
        knob, values = parse_sweep(sweep)
        for v in values:
            try:
                r = dataclasses.replace(base, name=sweep_name(knob, v), **{knob: v})
            except ValueError as e:
                raise ValueError(f"sweep {sweep!r}: {e}") from None
            if not r.is_baseline_of(base):
                arms.append(r)
        # The sweep's zero point is the base regimen, always trained and shown.
        if not any(a.is_baseline_of(base) for a in arms):
            arms.insert(0, dataclasses.replace(base, name="baseline"))
    if not arms:
        raise ValueError("arms: expected at least one arm")
    names = [a.name for a in arms]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"arms: names repeat: {dup}")
    for i, a in enumerate(arms):
        for b in arms[:i]:
            if a.knobs() == b.knobs():
                raise ValueError(f"arms: {b.name!r} and {a.name!r} are the same regimen "
                                 f"({a.label()}); each would train the same model")
    for a in arms:
        if a.name == "baseline" and not a.is_baseline_of(base):
            raise ValueError(f"arm 'baseline' carries a regulariser ({a.label()}); it is every "
                             f"paired verdict's reference, so it must be the base regimen: "
                             f"give this arm another name")
        if a.is_baseline_of(base) and a.name != "baseline":
            raise ValueError(f"arm {a.name!r} is the base regimen itself; name it 'baseline' "
                             "(every paired comparison looks for the baseline by that name)")
    allowed, placements = set(allowed), set(placements)
    default = Regimen()
    for a in arms:
        off = [k for k in KNOB_NAMES if k not in allowed and getattr(a, k) != getattr(default, k)]
        if off:
            raise ValueError(f"arm {a.name!r}: this experiment does not support {off}")
        if a.dropout > 0 and a.dropout_at not in placements:
            raise ValueError(f"arm {a.name!r}: dropout_at={a.dropout_at!r} is not available "
                             f"here; expected one of {sorted(placements)}")
    return arms


def shorthand_arms(base: Regimen, l2: float, dropout: float) -> dict[str, Regimen]:
    """Today's four arms on ``base``: ``baseline``, ``l2``, ``dropout``,
    ``l2+dropout`` with strength ``l2`` and rate ``dropout``."""
    rep = dataclasses.replace
    return {"baseline": rep(base, name="baseline"),
            "l2": rep(base, name="l2", l2=l2),
            "dropout": rep(base, name="dropout", dropout=dropout),
            "l2+dropout": rep(base, name="l2+dropout", l2=l2, dropout=dropout)}


def sweep_axis(arms: Sequence[Regimen], sweep: str, base: Regimen) -> dict | None:
    """For dose-response figures: ``{"knob", "values", "arms"}`` with the
    arm index of each sweep value (the baseline for the base value), in
    ascending value order; None without a sweep."""
    if not sweep:
        return None
    knob, values = parse_sweep(sweep)
    index = {a.name: i for i, a in enumerate(arms)}
    base_i = next(i for i, a in enumerate(arms) if a.is_baseline_of(base))
    pairs = []
    for v in values:
        r = dataclasses.replace(base, **{knob: v})
        pairs.append((v, base_i if r.is_baseline_of(base) else index[sweep_name(knob, v)]))
    if getattr(base, knob) not in values and isinstance(getattr(base, knob), float):
        pairs.append((getattr(base, knob), base_i))  # the zero point, always shown
    if all(isinstance(v, float) for v, _ in pairs):
        pairs.sort(key=lambda p: p[0])
    return {"knob": knob, "values": [v for v, _ in pairs], "arms": [i for _, i in pairs]}
