"""A gridworld with a noisy TV (gymnax protocol): ``NoisyTV-v0``, the trap of prediction-error
curiosity (Burda et al. 2018, "Large-scale study of curiosity-driven learning", section 5).

A ``5 x 5`` grid; the agent starts in the top-left cell, and entering the bottom-right cell
pays 1 and ends the episode (8 moves away). Actions: ``stay, up, down, left, right`` (off the
grid: stay), deterministic, and a sixth, ``watch``: the agent stays where it is and the TV
part of the observation (``tv_size`` numbers, zero otherwise) shows fresh uniform noise in
``[0, 1)``. The noise cannot be predicted, so a bonus that rewards a predictor's error on the
next observation stays high on watching for ever; a bonus that reads only what the agent's
actions control (ICM's features) can learn to ignore it. Episodes last at most
``max_steps_in_episode`` steps. Observation: the cell one-hot (25), then the TV.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxrl.envs import tabular

ROWS, COLS = 5, 5
START, GOAL = 0, ROWS * COLS - 1
WATCH = tabular.NUM_MOVES  # the action that turns the TV on
TV_SIZE = 8


@struct.dataclass
class EnvState(environment.EnvState):
    cell: jax.Array
    tv: jax.Array  # [TV_SIZE] what the TV shows
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    max_steps_in_episode: int = 50


class NoisyTV(environment.Environment[EnvState, EnvParams]):
    """Reach the far corner, or watch the noise (module docstring)."""

    num_cells = ROWS * COLS

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def step_env(self, key: jax.Array, state: EnvState, action, params: EnvParams):
        watch = action == WATCH
        move = jnp.where(watch, 0, action)
        nxt = tabular.grid_next_cell((ROWS, COLS))[state.cell, move]
        noise = jax.random.uniform(key, (TV_SIZE,))
        tv = jnp.where(watch, noise, jnp.zeros(TV_SIZE))
        state = EnvState(cell=nxt, tv=tv, time=state.time + 1)
        reached = nxt == GOAL
        info: dict[str, Any] = {"discount": jnp.where(reached, 0.0, 1.0)}
        return self.get_obs(state), state, reached.astype(jnp.float32), reached, info

    def reset_env(self, key: jax.Array, params: EnvParams):
        state = EnvState(cell=jnp.asarray(START), tv=jnp.zeros(TV_SIZE), time=0)
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params=None, key=None) -> jax.Array:
        return jnp.concatenate([jax.nn.one_hot(state.cell, self.num_cells), state.tv])

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return state.cell == GOAL

    @property
    def name(self) -> str:
        return "NoisyTV-v0"

    @property
    def num_actions(self) -> int:
        return WATCH + 1

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(WATCH + 1)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.num_cells + TV_SIZE,), jnp.float32)
