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
        h_size = self.size
        if self.kind == "gru":
            h = carry
            hh = h @ params["wh"]
            r = jax.nn.sigmoid(x_proj[..., :h_size] + hh[..., :h_size])
            z = jax.nn.sigmoid(x_proj[..., h_size : 2 * h_size] + hh[..., h_size : 2 * h_size])
            n = jnp.tanh(x_proj[..., 2 * h_size :] + r * (hh[..., 2 * h_size :] + params["bh"]))
            h = (1.0 - z) * n + z * h
            return h, h
        c, h = carry
        pre = x_proj + h @ params["wh"] + params["bh"]
        i, f, g, o = (pre[..., j * h_size : (j + 1) * h_size] for j in range(4))
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h

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
    """
    initial = core.initial_carry(reset.shape[1:])

    def body(carry, xs):
        x_t, reset_t = xs
        return core.step(params, reset_where(reset_t, initial, carry), x_t)

    return jax.lax.scan(body, carry, (x_proj, reset))
