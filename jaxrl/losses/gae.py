"""Generalised advantage estimation (Schulman et al. 2016, arXiv:1506.02438) and TD(lambda)
returns of imagined trajectories (Dreamer, IRIS).

Written for one trajectory (time-indexed, unbatched); ``jax.vmap`` over environments at the
call site.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def generalized_advantage_estimation(
    r_t: jax.Array,
    v_t: jax.Array,
    v_tp1: jax.Array,
    terminated_t: jax.Array,
    done_t: jax.Array,
    gamma: jax.Array | float,
    lambda_: jax.Array | float,
) -> jax.Array:
    """GAE over a trajectory segment that may span several episodes.

    Args:
      r_t: rewards ``[T]``.
      v_t: values of the states the actions were taken in ``[T]``.
      v_tp1: value of the state each transition reached ``[T]``: on a truncated step this
        is the value of the true final observation (before the automatic reset), so the
        time limit is bootstrapped; elsewhere it is ``v_t`` shifted by one, with the value
        of the state after the segment last.
      terminated_t: the episode ended in a terminal state ``[T]`` (no bootstrap).
      done_t: the episode ended, by termination or truncation ``[T]`` (the trace is cut).
      gamma: discount.
      lambda_: GAE mixing parameter.

    Returns:
      Advantages ``[T]``; the value targets are ``advantages + v_t``.
    """
    chex.assert_rank([r_t, v_t, v_tp1, terminated_t, done_t], 1)
    chex.assert_equal_shape([r_t, v_t, v_tp1, terminated_t, done_t])
    discount_t = gamma * (1.0 - terminated_t.astype(r_t.dtype))
    delta_t = r_t + discount_t * v_tp1 - v_t
    trace_t = gamma * lambda_ * (1.0 - done_t.astype(r_t.dtype))

    def body(acc, xs):
        delta, trace = xs
        acc = delta + trace * acc
        return acc, acc

    _, adv_t = jax.lax.scan(body, jnp.zeros((), r_t.dtype), (delta_t, trace_t), reverse=True)
    return adv_t


def lambda_returns(r_t, discount_t, v_t, lambda_):
    """TD(lambda) returns of a trajectory, time-indexed along the first axis.

    ``R_t = r_t + discount_t ((1 - lambda) v_{t+1} + lambda R_{t+1})`` with ``R_T = v_T``.

    Args:
      r_t: rewards ``[T, ...]`` (``r_t`` follows the action at ``t``).
      discount_t: ``gamma * continue`` after the action at ``t``, ``[T, ...]``.
      v_t: values ``[T + 1, ...]`` (``v_T`` bootstraps the last step).
      lambda_: scalar.

    Returns:
      ``[T, ...]``.
    """

    def step(next_return, xs):
        r, discount, v_next = xs
        ret = r + discount * ((1.0 - lambda_) * v_next + lambda_ * next_return)
        return ret, ret

    _, returns = jax.lax.scan(step, v_t[-1], (r_t, discount_t, v_t[1:]), reverse=True)
    return returns
