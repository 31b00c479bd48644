import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks.recurrent import Core, unroll


def flax_params(core: Core, params: dict) -> dict:
    """Our fused weights as flax's per-gate Dense layers."""
    h = core.size

    def block(w, j):
        return w[..., j * h : (j + 1) * h]

    if core.kind == "gru":
        names = ("r", "z", "n")
        p = {}
        for j, g in enumerate(names):
            p[f"i{g}"] = {"kernel": block(params["wi"], j), "bias": block(params["bi"], j)}
            p[f"h{g}"] = {"kernel": block(params["wh"], j)}
        p["hn"]["bias"] = params["bh"]
        return {"params": p}
    p = {}
    for j, g in enumerate(("i", "f", "g", "o")):
        # flax's LSTM: input Dense without bias, hidden Dense with the gate's bias.
        p[f"i{g}"] = {"kernel": block(params["wi"], j)}
        p[f"h{g}"] = {
            "kernel": block(params["wh"], j),
            "bias": block(params["bi"], j) + block(params["bh"], j),
        }
    return {"params": p}


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_step_matches_flax_cell(kind):
    core = Core(kind, 5)
    key = jax.random.key(0)
    params = core.init(key, 3)
    # Non-zero biases, so that every term is checked.
    params = jax.tree.map(lambda x: x + 0.1 * jax.random.normal(jax.random.key(1), x.shape), params)
    x = jax.random.normal(jax.random.key(2), (4, 3))
    if kind == "gru":
        carry = jax.random.normal(jax.random.key(3), (4, 5))
        cell = nn.GRUCell(features=5)
    else:
        carry = tuple(jax.random.normal(k, (4, 5)) for k in jax.random.split(jax.random.key(3)))
        cell = nn.LSTMCell(features=5)
    ours_carry, ours_out = core(params, carry, x)
    theirs_carry, theirs_out = cell.apply(flax_params(core, params), carry, x)
    np.testing.assert_allclose(ours_out, theirs_out, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(ours_carry), jax.tree.leaves(theirs_carry), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_init_shapes_and_flax_distribution():
    core = Core("gru", 8)
    p = core.init(jax.random.key(0), 3)
    assert p["wi"].shape == (3, 24) and p["wh"].shape == (8, 24) and p["bh"].shape == (8,)
    for j in range(3):  # one orthogonal block per gate
        block = p["wh"][:, 8 * j : 8 * (j + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(8), atol=1e-5)
    lstm = Core("lstm", 8).init(jax.random.key(0), 3)
    assert lstm["wi"].shape == (3, 32) and lstm["bh"].shape == (32,)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_unroll_resets_carry_by_hand(kind):
    """T=4, B=2: env 0 resets before steps 0 and 2, env 1 before step 3 only. Each output
    equals a hand-run loop that zeroes that env's carry exactly there."""
    core = Core(kind, 3)
    params = core.init(jax.random.key(0), 2)
    xs = core.project(params, jax.random.normal(jax.random.key(1), (4, 2, 2)))
    reset = jnp.array([[1, 0], [0, 0], [1, 0], [0, 1]], bool)
    start = jax.tree.map(lambda z: z + 0.5, core.initial_carry(2))  # a non-zero carry
    carry_T, hs = unroll(core, params, start, xs, reset)
    for b in range(2):
        carry = jax.tree.map(lambda c, b=b: c[b], start)
        for t in range(4):
            if reset[t, b]:
                carry = core.initial_carry()
            carry, h = core.step(params, carry, xs[t, b])
            np.testing.assert_allclose(hs[t, b], h, rtol=1e-6, atol=1e-6)
        for a, c in zip(jax.tree.leaves(carry_T), jax.tree.leaves(carry), strict=True):
            np.testing.assert_allclose(a[b], c, rtol=1e-6, atol=1e-6)
    # Without the resets, the outputs differ: the test can tell.
    _, hs_no_reset = unroll(core, params, start, xs, jnp.zeros_like(reset))
    assert not np.allclose(hs_no_reset[0, 0], hs[0, 0])


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_unroll_gradients_match_autodiff_of_the_steps(kind):
    """The hand-written backward pass of ``unroll`` against autodiff of ``Core.step`` in a
    scan with the same resets: gradients of every parameter, the start carry and the
    inputs, under a loss that reads both the outputs and the last carry."""
    core = Core(kind, 4)
    params = core.init(jax.random.key(0), 3)
    params = jax.tree.map(lambda x: x + 0.2 * jax.random.normal(jax.random.key(5), x.shape),
                          params)  # fmt: skip
    obs = jax.random.normal(jax.random.key(1), (6, 2, 3))
    reset = jnp.array([[0, 1], [0, 0], [1, 0], [0, 0], [0, 1], [1, 0]], bool)
    start = jax.tree.map(lambda z: z + 0.4, core.initial_carry(2))
    w = jax.random.normal(jax.random.key(2), (6, 2, 4))

    def reference(params, carry, obs):
        def body(carry, xs):
            x, r = xs
            carry = jax.tree.map(lambda i, c: jnp.where(r[:, None], i, c),
                                 core.initial_carry(2), carry)  # fmt: skip
            return core(params, carry, x)

        return jax.lax.scan(body, carry, (obs, reset))

    def loss(fn, params, carry, obs):
        last, hs = fn(params, carry, obs)
        return jnp.sum(hs * w) + sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(last))

    def ours(params, carry, obs):
        return unroll(core, params, carry, core.project(params, obs), reset)

    g_ref = jax.grad(functools.partial(loss, reference), argnums=(0, 1, 2))(params, start, obs)
    g_ours = jax.jit(jax.grad(functools.partial(loss, ours), argnums=(0, 1, 2)))(params, start,
                                                                                 obs)  # fmt: skip
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
