"""n-step bootstrapped value targets over self-play trajectories (unbatched, time-major)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def n_step_returns(
    r_t: jax.Array,
    discount_t: jax.Array,
    v_tp1: jax.Array,
    end_t: jax.Array,
    n: int,
) -> jax.Array:
    """n-step bootstrapped returns ``G_t = r_t + ... + γ^(k-1) r_{t+k-1} + γ^k v_{t+k}``.

    ``k = min(n, steps to the episode's end, steps to the trajectory's end)``: an ended
    episode bootstraps from ``v_tp1`` at its last step (zero weight after termination, since
    ``discount_t`` is 0 there; the value of the final observation after truncation).

    Args:
      r_t: rewards ``[T]``.
      discount_t: ``γ`` times not-terminated ``[T]``.
      v_tp1: value of the state each transition reached ``[T]``.
      end_t: the episode ended (terminated or truncated) at this step ``[T]``.
      n: the number of steps (static, ``>= 1``).

    Returns:
      the targets ``[T]``.
    """
    chex.assert_rank([r_t, discount_t, v_tp1, end_t], 1)
    g = r_t + discount_t * v_tp1
    for _ in range(n - 1):
        g_next = jnp.concatenate([g[1:], v_tp1[-1:]])
        g = r_t + discount_t * jnp.where(end_t, v_tp1, g_next)
    return g
