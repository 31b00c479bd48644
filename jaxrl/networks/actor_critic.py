"""Actor-critic MLPs with separate actor and critic towers.

The two towers have identical shapes, so their hidden layers are stored stacked on a leading
axis of size 2 (0: actor, 1: critic) and evaluated with one batched matmul per layer. This is
the same function as two independent MLPs (no weights are shared) with half the number of
XLA operations, which matters for the small networks of classic-control RL on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "gelu": jax.nn.gelu, "silu": jax.nn.silu}


def init_actor_critic(
    key: jax.Array,
    obs_dim: int,
    num_outputs: int,
    hidden: Sequence[int] = (64, 64),
    continuous: bool = False,
    actor_head_scale: float = 0.01,
) -> dict:
    """Orthogonal initialisation (gain sqrt 2 hidden, 0.01 actor head, 1 critic head)."""
    sizes = [obs_dim, *hidden]
    keys = jax.random.split(key, 2 * len(hidden) + 2)
    torso = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        init = jax.nn.initializers.orthogonal(np.sqrt(2.0))
        kernel = jnp.stack([init(keys[2 * i + j], (n_in, n_out)) for j in range(2)])
        torso.append({"kernel": kernel, "bias": jnp.zeros((2, n_out))})
    last = sizes[-1]
    params = {
        "torso": torso,
        "actor_head": {
            "kernel": jax.nn.initializers.orthogonal(actor_head_scale)(
                keys[-2], (last, num_outputs)
            ),
            "bias": jnp.zeros((num_outputs,)),
        },
        "critic_head": {
            "kernel": jax.nn.initializers.orthogonal(1.0)(keys[-1], (last, 1)),
            "bias": jnp.zeros((1,)),
        },
    }
    if continuous:
        params["log_std"] = jnp.zeros((num_outputs,))
    return params


def apply_actor_critic(params: dict, obs: jax.Array, activation: str = "tanh"):
    """Evaluates both towers.

    Args:
      params: from :func:`init_actor_critic`.
      obs: observations ``[..., obs_dim]``.
      activation: hidden activation name.

    Returns:
      ``(actor_out [..., A], value [...])``: logits (discrete) or action means (continuous).
    """
    act = ACTIVATIONS[activation]
    layers = params["torso"]
    h = act(jnp.einsum("...i,kio->k...o", obs, layers[0]["kernel"]) + _bias(layers[0], obs))
    for layer in layers[1:]:
        h = act(jnp.einsum("k...i,kio->k...o", h, layer["kernel"]) + _bias(layer, obs))
    out = h[0] @ params["actor_head"]["kernel"] + params["actor_head"]["bias"]
    value = h[1] @ params["critic_head"]["kernel"] + params["critic_head"]["bias"]
    return out, value[..., 0]


def _bias(layer, obs):
    b = layer["bias"]
    return jnp.reshape(b, (2,) + (1,) * (obs.ndim - 1) + b.shape[-1:])
