"""Hand-designed strategies for Bernoulli bandit trials, as jitted policies in the same env.

Each baseline is a :class:`~jaxrl.learner.Policy` that acts in a bandit trial
(``BernoulliBandit-k<arms>-n<pulls>``, :func:`jaxrl.envs.bernoulli_bandit`) exactly as RL²'s
policy does: it reads the previous arm (one-hot) and reward from the observation, keeps each
arm's successes and failures in its carry (which the evaluation loop resets between trials),
and returns an arm. Played by :func:`jaxrl.run.evaluate.first_episode_returns` with the same
key, every strategy meets the same trials (arm means) and the same luck (the ``u`` each pull
is compared with). Ties go to a uniformly random arm among the best.

The Bayesian ones use the uniform prior of the trials, so after ``s`` successes and ``f``
failures an arm's posterior is ``Beta(s + 1, f + 1)``:

- ``random``, ``greedy`` (the highest posterior mean), ``epsilon_greedy`` (a random arm with
  probability ``epsilon``, else greedy), ``ucb1`` (Auer et al. 2002: each arm once, then the
  highest ``mean + c sqrt(2 ln t / n_i)``; ``c = 1`` is UCB1 as published), ``thompson``
  (Thompson 1933: the arm whose posterior draw is highest);
- ``gittins``: the arm of highest Gittins index (Gittins 1979) for a discount ``gamma``,
  from :func:`gittins_indices` (the optimal policy of the discounted infinite-horizon
  problem; on a finite trial it is a heuristic, its ``gamma`` a choice);
- ``bayes_optimal``: for two arms, the exact Bayes-optimal policy of the finite trial of
  ``n`` pulls (the undiscounted expected number of successes), by dynamic programming over
  the posterior counts (:func:`bayes_optimal_two_arms`).

Each ``*_policy`` function returns ``(Policy, params)``: ``params`` holds the tables and
hyperparameters ``act`` reads (leaves may carry a leading axis to evaluate several settings
in one vmap).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.learner import Policy


class Counts(NamedTuple):
    """The carry of a counting strategy: successes and failures of each arm ``[B, k]``."""

    successes: jax.Array
    failures: jax.Array

    @property
    def pulls(self) -> jax.Array:
        return self.successes + self.failures


def counting_policy(num_arms: int, choose) -> Policy:
    """A :class:`Policy` that updates :class:`Counts` from each observation (the previous arm,
    one-hot, then the previous reward) and acts with ``choose(params, counts, key) -> arms
    [B]``."""

    def init_carry(batch: int) -> Counts:
        zeros = jnp.zeros((batch, num_arms), jnp.float32)
        return Counts(zeros, zeros)

    def act(params, obs, key, carry: Counts, env_state, greedy: bool):
        arm, reward = obs[:, :num_arms], obs[:, num_arms : num_arms + 1]
        counts = Counts(carry.successes + arm * reward, carry.failures + arm * (1.0 - reward))
        return choose(params, counts, key), counts

    return Policy(act, init_carry)


def argmax_random_ties(key, scores: jax.Array) -> jax.Array:
    """The index of the highest score in each row of ``scores [B, k]``, ties broken
    uniformly at random."""
    best = scores >= jnp.max(scores, axis=-1, keepdims=True)
    noise = jax.random.uniform(key, scores.shape)
    return jnp.argmax(jnp.where(best, noise, -1.0), axis=-1).astype(jnp.int32)


def posterior_mean(counts: Counts) -> jax.Array:
    return (counts.successes + 1.0) / (counts.pulls + 2.0)


def random_policy(num_arms: int):
    def choose(params, counts, key):
        return jax.random.randint(key, counts.pulls.shape[:1], 0, num_arms)

    return counting_policy(num_arms, choose), {}


def greedy_policy(num_arms: int):
    def choose(params, counts, key):
        return argmax_random_ties(key, posterior_mean(counts))

    return counting_policy(num_arms, choose), {}


def epsilon_greedy_policy(num_arms: int, epsilon: float = 0.1):
    def choose(params, counts, key):
        k_explore, k_arm, k_tie = jax.random.split(key, 3)
        batch = counts.pulls.shape[:1]
        explore = jax.random.uniform(k_explore, batch) < params["epsilon"]
        random_arm = jax.random.randint(k_arm, batch, 0, num_arms)
        return jnp.where(explore, random_arm, argmax_random_ties(k_tie, posterior_mean(counts)))

    return counting_policy(num_arms, choose), {"epsilon": jnp.float32(epsilon)}


def ucb1_policy(num_arms: int, c: float = 1.0):
    def choose(params, counts, key):
        n = counts.pulls
        t = jnp.sum(n, axis=-1, keepdims=True)
        bonus = params["c"] * jnp.sqrt(2.0 * jnp.log(jnp.maximum(t, 1.0)) / jnp.maximum(n, 1.0))
        score = counts.successes / jnp.maximum(n, 1.0) + bonus
        return argmax_random_ties(key, jnp.where(n > 0, score, jnp.inf))

    return counting_policy(num_arms, choose), {"c": jnp.float32(c)}


def thompson_policy(num_arms: int):
    def choose(params, counts, key):
        k_draw, k_tie = jax.random.split(key)
        draw = jax.random.beta(k_draw, counts.successes + 1.0, counts.failures + 1.0)
        return argmax_random_ties(k_tie, draw)

    return counting_policy(num_arms, choose), {}


def gittins_policy(num_arms: int, num_pulls: int, gamma: float, **kwargs):
    """The highest Gittins index for discount ``gamma`` (table from :func:`gittins_indices`
    for up to ``num_pulls`` pulls of an arm)."""

    def choose(params, counts, key):
        s = counts.successes.astype(jnp.int32)
        f = counts.failures.astype(jnp.int32)
        return argmax_random_ties(key, params["index"][s, f])

    table = gittins_indices(num_pulls, gamma, **kwargs)
    return counting_policy(num_arms, choose), {"index": jnp.asarray(table, jnp.float32)}


def gittins_indices(max_pulls: int, gamma: float, grid: int = 401,
                    tolerance: float = 1e-3) -> np.ndarray:  # fmt: skip
    """Gittins indices of a Bernoulli arm under a uniform prior, by calibration.

    The index of an arm with posterior ``Beta(s + 1, f + 1)`` is the per-step reward ``lam``
    of a retirement option that makes playing the arm on (and retiring whenever better) and
    retiring at once equally good (Gittins 1979; the retirement formulation of Whittle
    1980). For every ``lam`` of a grid over ``[0, 1]`` one backward induction over all
    posterior states gives the value of playing on from each; the index is where that value
    meets ``lam / (1 - gamma)``, linearly interpolated between grid points. Beyond
    ``max_pulls`` the states are followed until ``gamma`` has discounted what is left below
    ``tolerance`` (there the arm's mean is taken as known: worth ``max(lam, p) / (1 -
    gamma)``).

    Args:
      max_pulls: the table covers ``s + f <= max_pulls``.
      gamma: the discount, in ``(0, 1)``.
      grid: points of the ``lam`` grid.
      tolerance: the truncation's discount.

    Returns:
      ``[max_pulls + 1, max_pulls + 1]`` float64: ``[s, f]`` the index (``nan`` where
      ``s + f > max_pulls``).
    """
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma: must be in (0, 1), got {gamma}")
    lam = np.linspace(0.0, 1.0, grid)
    retire = lam / (1.0 - gamma)
    depth = max_pulls + math.ceil(math.log(tolerance) / math.log(gamma))
    table = np.full((max_pulls + 1, max_pulls + 1), np.nan)
    s = np.arange(depth + 2)
    value = np.maximum(lam[:, None], (s[None, : depth + 2] + 1.0) / (depth + 3.0)) / (1 - gamma)
    for m in range(depth, -1, -1):  # m = s + f pulls so far; s = 0..m on the diagonal
        p = (np.arange(m + 1) + 1.0) / (m + 2.0)
        play = p * (1.0 + gamma * value[:, 1 : m + 2]) + (1.0 - p) * gamma * value[:, : m + 1]
        if m <= max_pulls:
            diff = play - retire[:, None]  # [grid, m + 1], decreasing in lam
            above = np.sum(diff > 0, axis=0)  # grid points below the index
            j = np.clip(above, 1, grid - 1)
            d0, d1 = diff[j - 1, np.arange(m + 1)], diff[j, np.arange(m + 1)]
            frac = np.where(d0 > d1, d0 / np.where(d0 > d1, d0 - d1, 1.0), 0.0)
            index = lam[j - 1] + np.clip(frac, 0.0, 1.0) * (lam[j] - lam[j - 1])
            index = np.where(above == 0, 0.0, np.where(above == grid, 1.0, index))
            table[np.arange(m + 1), m - np.arange(m + 1)] = index
        value = np.maximum(retire[:, None], play)
    return table


class TwoArmTable(NamedTuple):
    """The Bayes-optimal decisions of a two-armed trial, packed: the state after ``t`` pulls,
    ``a`` of them of arm 0 with ``s0`` successes and ``s1`` successes of arm 1, is entry
    ``offset[t, a] + s0 * (t - a + 1) + s1`` of ``second``: whether to pull arm 1."""

    second: np.ndarray
    offset: np.ndarray
    value: float  # the expected successes of the whole trial under the uniform prior


def bayes_optimal_two_arms(num_pulls: int) -> TwoArmTable:
    """The exact Bayes-optimal policy of a two-armed Bernoulli trial of ``num_pulls`` pulls
    with independent ``U[0, 1]`` arm means, by backward induction over the posterior counts:
    ``V(state) = max_arm p (1 + V(success)) + (1 - p) V(failure)``, ``p = (s + 1) / (n +
    2)`` the arm's posterior mean, ``V = 0`` after the last pull. Ties pull arm 0.

    Raises:
      ValueError: ``num_pulls`` above 200 (the table has ``~n^4 / 24`` entries).
    """
    if not 1 <= num_pulls <= 200:
        raise ValueError(f"num_pulls: the two-arm table covers 1 to 200 pulls, got {num_pulls}")
    n = num_pulls
    offset = np.zeros((n + 1, n + 1), np.int64)
    total = 0
    for t in range(n + 1):
        for a in range(t + 1):
            offset[t, a] = total
            total += (a + 1) * (t - a + 1)
    second = np.zeros(total, bool)
    # value[a, s0, s1] after t + 1 pulls (a of arm 0); zero after the last pull.
    value = np.zeros((n + 2, n + 2, n + 2))
    for t in range(n - 1, -1, -1):
        a = np.arange(t + 1)[:, None, None]
        s0 = np.arange(t + 1)[None, :, None]
        s1 = np.arange(t + 1)[None, None, :]
        p0 = (s0 + 1.0) / (a + 2.0)
        p1 = (s1 + 1.0) / (t - a + 2.0)
        v = value[: t + 2, : t + 2, : t + 2]
        q0 = p0 * (1.0 + v[1:, 1:, :-1]) + (1.0 - p0) * v[1:, :-1, :-1]
        q1 = p1 * (1.0 + v[:-1, :-1, 1:]) + (1.0 - p1) * v[:-1, :-1, :-1]
        pick = q1 > q0
        for i in range(t + 1):
            second[offset[t, i] : offset[t, i] + (i + 1) * (t - i + 1)] = pick[
                i, : i + 1, : t - i + 1
            ].ravel()
        value = np.zeros((n + 2, n + 2, n + 2))
        value[: t + 1, : t + 1, : t + 1] = np.maximum(q0, q1)
    return TwoArmTable(second, offset, float(value[0, 0, 0]))


def bayes_optimal_policy(num_pulls: int):
    """The exact Bayes-optimal policy of a two-armed trial (:func:`bayes_optimal_two_arms`)."""
    table = bayes_optimal_two_arms(num_pulls)

    def choose(params, counts, key):
        n = counts.pulls.astype(jnp.int32)
        s = counts.successes.astype(jnp.int32)
        t, a = n[:, 0] + n[:, 1], n[:, 0]
        t_c = jnp.minimum(t, num_pulls)  # after the last pull nothing is asked
        index = params["offset"][t_c, a] + s[:, 0] * (t_c - a + 1) + s[:, 1]
        return params["second"][index].astype(jnp.int32)

    params = {"second": jnp.asarray(table.second), "offset": jnp.asarray(table.offset, jnp.int32)}
    return counting_policy(2, choose), params
