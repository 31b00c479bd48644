"""MPC with the true model vs. policy search and deep RL on two swing-up tasks.

    python experiments/mpc_vs_rl.py [--quick] [--seeds 8] [--json]

Tasks: gymnax ``Pendulum-v1`` (random start, torque limit 2, 200 steps) and jaxrl's
``CartPoleSwingUp-v0`` (pole hanging down, force limit, 200 steps). Rows:

- ``ilqr_mpc``, ``mppi``, ``cem``: receding-horizon planners on an exact copy of the env's
  dynamics (:mod:`jaxrl.control.models`), zero training; 8 episodes per seed.
- ``cmaes`` (CMA-ES policy search), ``ppo`` and ``sac`` (when registered): trained for the
  stated env-step budget per seed, then the final policy is evaluated greedily on 8 fresh
  episodes per seed.

Columns: mean return over seeds with a 95 % percentile-bootstrap CI of the mean,
``train_env_steps`` per seed, ``train_wall_s`` (all seeds together, compile excluded),
``ms_per_action`` (wall time of a jitted, vmapped evaluation rollout over all seeds divided
by seeds x steps: planning or network forward plus the env step, amortised over the vmap).
Also times the iLQR pendulum swing-up solve (:func:`ilqr_swingup_timing`). With --json the
last stdout line is ``{"rows": [...], "ilqr_swingup": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

# CMA-ES eigendecomposes its covariance every generation through LAPACK; OpenBLAS's worker
# threads spin and, on a busy 2-core machine, made 50 generations take 45 s instead of 0.3 s.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from jaxrl.run import configure_cpu  # noqa: E402

ENVS = {"pendulum": "Pendulum-v1", "cartpole_swingup": "CartPoleSwingUp-v0"}

# Per seed env-step budgets (quick, full).
PLANNER_EPISODES = 8  # per seed, as the 8 evaluation episodes of each trained learner
BUDGETS = {"cmaes": (160_000, 960_000), "ppo": (200_000, 1_000_000), "sac": (8_000, 20_000)}


def _planners(env_key: str, model):
    from jaxrl.control import cem, ilqr_mpc, mppi

    # Horizons: 1 s on the pendulum (dt 0.05; 0.75 s and 1.5 s both did worse with iLQR),
    # 1.5 s on the cart-pole.
    horizon, first = (20, 100) if env_key == "pendulum" else (30, 200)
    return {
        "ilqr_mpc": ilqr_mpc(model, horizon=horizon, iterations=10, first_iterations=first),
        "mppi": mppi(model, horizon=horizon, num_samples=256),
        "cem": cem(model, horizon=horizon, num_samples=128, num_elites=16, iterations=4),
    }


def ilqr_swingup_timing(repeats: int = 20) -> dict:
    """The iLQR acceptance problem: pendulum swing-up, rk4, dt 0.01, T = 300, from rest down.

    Cost ``0.1 |x - x*|^2 + 0.01 u^2`` per step and ``1000 |x_T - x*|^2`` at the end,
    ``x* = (pi, 0)``; ``maxiter=100``. Returns the median solve time after compile.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl.control import ilqr, models

    horizon = 300
    dynamics = models.rk4(models.pendulum_ode(), 0.01)

    def cost(x, u, t):
        err = x - jnp.array([jnp.pi, 0.0])
        return jnp.where(t == horizon, 1000.0 * err @ err, 0.1 * err @ err + 0.01 * u @ u)

    solve = jax.jit(lambda x0: ilqr(cost, dynamics, x0, jnp.zeros((horizon, 1)), maxiter=100))
    x0 = jnp.zeros(2)
    t0 = time.perf_counter()
    compiled = solve.lower(x0).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = jax.block_until_ready(compiled(x0))
        times.append(time.perf_counter() - t0)
    return {"solve_s_median": float(np.median(times)), "solve_s_min": float(np.min(times)),
            "compile_s": compile_s, "iterations": int(res.iterations),
            "converged": bool(res.converged),
            "final_angle_error": float(abs(res.xs[-1, 0] - np.pi))}  # fmt: skip


def _summary(returns):
    import numpy as np

    from jaxrl.run import stats

    lo, hi = stats.bootstrap_ci(returns, statistic=stats.mean)
    return {"return_mean": float(np.mean(returns)), "return_ci_low": lo, "return_ci_high": hi}


def planner_rows(env_key: str, seeds: int, episodes: int = PLANNER_EPISODES) -> list[dict]:
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.control import episode, models

    env, params = envs.make(ENVS[env_key])
    model = (models.gymnax_pendulum(params) if env_key == "pendulum"
             else models.cartpole_swingup(params))  # fmt: skip
    steps = int(params.max_steps_in_episode)
    keys = jax.random.split(jax.random.key(1234), (seeds, episodes))
    rows = []
    for name, planner in _planners(env_key, model).items():
        one = jax.vmap(lambda k, p=planner: episode(p, model, env, params, k))
        run = jax.jit(jax.vmap(one))
        t0 = time.perf_counter()
        compiled = run.lower(keys).compile()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(keys))
        run_s = time.perf_counter() - t0
        returns = np.asarray(out.episode_return).mean(axis=1)  # per seed
        rows.append({"method": name, "env": ENVS[env_key], **_summary(returns),
                     "train_env_steps": 0, "train_wall_s": 0.0,
                     "ms_per_action": 1000 * run_s / (seeds * episodes * steps),
                     "compile_s": compile_s})  # fmt: skip
    return rows


def _config(algo: str, module, budget: int, quick: bool):
    if algo == "cmaes":
        return module.CONFIG(total_steps=budget, episode_steps=200)
    if algo == "sac" and quick:  # 256-256 networks cost ~47 ms per update of 8 seeds here
        return module.CONFIG(total_steps=budget, hidden=(64, 64))
    return module.CONFIG(total_steps=budget)


def learner_rows(algo: str, env_key: str, seeds: int, quick: bool) -> list[dict]:
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.registry import algorithm
    from jaxrl.run import run_seeds, saved_policies
    from jaxrl.run.evaluate import make_evaluator

    module = algorithm(algo)
    env, params = envs.make(ENVS[env_key])
    budget = BUDGETS[algo][0 if quick else 1]
    learner = module.make_learner(_config(algo, module, budget, quick), env, params)
    res = run_seeds(learner, seeds, module.HPARAMS(), seed=0)
    steps = int(params.max_steps_in_episode)
    evaluate = make_evaluator(learner, episodes=8, greedy=True)
    policies = jax.tree.map(jax.numpy.asarray, saved_policies(learner, res.output.state))
    key = jax.random.key(99)
    jax.block_until_ready(evaluate(policies, key))
    t0 = time.perf_counter()
    per_seed = np.asarray(jax.block_until_ready(evaluate(policies, key)))
    run_s = time.perf_counter() - t0
    per_seed = np.where(res.diverged, np.nan, per_seed)
    return [{"method": algo, "env": ENVS[env_key], **_summary(per_seed[np.isfinite(per_seed)]),
             "train_env_steps": int(learner.total_steps),
             "train_wall_s": res.run_s, "ms_per_action": 1000 * run_s / (seeds * 8 * steps),
             "compile_s": res.compile_s, "diverged": int(res.diverged.sum())}]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small training budgets")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated methods to run")
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)

    learners = ["cmaes", "ppo", "sac"]
    only = set(args.only.split(",")) if args.only else None
    rows = []
    t_start = time.perf_counter()
    swingup = ilqr_swingup_timing()
    for env_key in ENVS:
        if only is None or only & {"ilqr_mpc", "mppi", "cem"}:
            rows += [r for r in planner_rows(env_key, args.seeds)
                     if only is None or r["method"] in only]  # fmt: skip
        for algo in learners:
            if only is None or algo in only:
                rows += learner_rows(algo, env_key, args.seeds, args.quick)
    header = (f"{'method':<9} {'env':<19} {'return [95% CI]':>26} {'train steps':>12} "
              f"{'train s':>8} {'ms/action':>10} {'compile s':>9}")  # fmt: skip
    print(header)
    for r in rows:
        ci = f"{r['return_mean']:.1f} [{r['return_ci_low']:.1f}, {r['return_ci_high']:.1f}]"
        print(
            f"{r['method']:<9} {r['env']:<19} {ci:>26} {r['train_env_steps']:>12,} "
            f"{r['train_wall_s']:>8.1f} {r['ms_per_action']:>10.4f} {r['compile_s']:>9.1f}"
        )
    print(
        f"iLQR pendulum swing-up (rk4, dt 0.01, T 300, maxiter 100): "
        f"{swingup['solve_s_median'] * 1000:.1f} ms median solve after compile, "
        f"{swingup['iterations']} iterations, |theta_T - pi| {swingup['final_angle_error']:.4f}"
    )
    print(f"seeds {args.seeds}, quick {args.quick}, total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        print(json.dumps({"rows": rows, "ilqr_swingup": swingup}))


if __name__ == "__main__":
    main()
