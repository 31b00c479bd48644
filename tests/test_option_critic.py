"""Option-critic: its gradients by hand on a two-state chain, the option carry, the four-rooms
task with its goal switch, learning (tabular and deep), bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.hierarchical import option_critic as oc
from jaxrl.envs import fourrooms
from jaxrl.run import evaluate_params, saved_policies
from jaxrl.run.switch import make_switching_train, per_episode

K, A = 2, 2  # options, actions


def chain_table(beta_logit_s1=0.0):
    """A linear (tabular) option-critic over the one-hot states of a two-state chain.

    Columns: Q_W(., w) for w = 0, 1; the termination logits of w = 0, 1; the intra-option
    logits of (w=0: a=0, a=1), (w=1: a=0, a=1).
    """
    w = np.zeros((2, K * (2 + A)), np.float32)
    w[0, 0:2] = [1.0, 0.3]  # Q_W(s0, .)
    w[1, 0:2] = [1.0, 2.0]  # Q_W(s1, .): option 1 is better in s1
    w[1, 2] = beta_logit_s1  # beta_0(s1) = sigmoid(0) = 1/2
    w[0, 4:6] = [0.0, np.log(3.0)]  # pi_0(.|s0) = (1/4, 3/4)
    w[0, 6:8] = [0.7, -0.2]
    w[1, 4:8] = [0.1, 0.4, -0.3, 0.9]
    return [{"kernel": jnp.asarray(w), "bias": jnp.zeros(K * (2 + A))}]


def chain_step(reward=0.5, action=1, terminated=False, done=False):
    """s0 -> s1 under option 0, as a rollout of one step of one env ``[T=1, N=1]``."""
    s0, s1 = jnp.eye(2)[0], jnp.eye(2)[1]
    b = lambda x: jnp.asarray(x)[None, None]  # noqa: E731
    return oc.Rollout(obs=b(s0), option=b(0), action=b(action), reward=b(reward),
                      terminated=b(terminated), done=b(done), final_obs=b(s1),
                      episode_return=b(0.0), episode_length=b(1.0), ended=b(False))  # fmt: skip


HP = oc.OptionCriticHParams(gamma=0.9, critic_coef=0.5, termination_coef=1.0,
                            termination_reg=0.1, ent_coef=0.0)  # fmt: skip


def grads_of(params, traj, hp=HP):
    grads, losses = jax.grad(oc.option_critic_loss, has_aux=True)(params, traj, hp, K, "relu")
    return np.asarray(grads[0]["kernel"]), np.asarray(losses)


def test_gradients_match_hand_computation_on_a_two_state_chain():
    """One step s0 -> s1 under option 0, action 1, reward 0.5, gamma 0.9.

    By hand: beta_0(s1) = 1/2, so U(w=0, s1) = 1/2 * 1.0 + 1/2 * max(1.0, 2.0) = 1.5 and
    G = 0.5 + 0.9 * 1.5 = 1.85; the advantage is G - Q_W(s0, 0) = 0.85.
    - critic: d/dQ_W(s0, 0) of 0.5 * 1/2 (G - Q)^2 = -0.5 * 0.85 = -0.425;
    - intra-option policy (Theorem 1): d/dlogits of -log pi_0(a=1|s0) * 0.85 =
      (pi - onehot(1)) * 0.85 = (1/4, -1/4) * 0.85 = (0.2125, -0.2125);
    - termination (Theorem 2): d/dlogit of beta_0(s1) * (Q_W(s1, 0) - V_W(s1) + xi) =
      beta (1 - beta) * (1.0 - 2.0 + 0.1) = 1/4 * -0.9 = -0.225: descending it raises the
      termination of option 0 in s1, where option 1 is better by more than xi.
    Every other entry (option 1's, the policy at s1, Q_W at s1) has no gradient.
    """
    g, losses = grads_of(chain_table(), chain_step())
    expected = np.zeros_like(g)
    expected[0, 0] = -0.425
    expected[0, 4:6] = [0.2125, -0.2125]
    expected[1, 2] = -0.225
    np.testing.assert_allclose(g, expected, atol=1e-6)
    np.testing.assert_allclose(losses[1], 0.5 * 0.85**2, rtol=1e-6)  # critic loss


def test_termination_gradient_is_zero_at_the_margin_and_at_episode_ends():
    """With Q_W(s1, 0) = V_W(s1) - xi the termination gradient vanishes; at the end of an
    episode nothing follows s1, so there is none either, and G = r (terminated)."""
    params = chain_table()
    params[0]["kernel"] = params[0]["kernel"].at[1, 0].set(2.0 - HP.termination_reg)
    g, _ = grads_of(params, chain_step())
    assert g[1, 2] == pytest.approx(0.0, abs=1e-7)
    g, _ = grads_of(chain_table(), chain_step(terminated=True, done=True))
    assert g[1, 2] == 0.0
    # G = r = 0.5, advantage 0.5 - 1.0 = -0.5: the policy gradient flips sign.
    np.testing.assert_allclose(g[0, 4:6], [0.25 * -0.5, -0.25 * -0.5], atol=1e-6)
    np.testing.assert_allclose(g[0, 0], -0.5 * -0.5, atol=1e-6)


def test_option_returns_by_hand():
    """Three steps, gamma 0.5: an episode truncated at t=1 (bootstraps from U_1) and a rollout
    ending at t=2 (bootstraps from U_2); then a termination at t=0 (no bootstrap)."""
    r = jnp.array([1.0, 2.0, 3.0])
    u = jnp.array([10.0, 20.0, 40.0])
    no = jnp.zeros(3, bool)
    g = oc.option_returns(r, no, jnp.array([False, True, False]), u, 0.5)
    # G_2 = 3 + 0.5 * 40 = 23; G_1 = 2 + 0.5 * 20 = 12; G_0 = 1 + 0.5 * G_1 = 7
    np.testing.assert_allclose(g, [7.0, 12.0, 23.0])
    ended = jnp.array([True, False, False])
    g = oc.option_returns(r, ended, ended, u, 0.5)
    # G_2 = 23; G_1 = 2 + 0.5 * G_2 = 13.5 (not ended); G_0 = 1 (terminated: no bootstrap)
    np.testing.assert_allclose(g, [1.0, 13.5, 23.0])


def test_option_carry_terminates_with_beta_and_restarts_greedily():
    """beta = 1 always ends the running option, beta = 0 never does; -1 (no option, as after
    init_carry) always chooses, greedily the argmax of Q_W."""
    q = jnp.array([[0.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    beta = jnp.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    h = oc.Heads(q, beta, jnp.zeros((3, K, A)))
    option, ended = oc.choose_option(h, jnp.array([0, 0, -1]), jax.random.key(0), 0.0, True)
    np.testing.assert_array_equal(option, [1, 0, 1])
    np.testing.assert_array_equal(ended, [True, False, False])
    # With epsilon = 1 a new option is uniformly random: both appear over many draws.
    h = oc.Heads(jnp.tile(q[:1], (512, 1)), jnp.ones((512, K)), jnp.zeros((512, K, A)))
    option, _ = oc.choose_option(h, jnp.zeros(512, jnp.int32), jax.random.key(1), 1.0, False)
    assert 0.35 < float(jnp.mean(option)) < 0.65


def test_four_rooms_goal_is_a_param_and_starts_avoid_it():
    env, p = envs.make("FourRooms-v0", goal=fourrooms.cell_index(10, 10))
    assert env.observation_space(p).shape == (104,)
    keys = jax.random.split(jax.random.key(0), 2000)
    obs, state = jax.vmap(env.reset, (0, None))(keys, p)
    assert np.all(np.asarray(state.goal) == [10, 10])
    starts = np.asarray(jnp.argmax(obs, -1))
    assert p.goal not in starts and len(set(starts.tolist())) == 103  # every other cell
    # Stepping onto the goal ends the episode with reward 1.
    s = state.replace(pos=jnp.tile(jnp.array([[10, 9]]), (2000, 1)))
    _, _, r, term, _, _ = jax.vmap(env.step, (0, 0, None, None))(keys, s, 1, p)  # move east
    # The move succeeds with probability 2/3 (+1/9 of the random moves).
    assert 0.62 < float(jnp.mean(r)) < 0.72 and np.array_equal(np.asarray(term), r > 0)
    assert fourrooms.optimal_steps(fourrooms.EAST_DOORWAY) == pytest.approx(15.01, abs=0.01)


def test_per_episode_repeats_each_update_mean():
    values = np.array([[10.0, 20.0, 30.0]])
    episodes = np.array([[1, 0, 2]])
    np.testing.assert_array_equal(per_episode(values, episodes, 4)[0, :3], [10.0, 30.0, 30.0])
    assert np.isnan(per_episode(values, episodes, 4)[0, 3])


SWITCH = 500


@pytest.fixture(scope="module")
def tabular_switch_run():
    """8 seeds of tabular option-critic, the goal moved from the east doorway to a random cell
    of the lower-right room after 500 episodes (the paper: 1,000), in one compile."""
    env, p = envs.make("FourRooms-v0")
    cfg = dataclasses.replace(oc.TABULAR, total_steps=60_000)
    train = make_switching_train(oc.make_learner(cfg, env, p), SWITCH)
    seeds = 8
    cells = fourrooms.room_cells("lower_right")
    goals = cells[np.random.default_rng(7).integers(0, len(cells), seeds)]
    after = jax.vmap(lambda g: p.replace(goal=g))(jnp.asarray(goals))
    keys = jax.random.split(jax.random.key(11), seeds)
    out = jax.jit(jax.vmap(train, (0, None, None, 0)))(keys, oc.TABULAR_HPARAMS, p, after)
    keep = lambda x: x if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else np.asarray(x)  # noqa: E731
    return jax.tree.map(keep, out), goals


def test_switching_train_moves_the_goal_after_the_episode_count(tabular_switch_run):
    out, goals = tabular_switch_run
    episodes = np.cumsum(out.metrics["episodes"], axis=1)
    started_with = np.concatenate([np.zeros((len(goals), 1)), episodes[:, :-1]], axis=1)
    # The updates that start with at least 500 finished episodes run on the new goal.
    np.testing.assert_array_equal(out.metrics["switched"], started_with >= SWITCH)
    np.testing.assert_array_equal(out.state.env_state.env_state.goal[:, 0],
                                  fourrooms.CELLS[goals])  # fmt: skip
    env, p = envs.make("FourRooms-v0")
    with pytest.raises(ValueError, match="after_episodes"):
        make_switching_train(oc.make_learner(oc.TABULAR, env, p), -1)


def test_tabular_option_critic_learns_four_rooms_before_and_after_the_goal_moves(
    tabular_switch_run,
):
    """Steps per episode over the last 50 episodes of each phase within twice the fastest
    policy's expected steps (15-21; a uniformly random policy takes hundreds) in at least 7
    of 8 seeds, and the switch shows: the first 20 episodes after it are longer."""
    out, goals = tabular_switch_run
    steps = per_episode(out.metrics["episode_length"], out.metrics["episodes"], 2 * SWITCH)
    before = np.mean(steps[:, SWITCH - 50 : SWITCH], axis=1)
    after = np.mean(steps[:, -50:], axis=1)
    optimal_after = np.array([fourrooms.optimal_steps(int(g)) for g in goals])
    ok = (before <= 2 * fourrooms.optimal_steps(62)) & (after <= 2 * optimal_after)
    assert ok.sum() >= 7, (before, after)
    spike = np.mean(steps[:, SWITCH : SWITCH + 20], axis=1)
    assert np.median(spike) > 2 * np.median(before), (spike, before)


def test_deep_option_critic_learns_four_rooms():
    """A2OC-style: 16 envs x 5 steps, a 64-64 torso, Adam; 1.2e5 steps. The last update's
    mean steps per episode within 1.5x the fastest policy's (15.0) in at least 3 of 4 seeds;
    greedy evaluation reaches the goal in every episode of every seed."""
    env, p = envs.make("FourRooms-v0")
    train = oc.make_train(oc.OptionCriticConfig(total_steps=120_000), env, p)
    keys = jax.random.split(jax.random.key(5), 4)
    out = jax.jit(jax.vmap(train, (0, None)))(keys, oc.OptionCriticHParams())
    length = np.asarray(out.metrics["episode_length"])[:, -1]
    assert np.sum(length <= 1.5 * fourrooms.optimal_steps(62)) >= 3, length
    policies = saved_policies(train.learner, out.state)
    returns = evaluate_params(train.learner, policies, episodes=16, greedy=True)
    assert np.all(returns == 1.0), returns


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("num_options", 0, "num_options: must be a positive int"),
        ("log_every", 30, "log_every: 30 is not a multiple of num_envs\\*num_steps=80"),
        ("hidden", (64, 0), "hidden: layer sizes must be positive"),
        ("optimizer", "adamw", "optimizer: unknown optimizer 'adamw'; did you mean 'adam'"),
        ("total_steps", 100, "total_steps: 100 is less than one update"),
    ],
)
def test_bad_config_names_the_field(field, value, match):
    env, p = envs.make("FourRooms-v0")
    with pytest.raises(ValueError, match=match):
        oc.make_learner(oc.OptionCriticConfig(**{field: value}), env, p)


def test_continuous_actions_are_refused_naming_what_handles_them():
    env, p = envs.make("Pendulum-v1")
    with pytest.raises(ValueError, match="option_critic needs discrete actions.*hiro"):
        oc.make_learner(oc.OptionCriticConfig(), env, p)
