"""Continuous-action cart-pole swing-up (gymnax protocol).

The pole starts hanging down and must be swung up and balanced by a horizontal force on the
cart. The cart-pole equations are those of Barto, Sutton & Anderson (1983) as in gym's and
gymnax's ``CartPole-v1`` (same masses and lengths), without the pole-angle termination and
with a continuous force ``u * force_mag`` for ``u`` in ``[-1, 1]``. One step integrates the
equations with one classical Runge-Kutta (RK4) step of ``dt`` seconds.

State ``(x, x_dot, theta, theta_dot)``, ``theta = 0`` upright; observation
``(x, x_dot, cos theta, sin theta, theta_dot)``. Reward per step (before the transition)
``(1 + cos theta) / 2 - 0.01 x**2 - 0.001 u**2``: at most 1, so a return of the default
200-step episode is at most 200. An episode terminates when the cart leaves the track
(``|x| > x_threshold``, 3 m) and is truncated at ``max_steps_in_episode``. :func:`dynamics`
and :func:`reward` are pure functions of a state vector, usable as a planning model
(:mod:`jaxrl.control.models`, which knows nothing of the track's end: its cost on ``x**2``
keeps plans near the centre).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class EnvState(environment.EnvState):
    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    dt: float = 0.05
    init_noise: float = 0.2
    x_threshold: float = 3.0
    max_steps_in_episode: int = 200


def derivative(s: jax.Array, force: jax.Array, params: EnvParams) -> jax.Array:
    """Time derivative of the state ``s = (x, x_dot, theta, theta_dot)`` under ``force``."""
    _, x_dot, theta, theta_dot = s
    total_mass = params.masscart + params.masspole
    polemass_length = params.masspole * params.length
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
    theta_acc = (params.gravity * sin - cos * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * cos**2 / total_mass)
    )
    x_acc = temp - polemass_length * theta_acc * cos / total_mass
    return jnp.stack([x_dot, x_acc, theta_dot, theta_acc])


def dynamics(s: jax.Array, u: jax.Array, params: EnvParams) -> jax.Array:
    """One RK4 step of ``dt``: ``s [4]``, ``u [1]`` in ``[-1, 1]`` (clipped) -> ``[4]``."""
    force = jnp.clip(jnp.reshape(u, ()), -1.0, 1.0) * params.force_mag
    dt = params.dt
    k1 = derivative(s, force, params)
    k2 = derivative(s + 0.5 * dt * k1, force, params)
    k3 = derivative(s + 0.5 * dt * k2, force, params)
    k4 = derivative(s + dt * k3, force, params)
    return s + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def reward(s: jax.Array, u: jax.Array) -> jax.Array:
    """Reward of taking ``u [1]`` in state ``s [4]`` (at most 1)."""
    u = jnp.clip(jnp.reshape(u, ()), -1.0, 1.0)
    return 0.5 * (1.0 + jnp.cos(s[2])) - 0.01 * s[0] ** 2 - 0.001 * u**2


def state_vector(state: EnvState) -> jax.Array:
    """``(x, x_dot, theta, theta_dot)`` of an env state, ``[4]``."""
    return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])


class CartPoleSwingUp(environment.Environment[EnvState, EnvParams]):
    """Swing the pole up from hanging down and balance it, with a continuous force."""

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def step_env(self, key: jax.Array, state: EnvState, action, params: EnvParams):
        s = state_vector(state)
        r = reward(s, action)
        s = dynamics(s, action, params)
        state = EnvState(x=s[0], x_dot=s[1], theta=s[2], theta_dot=s[3], time=state.time + 1)
        terminated = self.is_terminated(state, params)
        info: dict[str, Any] = {"discount": jnp.asarray(1.0)}
        return self.get_obs(state), state, r, terminated, info

    def reset_env(self, key: jax.Array, params: EnvParams):
        noise = jax.random.uniform(key, (4,), minval=-1.0, maxval=1.0) * params.init_noise
        state = EnvState(
            x=noise[0], x_dot=noise[1], theta=jnp.pi + noise[2], theta_dot=noise[3], time=0
        )
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params=None, key=None) -> jax.Array:
        return jnp.stack(
            [state.x, state.x_dot, jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot]
        )

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return jnp.abs(state.x) > params.x_threshold

    @property
    def name(self) -> str:
        return "CartPoleSwingUp-v0"

    @property
    def num_actions(self) -> int:
        return 1

    def action_space(self, params: EnvParams | None = None) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(1,), dtype=jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, shape=(5,), dtype=jnp.float32)
