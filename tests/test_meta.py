import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs import meta


def test_bandit_trial_by_hand():
    """k=3 arms, n=4 pulls: the observation is (one-hot previous arm, previous reward, done),
    zero at the start; each reward is ``u < p[arm]`` with ``u`` from the step's key; the
    means hold through the trial, which terminates at the 4th pull and not before."""
    env, p = envs.make("BernoulliBandit-k3-n4")
    assert isinstance(env, envs.Trial) and p.max_steps_in_episode == 4
    obs, state = env.reset(jax.random.key(0), p)
    np.testing.assert_array_equal(obs, np.zeros(5))
    means = np.asarray(state.task.means)
    assert means.shape == (3,) and ((means >= 0) & (means <= 1)).all()
    step = jax.jit(env.transition)
    for t, arm in enumerate([0, 2, 2, 1]):
        key = jax.random.key(10 + t)
        obs, state, reward, terminated, truncated, _ = step(key, state, jnp.int32(arm), p)
        u = jax.random.uniform(jax.random.split(key)[0])
        assert float(reward) == float(u < means[arm])
        np.testing.assert_array_equal(obs, [*np.eye(3)[arm], float(reward), 1.0])
        np.testing.assert_array_equal(state.task.means, means)
        assert bool(terminated) == (t == 3) and not bool(truncated)


def test_bandit_means_are_redrawn_uniformly_at_each_trial():
    env, p = envs.make("BernoulliBandit-k5-n2")
    venv = envs.stack(env, p, 4096)
    _, state = venv.reset(jax.random.key(0), p)
    first = np.asarray(state.env_state.task.means)
    assert abs(first.mean() - 0.5) < 0.01 and abs(first.var() - 1 / 12) < 0.003
    step = jax.jit(venv.step)
    for t in range(2):  # a trial of 2 pulls ends, and the next trial begins
        _, state, _, terminated, _, _ = step(jax.random.key(t), state, jnp.zeros(4096, jnp.int32),
                                             p)  # fmt: skip
    assert bool(terminated.all())
    second = np.asarray(state.env_state.task.means)
    assert not np.isclose(first, second).any()


def test_trial_of_several_episodes_by_hand():
    """MemoryChain with memory_length 1 has 2-step episodes; a trial of 3 of them lasts 6
    steps: the done flag is set after steps 2, 4 and 6, the inner env restarts after steps 2
    and 4 (its observation shows the context again), and only step 6 ends the trial."""
    inner, inner_p = envs.make("MemoryChain-bsuite", memory_length=1)
    env, p = envs.as_trial(inner, inner_p, 3)
    assert p.max_steps_in_episode == 3 * inner_p.max_steps_in_episode
    obs, state = env.reset(jax.random.key(0), p)
    assert obs.shape == (3 + 2 + 2,) and env.observation_space(p).shape == (7,)
    rewards = []
    for t in range(6):
        action = jnp.int32(t % 2)
        obs, state, reward, terminated, _, info = env.transition(jax.random.key(t), state,
                                                                 action, p)  # fmt: skip
        ended = t % 2 == 1
        assert bool(info["inner_done"]) == ended
        np.testing.assert_array_equal(obs[3:], [*np.eye(2)[t % 2], float(reward), float(ended)])
        if ended and t < 5:
            assert obs[0] == 1.0 and obs[2] != 0.0  # a fresh episode: the context is shown
        assert bool(terminated) == (t == 5)
        rewards.append(float(reward))
    assert int(state.episode) == 3
    assert sum(abs(r) for r in rewards) == 3.0  # each episode's last step pays +-1


def test_episode_statistics_count_the_whole_trial():
    inner, inner_p = envs.make("MemoryChain-bsuite", memory_length=1)
    env, p = envs.as_trial(inner, inner_p, 3)
    venv = envs.stack(env, p, 2)
    _, state = venv.reset(jax.random.key(0), p)
    total = np.zeros(2)
    for t in range(6):
        _, state, reward, _, _, info = venv.step(jax.random.key(t), state,
                                                 jnp.zeros(2, jnp.int32), p)  # fmt: skip
        total += np.asarray(reward)
        assert bool(info["returned_episode"].all()) == (t == 5)
    np.testing.assert_allclose(info["episode_return"], total)


def test_masked_cartpole_shows_positions_only():
    full, p = envs.make("CartPole-v1")
    masked, p2 = envs.make("CartPoleNoVel-v1")
    assert masked.observation_space(p2).shape == (2,)
    a, b = envs.stack(full, p, 2), envs.stack(masked, p2, 2)
    (oa, sa), (ob, sb) = a.reset(jax.random.key(0), p), b.reset(jax.random.key(0), p2)
    for t in range(60):  # through episode ends and automatic resets
        np.testing.assert_array_equal(ob, oa[:, [0, 2]])
        key, action = jax.random.key(t), jnp.array([1, t % 2])
        oa, sa, *_ = a.step(key, sa, action, p)
        ob, sb, *_ = b.step(key, sb, action, p2)
    pend, pp = envs.make("PendulumNoVel-v1")
    assert pend.observation_space(pp).shape == (2,)


def test_names_and_bad_input():
    names = envs.list_envs(include_optional=False)
    for name in ("BernoulliBandit-k10-n100", "CartPoleNoVel-v1", "PendulumNoVel-v1"):
        assert name in names
    env, p = envs.make("BernoulliBandit-k7-n33")  # any k >= 2, n >= 1
    assert env.action_space(p).n == 7 and p.max_steps_in_episode == 33
    with pytest.raises(ValueError, match="num_arms"):
        envs.make("BernoulliBandit-k1-n10")
    with pytest.raises(ValueError, match="episodes"):
        meta.Trial(env, 0)
    with pytest.raises(ValueError, match="keep"):
        envs.MaskObservation(env, ())
