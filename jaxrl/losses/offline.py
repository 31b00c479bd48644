"""Losses of offline RL: TD3+BC's actor loss, IQL's expectile regression and advantage
weights, CQL's penalty.

Unbatched (one state, or elementwise); vmap over the batch at the call site.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp


def td3_bc_actor_loss(q: jax.Array, pi: jax.Array, action: jax.Array, alpha) -> jax.Array:
    """TD3+BC's actor loss over a batch (Fujimoto & Gu 2021, arXiv:2106.06860, eq. 3):
    ``-lambda mean_i Q(s_i, pi(s_i)) + mean_i mean_j (pi(s_i)_j - a_ij)^2`` with
    ``lambda = alpha / mean_i |Q(s_i, pi(s_i))|`` held constant in the gradient, so the
    trade-off does not depend on the scale of the returns.

    Args:
      q: ``[B]`` the critic at the policy's actions.
      pi, action: ``[B, d]`` the policy's actions and the dataset's.
      alpha: the weight of the Q term (2.5 in the paper).
    """
    chex.assert_rank(q, 1)
    chex.assert_rank([pi, action], 2)
    lam = jax.lax.stop_gradient(alpha / jnp.maximum(jnp.mean(jnp.abs(q)), 1e-6))
    return -lam * jnp.mean(q) + jnp.mean((pi - action) ** 2)


def expectile_loss(diff: jax.Array, expectile) -> jax.Array:
    """IQL's asymmetric squared loss ``|tau - 1(u < 0)| u^2`` of ``u = Q(s, a) - V(s)``,
    elementwise (Kostrikov et al. 2021, arXiv:2110.06169, eq. 5): with ``tau > 0.5`` the
    value regresses towards an upper expectile of ``Q`` over the dataset's actions, an
    in-sample estimate of the maximum that never queries an unseen action."""
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff**2


def awr_weight(advantage: jax.Array, temperature, max_weight: float = 100.0) -> jax.Array:
    """IQL's (advantage-weighted regression's) policy-extraction weight
    ``min(exp(beta * A), max_weight)``, elementwise."""
    return jnp.minimum(jnp.exp(temperature * advantage), max_weight)


def cql_penalty(q_random: jax.Array, q_policy: jax.Array, logp_policy: jax.Array,
                q_next_policy: jax.Array, logp_next_policy: jax.Array, q_data: jax.Array,
                action_dim: int) -> jax.Array:  # fmt: skip
    """CQL's regulariser for one state and one critic (Kumar et al. 2020, arXiv:2006.04779,
    CQL(H), eq. 4, with the importance-sampled log-sum-exp of appendix F):

    ``log sum_j exp(q_j - log p_j) - Q(s, a_data)`` over ``3N`` actions: ``N`` uniform on
    ``[-1, 1]^d`` (density ``0.5^d``), ``N`` from the policy at ``s`` and ``N`` from the
    policy at the next state ``s'`` (each with its log-density ``log p_j``), all valued by
    the critic at ``s``. It pushes the critic down on actions the policy would pick and up on
    the dataset's. As in the authors' code, the estimate drops the constant ``log 3N`` (no
    effect on gradients).

    Args:
      q_random: ``[N]`` Q(s, a) at uniform actions.
      q_policy, logp_policy: ``[N]`` Q(s, a) and log pi(a|s) at actions drawn at ``s``.
      q_next_policy, logp_next_policy: ``[N]`` the same at actions drawn at ``s'``.
      q_data: ``[]`` Q(s, a) at the dataset's action.
      action_dim: ``d``.
    """
    chex.assert_rank([q_random, q_policy, logp_policy, q_next_policy, logp_next_policy], 1)
    chex.assert_rank(q_data, 0)
    log_uniform = action_dim * math.log(0.5)
    logits = jnp.concatenate([q_random - log_uniform, q_policy - logp_policy,
                              q_next_policy - logp_next_policy])  # fmt: skip
    return jax.nn.logsumexp(logits) - q_data
