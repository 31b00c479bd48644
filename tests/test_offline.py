"""Offline learners: update rules against hand-computed values, and learning from a dataset
with several seeds vmapped in one compile.

The learning tests' dataset is made in seconds by a scripted Pendulum controller (energy
pumping, then a PD controller near the top, with Gaussian action noise), which gets about
-140 a episode against about -1240 for random actions: an expert dataset without training
an expert.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs as jenvs
from jaxrl import registry
from jaxrl.datasets import normalized_score, write
from jaxrl.datasets.collect import rollout
from jaxrl.datasets.training import env_spaces
from jaxrl.losses import awr_weight, cql_penalty, expectile_loss, td3_bc_actor_loss
from jaxrl.run import evaluate_params, run_seeds, saved_policies
from jaxrl.run.baseline import random_policy_return

SEEDS = 8


def controller(noise, obs, key):
    """Swing-up by energy pumping, PD control near the top; actions in the env's units."""
    c, w = obs[:, 0], obs[:, 2]
    theta = jnp.arctan2(obs[:, 1], c)
    energy = 0.5 * w**2 + 15.0 * (c - 1.0)  # 0 at rest upright (3 g / 2 l = 15)
    u = jnp.where(c > 0.85, -10.0 * theta - 2.0 * w, -energy * w)
    u = jnp.clip(u, -2.0, 2.0) + noise * jax.random.normal(key, u.shape)
    return jnp.clip(u, -2.0, 2.0)[:, None]


@pytest.fixture(scope="module")
def expert(tmp_path_factory):
    """``(path, (random return, expert return))`` of 20 episodes of the controller."""
    env, params = jenvs.make("Pendulum-v1")
    d = rollout(env, params, controller, 0.3, jax.random.key(0), num_envs=20, size=4_000)
    refs = (random_policy_return(env, params, episodes=64), float(d.episode_returns().mean()))
    d = dataclasses.replace(d, metadata={"ref_min_score": refs[0], "ref_max_score": refs[1]})
    path = tmp_path_factory.mktemp("offline") / "expert"
    obs_space, act_space = env_spaces(env, params)
    write(path, d, observation_space=obs_space, action_space=act_space)
    assert refs[1] > refs[0] + 900
    return path, refs


def train_scores(algo, path, refs, hp=None, **config):
    """Normalised scores of ``SEEDS`` runs (one compile), 16 greedy episodes each."""
    module = registry.algorithm(algo)
    env, params = jenvs.make("Pendulum-v1")
    learner = module.make_learner(module.CONFIG(dataset=str(path), **config), env, params)
    result = run_seeds(learner, SEEDS, learner.hparams._replace(**(hp or {})))
    returns = evaluate_params(learner, saved_policies(learner, result.output.state),
                              episodes=16, greedy=True, seed=1)  # fmt: skip
    return normalized_score(returns, *refs), result


SMALL = {"hidden": (64, 64), "batch_size": 128, "eval_episodes": 1}


# ---- update rules against hand-computed values -----------------------------------------------


def test_expectile_loss_by_hand():
    diff = jnp.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    np.testing.assert_allclose(expectile_loss(diff, 0.7),
                               [0.3 * 4, 0.3 * 0.25, 0.0, 0.7 * 1, 0.7 * 9], rtol=1e-6)  # fmt: skip
    # tau = 0.5 is half the squared error; the minimiser of the mean is the tau-expectile
    np.testing.assert_allclose(expectile_loss(diff, 0.5), 0.5 * diff**2, rtol=1e-6)
    q = jnp.array([0.0, 1.0, 4.0])
    vs = jnp.linspace(0.0, 4.0, 4001)
    best = vs[jnp.argmin(jax.vmap(lambda v: expectile_loss(q - v, 0.9).mean())(vs))]
    # the 0.9-expectile m of {0, 1, 4}: 0.9 (4 - m) = 0.1 (m + (m - 1)) -> m = 3.7 / 1.1
    assert float(best) == pytest.approx(3.7 / 1.1, abs=1e-3)


def test_awr_weight_by_hand():
    a = jnp.array([-1.0, 0.0, 0.5, 10.0])
    np.testing.assert_allclose(awr_weight(a, 3.0, 100.0),
                               [math.exp(-3), 1.0, math.exp(1.5), 100.0], rtol=1e-6)  # fmt: skip


def test_cql_penalty_by_hand():
    q_rand = jnp.array([1.0, 2.0])
    q_pi, logp_pi = jnp.array([0.5, 3.0]), jnp.array([-1.0, 0.2])
    q_nx, logp_nx = jnp.array([1.5, -1.0]), jnp.array([0.0, -2.0])
    d = 2
    logits = [1.0 - d * math.log(0.5), 2.0 - d * math.log(0.5), 0.5 + 1.0, 3.0 - 0.2,
              1.5 - 0.0, -1.0 + 2.0]  # fmt: skip
    expected = math.log(sum(math.exp(x) for x in logits)) - 0.7
    got = cql_penalty(q_rand, q_pi, logp_pi, q_nx, logp_nx, jnp.array(0.7), d)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # the regulariser's gradient pushes the data's Q up and the sampled actions' down
    g = jax.grad(lambda qd, qr: cql_penalty(qr, q_pi, logp_pi, q_nx, logp_nx, qd, d),
                 argnums=(0, 1))(jnp.array(0.7), q_rand)  # fmt: skip
    assert float(g[0]) == -1.0 and bool(jnp.all(g[1] > 0))


def test_td3_bc_actor_loss_by_hand():
    q = jnp.array([2.0, -4.0])
    pi = jnp.array([[0.5, 0.0], [-1.0, 1.0]])
    a = jnp.array([[0.0, 0.0], [-1.0, 0.0]])
    lam = 2.5 / 3.0  # alpha / mean |Q|
    expected = -lam * (-1.0) + (0.25 + 0.0 + 0.0 + 1.0) / 4
    assert float(td3_bc_actor_loss(q, pi, a, 2.5)) == pytest.approx(expected, rel=1e-6)
    # lambda is a constant of the gradient: d/dq = -lam / B
    g = jax.grad(lambda q: td3_bc_actor_loss(q, pi, a, 2.5))(q)
    np.testing.assert_allclose(g, [-lam / 2, -lam / 2], rtol=1e-6)


# ---- learning from the scripted expert's data ------------------------------------------------


def test_bc_clones_the_expert(expert):
    path, refs = expert
    scores, result = train_scores("bc", path, refs, total_steps=1_500, log_every=1_500, **SMALL)
    assert result.output.metrics["bc_loss"].shape == (SEEDS, 1)
    assert (scores >= 80).sum() >= 7, np.round(scores, 1)


def test_td3_bc_learns_from_the_expert(expert):
    path, refs = expert
    scores, result = train_scores("td3_bc", path, refs, total_steps=4_000, log_every=4_000,
                                  **SMALL)  # fmt: skip
    assert np.all(np.isfinite(result.output.metrics["q_start"]))
    assert (scores >= 70).sum() >= 7, np.round(scores, 1)


def test_iql_learns_from_the_expert(expert):
    """IQL's whole update (expectile value, twin critics, advantage-weighted actor) at a low
    temperature. At the paper's temperature 3 with its reward scaling (1000 / the spread of
    episode returns, large on this narrow dataset) the advantage weights saturate and 4,000
    steps reach an IQM of about 33 only; BENCHMARKS.md has IQL at its defaults on larger
    datasets."""
    path, refs = expert
    scores, result = train_scores("iql", path, refs, hp={"actor_lr": 1e-3, "temperature": 0.1},
                                  total_steps=3_000, log_every=3_000, **SMALL)  # fmt: skip
    assert np.all(np.isfinite(result.output.metrics["q_start"]))
    assert (scores >= 80).sum() >= 7, np.round(scores, 1)


def test_naive_offline_td3_fails_where_td3_bc_learns(expert):
    """The control: TD3 with nothing added, on the same expert data, budget and networks
    as the TD3+BC test, stays far below it (extrapolation error), and its critics' value at
    the start states is finite."""
    path, refs = expert
    scores, result = train_scores("td3_offline", path, refs, total_steps=4_000,
                                  log_every=4_000, **SMALL)  # fmt: skip
    assert np.all(np.isfinite(result.output.metrics["q_start"]))
    assert (scores < 50).sum() >= 7, np.round(scores, 1)


def test_cql_regulariser_makes_the_critics_conservative(expert):
    """CQL with ``cql_alpha`` 0 (naive SAC without the entropy backup) and 5 on the same
    seeds, in one compile: on every seed the regulariser widens the critics' gap between the
    dataset's actions and uniformly random ones at the dataset's states (Q pushed up on the
    data, down elsewhere)."""
    from jaxrl.networks import apply_ensemble

    path, refs = expert
    module = registry.algorithm("cql")
    env, params = jenvs.make("Pendulum-v1")
    config = module.CONFIG(dataset=str(path), total_steps=300, log_every=300, n_actions=4,
                           hidden=(32, 32), batch_size=64, eval_episodes=1)  # fmt: skip
    learner = module.make_learner(config, env, params)
    alphas = np.array([0.0] * 4 + [5.0] * 4, np.float32)
    hp = learner.hparams._replace(cql_alpha=alphas)
    result = run_seeds(learner, 8, hp, key_ids=np.array([0, 1, 2, 3] * 2))
    assert np.all(np.isfinite(result.output.metrics["q_start"]))
    obs, action = learner.data["obs"][:1000], learner.data["action"][:1000]
    uniform = jax.random.uniform(jax.random.key(1), action.shape, minval=-1.0, maxval=1.0)

    def gap(critic):
        def q(a):
            x = jnp.concatenate([obs, a], -1)
            return apply_ensemble(critic, x, "relu")[..., 0].min(0).mean()

        return q(action) - q(uniform)

    gaps = np.asarray(jax.vmap(gap)(result.output.state.agent["critic"]))
    # measured: about 0.15 without the regulariser, 0.45-0.57 with it
    assert np.all(gaps[4:] > 1.5 * gaps[:4]) and np.all(gaps[4:] > gaps[:4] + 0.15), gaps
