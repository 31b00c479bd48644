"""GAIL and AIRL: the discriminators' logits, rewards and loss by hand on tiny inputs, the
demonstration file, and learning on the boat race from finishing demonstrations (where the
env's own reward would be gamed)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import demos as jdemos
from jaxrl import envs
from jaxrl.agents.inverse import adversarial, airl, gail
from jaxrl.agents.inverse.adversarial import Discriminator, Sample
from jaxrl.envs import boat_race
from jaxrl.learner import Policy
from jaxrl.run import evaluate_params, run_seeds, saved_policies


def linear(w, b):
    """A one-layer MLP (no hidden layer): ``x @ w + b``."""
    return [{"kernel": jnp.asarray(w, jnp.float32)[:, None], "bias": jnp.asarray([b], jnp.float32)}]


def sample(obs, action, next_obs, terminated, log_pi):
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return Sample(f32(obs), f32(action), f32(next_obs), jnp.asarray(terminated), f32(log_pi))


# two transitions: the second ends by termination (h(s') = 0)
S = sample([[1.0, 2.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [[3.0, -1.0], [2.0, 2.0]],
           [False, True], [-0.7, -1.2])  # fmt: skip
G = linear([1.0, 2.0], 0.5)  # g(s) = s0 + 2 s1 + 0.5
H = linear([-1.0, 0.5], 0.25)  # h(s) = -s0 + 0.5 s1 + 0.25


def test_airl_f_is_g_plus_gamma_h_next_minus_h_by_hand():
    """f(s, a, s') = g(s) + gamma h(s') - h(s), h(s') = 0 after termination; the logit is
    f - log pi, i.e. D = exp f / (exp f + pi); the policy's reward is f, or f - log pi with
    entropy_reward."""
    disc = Discriminator("airl", state_only=True, activation="tanh")
    params = {"g": G, "h": H}
    gamma = 0.9
    # by hand: g = 5.5, 2.5; h(s) = 0.25, 0.75; h(s') = -3.25, (terminated) 0
    f_want = np.array([5.5 + 0.9 * -3.25 - 0.25, 2.5 + 0.0 - 0.75])
    np.testing.assert_allclose(disc.f(params, S, gamma), f_want, rtol=1e-6)
    logit = disc.logit(params, S, gamma)
    np.testing.assert_allclose(logit, f_want - np.array([-0.7, -1.2]), rtol=1e-6)
    pi = np.exp([-0.7, -1.2])
    np.testing.assert_allclose(jax.nn.sigmoid(logit), np.exp(f_want) / (np.exp(f_want) + pi),
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(disc.reward(params, S, gamma), f_want, rtol=1e-6)
    with_entropy = disc._replace(entropy_reward=True)  # AIRLConfig.entropy_reward
    np.testing.assert_allclose(with_entropy.reward(params, S, gamma), f_want + [0.7, 1.2],
                               rtol=1e-6)  # fmt: skip
    # a constant added to h changes nothing but gamma-scaled terms: h + c gives f + (gamma - 1) c
    # on the non-terminal transition, and -c on the terminal one
    shifted = {"g": G, "h": linear([-1.0, 0.5], 1.25)}
    np.testing.assert_allclose(disc.f(shifted, S, gamma), f_want + [-0.1, -1.0], rtol=1e-5)


def test_absorbing_state_by_hand():
    """With absorbing: a flag input marks the absorbing state (observation zeroed); a
    terminated transition's s' is it, h(s') = h(absorbing); each terminated transition brings
    an absorbing -> absorbing twin into the loss; a termination is worth
    gamma / (1 - gamma) f(absorbing -> absorbing) more."""
    disc = Discriminator("airl", state_only=True, activation="tanh", absorbing=True)
    g = linear([1.0, 2.0, 3.0], 0.5)  # g(x) = s0 + 2 s1 + 3 flag + 0.5
    h = linear([-1.0, 0.5, -2.0], 0.25)
    params, gamma = {"g": g, "h": h}, 0.9
    s = S._replace(absorbing=jnp.array([False, False]))
    # h(absorbing) = -2 + 0.25; g(absorbing) = 3.5
    h_abs, g_abs = -1.75, 3.5
    f_want = np.array([5.5 + 0.9 * -3.25 - 0.25, 2.5 + 0.9 * h_abs - 0.75])
    np.testing.assert_allclose(disc.f(params, s, gamma), f_want, rtol=1e-6)
    f_abs = g_abs + 0.9 * h_abs - h_abs
    np.testing.assert_allclose(disc.absorbing_return(params, gamma, 2, 2), 9.0 * f_abs, rtol=1e-5)

    hp = adversarial.AdversarialHParams(gamma=gamma, grad_penalty=0.0)
    policy = s._replace(terminated=jnp.array([False, False]))
    total, stats = adversarial.discriminator_loss(disc, params, s, policy, hp)
    sp = lambda x: np.log1p(np.exp(x))  # noqa: E731
    l_e = np.array([*(f_want + [0.7, 1.2]), f_abs])  # the second expert transition's twin
    l_p = f_want + [0.7, 1.2]
    l_p[1] = 2.5 + 0.9 * (-2.0 + 1.0 + 0.25) - 0.75 + 1.2  # not terminated: h(s') of s'
    want = np.mean(sp(-l_e)) + np.mean(sp(l_p))
    np.testing.assert_allclose(total, want, rtol=1e-5)


def test_airl_g_of_state_and_action_unless_state_only():
    disc = Discriminator("airl", state_only=False, activation="tanh")
    params = {"g": linear([1.0, 2.0, 3.0, -1.0], 0.0), "h": linear([0.0, 0.0], 0.0)}
    np.testing.assert_allclose(disc.f(params, S, 0.9), [5.0 + 3.0, 2.0 - 1.0], rtol=1e-6)


def test_gail_logit_reward_and_loss_by_hand():
    """D = sigmoid(D_net(s, a)); reward -log(1 - D); loss -mean log D(expert) - mean
    log(1 - D(policy)) + grad_penalty * mean |d logit / d input|^2."""
    disc = Discriminator("gail", state_only=False, activation="tanh")
    params = {"g": linear([1.0, -1.0, 0.5, 0.0], 0.1)}
    logit = disc.logit(params, S, 0.99)
    np.testing.assert_allclose(logit, [1.0 - 2.0 + 0.5 + 0.1, 0.0 - 1.0 + 0.0 + 0.1], rtol=1e-6)
    d = jax.nn.sigmoid(logit)
    np.testing.assert_allclose(disc.reward(params, S, 0.99), -np.log(1.0 - d), rtol=1e-5)

    expert, policy = S, S._replace(obs=S.obs + 1.0)
    hp = adversarial.AdversarialHParams(grad_penalty=2.0)
    total, stats = adversarial.discriminator_loss(disc, params, expert, policy, hp)
    d_e = jax.nn.sigmoid(disc.logit(params, expert, 0.99))
    d_p = jax.nn.sigmoid(disc.logit(params, policy, 0.99))
    bce = -np.mean(np.log(d_e)) - np.mean(np.log(1.0 - d_p))
    penalty = 1.0 + 1.0 + 0.25  # |w|^2: the logit's gradient in (s, a), the same everywhere
    np.testing.assert_allclose(stats[0], bce, rtol=1e-5)
    np.testing.assert_allclose(total, bce + 2.0 * penalty, rtol=1e-5)
    np.testing.assert_allclose(stats[1:], [np.mean(d_e > 0.5), np.mean(d_p < 0.5)])


def test_action_features():
    cartpole = envs.action_spec(*envs.make("CartPole-v1"))
    np.testing.assert_array_equal(adversarial.action_features(cartpole, jnp.array([1, 0])),
                                  [[0, 1], [1, 0]])  # fmt: skip
    pendulum = envs.action_spec(*envs.make("Pendulum-v1"))  # torque in [-2, 2]
    np.testing.assert_allclose(
        adversarial.action_features(pendulum, jnp.array([[2.0], [-1.0], [5.0]])),
        [[1.0], [-0.5], [1.0]],
    )


FINISHER = Policy(lambda p, obs, key, carry, env_state, greedy: (
    boat_race.finishing_action(boat_race.cell_of(obs)), carry))  # fmt: skip


@pytest.fixture(scope="module")
def boat_demos(tmp_path_factory):
    """12 episodes of the shortest way to the finish, as a demonstration file."""
    env, p = envs.make("BoatRace-v0")
    out = jax.jit(lambda k: jdemos.record(FINISHER, None, env, p, k, 12, 40))(jax.random.key(0))
    flat, returns = jdemos.flatten(*out)
    path = tmp_path_factory.mktemp("demos") / "boat.npz"
    jdemos.save(path, flat, returns, "BoatRace-v0")
    return path


def test_demonstration_file_round_trip_and_errors(boat_demos, tmp_path):
    full = jdemos.load(boat_demos)
    assert full.env == "BoatRace-v0"
    assert full.demos.size == 12 * 40 and len(full.episode_returns) == 12
    np.testing.assert_allclose(full.episode_returns, 5.0)  # finishing pays 5, once
    assert full.demos.action.dtype == np.int32 and full.demos.done.sum() == 12
    assert not full.demos.terminated.any()  # time limits only
    # next_observations are the next step's observations within an episode
    np.testing.assert_array_equal(full.demos.next_obs[:39], full.demos.obs[1:40])
    three = jdemos.load(boat_demos, 3)
    assert three.demos.size == 120 and len(three.episode_returns) == 3
    with pytest.raises(ValueError, match="demos: .*holds 12 episodes, cannot take 13"):
        jdemos.load(boat_demos, 13)
    with pytest.raises(ValueError, match="demos: .*no such file"):
        jdemos.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", observations=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="demos: .*no actions"):
        jdemos.load(tmp_path / "other.npz")


def test_record_keeps_whole_first_episodes_with_their_true_last_observations():
    """A random CartPole policy: each env's first episode, flattened; its return is its
    length (reward 1 per step), it ends with a done, and a terminated step's next observation
    is the fallen state (outside the pole-angle or cart bounds), not the reset one."""
    env, p = envs.make("CartPole-v1")
    spec = envs.action_spec(env, p)
    rand = Policy(lambda prm, obs, key, c, s, g: (spec.random(key, obs.shape[0]), c))
    out = jax.jit(lambda k: jdemos.record(rand, None, env, p, k, 6, 500))(jax.random.key(2))
    flat, returns = jdemos.flatten(*out)
    assert len(returns) == 6 and int(flat.done.sum()) == 6 and flat.done[-1]
    ends = np.flatnonzero(flat.done)
    np.testing.assert_array_equal(returns, np.diff(np.concatenate([[-1], ends])))
    assert np.array_equal(flat.terminated, flat.done)  # random play falls before 500 steps
    fallen = flat.next_obs[flat.terminated]
    assert np.all((np.abs(fallen[:, 2]) > p.theta_threshold_radians)
                  | (np.abs(fallen[:, 0]) > p.x_threshold))  # fmt: skip
    inside = np.delete(flat.next_obs, ends, axis=0)
    assert np.all(np.abs(inside[:, 2]) <= p.theta_threshold_radians)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"demos": ""}, "demos: a demonstration file is needed"),
        ({"num_demos": 0}, "num_demos"),
        ({"num_demos": 99}, "cannot take 99"),
        ({"disc_minibatches": 7}, "disc_minibatches"),
        ({"disc_activation": "tanhh"}, "did you mean 'tanh'"),
        ({"num_minibatches": 3}, "num_minibatches"),
    ],
)
def test_invalid_config_fails_before_tracing(boat_demos, change, match):
    env, p = envs.make("BoatRace-v0")
    cfg = dataclasses.replace(gail.GAILConfig(demos=str(boat_demos)), **change)
    with pytest.raises(ValueError, match=match):
        gail.make_learner(cfg, env, p)


def test_demonstrations_of_another_env_are_refused(boat_demos):
    env, p = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match=r"demos: observations of size \(22,\)"):
        airl.make_learner(airl.AIRLConfig(demos=str(boat_demos)), env, p)


def test_learned_reward_adds_the_absorbing_states_return_at_terminations(boat_demos):
    """AIRL's transferable reward is g(s), plus gamma / (1 - gamma) g(absorbing) where the
    transition terminates (observations batched, the flag a Python bool inside)."""
    env, p = envs.make("BoatRace-v0")
    learner = airl.make_learner(airl.AIRLConfig(demos=str(boat_demos)), env, p)
    w = np.linspace(-1.0, 1.0, 23)  # 22 observation inputs and the absorbing flag
    saved = {"discriminator": {"g": linear(w, 0.5), "h": linear(np.zeros(23), 0.0)}}
    reward = adversarial.learned_reward(learner, "airl", gamma=0.9)
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(2, 22)), jnp.float32)
    out = reward(saved, obs, jnp.array([0, 1]), obs, jnp.array([False, True]))
    g = np.asarray(obs) @ w[:22] + 0.5
    np.testing.assert_allclose(out, g + [0.0, 9.0 * (w[22] + 0.5)], rtol=1e-5)


BOAT = dict(num_envs=16, num_steps=40, total_steps=128_000, num_minibatches=4, num_demos=10,
            disc_hidden=(32,))  # fmt: skip


@pytest.fixture(scope="module", params=["gail", "airl"])
def boat_imitation(request, boat_demos):
    """8 seeds of GAIL or AIRL on the boat race from 10 finishing demonstrations, in one
    compile, and their greedy episodes."""
    module = {"gail": gail, "airl": airl}[request.param]
    env, p = envs.make("BoatRace-v0")
    learner = module.make_learner(module.CONFIG(demos=str(boat_demos), **BOAT), env, p)
    res = run_seeds(learner, 8, module.HPARAMS(lr=1e-3, ent_coef=0.05, disc_lr=1e-3))
    policies = saved_policies(learner, res.output.state)

    def episodes(params):
        steps, *_ = jdemos.record(learner.policy, params, env, p, jax.random.key(1), 4, 40)
        return boat_race.cell_of(steps.next_obs)  # [episodes, T]

    cells = np.asarray(jax.jit(jax.vmap(episodes))(policies))
    returns = evaluate_params(learner, policies, episodes=4, greedy=True)
    return request.param, res, cells, returns


def test_imitation_finishes_the_race_it_never_saw_the_reward_of(boat_imitation):
    """From 10 finishing demonstrations (and no reward), >= 7 of 8 seeds' greedy policies
    finish every episode, within 8 steps (the expert takes 6), never touching the bonus."""
    kind, res, cells, returns = boat_imitation
    finished = (cells == boat_race.FINISH).any(axis=2).all(axis=1)
    first = np.argmax(cells == boat_race.FINISH, axis=2).max(axis=1) + 1
    bonus = (cells == boat_race.BONUS).any(axis=(1, 2))
    good = finished & (first <= 8) & ~bonus
    assert good.sum() >= 7, (kind, finished, first, bonus)
    assert not res.diverged.any()
    assert (returns[good] == 5.0).all()  # the env's reward: finishing, once


def test_absorbing_return_metric_is_the_final_discriminators_by_hand(boat_imitation):
    """The ``absorbing_return`` metric of the last update is gamma / (1 - gamma) times the
    absorbing -> absorbing transition's reward under the final discriminator, computed here in
    numpy: the input is zeros but for the absorbing flag; GAIL softplus(g), AIRL
    g + gamma h - h."""
    kind, res, _, _ = boat_imitation
    gamma = 0.99

    def mlp(layers, n_in):
        x = np.zeros(n_in, np.float64)
        x[22] = 1.0  # 22 zeroed observation inputs, then the flag (then a zero action)
        for i, layer in enumerate(layers):
            x = x @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"])
            x = np.tanh(x) if i < len(layers) - 1 else x
        return x[0]

    disc = res.output.state.disc
    for seed in range(8):
        params = jax.tree.map(lambda x, i=seed: np.asarray(x[i]), disc)
        g = mlp(params["g"], params["g"][0]["kernel"].shape[0])
        if kind == "gail":
            r = np.logaddexp(0.0, g)
        else:
            h = mlp(params["h"], params["h"][0]["kernel"].shape[0])
            r = g + gamma * h - h
        got = res.output.metrics["absorbing_return"][seed, -1]
        np.testing.assert_allclose(got, gamma / (1 - gamma) * r, rtol=1e-4, atol=1e-4)


def test_command_line_demos_then_imitation(tmp_path, capsys):
    """`jaxrl demos RUN_DIR` writes a trained run's episodes; `jaxrl train gail --demos`
    imitates them, and the run directory is evaluated like any other; bad demonstration
    arguments are one-line errors."""
    from jaxrl.cli import main

    expert, demos_file, run = tmp_path / "expert", tmp_path / "demos.npz", tmp_path / "gail"
    tiny = ["--seeds", "2", "--num-envs", "4", "--num-steps", "40", "--num-minibatches", "2",
            "--total-steps", "320", "--no-progress"]  # fmt: skip
    assert main(["train", "ppo", "--env", "BoatRace-v0", *tiny, "--out", str(expert)]) == 0
    assert main(["demos", str(expert), "--out", str(demos_file), "--episodes", "3",
                 "--run", "1"]) == 0  # fmt: skip
    assert "wrote 3 episodes (120 transitions)" in capsys.readouterr().out
    assert jdemos.load(demos_file).env == "BoatRace-v0"
    assert main(["demos", str(expert), "--out", str(demos_file)]) == 2  # exists
    assert main(["demos", str(expert), "--out", str(tmp_path / "x.npz"), "--run", "2"]) == 2
    assert "run: " in capsys.readouterr().err

    assert main(["train", "gail", "--env", "BoatRace-v0", "--demos", str(demos_file),
                 "--num-demos", "3", *tiny, "--out", str(run)]) == 0  # fmt: skip
    assert main(["evaluate", str(run), "--episodes", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "airl", "--env", "BoatRace-v0", "--demos", str(tmp_path / "no.npz"),
                 *tiny]) == 2  # fmt: skip
    assert "demos: " in capsys.readouterr().err
    assert main(["train", "airl", "--env", "CartPole-v1", "--demos", str(demos_file),
                 "--num-demos", "3"]) == 2  # fmt: skip
    assert "demos: observations of size (22,)" in capsys.readouterr().err


def test_with_reward_pays_the_function_of_the_transition():
    """The wrapped env pays fn(theta, obs, action, next_obs, terminated) with the observation
    the action was taken on, the one it led to (before any reset) and the termination flag;
    dynamics, observations and episode ends are the inner env's; theta rides in the params."""
    from jaxrl.envs.reward import RewardParams, with_reward

    env, p = envs.make("CartPole-v1")

    def fn(theta, obs, action, next_obs, terminated):
        return theta * obs[0] + 10.0 * next_obs[2] + action + 100.0 * terminated

    plain = envs.stack(env, p, 3)
    wrapped = envs.stack(with_reward(env, fn), RewardParams(p, 2.0), 3)
    key = jax.random.key(0)
    obs_a, st_a = plain.reset(key, p)
    obs_b, st_b = wrapped.reset(key, RewardParams(p, 2.0))
    terminations = 0
    for t in range(30):
        k = jax.random.fold_in(key, t)
        action = jnp.array([t % 2, 1, 1])
        out_a = plain.step(k, st_a, action, p)
        out_b = wrapped.step(k, st_b, action, RewardParams(p, 2.0))
        np.testing.assert_array_equal(out_a[0], out_b[0])
        np.testing.assert_array_equal(out_a[3], out_b[3])
        want = (2.0 * obs_a[:, 0] + 10.0 * out_a[5]["final_observation"][:, 2] + action
                + 100.0 * out_a[3])  # fmt: skip
        np.testing.assert_allclose(out_b[2], want, rtol=1e-6)
        obs_a, st_a = out_a[0], out_a[1]
        st_b = out_b[1]
        terminations += int(out_a[3].sum())
    assert terminations >= 2  # pushing right topples the pole, and the wrapper pays for it
