"""HIRO: the subgoal transition, the worker's reward and the off-policy relabelling by hand;
what a segment stores; learning on the point-mass maze; the maze itself; bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.agents.hierarchical import hiro
from jaxrl.envs import pointmaze
from jaxrl.run import evaluate_params, saved_policies


def test_subgoal_transition_and_worker_reward_by_hand():
    """h(s, g, s') = s + g - s' on the goal's dims: s = (1, 2, 9, 9), g = (0.5, -1),
    s' = (1.25, 1.5, 7, 7) -> (1 + 0.5 - 1.25, 2 - 1 - 1.5) = (0.25, -0.5); the worker's
    reward is -||(0.25, -0.5)|| = -sqrt(0.3125)."""
    s = jnp.array([1.0, 2.0, 9.0, 9.0])
    g = jnp.array([0.5, -1.0])
    s2 = jnp.array([1.25, 1.5, 7.0, 7.0])
    np.testing.assert_allclose(hiro.subgoal_transition(s, g, s2), [0.25, -0.5])
    np.testing.assert_allclose(hiro.worker_reward(s, g, s2), -np.sqrt(0.3125), rtol=1e-6)
    # Carried along a trajectory, h keeps the absolute target: g_i = s_0 + g_0 - s_i.
    traj = jnp.array([[0.0, 0.0], [0.3, 0.1], [0.2, 0.7], [1.0, 1.0]])
    goal = jnp.array([1.0, -0.5])
    for i in range(1, 4):
        goal = hiro.subgoal_transition(traj[i - 1], goal, traj[i])
        np.testing.assert_allclose(goal, traj[0] + jnp.array([1.0, -0.5]) - traj[i], atol=1e-6)


def test_relabelling_by_hand():
    """A worker that outputs its subgoal (mu(s, g) = g), a segment of c = 2 steps from
    s_0 = (0, 0) through s_1 = (0.5, 0) with actions (1, 0) and (0.5, 0):

    - candidate (1, 0): goals (1, 0), then (0, 0) + (1, 0) - (0.5, 0) = (0.5, 0): the actions
      exactly, log-likelihood 0;
    - candidate (0, 1): goals (0, 1), (-0.5, 1): squared errors 2 and 2, -1/2 * 4 = -2;
    - candidate (0.5, 0): goals (0.5, 0), (0, 0): errors 0.25 and 0.25, -0.25.
    The stored subgoal (0, 1) is replaced by (1, 0). Masking the second step out (an episode
    that ended after one step) leaves -1 and -0.125, whatever that step holds.
    """
    worker = lambda s, g: g  # noqa: E731
    cands = jnp.array([[[0.0, 1.0], [1.0, 0.0], [0.5, 0.0]]])
    start = jnp.zeros((1, 2))
    states = jnp.array([[[0.0, 0.0], [0.5, 0.0]]])
    actions = jnp.array([[[1.0, 0.0], [0.5, 0.0]]])
    chosen, loglik = hiro.relabel_subgoals(worker, cands, start, states, actions,
                                           jnp.ones((1, 2)), 1.0)  # fmt: skip
    np.testing.assert_allclose(loglik, [[-2.0, 0.0, -0.25]], atol=1e-6)
    np.testing.assert_allclose(chosen, [[1.0, 0.0]])
    actions = actions.at[0, 1].set(100.0)
    _, loglik = hiro.relabel_subgoals(worker, cands, start, states, actions,
                                      jnp.array([[1.0, 0.0]]), 1.0)  # fmt: skip
    np.testing.assert_allclose(loglik, [[-1.0, 0.0, -0.125]], atol=1e-6)
    # Goals in units of goal_scale = 2: candidate 0.5 means a change of 1.0 in the state.
    chosen, loglik = hiro.relabel_subgoals(lambda s, g: 2.0 * g, cands * 0.5, start, states,
                                           actions.at[0, 1].set([0.5, 0.0]),
                                           jnp.ones((1, 2)), 2.0)  # fmt: skip
    np.testing.assert_allclose(loglik, [[-2.0, 0.0, -0.25]], atol=1e-6)


def test_candidates_are_the_original_the_achieved_change_and_draws_around_it():
    goal = jnp.array([[0.2, -0.3]])
    start, end = jnp.array([[1.0, 1.0, 5.0]]), jnp.array([[2.0, 4.0, 0.0]])
    c = hiro.subgoal_candidates(goal, start, end, jax.random.key(0), 5, 0.0, 2.0)
    # achieved (end - start) / scale = (0.5, 1.5), clipped into [-1, 1]: (0.5, 1.0)
    np.testing.assert_allclose(c[0], [[0.2, -0.3], [0.5, 1.0], [0.5, 1.0], [0.5, 1.0],
                                      [0.5, 1.0]])  # fmt: skip
    c = hiro.subgoal_candidates(goal, start, end, jax.random.key(0), 10, 0.5, 2.0)
    assert c.shape == (1, 10, 2) and float(jnp.std(c[0, 2:, 0])) > 0.1


GOAL = (2.5, 2.5)  # the upper-right corner: 2 units right and 2 up, around the wall's end


@pytest.fixture(scope="module")
def maze_run():
    """4 seeds of HIRO, 2e4 env steps, vmapped in one compile, on the maze with the goal in
    the upper-right corner (a shorter task than the far end: the experiment's 1e5-step runs
    reach that)."""
    env, p = envs.make("PointMaze-v0", goal_x=GOAL[0], goal_y=GOAL[1])
    cfg = hiro.HIROConfig(total_steps=20_000, learning_starts=2_000, log_every=2_000,
                          goal_dims=2, batch_size=64, buffer_size=20_000)  # fmt: skip
    train = hiro.make_train(cfg, env, p)
    keys = jax.random.split(jax.random.key(3), 4)
    out = jax.jit(jax.vmap(train, (0, None)))(keys, hiro.HIROHParams())
    policies = saved_policies(train.learner, out.state)
    sparse = evaluate_params(train.learner, policies, episodes=8, greedy=True,
                             env_params=p.replace(sparse=True))  # fmt: skip
    return out, sparse


def test_hiro_reaches_the_upper_right_corner(maze_run):
    """Greedy episodes with the sparse reward (1 per step within 0.5 of the goal; a return
    above 0 means the goal was reached): the mean return is positive in at least 3 of 4
    seeds, and above 100 on average (the goal reached and held for 100 of the 500 steps; the
    random policy's return is 0)."""
    _, sparse = maze_run
    assert np.sum(sparse > 0) >= 3 and sparse.mean() > 100, sparse


def test_segments_store_worker_and_manager_transitions_as_defined(maze_run):
    """In the first seed's replay: the worker's stored next subgoal is h(s, g, s') and its
    reward -||h||; each manager transition starts at its segment's first state, holds its
    c = 10 states and actions, ends at the state c steps later (the episode's last, with
    done, every 50 segments: 500-step episodes), and its reward is 0.1 x the env's rewards
    summed over the segment."""
    out, _ = maze_run
    w = jax.tree.map(lambda x: np.asarray(x[0, :, 0]), out.state.worker_buffer.data)
    m = jax.tree.map(lambda x: np.asarray(x[0, :, 0]), out.state.manager_buffer.data)
    obs, goal = w.obs[:, :4], w.obs[:, 4:]
    nxt, next_goal = w.next_obs[:, :4], w.next_obs[:, 4:]
    h = obs[:, :2] + goal - nxt[:, :2]  # goal_scale 1
    np.testing.assert_allclose(next_goal, h, atol=1e-5)
    np.testing.assert_allclose(w.reward, -np.linalg.norm(h, axis=-1), atol=1e-5)
    env_reward = -np.linalg.norm(nxt[:, :2] - np.array(GOAL), axis=-1).reshape(-1, 10)
    np.testing.assert_allclose(m.reward, 0.1 * env_reward.sum(1), rtol=1e-4)
    np.testing.assert_allclose(m.obs, obs[::10])
    np.testing.assert_allclose(m.action.states, obs.reshape(-1, 10, 4))
    np.testing.assert_allclose(m.action.actions, w.action.reshape(-1, 10, 2))
    np.testing.assert_allclose(m.action.goal, goal[::10])
    np.testing.assert_allclose(m.next_obs, nxt[9::10])
    assert m.action.valid.all() and not m.terminated.any()
    np.testing.assert_array_equal(np.flatnonzero(m.done), np.arange(49, len(m.done), 50))
    # Within a segment the subgoal is carried by h, so it keeps one absolute target.
    target = (obs[:, :2] + goal).reshape(-1, 10, 2)
    np.testing.assert_allclose(target, np.broadcast_to(target[:, :1], target.shape), atol=1e-4)


def test_point_maze_walls_and_rewards():
    env, p = envs.make("PointMaze-v0")
    # Pushing up from the start stops below the wall (y = 1 - radius).
    pos, vel = jnp.array([0.5, 0.5]), jnp.zeros(2)
    for _ in range(50):
        pos, vel = pointmaze.move(pos, vel, jnp.array([0.0, 1.0]), p)
    np.testing.assert_allclose(pos, [0.5, 1.0 - p.radius], atol=0.1)
    assert float(pos[1]) <= 1.0 - p.radius
    # Top speed accel / (1 - damping) = 0.1 per step; the outer wall stops the mass.
    pos, vel = jnp.array([0.5, 0.5]), jnp.zeros(2)
    for _ in range(20):
        pos, vel = pointmaze.move(pos, vel, jnp.array([1.0, 0.0]), p)
    assert float(vel[0]) == pytest.approx(0.1 * (1 - 0.8**20), rel=1e-4)
    for _ in range(40):
        pos, vel = pointmaze.move(pos, vel, jnp.array([1.0, 0.0]), p)
    assert 3.0 - p.radius - 0.1 <= float(pos[0]) <= 3.0 - p.radius
    obs, state = env.reset(jax.random.key(0), p)
    near = state.replace(pos=jnp.array([0.6, 2.3]))
    _, _, r, term, trunc, info = env.step(jax.random.key(1), near, jnp.zeros(2), p)
    assert float(r) == pytest.approx(-np.hypot(0.1, 0.2), rel=1e-5) and not term
    _, _, r, _, _, _ = env.step(jax.random.key(1), near, jnp.zeros(2), p.replace(sparse=True))
    assert float(r) == 1.0


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"c": 0}, "c: must be a positive int"),
        ({"log_every": 1005}, "log_every: 1005 is not a multiple of num_envs\\*c=10"),
        ({"relabel_candidates": 2}, "relabel_candidates: must be 1"),
        ({"goal_dims": 5}, "goal_dims: 5 exceeds the observation's 4 numbers"),
        ({"goal_scale": 0.0}, "goal_scale: must be > 0"),
        ({"learning_starts": 100}, "learning_starts: 100 env steps give fewer manager"),
    ],
)
def test_bad_config_names_the_field(kw, match):
    env, p = envs.make("PointMaze-v0")
    with pytest.raises(ValueError, match=match):
        hiro.make_learner(hiro.HIROConfig(**kw), env, p)


def test_discrete_actions_are_refused_naming_what_handles_them():
    env, p = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="hiro needs continuous actions.*option_critic"):
        hiro.make_learner(hiro.HIROConfig(), env, p)
