"""The actor-critic's stacked towers and hand-written backward pass against two plain MLPs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks import actor_critic as ac
from jaxrl.networks import apply_mlp
from jaxrl.networks.initializers import orthogonal_weights


@pytest.mark.parametrize("obs_dim", [3, 5])  # first layer as outer products, or a matmul
@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_custom_vjp_matches_autodiff(activation, obs_dim):
    with jax.enable_x64():
        params = ac.init_actor_critic(jax.random.key(0), obs_dim, 3, (16, 8, 8))
        noise = jax.random.normal(jax.random.key(3), (len(jax.tree.leaves(params)),))
        params = jax.tree.map(lambda x, e: x + 0.1 * e, params,
                              jax.tree.unflatten(jax.tree.structure(params),
                                                 list(noise)))  # fmt: skip
        params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
        net = {"hidden": params["hidden"], "head": params["head"]}
        x_t = jax.random.normal(jax.random.key(1), (obs_dim, 7), jnp.float64)
        cot = jax.random.normal(jax.random.key(2), (2, 3, 7), jnp.float64)

        def custom(n):
            return jnp.sum(ac.towers(n, x_t, activation) * cot)

        def reference(n):
            # The two towers as ordinary MLPs, batch-major, autodiff: an independent path.
            actor, critic = ac.split_towers(n)
            out_a = apply_mlp(actor, x_t.T, activation)  # [B, 3]
            head = n["head"]
            critic_rows = [{**layer} for layer in critic[:-1]] + [
                {"kernel": head["w"][ac.CRITIC].T, "bias": head["b"][ac.CRITIC]}
            ]  # the critic's padded head too, so every output row is compared
            out_c = apply_mlp(critic_rows, x_t.T, activation)
            return jnp.sum(jnp.stack([out_a.T, out_c.T]) * cot)

        np.testing.assert_allclose(custom(net), reference(net), rtol=1e-12)
        got, want = jax.grad(custom)(net), jax.grad(reference)(net)
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("obs_dim", [3, 5])  # first layer as outer products, or a matmul
def test_batch_major_towers_match_feature_major(obs_dim):
    params = ac.init_actor_critic(jax.random.key(0), obs_dim, 3, (16, 8))
    params = jax.tree.map(lambda x: x + 0.1, params)  # nonzero biases and critic padding
    net = ac.select_towers(params)
    x = jax.random.normal(jax.random.key(1), (7, obs_dim))
    got = ac.towers_batch_major(ac.transpose_towers(net), x)
    want = ac.towers(net, x.T)
    assert got.shape == (2, 7, 3)
    np.testing.assert_allclose(got, jnp.swapaxes(want, 1, 2), rtol=1e-5, atol=1e-6)


def test_critic_padding_rows_get_zero_gradient():
    """Only the critic head's first row is read, so its other rows never move."""
    params = ac.init_actor_critic(jax.random.key(0), 4, 3)
    assert np.all(np.asarray(params["head"]["w"][ac.CRITIC, 1:]) == 0)
    obs = jax.random.normal(jax.random.key(1), (9, 4))

    def loss(p):
        logits, value = ac.apply_actor_critic(p, obs)
        return jnp.sum(logits**2) + jnp.sum(value**2)

    g = jax.grad(loss)(params)
    assert np.all(np.asarray(g["head"]["w"][ac.CRITIC, 1:]) == 0)
    assert np.all(np.asarray(g["head"]["b"][ac.CRITIC, 1:]) == 0)
    assert np.any(np.asarray(g["head"]["w"][ac.CRITIC, 0]) != 0)


def test_apply_matches_two_independent_mlps():
    """Stacked towers compute two separate MLPs (batch-major interface, any leading dims)."""
    params = ac.init_actor_critic(jax.random.key(0), 4, 2, (8, 8))
    obs = jax.random.normal(jax.random.key(1), (3, 5, 4))

    def mlp(t, x):
        for layer in params["hidden"]:
            x = jnp.tanh(x @ layer["w"][t].T + layer["b"][t])
        return x @ params["head"]["w"][t].T + params["head"]["b"][t]

    logits, value = ac.apply_actor_critic(params, obs)
    np.testing.assert_allclose(logits, mlp(ac.ACTOR, obs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, mlp(ac.CRITIC, obs)[..., 0], rtol=1e-5, atol=1e-6)


def test_orthogonal_weights_are_scaled_orthogonal_and_independent():
    shapes = [(4, 64), (4, 64), (64, 64), (64, 2), (64, 1), (3, 5)]
    scales = [2.0, 2.0, 1.0, 0.01, 1.0, 1.0]
    weights = orthogonal_weights(jax.random.key(0), shapes, scales)
    for w, shape, scale in zip(weights, shapes, scales, strict=True):
        assert w.shape == shape
        gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
        np.testing.assert_allclose(gram, scale**2 * np.eye(min(shape)), atol=1e-5 * scale**2)
    # The two actor/critic twins are different draws.
    assert not np.allclose(weights[0], weights[1])


def test_orthogonal_weights_have_the_uniform_distribution():
    """Each entry of a uniformly random n x k orthonormal frame has mean 0 and variance 1/n,
    and the sign correction leaves no bias towards positive diagonals; a narrow frame taken
    from a wide group's QR has the same law as one drawn alone."""
    keys = jax.random.split(jax.random.key(1), 4000)
    draw = jax.vmap(lambda k: orthogonal_weights(k, [(8, 2), (8, 8)], [1.0, 1.0]))
    narrow, square = draw(keys)
    for w in (narrow, square[:, :, :2]):
        np.testing.assert_allclose(np.mean(w, axis=0), 0.0, atol=0.03)
        np.testing.assert_allclose(np.mean(w**2, axis=0), 1 / 8, atol=0.015)
    alone = jax.vmap(lambda k: jax.nn.initializers.orthogonal()(k, (8, 2)))(keys)
    for q in (0.1, 0.5, 0.9):
        np.testing.assert_allclose(
            np.quantile(narrow[:, 0, 0], q), np.quantile(alone[:, 0, 0], q), atol=0.03
        )


def test_orthogonal_weights_checks_its_arguments():
    with pytest.raises(ValueError, match="scales"):
        orthogonal_weights(jax.random.key(0), [(2, 3)], [1.0, 2.0])
