"""Planning: value transform, n-step targets, mctx search, MuZero and AlphaZero learning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

from jaxrl import envs
from jaxrl.agents.search import alphazero, muzero, selfplay
from jaxrl.losses import (
    categorical_to_scalar,
    inverse_value_transform,
    scalar_to_categorical,
    two_hot,
    two_hot_decode,
    value_transform,
)
from jaxrl.planning import (
    SearchConfig,
    check_deterministic,
    env_root,
    make_env_recurrent_fn,
    run_search,
)

# --- value transform and two-hot -----------------------------------------------------------


def test_value_transform_round_trip():
    x = np.concatenate([np.linspace(-1000, 1000, 20001), np.linspace(-1, 1, 2001), [0.0, 1e-6]])
    x = jnp.asarray(x, jnp.float32)
    np.testing.assert_allclose(inverse_value_transform(value_transform(x)), x, rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    y = jnp.linspace(-40.0, 40.0, 8001)
    np.testing.assert_allclose(value_transform(inverse_value_transform(y)), y, rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    # h(x) = sign(x)(sqrt(|x|+1)-1) + eps x, by hand at x = 3: 2 - 1 + 0.003.
    np.testing.assert_allclose(value_transform(jnp.float32(3.0)), 1.003, rtol=1e-6)
    np.testing.assert_allclose(value_transform(jnp.float32(-3.0)), -1.003, rtol=1e-6)


def test_two_hot_is_exact():
    v_min, v_max, bins = -2.0, 3.0, 11  # spacing 0.5
    xs = jnp.asarray(np.random.default_rng(0).uniform(v_min, v_max, 1000), jnp.float32)
    probs = jax.vmap(lambda x: two_hot(x, v_min, v_max, bins))(xs)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(two_hot_decode(probs, v_min, v_max, bins), xs, atol=1e-6)
    nonzero = np.asarray(probs > 0)
    assert (nonzero.sum(-1) <= 2).all()
    first = nonzero.argmax(-1)
    assert all(nonzero[i, first[i] + 2 :].sum() == 0 for i in range(len(xs)))  # adjacent bins
    # By hand: 0.25 lies halfway between bins 4 (0.0) and 5 (0.5); a bin point is one-hot.
    np.testing.assert_allclose(two_hot(0.25, v_min, v_max, bins)[4:6], [0.5, 0.5])
    np.testing.assert_array_equal(two_hot(1.5, v_min, v_max, bins), np.eye(bins)[7])
    # Out-of-range values clip to the end bins.
    np.testing.assert_array_equal(two_hot(9.0, v_min, v_max, bins), np.eye(bins)[-1])
    # Through h: an exact categorical's logits decode back to the scalar.
    z = jnp.asarray([-37.5, -1.0, 0.0, 0.3, 12.0, 99.0], jnp.float32)
    cat = jax.vmap(lambda v: scalar_to_categorical(v, 100.0, 41))(z)
    np.testing.assert_allclose(categorical_to_scalar(jnp.log(cat + 1e-30), 100.0, 41), z,
                               rtol=1e-4, atol=1e-4)  # fmt: skip


def test_sequence_targets_against_a_loop():
    """MuZero's and AlphaZero's n-step value targets at positions 0..K of a sampled sequence
    of K + n steps, against a Python loop over the definition."""
    rng = np.random.default_rng(1)
    K, n, gamma = 5, 4, 0.9
    L = K + n
    r = rng.normal(size=L).astype(np.float32)
    v_next = rng.normal(size=L).astype(np.float32)
    term = rng.random(L) < 0.15
    trunc = (rng.random(L) < 0.1) & ~term
    disc = gamma * (1.0 - term)
    end = term | trunc
    expected = np.zeros(K + 1)
    for t in range(K + 1):
        g, scale = 0.0, 1.0
        for k in range(n):
            i = t + k
            g += scale * r[i]
            scale *= disc[i]
            if end[i] or k == n - 1:
                g += scale * v_next[i]
                break
        expected[t] = g
    seq = selfplay.Step(obs=jnp.zeros((L, 1)), action=jnp.zeros(L, jnp.int32), reward=r,
                        terminated=term, truncated=trunc, policy=jnp.zeros((L, 2)),
                        value=jnp.zeros(L), next_value=v_next)  # fmt: skip
    got = selfplay.sequence_targets(seq, gamma, n, K)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# --- search on a hand-made deterministic tree ------------------------------------------------


@struct.dataclass
class TreeState(environment.EnvState):
    node: jax.Array


class TwoStepTree(environment.Environment):
    """A 2-step deterministic decision tree with 3 actions (nodes 0; 1-3; 4-12 terminal).

    First step rewards ``[1, 0, 0.5]``: a one-step greedy planner picks action 0. Second
    step: after action 1, action 2 pays 10; every other leaf pays 0 (after action 2: 0.2).
    The optimal plan is action 1 then 2 (return 10).
    """

    deterministic_transitions = True
    R1 = jnp.array([1.0, 0.0, 0.5])
    R2 = jnp.array([[0.0, 0.0, 0.0], [0.0, 0.0, 10.0], [0.2, 0.2, 0.2]])

    @property
    def default_params(self):
        return environment.EnvParams(max_steps_in_episode=2)

    def step_env(self, key, state, action, params):
        node = state.node
        first = node == 0
        reward = jnp.where(first, self.R1[action], self.R2[jnp.clip(node - 1, 0, 2), action])
        nxt = jnp.where(first, 1 + action, 4 + 3 * (node - 1) + action)
        state = TreeState(node=nxt, time=state.time + 1)
        return self.get_obs(state), state, reward, nxt >= 4, {}

    def reset_env(self, key, params):
        state = TreeState(node=jnp.int32(0), time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(state.node, 13)

    def action_space(self, params=None):
        return spaces.Discrete(3)

    def observation_space(self, params):
        return spaces.Box(0, 1, (13,))


def _uniform_predictor(params, obs):
    """An uninformed network: uniform prior, zero value."""
    return jnp.zeros(obs.shape[:-1] + (3,)), jnp.zeros(obs.shape[:-1])


@pytest.mark.parametrize("policy", ["gumbel", "muzero"])
def test_search_with_true_model_picks_optimal_action(policy):
    env = TwoStepTree()
    p = env.default_params
    batch = 8
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(jax.random.key(0), batch), p)
    recurrent_fn = make_env_recurrent_fn(env, p, _uniform_predictor, 1.0)
    root = env_root(_uniform_predictor, None, obs, state)
    # PUCT with a uniform prior and zero values explores slowly: it needs more simulations.
    sims = {"gumbel": 32, "muzero": 256}[policy]
    cfg = SearchConfig(policy=policy, num_simulations=sims)
    out = jax.jit(lambda k: run_search(cfg, None, k, root, recurrent_fn, greedy=True))(
        jax.random.key(1)
    )
    np.testing.assert_array_equal(out.action, 1)
    # The search found the leaf worth 10: action 1's Q (a mean over its visits) is the best.
    q = np.asarray(out.search_tree.qvalues(jnp.zeros(batch, jnp.int32)))
    assert (q[:, 1] > 5.0).all() and (q[:, 1] > q[:, 0]).all(), q
    # A one-step search (depth 1) sees only the first rewards and picks the greedy action 0.
    shallow = SearchConfig(policy=policy, num_simulations=sims, max_depth=1)
    out1 = run_search(shallow, None, jax.random.key(1), root, recurrent_fn, greedy=True)
    np.testing.assert_array_equal(out1.action, 0)


def test_terminal_nodes_are_absorbing():
    env = TwoStepTree()
    p = env.default_params
    _, state = env.reset(jax.random.key(0), p)
    state = jax.tree.map(lambda x: jnp.asarray(x)[None], state)
    rec = make_env_recurrent_fn(env, p, _uniform_predictor, 0.9)
    from jaxrl.planning import EnvEmbedding

    emb = EnvEmbedding(state, jnp.zeros(1, bool))
    out1, emb = rec(None, jax.random.key(0), jnp.array([1]), emb)
    out2, emb = rec(None, jax.random.key(0), jnp.array([2]), emb)
    out3, _ = rec(None, jax.random.key(0), jnp.array([2]), emb)
    np.testing.assert_allclose([out1.reward[0], out1.discount[0]], [0.0, 0.9])
    np.testing.assert_allclose([out2.reward[0], out2.discount[0]], [10.0, 0.0])
    np.testing.assert_allclose([out3.reward[0], out3.discount[0]], [0.0, 0.0])


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [muzero, alphazero])
def test_continuous_actions_rejected(module):
    env, p = envs.make("Pendulum-v1")
    with pytest.raises(ValueError, match="discrete actions"):
        module.make_train(module.CONFIG(), env, p)


def test_stochastic_env_rejected_by_true_simulator_planner():
    env, p = envs.make("SpaceInvaders-MinAtar")
    with pytest.raises(ValueError, match="deterministic"):
        alphazero.make_train(alphazero.CONFIG(), env, p)
    env, p = envs.make("Acrobot-v1", torque_noise_max=0.1)
    with pytest.raises(ValueError, match="torque_noise_max"):
        check_deterministic(env, p)
    check_deterministic(*envs.make("Acrobot-v1"))  # no noise: accepted


@pytest.mark.parametrize(
    "module,field,value,match",
    [
        (muzero, "num_simulations", 0, "num_simulations"),
        (alphazero, "search_policy", "gumbell", "search_policy: .*did you mean 'gumbel'"),
        (muzero, "window", 2, "window"),
        (alphazero, "max_depth", 0, "max_depth"),
        (muzero, "gamma", 1.5, "gamma"),
    ],
)
def test_invalid_config_fails_before_tracing(module, field, value, match):
    env, p = envs.make("CartPole-v1")
    cfg = dataclasses.replace(module.CONFIG(), **{field: value})
    with pytest.raises(ValueError, match=match):
        module.make_train(cfg, env, p)


def test_registered_and_cli_rejects_continuous_env(capsys):
    from jaxrl.cli import main

    assert main(["train", "alphazero", "--env", "Pendulum-v1", "--no-progress"]) == 2
    assert "discrete actions" in capsys.readouterr().err
