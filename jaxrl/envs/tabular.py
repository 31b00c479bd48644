"""Tabular MDPs as explicit arrays: gridworlds and Levine et al.'s objectworld.

A :class:`TabularMDP` is the transition tensor ``P [S, A, S]``, a state feature map
``phi [S, K]``, the start distribution and the true reward ``r [S]``, all arrays, so one
pytree serves both an exact solver (soft value iteration and visitation frequencies read
``P`` directly, :mod:`jaxrl.agents.inverse.maxent`) and sampling demonstrations
(:func:`sample_trajectories`). Everything here is traceable: ``jax.vmap(objectworld)`` over
keys draws a batch of worlds.

Gridworld moves are ``stay, up, down, left, right``; a move off the grid stays put. With
probability ``wind`` the move actually taken is uniformly random among the five (Levine,
Popovic & Koltun 2011, "Nonlinear inverse reinforcement learning with Gaussian processes").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

MOVES = jnp.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])  # (row, col): stay, up, down, l, r
NUM_MOVES = 5


class TabularMDP(NamedTuple):
    """A finite MDP with state features (every leaf an array; batch with ``jax.vmap``)."""

    transitions: jax.Array  # P(s' | s, a) [S, A, S]
    features: jax.Array  # phi(s) [S, K]
    initial: jax.Array  # start distribution [S]
    reward: jax.Array  # the true reward r(s) [S], received in each state visited

    @property
    def num_states(self) -> int:
        return self.transitions.shape[-3]

    @property
    def num_actions(self) -> int:
        return self.transitions.shape[-2]


def _shape(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def grid_cells(size: int | tuple[int, int]) -> jax.Array:
    """``(row, col)`` of each cell ``s = row * cols + col`` of a ``size`` (``n`` or
    ``(rows, cols)``) grid, ``[rows * cols, 2]``."""
    rows, cols = _shape(size)
    s = jnp.arange(rows * cols)
    return jnp.stack([s // cols, s % cols], axis=-1)


def grid_next_cell(size: int | tuple[int, int]) -> jax.Array:
    """The cell each move leads to, ``[S, 5]`` (moves off the grid stay put)."""
    rows, cols = _shape(size)
    rc = grid_cells(size)[:, None, :] + MOVES[None]
    inside = (rc[..., 0] >= 0) & (rc[..., 0] < rows) & (rc[..., 1] >= 0) & (rc[..., 1] < cols)
    nxt = rc[..., 0] * cols + rc[..., 1]
    return jnp.where(inside, nxt, jnp.arange(rows * cols)[:, None])


def grid_transitions(size: int | tuple[int, int], wind: float | jax.Array = 0.0) -> jax.Array:
    """``P [S, 5, S]`` of a grid: the chosen move with probability ``1 - wind``, a uniformly
    random one (possibly the same) with probability ``wind``."""
    rows, cols = _shape(size)
    moved = jax.nn.one_hot(grid_next_cell(size), rows * cols)  # [S, 5, S]
    random = moved.mean(axis=1, keepdims=True)
    return (1.0 - wind) * moved + wind * random


def objectworld(key: jax.Array, size: int = 10, num_objects: int = 8, num_colors: int = 2,
                wind: float = 0.3, reward: str = "linear") -> TabularMDP:  # fmt: skip
    """A random objectworld (Levine et al. 2011): objects on a grid, each with an outer
    and an inner colour out of ``num_colors``.

    Features (Levine et al.'s discrete set): for each colour ``c``, outer then inner, and each
    distance ``d = 1..size``, whether the nearest object whose outer (inner) colour is ``c``
    lies within Euclidean distance ``d``: ``K = 2 * num_colors * size`` binary features.

    ``reward="levine"`` is the paper's: +1 within distance 3 of outer colour 0 and within 2
    of outer colour 1, -1 within 3 of colour 0 only, 0 elsewhere (not linear in the
    features). ``reward="linear"`` is linear in them (so a linear reward can recover it
    exactly): +1 within distance 2 of outer colour 0, -1 within distance 1 of outer colour 1.
    The start state is uniform over the cells. Traceable (the layout comes from ``key``).
    """
    if reward not in ("linear", "levine"):
        raise ValueError(f"reward: must be 'linear' or 'levine', got {reward!r}")
    n = size * size
    k_pos, k_outer, k_inner = jax.random.split(key, 3)
    cells = jax.random.choice(k_pos, n, (num_objects,), replace=False)
    outer = jax.random.randint(k_outer, (num_objects,), 0, num_colors)
    inner = jax.random.randint(k_inner, (num_objects,), 0, num_colors)
    rc = grid_cells(size).astype(jnp.float32)
    dist = jnp.linalg.norm(rc[:, None, :] - rc[cells][None, :, :], axis=-1)  # [S, M]

    def nearest(colours):  # [S, C]: distance to the nearest object of each colour (inf: none)
        match = colours[None, :, None] == jnp.arange(num_colors)[None, None, :]
        return jnp.min(jnp.where(match, dist[:, :, None], jnp.inf), axis=1)

    d = jnp.concatenate([nearest(outer), nearest(inner)], axis=1)  # [S, 2C]
    radii = jnp.arange(1, size + 1, dtype=jnp.float32)
    features = (d[:, :, None] <= radii).reshape(n, -1).astype(jnp.float32)
    d0, d1 = d[:, 0], d[:, 1 % num_colors]
    if reward == "linear":
        r = (d0 <= 2).astype(jnp.float32) - (d1 <= 1).astype(jnp.float32)
    else:
        r = jnp.where(d0 <= 3, jnp.where(d1 <= 2, 1.0, -1.0), 0.0)
    return TabularMDP(
        transitions=grid_transitions(size, wind),
        features=features,
        initial=jnp.full((n,), 1.0 / n),
        reward=r,
    )


def sample_trajectories(key: jax.Array, transitions: jax.Array, initial: jax.Array,
                        policy: jax.Array, num: int):  # fmt: skip
    """``num`` trajectories of a time-indexed policy ``pi_t(a | s)``, ``policy [T, S, A]``.

    Returns:
      ``(states [num, T], actions [num, T])``: ``s_0 ~ initial``, ``a_t ~ pi_t(. | s_t)``,
      ``s_{t+1} ~ P(. | s_t, a_t)``.
    """
    horizon = policy.shape[0]
    k0, k_run = jax.random.split(key)
    s0 = jax.random.choice(k0, initial.shape[0], (num,), p=initial)

    def step(s, inp):
        pi_t, key = inp
        k_a, k_s = jax.random.split(key)
        a = jax.random.categorical(k_a, jnp.log(pi_t[s]))
        s_next = jax.random.categorical(k_s, jnp.log(transitions[s, a]))
        return s_next, (s, a)

    _, (states, actions) = jax.lax.scan(step, s0, (policy, jax.random.split(k_run, horizon)))
    return states.T, actions.T
