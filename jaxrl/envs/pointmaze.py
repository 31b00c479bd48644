"""A point mass in a U-shaped maze: a long-horizon navigation task (gymnax protocol).

The maze is HIRO's AntMaze (Nachum et al. 2018, arXiv:1805.08296, appendix C) with a point
mass in place of the ant: a 3 x 3 block of unit cells whose middle row is walled off except
on the right, so from the start in the lower-left cell the goal in the upper-left cell,
2 units away in a straight line, is 6 units away along the corridor (right, up, then left)::

    y=3 +-----------+
        | G         |
    y=2 +-------+   |
        |#######|   |
    y=1 +-------+   |
        | S         |
    y=0 +-----------+
        x=0         x=3

The mass moves under a force: ``v' = damping v + accel a`` for an action ``a`` in
``[-1, 1]^2`` (top speed ``accel / (1 - damping)`` = 0.1 units per step by default) and
``p' = p + v'``, one axis at a time: a move along an axis that would come within
``radius`` of a wall is not taken and stops that axis's velocity, so the mass slides along
walls. Observation ``(x, y, 10 vx, 10 vy)``. The reward is the negative distance to the goal
(HIRO's), whose straight-line pull leads a greedy learner into the wall below the goal, or,
with ``sparse``, 1 on every step within ``goal_radius`` of the goal and 0 elsewhere (an
episode's return is then positive exactly when it reached the goal). Episodes never
terminate; they are truncated at ``max_steps_in_episode`` (500).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

SIZE = 3.0  # the maze is [0, 3] x [0, 3]
WALL = (0.0, 2.0, 1.0, 2.0)  # x_min, x_max, y_min, y_max of the inner wall


@struct.dataclass
class EnvState(environment.EnvState):
    pos: jax.Array
    vel: jax.Array
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    start_x: float = 0.5
    start_y: float = 0.5
    goal_x: float = 0.5
    goal_y: float = 2.5
    start_noise: float = 0.1
    accel: float = 0.02
    damping: float = 0.8
    radius: float = 0.1
    goal_radius: float = 0.5
    sparse: bool = False
    max_steps_in_episode: int = 500


def is_free(pos: jax.Array, radius) -> jax.Array:
    """Whether the mass can be at ``pos [2]``: inside the maze and not within ``radius`` of a
    wall."""
    x, y = pos[0], pos[1]
    inside = (x >= radius) & (x <= SIZE - radius) & (y >= radius) & (y <= SIZE - radius)
    x0, x1, y0, y1 = WALL
    in_wall = (x <= x1 + radius) & (x >= x0 - radius) & (y >= y0 - radius) & (y <= y1 + radius)
    return inside & ~in_wall


def move(pos: jax.Array, vel: jax.Array, action: jax.Array, params: EnvParams):
    """One step of the dynamics -> ``(pos, vel)`` (see the module docstring)."""
    vel = params.damping * vel + params.accel * jnp.clip(action, -1.0, 1.0)
    for axis in range(2):
        moved = pos.at[axis].add(vel[axis])
        ok = is_free(moved, params.radius)
        pos = jnp.where(ok, moved, pos)
        vel = vel.at[axis].set(jnp.where(ok, vel[axis], 0.0))
    return pos, vel


class PointMaze(environment.Environment[EnvState, EnvParams]):
    """Reach the far end of a U-shaped corridor with a point mass."""

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def goal(self, params: EnvParams) -> jax.Array:
        return jnp.stack([jnp.float32(params.goal_x), jnp.float32(params.goal_y)])

    def distance(self, state: EnvState, params: EnvParams) -> jax.Array:
        """The mass's distance to the goal."""
        return jnp.linalg.norm(state.pos - self.goal(params))

    def step_env(self, key: jax.Array, state: EnvState, action, params: EnvParams):
        pos, vel = move(state.pos, state.vel, jnp.reshape(action, (2,)), params)
        state = EnvState(pos=pos, vel=vel, time=state.time + 1)
        dist = self.distance(state, params)
        reached = dist <= params.goal_radius
        reward = jnp.where(params.sparse, reached.astype(jnp.float32), -dist)
        info: dict[str, Any] = {"discount": jnp.asarray(1.0), "reached": reached}
        return self.get_obs(state), state, reward, jnp.asarray(False), info

    def reset_env(self, key: jax.Array, params: EnvParams):
        start = jnp.stack([jnp.float32(params.start_x), jnp.float32(params.start_y)])
        noise = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0) * params.start_noise
        state = EnvState(pos=start + noise, vel=jnp.zeros(2), time=0)
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params=None, key=None) -> jax.Array:
        return jnp.concatenate([state.pos, 10.0 * state.vel])

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return jnp.asarray(False)

    @property
    def name(self) -> str:
        return "PointMaze-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: EnvParams | None = None) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, shape=(4,), dtype=jnp.float32)
