"""The four-rooms gridworld as the option-critic paper uses it (gymnax protocol).

Sutton, Precup & Singh (1999)'s four rooms, with the transfer task of Bacon, Harb & Precup
(2017, arXiv:1609.05140, section 4.1): the map, the action noise and the step are gymnax's
``FourRooms-misc`` (:mod:`gymnax.environments.misc.rooms`: 104 open cells, four moves,
the chosen move replaced by a uniformly random one with probability ``4/3 * fail_prob``,
i.e. another move with probability ``fail_prob`` = 1/3). What differs:

- the goal is an env param (``goal``, the index of an open cell, row-major), so the task can
  change between updates of a run, and a ``jax.vmap`` over params gives each run its own
  goal. The default, cell 62, is the east doorway, the paper's first goal.
- each episode starts in a uniformly random open cell other than the goal (the paper's
  start distribution);
- the observation is the one-hot code of the agent's cell (``[104]``): the paper's tabular
  state, on which a linear function is a table. The goal is not observed (after the
  switch the agent must find the new goal, as in the paper).

Reward 1 on reaching the goal (which ends the episode), 0 otherwise; episodes are
truncated at ``max_steps_in_episode`` (1000, as the paper's code caps them).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.misc import rooms

# Row-major open cells of gymnax's map: (row, col) of each of the 104 states.
CELLS = np.argwhere(np.asarray(rooms.string_to_bool_map(rooms.four_rooms_map)))
NUM_CELLS = len(CELLS)
_OPEN_ORDER = [(int(r), int(c)) for r, c in CELLS]
_OPEN = set(_OPEN_ORDER)
EAST_DOORWAY = 62  # (7, 9): the doorway between the two rooms on the east side

# Open cells of each room (rows/cols inside the walls; doorways belong to no room).
ROOMS = {
    "upper_left": (range(1, 6), range(1, 6)),
    "upper_right": (range(1, 7), range(7, 12)),
    "lower_left": (range(7, 12), range(1, 6)),
    "lower_right": (range(8, 12), range(7, 12)),
}


def cell_index(row: int, col: int) -> int:
    """The state index of open cell ``(row, col)``."""
    hits = np.flatnonzero((CELLS[:, 0] == row) & (CELLS[:, 1] == col))
    if hits.size == 0:
        raise ValueError(f"cell ({row}, {col}) is a wall")
    return int(hits[0])


def room_cells(room: str) -> np.ndarray:
    """The state indices of the open cells of ``room`` (a key of :data:`ROOMS`)."""
    rows, cols = ROOMS[room]
    return np.array([cell_index(r, c) for r in rows for c in cols if (r, c) in _OPEN])


@struct.dataclass
class EnvParams(environment.EnvParams):
    goal: int = EAST_DOORWAY
    fail_prob: float = 1.0 / 3
    max_steps_in_episode: int = 1000


class FourRooms(rooms.FourRooms):
    """gymnax's four rooms with the goal in the params, random starts and one-hot states."""

    def __init__(self):
        super().__init__()
        self.cells = jnp.asarray(CELLS, jnp.int32)
        index = np.full(self.env_map.shape, -1, np.int32)
        index[CELLS[:, 0], CELLS[:, 1]] = np.arange(NUM_CELLS)
        self.index_map = jnp.asarray(index)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams):
        goal = jnp.asarray(params.goal, jnp.int32)
        start = jax.random.randint(key, (), 0, NUM_CELLS - 1)
        start = start + (start >= goal)  # uniform over the other cells
        state = rooms.EnvState(pos=self.cells[start], goal=self.cells[goal], time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        return jax.nn.one_hot(self.index_map[state.pos[0], state.pos[1]], NUM_CELLS)

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (NUM_CELLS,), jnp.float32)

    def step_env(self, key, state, action, params) -> tuple[Any, ...]:
        return super().step_env(key, state, jnp.asarray(action, jnp.int32), params)

    @property
    def name(self) -> str:
        return "FourRooms-v0"


def transition_matrix(fail_prob: float = 1.0 / 3) -> np.ndarray:
    """``P [104, 4, 104]``: the probability of each next cell after each move (numpy)."""
    moves = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
    index = {cell: i for i, cell in enumerate(_OPEN_ORDER)}
    p = np.zeros((NUM_CELLS, 4, NUM_CELLS))
    for s, (r, c) in enumerate(_OPEN_ORDER):
        for a in range(4):
            for taken in range(4):
                prob = 1.0 - fail_prob if taken == a else fail_prob / 3.0
                nr, nc = r + moves[taken][0], c + moves[taken][1]
                p[s, a, index.get((nr, nc), s)] += prob
    return p


def optimal_steps(goal: int, fail_prob: float = 1.0 / 3) -> float:
    """Expected steps to ``goal`` of the fastest policy, averaged over the start cells (all
    but the goal): value iteration on :func:`transition_matrix`."""
    p = transition_matrix(fail_prob)
    steps = np.zeros(NUM_CELLS)
    for _ in range(10_000):
        new = 1.0 + np.min(p @ steps, axis=1)
        new[goal] = 0.0
        if np.max(np.abs(new - steps)) < 1e-9:
            break
        steps = new
    return float(np.delete(steps, goal).mean())
