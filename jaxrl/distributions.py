"""Action distributions: categorical, diagonal Gaussian and tanh-squashed Gaussian.

Each is a pytree (``flax.struct.dataclass``) over batched parameters with a trailing action
axis: ``sample(key)``, ``mode()``, ``log_prob(action)`` and ``entropy()`` over the batch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

_LOG_2PI = math.log(2.0 * math.pi)


@struct.dataclass
class Categorical:
    """Softmax over ``logits [..., A]``; actions are int32 indices ``[...]``."""

    logits: jax.Array

    @property
    def log_probs(self) -> jax.Array:
        return jax.nn.log_softmax(self.logits)

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        action = jnp.asarray(action, jnp.int32)[..., None]
        return jnp.take_along_axis(self.log_probs, action, axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        log_p = self.log_probs
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


@struct.dataclass
class DiagGaussian:
    """Independent normals with ``mean [..., A]`` and ``log_std [..., A]`` (broadcast)."""

    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        noise = jax.random.normal(key, jnp.shape(self.mean))
        return self.mean + jnp.exp(self.log_std) * noise

    def mode(self) -> jax.Array:
        return self.mean

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        log_std = jnp.broadcast_to(self.log_std, jnp.shape(z))
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        log_std = jnp.broadcast_to(self.log_std, jnp.shape(self.mean))
        return jnp.sum(log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)


@struct.dataclass
class TanhGaussian:
    """``tanh(u)`` with ``u ~ N(mean, exp(log_std)^2)`` per dimension: actions in ``(-1, 1)``.

    The log-density of ``a = tanh(u)`` is the Gaussian's at ``u`` minus
    ``sum log(1 - tanh(u)^2)`` (SAC, Haarnoja et al. 2018, appendix C), written stably as
    ``2 (log 2 - u - softplus(-2u))``.
    """

    mean: jax.Array
    log_std: jax.Array

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        noise = jax.random.normal(key, jnp.shape(self.mean))
        return self.from_noise(noise)

    def from_noise(self, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(tanh(mean + std * noise), its log-density)`` for standard-normal ``noise``."""
        u = self.mean + jnp.exp(self.log_std) * noise
        log_prob = jnp.sum(-0.5 * noise**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)
        log_prob -= jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
        return jnp.tanh(u), log_prob

    def sample(self, key: jax.Array) -> jax.Array:
        return self.sample_and_log_prob(key)[0]

    def mode(self) -> jax.Array:
        return jnp.tanh(self.mean)
