"""MuZero networks: representation, dynamics and prediction MLPs (explicit parameter pytrees).

Schrittwieser et al. 2020, "Mastering Atari, Go, chess and shogi by planning with a learned
model" (arXiv:1911.08265). The representation ``h`` maps an observation to a latent state,
the dynamics ``g`` maps ``(latent, action)`` to the next latent and a reward, and the
prediction ``f`` maps a latent to policy logits and a value. Value and reward heads are
categorical (logits over a support of transformed values, see
:mod:`jaxrl.losses.value_transform`); hidden latents are min-max scaled to ``[0, 1]`` as in
the paper. AlphaZero uses the prediction network alone, on observations.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxrl.networks.mlp import apply_mlp, init_mlp


def scale_latent(s: jax.Array) -> jax.Array:
    """Min-max scales each latent ``[..., D]`` into ``[0, 1]`` (MuZero appendix G)."""
    lo = jnp.min(s, axis=-1, keepdims=True)
    hi = jnp.max(s, axis=-1, keepdims=True)
    return (s - lo) / (hi - lo + 1e-5)


def init_prediction(key, in_dim: int, num_actions: int, hidden: Sequence[int], num_bins: int):
    """Policy and value heads over a shared torso ``in_dim -> hidden``."""
    k_torso, k_pi, k_v = jax.random.split(key, 3)
    return {
        "torso": init_mlp(k_torso, [in_dim, *hidden]),
        "policy": init_mlp(k_pi, [hidden[-1], num_actions], head_scale=0.01),
        "value": init_mlp(k_v, [hidden[-1], num_bins], head_scale=0.0),
    }


def apply_prediction(params: dict, x: jax.Array):
    """``f``: input ``[..., in_dim]`` -> ``(policy logits [..., A], value logits [..., bins])``."""
    h = jax.nn.relu(apply_mlp(params["torso"], x))
    return apply_mlp(params["policy"], h), apply_mlp(params["value"], h)


def init_muzero(
    key: jax.Array,
    obs_dim: int,
    num_actions: int,
    latent_dim: int = 64,
    hidden: Sequence[int] = (64,),
    num_bins: int = 21,
) -> dict:
    """Parameters of the three MuZero networks.

    Args:
      key: PRNG key.
      obs_dim: flat observation size.
      num_actions: number of discrete actions.
      latent_dim: size of the hidden state.
      hidden: hidden layer sizes of every network.
      num_bins: size of the value and reward supports.
    """
    k_r, k_d, k_rew, k_p = jax.random.split(key, 4)
    return {
        "representation": init_mlp(k_r, [obs_dim, *hidden, latent_dim]),
        "dynamics": init_mlp(k_d, [latent_dim + num_actions, *hidden, latent_dim]),
        "reward": init_mlp(k_rew, [latent_dim + num_actions, *hidden, num_bins], head_scale=0.0),
        "prediction": init_prediction(k_p, latent_dim, num_actions, hidden, num_bins),
    }


def represent(params: dict, obs: jax.Array) -> jax.Array:
    """``h``: observations ``[..., obs_dim]`` -> latents ``[..., D]``."""
    return scale_latent(apply_mlp(params["representation"], obs))


def dynamics(params: dict, latent: jax.Array, action: jax.Array):
    """``g``: ``(latent [..., D], action [...])`` -> ``(next latent [..., D], reward logits)``."""
    num_actions = params["dynamics"][0]["kernel"].shape[0] - latent.shape[-1]
    x = jnp.concatenate([latent, jax.nn.one_hot(action, num_actions)], axis=-1)
    return scale_latent(apply_mlp(params["dynamics"], x)), apply_mlp(params["reward"], x)


def predict(params: dict, latent: jax.Array):
    """``f``: latents ``[..., D]`` -> ``(policy logits [..., A], value logits [..., bins])``."""
    return apply_prediction(params["prediction"], latent)
