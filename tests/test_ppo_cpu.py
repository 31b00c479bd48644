"""The XLA:CPU layout of PPO's update (:mod:`jaxrl.agents.onpolicy.ppo_cpu`): its parts
against their definitions, and one whole update against the plain reference update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxrl import envs
from jaxrl.agents.onpolicy import ppo, ppo_cpu
from jaxrl.losses import generalized_advantage_estimation
from jaxrl.networks import apply_actor_critic, init_actor_critic
from jaxrl.networks.actor_critic import select_towers, towers


@pytest.mark.parametrize("n", [1, 7, 512, 5000])
def test_permutations_are_permutations(n):
    perms = np.asarray(ppo_cpu.permutations(jax.random.key(0), n, 3))
    assert perms.shape == (3, n)
    for p in perms:
        np.testing.assert_array_equal(np.sort(p), np.arange(n))
    if n > 7:
        assert not np.array_equal(perms[0], perms[1])


def test_permutation_positions_are_uniform():
    """Over 2000 permutations of 8 items, every item lands in every position ~1/8 of the time."""
    perms = np.asarray(ppo_cpu.permutations(jax.random.key(1), 8, 2000))
    counts = np.stack([(perms == i).sum(0) for i in range(8)])
    np.testing.assert_allclose(counts / 2000, 1 / 8, atol=0.035)


@pytest.mark.parametrize("env_name", ["CartPole-v1", "Pendulum-v1"])
def test_update_draws(env_name):
    """One generator call gives every random number of an update: Gumbel (discrete) or
    N(0, 1) (continuous) action noise with the right moments, distinct keys, and a next key
    that differs from the key it came from."""
    env, p = envs.make(env_name)
    cfg = ppo.PPOConfig(num_envs=64, num_steps=128, update_epochs=3)
    parts = ppo.cpu_parts(cfg, env, p)
    key = jax.random.key(3)
    draws = jax.jit(ppo_cpu.draw_update, static_argnums=0)(parts, key)
    noise = np.asarray(draws.noise).ravel()
    assert draws.noise.shape == (128, 64, parts.policy.num_actions)
    mean, var = (np.euler_gamma, np.pi**2 / 6) if parts.policy.discrete else (0.0, 1.0)
    np.testing.assert_allclose(noise.mean(), mean, atol=0.03)
    np.testing.assert_allclose(noise.var(), var, rtol=0.05)
    assert np.all(np.isfinite(noise))
    data = [jax.random.key_data(k).reshape(-1, 2) for k in (draws.step_keys, draws.reset_keys)]
    words = np.concatenate([*map(np.asarray, data), np.asarray(jax.random.key_data(key))[None]])
    assert len(np.unique(words, axis=0)) == len(words)
    assert not np.array_equal(jax.random.key_data(draws.next_key), jax.random.key_data(key))
    assert draws.permutation_bits.shape == (3, cfg.batch_size)


@pytest.mark.parametrize("discrete", [True, False])
def test_log_prob_and_entropy_match_reference(discrete):
    policy = ppo_cpu.Policy(discrete, num_actions=3, activation="tanh")
    out = jax.random.normal(jax.random.key(0), (3, 11)) * 3
    params = {"log_std": jnp.array([0.1, -0.5, 0.3])}
    if discrete:
        action = jax.random.randint(jax.random.key(1), (11,), 0, 3)
        logp_all = jax.nn.log_softmax(out, axis=0)
        want_lp = jnp.take_along_axis(logp_all, action[None], axis=0)[0]
        want_ent = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=0)
    else:
        action = jax.random.normal(jax.random.key(1), (3, 11))
        std = jnp.exp(params["log_std"])[:, None]
        want_lp = jax.scipy.stats.norm.logpdf(action, out, std).sum(0)
        want_ent = jnp.full(11, jnp.sum(0.5 * jnp.log(2 * jnp.pi * jnp.e * std[:, 0] ** 2)))
    lp, ent = policy.log_prob_entropy(params, out, action)
    np.testing.assert_allclose(lp, want_lp, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ent, want_ent, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("discrete", [True, False])
def test_sampled_log_prob_is_the_policy_log_prob(discrete):
    policy = ppo_cpu.Policy(discrete, num_actions=3, activation="tanh")
    net = init_actor_critic(jax.random.key(0), 5, 3, (8,), continuous=not discrete)
    obs = jax.random.normal(jax.random.key(1), (7, 5))
    draw = jax.random.gumbel if discrete else jax.random.normal
    action, log_prob = policy.sample(policy.actor(net), obs, draw(jax.random.key(2), (7, 3)))
    out = towers(select_towers(net, ppo_cpu.ACTOR_ONLY), obs.T)[0]  # feature-major, as the loss
    want, _ = policy.log_prob_entropy(net, out, action if discrete else action.T)
    np.testing.assert_allclose(log_prob, want, rtol=1e-5, atol=1e-5)


def test_evaluation_bootstraps_from_final_observations():
    """Values and advantages equal the definition (the critic on every final observation),
    with truncations several per env, terminations, and both at once."""
    env, params = envs.make("CartPole-v1")
    cfg = ppo.PPOConfig(num_envs=3, num_steps=6, num_minibatches=2)
    parts = ppo.cpu_parts(cfg, env, params)
    net = init_actor_critic(jax.random.key(0), 4, 2, (16, 16))
    ks = jax.random.split(jax.random.key(1), 6)
    shape = (cfg.num_steps, cfg.num_envs)
    obs = jax.random.normal(ks[0], shape + (4,))
    final = jnp.concatenate([obs[1:], jax.random.normal(ks[1], (1, 3, 4))])
    done = jax.random.bernoulli(ks[2], 0.5, shape)
    terminated = done & jax.random.bernoulli(ks[3], 0.5, shape)
    final = jnp.where(done[..., None], jax.random.normal(ks[4], shape + (4,)), final)
    traj = ppo_cpu.Transition(
        obs=obs, action=jnp.zeros(shape, jnp.int32), log_prob=jnp.zeros(shape),
        reward=jax.random.normal(ks[5], shape), terminated=terminated, done=done,
        final_obs=final, episode_return=jnp.zeros(shape),
    )  # fmt: skip
    hp = jax.tree.map(jnp.float32, ppo.PPOHParams())
    assert int((done & ~terminated).sum()) > cfg.num_envs  # some env truncates twice
    evaluate = jax.jit(ppo_cpu.evaluate_rollout, static_argnums=0)
    _, value, adv, target = evaluate(parts, net, traj, hp)
    _, v_all = apply_actor_critic(net, obs)
    _, v_final = apply_actor_critic(net, final)
    want = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)(
        traj.reward, v_all, v_final, terminated, done, hp.gamma, hp.gae_lambda
    )
    np.testing.assert_allclose(value, v_all, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(adv, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, want + v_all, rtol=1e-5, atol=1e-5)


def _one_update(env_name):
    """A rollout of the plain path and everything both updates start from."""
    env, p = envs.make(env_name)
    cfg = ppo.PPOConfig(num_envs=4, num_steps=32, update_epochs=2, num_minibatches=4,
                        implementation="plain")  # fmt: skip
    learner = ppo.make_learner(cfg, env, p)
    parts = ppo.cpu_parts(cfg, env, p)
    net = ppo.ActorCritic(parts.policy.discrete, cfg.activation)
    hp = jax.tree.map(jnp.float32, ppo.PPOHParams(lr=3e-3))
    state = learner.init(jax.random.key(0), hp, p, None)
    _, _, traj = ppo.collect_rollout(net, parts.venv, state.params, state.env_state, state.obs,
                                     jax.random.key(1), cfg.num_steps, p)  # fmt: skip
    perm_keys = jax.random.split(jax.random.key(2), cfg.update_epochs)
    perms = jax.vmap(lambda k: jax.random.permutation(k, cfg.batch_size))(perm_keys)
    return cfg, parts, net, hp, state.params, traj, perms


def _plain_update(cfg, net, hp, params, traj, perms):
    adv, target = ppo.advantages(net, params, traj, hp)
    n = cfg.batch_size
    batch = ppo.Batch(traj.obs, traj.action, traj.log_prob, traj.value, adv, target)
    batch = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), batch)
    tx = ppo.make_optimizer(cfg, hp)
    return ppo.sgd_epochs(net, cfg, tx, params, tx.init(params), batch, perms, hp)[0]


def _cpu_update(cfg, parts, hp, params, traj, perms):
    cpu_traj = ppo_cpu.Transition(traj.obs, traj.action, traj.log_prob, traj.reward,
                                  traj.terminated, traj.done, traj.final_obs,
                                  traj.episode_return)  # fmt: skip
    batch = ppo_cpu.make_batch(
        parts, cpu_traj, *ppo_cpu.evaluate_rollout(parts, params, cpu_traj, hp)
    )
    mbs = ppo_cpu.minibatches(parts, batch, perms)
    flat = ravel_pytree(params)[0]
    tx = ppo.make_optimizer(cfg, hp)
    flat = ppo_cpu.sgd_epochs(parts, tx, flat, tx.init(flat), mbs, hp)[0]
    return parts.unravel(flat)


@pytest.mark.parametrize("env_name", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("data", ["traced", "closed_over"])
def test_cpu_update_gives_the_plain_updates_parameters(env_name, data):
    """Golden test: from the same rollout and minibatch shuffles, one update of the XLA:CPU
    layout (custom-VJP towers, hand-written categorical terms, packed batch, flat Adam) gives
    the parameters of the plain update (autodiff of the textbook loss on pytrees), to 1e-5
    relative, for discrete and continuous actions, under ``jit`` with the rollout either an
    argument (traced) or closed over (constants XLA may fold)."""
    cfg, parts, net, hp, params, traj, perms = _one_update(env_name)

    def both(params, traj, perms):
        plain = _plain_update(cfg, net, hp, params, traj, perms)
        return plain, _cpu_update(cfg, parts, hp, params, traj, perms)

    if data == "traced":
        plain, cpu = jax.jit(both)(params, traj, perms)
    else:
        plain, cpu = jax.jit(lambda: both(params, traj, perms))()
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), plain, params)
    assert max(jax.tree.leaves(moved)) > 1e-3  # the update did change the parameters
    for a, b in zip(jax.tree.leaves(cpu), jax.tree.leaves(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
