"""Plain MLPs as explicit parameter pytrees, and ensembles of them stacked on a leading axis."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.networks.actor_critic import ACTIVATIONS


def init_mlp(
    key: jax.Array, sizes: Sequence[int], head_scale: float = 1.0, gain: float = np.sqrt(2.0)
) -> list[dict]:
    """Orthogonal weights (``gain`` for hidden layers, ``head_scale`` for the last), zero bias.

    ``sizes`` lists every width, input first and output last: ``(obs_dim, 256, 256, 1)``.
    """
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        scale = head_scale if i == len(sizes) - 2 else gain
        kernel = jax.nn.initializers.orthogonal(scale)(keys[i], (n_in, n_out))
        layers.append({"kernel": kernel, "bias": jnp.zeros((n_out,))})
    return layers


def apply_mlp(params: list[dict], x: jax.Array, activation: str = "relu") -> jax.Array:
    """``[..., in] -> [..., out]``; the activation follows every layer but the last."""
    act = ACTIVATIONS[activation]
    for layer in params[:-1]:
        x = act(x @ layer["kernel"] + layer["bias"])
    last = params[-1]
    return x @ last["kernel"] + last["bias"]


def init_ensemble(key: jax.Array, n: int, sizes: Sequence[int], **kwargs) -> list[dict]:
    """``n`` independent MLPs stacked on a leading axis (e.g. twin critics)."""
    return jax.vmap(lambda k: init_mlp(k, sizes, **kwargs))(jax.random.split(key, n))


def apply_ensemble(params: list[dict], x: jax.Array, activation: str = "relu") -> jax.Array:
    """Every member on the same input: ``[..., in] -> [n, ..., out]``."""
    return jax.vmap(apply_mlp, in_axes=(0, None, None))(params, x, activation)
