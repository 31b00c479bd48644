"""iLQR against closed forms, MPC planners on real envs, MJX Jacobians, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.control import cem, episode, ilqr, ilqr_mpc, models, mppi
from jaxrl.envs import cartpole_swingup


def _lqr_problem(seed=0, n=4, m=2, horizon=20):
    rng = np.random.default_rng(seed)
    A = np.eye(n) + 0.1 * rng.normal(size=(n, n))
    B = 0.5 * rng.normal(size=(n, m))
    Q, R, Qf = np.eye(n), 0.1 * np.eye(m), 10.0 * np.eye(n)
    x0 = rng.normal(size=n)
    return A, B, Q, R, Qf, x0


def _lqr_functions(A, B, Q, R, Qf, horizon):
    """``dynamics(x, u, t)`` and ``cost(x, u, t)`` of the LQR problem, for iLQR."""

    def dynamics(x, u, t):
        return jnp.asarray(A) @ x + jnp.asarray(B) @ u

    def cost(x, u, t):
        running = 0.5 * x @ jnp.asarray(Q) @ x + 0.5 * u @ jnp.asarray(R) @ u
        return jnp.where(t == horizon, 0.5 * x @ jnp.asarray(Qf) @ x, running)

    return dynamics, cost


def _riccati(A, B, Q, R, Qf, x0, horizon):
    """Finite-horizon discrete LQR by the Riccati recursion in float64 numpy."""
    P, gains = Qf, []
    for _ in range(horizon):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        gains.append(K)
        P = Q + A.T @ P @ (A - B @ K)
    xs, us = [x0], []
    for K in gains[::-1]:
        us.append(-K @ xs[-1])
        xs.append(A @ xs[-1] + B @ us[-1])
    return np.array(xs), np.array(us)


def test_ilqr_equals_riccati_lqr_in_one_iteration():
    horizon = 20
    A, B, Q, R, Qf, x0 = _lqr_problem(horizon=horizon)
    xs_ref, us_ref = _riccati(A, B, Q, R, Qf, x0, horizon)
    with jax.enable_x64(True):
        dynamics, cost = _lqr_functions(A, B, Q, R, Qf, horizon)

        solve = jax.jit(lambda x0: ilqr(cost, dynamics, x0, jnp.zeros((horizon, 2)), maxiter=1))
        res = solve(jnp.asarray(x0))
        assert res.xs.dtype == jnp.float64
        assert int(res.iterations) == 1
        np.testing.assert_allclose(res.us, us_ref, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(res.xs, xs_ref, atol=1e-5, rtol=1e-5)
        # The next iteration finds nothing left to improve.
        res2 = jax.jit(lambda x0: ilqr(cost, dynamics, x0, jnp.zeros((horizon, 2))))(x0)
        assert bool(res2.converged) and int(res2.iterations) == 2


def test_box_constrained_ilqr_equals_a_qp_solver():
    """With control bounds that bind, iLQR's projected-Newton (box) steps reach the optimum of
    the constrained LQR, a convex QP in the stacked controls, solved here independently by
    scipy's bounded L-BFGS-B in float64."""
    from scipy.optimize import minimize

    horizon, n, m = 12, 4, 2
    A, B, Q, R, Qf, x0 = _lqr_problem(seed=3, n=n, m=m, horizon=horizon)
    x0 = 2.0 * x0  # far enough from the origin that the bounds bind
    lo, hi = -1.0, 1.0

    def total_cost(flat):
        us, x, c = flat.reshape(horizon, m), x0, 0.0
        for u in us:
            c += 0.5 * x @ Q @ x + 0.5 * u @ R @ u
            x = A @ x + B @ u
        return c + 0.5 * x @ Qf @ x

    def grad(flat):  # adjoint recursion
        us = flat.reshape(horizon, m)
        xs = [x0]
        for u in us:
            xs.append(A @ xs[-1] + B @ u)
        lam, g = Qf @ xs[-1], np.zeros_like(us)
        for t in reversed(range(horizon)):
            g[t] = R @ us[t] + B.T @ lam
            lam = Q @ xs[t] + A.T @ lam
        return g.ravel()

    ref = minimize(total_cost, np.zeros(horizon * m), jac=grad, method="L-BFGS-B",
                   bounds=[(lo, hi)] * (horizon * m),
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})  # fmt: skip
    us_ref = ref.x.reshape(horizon, m)
    assert np.sum(np.isclose(np.abs(us_ref), hi)) >= 10  # many bounds are active
    with jax.enable_x64(True):
        dynamics, cost = _lqr_functions(A, B, Q, R, Qf, horizon)

        res = jax.jit(lambda x0: ilqr(cost, dynamics, x0, jnp.zeros((horizon, m)),
                                      u_lower=jnp.full(m, lo), u_upper=jnp.full(m, hi),
                                      tol=1e-10))(jnp.asarray(x0))  # fmt: skip
        assert bool(res.converged)
        np.testing.assert_allclose(res.us, us_ref, atol=1e-5)
        np.testing.assert_allclose(float(res.cost), ref.fun, rtol=1e-8)


PEND_T = 300


def _pendulum_cost(x, u, t):
    err = x - jnp.array([jnp.pi, 0.0])
    return jnp.where(t == PEND_T, 1000.0 * err @ err, 0.1 * err @ err + 0.01 * u @ u)


@pytest.fixture(scope="module")
def pendulum_solve():
    dynamics = models.rk4(models.pendulum_ode(), 0.01)

    def solve(x0):
        return ilqr(_pendulum_cost, dynamics, x0, jnp.zeros((PEND_T, 1)), maxiter=100)

    return jax.jit(jax.vmap(solve))


def test_pendulum_swingup_from_hanging_down(pendulum_solve):
    """rk4, dt 0.01, T = 300 from hanging down (and a perturbed start, vmapped)."""
    x0 = jnp.array([[0.0, 0.0], [0.3, -0.5]])
    res = pendulum_solve(x0)
    final = np.asarray(res.xs[:, -1, 0])
    assert np.all(np.abs(final - np.pi) < 0.05), final
    assert np.all(np.asarray(res.iterations) <= 100)
    assert np.all(np.asarray(res.converged)) and int(res.nonfinite.sum()) == 0
    # The vmapped solve equals the single one.
    dynamics = models.rk4(models.pendulum_ode(), 0.01)
    one = jax.jit(lambda x: ilqr(_pendulum_cost, dynamics, x, jnp.zeros((PEND_T, 1))))(x0[1])
    np.testing.assert_allclose(one.us, res.us[1], atol=1e-4)


def test_control_bounds_are_respected():
    """With |u| <= 4 (gravity torque peaks at 9.81) the swing-up must pump; bounds hold."""
    horizon = 200
    dynamics = models.rk4(models.pendulum_ode(), 0.02)

    def cost(x, u, t):
        err = x - jnp.array([jnp.pi, 0.0])
        return jnp.where(t == horizon, 1000.0 * err @ err, 0.1 * err @ err + 0.01 * u @ u)

    res = jax.jit(lambda x0: ilqr(cost, dynamics, x0, jnp.zeros((horizon, 1)), maxiter=200,
                                  u_lower=-4.0, u_upper=4.0))(jnp.zeros(2))  # fmt: skip
    us = np.asarray(res.us)
    assert us.min() >= -4.0 and us.max() <= 4.0
    assert np.isclose(np.abs(us).max(), 4.0)  # the bound is active
    assert abs(float(res.xs[-1, 0]) - np.pi) < 0.1, res.xs[-1]


def test_shape_errors_name_the_shapes():
    def dyn(x, u, t):
        return x + u.sum()

    def cost(x, u, t):
        return x @ x + u @ u

    with pytest.raises(ValueError, match=r"x0: .*\(2, 2\)"):
        ilqr(cost, dyn, jnp.zeros((2, 2)), jnp.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"U: .*\(5,\)"):
        ilqr(cost, dyn, jnp.zeros(2), jnp.zeros(5))
    with pytest.raises(ValueError, match=r"dynamics.*\(3,\).*\(2,\)"):
        ilqr(cost, lambda x, u, t: jnp.zeros(3), jnp.zeros(2), jnp.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"cost.*\(2,\).*expected \(\)"):
        ilqr(lambda x, u, t: x, dyn, jnp.zeros(2), jnp.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"dynamics.*failed.*\(3,\).*\(2,\)"):
        ilqr(cost, lambda x, u, t: jnp.ones((2, 2)) @ x, jnp.zeros(3), jnp.zeros((5, 2)))
    with pytest.raises(ValueError, match="u_lower"):
        ilqr(cost, dyn, jnp.zeros(2), jnp.zeros((5, 1)), u_lower=jnp.zeros(3))


def test_nonfinite_line_search_candidates_are_rejected_and_reported():
    horizon = 5

    def dyn(x, u, t):
        return x + u

    def cost(x, u, t):
        # NaN beyond u = 0.5: the full Newton step (u = 1) is NaN, shorter steps are fine.
        nan_wall = jnp.where(u[0] > 0.5, jnp.nan, 0.0)
        return jnp.where(t == horizon, 10.0 * (x[0] - 5.0) ** 2, 0.01 * u @ u + nan_wall)

    res = jax.jit(lambda x0: ilqr(cost, dyn, x0, jnp.zeros((horizon, 1)), maxiter=50))(jnp.zeros(1))
    assert int(res.nonfinite) > 0
    assert np.all(np.isfinite(res.xs)) and np.isfinite(float(res.cost))
    assert float(res.cost) < 250.0  # the all-zero plan costs 10 * 5^2
    assert float(res.us.max()) <= 0.5

    # Every step non-finite: the solver reports it, returns the finite start, not converged.
    def bad_dyn(x, u, t):
        return x + u + jnp.where(jnp.abs(u[0]) > 0, jnp.nan, 0.0)

    res = jax.jit(lambda x0: ilqr(cost, bad_dyn, x0, jnp.zeros((horizon, 1)), maxiter=20))(
        jnp.zeros(1)
    )
    assert not bool(res.converged) and int(res.nonfinite) > 0
    np.testing.assert_array_equal(res.us, 0.0)
    assert np.all(np.isfinite(res.xs))

    # A non-finite start is never reported as converged.
    res = ilqr(lambda x, u, t: jnp.sum(x) * jnp.nan, dyn, jnp.zeros(1), jnp.zeros((3, 1)))
    assert not bool(res.converged) and int(res.iterations) == 0


def _returns(planner, model, env, params, seeds=8, seed=0):
    keys = jax.random.split(jax.random.key(seed), seeds)
    run = jax.jit(jax.vmap(lambda k: episode(planner, model, env, params, k)))
    return run(keys)


def test_ilqr_mpc_on_gymnax_pendulum_without_training():
    """Mean return >= -200 over 8 seeds with zero training (a random policy gets ~ -1200)."""
    env, params = envs.make("Pendulum-v1")
    model = models.gymnax_pendulum(params)
    out = _returns(ilqr_mpc(model, horizon=20, iterations=10, first_iterations=100), model,
                   env, params)  # fmt: skip
    returns = np.asarray(out.episode_return)
    assert returns.mean() >= -200.0, returns
    assert np.all(np.abs(out.actions) <= 2.0)


def test_mppi_swings_the_pendulum_up():
    """MPPI ends >= 7 of 8 gymnax Pendulum-v1 episodes upright and still, mean >= -200."""
    env, params = envs.make("Pendulum-v1")
    model = models.gymnax_pendulum(params)
    out = _returns(mppi(model, horizon=30, num_samples=128), model, env, params)
    returns = np.asarray(out.episode_return)
    upright = np.abs(np.asarray(models.angle_normalize(out.states[:, -1, 0]))) < 0.1
    assert upright.sum() >= 7 and returns.mean() >= -200.0, (returns, out.states[:, -1])


def test_cem_swings_the_pendulum_up():
    env, params = envs.make("Pendulum-v1")
    model = models.gymnax_pendulum(params)
    out = _returns(cem(model, horizon=30, num_samples=64, num_elites=8, iterations=3), model,
                   env, params, seeds=4)  # fmt: skip
    assert np.asarray(out.episode_return).mean() >= -200.0, out.episode_return


def test_planner_config_errors():
    model = models.gymnax_pendulum()
    with pytest.raises(ValueError, match="temperature"):
        mppi(model, temperature=0.0)
    with pytest.raises(ValueError, match="num_elites"):
        cem(model, num_samples=8, num_elites=16)
    with pytest.raises(ValueError, match="horizon"):
        ilqr_mpc(model, horizon=0)


def test_cartpole_swingup_env_and_model_agree():
    env, params = envs.make("CartPoleSwingUp-v0")
    assert "CartPoleSwingUp-v0" in envs.list_envs(include_optional=False)
    with pytest.raises(ValueError, match="CartPoleSwingUp-v0"):
        envs.make("CartPoleSwingup-v0")
    model = models.cartpole_swingup(params)
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == (5,) and abs(float(state.theta) - np.pi) <= params.init_noise
    u = jnp.array([0.7])
    x = model.state_fn(state)
    obs2, state2, reward, terminated, truncated, _ = env.step(jax.random.key(1), state, u, params)
    np.testing.assert_allclose(model.state_fn(state2), model.dynamics(x, u, 0), rtol=1e-6)
    np.testing.assert_allclose(1.0 - float(reward), float(model.running_cost(x, u)), rtol=1e-6)
    assert float(reward) < 0.1 and not bool(terminated) and not bool(truncated)
    # Short of gravity, an RK4 step of a still, upright pole keeps it there.
    up = jnp.zeros(4)
    np.testing.assert_allclose(cartpole_swingup.dynamics(up, jnp.zeros(1), params), up)


def test_mjx_jacobians_match_central_differences():
    """Playground CartpoleSwingup through mjx.step: jacfwd vs central differences.

    The state sits past the slider's range limit (|x| > 1.8), so the limit constraint is
    active on both sides of every difference.
    """
    from mujoco_playground import registry

    env = registry.load("CartpoleSwingup", config_overrides={"impl": "jax"})
    dynamics, n, m = models.mjx_model(env)
    x = jnp.array([1.9, 0.5, 1.0, 0.2])
    u = jnp.array([0.9])
    eps = 1e-2

    @jax.jit
    def both(x, u):
        A, B = jax.jacfwd(dynamics, argnums=(0, 1))(x, u, 0)
        z = jnp.concatenate([x, u])

        def diff(e):
            hi, lo = z + e, z - e
            return (dynamics(hi[:n], hi[n:], 0) - dynamics(lo[:n], lo[n:], 0)) / (2 * eps)

        fd = jax.vmap(diff)(eps * jnp.eye(n + m)).T
        return jnp.concatenate([A, B], axis=1), fd

    jac, fd = both(x, u)
    rel = float(jnp.linalg.norm(jac - fd) / jnp.linalg.norm(jac))
    assert rel < 1e-3, (rel, jac, fd)
    assert jac.shape == (n, n + m) and np.all(np.isfinite(jac))
