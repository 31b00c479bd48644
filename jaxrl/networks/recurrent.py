"""Recurrent cores (GRU, LSTM) as explicit parameter pytrees, and their unroll with resets.

A core's gates are fused: the input and the hidden state each go through one matrix with the
gates side by side (``[in, G H]`` and ``[H, G H]``), so a step is two matrix products. The
input's product does not depend on the carry, so over a known sequence (training) it is
computed for every step at once (:meth:`Core.project`) and only the hidden state's product
stays in the time loop (:func:`unroll`).

The equations are flax's ``GRUCell`` and ``LSTMCell`` (a test holds them to flax with the
same weights):

- GRU (Cho et al. 2014): ``r = sigma(x W_ir + b_ir + h W_hr)``,
  ``z = sigma(x W_iz + b_iz + h W_hz)``, ``n = tanh(x W_in + b_in + r (h W_hn + b_hn))``,
  ``h' = (1 - z) n + z h``.
- LSTM (Hochreiter & Schmidhuber 1997): ``i, f, o = sigma(.)``, ``g = tanh(.)`` of
  ``x W_i + h W_h + b``; ``c' = f c + i g``, ``h' = o tanh(c')``; the carry is ``(c, h)``.

Initialisation as flax's: LeCun-normal input weights, orthogonal hidden weights (one
orthogonal block per gate), zero biases.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

CORES = ("gru", "lstm")


class Core(NamedTuple):
    """A recurrent core of ``size`` units: ``"gru"`` or ``"lstm"`` (static description)."""

    kind: str
    size: int

    @property
    def gates(self) -> int:
        return 3 if self.kind == "gru" else 4

    def init(self, key: jax.Array, in_dim: int) -> dict:
        """``{"wi": [in, G H], "bi": [G H], "wh": [H, G H], "bh": [H or G H]}``: the GRU's
        ``bh`` is ``b_hn`` (its other hidden biases add nothing to ``bi``'s)."""
        k_in, k_h = jax.random.split(key)
        h, g = self.size, self.gates
        wi = jax.nn.initializers.lecun_normal()(k_in, (in_dim, g * h))
        blocks = jax.vmap(lambda k: jax.nn.initializers.orthogonal()(k, (h, h)))(
            jax.random.split(k_h, g)
        )
        wh = jnp.concatenate(list(blocks), axis=1)
        bh = jnp.zeros((h,) if self.kind == "gru" else (g * h,))
        return {"wi": wi, "bi": jnp.zeros((g * h,)), "wh": wh, "bh": bh}

    def initial_carry(self, batch_shape: tuple[int, ...] | int = ()):
        """The carry at the start of an episode: zeros ``[*batch_shape, H]`` (a pair
        ``(c, h)`` for the LSTM)."""
        shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
        zeros = jnp.zeros(shape + (self.size,))
        return zeros if self.kind == "gru" else (zeros, zeros)

    def project(self, params: dict, x: jax.Array) -> jax.Array:
        """The input's share of every gate, ``[..., in] -> [..., G H]``."""
        return x @ params["wi"] + params["bi"]

    def step(self, params: dict, carry, x_proj: jax.Array):
        """One step from a projected input ``[..., G H]`` -> ``(carry, output [..., H])``."""
        cell = _gru if self.kind == "gru" else _lstm
        carry, _ = cell(params["wh"], params["bh"], carry, x_proj)
        return carry, (carry if self.kind == "gru" else carry[1])

    def __call__(self, params: dict, carry, x: jax.Array):
        """One step from a raw input ``[..., in]`` -> ``(carry, output [..., H])``."""
        return self.step(params, carry, self.project(params, x))


def reset_where(reset: jax.Array, initial, carry):
    """``initial`` in the rows where ``reset [B]`` holds, else ``carry`` (pytrees of
    ``[B, ...]`` arrays)."""

    def pick(a, b):
        return jnp.where(jnp.reshape(reset, reset.shape + (1,) * (b.ndim - reset.ndim)), a, b)

    return jax.tree.map(pick, initial, carry)


def unroll(core: Core, params: dict, carry, x_proj: jax.Array, reset: jax.Array):
    """The core over a sequence, its carry reset where episodes begin.

    Args:
      core: the core.
      params: its parameters.
      carry: the carry before the first step ``[B, H]`` (``(c, h)`` for the LSTM).
      x_proj: projected inputs ``[T, B, G H]`` (:meth:`Core.project`).
      reset: ``[T, B]``, true where the carry goes back to :meth:`Core.initial_carry` before
        the step (the previous step ended an episode).

    Returns:
      ``(carry after the last step, outputs [T, B, H])``; backpropagating through it is
      truncated backpropagation through time over the ``T`` steps.

    The backward pass is written by hand (the same gradients as autodiff of :meth:`Core.step`
    in a scan, which a test checks): its time loop only carries the hidden state's gradient
    back, one matrix-vector product per step, and the hidden weights' gradient is one matrix
    product over all steps afterwards, where autodiff would add an outer product into it at
    every step (a sequence of one env, fwd + bwd: ~2x faster on CPU).
    """
    return _unroll(core, params["wh"], params["bh"], carry, x_proj, reset)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _unroll(core: Core, wh, bh, carry, x_proj, reset):
    return _unroll_forward(core, wh, bh, carry, x_proj, reset)[0]


def _unroll_forward(core: Core, wh, bh, carry, x_proj, reset):
    """:func:`unroll` and, per step, what its backward pass reads."""
    initial = core.initial_carry(reset.shape[1:])
    cell = _gru if core.kind == "gru" else _lstm

    def body(carry, xs):
        x, reset_t = xs
        carry, residuals = cell(wh, bh, reset_where(reset_t, initial, carry), x)
        return carry, (carry if core.kind == "gru" else carry[1], residuals)

    carry, (hs, residuals) = jax.lax.scan(body, carry, (x_proj, reset))
    return (carry, hs), residuals


def _unroll_fwd(core, wh, bh, carry, x_proj, reset):
    out, residuals = _unroll_forward(core, wh, bh, carry, x_proj, reset)
    return out, (wh, reset, residuals)


def _unroll_bwd(core, saved, cotangents):
    wh, reset, residuals = saved
    d_carry, d_hs = cotangents
    wh_t = wh.T
    h_size = core.size

    def gru_step(dh_next, xs):
        dh_out, reset_t, (h_in, r, z, n, a) = xs
        dh = dh_next + dh_out
        d_pre_n = dh * (1.0 - z) * (1.0 - n * n)
        d_pre_r = d_pre_n * a * r * (1.0 - r)
        d_pre_z = dh * (h_in - n) * z * (1.0 - z)
        d_hh = jnp.concatenate([d_pre_r, d_pre_z, d_pre_n * r], axis=-1)  # of h_in @ wh
        dh_in = dh * z + d_hh @ wh_t
        d_x = jnp.concatenate([d_pre_r, d_pre_z, d_pre_n], axis=-1)
        return _zero_where(reset_t, dh_in), (d_hh, d_x)

    def lstm_step(d_next, xs):
        dh_out, reset_t, (c_in, h_in, i, f, g, o, tanh_c) = xs
        dc_next, dh_next = d_next
        dh = dh_next + dh_out
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        d_pre = jnp.concatenate([dc * g * i * (1.0 - i), dc * c_in * f * (1.0 - f),
                                 dc * i * (1.0 - g * g), dh * tanh_c * o * (1.0 - o)],
                                axis=-1)  # fmt: skip
        d_in = (dc * f, d_pre @ wh_t)
        return _zero_where(reset_t, d_in), d_pre

    xs = (d_hs, reset, residuals)
    if core.kind == "gru":
        d_carry0, (d_hh, d_x) = jax.lax.scan(gru_step, d_carry, xs, reverse=True)
        h_in = residuals[0]
    else:
        d_carry0, d_hh = jax.lax.scan(lstm_step, d_carry, xs, reverse=True)
        d_x, h_in = d_hh, residuals[1]
    batch_axes = tuple(range(d_hh.ndim - 1))
    d_wh = jnp.tensordot(h_in, d_hh, axes=(batch_axes, batch_axes))
    d_bh = (d_hh[..., 2 * h_size :] if core.kind == "gru" else d_hh).sum(batch_axes)
    return d_wh, d_bh, d_carry0, d_x, None


def _zero_where(reset_t, tree):
    return jax.tree.map(lambda x: jnp.where(reset_t[..., None], 0.0, x), tree)


_unroll.defvjp(_unroll_fwd, _unroll_bwd)


def _gru(wh, bh, h, x):
    """The GRU's step from ``h`` and a projected input -> ``(h', what the backward reads)``."""
    size = h.shape[-1]
    hh = h @ wh
    r = jax.nn.sigmoid(x[..., :size] + hh[..., :size])
    z = jax.nn.sigmoid(x[..., size : 2 * size] + hh[..., size : 2 * size])
    a = hh[..., 2 * size :] + bh
    n = jnp.tanh(x[..., 2 * size :] + r * a)
    return (1.0 - z) * n + z * h, (h, r, z, n, a)


def _lstm(wh, bh, carry, x):
    """The LSTM's step from ``(c, h)`` and a projected input -> ``((c', h'), what the
    backward reads)``."""
    c, h = carry
    size = h.shape[-1]
    pre = x + h @ wh + bh
    i, f, o = (jax.nn.sigmoid(pre[..., j * size : (j + 1) * size]) for j in (0, 1, 3))
    g = jnp.tanh(pre[..., 2 * size : 3 * size])
    c_next = f * c + i * g
    tanh_c = jnp.tanh(c_next)
    return (c_next, o * tanh_c), (c, h, i, f, g, o, tanh_c)
