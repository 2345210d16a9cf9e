"""Linearised-network predictions for experiment A (docs/DEFINITIONS.md section 11).

For the project's loss ``L = (1/N) sum_j (f(u_j) - y_j)^2`` and gradient
descent ``theta <- theta - eta grad L`` the residual ``r = f - y`` of the
network linearised at ``theta0`` (kernel ``Theta`` from :mod:`.ntk`) obeys
exactly

    r_{t+1} = (I - c_t Theta) r_t,    c_t = 2 eta_t / N,

so ``r(T) = V diag(prod_t (1 - c_t lambda_i)) V^T r(0)`` (``Theta = V diag(
lambda) V^T``), and ``exp(-(2/N) sum_t eta_t Theta) r(0)`` in the flow limit.
The L2 penalty ``lambda * sum ||W||^2`` (weight matrices only, around zero,
as in experiment A) adds a second N-vector ``q = J_W (w - a)`` to the state;
see :func:`predict_residuals_l2` and :func:`l2_steady_state`. The derivation
is written out in ``docs/theory.md``.

Approximations (say them next to every overlay): the kernel is frozen at
``theta0`` (exact only for a model linear in its parameters, approached by
wide networks in the lazy regime), and everything here is for full-batch
gradient descent. Adam is not gradient descent: its per-parameter scaling
changes the kernel, so predictions overlaid on Adam runs are a reference,
not a test.

Spectra of predicted residuals are projected exactly with the DFT
(:func:`residual_metrics`): on ``u in [-1, 1)`` Fourier modes are not
eigenvectors of ``Theta``, and nothing here assumes they are.

Pure numpy/torch: no files, no plotting, no printing, no global RNG.
"""

from __future__ import annotations

import numpy as np

from ._grid import as_float_array, describe
from .signal1d import dft_coefficients, relative_error, spectral_gain

__all__ = [
    "ntk_eigh",
    "predict_residuals",
    "predict_residuals_l2",
    "l2_steady_state",
    "residual_metrics",
    "stable_gd_lr",
]


# --------------------------------------------------------------------------
# Checks shared by the predictions
# --------------------------------------------------------------------------

def _kernel(K, name: str = "Theta", n: int | None = None) -> np.ndarray:
    K = as_float_array(K, name)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 1:
        raise ValueError(f"{name}: expected a square (N, N) matrix, got shape {K.shape}")
    if n is not None and K.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n}, {n}), got {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name}: contains non-finite values")
    scale = max(float(np.abs(K).max()), np.finfo(np.float64).tiny)
    asym = float(np.abs(K - K.T).max())
    if asym > 1e-9 * scale:
        raise ValueError(f"{name}: expected a symmetric kernel, got max |K - K^T| = {asym:.3g} "
                         f"(max |K| = {scale:.3g})")
    return 0.5 * (K + K.T)


def _vector(v, name: str, n: int) -> np.ndarray:
    v = as_float_array(v, name)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: contains non-finite values")
    return v


def _n_points(n_points, N: int) -> int:
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) \
            or int(n_points) != N:
        raise ValueError(f"n_points: expected N = {N}, the number of points the kernel is on "
                         f"(the loss (1/N) sum_j averages over them), got {describe(n_points)}")
    return int(n_points)


def _lrs(lrs) -> np.ndarray:
    a = as_float_array(lrs, "lrs")
    if a.ndim == 0:
        raise ValueError("lrs: expected a 1D sequence of per-step learning rates (one per "
                         "optimiser step), got a scalar; use np.full(T, eta) for a constant one")
    if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"lrs: expected a 1D sequence of finite learning rates >= 0, "
                         f"got shape {a.shape}")
    return a


def _steps(steps, T: int) -> np.ndarray:
    if steps is None:
        return np.arange(T + 1)
    s = np.asarray(steps)
    if s.ndim != 1 or s.size == 0 or not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"steps: expected a non-empty 1D sequence of integers, got {describe(steps)}")
    if s.min() < 0 or s.max() > T:
        raise ValueError(f"steps: expected values in [0, T={T}] (T = len(lrs)), "
                         f"got [{s.min()}, {s.max()}]")
    return s.astype(np.int64)


def _l2_values(l2, allow_zero: bool) -> tuple[np.ndarray, bool]:
    a = as_float_array(l2, "l2")
    scalar = a.ndim == 0
    a = np.atleast_1d(a)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0) \
            or (not allow_zero and np.any(a == 0)):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"l2: expected a finite strength {want} or a 1D sequence of them, got {describe(l2)}")
    return a, scalar


# --------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------

def ntk_eigh(Theta) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a kernel, eigenvalues in *descending* order.

    Returns ``(lam (N,), V (N, N))`` with ``Theta = V diag(lam) V^T`` and the
    eigenvector of ``lam[i]`` in column ``V[:, i]``. Rounding can leave the
    smallest eigenvalues of a PSD kernel slightly negative; they are kept as
    they are (clipping would hide a kernel that is not PSD).
    """
    K = _kernel(Theta)
    lam, V = np.linalg.eigh(K)
    return lam[::-1].copy(), V[:, ::-1].copy()


def predict_residuals(Theta, r0, lrs, n_points: int, steps=None,
                      mode: str = "discrete") -> np.ndarray:
    """Residual ``r_t = f_t - y`` of the linearised model under gradient descent.

    For ``L = (1/N) sum_j (f(u_j) - y_j)^2`` and ``theta_{t+1} = theta_t -
    eta_t grad L`` the linearised residual obeys ``r_{t+1} = (I - c_t Theta)
    r_t`` with ``c_t = 2 eta_t / N`` (docs/theory.md), hence

    * ``mode="discrete"`` (exact for a model linear in its parameters):
      ``r_t = V diag(prod_{s<t} (1 - c_s lam_i)) V^T r_0``;
    * ``mode="flow"`` (gradient-flow limit): ``r_t = exp(-(2/N) (sum_{s<t}
      eta_s) Theta) r_0``.

    A learning-rate schedule enters as the sequence ``lrs``; the schedule is
    applied exactly, step by step, in the discrete mode.

    Args:
        Theta: ``(N, N)`` empirical NTK on the training points.
        r0: ``(N,)`` initial residual ``f0 - y``.
        lrs: ``(T,)`` learning rate of each optimiser step (step ``s`` maps
            ``r_s`` to ``r_{s+1}``).
        n_points: ``N``, the normaliser of the loss (must equal Theta's size:
            it is asked for so that a sum-reduced loss cannot slip in).
        steps: integer steps in ``[0, T]`` to return; all ``T + 1`` if None.
        mode: ``"discrete"`` or ``"flow"``.

    Returns:
        float64 ``(len(steps), N)``.
    """
    K = _kernel(Theta)
    N = _n_points(n_points, K.shape[0])
    r0 = _vector(r0, "r0", N)
    eta = _lrs(lrs)
    st = _steps(steps, eta.size)
    if mode not in ("discrete", "flow"):
        raise ValueError(f"mode: expected 'discrete' or 'flow', got {describe(mode)}")
    lam, V = ntk_eigh(K)
    c = 2.0 * eta / N                                           # (T,)
    if mode == "discrete":
        factors = 1.0 - c[:, None] * lam[None, :]               # (T, N)
        G = np.concatenate([np.ones((1, N)), np.cumprod(factors, axis=0)])[st]
    else:
        csum = np.concatenate([[0.0], np.cumsum(c)])[st]
        G = np.exp(-csum[:, None] * lam[None, :])
    return (G * (V.T @ r0)[None, :]) @ V.T


def predict_residuals_l2(Theta_W, Theta_B, r0, q0, lrs, l2, n_points: int,
                         steps=None) -> np.ndarray:
    """Residuals of the linearised model under gradient descent on
    ``(1/N) sum_j (f_j - y_j)^2 + l2 * ||w - a||^2`` (``w`` the penalised
    parameters, ``a`` their anchor), exact for a model linear in its
    parameters.

    The state is the residual ``r = f - y`` and the penalty's pull seen in
    function space, ``q = J_W (w - a)``; per step (docs/theory.md):

        r_{t+1} = r_t - (2 eta_t / N) Theta r_t - 2 eta_t l2 q_t
        q_{t+1} = (1 - 2 eta_t l2) q_t - (2 eta_t / N) Theta_W r_t

    with ``Theta = Theta_W + Theta_B``. Experiment A's penalty (weight
    matrices, around zero): ``Theta_W`` over the weights, ``Theta_B`` over
    biases, ``q0 = J_W W0`` (:func:`linearise` gives all three). A ridge on
    every parameter around ``theta0``: ``Theta_W = Theta``, ``Theta_B = 0``,
    ``q0 = 0``.

    Args:
        Theta_W, Theta_B: ``(N, N)`` kernels of the penalised and the free
            parameters.
        r0: ``(N,)`` initial residual; q0: ``(N,)`` initial pull.
        lrs: ``(T,)`` per-step learning rates.
        l2: strength ``lambda >= 0`` or a 1D sequence of them (``(L,)``).
        n_points: ``N`` (as in :func:`predict_residuals`).
        steps: integer steps in ``[0, T]`` to return; all if None.

    Returns:
        float64 ``(len(steps), N)``, or ``(L, len(steps), N)`` for a sequence
        of strengths.
    """
    KW = _kernel(Theta_W, "Theta_W")
    N = _n_points(n_points, KW.shape[0])
    KB = _kernel(Theta_B, "Theta_B", N)
    K = KW + KB
    r = _vector(r0, "r0", N)
    q = _vector(q0, "q0", N)
    eta = _lrs(lrs)
    st = _steps(steps, eta.size)
    lam, scalar = _l2_values(l2, allow_zero=True)
    L = lam.size
    # States for all strengths at once: columns are strengths, (N, L).
    R = np.repeat(r[:, None], L, axis=1)
    Q = np.repeat(q[:, None], L, axis=1)
    want = np.zeros(eta.size + 1, dtype=bool)
    want[st] = True
    saved = {}
    if want[0]:
        saved[0] = R.T.copy()
    for t, e in enumerate(eta):
        c = 2.0 * e / N
        R, Q = (R - c * (K @ R) - 2.0 * e * lam[None, :] * Q,
                (1.0 - 2.0 * e * lam[None, :]) * Q - c * (KW @ R))
        if want[t + 1]:
            saved[t + 1] = R.T.copy()
    out = np.stack([saved[int(s)] for s in st], axis=1)        # (L, C, N)
    return out[0] if scalar else out


def l2_steady_state(Theta_W, r0, l2, n_points: int, q0=None, Theta_B=None,
                    rtol: float = 1e-10) -> np.ndarray:
    """Residual at the optimum of the linearised, L2-penalised loss.

    Minimises ``(1/N) ||r0 + J d||^2 + l2 ||w0 - a + d_W||^2`` over the
    parameter change ``d`` (``J = [J_W, J_B]``). The optimum, through N x N
    kernels only (docs/theory.md), with ``A = Theta_W + N l2 I``:

        r* = N l2 A^{-1} (r0 - q0 + e),   e in col(J_B),  J_B^T r* = 0,

    ``e`` the ``A^{-1}``-weighted projection that lets the free parameters
    absorb what they can. Special case, ridge on all parameters around
    ``theta0`` (``Theta_B = 0``, ``q0 = 0``): kernel ridge regression,
    ``f* - f0 = Theta (Theta + N l2 I)^{-1} (y - f0)``, which shrinks the
    ``i``-th kernel eigencomponent by ``lam_i / (lam_i + N l2)``.

    Experiment A's penalty (weights only, around zero): pass ``Theta_W``,
    ``Theta_B`` and ``q0 = J_W W0`` from :func:`linearise`.

    Args:
        Theta_W: ``(N, N)`` kernel of the penalised parameters.
        r0: ``(N,)`` initial residual ``f0 - y``.
        l2: strength ``> 0`` or a 1D sequence of them.
        n_points: ``N``.
        q0: ``(N,)`` ``J_W (w0 - a)``; default 0 (anchor at the init).
        Theta_B: ``(N, N)`` kernel of the free parameters; default 0.
        rtol: eigenvalues of ``Theta_B`` below ``rtol * max`` count as zero
            when finding ``col(J_B)``. Directions that weak are never reached
            by a finite run anyway (their time scale is ``~ N / (2 eta
            lam_B)``); compare finite runs with :func:`predict_residuals_l2`.

    Returns:
        float64 ``(N,)``, or ``(L, N)`` for a sequence of strengths.
    """
    KW = _kernel(Theta_W, "Theta_W")
    N = _n_points(n_points, KW.shape[0])
    r0 = _vector(r0, "r0", N)
    q0 = np.zeros(N) if q0 is None else _vector(q0, "q0", N)
    if not (isinstance(rtol, (float, int)) and 0 < rtol < 1):
        raise ValueError(f"rtol: expected a number in (0, 1), got {describe(rtol)}")
    Q = np.zeros((N, 0))
    if Theta_B is not None:
        KB = _kernel(Theta_B, "Theta_B", N)
        sb, Ub = np.linalg.eigh(KB)
        if sb.size and sb[-1] > 0:
            Q = Ub[:, sb > rtol * sb[-1]]                        # orthonormal basis of col(J_B)
    lam, scalar = _l2_values(l2, allow_zero=False)
    b = r0 - q0
    out = np.empty((lam.size, N))
    for i, l in enumerate(lam):
        A = KW + N * l * np.eye(N)
        cho = np.linalg.cholesky(A)
        Mb = _cho_solve(cho, b)
        if Q.shape[1]:
            MQ = _cho_solve(cho, Q)
            z = -np.linalg.solve(Q.T @ MQ, Q.T @ Mb)
            Mb = Mb + MQ @ z
        out[i] = N * l * Mb
    return out[0] if scalar else out


def _cho_solve(cho: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``A x = b`` given the lower Cholesky factor of ``A``."""
    y = np.linalg.solve(cho, b)
    return np.linalg.solve(cho.T, y)


def residual_metrics(residuals, y, ks) -> tuple[np.ndarray, np.ndarray]:
    """Per-frequency ``Delta_k`` and ``g_k`` of predicted residuals.

    The prediction is ``h = y + r``; its spectrum is projected exactly with
    the DFT on the training grid (:func:`dft_coefficients`), the same
    measurement as experiment A applies to the trained network.

    Args:
        residuals: ``(..., N)`` predicted residuals.
        y: ``(N,)`` target on the periodic grid.
        ks: target frequencies.

    Returns:
        ``(delta, gain)``, float64 ``(..., K)`` each.
    """
    yv = as_float_array(y, "y")
    res = as_float_array(residuals, "residuals")
    if yv.ndim != 1 or res.shape[-1:] != yv.shape:
        raise ValueError(f"residuals: expected shape (..., {yv.shape[-1] if yv.ndim else '?'}) "
                         f"matching y {yv.shape}, got {res.shape}")
    Y = dft_coefficients(yv, ks)
    H = dft_coefficients(res + yv, ks)
    return relative_error(H, Y), spectral_gain(H, Y)


def stable_gd_lr(Theta, n_points: int, safety: float = 0.9, l2: float = 0.0) -> float:
    """A full-batch gradient-descent step size stable for the kernel.

    The linearised residual contracts by ``1 - (2 eta / N) lam_i`` per step,
    so every mode decays iff ``eta < N / lam_max`` (equivalently: the loss
    Hessian in parameter space is ``(2/N) J^T J``, whose top eigenvalue is
    ``2 lam_max / N``, and GD needs ``eta < 2 / top``). A penalty ``l2
    ||W||^2`` adds at most ``2 l2`` to the Hessian's top eigenvalue, so the
    bound used is ``eta < N / (lam_max + N l2)`` (sufficient, not necessary).
    Returns ``safety`` times it.

    For a real network this holds at the linearisation point only: the
    kernel moves during training (for finite width its top eigenvalue can
    grow), so the margin ``safety`` is what keeps the run stable.
    """
    K = _kernel(Theta)
    N = _n_points(n_points, K.shape[0])
    try:
        s = float(safety)
    except (TypeError, ValueError):
        raise ValueError(f"safety: expected a number in (0, 1), got {describe(safety)}") from None
    if not 0 < s < 1:
        raise ValueError(f"safety: expected a number in (0, 1) (1 is the edge of stability, "
                         f"where the top mode stops decaying), got {describe(safety)}")
    lam_reg, _ = _l2_values(l2, allow_zero=True)
    if lam_reg.size != 1:
        raise ValueError(f"l2: expected one strength, got {describe(l2)}")
    lam_max = float(np.linalg.eigvalsh(K)[-1])
    if not lam_max > 0:
        raise ValueError(f"Theta: expected a kernel with a positive top eigenvalue, got {lam_max:.3g}")
    return s * N / (lam_max + N * float(lam_reg[0]))
