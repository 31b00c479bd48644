import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.memory import bandits
from jaxrl.envs import meta
from jaxrl.run.evaluate import play

MEANS = np.array([0.3, 0.5, 0.7], np.float32)
PULLS, TRIALS = 200, 2000


def fixed_problem():
    """A trial of 200 pulls of three arms whose means are always 0.3, 0.5 and 0.7."""
    arms = meta.BernoulliArms(3)
    return envs.as_trial(arms, meta.BanditParams(jnp.asarray(MEANS)), PULLS)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _play(policy, params, env, pulls, env_params, key):
    venv = envs.stack(env, env_params, TRIALS)
    return play(policy, params, venv, env_params, key, pulls).action


def pseudo_regret(policy_and_params, env, env_params, means, key=0):
    """Mean over trials of sum_t (max mean - mean of the pulled arm), and its standard error."""
    policy, params = policy_and_params
    actions = np.asarray(_play(policy, params, env, env_params.max_steps_in_episode, env_params,
                               jax.random.key(key)))  # fmt: skip
    regret = (means.max() - means[actions]).sum(axis=0)
    return regret.mean(), regret.std() / np.sqrt(len(regret))


def numpy_regret(choose, seed=0):
    """The same problem by a plain numpy loop over trials and pulls."""
    rng = np.random.default_rng(seed)
    regrets = []
    for _ in range(TRIALS):
        s, f, regret = np.zeros(3), np.zeros(3), 0.0
        for t in range(PULLS):
            arm = choose(s, f, t, rng)
            reward = rng.random() < MEANS[arm]
            s[arm] += reward
            f[arm] += 1 - reward
            regret += MEANS.max() - MEANS[arm]
        regrets.append(regret)
    return np.mean(regrets), np.std(regrets) / np.sqrt(TRIALS)


def argmax_ties(x, rng):
    return rng.choice(np.flatnonzero(x == x.max()))


def ucb1_numpy(s, f, t, rng):
    n = s + f
    if (n == 0).any():
        return argmax_ties((n == 0).astype(float), rng)
    return argmax_ties(s / n + np.sqrt(2 * np.log(t) / n), rng)


def thompson_numpy(s, f, t, rng):
    return argmax_ties(rng.beta(s + 1, f + 1), rng)


@pytest.mark.parametrize("name,numpy_choose", [("ucb1", ucb1_numpy),
                                               ("thompson", thompson_numpy)])  # fmt: skip
def test_regret_matches_a_numpy_loop_on_a_fixed_problem(name, numpy_choose):
    """UCB1 (Auer et al. 2002, c = 1) and Thompson sampling on arms 0.3 / 0.5 / 0.7 for 200
    pulls: the jitted policy's mean pseudo-regret over 2000 trials equals a plain numpy
    loop's within 4 standard errors (and each is far from the other strategy's)."""
    env, p = fixed_problem()
    make = {"ucb1": bandits.ucb1_policy, "thompson": bandits.thompson_policy}[name]
    ours, ours_se = pseudo_regret(make(3), env, p, MEANS)
    ref, ref_se = numpy_regret(numpy_choose)
    assert abs(ours - ref) < 4 * np.hypot(ours_se, ref_se), (ours, ref)
    # UCB1 explores much more than Thompson sampling here (regret ~18.5 against ~9).
    assert (ours > 15) if name == "ucb1" else (ours < 12), ours


def test_gittins_indices_match_published_values():
    """Gittins' tables (Gittins, Glazebrook & Weber 2011, Bernoulli arm, uniform prior):
    Beta(1, 1) at gamma 0.9: 0.7029, Beta(2, 1): 0.8001, Beta(1, 2): 0.5001; Beta(1, 1) at
    gamma 0.99: 0.8699."""
    g9 = bandits.gittins_indices(4, 0.9)
    np.testing.assert_allclose([g9[0, 0], g9[1, 0], g9[0, 1]], [0.7029, 0.8001, 0.5001],
                               atol=1e-4)  # fmt: skip
    assert abs(bandits.gittins_indices(2, 0.99)[0, 0] - 0.8699) < 1e-4
    # More successes raise the index, more failures lower it; it exceeds the posterior mean.
    assert (np.diff(g9[:3, 0]) > 0).all() and (np.diff(g9[0, :3]) < 0).all()
    assert g9[0, 0] > 0.5 and np.isnan(g9[4, 1])


def brute_force_value(n):
    @functools.cache
    def v(s0, f0, s1, f1):
        if s0 + f0 + s1 + f1 == n:
            return 0.0
        p0, p1 = (s0 + 1) / (s0 + f0 + 2), (s1 + 1) / (s1 + f1 + 2)
        q0 = p0 * (1 + v(s0 + 1, f0, s1, f1)) + (1 - p0) * v(s0, f0 + 1, s1, f1)
        q1 = p1 * (1 + v(s0, f0, s1 + 1, f1)) + (1 - p1) * v(s0, f0, s1, f1 + 1)
        return max(q0, q1)

    return v(0, 0, 0, 0)


def test_bayes_optimal_two_arm_value_by_hand():
    """Two pulls: the first pays 1/2; after a success the same arm (mean 2/3), after a failure
    the other (1/2): 1/2 + 1/2 * 2/3 + 1/2 * 1/2 = 13/12. Longer trials against a memoised
    recursion over the four counts."""
    assert bandits.bayes_optimal_two_arms(2).value == pytest.approx(13 / 12)
    for n in (1, 5, 9):
        assert bandits.bayes_optimal_two_arms(n).value == pytest.approx(brute_force_value(n))
    with pytest.raises(ValueError, match="num_pulls"):
        bandits.bayes_optimal_two_arms(201)


def test_bayes_optimal_policy_earns_its_value_and_beats_the_others():
    """Played on 2000 random two-armed trials of 20 pulls (the same trials for every
    strategy), the DP policy's mean return matches the DP's value within 4 standard errors,
    and no other strategy earns more on these trials."""
    env, p = envs.make("BernoulliBandit-k2-n20")
    venv = envs.stack(env, p, TRIALS)
    key = jax.random.key(3)

    @functools.partial(jax.jit, static_argnums=0)
    def returns(policy, params):
        steps = play(policy, params, venv, p, key, 20)
        return steps.reward.sum(axis=0)

    table = bandits.bayes_optimal_two_arms(20)
    optimal = np.asarray(returns(*bandits.bayes_optimal_policy(20)))
    se = optimal.std() / np.sqrt(TRIALS)
    assert abs(optimal.mean() - table.value) < 4 * se, (optimal.mean(), table.value)
    for policy, params in [bandits.thompson_policy(2), bandits.greedy_policy(2),
                           bandits.ucb1_policy(2), bandits.random_policy(2),
                           bandits.gittins_policy(2, 20, 0.9)]:  # fmt: skip
        assert np.asarray(returns(policy, params)).mean() <= optimal.mean() + 0.05


def test_strategies_meet_the_same_trials_and_the_same_luck():
    """Two strategies played with the same key pull the same arms' coins: wherever they pull
    the same arm at the same step of the same trial, they get the same reward."""
    env, p = envs.make("BernoulliBandit-k5-n50")
    venv = envs.stack(env, p, 256)
    a = play(*bandits.thompson_policy(5), venv, p, jax.random.key(1), 50)
    b = play(*bandits.ucb1_policy(5), venv, p, jax.random.key(1), 50)
    same = np.asarray(a.action == b.action)
    assert same.mean() > 0.2
    np.testing.assert_array_equal(np.asarray(a.reward)[same], np.asarray(b.reward)[same])


def test_counts_follow_the_observations_by_hand():
    policy, params = bandits.greedy_policy(3)
    carry = policy.init_carry(1)
    # previous arm (one-hot), previous reward, done flag
    for arm, reward in [(None, 0.0), (2, 1.0), (2, 0.0), (0, 1.0), (2, 1.0)]:
        onehot = np.zeros(3) if arm is None else np.eye(3)[arm]
        obs = jnp.asarray([[*onehot, reward, float(arm is not None)]], jnp.float32)
        action, carry = policy.act(params, obs, jax.random.key(0), carry, None, True)
    np.testing.assert_array_equal(carry.successes, [[1, 0, 2]])
    np.testing.assert_array_equal(carry.failures, [[0, 0, 1]])
    assert int(action[0]) == 0  # posterior means 2/3, 1/2, 3/5
