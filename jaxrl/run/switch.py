"""Training on a task that changes: the env params switch after a number of episodes.

The option-critic paper's transfer test (Bacon et al. 2017, section 4.1) moves the four-rooms
goal after 1,000 episodes and measures how fast each learner recovers. Env params are an
argument of every ``Learner.update``, so the change needs no support from the learner or the
env: :func:`make_switching_train` runs the updates itself and passes ``after`` instead of
``before`` from the first update that starts once ``after_episodes`` episodes have ended
(counted from the ``"episodes"`` metric every learner reports). Where the env reads a
param at reset (as ``FourRooms-v0`` reads its goal), episodes still running at the switch
finish under the old value; and those that start within the update where the count is
reached still use ``before``: a few episodes at most, when an update is short.

:func:`per_episode` turns per-update metrics into per-episode curves (the paper's x-axis).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import learner as contract
from jaxrl.learner import Learner, TrainResult


def make_switching_train(learner: Learner, after_episodes: int):
    """``train(key, hparams, before, after) -> TrainResult``, pure and vmappable.

    ``before``/``after`` are env params (``before`` defaults to the learner's); a vmap over
    them gives each run its own tasks. ``metrics["switched"]`` is true for the updates run
    on ``after``.
    """
    if not isinstance(after_episodes, int) or after_episodes < 0:
        raise ValueError(f"after_episodes: must be a non-negative int, got {after_episodes}")
    shapes = jax.eval_shape(
        lambda k: learner.update(contract.init(learner, k), contract.as_f32(learner.hparams),
                                 learner.env_params, learner.data)[1],
        jax.random.key(0),
    )  # fmt: skip
    if "episodes" not in shapes:
        raise ValueError("learner: its metrics have no 'episodes' count to switch on")

    def train(key, hparams=None, before=None, after=None) -> TrainResult:
        before = learner.env_params if before is None else before
        after = before if after is None else after
        hp = contract.as_f32(learner.hparams if hparams is None else hparams)
        state = learner.init(key, hp, before, learner.data)

        def step(carry, _):
            state, episodes = carry
            switched = episodes >= after_episodes
            params = jax.tree.map(lambda a, b: jnp.where(switched, a, b), after, before)
            state, metrics = learner.update(state, hp, params, learner.data)
            episodes = episodes + metrics["episodes"].astype(jnp.int32)
            return (state, episodes), {**metrics, "switched": switched}

        carry = (state, jnp.zeros((), jnp.int32))
        (state, _), metrics = jax.lax.scan(step, carry, None, learner.num_updates)
        return TrainResult(state=state, metrics=metrics)

    train.learner = learner
    return train


def per_episode(values, episodes, num_episodes: int) -> np.ndarray:
    """A per-update metric as one value per episode, ``[runs, num_episodes]``.

    Each update's value (e.g. the mean length of the episodes that ended in it) is given to
    each of the ``episodes`` that ended in it; ``values`` and ``episodes`` are ``[runs,
    updates]``. Episodes a run did not reach are NaN.
    """
    values, episodes = np.asarray(values, np.float64), np.asarray(episodes, np.int64)
    out = np.full((values.shape[0], num_episodes), np.nan)
    for i in range(values.shape[0]):
        row = np.repeat(values[i], episodes[i])[:num_episodes]
        out[i, : row.size] = row
    return out
