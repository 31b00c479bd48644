"""Dynamics models for planning: pure ``dynamics(x, u, t) -> x'`` on a state vector.

A :class:`Model` bundles the dynamics with the per-step cost a planner minimises (the env's
negated reward where the env has a smooth one), an optional terminal cost, the control bounds
and ``state_fn``, which reads the model's state vector out of the env's state so a planner
can act inside an env rollout. Models here are exact copies of the env's own dynamics (the
"good model" case); any other pure function of the same signature works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.envs import cartpole_swingup as _swingup


class Model(NamedTuple):
    """A planning model over state vectors ``x [n]`` and controls ``u [m]``.

    Attributes:
      dynamics: ``dynamics(x [n], u [m], t) -> [n]``.
      running_cost: ``running_cost(x [n], u [m]) -> []``.
      terminal_cost: ``terminal_cost(x [n]) -> []``.
      u_lower: lower control bounds ``[m]``.
      u_upper: upper control bounds ``[m]``.
      state_fn: env state -> ``x [n]`` (for acting in the env).
      state_dim: ``n``.
      action_dim: ``m``.
    """

    dynamics: Callable
    running_cost: Callable
    terminal_cost: Callable
    u_lower: Any
    u_upper: Any
    state_fn: Callable
    state_dim: int
    action_dim: int

    def cost(self, horizon: int) -> Callable:
        """``cost(x, u, t)`` for :func:`jaxrl.control.ilqr` over ``horizon`` steps."""

        def cost(x, u, t):
            return jnp.where(t == horizon, self.terminal_cost(x), self.running_cost(x, u))

        return cost


def rk4(ode: Callable, dt: float) -> Callable:
    """Discretises ``ode(x, u, t) -> dx/dt`` with one classical Runge-Kutta step of ``dt``."""

    def step(x, u, t):
        k1 = ode(x, u, t)
        k2 = ode(x + 0.5 * dt * k1, u, t)
        k3 = ode(x + 0.5 * dt * k2, u, t)
        k4 = ode(x + dt * k3, u, t)
        return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return step


def pendulum_ode(mass: float = 1.0, length: float = 1.0, gravity: float = 9.81) -> Callable:
    """Torque-driven pendulum, ``x = (theta, theta_dot)``, ``theta = 0`` hanging down.

    ``theta_ddot = (u - m g l sin theta) / (m l^2)``; upright is ``theta = pi``.
    """

    def ode(x, u, t):
        theta, theta_dot = x[0], x[1]
        acc = (u[0] - mass * gravity * length * jnp.sin(theta)) / (mass * length**2)
        return jnp.stack([theta_dot, acc])

    return ode


def angle_normalize(theta: jax.Array) -> jax.Array:
    """Wraps an angle to ``[-pi, pi)`` (as gymnax's Pendulum-v1)."""
    return (theta + jnp.pi) % (2 * jnp.pi) - jnp.pi


def gymnax_pendulum(env_params=None, terminal_weight: float = 1.0, smooth: bool = False) -> Model:
    """gymnax ``Pendulum-v1``: the env's own semi-implicit Euler step and negated reward.

    ``x = (theta, theta_dot)`` with ``theta = 0`` upright, ``u [1]`` a torque in
    ``[-max_torque, max_torque]``; the cost is ``angle_normalize(theta)^2 + 0.1 theta_dot^2 +
    0.001 u^2`` (minus the env's reward), so a plan's cost is minus its return. The terminal
    cost is ``terminal_weight`` times the state part of that cost. ``smooth=True`` replaces
    ``angle_normalize(theta)^2`` (which has a kink at the bottom) by ``2 (1 - cos theta)``;
    it did not plan better on this task, so the default is the env's exact cost.
    """
    from gymnax.environments.classic_control import pendulum

    p = pendulum.EnvParams() if env_params is None else env_params

    def dynamics(x, u, t):
        u = jnp.clip(u[0], -p.max_torque, p.max_torque)
        acc = 3 * p.g / (2 * p.l) * jnp.sin(x[0]) + 3.0 / (p.m * p.l**2) * u
        theta_dot = jnp.clip(x[1] + acc * p.dt, -p.max_speed, p.max_speed)
        return jnp.stack([x[0] + theta_dot * p.dt, theta_dot])

    def state_cost(x):
        if smooth:  # 2 (1 - cos theta): equal to theta^2 to second order, smooth at the bottom
            return 2.0 * (1.0 - jnp.cos(x[0])) + 0.1 * x[1] ** 2
        return angle_normalize(x[0]) ** 2 + 0.1 * x[1] ** 2

    def running_cost(x, u):
        return state_cost(x) + 0.001 * jnp.clip(u[0], -p.max_torque, p.max_torque) ** 2

    return Model(
        dynamics=dynamics,
        running_cost=running_cost,
        terminal_cost=lambda x: terminal_weight * state_cost(x),
        u_lower=jnp.full((1,), -p.max_torque),
        u_upper=jnp.full((1,), p.max_torque),
        state_fn=lambda s: jnp.stack([s.theta, s.theta_dot]),
        state_dim=2,
        action_dim=1,
    )


def cartpole_swingup(env_params=None, terminal_weight: float = 1.0) -> Model:
    """jaxrl's ``CartPoleSwingUp-v0`` (:mod:`jaxrl.envs.cartpole_swingup`): RK4 dynamics.

    ``x = (x, x_dot, theta, theta_dot)``, ``u [1]`` in ``[-1, 1]``; the cost is ``1 -
    reward`` (non-negative), the terminal cost ``terminal_weight`` times its state part.
    """
    p = _swingup.EnvParams() if env_params is None else env_params

    def dynamics(x, u, t):
        return _swingup.dynamics(x, u, p)

    def running_cost(x, u):
        return 1.0 - _swingup.reward(x, u)

    return Model(
        dynamics=dynamics,
        running_cost=running_cost,
        terminal_cost=lambda x: terminal_weight * running_cost(x, jnp.zeros((1,))),
        u_lower=-jnp.ones((1,)),
        u_upper=jnp.ones((1,)),
        state_fn=_swingup.state_vector,
        state_dim=4,
        action_dim=1,
    )


def mjx_model(env) -> tuple[Callable, int, int]:
    """MJX dynamics of a MuJoCo Playground env on the state vector ``x = (qpos, qvel)``.

    ``dynamics(x [nq + nv], u [nu], t)`` sets ``qpos``, ``qvel`` and ``ctrl`` on a fresh
    ``mjx.Data`` and takes the env's ``n_substeps`` calls of ``mjx.step`` (one control step).
    Differentiate it in forward mode (``jax.jacfwd``): reverse mode fails through MJX's
    constraint solver.

    Args:
      env: a Playground env loaded with the JAX implementation, e.g.
        ``registry.load("CartpoleSwingup", config_overrides={"impl": "jax"})``.

    Returns:
      ``(dynamics, n, m)``.
    """
    from mujoco import mjx

    model = env.mjx_model
    nq, nv, nu = int(model.nq), int(model.nv), int(model.nu)
    data0 = mjx.make_data(env.mj_model, impl=model.impl.value)
    n_substeps = int(env.n_substeps)

    def dynamics(x, u, t):
        data = data0.replace(qpos=x[:nq], qvel=x[nq:], ctrl=u)

        def substep(d, _):
            return mjx.step(model, d), None

        data, _ = jax.lax.scan(substep, data, None, n_substeps)
        return jnp.concatenate([data.qpos, data.qvel])

    return dynamics, nq + nv, nu


def playground_cartpole_swingup(env=None) -> Model:
    """Playground ``CartpoleSwingup`` through MJX, with a smooth surrogate of its reward.

    The cost is ``(1 - cos theta) / 2 + 0.05 x^2 + 0.01 theta_dot^2 + 0.01 u^2`` on
    ``x = (cart position, hinge angle, cart velocity, hinge velocity)``, ``theta = 0`` upright
    (Playground's reward is a product of tolerance functions, flat away from the goal).
    ``state_fn`` reads the state from a :class:`jaxrl.envs.adapters.AdapterState`.
    """
    if env is None:
        from mujoco_playground import registry

        env = registry.load("CartpoleSwingup", config_overrides={"impl": "jax"})
    dynamics, n, m = mjx_model(env)

    def state_cost(x):
        return 0.5 * (1.0 - jnp.cos(x[1])) + 0.05 * x[0] ** 2 + 0.01 * x[3] ** 2

    def state_fn(s):
        data = s.inner.data
        return jnp.concatenate([data.qpos, data.qvel])

    return Model(
        dynamics=dynamics,
        running_cost=lambda x, u: state_cost(x) + 0.01 * jnp.sum(u**2),
        terminal_cost=state_cost,
        u_lower=-jnp.ones((m,)),
        u_upper=jnp.ones((m,)),
        state_fn=state_fn,
        state_dim=n,
        action_dim=m,
    )
