"""A sum tree over a flat array: O(log N) priority updates and proportional sampling.

The tree is one array ``[2 * P]`` (``P`` a power of two ≥ the number of leaves): node ``1`` is
the total, node ``i`` has children ``2i`` and ``2i + 1``, leaf ``j`` lives at ``P + j``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def tree_size(num_leaves: int) -> int:
    """Number of leaf slots ``P``: the smallest power of two ≥ ``num_leaves``."""
    return 1 << max(0, (num_leaves - 1).bit_length())


def init(num_leaves: int) -> jax.Array:
    return jnp.zeros((2 * tree_size(num_leaves),), jnp.float32)


def depth(tree: jax.Array) -> int:
    return (tree.shape[0] // 2).bit_length() - 1


def total(tree: jax.Array) -> jax.Array:
    return tree[1]


def leaves(tree: jax.Array, num_leaves: int) -> jax.Array:
    p = tree.shape[0] // 2
    return tree[p : p + num_leaves]


def set_leaves(tree: jax.Array, index: jax.Array, value: jax.Array) -> jax.Array:
    """Sets leaves ``index [K]`` to ``value [K]`` and recomputes their ancestors.

    With repeated indices one of the values wins; every ancestor is then recomputed from its
    children, so the tree stays consistent.
    """
    p = tree.shape[0] // 2
    node = p + index
    tree = tree.at[node].set(value)
    for _ in range(depth(tree)):
        node = node // 2
        tree = tree.at[node].set(tree[2 * node] + tree[2 * node + 1])
    return tree


def find(tree: jax.Array, mass: jax.Array) -> jax.Array:
    """Leaf index whose cumulative-priority interval contains ``mass [K]`` (in ``[0, total)``)."""
    node = jnp.ones(mass.shape, jnp.int32)
    for _ in range(depth(tree)):
        left = tree[2 * node]
        go_right = mass >= left
        mass = jnp.where(go_right, mass - left, mass)
        node = 2 * node + go_right.astype(jnp.int32)
    return node - tree.shape[0] // 2
