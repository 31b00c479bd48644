"""Bootstrapped targets and TD losses for value-based and actor-critic learners.

Unbatched and time-indexed (``r_t``, ``discount_t``); vmap over the batch at the call site.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def n_step_bootstrap(
    r_t: jax.Array, discount_t: jax.Array, done_t: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The reward part of an n-step return over one sampled sequence.

    The sequence stops at its first episode end (terminated or truncated): the target is
    ``G = r_0 + d_0 r_1 + ... + d_0...d_{k-1} r_k + d_0...d_k V(s'_k)`` where ``k`` is the
    first step with ``done`` (or ``n - 1``) and ``s'_k`` that step's true next observation.
    A terminated step has ``d = 0`` (no bootstrap); a truncated one keeps ``d = gamma``, so
    truncation bootstraps from the final observation.

    Args:
      r_t: rewards ``[n]``.
      discount_t: ``gamma * (1 - terminated)`` per step ``[n]``.
      done_t: episode ended at the step (terminated or truncated) ``[n]``.

    Returns:
      ``(partial_return, bootstrap_discount, k)``: the target is
      ``partial_return + bootstrap_discount * V(next_obs[k])``.
    """
    chex.assert_rank([r_t, discount_t, done_t], 1)
    n = r_t.shape[0]
    done = jnp.asarray(done_t, bool).at[-1].set(True)
    k = jnp.argmax(done)  # first episode end, or the last step
    live = jnp.arange(n) <= k
    # discount applied before step i's reward: prod_{j<i} d_j
    before = jnp.concatenate([jnp.ones((1,)), jnp.cumprod(discount_t)[:-1]])
    partial = jnp.sum(jnp.where(live, before * r_t, 0.0))
    return partial, before[k] * discount_t[k], k


def huber_loss(x: jax.Array, delta: float = 1.0) -> jax.Array:
    """Quadratic within ``[-delta, delta]``, linear outside."""
    abs_x = jnp.abs(x)
    quad = jnp.minimum(abs_x, delta)
    return 0.5 * quad**2 + delta * (abs_x - quad)


def double_q_target(q_next_online: jax.Array, q_next_target: jax.Array) -> jax.Array:
    """Double Q-learning bootstrap (van Hasselt et al. 2016): the target net's value of the
    online net's greedy action. Both ``[A]``."""
    chex.assert_rank([q_next_online, q_next_target], 1)
    return q_next_target[jnp.argmax(q_next_online)]


def soft_state_value(
    q_t: jax.Array, probs_t: jax.Array, log_probs_t: jax.Array, alpha
) -> jax.Array:
    """Soft value ``sum_a pi(a) (Q(a) - alpha log pi(a))`` of a discrete policy (all ``[A]``)."""
    chex.assert_rank([q_t, probs_t, log_probs_t], 1)
    return jnp.sum(probs_t * (q_t - alpha * log_probs_t))
