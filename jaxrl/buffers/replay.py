"""Uniform and prioritized replay over sequences of consecutive time steps.

A buffer is a frozen container of pure functions (``init/add/sample``, as optax's
``GradientTransformation``) over a :class:`BufferState` pytree, so it lives inside a jitted
training loop and vmaps over seeds. Storage is ``[rows, num_envs, ...]``: each ``add`` writes
one time step of every env into the next row (circularly, overwriting the oldest), so a
sample can be a sequence of ``sequence_length`` consecutive steps of one env, as n-step
returns and model unrolls need. ``sequence_length=1`` is ordinary transition replay.

Prioritized replay (Schaul et al. 2016, arXiv:1511.05952) is proportional: a sequence start
``i`` is drawn with probability ``p_i / sum p`` with ``p_i = (|δ_i| + eps) ** alpha``
(new items get the largest priority seen) and comes with the importance weight
``(N P(i)) ** -beta / max_j (N P(j)) ** -beta`` over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl._errors import require
from jaxrl.buffers import sum_tree


@struct.dataclass
class BufferState:
    data: Any  # pytree of [rows, num_envs, ...]
    pos: jax.Array  # next row to write
    count: jax.Array  # rows written so far, saturating at ``rows``
    tree: jax.Array  # sum tree of sequence-start priorities [2P] (size 2 when uniform)
    max_priority: jax.Array


class Sample(NamedTuple):
    """A batch of sequences.

    Attributes:
      items: pytree of ``[batch, sequence_length, ...]``.
      indices: ``[batch]`` flat index ``row * num_envs + env`` of each sequence start, for
        :meth:`ReplayBuffer.update_priorities`.
      weights: ``[batch]`` importance weights (ones for uniform replay; zeros where nothing
        could be sampled).
      valid: ``[batch]`` whether the sequence is real data; all false until the buffer holds
        one full sequence.
    """

    items: Any
    indices: jax.Array
    weights: jax.Array
    valid: jax.Array


class ReplayBuffer(NamedTuple):
    """Pure buffer functions and their static sizes.

    ``init(example_item) -> state`` (``example_item`` one unbatched transition);
    ``add(state, items) -> state`` (``items`` with a leading ``[num_envs]`` axis);
    ``sample(state, key, beta=0.4) -> Sample``; ``can_sample(state) -> bool[]``;
    ``update_priorities(state, indices, td_abs) -> state`` (a no-op for uniform replay).
    """

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    update_priorities: Callable
    rows: int
    num_envs: int
    batch_size: int
    sequence_length: int
    prioritized: bool

    @property
    def capacity(self) -> int:
        return self.rows * self.num_envs


def _validate(capacity, num_envs, batch_size, sequence_length) -> int:
    sizes = {"capacity": capacity, "num_envs": num_envs, "batch_size": batch_size,
             "sequence_length": sequence_length}  # fmt: skip
    for name, value in sizes.items():
        require(isinstance(value, int) and value > 0, name, f"must be a positive int, got {value}")
    rows = capacity // num_envs
    require(
        rows >= sequence_length,
        "capacity",
        f"{capacity} holds {rows} steps per env, fewer than sequence_length={sequence_length}",
    )
    require(
        capacity >= batch_size,
        "capacity",
        f"{capacity} is smaller than batch_size={batch_size}",
    )
    return rows


def _store(x, dtype):
    x = jnp.asarray(x)
    if dtype is not None and jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(dtype)
    return x


def _make(capacity, num_envs, batch_size, sequence_length, storage_dtype, alpha, eps, prio):
    rows = _validate(capacity, num_envs, batch_size, sequence_length)
    n_leaves = rows * num_envs
    seq = jnp.arange(sequence_length)

    def init(example_item) -> BufferState:
        data = jax.tree.map(
            lambda x: jnp.zeros((rows, num_envs) + jnp.shape(x), _store(x, storage_dtype).dtype),
            example_item,
        )
        return BufferState(
            data=data,
            pos=jnp.zeros((), jnp.int32),
            count=jnp.zeros((), jnp.int32),
            tree=sum_tree.init(n_leaves) if prio else jnp.zeros((2,), jnp.float32),
            max_priority=jnp.ones((), jnp.float32),
        )

    def add(state: BufferState, items) -> BufferState:
        data = jax.tree.map(
            lambda buf, x: jax.lax.dynamic_update_index_in_dim(
                buf, _store(x, storage_dtype).astype(buf.dtype), state.pos, 0
            ),
            state.data,
            items,
        )
        count = jnp.minimum(state.count + 1, rows)
        tree = state.tree
        if prio:
            envs = jnp.arange(num_envs)
            start = (state.pos - (sequence_length - 1)) % rows
            value = jnp.where(count >= sequence_length, state.max_priority, 0.0)
            index = start * num_envs + envs
            values = jnp.full(num_envs, value)
            if sequence_length > 1:
                # The overwritten row no longer starts a sequence; the row L - 1 back now does
                # (with L = 1 they are the same row).
                index = jnp.concatenate([state.pos * num_envs + envs, index])
                values = jnp.concatenate([jnp.zeros(num_envs), values])
            tree = sum_tree.set_leaves(tree, index, values)
        return state.replace(data=data, pos=(state.pos + 1) % rows, count=count, tree=tree)

    def can_sample(state: BufferState) -> jax.Array:
        return state.count >= sequence_length

    def gather(state: BufferState, row, env):
        rows_ = (row[:, None] + seq[None, :]) % rows  # [B, L]
        return jax.tree.map(lambda buf: buf[rows_, env[:, None]], state.data)

    def sample_uniform(state: BufferState, key, beta=0.4) -> Sample:
        del beta
        k_row, k_env = jax.random.split(key)
        starts = jnp.maximum(state.count - sequence_length + 1, 1)
        oldest = (state.pos - state.count) % rows
        offset = jax.random.randint(k_row, (batch_size,), 0, starts)
        row = (oldest + offset) % rows
        env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
        ok = jnp.broadcast_to(can_sample(state), (batch_size,))
        return Sample(gather(state, row, env), row * num_envs + env, ok.astype(jnp.float32), ok)

    def sample_prioritized(state: BufferState, key, beta=0.4) -> Sample:
        total = sum_tree.total(state.tree)
        # Stratified: one draw in each of ``batch_size`` equal slices of the total mass.
        u = (jnp.arange(batch_size) + jax.random.uniform(key, (batch_size,))) / batch_size
        index = sum_tree.find(state.tree, jnp.minimum(u * total, total * (1 - 1e-6)))
        index = jnp.clip(index, 0, n_leaves - 1)
        p = sum_tree.leaves(state.tree, n_leaves)[index]
        ok = (p > 0) & can_sample(state)
        n_valid = jnp.maximum((state.count - sequence_length + 1) * num_envs, 1)
        prob = p / jnp.maximum(total, 1e-30)
        w = jnp.where(ok, (n_valid * jnp.maximum(prob, 1e-30)) ** -beta, 0.0)
        w = w / jnp.maximum(w.max(), 1e-30)
        return Sample(gather(state, index // num_envs, index % num_envs), index, w, ok)

    def update_priorities(state: BufferState, indices, td_abs) -> BufferState:
        if not prio:
            return state
        priority = (jnp.abs(td_abs) + eps) ** alpha
        # Leave never-valid or invalidated leaves at zero (a sequence start may have been
        # overwritten between sampling and this update).
        current = sum_tree.leaves(state.tree, n_leaves)[indices]
        priority = jnp.where(current > 0, priority, 0.0)
        tree = sum_tree.set_leaves(state.tree, indices, priority)
        return state.replace(tree=tree, max_priority=jnp.maximum(state.max_priority,
                                                                 priority.max()))  # fmt: skip

    return ReplayBuffer(
        init=init,
        add=add,
        sample=sample_prioritized if prio else sample_uniform,
        can_sample=can_sample,
        update_priorities=update_priorities,
        rows=rows,
        num_envs=num_envs,
        batch_size=batch_size,
        sequence_length=sequence_length,
        prioritized=prio,
    )


def full_state(items) -> BufferState:
    """A full buffer state holding ``items`` (a pytree of ``[N, ...]`` arrays, e.g. an offline
    dataset's transitions) as ``N`` rows of one env, oldest first: the state of
    ``make_uniform(N, 1, batch_size)`` after ``N`` adds, so its ``sample`` draws uniformly
    over all ``N`` (sequences of consecutive rows with ``sequence_length > 1``). Traceable:
    inside a jitted function it costs nothing (the rows are a reshape of ``items``)."""
    data = jax.tree.map(lambda x: jnp.expand_dims(jnp.asarray(x), 1), items)
    n = jax.tree.leaves(items)[0].shape[0]
    return BufferState(
        data=data,
        pos=jnp.zeros((), jnp.int32),
        count=jnp.full((), n, jnp.int32),
        tree=jnp.zeros((2,), jnp.float32),
        max_priority=jnp.ones((), jnp.float32),
    )


def make_uniform(
    capacity: int,
    num_envs: int,
    batch_size: int,
    sequence_length: int = 1,
    storage_dtype=None,
) -> ReplayBuffer:
    """A circular buffer sampled uniformly over complete sequences.

    Args:
      capacity: transitions held in total (``capacity // num_envs`` steps per env).
      num_envs: envs written by each ``add``.
      batch_size: sequences per ``sample``.
      sequence_length: consecutive steps per sequence (``n`` for n-step returns).
      storage_dtype: dtype for floating leaves (e.g. ``jnp.bfloat16``); others keep theirs.

    Raises:
      ValueError: naming the field, if a size is not positive, the buffer holds fewer steps
        per env than ``sequence_length``, or fewer transitions than one batch.
    """
    return _make(capacity, num_envs, batch_size, sequence_length, storage_dtype, 1.0, 0.0, False)


def make_prioritized(
    capacity: int,
    num_envs: int,
    batch_size: int,
    sequence_length: int = 1,
    storage_dtype=None,
    alpha: float = 0.6,
    eps: float = 1e-6,
) -> ReplayBuffer:
    """Proportional prioritized replay (see the module docstring); arguments as
    :func:`make_uniform`, with ``alpha`` the priority exponent and ``eps`` its floor."""
    require(alpha >= 0, "alpha", f"must be non-negative, got {alpha}")
    require(eps > 0, "eps", f"must be positive, got {eps}")
    return _make(capacity, num_envs, batch_size, sequence_length, storage_dtype, alpha, eps, True)
