import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents import ppo
from jaxrl.losses import generalized_advantage_estimation
from jaxrl.networks import apply_actor_critic, init_actor_critic
from jaxrl.networks.actor_critic import select_towers, towers
from jaxrl.run import run_seeds

# A configuration that solves CartPole within 1e5 steps (see the learning test).
FAST = ppo.PPOConfig(total_steps=100_000, num_envs=16, num_steps=32, num_minibatches=8)
FAST_HP = ppo.PPOHParams(lr=2.5e-3)


@pytest.fixture(scope="module")
def cartpole():
    return envs.make("CartPole-v1")


def test_cartpole_learns_within_1e5_steps(cartpole):
    """>= 3 of 4 seeds reach mean episode return >= 400 within 1e5 env steps."""
    env, p = cartpole
    res = run_seeds(ppo.make_train(FAST, env, p), 4, FAST_HP, seed=0)
    final = res.output.metrics["episode_return"][:, -1]
    assert (final >= 400).sum() >= 3, final
    assert not res.diverged.any()


def test_pendulum_continuous_learns():
    """Continuous actions: Pendulum-v1 from -1224 (random policy, measured) to >= -600.

    A mean final return of -600 over 4 seeds needs most episodes to swing the pendulum up and
    hold it for a good part of the 200 steps; the random policy and a policy that only damps
    the swing stay below -900. 2e5 steps with observation normalisation.
    """
    env, p = envs.make("Pendulum-v1")
    cfg = ppo.PPOConfig(total_steps=200_000, num_envs=16, num_steps=64, update_epochs=8,
                        num_minibatches=8, normalize_obs=True)  # fmt: skip
    res = run_seeds(ppo.make_train(cfg, env, p), 4, ppo.PPOHParams(lr=3e-3, gamma=0.95,
                                                                     ent_coef=0.0))  # fmt: skip
    final = res.output.metrics["episode_return"][:, -1]
    assert final.mean() >= -600, final


def test_train_traces_once(cartpole):
    env, p = cartpole
    cfg = dataclasses.replace(FAST, total_steps=1024)
    train = ppo.make_train(cfg, env, p)
    traces = []

    def counted(key, hp):
        traces.append(1)
        return train(key, hp)

    fn = jax.jit(counted)
    for i in range(3):
        out = fn(jax.random.key(i), ppo.PPOHParams(lr=1e-3 * (i + 1)))
    jax.block_until_ready(out)
    assert len(traces) == 1


def test_diverging_run_is_flagged_and_others_kept(cartpole):
    env, p = cartpole
    cfg = dataclasses.replace(FAST, total_steps=2048)
    train = ppo.make_train(cfg, env, p)
    res = run_seeds(train, 3, ppo.PPOHParams(lr=np.array([1e-3, np.nan, 1e-3])))
    assert res.diverged.tolist() == [False, True, False]
    assert np.isfinite(res.output.metrics["loss"][[0, 2]]).all()


@pytest.mark.parametrize("few,many", [(2, 5), (6, 13)])
def test_results_do_not_depend_on_the_number_of_runs(cartpole, few, many):
    """13 runs on one device go through in groups of 7 (``MAX_VMAP``), 6 in one vmap."""
    env, p = cartpole
    train = ppo.make_train(dataclasses.replace(FAST, total_steps=2048), env, p)
    a = run_seeds(train, few, FAST_HP).output
    b = run_seeds(train, many, FAST_HP).output
    np.testing.assert_array_equal(a.state.params, b.state.params[:few])


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("num_envs", 0, "num_envs"),
        ("total_steps", -1, "total_steps"),
        ("num_minibatches", 3, "num_minibatches"),
        ("update_epochs", 0, "update_epochs"),
        ("activation", "tanhh", "did you mean 'tanh'"),
        ("total_steps", 10, "less than one batch"),
    ],
)
def test_invalid_config_fails_before_tracing(cartpole, field, value, match):
    env, p = cartpole
    cfg = dataclasses.replace(ppo.PPOConfig(), **{field: value})
    with pytest.raises(ValueError, match=match):
        ppo.make_train(cfg, env, p)


def test_invalid_hparams():
    with pytest.raises(ValueError, match="gamma"):
        ppo.validate_hparams(ppo.PPOHParams(gamma=1.5))
    with pytest.raises(ValueError, match="lr"):
        ppo.validate_hparams(ppo.PPOHParams(lr=np.array([1e-3, -1.0])))


def test_env_params_can_be_vmapped(cartpole):
    """Domain randomisation: one vmap over env params (pole length) next to seeds."""
    env, p = cartpole
    train = ppo.make_train(dataclasses.replace(FAST, total_steps=1024), env, p)
    lengths = jnp.array([0.25, 0.5, 1.0])
    batch = jax.vmap(lambda L: envs.set_params(p, length=L))(lengths)
    out = jax.jit(jax.vmap(train, (None, None, 0)))(jax.random.key(0), FAST_HP, batch)
    assert out.metrics["episode_return"].shape[0] == 3


@pytest.mark.parametrize("n", [1, 7, 512, 5000])
def test_permutations_are_permutations(n):
    perms = np.asarray(ppo.permutations(jax.random.key(0), n, 3))
    assert perms.shape == (3, n)
    for p in perms:
        np.testing.assert_array_equal(np.sort(p), np.arange(n))
    if n > 7:
        assert not np.array_equal(perms[0], perms[1])


def test_permutation_positions_are_uniform():
    """Over 2000 permutations of 8 items, every item lands in every position ~1/8 of the time."""
    perms = np.asarray(ppo.permutations(jax.random.key(1), 8, 2000))
    counts = np.stack([(perms == i).sum(0) for i in range(8)])
    np.testing.assert_allclose(counts / 2000, 1 / 8, atol=0.035)


@pytest.mark.parametrize("env_name", ["CartPole-v1", "Pendulum-v1"])
def test_update_draws(env_name):
    """One generator call gives every random number of an update: Gumbel (discrete) or
    N(0, 1) (continuous) action noise with the right moments, distinct keys, and a next key
    that differs from the key it came from."""
    env, p = envs.make(env_name)
    cfg = ppo.PPOConfig(num_envs=64, num_steps=128, update_epochs=3)
    learner = ppo.make_learner(cfg, env, p)
    key = jax.random.key(3)
    draws = jax.jit(ppo.draw_update, static_argnums=0)(learner, key)
    noise = np.asarray(draws.noise).ravel()
    assert draws.noise.shape == (128, 64, learner.policy.num_actions)
    mean, var = (np.euler_gamma, np.pi**2 / 6) if learner.policy.discrete else (0.0, 1.0)
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
    policy = ppo.Policy(discrete, num_actions=3, activation="tanh")
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
    policy = ppo.Policy(discrete, num_actions=3, activation="tanh")
    net = init_actor_critic(jax.random.key(0), 5, 3, (8,), continuous=not discrete)
    obs = jax.random.normal(jax.random.key(1), (7, 5))
    draw = jax.random.gumbel if discrete else jax.random.normal
    action, log_prob = policy.sample(policy.actor(net), obs, draw(jax.random.key(2), (7, 3)))
    out = towers(select_towers(net, ppo.ACTOR_ONLY), obs.T)[0]  # feature-major, as the loss
    want, _ = policy.log_prob_entropy(net, out, action if discrete else action.T)
    np.testing.assert_allclose(log_prob, want, rtol=1e-5, atol=1e-5)


def test_evaluation_bootstraps_from_final_observations():
    """Values and advantages equal the definition (the critic on every final observation),
    with truncations several per env, terminations, and both at once."""
    env, params = envs.make("CartPole-v1")
    cfg = ppo.PPOConfig(num_envs=3, num_steps=6, num_minibatches=2)
    learner = ppo.make_learner(cfg, env, params)
    net = init_actor_critic(jax.random.key(0), 4, 2, (16, 16))
    ks = jax.random.split(jax.random.key(1), 6)
    shape = (cfg.num_steps, cfg.num_envs)
    obs = jax.random.normal(ks[0], shape + (4,))
    final = jnp.concatenate([obs[1:], jax.random.normal(ks[1], (1, 3, 4))])
    done = jax.random.bernoulli(ks[2], 0.5, shape)
    terminated = done & jax.random.bernoulli(ks[3], 0.5, shape)
    final = jnp.where(done[..., None], jax.random.normal(ks[4], shape + (4,)), final)
    traj = ppo.Transition(
        obs=obs, action=jnp.zeros(shape, jnp.int32), log_prob=jnp.zeros(shape),
        reward=jax.random.normal(ks[5], shape), terminated=terminated, done=done,
        final_obs=final, episode_return=jnp.zeros(shape),
    )  # fmt: skip
    hp = jax.tree.map(jnp.float32, ppo.PPOHParams())
    assert int((done & ~terminated).sum()) > cfg.num_envs  # some env truncates twice
    _, value, adv, target = jax.jit(ppo.evaluate_rollout, static_argnums=0)(learner, net, traj, hp)
    _, v_all = apply_actor_critic(net, obs)
    _, v_final = apply_actor_critic(net, final)
    want = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)(
        traj.reward, v_all, v_final, terminated, done, hp.gamma, hp.gae_lambda
    )
    np.testing.assert_allclose(value, v_all, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(adv, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, want + v_all, rtol=1e-5, atol=1e-5)
