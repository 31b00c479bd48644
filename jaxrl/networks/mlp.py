"""Plain MLPs as explicit parameter pytrees, and ensembles of them stacked on a leading axis.

The one MLP of the package: value and policy networks of the off-policy learners, MuZero's
three networks, CMA-ES's policies and the new families' torsos are all this.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.networks.actor_critic import ACTIVATIONS

KERNEL_INITS = ("orthogonal", "glorot_uniform")


def init_mlp(
    key: jax.Array,
    sizes: Sequence[int],
    head_scale: float = 1.0,
    gain: float = np.sqrt(2.0),
    kernel_init: str = "orthogonal",
) -> list[dict]:
    """Dense layers ``sizes[0] -> ... -> sizes[-1]`` with zero biases.

    ``sizes`` lists every width, input first and output last: ``(obs_dim, 256, 256, 1)``.
    ``kernel_init="orthogonal"`` scales hidden kernels by ``gain`` and the last by
    ``head_scale`` (0 gives a zero last layer); ``"glorot_uniform"`` ignores both scales.
    """
    if kernel_init not in KERNEL_INITS:
        raise ValueError(f"kernel_init: must be one of {KERNEL_INITS}, got {kernel_init!r}")
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if kernel_init == "glorot_uniform":
            kernel = jax.nn.initializers.glorot_uniform()(keys[i], (n_in, n_out))
        else:
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
