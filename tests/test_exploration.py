"""Exploration learners: PPO+RND's update rules by hand and a learning test on DeepSea."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl import envs
from jaxrl.agents.exploration import curiosity, ppo_icm, ppo_rnd
from jaxrl.agents.onpolicy import ppo
from jaxrl.learner import init as learner_init

RND_FAST = ppo_rnd.RNDConfig(num_envs=16, num_steps=20, total_steps=20_000)


@pytest.fixture(scope="module")
def deepsea10():
    return envs.make("DeepSea-N10")


@pytest.fixture(scope="module")
def rnd_runs(deepsea10):
    """8 seeds of PPO+RND on DeepSea N=10, vmapped in one compile."""
    env, p = deepsea10
    learner = ppo_rnd.make_learner(RND_FAST, env, p)
    train = ppo_rnd.make_train(RND_FAST, env, p)
    keys = jax.random.split(jax.random.key(0), 8)
    return jax.jit(jax.vmap(lambda k: (learner_init(learner, k), train(k))))(keys)


def test_rnd_learns_deepsea_10(rnd_runs):
    """Optimal return 0.99; a random policy finds the treasure once in 2^10 episodes. Plain
    PPO on 50,000 steps learned it in 2 of 8 seeds (measured, not asserted here)."""
    _, rnd_runs = rnd_runs
    returns = np.asarray(rnd_runs.metrics["episode_return"])[:, -5:].mean(axis=1)
    assert (returns >= 0.9).sum() >= 7, returns


def test_rnd_target_stays_fixed_and_predictor_learns(rnd_runs):
    first, rnd_runs = rnd_runs
    leaves = jax.tree.leaves
    for a, b in zip(leaves(first.frozen), leaves(rnd_runs.state.frozen), strict=True):
        np.testing.assert_array_equal(a, b)
    moved = [
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(leaves(first.bonus), leaves(rnd_runs.state.bonus), strict=True)
    ]
    assert max(moved) > 1e-2
    loss = np.asarray(rnd_runs.metrics["rnd_loss"])
    assert (loss[:, -5:].mean(axis=1) < 0.1 * loss[:, 0]).all()  # the predictor caught up


def test_rnd_bonus_falls_on_seen_states_and_stays_high_on_new_ones():
    """Train the predictor on 5 of 20 one-hot states; its error falls there and not on the
    other 15 (it falls there too, to about half, as the shared layers generalise)."""
    bonus = ppo_rnd.rnd_bonus(ppo_rnd.RNDConfig(), 20, None)
    trained, frozen = bonus.init(jax.random.key(3))
    states = jnp.eye(20)
    seen = states[:5]
    tx = optax.adam(1e-3)
    hp = ppo_rnd.RNDHParams()

    @jax.jit
    def fit(trained):
        def step(carry, _):
            params, opt = carry
            grads, _ = jax.grad(bonus.loss, has_aux=True)(params, frozen, seen, None, seen, hp)
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), None

        return jax.lax.scan(step, (trained, tx.init(trained)), None, 300)[0][0]

    before = bonus.reward(trained, frozen, states, None, states)
    after = bonus.reward(fit(trained), frozen, states, None, states)
    assert float(after[:5].max()) < 0.05 * float(before[:5].min())
    assert float(jnp.median(after[5:] / before[5:])) > 0.25
    assert float(after[5:].min()) > 10 * float(after[:5].max())


def test_intrinsic_reward_normalisation_matches_a_numpy_loop():
    """Two rollouts: the discounted intrinsic return runs on across them per env, and each
    rollout's bonuses are divided by the standard deviation of every return so far."""
    rng = np.random.default_rng(0)
    raws = [rng.exponential(size=(6, 3)).astype(np.float32) for _ in range(2)]
    g = 0.9
    ret = jnp.zeros(3)
    stats = envs.RunningMeanStd.create(())
    got = []
    for raw in raws:
        r, ret, stats = curiosity.intrinsic_rewards(jnp.asarray(raw), ret, stats, g)
        got.append(np.asarray(r))

    r_np = np.zeros(3)
    history = []
    for raw, r in zip(raws, got, strict=True):
        for t in range(raw.shape[0]):
            r_np = g * r_np + raw[t]
            history.append(r_np.copy())
        std = np.std(np.concatenate(history))
        np.testing.assert_allclose(r, raw / std, rtol=1e-3)


def test_two_advantages_match_a_numpy_loop():
    """Extrinsic GAE cut at episode ends (bootstrapping a truncation from its final
    observation), intrinsic GAE running through them on the next observation's value."""
    T, E, D = 5, 2, 3
    rng = np.random.default_rng(1)
    net = curiosity.TwoHeads(True, "tanh")
    parts = curiosity.Parts(None, net, None, None, D)
    parts = parts._replace(cfg=curiosity.CuriosityConfig(hidden=(8,)))
    params = curiosity.init_params(parts, jax.random.key(0), 2, False)
    params = jax.tree.map(lambda x: x + 0.3 * jnp.ones_like(x), params)  # non-zero values
    obs = rng.normal(size=(T, E, D)).astype(np.float32)
    final_obs = rng.normal(size=(T, E, D)).astype(np.float32)
    last_obs = rng.normal(size=(E, D)).astype(np.float32)
    terminated = np.zeros((T, E), bool)
    done = np.zeros((T, E), bool)
    terminated[1, 0] = done[1, 0] = True
    done[3, 1] = True  # a truncation
    reward = rng.normal(size=(T, E)).astype(np.float32)
    r_int = rng.exponential(size=(T, E)).astype(np.float32)
    value = np.asarray(net(params, jnp.asarray(obs))[1])
    traj = ppo.Transition(obs, None, None, value, reward, terminated, done, final_obs, None)
    hp = curiosity.CuriosityHParams(gamma=0.9, int_gamma=0.8, gae_lambda=0.7, ext_coef=2.0,
                                    int_coef=0.5)  # fmt: skip
    adv, target = jax.jit(curiosity.advantages, static_argnums=0)(
        net, params, traj, jnp.asarray(last_obs), r_int, hp
    )

    v_final = np.asarray(net(params, jnp.asarray(final_obs))[1])[..., 0]
    v_last = np.asarray(net(params, jnp.asarray(last_obs))[1])[..., 1]
    ext, intr = np.zeros((T, E)), np.zeros((T, E))
    for e in range(E):
        a_ext = a_int = 0.0
        for t in reversed(range(T)):
            nonterm = 1.0 - terminated[t, e]
            delta = reward[t, e] + 0.9 * nonterm * v_final[t, e] - value[t, e, 0]
            a_ext = delta + 0.9 * 0.7 * (1.0 - done[t, e]) * a_ext
            ext[t, e] = a_ext
            v_next = value[t + 1, e, 1] if t + 1 < T else v_last[e]
            a_int = r_int[t, e] + 0.8 * v_next - value[t, e, 1] + 0.8 * 0.7 * a_int
            intr[t, e] = a_int
    np.testing.assert_allclose(adv, 2.0 * ext + 0.5 * intr, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(target[..., 0], ext + value[..., 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(target[..., 1], intr + value[..., 1], rtol=1e-4, atol=1e-5)


def test_bonus_observations_are_normalised_by_all_reached_observations(deepsea10):
    """After two updates the bonus's observation statistics are the mean and variance of
    every observation the rollouts reached (the final observations, before resets)."""
    env, p = deepsea10
    cfg = ppo_rnd.RNDConfig(num_envs=2, num_steps=8, total_steps=32, num_minibatches=2,
                            hidden=(8,), bonus_hidden=(8,), rnd_features=4)  # fmt: skip
    learner = ppo_rnd.make_learner(cfg, env, p)
    net, venv = curiosity.TwoHeads(True, cfg.activation), envs.stack(env, p, cfg.num_envs)

    @jax.jit
    def one(state):
        s = state.ppo
        k_rollout = jax.random.split(s.key, 4)[1]  # the update's own rollout key
        _, _, traj = ppo.collect_rollout(net, venv, s.params, s.env_state, s.obs, k_rollout,
                                         cfg.num_steps, p)  # fmt: skip
        new, _ = learner.update(state, learner.hparams, p, None)
        return new, traj.final_obs.reshape(-1, traj.final_obs.shape[-1])

    state = learner_init(learner, jax.random.key(0))
    seen = []
    for _ in range(2):
        state, reached = one(state)
        seen.append(np.asarray(reached))
    seen = np.concatenate(seen)
    np.testing.assert_allclose(state.obs_stats.mean, seen.mean(0), atol=1e-5)
    np.testing.assert_allclose(state.obs_stats.var, seen.var(0), atol=1e-4)
    normalised = state.obs_stats.normalize(jnp.asarray(seen), curiosity.OBS_CLIP)
    assert float(jnp.abs(normalised).max()) <= curiosity.OBS_CLIP


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("num_minibatches", 3, "num_minibatches"),
        ("rnd_features", 0, "rnd_features"),
        ("bonus_activation", "rleu", "did you mean 'relu'"),
        ("bonus_hidden", (0,), "hidden"),
    ],
)
def test_invalid_rnd_config(deepsea10, field, value, match):
    env, p = deepsea10
    with pytest.raises(ValueError, match=match):
        ppo_rnd.make_learner(dataclasses.replace(ppo_rnd.RNDConfig(), **{field: value}), env, p)


# ---- ICM -------------------------------------------------------------------------------------

ICM_FAST = ppo_icm.ICMConfig(num_envs=16, num_steps=12, total_steps=9_600)


def ring_transitions(n=8):
    """A deterministic toy: n positions on a ring (one-hot), actions 0 left, 1 right, 2 stay;
    every (state, action) pair once."""
    s = np.repeat(np.arange(n), 3)
    a = np.tile(np.arange(3), n)
    s_next = (s + np.array([-1, 1, 0])[a]) % n
    eye = np.eye(n, dtype=np.float32)
    return jnp.asarray(eye[s]), jnp.asarray(a), jnp.asarray(eye[s_next])


def test_icm_inverse_model_recovers_actions_on_a_deterministic_toy():
    obs, action, next_obs = ring_transitions()
    spec = envs.ActionSpec(discrete=True, dim=3, low=None, high=None)
    bonus = ppo_icm.icm_bonus(ppo_icm.ICMConfig(), 8, spec)
    params, frozen = bonus.init(jax.random.key(0))
    hp = ppo_icm.ICMHParams()
    tx = optax.adam(3e-3)

    @jax.jit
    def fit(params):
        def step(carry, _):
            params, opt = carry
            grads, aux = jax.grad(bonus.loss, has_aux=True)(params, frozen, obs, action,
                                                           next_obs, hp)  # fmt: skip
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), aux

        (params, _), aux = jax.lax.scan(step, (params, tx.init(params)), None, 500)
        return params, aux

    before = bonus.predict_action(params, obs, next_obs)
    before_err = bonus.reward(params, frozen, obs, action, next_obs)
    params, aux = fit(params)
    got = bonus.predict_action(params, obs, next_obs)
    assert float((before == action).mean()) < 0.7
    assert float((got == action).mean()) == 1.0
    assert float(aux[-1, 0]) < 0.1 * float(aux[0, 0])  # the inverse loss fell
    # the forward model's error (the bonus) fell on these transitions
    after_err = bonus.reward(params, frozen, obs, action, next_obs)
    assert float(after_err.mean()) < 0.5 * float(before_err.mean())


def test_icm_loss_weights_inverse_and_forward_by_beta():
    obs, action, next_obs = ring_transitions()
    spec = envs.ActionSpec(discrete=True, dim=3, low=None, high=None)
    bonus = ppo_icm.icm_bonus(ppo_icm.ICMConfig(), 8, spec)
    params, frozen = bonus.init(jax.random.key(1))
    for beta in (0.0, 0.2, 1.0):
        hp = ppo_icm.ICMHParams(icm_beta=beta)
        total, (inv, fwd) = bonus.loss(params, frozen, obs, action, next_obs, hp)
        assert float(total) == pytest.approx((1 - beta) * float(inv) + beta * float(fwd), 1e-5)
    # the forward loss does not train the encoder
    hp = ppo_icm.ICMHParams(icm_beta=1.0)
    g = jax.grad(lambda p: bonus.loss(p, frozen, obs, action, next_obs, hp)[0])(params)
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g["encoder"]))
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(g["forward"])) > 0.0


def test_icm_learns_deepsea_6():
    """8 seeds, one compile; optimal return 0.99."""
    env, p = envs.make("DeepSea-N6")
    train = ppo_icm.make_train(ICM_FAST, env, p)
    out = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 8))
    returns = np.asarray(out.metrics["episode_return"])[:, -5:].mean(axis=1)
    assert (returns >= 0.9).sum() >= 7, returns


def test_noisy_tv_env():
    """Watching shows fresh noise and does not move; moves clear the TV; the far corner pays 1
    and terminates; the time limit truncates."""
    from jaxrl.envs import noisy_tv

    env, p = envs.make("NoisyTV-v0")
    obs, s = env.reset(jax.random.key(0), p)
    assert obs.shape == (25 + noisy_tv.TV_SIZE,) and float(obs[25:].sum()) == 0.0
    o1, s1, r, term, trunc, _ = env.step(jax.random.key(1), s, noisy_tv.WATCH, p)
    o2, s2, *_ = env.step(jax.random.key(2), s1, noisy_tv.WATCH, p)
    assert int(s1.cell) == int(s2.cell) == 0 and float(r) == 0.0 and not bool(term)
    assert float(o1[25:].min()) > 0.0 and not np.allclose(o1[25:], o2[25:])
    o3, s3, *_ = env.step(jax.random.key(3), s2, 2, p)  # down
    assert int(s3.cell) == 5 and float(o3[25:].sum()) == 0.0
    s4 = s3.replace(cell=jnp.asarray(23))
    _, _, r, term, trunc, info = env.step(jax.random.key(4), s4, 4, p)  # right, into 24
    assert float(r) == 1.0 and bool(term) and int(info["final_observation"][:25].argmax()) == 24
    s5 = s3.replace(time=jnp.asarray(p.max_steps_in_episode - 1))
    *_, term, trunc, _ = env.step(jax.random.key(5), s5, 0, p)
    assert bool(trunc) and not bool(term)
