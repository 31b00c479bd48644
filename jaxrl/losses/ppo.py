"""PPO's clipped objectives (Schulman et al. 2017, arXiv:1707.06347), per sample."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def clipped_surrogate_loss(ratio_t: jax.Array, adv_t: jax.Array, epsilon) -> jax.Array:
    """Negated clipped surrogate ``-min(r A, clip(r, 1-eps, 1+eps) A)``, elementwise."""
    clipped = jnp.clip(ratio_t, 1.0 - epsilon, 1.0 + epsilon)
    return -jnp.minimum(ratio_t * adv_t, clipped * adv_t)


def clipped_value_loss(v_t: jax.Array, v_old_t: jax.Array, target_t: jax.Array, epsilon):
    """``0.5 max((v - G)^2, (v_old + clip(v - v_old, -eps, eps) - G)^2)``, elementwise."""
    v_clipped = v_old_t + jnp.clip(v_t - v_old_t, -epsilon, epsilon)
    return 0.5 * jnp.maximum(jnp.square(v_t - target_t), jnp.square(v_clipped - target_t))


def log_softmax_rows(rows: list[jax.Array]) -> list[jax.Array]:
    """Log-softmax across a list of same-shaped arrays, one per action, elementwise.

    Written row by row (not as a reduction over an action axis) so that on CPU the whole
    computation, and its gradient, fuses into a few loops over the batch; each exp is read
    once. The max it subtracts for stability carries no gradient (the result does not
    depend on it).
    """
    m = jax.lax.stop_gradient(functools.reduce(jnp.maximum, rows))
    shifted = [r - m for r in rows]
    log_z = jnp.log(sum(jnp.exp(x) for x in shifted))
    return [x - log_z for x in shifted]


def select_row(rows: list[jax.Array], index: jax.Array) -> jax.Array:
    """``rows[index]`` elementwise, for an array of row indices (any numeric dtype)."""
    return sum(jnp.where(index == i, r, 0.0) for i, r in enumerate(rows))


def categorical_ppo_terms(
    logits, value, action, old_log_prob, old_value, adv, target, epsilon, clip_value=True
):
    """PPO's per-sample terms for a categorical policy, with a hand-written gradient.

    Args:
      logits: ``[A, B]`` (actions first). value: ``[B]``.
      action: ``[B]`` action indices (any numeric dtype). old_log_prob, old_value, adv,
        target: ``[B]`` each, from the rollout.
      epsilon: the clip range (surrogate and value).
      clip_value: clip the value loss as :func:`clipped_value_loss` does (else squared error).

    Returns:
      ``[4, B]``: surrogate loss (:func:`clipped_surrogate_loss`), value loss, entropy and
      the approximate KL ``(r - 1) - log r``.

    Same values and gradients (with respect to ``logits`` and ``value``; the rollout data get
    none) as composing the log-softmax with the two losses, up to float rounding and ties at
    the clip bounds. It exists for speed on CPU: XLA:CPU gives every transcendental result
    that has several consumers its own kernel, and autodiff of the composed form has about
    twenty of them per minibatch for a two-action policy. Here the exps are taken in two
    stacked arrays and every other quantity is computed in one fused pass, forward and
    backward.
    """
    return _categorical_terms(clip_value, logits, value, action, old_log_prob, old_value,
                              adv, target, epsilon)  # fmt: skip


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _categorical_terms(clip_value, logits, value, *data):
    return _categorical_fwd(clip_value, logits, value, *data)[0]


def _categorical_fwd(clip_value, logits, value, action, old_log_prob, old_value, adv, target,
                     epsilon):  # fmt: skip
    log_p = log_softmax_rows([logits[a] for a in range(logits.shape[0])])
    log_ratio = select_row(log_p, action) - old_log_prob
    # Every exp still needed: the probabilities and the ratio, as one array (one kernel).
    e = jnp.exp(jnp.stack([*log_p, log_ratio]))
    p, ratio = [e[a] for a in range(len(log_p))], e[-1]
    entropy = -sum(pa * lp for pa, lp in zip(p, log_p, strict=True))
    surrogate = clipped_surrogate_loss(ratio, adv, epsilon)
    # d surrogate / d log pi(a): -A r where the unclipped term is the minimum, else 0. Inside
    # the clip range the two terms are the same number (a tie: the unclipped gradient),
    # decided from the ratio itself rather than by comparing two computations of it.
    in_range = (ratio >= 1.0 - epsilon) & (ratio <= 1.0 + epsilon)
    d_log_prob = jnp.where(in_range | (-ratio * adv >= surrogate), -adv, 0.0) * ratio
    err = value - target
    if clip_value:
        value_loss = clipped_value_loss(value, old_value, target, epsilon)
        # The unclipped error's gradient where it is the larger of the two; the clipped value
        # has none once the clip is active. Inside the clip range the two are the same number
        # (a tie, gradient err), decided from |v - v_old| <= eps rather than by comparing
        # two computations of it, whose rounding may differ (XLA folds and fuses them apart).
        inside = jnp.abs(value - old_value) <= epsilon
        d_value = jnp.where(inside | (0.5 * jnp.square(err) >= value_loss), err, 0.0)
    else:
        value_loss, d_value = 0.5 * jnp.square(err), err
    approx_kl = (ratio - 1.0) - log_ratio
    d_entropy = [pa * (lp + entropy) for pa, lp in zip(p, log_p, strict=True)]  # -dH/dlogit
    # Terms and residuals leave as one array: one pass computes all of them.
    out = jnp.stack([surrogate, value_loss, entropy, approx_kl, d_log_prob, ratio - 1.0,
                     d_value, *p, *d_entropy])  # fmt: skip
    return out[:4], (out[4:], (action, old_log_prob, old_value, adv, target, epsilon))


def _categorical_bwd(clip_value, res, g):
    res, data = res
    action = data[0]
    num_actions = (res.shape[0] - 3) // 2
    d_log_prob, d_kl, d_value = res[0], res[1], res[2]
    p, d_entropy = res[3 : 3 + num_actions], res[3 + num_actions :]
    coef = g[0] * d_log_prob + g[3] * d_kl
    g_logits = jnp.stack([
        coef * (jnp.where(action == a, 1.0, 0.0) - p[a]) - g[2] * d_entropy[a]
        for a in range(num_actions)
    ])  # fmt: skip
    return (g_logits, g[1] * d_value, *map(_zero_cotangent, data))


def _zero_cotangent(x):
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros_like(x)
    return np.zeros(x.shape, jax.dtypes.float0)


_categorical_terms.defvjp(
    lambda clip_value, *args: _categorical_fwd(clip_value, *args), _categorical_bwd
)
