"""Bootstrapped DQN with randomized priors: masks and priors by hand, a DeepSea learning test."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.exploration import bootdqn
from jaxrl.agents.offpolicy import loop

FAST = bootdqn.BootDQNConfig(total_steps=3_000, log_every=200, batch_size=64, hidden=(32, 32),
                             learning_starts=64)  # fmt: skip


@pytest.fixture(scope="module")
def deepsea10():
    return envs.make("DeepSea-N10")


@pytest.fixture(scope="module")
def runs(deepsea10):
    """8 seeds on DeepSea N=10 in one compile, with each run's initial state."""
    env, p = deepsea10
    learner = bootdqn.make_learner(FAST, env, p)
    train = bootdqn.make_train(FAST, env, p)
    keys = jax.random.split(jax.random.key(0), 8)
    first = jax.vmap(lambda k: learner.init(k, learner.hparams, p, None))
    return jax.jit(lambda ks: (first(ks), jax.vmap(train)(ks)))(keys)


def test_learns_deepsea_10(runs):
    """Optimal return 0.99; a random policy finds the treasure once in 2^10 episodes."""
    _, out = runs
    returns = np.asarray(out.metrics["episode_return"])[:, -3:].mean(axis=1)
    assert (returns >= 0.9).sum() >= 7, returns


def test_prior_networks_stay_fixed_and_masks_are_stored(runs):
    first, out = runs
    leaves = jax.tree.leaves
    for a, b in zip(leaves(first.params["prior"]), leaves(out.state.params["prior"]), strict=True):
        np.testing.assert_array_equal(a, b)
    moved = [
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(leaves(first.params["online"]), leaves(out.state.params["online"]),
                        strict=True)
    ]  # fmt: skip
    assert min(moved) > 1e-3
    # every stored transition carries K uniforms; mask_prob 0.5 of them train each head
    u = np.asarray(out.state.buffer.data.extras["mask"])[:, : FAST.total_steps]
    assert u.shape[-1] == FAST.num_heads
    assert 0.45 < (u < 0.5).mean() < 0.55


def test_replay_stores_the_prior_outputs(runs, deepsea10):
    """Each stored transition carries p_k(s, .) and p_k(s', .) of the fixed prior networks, and
    an update from a batch with them equals one that computes them from the observations."""
    _, out = runs
    env, p = deepsea10
    agent, _ = bootdqn.make_agent(FAST, env, p)
    data = jax.tree.map(lambda x: np.asarray(x[0, : FAST.total_steps, 0]), out.state.buffer.data)
    prior = jax.tree.map(lambda x: x[0], out.state.params["prior"])
    assert data.features.shape == (FAST.total_steps, FAST.num_heads, 2)
    for stored, obs in ((data.features, data.obs), (data.next_features, data.next_obs)):
        by_hand = np.swapaxes(bootdqn.apply_ensemble(prior, obs, FAST.activation), 0, 1)
        np.testing.assert_allclose(stored, by_hand, rtol=1e-5, atol=1e-6)
    rows = np.arange(0, 2_000, 31)[: FAST.batch_size]
    batch = loop.NStep(data.obs[rows], data.action[rows], data.reward[rows],
                       0.99 * (1.0 - data.terminated[rows]), data.next_obs[rows],
                       np.ones(len(rows), np.float32), {"mask": data.extras["mask"][rows]},
                       data.features[rows], data.next_features[rows])  # fmt: skip
    state = jax.tree.map(lambda x: x[0], out.state)
    hp = bootdqn.BootDQNHParams()
    with_stored = agent.update(state.params, state.agent, batch, jax.random.key(0), hp, 0, 0.5)
    computed = agent.update(state.params, state.agent, batch._replace(obs_features=(),
                            next_features=()), jax.random.key(0), hp, 0, 0.5)  # fmt: skip
    for a, b in zip(jax.tree.leaves(with_stored), jax.tree.leaves(computed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert float(with_stored[3]["loss"]) > 0


def test_q_is_online_plus_scaled_prior():
    k, sizes = 3, (4, 8, 2)
    online = bootdqn.init_ensemble(jax.random.key(0), k, sizes)
    prior = bootdqn.init_ensemble(jax.random.key(1), k, sizes)
    obs = jax.random.normal(jax.random.key(2), (5, 4))
    q = bootdqn.head_q_values({"online": online, "prior": prior, "prior_scale": 3.0}, obs, "relu")
    want = bootdqn.apply_ensemble(online, obs, "relu") + 3.0 * bootdqn.apply_ensemble(
        prior, obs, "relu"
    )
    np.testing.assert_allclose(q, want, rtol=1e-6)
    # no gradient reaches the prior
    g = jax.grad(lambda pr: bootdqn.head_q_values(
        {"online": online, "prior": pr, "prior_scale": 3.0}, obs, "relu").sum())(prior)  # fmt: skip
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g))


def test_masked_loss_matches_a_loop():
    """Head k's TD error counts only where its mask is 1: sum_k mean_i w_i m_ik huber(td_ik)."""
    rng = np.random.default_rng(0)
    K, B, A = 3, 4, 2
    q_sa = rng.normal(size=(K, B)).astype(np.float32)
    q_next = rng.normal(size=(K, B, A)).astype(np.float32)
    ret = rng.normal(size=B).astype(np.float32)
    disc = np.array([0.9, 0.0, 0.9, 0.81], np.float32)
    mask = (rng.uniform(size=(B, K)) < 0.5).astype(np.float32)
    w = np.array([1.0, 0.5, 1.0, 0.0], np.float32)
    loss, td = bootdqn.bootstrap_loss(q_sa, q_next, ret, disc, mask, w)

    def huber(x):
        return 0.5 * x * x if abs(x) <= 1 else abs(x) - 0.5

    want = 0.0
    for k in range(K):
        for i in range(B):
            y = ret[i] + disc[i] * q_next[k, i].max()
            assert td[k, i] == pytest.approx(q_sa[k, i] - y, abs=1e-6)
            want += w[i] * mask[i, k] * huber(q_sa[k, i] - y) / B
    assert float(loss) == pytest.approx(want, rel=1e-5)
    # a head whose masks are all 0 gets no gradient
    mask0 = mask.copy()
    mask0[:, 1] = 0.0
    g = jax.grad(lambda q: bootdqn.bootstrap_loss(q, q_next, ret, disc, mask0, w)[0])(q_sa)
    assert float(jnp.abs(g[1]).max()) == 0.0 and float(jnp.abs(g[0]).max()) > 0.0


def test_one_head_per_episode(deepsea10):
    """The exploration carry holds one head per env from an episode's first step to its last,
    drawn anew after each end (DeepSea N=4: episodes of 4 steps)."""
    env, p = envs.make("DeepSea-N4")
    cfg = bootdqn.BootDQNConfig(num_envs=3, total_steps=48, log_every=12, learning_starts=1,
                                batch_size=1, buffer_size=64)  # fmt: skip
    agent, spec = bootdqn.make_agent(cfg, env, p)
    learner = bootdqn.make_learner(cfg, env, p)
    lp = loop.Loop(cfg, agent, spec, envs.stack(env, p, 3, clip_actions=False),
                   loop.make_buffer(cfg), lambda hp: hp.gamma)  # fmt: skip
    state = learner.init(jax.random.key(0), learner.hparams, p, None)
    prepared = lp.venv.prepare(jax.random.key(1), 12, p)

    @jax.jit
    def steps(state):
        def body(state, xs):
            state, _ = loop.env_step(lp, state, xs[0], xs[1], learner.hparams, p)
            return state, state.explore_carry

        return jax.lax.scan(body, state, (prepared, jax.random.split(jax.random.key(2), 12)))[1]

    heads = np.asarray(steps(state))  # [12, 3]: the carry after each step
    assert (np.asarray(state.explore_carry) == -1).all()
    # after steps 4, 8, 12 an episode ended: the carry is -1 (draw at the next step)
    assert (heads[3::4] == -1).all()
    for start in (0, 4, 8):
        block = heads[start : start + 3]
        assert (block >= 0).all() and (block == block[0]).all()
    assert len(np.unique(heads[heads >= 0])) > 1


@pytest.mark.parametrize(
    "field,value,match",
    [("num_heads", 1, "num_heads"), ("target_update_every", 0, "target_update_every")],
)
def test_invalid_config(deepsea10, field, value, match):
    env, p = deepsea10
    with pytest.raises(ValueError, match=match):
        bootdqn.make_learner(dataclasses.replace(FAST, **{field: value}), env, p)
