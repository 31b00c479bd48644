"""A small GPT-style causal transformer: pre-LayerNorm blocks and attention masks.

The Decision Transformer (:mod:`jaxrl.agents.offline.dt`) and the IRIS world model
(:mod:`jaxrl.agents.world_models.iris`) are built from these pieces (flax linen modules).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class Block(nn.Module):
    """A pre-LayerNorm transformer block: masked self-attention, then a 4x MLP."""

    width: int
    heads: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, mask, deterministic: bool = True):
        y = nn.LayerNorm()(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.heads, dropout_rate=self.dropout, deterministic=deterministic
        )(y, y, mask=mask)
        x = x + nn.Dropout(self.dropout)(y, deterministic=deterministic)
        y = nn.LayerNorm()(x)
        y = nn.Dense(self.width)(nn.gelu(nn.Dense(4 * self.width)(y)))
        return x + nn.Dropout(self.dropout)(y, deterministic=deterministic)


def causal_mask(valid: jax.Array, tokens_per_step: int = 1) -> jax.Array:
    """``[B, 1, N, N]`` with ``N = K * tokens_per_step``: token ``i`` attends to token
    ``j <= i`` of a valid step (``valid [B, K]``, each step ``tokens_per_step`` tokens)."""
    tokens = jnp.repeat(valid, tokens_per_step, axis=1)
    n = tokens.shape[1]
    causal = jnp.tril(jnp.ones((n, n), bool))
    return causal[None, None] & tokens[:, None, None, :]


def segment_causal_mask(segment: jax.Array, tokens_per_step: int = 1) -> jax.Array:
    """``[B, 1, N, N]``: token ``i`` attends to token ``j <= i`` of the same segment
    (``segment [B, K]`` an id per step, e.g. the episode it belongs to), so that no
    token reads across an episode boundary inside one sampled sequence."""
    seg = jnp.repeat(segment, tokens_per_step, axis=1)
    n = seg.shape[1]
    causal = jnp.tril(jnp.ones((n, n), bool))
    return causal[None, None] & (seg[:, None, :, None] == seg[:, None, None, :])
