import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.memory import ppo_rnn, rl2
from jaxrl.agents.memory.ppo_rnn import PPORNNState, RecurrentActorCritic
from jaxrl.learner import Policy
from jaxrl.networks.recurrent import Core
from jaxrl.run import evaluate_params, run_seeds, saved_policies
from jaxrl.run.evaluate import play


def test_rollout_keeps_the_carry_within_a_trial_and_resets_it_between_trials():
    """Trials of 3 pulls: every pull ends an inner episode (the done flag is set), but the
    carry resets only before steps 3 and 6, where a trial begins; the recorded values are
    those of a hand-run loop doing exactly that, and the training unroll reproduces them."""
    env, p = envs.make("BernoulliBandit-k3-n3")
    venv = envs.stack(env, p, 2)
    core = Core("gru", 4)
    net = RecurrentActorCritic(core, True, "relu")
    params = net.init(jax.random.key(0), 5, 3, (), (4,))
    obs, env_state = venv.reset(jax.random.key(1), p)
    start = core.initial_carry(2) + 0.3
    state = PPORNNState(params=params, opt_state=None, env_state=env_state, obs=obs, carry=start,
                        done=jnp.zeros(2, bool), key=None, last_return=jnp.zeros(()))  # fmt: skip
    _, traj = ppo_rnn.collect_rollout(net, venv, params, state, jax.random.key(2), 7, p)
    expected = np.array([0, 0, 0, 1, 0, 0, 1], bool)
    np.testing.assert_array_equal(traj.reset, np.stack([expected] * 2, 1))
    # The done flag is set after every pull, but a trial's first observation is all zeros.
    np.testing.assert_array_equal(traj.obs[:, 0, -1], [0, 1, 1, 0, 1, 1, 0])
    for b in range(2):
        c = start[b]
        for t in range(7):
            if expected[t]:
                c = core.initial_carry()
            c, _, value = net.step(params, c, traj.obs[t, b])
            np.testing.assert_allclose(value, traj.value[t, b], rtol=1e-5, atol=1e-6)
    _, _, value = net.unroll(params, start, traj.obs, traj.reset)
    np.testing.assert_allclose(value, traj.value, rtol=1e-5, atol=1e-6)


def test_evaluation_resets_the_carry_between_trials_only():
    """A policy whose carry counts its steps and pulls arm ``count mod 3``: in the evaluation
    loop on trials of 4 pulls it pulls 0, 1, 2, 0 in every trial."""

    def act(params, obs, key, carry, env_state, greedy):
        return (carry % 3).astype(jnp.int32), carry + 1

    policy = Policy(act, lambda n: jnp.zeros(n, jnp.int32))
    env, p = envs.make("BernoulliBandit-k3-n4")
    steps = play(policy, None, envs.stack(env, p, 2), p, jax.random.key(0), 12)
    np.testing.assert_array_equal(steps.action[:, 0], [0, 1, 2, 0] * 3)
    np.testing.assert_array_equal(steps.ended[:, 0], [0, 0, 0, 1] * 3)


BANDIT = rl2.RL2Config(total_steps=100_000, num_envs=64, num_steps=20, core_size=32, head=(32,))


def test_rl2_learns_to_exploit_two_armed_bandits():
    """Two arms drawn U[0, 1] per trial of 10 pulls: random pulls earn 5.0, the Bayes-optimal
    policy 6.02 (:func:`bandits.bayes_optimal_two_arms`). 8 seeds in one compile, 1e5 steps
    each: >= 7 of them earn >= 5.6 per trial over 1000 new trials (sampled actions)."""
    env, p = envs.make("BernoulliBandit-k2-n10")
    learner = rl2.make_learner(BANDIT, env, p)
    res = run_seeds(learner, 8, learner.hparams, seed=0)
    returns = evaluate_params(learner, saved_policies(learner, res.output.state),
                              episodes=1000, greedy=False)  # fmt: skip
    assert (returns >= 5.6).sum() >= 7, returns


def test_other_envs_are_wrapped_into_trials():
    env, p = envs.make("MemoryChain-bsuite", memory_length=1)
    cfg = dataclasses.replace(BANDIT, total_steps=256, num_envs=4, num_steps=8,
                              num_minibatches=2, episodes_per_trial=3)  # fmt: skip
    learner = rl2.make_learner(cfg, env, p)
    assert isinstance(learner.env, envs.Trial) and learner.env.episodes == 3
    assert learner.env.observation_space(learner.env_params).shape == (3 + 2 + 2,)
    res = run_seeds(learner, 1, learner.hparams)
    assert np.isfinite(res.output.metrics["loss"]).all()
    bandit, bp = envs.make("BernoulliBandit-k2-n10")
    with pytest.raises(ValueError, match="episodes_per_trial"):
        rl2.make_learner(cfg, bandit, bp)
    with pytest.raises(ValueError, match="episodes_per_trial"):
        rl2.make_learner(dataclasses.replace(cfg, episodes_per_trial=0), env, p)


def test_rollouts_shorter_than_a_trial_warn():
    """Rollouts that cut bandit trials of 30 pulls warn and name the length that does not;
    rollouts of whole trials do not warn."""
    env, p = envs.make("BernoulliBandit-k2-n30")
    with pytest.warns(UserWarning, match="num_steps >= 30"):
        rl2.make_learner(BANDIT, env, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rl2.make_learner(dataclasses.replace(BANDIT, num_steps=30), env, p)
