"""Invertible value transform and two-hot categorical encoding (MuZero value/reward heads).

``h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x`` squashes large returns so that one categorical
support covers them (Pohlen et al. 2018, arXiv:1805.11593); MuZero (Schrittwieser et al. 2020,
arXiv:1911.08265, appendix F) predicts ``h(value)`` and ``h(reward)`` as a distribution over
an evenly spaced support, trained on the two-hot encoding of the scalar target.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def value_transform(x: jax.Array, eps: float = 1e-3) -> jax.Array:
    """``h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x``, elementwise."""
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1.0) - 1.0) + eps * x


def inverse_value_transform(y: jax.Array, eps: float = 1e-3) -> jax.Array:
    """The exact inverse of :func:`value_transform`, elementwise.

    With ``u = sqrt(|x| + 1)``, ``|y| = u - 1 + eps (u^2 - 1)`` is the quadratic
    ``eps u^2 + u - a = 0`` with ``a = |y| + 1 + eps``; its positive root is
    ``u = (s - 1) / (2 eps)``, ``s = sqrt(1 + 4 eps a)``. ``u - 1`` is computed without the
    cancellations of that form, as ``(2 |y| + 2 eps - 4 eps a / (1 + s)) / (1 + s)``, so the
    round trip holds to float32 precision for small and large values alike.
    """
    ay = jnp.abs(y)
    a = ay + 1.0 + eps
    s = jnp.sqrt(1.0 + 4.0 * eps * a)
    u_minus_1 = (2.0 * ay + 2.0 * eps - 4.0 * eps * a / (1.0 + s)) / (1.0 + s)
    return jnp.sign(y) * u_minus_1 * (u_minus_1 + 2.0)


def symlog(x: jax.Array) -> jax.Array:
    """``sign(x) log(1 + |x|)``, elementwise (DreamerV3, Hafner et al. 2023, arXiv:2301.04104):
    compresses large magnitudes, near the identity around zero."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(y: jax.Array) -> jax.Array:
    """``sign(y) (exp(|y|) - 1)``, elementwise: the inverse of :func:`symlog`."""
    return jnp.sign(y) * jnp.expm1(jnp.abs(y))


def support(v_min: float, v_max: float, num_bins: int) -> jax.Array:
    """The evenly spaced support ``[num_bins]`` from ``v_min`` to ``v_max``."""
    return jnp.linspace(v_min, v_max, num_bins)


def two_hot(x: jax.Array, v_min: float, v_max: float, num_bins: int) -> jax.Array:
    """Two-hot encoding of a scalar over an evenly spaced support.

    ``x`` (clipped into ``[v_min, v_max]``) is split between its two neighbouring bins so that
    the probabilities sum to one and their mean over the support is ``x`` exactly.

    Args:
      x: scalar ``[]``.
      v_min, v_max, num_bins: the support (static).

    Returns:
      probabilities ``[num_bins]``.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 0:
        raise ValueError(f"two_hot: x must be a scalar (vmap over batches), got {x.shape}")
    delta = (v_max - v_min) / (num_bins - 1)
    pos = (jnp.clip(x, v_min, v_max) - v_min) / delta
    lower = jnp.clip(jnp.floor(pos), 0, num_bins - 2)
    upper_w = pos - lower
    idx = jnp.arange(num_bins)
    return jnp.where(idx == lower, 1.0 - upper_w, 0.0) + jnp.where(idx == lower + 1, upper_w, 0.0)


def two_hot_decode(probs: jax.Array, v_min: float, v_max: float, num_bins: int) -> jax.Array:
    """The mean of a distribution ``[..., num_bins]`` over the support: ``[...]``."""
    return jnp.sum(probs * support(v_min, v_max, num_bins), axis=-1)


def _bound(v_max: float, eps: float) -> float:
    """``h(v_max)`` in Python floats (static support bounds)."""
    return math.sqrt(abs(v_max) + 1.0) - 1.0 + eps * abs(v_max)


def scalar_to_categorical(x: jax.Array, v_max: float, num_bins: int, eps: float = 1e-3):
    """``two_hot(h(x))`` over the symmetric support ``[-h(v_max), h(v_max)]``: ``[num_bins]``."""
    bound = _bound(v_max, eps)
    return two_hot(value_transform(x, eps), -bound, bound, num_bins)


def categorical_to_scalar(logits: jax.Array, v_max: float, num_bins: int, eps: float = 1e-3):
    """The scalar a categorical head ``[..., num_bins]`` (logits) predicts: ``h^-1(E[h])``."""
    bound = _bound(v_max, eps)
    mean = two_hot_decode(jax.nn.softmax(logits, axis=-1), -bound, bound, num_bins)
    return inverse_value_transform(mean, eps)
