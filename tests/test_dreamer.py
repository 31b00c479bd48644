"""Dreamer: the update rules against hand-computed values and loops, imagination reading no
observation after its start, config errors, and a short learning run over seeds."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs, losses
from jaxrl.agents.world_models import dreamer
from jaxrl.losses import symexp, symlog


def test_symlog_round_trip_and_values():
    x = jnp.array([-1e6, -1e3, -7.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 42.0, 1e4, 1e6])
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=2e-6, atol=1e-9)
    y = jnp.array([-12.0, -1.0, 0.0, 0.3, 5.0])
    np.testing.assert_allclose(symlog(symexp(y)), y, rtol=1e-6, atol=1e-7)
    # symlog(e - 1) = 1, symlog(-(e^2 - 1)) = -2
    np.testing.assert_allclose(symlog(jnp.array([math.e - 1, -(math.e**2 - 1)])), [1.0, -2.0],
                               rtol=1e-6)  # fmt: skip


def _logits(rows):
    return jnp.log(jnp.asarray(rows, jnp.float32))


def test_kl_balance_with_free_bits_by_hand():
    # Two latents of two classes: q = (0.75, 0.25), p = (0.5, 0.5) in each, so
    # KL(q || p) = 0.75 ln 1.5 + 0.25 ln 0.5 per latent, 2x that summed.
    post = _logits([[[0.75, 0.25], [0.75, 0.25]]])
    prior = _logits([[[0.5, 0.5], [0.5, 0.5]]])
    kl_one = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    kl = 2 * kl_one  # 0.2616...
    loss, kl_out = dreamer.kl_balance_loss(post, prior, 0.1, 0.5, 0.1)
    np.testing.assert_allclose(kl_out, [kl], rtol=1e-5)
    np.testing.assert_allclose(loss, [(0.5 + 0.1) * kl], rtol=1e-5)
    # Free bits: below 1 nat both terms are clipped to 1.
    loss, _ = dreamer.kl_balance_loss(post, prior, 1.0, 0.5, 0.1)
    np.testing.assert_allclose(loss, [0.6], rtol=1e-6)
    # Mixed: one sequence above the free bits, one below.
    post2 = jnp.concatenate([post, _logits([[[0.99, 0.01], [0.99, 0.01]]])])
    prior2 = jnp.concatenate([prior, prior])
    kl2 = 2 * (0.99 * math.log(1.98) + 0.01 * math.log(0.02))  # 1.2727...
    loss, kl_out = dreamer.kl_balance_loss(post2, prior2, 1.0, 0.5, 0.1)
    np.testing.assert_allclose(kl_out, [kl, kl2], rtol=1e-5)
    np.testing.assert_allclose(loss, [0.6, 0.6 * kl2], rtol=1e-5)


def test_kl_balance_gradients_go_where_the_scales_say():
    post = jnp.log(jnp.array([[[0.7, 0.2, 0.1]]]))
    prior = jnp.log(jnp.array([[[0.2, 0.3, 0.5]]]))

    def grads(free, dyn, rep):
        f = lambda q, p: dreamer.kl_balance_loss(q, p, free, dyn, rep)[0].sum()
        return jax.grad(f, argnums=(0, 1))(post, prior)

    g_q, g_p = grads(0.0, 1.0, 0.0)  # dynamics term only: trains the prior alone
    assert np.all(np.asarray(g_q) == 0) and np.abs(g_p).max() > 1e-3
    g_q, g_p = grads(0.0, 0.0, 1.0)  # representation term only: the posterior alone
    assert np.all(np.asarray(g_p) == 0) and np.abs(g_q).max() > 1e-3
    g_q, g_p = grads(10.0, 1.0, 1.0)  # under the free bits: no gradient at all
    assert np.all(np.asarray(g_q) == 0) and np.all(np.asarray(g_p) == 0)


def test_lambda_returns_match_a_python_loop():
    rng = np.random.default_rng(0)
    T, N, lam = 7, 3, 0.8
    r = rng.normal(size=(T, N)).astype(np.float32)
    disc = (0.97 * (rng.uniform(size=(T, N)) > 0.2)).astype(np.float32)
    v = rng.normal(size=(T + 1, N)).astype(np.float32)
    expected = np.zeros((T, N))
    for n in range(N):
        nxt = v[T, n]
        for t in reversed(range(T)):
            nxt = r[t, n] + disc[t, n] * ((1 - lam) * v[t + 1, n] + lam * nxt)
            expected[t, n] = nxt
    got = losses.lambda_returns(jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v), lam)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # lambda = 0 is one-step TD, lambda = 1 the discounted sum bootstrapped at the end
    td0 = losses.lambda_returns(jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v), 0.0)
    np.testing.assert_allclose(td0, r + disc * v[1:], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def cartpole_model():
    env, env_params = envs.make("CartPole-v1")
    cfg = dreamer.DreamerConfig(total_steps=2048, learning_starts=256, log_every=256)
    model = dreamer.make_model(cfg, env, env_params)
    params = model.init(jax.random.key(1))
    # Perturb the zero-initialised heads so every output depends on its input.
    params = jax.tree.map(lambda x: x + 0.1 * jnp.ones_like(x), params)
    return model, {"world": params["world"], "actor": params["actor"]}


def test_imagination_reads_no_observation_after_the_start(cartpole_model):
    model, saved = cartpole_model
    B, H = 3, 15
    key = jax.random.key(2)
    obs = jax.random.normal(key, (B, H + 1, model.obs_dim))
    actions = jax.random.randint(jax.random.key(3), (B, H), 0, model.act_dim)
    predict = jax.jit(lambda o: dreamer.open_loop_predict(model, saved, o, actions, key))
    base = predict(obs)
    assert base.shape == (B, H, model.obs_dim)
    noise = jax.random.normal(jax.random.key(4), (B, H, model.obs_dim))
    changed = obs.at[:, 1:].set(100.0 * noise)
    np.testing.assert_array_equal(predict(changed), base)
    grad = jax.grad(lambda o: predict(o).sum())(obs)
    assert np.all(np.asarray(grad[:, 1:]) == 0)
    assert np.abs(grad[:, 0]).max() > 0  # ... but the start observation does matter
    # The actions do matter (the model is not ignoring its inputs).
    other = dreamer.open_loop_predict(model, saved, obs, 1 - actions, key)
    assert np.abs(np.asarray(other - base)).max() > 1e-4


def test_policy_carry_follows_the_posterior_pass(cartpole_model):
    """The policy's carry after acting on x_0, x_1 with actions a_0 is the state the
    training pass reaches after a_0 (same keys, posterior modes are sampled the same way)."""
    model, saved = cartpole_model
    obs = jax.random.normal(jax.random.key(5), (2, model.obs_dim))
    carry = dreamer.init_carry(model, 1)
    _, carry0 = dreamer.policy_step(model, saved, obs[:1], jax.random.key(6), carry, True)
    assert bool(carry0.started[0])
    h_first = jnp.zeros((1, model.cfg.deter))
    z0 = model.sample_latent(None, model.post_logits(saved["world"], h_first,
                                                     model.embed(saved["world"], obs[:1])),
                             mode=True)  # fmt: skip
    np.testing.assert_allclose(carry0.z, z0)
    np.testing.assert_array_equal(carry0.h, h_first)
    _, carry1 = dreamer.policy_step(model, saved, obs[1:], jax.random.key(7), carry0, True)
    h1 = model.deter_step(saved["world"], dreamer.Latent(carry0.h, carry0.z), carry0.action)
    np.testing.assert_allclose(carry1.h, h1, rtol=1e-6)


def test_actor_loss_and_return_scale_by_hand(cartpole_model):
    """The actor's loss on an imagined trajectory against numpy: lambda-returns bootstrapped
    by the slow critic, the survival weights, the percentile scale's EMA, advantages over
    ``max(1, S)`` and the entropy bonus."""
    model, saved = cartpole_model
    params = model.init(jax.random.key(8))
    params = jax.tree.map(lambda x: x + 0.1 * jnp.ones_like(x), params)
    world, critic = params["world"], params["critic"]
    slow = jax.tree.map(lambda x: 0.5 * x, critic)
    H, N = 5, 6
    k_h, k_z, k_a = jax.random.split(jax.random.key(9), 3)
    h = jax.random.normal(k_h, (H + 1, N, model.cfg.deter))
    z_idx = jax.random.randint(k_z, (H + 1, N, model.cfg.stoch), 0, model.cfg.classes)
    z = jax.nn.one_hot(z_idx, model.cfg.classes).reshape(H + 1, N, -1)
    latents = dreamer.Latent(h, z)
    actions = jax.random.randint(k_a, (H, N), 0, model.act_dim)
    hp = dreamer.DreamerHParams(gamma=0.9, lambda_=0.8, ent_coef=0.05, return_decay=0.7)
    ac = {"actor": params["actor"], "critic": critic}
    _, (scale, m) = dreamer.behaviour_loss(model, world, ac, slow, jnp.float32(3.0), latents,
                                          actions, hp)  # fmt: skip

    feat = np.asarray(model.features(latents), np.float64)
    reward = np.asarray(dreamer._decode(model.mlp(world["rew"], feat[1:]), model.cfg.num_bins))
    cont = 1.0 / (1.0 + np.exp(-np.asarray(model.mlp(world["cont"], feat[1:])[..., 0])))
    slow_v = np.asarray(model.value(slow, feat))
    value = np.asarray(model.value(critic, feat[:-1]))
    ret = np.zeros((H, N))
    nxt = slow_v[H]
    for t in reversed(range(H)):
        nxt = reward[t] + 0.9 * cont[t] * (0.2 * slow_v[t + 1] + 0.8 * nxt)
        ret[t] = nxt
    weight = np.ones((H, N))
    for t in range(1, H):
        weight[t] = weight[t - 1] * cont[t - 1]
    spread = np.percentile(ret, 95) - np.percentile(ret, 5)
    expected_scale = 0.7 * 3.0 + 0.3 * spread
    adv = (ret - value) / max(1.0, expected_scale)
    logits = np.asarray(model.mlp(params["actor"], feat[:-1]), np.float64)
    logp_all = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    logp = np.take_along_axis(logp_all, np.asarray(actions)[..., None], -1)[..., 0]
    entropy = -(np.exp(logp_all) * logp_all).sum(-1)
    expected_loss = -np.mean(weight * (adv * logp + 0.05 * entropy))
    np.testing.assert_allclose(scale, expected_scale, rtol=1e-4)
    np.testing.assert_allclose(m["return_spread"], spread, rtol=1e-4)
    np.testing.assert_allclose(m["advantage_abs"], np.abs(adv).mean(), rtol=1e-4)
    np.testing.assert_allclose(m["actor_loss"], expected_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m["imagined_alive"], (weight[-1] * cont[-1]).mean(), rtol=1e-4)


@pytest.mark.parametrize(
    "field, value",
    [
        ("batch_size", 0),
        ("horizon", 0),
        ("num_bins", 1),
        ("unimix", 1.0),
        ("activation", "relu6"),
        ("learning_starts", 64),
        ("learning_starts", -1),
        ("log_every", 1000),
        ("total_steps", 512),
        ("buffer_size", 32),
        ("imagine_starts", -1),
        ("imagine_starts", 16 * 32 + 1),
    ],
)
def test_config_errors_name_the_field(field, value):
    env, env_params = envs.make("CartPole-v1")
    cfg = dataclasses.replace(dreamer.DreamerConfig(), **{field: value})
    with pytest.raises(ValueError, match=f"^{field}"):
        dreamer.make_learner(cfg, env, env_params)


def test_hparam_ranges_name_the_field():
    env, env_params = envs.make("CartPole-v1")
    learner = dreamer.make_learner(dreamer.DreamerConfig(), env, env_params)
    with pytest.raises(ValueError, match="model_lr"):
        learner.validate_hparams(dreamer.DreamerHParams(model_lr=-1.0))
    with pytest.raises(ValueError, match="return_decay"):
        learner.validate_hparams(dreamer.DreamerHParams(return_decay=1.0))


SEEDS = 4


@pytest.fixture(scope="module")
def cartpole_runs():
    """4 seeds of 3,072 CartPole steps in one compile (about 30 s of one core)."""
    env, env_params = envs.make("CartPole-v1")
    cfg = dreamer.DreamerConfig(total_steps=3072, learning_starts=512, log_every=512)
    train = dreamer.make_train(cfg, env, env_params)
    keys = jax.random.split(jax.random.key(0), SEEDS)
    return jax.jit(jax.vmap(train))(keys)


def test_world_model_learns_on_every_seed(cartpole_runs):
    """Not the return (a 3k-step run is too short for the actor to improve measurably), but
    what the model must learn from the first trained update to the last: its losses."""
    m = jax.tree.map(np.asarray, cartpole_runs.metrics)
    assert m["model_loss"].shape == (SEEDS, 6)
    first, last = m["model_loss"][:, 1], m["model_loss"][:, -1]
    assert np.all(last < 0.5 * first), (first, last)
    assert np.all(m["recon_loss"][:, -1] < 0.5 * m["recon_loss"][:, 1])
    assert np.all(m["reward_loss"][:, -1] < 0.5 * m["reward_loss"][:, 1])
    assert np.all(np.isfinite(m["actor_loss"])) and np.all(np.isfinite(m["critic_loss"]))
    # The imagined returns grow as the reward head learns CartPole's +1 a step.
    assert np.all(m["imagined_return"][:, -1] > 2.0), m["imagined_return"][:, -1]


def test_continuous_actions_train_and_act():
    env, env_params = envs.make("Pendulum-v1")
    cfg = dreamer.DreamerConfig(total_steps=512, learning_starts=256, log_every=256,
                                sequence_length=16, batch_size=8)  # fmt: skip
    learner = dreamer.make_learner(cfg, env, env_params)
    train = jax.jit(dreamer.make_train(cfg, env, env_params))
    out = train(jax.random.key(0))
    m = jax.tree.map(np.asarray, out.metrics)
    assert m["model_loss"][-1] > 0 and np.isfinite(m["actor_loss"][-1])
    saved = learner.save(out.state)
    obs = jnp.zeros((5, 3))
    action, carry = learner.act(saved, obs, jax.random.key(1), greedy=False,
                                carry=learner.policy.init_carry(5))  # fmt: skip
    assert action.shape == (5, 1)
    assert np.all(np.abs(np.asarray(action)) <= 2.0)  # Pendulum's torque bound
