"""Empirical NTK of experiment A's networks (docs/DEFINITIONS.md section 11).

Linearise the network at its current (initial) parameters ``theta0``:
``f(theta) ~ f0 + J (theta - theta0)``, with ``J`` the ``(N, P)`` Jacobian of
the outputs on the training grid. The empirical NTK is ``Theta = J J^T``;
split over the penalised weights ``W`` and the free rest ``B`` (biases) it is
``Theta = Theta_W + Theta_B``. :func:`linearise` returns everything the
predictions of :mod:`.linearised` need; the derivations are in
``docs/theory.md``.

Kernels are computed in float64 with ``torch.func`` (``vmap`` of ``jacrev``
through ``functional_call``), in eval mode (dropout off, as the
measurements are), never holding the whole Jacobian.

Pure numpy/torch: no files, no plotting, no printing, no global RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, jacrev, jvp, vmap

from ._grid import as_numpy, describe

__all__ = [
    "linear_weight_names",
    "empirical_ntk",
    "weight_jvp",
    "Linearisation",
    "linearise",
]

# Default cap on one Jacobian block, in float64 elements (2^23 = 64 MiB).
# The default 4x192 MLP has ~111k parameters: its full Jacobian on N = 512 is
# 512 x 111k float64 = 450 MB, so the Jacobian is built in row slices of one
# parameter tensor at a time and only the N x N kernel is accumulated.
DEFAULT_MAX_ELEMENTS = 1 << 23


def linear_weight_names(model: torch.nn.Module) -> list[str]:
    """Names (as in ``model.named_parameters()``) of the ``weight`` of every
    ``nn.Linear``: the set experiment A's L2 penalty acts on (biases and
    normalisation parameters excluded, docs/DEFINITIONS.md 1)."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    names = []
    for mod_name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            names.append(f"{mod_name}.weight" if mod_name else "weight")
    return names


def _inputs(u, model: torch.nn.Module) -> torch.Tensor:
    """``u`` as a float64 ``(N, in_dim)`` tensor on the model's device."""
    if isinstance(u, torch.Tensor):
        t = u.detach()
    else:
        arr = as_numpy(u, "u")
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"u: expected a numeric array or tensor, got {type(u).__name__}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise ValueError(f"u: expected real inputs, got dtype {t.dtype}")
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[0] < 1:
        raise ValueError(f"u: expected shape (N,) or (N, in_dim) with N >= 1, got {tuple(t.shape)}")
    t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("u: contains non-finite values")
    dev = next(model.parameters()).device
    return t.to(dev)


def _state(model: torch.nn.Module, params):
    """float64 copies of every parameter and buffer, and the names to
    differentiate (``params``: None = all; else a dict name -> tensor whose
    values replace the model's, or an iterable of names)."""
    all_p = {n: p.detach().to(torch.float64) for n, p in model.named_parameters()}
    if not all_p:
        raise ValueError("model: expected a module with parameters, got none")
    bad = [n for n, p in all_p.items() if not bool(torch.isfinite(p).all())]
    if bad:
        raise ValueError(f"model: parameters {bad} are not finite (NaN or inf)")
    buffers = {n: b.detach().to(torch.float64) if b.is_floating_point() else b
               for n, b in model.named_buffers()}
    if params is None:
        names = list(all_p)
    else:
        if isinstance(params, dict):
            names = list(params)
        elif isinstance(params, (str, bytes)):
            raise ValueError(f"params: expected None, a dict or an iterable of names, got {describe(params)}")
        else:
            names = list(params)
        if not names:
            raise ValueError("params: expected at least one parameter name, got none")
        unknown = [n for n in names if n not in all_p]
        if unknown:
            raise ValueError(f"params: expected names of the model's parameters {sorted(all_p)}, "
                             f"got unknown names {unknown}")
        if isinstance(params, dict):
            for n, v in params.items():
                v = torch.as_tensor(v).detach()
                if tuple(v.shape) != tuple(all_p[n].shape):
                    raise ValueError(f"params: {n} expected shape {tuple(all_p[n].shape)}, "
                                     f"got {tuple(v.shape)}")
                all_p[n] = v.to(all_p[n].device, torch.float64)
    return all_p, buffers, names


class _eval_mode:
    """Evaluate in ``model.eval()`` (dropout off, as the measurements are),
    restoring the caller's mode afterwards."""

    def __init__(self, model):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def _scalar_output(model, all_p, buffers, x, check_finite: bool = False):
    out = functional_call(model, (all_p, buffers), (x,))
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != 1:
        raise ValueError(f"model: expected outputs of shape (N, 1) (one scalar per point), "
                         f"got {tuple(getattr(out, 'shape', ()))}")
    if check_finite and not bool(torch.isfinite(out).all()):
        raise ValueError("model: produced non-finite outputs (NaN or inf) on u")
    return out


def empirical_ntk(model: torch.nn.Module, u, params=None,
                  max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """Empirical NTK ``Theta = J J^T`` of a scalar-output model on points ``u``.

    ``J[j, p] = d f(u_j) / d theta_p`` at the current parameters, computed in
    float64 with ``torch.func`` (``vmap`` of ``jacrev`` over points, through
    ``functional_call``), in eval mode. The Jacobian is never held whole: it
    is built one row slice of one parameter tensor at a time (each slice at
    most ``max_elements`` float64 values, ``N x slice size``) and each
    slice's ``J_s J_s^T`` is added to the kernel.

    Args:
        model: ``(B, in_dim) -> (B, 1)``.
        u: ``(N,)`` or ``(N, in_dim)`` inputs (experiment A: ``x / pi - 1``).
        params: which parameters the kernel is over. ``None``: all. An
            iterable of names (e.g. :func:`linear_weight_names`) gives the
            kernel restricted to them (``Theta_W = J_W J_W^T``). A dict
            ``name -> tensor`` also evaluates at those values (parameters not
            in it stay at the model's values and are not differentiated).
        max_elements: cap on one Jacobian block, in float64 elements.

    Returns:
        float64 ``(N, N)``, symmetric positive semi-definite.
    """
    if isinstance(max_elements, bool) or not isinstance(max_elements, (int, np.integer)) \
            or max_elements < 1:
        raise ValueError(f"max_elements: expected an int >= 1, got {describe(max_elements)}")
    x = _inputs(u, model)
    all_p, buffers, names = _state(model, params)
    N = x.shape[0]
    theta = torch.zeros(N, N, dtype=torch.float64, device=x.device)
    with _eval_mode(model):
        with torch.no_grad():  # shape and finiteness check before the heavy part
            _scalar_output(model, all_p, buffers, x, check_finite=True)
        for name in names:
            full = all_p[name]
            rows = full.shape[0] if full.ndim else 1
            row_size = max(1, full.numel() // max(rows, 1))
            per_block = max(1, int(max_elements) // (N * row_size))
            for start in range(0, rows, per_block):
                stop = min(rows, start + per_block)
                theta += _slice_gram(model, all_p, buffers, x, name, start, stop)
    # J J^T accumulated in float64 is symmetric up to rounding; make it exact.
    theta = 0.5 * (theta + theta.T)
    return theta.cpu().numpy()


def _slice_gram(model, all_p, buffers, x, name, start, stop) -> torch.Tensor:
    """``J_s J_s^T`` for the rows ``start:stop`` of parameter ``name``."""
    full = all_p[name]
    scalar = full.ndim == 0

    def f_point(piece, xi):
        if scalar:
            p = piece
        else:
            p = torch.cat([full[:start], piece, full[stop:]], dim=0)
        out = functional_call(model, ({**all_p, name: p}, buffers), (xi[None],))
        return out.reshape(())

    piece = full if scalar else full[start:stop]
    # Per-point gradients of one slice: (N, *piece.shape).
    J = vmap(jacrev(f_point), in_dims=(None, 0))(piece, x)
    J = J.reshape(x.shape[0], -1)
    return J @ J.T


def weight_jvp(model: torch.nn.Module, u, names=None) -> np.ndarray:
    """``J_W W`` on points ``u``: the Jacobian of the outputs with respect to
    the parameters ``names`` (default :func:`linear_weight_names`), applied to
    their own current values (one forward-mode JVP, float64, eval mode).

    This is the pull of a penalty ``lambda ||W||^2`` around *zero* seen in
    function space (``q0`` of :func:`predict_residuals_l2`). Returns float64
    ``(N,)``.
    """
    x = _inputs(u, model)
    names = linear_weight_names(model) if names is None else list(names)
    all_p, buffers, names = _state(model, names)
    tangents = {n: (p.clone() if n in names else torch.zeros_like(p)) for n, p in all_p.items()}

    def f(params):
        return _scalar_output(model, params, buffers, x)[:, 0]

    with _eval_mode(model):
        _, out = jvp(f, (all_p,), (tangents,))
    if not bool(torch.isfinite(out).all()):
        raise ValueError("model: produced non-finite outputs or derivatives (NaN or inf) on u")
    return out.detach().cpu().numpy().astype(np.float64)


@dataclass(frozen=True)
class Linearisation:
    """A model linearised at its current parameters, on N points.

    Attributes:
        f0: float64 ``(N,)`` outputs at the linearisation point.
        theta_w: ``(N, N)`` kernel over the penalised weights, ``J_W J_W^T``.
        theta_b: ``(N, N)`` kernel over every other parameter, ``J_B J_B^T``.
        q0: ``(N,)`` ``J_W W0``, the L2-around-zero pull (see
            :func:`predict_residuals_l2`).
        weight_names: the parameters counted as weights.
    """

    f0: np.ndarray
    theta_w: np.ndarray
    theta_b: np.ndarray
    q0: np.ndarray
    weight_names: tuple[str, ...]

    @property
    def theta(self) -> np.ndarray:
        """The full empirical NTK ``Theta = Theta_W + Theta_B``."""
        return self.theta_w + self.theta_b


def linearise(model: torch.nn.Module, u, weight_names=None,
              max_elements: int = DEFAULT_MAX_ELEMENTS) -> Linearisation:
    """Everything the linearised predictions need, at the current parameters.

    ``weight_names`` default: :func:`linear_weight_names` (experiment A's L2
    set). The kernel is computed once per block (weights, the rest), so this
    costs about one :func:`empirical_ntk`.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    all_names = [n for n, _ in model.named_parameters()]
    w = linear_weight_names(model) if weight_names is None else list(weight_names)
    unknown = [n for n in w if n not in all_names]
    if unknown or not w:
        raise ValueError(f"weight_names: expected a non-empty subset of {all_names}, got {w}")
    rest = [n for n in all_names if n not in w]
    x = _inputs(u, model)
    theta_w = empirical_ntk(model, x, w, max_elements)
    theta_b = (empirical_ntk(model, x, rest, max_elements) if rest
               else np.zeros_like(theta_w))
    all_p, buffers, _ = _state(model, None)
    with _eval_mode(model), torch.no_grad():
        f0 = _scalar_output(model, all_p, buffers, x, check_finite=True)[:, 0].cpu().numpy()
    return Linearisation(f0=f0, theta_w=theta_w, theta_b=theta_b,
                         q0=weight_jvp(model, x, w), weight_names=tuple(w))
