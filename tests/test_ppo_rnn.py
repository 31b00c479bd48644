import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.memory import ppo_rnn
from jaxrl.agents.memory.ppo_rnn import (
    PPORNNConfig,
    PPORNNState,
    RecurrentActorCritic,
    Sequences,
)
from jaxrl.agents.onpolicy import ppo
from jaxrl.networks.recurrent import Core
from jaxrl.run import evaluate_params, run_seeds, saved_policies

HP = ppo.PPOHParams()


def small_state(net, venv, env_params, key, carry):
    params = net.init(key, venv.observation_space(env_params).shape[0], 2, (4,), (4,))
    obs, env_state = venv.reset(jax.random.key(7), env_params)
    return PPORNNState(params=params, opt_state=None, env_state=env_state, obs=obs, carry=carry,
                       done=jnp.zeros(venv.num_envs, bool), key=key,
                       last_return=jnp.zeros(()))  # fmt: skip


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_rollout_resets_the_carry_at_episode_ends_by_hand(kind):
    """MemoryChain with memory_length 1 has 2-step episodes: over 6 steps the carry resets
    before steps 2 and 4 and nowhere else, and every recorded value and log-probability is
    that of a hand-run loop over the recorded observations doing exactly that. The training
    unroll (from the recorded start carry, with the recorded resets) gives the same numbers."""
    env, p = envs.make("MemoryChain-bsuite", memory_length=1)
    venv = envs.stack(env, p, 2)
    core = Core(kind, 4)
    net = RecurrentActorCritic(core, True, "relu")
    start = jax.tree.map(lambda z: z + 0.3, core.initial_carry(2))  # not the initial carry
    state = small_state(net, venv, p, jax.random.key(0), start)
    (_, _, carry, done), traj = ppo_rnn.collect_rollout(net, venv, state.params, state,
                                                        jax.random.key(1), 6, p)  # fmt: skip
    expected = np.array([0, 0, 1, 0, 1, 0], bool)
    np.testing.assert_array_equal(traj.reset, np.stack([expected, expected], 1))
    np.testing.assert_array_equal(traj.done[:, 0], [0, 1, 0, 1, 0, 1])
    assert bool(done.all())  # the last step ended episodes: the next rollout starts reset
    for b in range(2):
        c = jax.tree.map(lambda x, b=b: x[b], start)
        for t in range(6):
            if expected[t]:
                c = core.initial_carry()
            c, dist, value = net.step(state.params, c, traj.obs[t, b])
            np.testing.assert_allclose(value, traj.value[t, b], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(dist.log_prob(traj.action[t, b]), traj.log_prob[t, b],
                                       rtol=1e-5, atol=1e-6)  # fmt: skip
        for a, x in zip(jax.tree.leaves(carry), jax.tree.leaves(c), strict=True):
            np.testing.assert_allclose(a[b], x, rtol=1e-5, atol=1e-6)
    _, dist, value = net.unroll(state.params, start, traj.obs, traj.reset)
    np.testing.assert_allclose(value, traj.value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.log_prob(traj.action), traj.log_prob, rtol=1e-5, atol=1e-6)


def test_one_step_sequence_update_equals_the_feed_forward_update():
    """With one-step sequences from the initial carry, the network is a feed-forward one,
    and recurrent PPO's update (sequence minibatches over envs, the unrolled loss) gives the
    parameters of PPO's plain update on that feed-forward network, same weights and shuffles."""
    net = RecurrentActorCritic(Core("gru", 8), True, "tanh")
    n, obs_dim = 8, 3
    cfg = PPORNNConfig(num_envs=n, num_steps=1, total_steps=n * 10, update_epochs=2,
                       num_minibatches=2)  # fmt: skip
    ff_cfg = ppo.PPOConfig(num_envs=n, num_steps=1, total_steps=n * 10, update_epochs=2,
                           num_minibatches=2)  # fmt: skip
    params = net.init(jax.random.key(0), obs_dim, 2, (6,), (5,))
    ks = jax.random.split(jax.random.key(1), 5)
    batch = ppo.Batch(
        obs=jax.random.normal(ks[0], (1, n, obs_dim)),
        action=jax.random.randint(ks[1], (1, n), 0, 2),
        log_prob=-jax.random.uniform(ks[2], (1, n), minval=0.3, maxval=1.0),
        value=jax.random.normal(ks[3], (1, n)),
        advantage=jax.random.normal(ks[4], (1, n)),
        target=jax.random.normal(ks[4], (1, n)) + 1.0,
    )
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(ks[2], 2))
    hp = jax.tree.map(jnp.float32, HP._replace(lr=1e-2))
    tx = ppo.make_optimizer(ff_cfg, hp)
    seqs = Sequences(net.core.initial_carry(n), jnp.ones((1, n), bool), batch)
    rec, _, rec_losses = ppo_rnn.sgd_epochs(net, cfg, tx, params, tx.init(params), seqs, perms,
                                            hp)  # fmt: skip

    def feed_forward(params, obs):
        _, dist, value = net.step(params, net.core.initial_carry(obs.shape[:-1]), obs)
        return dist, value

    flat = jax.tree.map(lambda x: x[0], batch)
    ff, _, ff_losses = ppo.sgd_epochs(feed_forward, ff_cfg, tx, params, tx.init(params), flat,
                                      perms, hp)  # fmt: skip
    for a, b in zip(jax.tree.leaves(rec), jax.tree.leaves(ff), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rec_losses, ff_losses, rtol=1e-5, atol=1e-6)
    assert not np.allclose(rec["core"]["wi"], params["core"]["wi"])  # the update moved it


MEMORY = PPORNNConfig(total_steps=16_384, num_envs=16, num_steps=32, num_minibatches=4,
                      core_size=32, encoder=(32,), head=(32,))  # fmt: skip


@pytest.fixture(scope="module")
def memory_chain_runs():
    env, p = envs.make("MemoryChain-bsuite", memory_length=5)
    learner = ppo_rnn.make_learner(MEMORY, env, p)
    return learner, run_seeds(learner, 8, HP._replace(lr=2.5e-3), seed=0)


def test_memory_chain_is_solved_by_7_of_8_seeds(memory_chain_runs):
    """MemoryChain (bsuite): the context is shown at the start of a 6-step episode and the
    last action is rewarded +1 if it matches it, -1 if not; a policy without memory is at
    chance (expected return 0). 8 seeds in one compile: >= 7 reach a mean training return
    >= 0.8, and the greedy policies score >= 0.9 over 64 evaluation episodes."""
    learner, res = memory_chain_runs
    final = res.output.metrics["episode_return"][:, -1]
    assert (final >= 0.8).sum() >= 7, final
    greedy = evaluate_params(learner, saved_policies(learner, res.output.state), episodes=64,
                             greedy=True)  # fmt: skip
    assert (greedy >= 0.9).sum() >= 7, greedy


def test_continuous_actions_and_lstm_run():
    env, p = envs.make("Pendulum-v1")
    cfg = PPORNNConfig(total_steps=256, num_envs=2, num_steps=64, num_minibatches=2,
                       core="lstm", core_size=8, encoder=(), head=(8,),
                       normalize_obs=True)  # fmt: skip
    learner = ppo_rnn.make_learner(cfg, env, p)
    res = run_seeds(learner, 2, HP)
    assert np.isfinite(res.output.metrics["loss"]).all()
    saved = saved_policies(learner, res.output.state)
    assert saved["net"]["log_std"].shape == (2, 1)
    returns = evaluate_params(learner, saved, episodes=2, greedy=False)
    assert returns.shape == (2,) and np.isfinite(returns).all()


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("num_minibatches", 3, "whole env sequences"),
        ("num_envs", 0, "num_envs"),
        ("core", "rnn", "core"),
        ("core_size", 0, "core_size"),
        ("encoder", (0,), "encoder"),
        ("activation", "rleu", "did you mean 'relu'"),
        ("total_steps", 10, "less than one batch"),
    ],
)
def test_invalid_config_fails_before_tracing(field, value, match):
    env, p = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match=match):
        ppo_rnn.make_train(dataclasses.replace(PPORNNConfig(), **{field: value}), env, p)
