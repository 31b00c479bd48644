"""IRIS: the world model's causal mask, imagination reading only its start observation, the
VQ straight-through estimator and loss by hand, lambda-returns against a Python loop, a
tiny learning test over seeds in one compile, and config errors naming the field."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.world_models import iris

C, K, N, A, D = 4, 3, 16, 3, 6
SMALL = iris.IRISConfig(context=C, tokens=K, codebook=N, embed_dim=4, hidden=(16,), width=16,
                        layers=2, heads=2, horizon=6)  # fmt: skip


@pytest.fixture(scope="module")
def parts_and_params():
    parts = iris.make_parts(SMALL, D, A)
    params = parts.init(jax.random.key(0))
    # Spread the codebook so that different observations get different tokens.
    params["codebook"] = jax.random.normal(jax.random.key(1), params["codebook"].shape)
    return parts, params


@pytest.fixture(scope="module")
def world_model(parts_and_params):
    parts, params = parts_and_params
    keys = jax.random.split(jax.random.key(2), 2)
    tokens = jax.random.randint(keys[0], (2, C, K), 0, N)
    actions = jax.random.randint(keys[1], (2, C), 0, A)
    apply = jax.jit(lambda t, a, s: parts.world_model(params, t, a, s))
    return apply, tokens, actions


def outputs_by_position(out) -> np.ndarray:
    """Every prediction at its token position: ``[B, C, K + 1]``, the largest |logit| change
    is read per position (position j < K - 1: ``rest[j]``; K - 1: none; K: the action's)."""
    b, c = out.first.shape[:2]
    per = np.zeros((b, c, K + 1, 1 + N + out.reward.shape[-1]))
    per[:, :, : K - 1, :N] = np.asarray(out.rest)
    per[:, :, K, :N] = np.asarray(out.first)
    per[:, :, K, N : N + out.reward.shape[-1]] = np.asarray(out.reward)
    per[:, :, K, -1] = np.asarray(out.done)
    return per


@pytest.mark.parametrize("step", range(C))
@pytest.mark.parametrize("which", ["token0", "token_last", "action"])
def test_no_prediction_depends_on_a_later_token(world_model, step, which):
    """Perturbing one token changes no output at an earlier position, and changes the
    outputs from its own position on."""
    apply, tokens, actions = world_model
    seg = jnp.zeros((2, C), jnp.int32)
    base = outputs_by_position(apply(tokens, actions, seg))
    if which == "action":
        pos, actions = K, actions.at[:, step].set((actions[:, step] + 1) % A)
    else:
        j = 0 if which == "token0" else K - 1
        pos, tokens = j, tokens.at[:, step, j].set((tokens[:, step, j] + 5) % N)
    out = outputs_by_position(apply(tokens, actions, seg))
    flat_base = base.reshape(2, C * (K + 1), -1)
    flat_out = out.reshape(2, C * (K + 1), -1)
    i = step * (K + 1) + pos
    np.testing.assert_array_equal(flat_out[:, :i], flat_base[:, :i])
    changed = np.abs(flat_out - flat_base).max(axis=(0, 2)) > 1e-6
    readable = np.array([p % (K + 1) != K - 1 for p in range(C * (K + 1))])  # has outputs
    assert changed[i:][readable[i:]].all()


def test_attention_stops_at_an_episode_boundary(world_model):
    """Steps of a later segment (a new episode) do not see the steps before it."""
    apply, tokens, actions = world_model
    seg = jnp.array([[0, 0, 1, 1]] * 2)
    base = outputs_by_position(apply(tokens, actions, seg))
    out = outputs_by_position(apply(tokens.at[:, :2].set((tokens[:, :2] + 3) % N), actions, seg))
    np.testing.assert_array_equal(out[:, 2:], base[:, 2:])
    assert np.abs(out[:, :2] - base[:, :2]).max() > 1e-6


@pytest.fixture(scope="module")
def dreamer_fn(parts_and_params):
    parts, params = parts_and_params
    return jax.jit(lambda obs, key: iris.imagine(parts, params, obs, key, SMALL.horizon))


def test_imagination_reads_no_real_observation_after_the_start(dreamer_fn, parts_and_params):
    """Changing the sampled sequence's later real observations leaves the dream unchanged;
    changing its first observation changes it (so the check can fail)."""
    obs = jax.random.normal(jax.random.key(3), (5, C, D))
    key = jax.random.key(4)
    base = dreamer_fn(obs, key)
    later = dreamer_fn(obs.at[:, 1:].set(10.0 * jax.random.normal(key, (5, C - 1, D))), key)
    for a, b in zip(jax.tree.leaves(base), jax.tree.leaves(later), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    first = dreamer_fn(obs.at[:, 0].multiply(-3.0), key)
    assert not np.array_equal(np.asarray(first.tokens), np.asarray(base.tokens))
    assert base.tokens.shape == (5, SMALL.horizon, K) and base.reward.shape == (5, SMALL.horizon)
    parts, params = parts_and_params  # the dream starts from the first observation's tokens
    np.testing.assert_array_equal(np.asarray(base.tokens[:, 0]),
                                  np.asarray(parts.tokenize(params, obs[:, 0])))  # fmt: skip


def test_vector_quantize_by_hand():
    """Nearest entries, the straight-through value and gradient, and the codebook and
    commitment terms of the loss with their separate gradients."""
    z = jnp.array([[0.9, 0.1], [-1.0, 2.0]])
    book = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    beta = 0.25
    tokens, z_st, loss = iris.vector_quantize(z, book, beta)
    np.testing.assert_array_equal(np.asarray(tokens), [0, 2])
    np.testing.assert_allclose(np.asarray(z_st), [[1.0, 0.0], [-1.0, 1.0]])
    sq = (0.1**2 + 0.1**2 + 0.0 + 1.0**2) / 4  # mean squared distance to the chosen entries
    np.testing.assert_allclose(float(loss), (1 + beta) * sq, rtol=1e-6)
    # straight-through: d sum(z_st) / dz is one everywhere
    g = jax.grad(
        lambda z: jnp.sum(iris.vector_quantize(z, book, beta)[1] * jnp.arange(4.0).reshape(2, 2))
    )(z)
    np.testing.assert_allclose(np.asarray(g), np.arange(4.0).reshape(2, 2))
    # d loss / dz is the commitment term only: beta * 2 (z - e) / 4
    e = book[np.array([0, 2])]
    gz = jax.grad(lambda z: iris.vector_quantize(z, book, beta)[2])(z)
    np.testing.assert_allclose(np.asarray(gz), beta * 2 * (z - e) / 4, rtol=1e-6)
    # d loss / d book is the codebook term only, on the chosen rows: 2 (e - z) / 4
    gb = jax.grad(lambda b: iris.vector_quantize(z, b, beta)[2])(book)
    want = np.zeros((3, 2))
    want[0], want[2] = 2 * (e[0] - z[0]) / 4, 2 * (e[1] - z[1]) / 4
    np.testing.assert_allclose(np.asarray(gb), want, rtol=1e-6)


def test_lambda_returns_against_a_python_loop():
    rng = np.random.default_rng(0)
    T, lam = 7, 0.8
    r, v = rng.normal(size=(2, T)), rng.normal(size=(2, T))
    d = 0.9 * (rng.uniform(size=(2, T)) > 0.3)
    boot = rng.normal(size=2)
    got = np.asarray(iris.returns_time_last(jnp.asarray(r), jnp.asarray(d), jnp.asarray(v),
                                         jnp.asarray(boot), lam))  # fmt: skip
    for b in range(2):
        g = boot[b]
        for t in reversed(range(T)):
            v_next = v[b, t + 1] if t + 1 < T else boot[b]
            g = r[b, t] + d[b, t] * ((1 - lam) * v_next + lam * g)
            np.testing.assert_allclose(got[b, t], g, rtol=1e-5)


def test_no_token_loss_on_the_reset_after_an_episode_end(parts_and_params):
    """The first token of the step after an episode's end (the reset observation) carries
    no loss: changing that observation's tokens changes the loss only through the tokens
    of its own step (predicted within the step), not through a cross-episode prediction."""
    parts, params = parts_and_params
    obs = jax.random.normal(jax.random.key(5), (1, C, D))
    zeros = jnp.zeros((1, C), bool)
    steps = iris.Step(obs, jnp.zeros((1, C), jnp.int32), jnp.zeros((1, C)), zeros, zeros)
    ended = steps._replace(terminated=zeros.at[:, 1].set(True))
    support = (-1.0, 1.0, 5)
    loss = jax.jit(lambda s: iris.world_model_loss(parts, params, s, jnp.ones(1, bool),
                                                   support)[1][0])  # fmt: skip
    # token_ce averages (C - 1) first-token terms where no episode ends, else C - 2
    n_rest = K - 1
    tokens = parts.tokenize(params, obs)
    out = parts.world_model(params, tokens, steps.action, jnp.zeros((1, C), jnp.int32))

    def ce(logits, t):
        return -np.take_along_axis(
            np.asarray(jax.nn.log_softmax(logits)), np.asarray(t)[..., None], -1
        )[..., 0]

    rest = ce(out.rest, tokens[..., 1:]).sum()
    first = ce(out.first[:, :-1], tokens[:, 1:, 0])[0]
    want = (first.sum() + rest) / (C - 1 + n_rest * C)
    np.testing.assert_allclose(float(loss(steps)), want, rtol=1e-5)
    seg = jnp.array([[0, 0, 1, 1]])
    out = parts.world_model(params, tokens, steps.action, seg)
    rest = ce(out.rest, tokens[..., 1:]).sum()
    first = ce(out.first[:, :-1], tokens[:, 1:, 0])[0]
    want = (first[0] + first[2] + rest) / (C - 2 + n_rest * C)
    np.testing.assert_allclose(float(loss(ended)), want, rtol=1e-5)


SEEDS = 4


@pytest.fixture(scope="module")
def short_runs():
    env, p = envs.make("Catch-bsuite")
    cfg = iris.IRISConfig(num_envs=8, num_steps=4, total_steps=32 * 40, learning_starts=0,
                          batch_size=16, tokens=4, codebook=32, hidden=(64,), horizon=5,
                          model_steps=4, ac_steps=1)  # fmt: skip
    train = iris.make_train(cfg, env, p)
    out = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), SEEDS))
    return {k: np.asarray(v) for k, v in out.metrics.items()}


def test_world_model_learns_across_seeds(short_runs):
    """Over 160 Adam steps on Catch, in every seed, the tokenizer's reconstruction error
    falls to under half its start, and the next-token cross-entropy falls by at least 30 %."""
    m = short_runs
    first = {k: m[k][:, :3].mean(1) for k in ("recon_mse", "token_ce")}
    last = {k: m[k][:, -3:].mean(1) for k in ("recon_mse", "token_ce")}
    assert (last["recon_mse"] < 0.5 * first["recon_mse"]).all(), (first, last)
    assert (last["token_ce"] < 0.7 * first["token_ce"]).all(), (first, last)
    assert np.isfinite(m["actor_loss"]).all() and np.isfinite(m["value_loss"]).all()


@pytest.mark.parametrize(
    "field, value",
    [("context", 1), ("heads", 3), ("tokens", 0), ("reward_bins", 1), ("reward_max", 0.0),
     ("learning_starts", -1), ("total_steps", 10), ("hidden", ()), ("buffer_size", 16)],
)  # fmt: skip
def test_bad_config_names_the_field(field, value):
    env, p = envs.make("Catch-bsuite")
    cfg = iris.IRISConfig(**{field: value})
    with pytest.raises(ValueError, match=f"^{field}:"):
        iris.make_learner(cfg, env, p)


def test_continuous_actions_are_refused():
    env, p = envs.make("Pendulum-v1")
    with pytest.raises(ValueError, match="^env: iris needs discrete actions"):
        iris.make_learner(iris.IRISConfig(), env, p)


def test_open_loop_predictor_reads_the_first_observation_only():
    """The predictor world_models.py scores: [B, H, D] decoded dreams along the given actions,
    unchanged by every real observation after the first, changed by the first."""
    env, p = envs.make("Catch-bsuite")
    cfg = iris.IRISConfig(context=C, tokens=K, codebook=N, embed_dim=4, hidden=(16,), width=16,
                          layers=1, heads=2, horizon=6)  # fmt: skip
    learner = iris.make_learner(cfg, env, p)
    saved = learner.save(learner.init(jax.random.key(0), learner.hparams, p, None))
    saved = jax.tree.map(np.asarray, saved)  # as a results directory or the study holds them
    predictor = iris.open_loop_predictor(learner)
    predict = jax.jit(lambda s, o, a, k: predictor(saved, o, a, k))  # host params closed over
    d = envs.observation_size(env, p)
    obs = jax.random.uniform(jax.random.key(1), (3, 8, d))
    actions = jax.random.randint(jax.random.key(2), (3, 7), 0, 3)
    key = jax.random.key(3)
    base = np.asarray(predict(saved, obs, actions, key))
    assert base.shape == (3, 7, d)
    later = np.asarray(predict(saved, obs.at[:, 1:].set(0.5), actions, key))
    np.testing.assert_array_equal(base, later)
    first = np.asarray(predict(saved, obs.at[:, 0].set(1.0 - obs[:, 0]), actions, key))
    assert not np.array_equal(base, first)
