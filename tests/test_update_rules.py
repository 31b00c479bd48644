"""Update rules pinned by hand on tiny inputs: the formulas of the papers, recomputed here
independently of the code under test (numpy in float64 where it matters)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.offpolicy import dqn, loop, sac, td3
from jaxrl.agents.search import muzero, selfplay
from jaxrl.control import mpc
from jaxrl.control.models import Model
from jaxrl.distributions import TanhGaussian
from jaxrl.networks import apply_ensemble, apply_mlp


def _batch(obs_dim, action, n=8, seed=0, weights=None):
    ks = jax.random.split(jax.random.key(seed), 5)
    return loop.NStep(
        obs=jax.random.normal(ks[0], (n, obs_dim)),
        action=action,
        partial_return=jax.random.normal(ks[1], (n,)),
        bootstrap_discount=0.99 * (jax.random.uniform(ks[2], (n,)) > 0.3),
        next_obs=jax.random.normal(ks[3], (n, obs_dim)),
        weights=jnp.ones(n) if weights is None else weights,
    )


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
    mean = np.array([[0.3, -1.2], [2.0, 0.1]])
    log_std = np.array([[-0.5, 0.2], [0.0, -1.0]])
    noise = np.array([[0.7, -0.4], [-1.5, 2.2]])
    action, log_prob = TanhGaussian(jnp.asarray(mean), jnp.asarray(log_std)).from_noise(
        jnp.asarray(noise)
    )
    u = mean + np.exp(log_std) * noise
    gauss = -0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi)  # log N(u; mean, std)
    want = (gauss - np.log(1.0 - np.tanh(u) ** 2)).sum(-1)
    np.testing.assert_allclose(action, np.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(log_prob, want, rtol=1e-4)


def test_polyak_by_hand():
    target, online = {"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([3.0, -2.0])}
    np.testing.assert_allclose(loop.polyak(target, online, 0.25)["w"], [1.5, 1.0])


@pytest.mark.parametrize("scale,direction", [(50.0, -1), (-50.0, +1)])
def test_sac_temperature_moves_against_the_entropy_gap(scale, direction):
    """The temperature's loss is ``log α (H - target)``: α falls while the policy's entropy
    is above the target and rises below it. (A negative scale puts the target at +50 nats,
    above any entropy the policy has: the other direction.)"""
    env, p = envs.make("Pendulum-v1")
    agent, _ = sac.make_agent(sac.SACConfig(hidden=(8, 8)), env, p, discrete=False)
    hp = jax.tree.map(jnp.float32, sac.SACHParams(target_entropy_scale=scale, alpha_lr=0.1))
    params, state = agent.init(jax.random.key(0), hp)
    batch = _batch(3, jax.random.uniform(jax.random.key(1), (8, 1), minval=-1, maxval=1))
    _, new_state, _, metrics = agent.update(params, state, batch, jax.random.key(2), hp, 0, 0.0)
    entropy_gap = float(metrics["entropy"]) - (-scale * 1)
    assert np.sign(entropy_gap) == -direction
    assert np.sign(float(new_state["log_alpha"] - state["log_alpha"])) == direction


def test_td3_target_smoothing_and_policy_delay():
    """The critic's target is ``r + d min_i Q'_i(s', clip(mu'(s') + clip(σ ε, -c, c)))`` with
    ``ε`` the update key's normal draw; the actor and both targets move only every
    ``policy_delay`` gradient steps."""
    env, p = envs.make("Pendulum-v1")
    agent, _ = td3.make_agent(td3.TD3Config(hidden=(8, 8), policy_delay=2), env, p)
    hp = jax.tree.map(jnp.float32, td3.TD3HParams(target_noise=0.5, noise_clip=0.1))
    params, state = agent.init(jax.random.key(0), hp)
    unravel = agent.save
    batch = _batch(3, jax.random.uniform(jax.random.key(1), (8, 1), minval=-1, maxval=1))
    key = jax.random.key(2)

    mu = jnp.tanh(apply_mlp(unravel(state["target_actor"]), batch.next_obs))
    eps = jax.random.normal(key, mu.shape)
    a_next = jnp.clip(mu + jnp.clip(0.5 * eps, -0.1, 0.1), -1.0, 1.0)

    def q(critic, obs, a):
        return apply_ensemble(critic, jnp.concatenate([obs, a], -1), "relu")[..., 0]

    y = batch.partial_return + batch.bootstrap_discount * q(
        state["target_critic"], batch.next_obs, a_next
    ).min(0)
    want = np.sum(np.mean(0.5 * (q(state["critic"], batch.obs, batch.action) - y) ** 2, -1))

    params1, state1, _, m = agent.update(params, state, batch, key, hp, 0, 0.0)  # actor step
    np.testing.assert_allclose(m["critic_loss"], want, rtol=1e-5)
    assert not np.allclose(params1, params)
    assert not np.allclose(state1["target_actor"], state["target_actor"])
    params2, state2, _, m = agent.update(params1, state1, batch, key, hp, 1, 0.0)  # delayed
    np.testing.assert_array_equal(params2, params1)
    np.testing.assert_array_equal(state2["target_actor"], state1["target_actor"])
    for a, b in zip(jax.tree.leaves(state2["target_critic"]),
                    jax.tree.leaves(state1["target_critic"]), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert float(m["actor_loss"]) == 0.0


def test_double_dqn_target_and_prioritized_loss_by_hand():
    """Double DQN: ``y = r + d Q_target(s', argmax_a Q_online(s', a))``; the loss is the mean
    over the batch of ``w_i huber(Q(s, a) - y)`` with the buffer's max-normalised weights
    (Schaul et al. 2016)."""
    env, p = envs.make("CartPole-v1")
    agent, _ = dqn.make_agent(dqn.DQNConfig(hidden=(8,), double=True), env, p)
    hp = jax.tree.map(jnp.float32, dqn.DQNHParams())
    params, state = agent.init(jax.random.key(0), hp)
    # A target network that differs from the online one, so "double" matters.
    target = params + 0.3 * jax.random.normal(jax.random.key(5), params.shape)
    state = {**state, "target": target}
    weights = jnp.array([1.0, 0.5, 0.25, 1.0, 0.8, 0.1, 0.6, 0.9])
    batch = _batch(4, jax.random.randint(jax.random.key(1), (8,), 0, 2), weights=weights)

    def q(flat, obs):
        return np.asarray(apply_mlp(agent.save(flat), obs), np.float64)

    a_star = q(params, batch.next_obs).argmax(-1)
    y = (
        np.asarray(batch.partial_return)
        + np.asarray(batch.bootstrap_discount) * q(target, batch.next_obs)[np.arange(8), a_star]
    )
    td = q(params, batch.obs)[np.arange(8), np.asarray(batch.action)] - y
    huber = np.where(np.abs(td) <= 1, 0.5 * td**2, np.abs(td) - 0.5)
    _, _, td_abs, m = agent.update(params, state, batch, jax.random.key(2), hp, 0, 0.0)
    np.testing.assert_allclose(m["loss"], np.mean(np.asarray(weights) * huber), rtol=1e-5)
    np.testing.assert_allclose(td_abs, np.abs(td), rtol=1e-4, atol=1e-6)


def test_muzero_unroll_is_absorbing_after_termination_and_silent_after_truncation():
    K, n = 3, 2
    L = K + n

    def seq(terminated=(), truncated=()):
        flags = np.zeros(L, bool)
        term, trunc = flags.copy(), flags.copy()
        term[list(terminated)] = True
        trunc[list(truncated)] = True
        return selfplay.Step(
            obs=jnp.zeros((L, 2)), action=jnp.zeros(L, jnp.int32),
            reward=jnp.arange(1.0, L + 1), terminated=jnp.asarray(term),
            truncated=jnp.asarray(trunc), policy=jnp.full((L, 2), 0.5), value=jnp.zeros(L),
            next_value=jnp.full(L, 10.0),
        )  # fmt: skip

    # Terminated at step 1: positions 2 and 3 are past the end (absorbing: value and reward
    # targets 0, no policy loss, but value and reward losses still count).
    u = muzero.make_unroll(seq(terminated=[1]), True, 0.5, n, K)
    np.testing.assert_allclose(u.value, [1 + 0.5 * 2, 2.0, 0.0, 0.0])  # no bootstrap at 1
    np.testing.assert_allclose(u.reward, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(u.policy_w, [1, 1, 0, 0])
    np.testing.assert_array_equal(u.value_w, [1, 1, 1, 1])
    np.testing.assert_array_equal(u.reward_w, [1, 1, 1])
    # Truncated at step 1: it bootstraps from next_value there, and later positions (a new
    # episode's steps) carry no loss at all.
    u = muzero.make_unroll(seq(truncated=[1]), True, 0.5, n, K)
    np.testing.assert_allclose(u.value[:2], [1 + 0.5 * 2 + 0.25 * 10, 2 + 0.5 * 10])
    np.testing.assert_array_equal(u.value_w, [1, 1, 0, 0])
    np.testing.assert_array_equal(u.policy_w, [1, 1, 0, 0])
    np.testing.assert_array_equal(u.reward_w, [1, 1, 0])
    # An invalid sample (the buffer could not provide it) carries no loss.
    u = muzero.make_unroll(seq(), False, 0.5, n, K)
    assert float(u.value_w.sum() + u.policy_w.sum() + u.reward_w.sum()) == 0.0


def test_mppi_weights_and_control_cost_by_hand():
    """``w = softmax(-(S - min S) / λ)`` over plans, ``S`` the model cost plus Williams et al.'s
    control cost ``λ (1 - α) Σ_t u_t^T Σ^-1 ε_t``; here a model with zero cost, so the
    control cost alone orders the plans."""
    plans = jnp.array([[[0.0]], [[1.0]], [[-2.0]]])
    costs = jnp.array([1.0, 0.0, 3.0])
    w = np.exp(-(np.array([1.0, 0.0, 3.0])) / 0.5)
    w /= w.sum()
    np.testing.assert_allclose(mpc.mppi_update(plans, costs, 0.5)[0, 0], (w * [0, 1, -2]).sum(),
                               rtol=1e-6)  # fmt: skip

    zero = Model(dynamics=lambda x, u, t: x, running_cost=lambda x, u: 0.0 * u.sum(),
                 terminal_cost=lambda x: 0.0 * x.sum(), u_lower=jnp.array([-1.0]),
                 u_upper=jnp.array([1.0]), state_fn=lambda s: s, state_dim=1,
                 action_dim=1)  # fmt: skip
    planner = mpc.mppi(zero, horizon=2, num_samples=4, noise_std=0.5, temperature=0.7)
    plan = mpc.PlanState(jnp.array([[0.6], [-0.2]]), jnp.zeros((), jnp.int32))
    key = jax.random.key(3)
    _, new = planner.act(plan, jnp.zeros(1), key)
    sigma = 0.5 * 0.5 * 2.0  # noise_std in units of half the control range
    eps = np.asarray(jax.random.normal(key, (1, 4, 2, 1)))[0] * sigma
    eps[0] = 0.0  # the current plan is one of the samples
    us = np.asarray(plan.us)
    cost = 0.7 * np.einsum("hm,khm->k", us / sigma**2, eps)
    w = np.exp(-(cost - cost.min()) / 0.7)
    w /= w.sum()
    want = np.einsum("k,khm->hm", w, np.clip(us + eps, -1, 1))
    np.testing.assert_allclose(new.us[0], want[1], rtol=1e-5, atol=1e-6)  # shifted by one step
