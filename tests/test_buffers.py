"""Replay buffers: circular overwrite, sequences, priorities, n-step targets."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrl import buffers
from jaxrl.agents.offpolicy.loop import Transition, n_step_batch
from jaxrl.buffers import sum_tree
from jaxrl.losses import n_step_bootstrap

# Property tests compile once per buffer shape; a handful of shapes covers the cases.
SHAPES = st.sampled_from([(8, 1, 1), (8, 2, 1), (12, 3, 2), (16, 4, 3)])


@functools.cache
def _buffer(capacity, num_envs, seq, prioritized, batch_size=8):
    make = buffers.make_prioritized if prioritized else buffers.make_uniform
    buf = make(capacity, num_envs, batch_size=batch_size, sequence_length=seq)
    return buf, jax.jit(buf.add), jax.jit(buf.sample)


def _filled(buf, n_adds: int, num_envs: int, add=None):
    """Adds steps whose payload encodes (time step, env)."""
    state = buf.init({"t": jnp.zeros((), jnp.int32), "env": jnp.zeros((), jnp.int32)})
    add = add or jax.jit(buf.add)
    for t in range(n_adds):
        state = add(state, {"t": jnp.full(num_envs, t, jnp.int32),
                            "env": jnp.arange(num_envs, dtype=jnp.int32)})  # fmt: skip
    return state


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, n_adds=st.integers(0, 20), seed=st.integers(0, 2**16),
       prioritized=st.booleans())  # fmt: skip
def test_samples_are_written_consecutive_and_not_overwritten(shape, n_adds, seed, prioritized):
    capacity, num_envs, seq = shape
    buf, add, sample_fn = _buffer(capacity, num_envs, seq, prioritized)
    state = _filled(buf, n_adds, num_envs, add)
    rows = capacity // num_envs
    assert int(state.count) == min(n_adds, rows)
    assert int(state.pos) == n_adds % rows
    sample = sample_fn(state, jax.random.key(seed))
    t, env = np.asarray(sample.items["t"]), np.asarray(sample.items["env"])
    valid = np.asarray(sample.valid)
    can = n_adds >= seq
    assert bool(buf.can_sample(state)) == can
    assert valid.all() == can and (valid.any() == can)
    assert np.all(np.asarray(sample.weights)[~valid] == 0)
    if not can:
        return
    oldest = max(0, n_adds - rows)  # steps before this were overwritten
    assert t.min() >= oldest and t.max() < n_adds  # only written, surviving steps
    assert np.all(np.diff(t, axis=1) == 1)  # consecutive in time
    assert np.all(env == env[:, :1])  # from one env
    np.testing.assert_array_equal(np.asarray(sample.indices) % num_envs, env[:, 0])


def test_prioritized_sampling_frequencies_follow_priorities():
    """Empirical sampling frequencies match p_i / sum p (chi-square-like bound)."""
    buf = buffers.make_prioritized(64, 1, batch_size=64, alpha=1.0, eps=1e-9)
    state = _filled(buf, 16, 1)
    priorities = np.arange(1, 17, dtype=np.float32)
    state = buf.update_priorities(state, jnp.arange(16), jnp.asarray(priorities))
    keys = jax.random.split(jax.random.key(0), 500)
    idx = jax.jit(jax.vmap(lambda k: buf.sample(state, k).indices))(keys)
    counts = np.bincount(np.asarray(idx).ravel(), minlength=16)
    expected = priorities / priorities.sum() * counts.sum()
    np.testing.assert_allclose(counts, expected, rtol=0.08)
    # Importance weights: (N P(i))^-beta normalised by the batch maximum.
    s = buf.sample(state, jax.random.key(1), 1.0)
    p = priorities[np.asarray(s.indices)]
    w = (1.0 / p) / (1.0 / p).max()
    np.testing.assert_allclose(np.asarray(s.weights), w, rtol=1e-5)


def test_sum_tree_total_and_find():
    tree = sum_tree.init(5)
    tree = sum_tree.set_leaves(tree, jnp.arange(5), jnp.array([1.0, 0.0, 2.0, 3.0, 4.0]))
    assert float(sum_tree.total(tree)) == 10.0
    found = sum_tree.find(tree, jnp.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99]))
    np.testing.assert_array_equal(np.asarray(found), [0, 0, 2, 2, 3, 3, 4, 4])


def test_overwritten_sequence_start_gets_zero_priority():
    buf = buffers.make_prioritized(4, 1, batch_size=4, sequence_length=2)
    state = _filled(buf, 6, 1)  # rows hold t = 4, 5, 2, 3; starts t = 2, 3, 4 are valid
    leaves = np.asarray(sum_tree.leaves(state.tree, 4))
    np.testing.assert_array_equal(leaves > 0, [True, False, True, True])


def test_storage_dtype_and_sizes_validated():
    buf = buffers.make_uniform(8, 1, 4, storage_dtype=jnp.bfloat16)
    state = buf.init({"x": jnp.zeros(3), "a": jnp.zeros((), jnp.int32)})
    assert state.data["x"].dtype == jnp.bfloat16 and state.data["a"].dtype == jnp.int32
    with pytest.raises(ValueError, match="capacity"):
        buffers.make_uniform(8, 1, batch_size=16)
    with pytest.raises(ValueError, match="sequence_length"):
        buffers.make_uniform(8, 4, batch_size=4, sequence_length=3)
    with pytest.raises(ValueError, match="batch_size"):
        buffers.make_uniform(8, 1, batch_size=0)


def _n_step_reference(r, terminated, truncated, v_next, gamma):
    g, disc = 0.0, 1.0
    for i in range(len(r)):
        g += disc * r[i]
        if terminated[i]:
            return g
        disc *= gamma
        if truncated[i] or i == len(r) - 1:
            return g + disc * v_next[i]
    raise AssertionError


@pytest.mark.parametrize(
    "terminated,truncated",
    [
        ([0, 0, 0], [0, 0, 0]),
        ([0, 1, 0], [0, 0, 0]),
        ([0, 0, 0], [1, 0, 0]),
        ([0, 0, 1], [0, 1, 0]),
        ([1, 0, 0], [0, 0, 0]),
    ],  # fmt: skip
)
def test_n_step_target_against_loop(terminated, truncated):
    r = np.array([1.0, 2.0, 3.0])
    v_next = np.array([10.0, 20.0, 30.0])
    gamma = 0.9
    term, trunc = np.array(terminated, bool), np.array(truncated, bool)
    partial, boot, k = n_step_bootstrap(jnp.asarray(r), gamma * (1.0 - term), term | trunc)
    got = float(partial + boot * v_next[int(k)])
    np.testing.assert_allclose(got, _n_step_reference(r, term, trunc, v_next, gamma), rtol=1e-6)


def test_n_step_batch_picks_the_bootstrap_observation():
    items = Transition(
        obs=jnp.arange(6.0).reshape(1, 3, 2),
        action=jnp.zeros((1, 3), jnp.int32),
        reward=jnp.ones((1, 3)),
        terminated=jnp.zeros((1, 3), bool),
        done=jnp.array([[False, True, False]]),
        next_obs=jnp.arange(6.0).reshape(1, 3, 2) + 100,
    )
    b = n_step_batch(items, jnp.ones(1), 0.5)
    np.testing.assert_allclose(np.asarray(b.next_obs), [[102.0, 103.0]])  # step 1 truncated
    np.testing.assert_allclose(np.asarray(b.partial_return), [1.5])
    np.testing.assert_allclose(np.asarray(b.bootstrap_discount), [0.25])
    # an agent's fixed features of the observations follow them: the first step's and the
    # bootstrap step's
    feats = jnp.arange(12.0).reshape(1, 3, 2, 2)
    b = n_step_batch(items._replace(features=feats, next_features={"p": feats + 100}),
                     jnp.ones(1), 0.5)  # fmt: skip
    np.testing.assert_allclose(np.asarray(b.obs_features), [[[0.0, 1.0], [2.0, 3.0]]])
    np.testing.assert_allclose(np.asarray(b.next_features["p"]), [[[104.0, 105.0], [106.0, 107.0]]])
    assert n_step_batch(items, jnp.ones(1), 0.5).next_features == ()
