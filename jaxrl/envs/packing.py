"""A scan whose carry travels as one float32 vector.

An env's state is a pytree of many small arrays (positions, velocities, a time counter,
episode statistics...). Carried through ``jax.lax.scan`` as they are, every leaf costs XLA:CPU
its own small kernel per step, and per-kernel overhead is most of the cost of stepping a tiny
env. Packed into one vector (32-bit leaves bitcast, booleans as 0/1, keys as their raw
bits: exact both ways), the next carry is one fused kernel. On the PPO CartPole rollout this
cut the time per step by ~20 %.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class _Leaf(NamedTuple):
    shape: tuple[int, ...]
    dtype: Any
    size: int  # float32 words
    is_key: bool


class Packer(NamedTuple):
    """``pack(tree) -> [width] float32`` and ``unpack`` for trees shaped like a template."""

    treedef: Any
    leaves: tuple[_Leaf, ...]
    width: int

    def pack(self, tree) -> jax.Array:
        words = []
        for x, leaf in zip(jax.tree.leaves(tree), self.leaves, strict=True):
            if leaf.is_key:
                x = jax.random.key_data(x)
            x = jnp.ravel(x)
            if x.dtype == jnp.bool_:
                x = x.astype(jnp.float32)
            elif x.dtype != jnp.float32:
                x = jax.lax.bitcast_convert_type(x, jnp.float32)
            words.append(x)
        return jnp.concatenate(words)

    def unpack(self, packed: jax.Array):
        """The tree back from ``[..., width]`` words (leading axes are kept on every leaf)."""
        leaves, start, lead = [], 0, packed.shape[:-1]
        for leaf in self.leaves:
            x = packed[..., start : start + leaf.size]
            start += leaf.size
            if leaf.is_key:
                data = jax.lax.bitcast_convert_type(x, jnp.uint32)
                x = jax.random.wrap_key_data(data.reshape(lead + leaf.shape + (-1,)))
            elif leaf.dtype == jnp.bool_:
                x = (x != 0).reshape(lead + leaf.shape)
            elif leaf.dtype == jnp.float32:
                x = x.reshape(lead + leaf.shape)
            else:
                x = jax.lax.bitcast_convert_type(x, leaf.dtype).reshape(lead + leaf.shape)
            leaves.append(x)
        return jax.tree.unflatten(self.treedef, leaves)


def make_packer(template) -> Packer | None:
    """A :class:`Packer` for trees shaped like ``template`` (arrays or shape/dtype structs).

    Returns ``None`` if a leaf cannot travel exactly as float32 words (neither 32-bit, nor
    boolean, nor a PRNG key).
    """
    flat, treedef = jax.tree.flatten(template)
    leaves = []
    for x in flat:
        shape = tuple(np.shape(x))
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = jax.eval_shape(jax.random.key_data, x)
            leaves.append(_Leaf(shape, x.dtype, math.prod(data.shape), True))
        elif x.dtype == np.bool_ or np.dtype(x.dtype).itemsize == 4:
            leaves.append(_Leaf(shape, np.dtype(x.dtype), math.prod(shape), False))
        else:
            return None
    return Packer(treedef, tuple(leaves), sum(leaf.size for leaf in leaves))


def scan_packed(f, init, xs, length: int | None = None):
    """``jax.lax.scan(f, init, xs, length)`` with the carry packed between steps, and each
    step's outputs packed too (one row written per step instead of one per output leaf).

    Carry or outputs that cannot be packed exactly travel as they are; the results are the
    same bits either way.
    """
    packer = make_packer(init)
    if packer is None:
        return jax.lax.scan(f, init, xs, length)
    x0 = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), xs)
    y_packer = make_packer(jax.eval_shape(lambda c, x: f(c, x)[1], init, x0))

    def step(packed, x):
        carry, y = f(packer.unpack(packed), x)
        return packer.pack(carry), (y if y_packer is None else y_packer.pack(y))

    packed, ys = jax.lax.scan(step, packer.pack(init), xs, length)
    return packer.unpack(packed), (ys if y_packer is None else y_packer.unpack(ys))
