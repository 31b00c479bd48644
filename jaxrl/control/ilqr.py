"""Iterative LQR with control bounds (Li & Todorov 2004; Tassa, Erez & Todorov 2012).

``ilqr(cost, dynamics, x0, U)`` minimises ``sum_t cost(x_t, u_t, t) + cost(x_T, 0, T)`` subject
to ``x_{t+1} = dynamics(x_t, u_t, t)``. Each iteration linearises the dynamics and takes a
quadratic model of the cost along the current trajectory with forward-mode autodiff
(``jax.jacfwd``: it also works through MJX, where reverse mode fails on constrained models),
solves the time-varying LQR subproblem by a regularised Riccati backward pass, and rolls the
new feedback policy out at several step sizes at once (a parallel backtracking line search).

Control bounds use the projected-Newton step of Tassa, Mansard & Todorov (2014,
"Control-limited differential dynamic programming"), taken once per time step: controls that
the unconstrained step would push past a bound are clamped there and get no feedback; the
others solve the Newton system restricted to the free dimensions. The forward pass clips
every control into the box, so every trajectory the solver visits is feasible.

Everything is one ``jax.lax.while_loop``: ``ilqr`` is jittable and vmappable over initial
states (or anything else). Shapes are checked in Python before tracing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class ILQRResult(NamedTuple):
    """Output of :func:`ilqr`.

    Attributes:
      xs: states ``[T+1, n]`` of the returned trajectory (``xs[0] == x0``).
      us: controls ``[T, m]``.
      cost: total cost of ``(xs, us)``, terminal cost included.
      iterations: iterations run (each one backward pass and one parallel line search).
      converged: on a finite trajectory, either the decrease predicted for a full step at
        (near) zero regularisation or the decrease achieved by an accepted full step fell
        below ``tol * (1 + |cost|)``. False when the iteration budget ran out, the
        regularisation exceeded ``reg_max`` or the trajectory is not finite.
      nonfinite: line-search candidates rejected because their cost or trajectory was not
        finite (summed over iterations). Such a candidate is never accepted.
      reg: the regularisation ``mu`` added to ``Q_uu`` when the solver stopped.
    """

    xs: jax.Array
    us: jax.Array
    cost: jax.Array
    iterations: jax.Array
    converged: jax.Array
    nonfinite: jax.Array
    reg: jax.Array


class _Derivatives(NamedTuple):
    A: jax.Array  # [T, n, n]
    B: jax.Array  # [T, n, m]
    lx: jax.Array  # [T, n]
    lu: jax.Array  # [T, m]
    lxx: jax.Array  # [T, n, n]
    lux: jax.Array  # [T, m, n]
    luu: jax.Array  # [T, m, m]
    vx: jax.Array  # [n] terminal
    vxx: jax.Array  # [n, n] terminal


class _Carry(NamedTuple):
    xs: jax.Array
    us: jax.Array
    cost: jax.Array
    reg: jax.Array
    iteration: jax.Array
    converged: jax.Array
    stalled: jax.Array
    nonfinite: jax.Array


def check_shapes(cost: Callable, dynamics: Callable, x0, U) -> tuple[int, int, int]:
    """Checks ``x0 [n]``, ``U [T, m]`` and the outputs of ``dynamics``/``cost`` in Python.

    Returns:
      ``(T, n, m)``.

    Raises:
      ValueError: naming the offending shapes.
    """
    x0_shape, u_shape = jnp.shape(x0), jnp.shape(U)
    if len(x0_shape) != 1:
        raise ValueError(f"x0: expected a state vector of shape [n], got shape {x0_shape}")
    if len(u_shape) != 2 or u_shape[0] == 0:
        raise ValueError(f"U: expected controls of shape [T, m] with T > 0, got shape {u_shape}")
    x = jax.ShapeDtypeStruct(x0_shape, jnp.float32)
    u = jax.ShapeDtypeStruct(u_shape[1:], jnp.float32)
    t = jax.ShapeDtypeStruct((), jnp.int32)
    for name, fn, want in (("dynamics", dynamics, x0_shape), ("cost", cost, ())):
        try:
            out = jax.eval_shape(fn, x, u, t)
        except Exception as e:  # the user's function failed on these shapes
            raise ValueError(
                f"{name}(x, u, t) failed on x of shape {x0_shape} (from x0) and u of shape "
                f"{u_shape[1:]} (from U {u_shape}): {e}"
            ) from e
        shape = getattr(out, "shape", None)
        if shape != want:
            raise ValueError(
                f"{name}(x, u, t) returned shape {shape} for x of shape {x0_shape} (from x0) and "
                f"u of shape {u_shape[1:]} (from U {u_shape}); expected {want}"
            )
    return u_shape[0], x0_shape[0], u_shape[1]


def _bounds(lower, upper, m: int, dtype):
    lo = jnp.full((m,), -jnp.inf, dtype) if lower is None else jnp.asarray(lower, dtype)
    hi = jnp.full((m,), jnp.inf, dtype) if upper is None else jnp.asarray(upper, dtype)
    for name, b in (("u_lower", lo), ("u_upper", hi)):
        if jnp.ndim(b) > 1 or (jnp.ndim(b) == 1 and jnp.shape(b)[0] not in (1, m)):
            raise ValueError(f"{name}: shape {jnp.shape(b)} does not broadcast to controls [{m}]")
    return jnp.broadcast_to(lo, (m,)), jnp.broadcast_to(hi, (m,))


def rollout(cost: Callable, dynamics: Callable, x0: jax.Array, us: jax.Array):
    """Open-loop rollout.

    Args:
      cost: ``cost(x [n], u [m], t) -> []``.
      dynamics: ``dynamics(x [n], u [m], t) -> [n]``.
      x0: initial state ``[n]``.
      us: controls ``[T, m]``.

    Returns:
      ``(xs [T+1, n], total cost)``, the terminal cost ``cost(x_T, 0, T)`` included.
    """
    horizon = us.shape[0]

    def step(x, inp):
        t, u = inp
        return dynamics(x, u, t), (x, cost(x, u, t))

    x_last, (xs, costs) = jax.lax.scan(step, x0, (jnp.arange(horizon), us))
    total = jnp.sum(costs) + cost(x_last, jnp.zeros_like(us[0]), horizon)
    return jnp.concatenate([xs, x_last[None]]), total


def _linearise(cost, dynamics, xs, us) -> _Derivatives:
    horizon = us.shape[0]
    ts = jnp.arange(horizon)
    jac = jax.vmap(jax.jacfwd(dynamics, argnums=(0, 1)))
    A, B = jac(xs[:-1], us, ts)
    grad = jax.jacfwd(cost, argnums=(0, 1))
    hess = jax.jacfwd(grad, argnums=(0, 1))
    lx, lu = jax.vmap(grad)(xs[:-1], us, ts)
    (lxx, _), (lux, luu) = jax.vmap(hess)(xs[:-1], us, ts)
    u0 = jnp.zeros_like(us[0])
    vx = jax.jacfwd(cost)(xs[-1], u0, horizon)
    vxx = jax.jacfwd(jax.jacfwd(cost))(xs[-1], u0, horizon)
    return _Derivatives(A, B, lx, lu, lxx, lux, luu, vx, vxx)


def _backward(d: _Derivatives, us, reg, lo, hi):
    """Riccati recursion with ``reg * I`` added to ``Q_uu`` and box-clamped steps.

    Returns:
      ``(k [T, m], K [T, m, n], dv1, dv2, ok)``; the predicted cost change of a step of size
      ``a`` is ``a * dv1 + a**2 / 2 * dv2``.
    """
    m = us.shape[1]
    eye = jnp.eye(m)

    def step(carry, inp):
        vx, vxx, dv1, dv2, ok = carry
        A, B, lx, lu, lxx, lux, luu, u = inp
        qx = lx + A.T @ vx
        qu = lu + B.T @ vx
        qxx = lxx + A.T @ vxx @ A
        quu = luu + B.T @ vxx @ B
        qux = lux + B.T @ vxx @ A
        quu_reg = quu + reg * eye
        ok_t = jnp.all(jnp.isfinite(jnp.linalg.cholesky(quu_reg)))
        # The control step: the box-constrained QP min 0.5 k'Q_uu k + Q_u'k with
        # lo <= u + k <= hi, by projected Newton (Tassa, Mansard & Todorov 2014); the
        # feedback acts on the controls it leaves free.
        k, free, chol_h = box_qp(quu_reg, qu, lo - u, hi - u)
        K = -jax.scipy.linalg.cho_solve((chol_h, True), jnp.where(free[:, None], qux, 0.0))
        vx = qx + K.T @ quu @ k + K.T @ qu + qux.T @ k
        vxx = qxx + K.T @ quu @ K + K.T @ qux + qux.T @ K
        vxx = 0.5 * (vxx + vxx.T)
        carry = (vx, vxx, dv1 + k @ qu, dv2 + k @ quu @ k, ok & ok_t)
        return carry, (k, K)

    init = (d.vx, d.vxx, jnp.zeros(()), jnp.zeros(()), jnp.asarray(True))
    xs = (d.A, d.B, d.lx, d.lu, d.lxx, d.lux, d.luu, us)
    (_, _, dv1, dv2, ok), (k, K) = jax.lax.scan(step, init, xs, reverse=True)
    ok = ok & jnp.all(jnp.isfinite(k)) & jnp.all(jnp.isfinite(K))
    return k, K, dv1, dv2, ok


def box_qp(H: jax.Array, g: jax.Array, lower: jax.Array, upper: jax.Array, iterations: int = 30):
    """``argmin 0.5 x'Hx + g'x`` subject to ``lower <= x <= upper`` (``H [m, m]`` positive
    definite, ``lower <= 0 <= upper``), by projected Newton with an Armijo line search along
    the projected path (Tassa, Mansard & Todorov 2014, "Control-limited differential dynamic
    programming", Algorithm 1).

    Each iteration fixes the coordinates at a bound whose gradient pushes outward (the
    clamped set), takes the Newton step on the others, and keeps the first of the steps
    ``1, 1/2, 1/4, ...`` (projected onto the box) that decreases the value enough.

    Returns:
      ``(x [m], free [m] bool, chol [m, m])``: the minimiser, its free coordinates, and the
      Cholesky factor of ``H`` restricted to them (identity on the clamped ones), for
      feedback gains on the free controls.
    """
    m = g.shape[0]
    eye = jnp.eye(m, dtype=H.dtype)
    alphas = 0.5 ** jnp.arange(12, dtype=H.dtype)

    def value(x):
        return 0.5 * x @ H @ x + g @ x

    def free_set(x):
        grad = g + H @ x
        at_lower, at_upper = x <= lower, x >= upper
        return ~((at_lower & (grad > 0)) | (at_upper & (grad < 0))), grad

    def newton(x):
        free, grad = free_set(x)
        h = jnp.where(free[:, None] & free[None, :], H, eye)
        chol = jnp.linalg.cholesky(h)
        step = -jax.scipy.linalg.cho_solve((chol, True), jnp.where(free, grad, 0.0))
        return step, free, grad, chol

    def body(carry):
        x, _, i = carry
        step, _, grad, _ = newton(x)
        candidates = jnp.clip(x[None] + alphas[:, None] * step[None], lower, upper)
        values = jax.vmap(value)(candidates)
        v0 = value(x)
        armijo = values <= v0 + 0.1 * (candidates - x[None]) @ grad
        accept = armijo & (values < v0)
        first = jnp.argmax(accept)
        x_new = jnp.where(jnp.any(accept), candidates[first], x)
        moved = jnp.any(accept) & (v0 - values[first] > 1e-12 * (1.0 + jnp.abs(v0)))
        return x_new, moved, i + 1

    def cond(carry):
        _, moved, i = carry
        return moved & (i < iterations)

    x0 = jnp.clip(jnp.zeros_like(g), lower, upper)
    x, _, _ = jax.lax.while_loop(cond, body, (x0, jnp.asarray(True), jnp.asarray(0)))
    _, free, _, chol = newton(x)
    return x, free, chol


def _forward(cost, dynamics, xs_bar, us_bar, k, K, alpha, lo, hi):
    """Closed-loop rollout of ``u = clip(u_bar + alpha k + K (x - x_bar))``."""
    horizon = us_bar.shape[0]

    def step(x, inp):
        t, x_bar, u_bar, k_t, K_t = inp
        u = jnp.clip(u_bar + alpha * k_t + K_t @ (x - x_bar), lo, hi)
        return dynamics(x, u, t), (x, u, cost(x, u, t))

    inp = (jnp.arange(horizon), xs_bar[:-1], us_bar, k, K)
    x_last, (xs, us, costs) = jax.lax.scan(step, xs_bar[0], inp)
    total = jnp.sum(costs) + cost(x_last, jnp.zeros_like(us_bar[0]), horizon)
    return jnp.concatenate([xs, x_last[None]]), us, total


def ilqr(
    cost: Callable,
    dynamics: Callable,
    x0,
    U,
    *,
    maxiter: int = 100,
    iteration_budget=None,
    tol: float = 1e-6,
    u_lower=None,
    u_upper=None,
    reg_init: float = 0.0,
    reg_min: float = 1e-6,
    reg_max: float = 1e10,
    reg_factor: float = 10.0,
    line_search_steps: int = 8,
    line_search_decay: float = 0.5,
    armijo: float = 1e-4,
) -> ILQRResult:
    """Iterative LQR (see the module docstring).

    Args:
      cost: ``cost(x [n], u [m], t) -> []``, ``t`` the integer step; the terminal cost is
        ``cost(x_T, zeros(m), T)``.
      dynamics: ``dynamics(x [n], u [m], t) -> [n]``; differentiated in forward mode.
      x0: initial state ``[n]``.
      U: initial controls ``[T, m]`` (clipped into the bounds first).
      maxiter: maximum number of iterations (a Python int).
      iteration_budget: optional traced cap on the iterations (at most ``maxiter``), e.g. more
        iterations on an MPC's first step than on the warm-started ones.
      tol: stop when the predicted or achieved cost decrease is below
        ``tol * (1 + |cost|)``.
      u_lower: lower control bounds, scalar or ``[m]`` (``None``: unbounded).
      u_upper: upper control bounds, scalar or ``[m]``.
      reg_init: initial regularisation ``mu`` (0: plain Newton steps while ``Q_uu > 0``).
      reg_min: smallest non-zero ``mu``; a successful iteration below it resets ``mu`` to 0.
      reg_max: give up (``converged=False``) once ``mu`` would exceed this.
      reg_factor: ``mu`` is multiplied by it after a failed iteration, divided after success.
      line_search_steps: step sizes ``1, decay, decay**2, ...`` tried in parallel (static).
      line_search_decay: ratio between successive step sizes.
      armijo: a step must achieve this fraction of its predicted decrease.

    Returns:
      :class:`ILQRResult`.

    Raises:
      ValueError: (before tracing) on shapes of ``x0``, ``U``, the outputs of ``dynamics``
        and ``cost`` or the bounds that do not fit together.
    """
    horizon, _, m = check_shapes(cost, dynamics, x0, U)
    if not isinstance(maxiter, int) or maxiter < 0:
        raise ValueError(f"maxiter: must be a non-negative int, got {maxiter}")
    if not isinstance(line_search_steps, int) or line_search_steps < 1:
        raise ValueError(f"line_search_steps: must be a positive int, got {line_search_steps}")
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is enabled
    lo, hi = _bounds(u_lower, u_upper, m, dtype)
    x0 = jnp.asarray(x0, dtype)
    us = jnp.clip(jnp.asarray(U, dtype), lo, hi)
    xs, total = rollout(cost, dynamics, x0, us)
    alphas = line_search_decay ** jnp.arange(line_search_steps, dtype=jnp.float32)
    forward = jax.vmap(_forward, in_axes=(None, None, None, None, None, None, 0, None, None))

    def iterate(c: _Carry) -> _Carry:
        d = _linearise(cost, dynamics, c.xs, c.us)
        k, K, dv1, dv2, ok = _backward(d, c.us, c.reg, lo, hi)
        scale = 1.0 + jnp.abs(c.cost)
        # A small predicted decrease only means convergence when the regularisation is not
        # what shrank the step (after failed steps a large ``mu`` makes every step tiny).
        predicted_small = ok & (c.reg <= reg_min) & (-(dv1 + 0.5 * dv2) < tol * scale)
        cand_xs, cand_us, cand_cost = forward(cost, dynamics, c.xs, c.us, k, K, alphas, lo, hi)
        finite = (
            jnp.isfinite(cand_cost)
            & jnp.all(jnp.isfinite(cand_xs), axis=(1, 2))
            & jnp.all(jnp.isfinite(cand_us), axis=(1, 2))
        )
        predicted = -(alphas * dv1 + 0.5 * alphas**2 * dv2)  # expected decrease, > 0
        decrease = c.cost - cand_cost
        good = ok & finite & (decrease > 0) & (decrease >= armijo * predicted)
        accept = jnp.any(good) & ~predicted_small
        i = jnp.argmax(good)  # the largest accepted step
        nonfinite = c.nonfinite + jnp.where(ok, jnp.sum(~finite, dtype=jnp.int32), 0)
        new_cost = jnp.where(accept, cand_cost[i], c.cost)
        # A tiny decrease from a short step says nothing about convergence: count full steps.
        small_change = accept & (i == 0) & (decrease[0] < tol * scale)
        reg_up = jnp.maximum(c.reg * reg_factor, reg_min)
        reg_down = c.reg / reg_factor
        reg = jnp.where(accept | predicted_small, jnp.where(reg_down < reg_min, 0.0, reg_down),
                        reg_up)  # fmt: skip
        return _Carry(
            xs=jnp.where(accept, cand_xs[i], c.xs),
            us=jnp.where(accept, cand_us[i], c.us),
            cost=new_cost,
            reg=reg,
            iteration=c.iteration + jnp.int32(1),
            converged=predicted_small | small_change,
            stalled=reg > reg_max,
            nonfinite=nonfinite,
        )

    limit = maxiter if iteration_budget is None else jnp.minimum(iteration_budget, maxiter)

    def keep_going(c: _Carry):
        return (c.iteration < limit) & ~c.converged & ~c.stalled & jnp.isfinite(c.cost)

    init = _Carry(
        xs=xs,
        us=us,
        cost=total,
        reg=jnp.asarray(reg_init, dtype),
        iteration=jnp.zeros((), jnp.int32),
        converged=jnp.asarray(False),
        stalled=jnp.asarray(False),
        nonfinite=jnp.zeros((), jnp.int32),
    )
    c = jax.lax.while_loop(keep_going, iterate, init)
    finite = jnp.isfinite(c.cost) & jnp.all(jnp.isfinite(c.xs)) & jnp.all(jnp.isfinite(c.us))
    return ILQRResult(
        xs=c.xs,
        us=c.us,
        cost=c.cost,
        iterations=c.iteration,
        converged=c.converged & finite,
        nonfinite=c.nonfinite,
        reg=c.reg,
    )
