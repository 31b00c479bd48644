"""PPO's clipped objectives (Schulman et al. 2017, arXiv:1707.06347), per sample."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def clipped_surrogate_loss(ratio_t: jax.Array, adv_t: jax.Array, epsilon) -> jax.Array:
    """Negated clipped surrogate ``-min(r A, clip(r, 1-eps, 1+eps) A)``, elementwise."""
    clipped = jnp.clip(ratio_t, 1.0 - epsilon, 1.0 + epsilon)
    return -jnp.minimum(ratio_t * adv_t, clipped * adv_t)


def clipped_value_loss(v_t: jax.Array, v_old_t: jax.Array, target_t: jax.Array, epsilon):
    """``0.5 max((v - G)^2, (v_old + clip(v - v_old, -eps, eps) - G)^2)``, elementwise."""
    v_clipped = v_old_t + jnp.clip(v_t - v_old_t, -epsilon, epsilon)
    return 0.5 * jnp.maximum(jnp.square(v_t - target_t), jnp.square(v_clipped - target_t))
