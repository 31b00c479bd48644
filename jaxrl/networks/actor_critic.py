"""Actor-critic MLPs: an actor tower and a critic tower of the same shape, evaluated together.

The towers share no weights, but their layers have the same shapes, so each layer is stored
stacked on a leading "tower" axis (0: actor, 1: critic) and evaluated as one batched matmul.
The output layer is stacked too: the actor's ``[A, H]`` head beside the critic's, whose first
row is the value head and whose other rows are zero. Their gradients are exactly zero (no
loss reads them), so they stay zero under any optimiser whose update of a zero gradient is
zero (SGD, Adam, RMSProp).

Activations are feature-major (``[towers, features, batch]``) and the backward pass is
written by hand (:func:`towers` has a custom VJP): on CPU, XLA's matmuls are fastest when no
operand is read transposed along its leading axis, and autodiff of the batch-major layout
produces exactly those (one weight gradient per layer contracts both operands' leading axes).
Written this way, one PPO minibatch step of two 64-64 towers costs ~30 % less on one core.
Forward passes over a few inputs inside a loop (a rollout's step) take the other layout:
:func:`towers_batch_major`, with weights transposed once by :func:`transpose_towers`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.networks.initializers import orthogonal_weights

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "gelu": jax.nn.gelu, "silu": jax.nn.silu}

ACTOR, CRITIC = 0, 1


def init_actor_critic(
    key: jax.Array,
    obs_dim: int,
    num_outputs: int,
    hidden: Sequence[int] = (64, 64),
    continuous: bool = False,
    actor_head_scale: float = 0.01,
) -> dict:
    """Orthogonal initialisation (gain sqrt 2 hidden, 0.01 actor head, 1 critic head), zero bias.

    Returns ``{"hidden": [{"w": [2, out, in], "b": [2, out]}, ...], "head": {"w": [2, A, H],
    "b": [2, A]}}`` (plus ``"log_std": [A]`` for a continuous actor).
    """
    sizes = [obs_dim, *hidden]
    layer_shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
    gain = float(np.sqrt(2.0))
    # Two of each hidden layer (actor, critic), then the actor head and the value head.
    shapes = [s for s in layer_shapes for _ in range(2)] + [
        (sizes[-1], num_outputs),
        (sizes[-1], 1),
    ]
    scales = [gain] * (2 * len(layer_shapes)) + [actor_head_scale, 1.0]
    weights = orthogonal_weights(key, shapes, scales)
    layers = [
        {"w": jnp.stack([weights[2 * i].T, weights[2 * i + 1].T]), "b": jnp.zeros((2, n_out))}
        for i, (_, n_out) in enumerate(layer_shapes)
    ]
    actor, critic = weights[-2].T, weights[-1].T
    critic = jnp.pad(critic, ((0, num_outputs - 1), (0, 0)))
    params = {
        "hidden": layers,
        "head": {"w": jnp.stack([actor, critic]), "b": jnp.zeros((2, num_outputs))},
    }
    if continuous:
        params["log_std"] = jnp.zeros((num_outputs,))
    return params


def select_towers(params: dict, towers_slice: slice | None = None) -> dict:
    """The stacked layers of ``params`` (what :func:`towers` takes; no ``log_std``), or those
    of some towers only (e.g. ``slice(0, 1)``: the actor), for cheaper forwards."""
    net = {"hidden": params["hidden"], "head": params["head"]}
    return net if towers_slice is None else jax.tree.map(lambda x: x[towers_slice], net)


def split_towers(params: dict) -> tuple[list[dict], list[dict]]:
    """The actor and the critic of ``params`` as two plain MLPs (the layers
    :func:`jaxrl.networks.apply_mlp` reads: ``kernel [in, out]``, ``bias [out]``).

    The stacked layout is only storage: each tower is an ordinary MLP, the critic's output
    being the first row of its padded head. Gradients through this view reach the stacked
    parameters (zero for the critic head's padding rows).
    """

    def tower(t: int, outputs: slice) -> list[dict]:
        layers = [{"kernel": layer["w"][t].T, "bias": layer["b"][t]} for layer in params["hidden"]]
        head = params["head"]
        layers.append({"kernel": head["w"][t, outputs].T, "bias": head["b"][t, outputs]})
        return layers

    return tower(ACTOR, slice(None)), tower(CRITIC, slice(0, 1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def towers(net: dict, x_t: jax.Array, activation: str = "tanh") -> jax.Array:
    """Evaluates stacked towers on feature-major inputs.

    Args:
      net: ``{"hidden": [...], "head": {...}}`` with a leading tower axis ``G`` on every leaf.
      x_t: inputs ``[D, B]`` (features first), shared by every tower.
      activation: hidden activation name.

    Returns:
      ``[G, A, B]``: tower ``g``'s outputs for every input.
    """
    return _forward(net, x_t, activation)[0]


def _forward(net, x_t, activation):
    act = ACTIVATIONS[activation]
    hs, zs = [x_t], []
    h = None
    for i, layer in enumerate(net["hidden"]):
        if i == 0 and x_t.shape[0] <= _OUTER_PRODUCT_MAX:
            # A few inputs: a sum of outer products, which fuses into the activation.
            w = layer["w"]
            z = sum(w[:, :, d, None] * x_t[d] for d in range(x_t.shape[0]))
        elif i == 0:
            z = jnp.einsum("goi,ib->gob", layer["w"], x_t)
        else:
            z = jnp.einsum("goi,gib->gob", layer["w"], h)
        z = z + layer["b"][..., None]
        h = act(z)
        hs.append(h)
        zs.append(z)
    out = jnp.einsum("goi,gib->gob", net["head"]["w"], h) + net["head"]["b"][..., None]
    return out, hs, zs


def _towers_fwd(net, x_t, activation):
    out, hs, zs = _forward(net, x_t, activation)
    # tanh and relu derive from their outputs; other activations keep their inputs.
    keep = None if activation in ("tanh", "relu") else zs
    return out, (net, hs, keep)


def _activation_grad(activation, d, h, z):
    if activation == "tanh":
        return d * (1.0 - h * h)
    if activation == "relu":
        return jnp.where(h > 0, d, 0.0)
    return jax.vjp(ACTIVATIONS[activation], z)[1](d)[0]


def _towers_bwd(activation, res, g_out):
    net, hs, zs = res
    # With a few outputs, the head's weight gradient is one matrix-vector product per output
    # (XLA:CPU fuses those into loops; the matmul reads both operands along their last axis)
    # and d = dL/dh of the last hidden layer, W^T g, a sum of outer products (it fuses into
    # the activation's gradient instead of being its own matmul).
    w_head = net["head"]["w"]
    if w_head.shape[1] <= _OUTER_PRODUCT_MAX:
        outputs = range(w_head.shape[1])
        g_head = jnp.stack([jnp.einsum("gib,gb->gi", hs[-1], g_out[:, o]) for o in outputs], 1)
        d = sum(w_head[:, o, :, None] * g_out[:, o, None, :] for o in outputs)
    else:
        g_head = jnp.einsum("gob,gib->goi", g_out, hs[-1])
        d = jnp.einsum("gio,gob->gib", _transposed(w_head), g_out)
    grads = {"head": {"w": g_head, "b": _row_sums(g_out)}}
    hidden = []
    for i in reversed(range(len(net["hidden"]))):
        layer = net["hidden"][i]
        dz = _activation_grad(activation, d, hs[i + 1], None if zs is None else zs[i])
        if i == 0:
            w = jnp.einsum("gob,ib->goi", dz, hs[0])
        else:
            w = jnp.einsum("gob,gib->goi", dz, hs[i])
            d = jnp.einsum("gio,gob->gib", _transposed(layer["w"]), dz)
        hidden.append({"w": w, "b": _row_sums(dz)})
    grads["hidden"] = hidden[::-1]
    return grads, jnp.zeros_like(hs[0])


towers.defvjp(_towers_fwd, _towers_bwd)

_OUTER_PRODUCT_MAX = 4  # output layers this narrow back-propagate as sums of outer products


def _transposed(w):
    """``W^T`` of stacked weights ``[G, out, in]``, materialised: XLA would otherwise fold the
    transpose into the matmul, which on CPU then reads an operand transposed (~15 % slower
    for 64 x 64 layers, more than the explicit transpose costs)."""
    return jax.lax.optimization_barrier(jnp.swapaxes(w, 1, 2))


def transpose_towers(net: dict) -> dict:
    """``net`` (as :func:`select_towers` gives it) with every weight stored ``[G, in, out]``:
    the layout :func:`towers_batch_major` reads."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 1, 2) if x.ndim == 3 else x, net)


def towers_batch_major(net_t: dict, x: jax.Array, activation: str = "tanh") -> jax.Array:
    """Evaluates stacked towers on batch-major inputs (forward only).

    The layout for a few inputs at a time inside a loop, such as one step of a rollout. XLA:CPU
    compiles a small loop into one kernel (:func:`jaxrl.run.configure_cpu`), and in such a
    kernel a matmul is a plain loop vectorised along its output's last axis. Batch-major
    outputs put a layer's units there; the feature-major layout of :func:`towers` puts the
    batch there, and 4 envs fill a quarter of an AVX-512 vector.

    Args:
      net_t: stacked towers from :func:`transpose_towers`.
      x: inputs ``[B, D]``, shared by every tower.
      activation: hidden activation name.

    Returns:
      ``[G, B, A]``: tower ``g``'s outputs for every input.
    """
    act = ACTIVATIONS[activation]
    h = None
    for i, layer in enumerate(net_t["hidden"]):
        w = layer["w"]
        if i == 0 and x.shape[-1] <= _OUTER_PRODUCT_MAX:
            z = sum(x[None, :, d, None] * w[:, None, d, :] for d in range(x.shape[-1]))
        elif i == 0:
            z = jnp.einsum("bi,gio->gbo", x, w)
        else:
            z = jnp.einsum("gbi,gio->gbo", h, w)
        h = act(z + layer["b"][:, None, :])
    return jnp.einsum("gbi,gio->gbo", h, net_t["head"]["w"]) + net_t["head"]["b"][:, None, :]


def apply_actor_critic(params: dict, obs: jax.Array, activation: str = "tanh"):
    """Evaluates both towers on batch-major observations.

    Args:
      params: from :func:`init_actor_critic`.
      obs: observations ``[..., obs_dim]``.
      activation: hidden activation name.

    Returns:
      ``(actor_out [..., A], value [...])``: logits (discrete) or action means (continuous).
    """
    batch = obs.shape[:-1]
    x_t = jnp.reshape(obs, (-1, obs.shape[-1])).T
    out = towers(select_towers(params), x_t, activation)
    actor = jnp.reshape(out[ACTOR].T, batch + out.shape[1:2])
    value = jnp.reshape(out[CRITIC, 0], batch)
    return actor, value


def _row_sums(x):
    """Sums over the batch (last) axis as a matrix-vector product: on CPU, one dot is cheaper
    than XLA's two-pass reduction of a ``[G, H, B]`` array."""
    return jnp.einsum("gob,b->go", x, jnp.ones(x.shape[-1], x.dtype))
