"""Offline RL on jaxrl's own datasets: normalised scores, extrapolation error, and Decision
Transformer's return conditioning.

    python experiments/offline.py [--quick] [--data DIR] [--seeds 8] [--seed 0] [--json]
        [--envs E1,E2] [--kinds K1,K2] [--algos A1,A2] [--steps N] [--width W]

Datasets: ``DIR/<env>/<kind>`` as ``jaxrl dataset make ENV --kind all --out DIR/<env>``
writes them (D4RL's recipe from jaxrl's SAC; made here when missing, which trains the
behaviour SAC first). For each algorithm x dataset, ``--seeds`` runs train vmapped in one
compile; each final policy is scored by its mean greedy return over 16 episodes, put on
D4RL's normalised scale (0: the random policy, 100: the behaviour run's expert), and the
table shows the IQM over seeds with a 95 % percentile-bootstrap CI, and how many seeds
reach 80.

Extrapolation error: for naive offline SAC and TD3 (``sac_offline``, ``td3_offline``) and the
conservative learners, ``q_start`` is the critics' estimate ``min_i Q_i(s0, pi(s0))`` at the
dataset's first states after every update, set against the discounted return (gamma 0.99)
the same policy really earns from the env's start states (16 episodes per seed, measured
after training).

Decision Transformer: the trained policy asked for target returns from the random policy's
to beyond the expert's, on the normalised scale; achieved against asked.

``--quick``: Pendulum-v1, the expert, medium-replay and medium-expert datasets, 3,000
gradient steps per run (256 wide networks cut to 64), DT 1,500 steps; the full run is both
tasks, all five kinds, 30,000 gradient steps and 256-wide networks. ``--steps``, ``--width``
(both hidden layers), ``--envs`` and ``--kinds`` override either mode's choice (DT keeps its
own budget); ``--seed`` is the base key of the runs (run ``i`` trains with
``fold_in(key(seed), i)``), so settings chosen on one base key can be reported on another.
With --json the last stdout line is the whole result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from jaxrl.run import configure_cpu

ENVS = ("Pendulum-v1", "CartPoleSwingUp-v0")
ALGOS = ("bc", "td3_bc", "iql", "cql", "td3_offline", "sac_offline")
VALUE_ALGOS = ("td3_bc", "cql", "td3_offline", "sac_offline")  # q_start in unscaled rewards
TARGETS = (0.0, 25.0, 50.0, 75.0, 100.0, 125.0)
EVAL_EPISODES = 16
GAMMA = 0.99


def discounted_returns(learner, saved, episodes: int, seed: int):
    """``[runs]`` mean discounted return (``GAMMA``) of each run's greedy policy from the
    env's start states, over ``episodes`` episodes (each env's first)."""
    import jax
    import jax.numpy as jnp

    from jaxrl import envs as jenvs
    from jaxrl.episodes import max_steps_of

    venv = jenvs.stack(learner.env, learner.env_params, episodes)
    steps = max_steps_of(learner.env_params)
    policy = learner.policy

    def one(params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, learner.env_params)
        carry = policy.init_carry(episodes)

        def body(loop, key):
            obs, state, carry, total, alive, t = loop
            k_act, k_step = jax.random.split(key)
            action, carry = policy.act(params, obs, k_act, carry, state, True)
            obs, state, reward, term, trunc, _ = venv.step(k_step, state, action,
                                                           learner.env_params)  # fmt: skip
            total = total + alive * GAMMA**t * reward
            alive = alive * (1.0 - (term | trunc))
            return (obs, state, carry, total, alive, t + 1), None

        init = (obs, state, carry, jnp.zeros(episodes), jnp.ones(episodes), 0.0)
        out, _ = jax.lax.scan(body, init, jax.random.split(k_run, steps))
        return out[3].mean()

    keys = jax.random.split(jax.random.key(seed), jax.tree.leaves(saved)[0].shape[0])
    return jax.device_get(jax.jit(jax.vmap(one))(saved, keys))


def ensure_datasets(data: Path, env: str, kinds, log) -> None:
    missing = [k for k in kinds if not (data / env / k / "data" / "metadata.json").exists()]
    if not missing:
        return
    from jaxrl.datasets.collect import make, recipe_for

    log(f"making {env} datasets under {data / env} (behaviour SAC first)")
    # every kind, so that all of an env's datasets share one behaviour run and its references
    kinds_all = ("random", "medium", "expert", "medium-replay", "medium-expert")
    make(env, list(kinds_all), data / env, recipe=recipe_for(env), overwrite=True, log=log)


def run_cell(algo: str, path: Path, env_name: str, seeds: int, config: dict, log,
             seed: int = 0, warmup: bool = True) -> dict:  # fmt: skip
    import numpy as np

    from jaxrl import envs as jenvs
    from jaxrl import registry
    from jaxrl.datasets import read_metadata
    from jaxrl.run import evaluate_params, run_seeds, saved_policies, stats

    module = registry.algorithm(algo)
    env, env_params = jenvs.make(env_name)
    learner = module.make_learner(module.CONFIG(dataset=str(path), **config), env, env_params)
    result = run_seeds(learner, seeds, learner.hparams, seed=seed, warmup=warmup)
    saved = saved_policies(learner, result.output.state)
    returns = evaluate_params(learner, saved, episodes=EVAL_EPISODES, greedy=True, seed=1)
    meta = read_metadata(path)
    lo, hi = float(meta["ref_min_score"]), float(meta["ref_max_score"])
    scores = 100.0 * (np.asarray(returns) - lo) / (hi - lo)
    ci = stats.bootstrap_ci(scores)
    row = {
        "algo": algo,
        "env": env_name,
        "dataset": meta["jaxrl"]["kind"] if "jaxrl" in meta else path.name,
        "seeds": seeds,
        "seed": seed,
        "hidden": list(config.get("hidden", ())),
        "grad_steps": learner.num_updates * learner.steps_per_update,
        "score_iqm": round(stats.iqm(scores), 1),
        "score_ci": [round(ci[0], 1), round(ci[1], 1)],
        "seeds_ge_80": int((scores >= 80).sum()),
        "scores": np.round(scores, 1).tolist(),
        "compile_s": round(result.compile_s, 1),
        "run_s": round(result.run_s, 1),
        "grad_steps_per_s": round(
            seeds * learner.num_updates * learner.steps_per_update / max(result.run_s, 1e-9), 1
        ),  # fmt: skip
    }
    metrics = result.output.metrics
    if "normalized_score" in metrics:  # after each update, eval_episodes greedy episodes per seed
        curve = np.asarray(metrics["normalized_score"])
        row["score_curve"] = [round(stats.iqm(curve[:, i]), 1) for i in range(curve.shape[1])]
    if "alpha" in metrics:  # SAC's temperature (CQL, offline SAC), mean over seeds
        row["alpha_curve"] = np.round(np.asarray(metrics["alpha"]).mean(0), 4).tolist()
    if algo in VALUE_ALGOS and "q_start" in metrics:
        true = discounted_returns(learner, saved, EVAL_EPISODES, seed=2)
        row["q_start_curve"] = np.round(np.asarray(metrics["q_start"]).mean(0), 1).tolist()
        row["q_start_final"] = round(float(np.mean(np.asarray(metrics["q_start"])[:, -1])), 1)
        row["true_discounted_return"] = round(float(np.mean(true)), 1)
    if algo == "dt":
        achieved = {}
        for target in TARGETS:
            asked = lo + target / 100.0 * (hi - lo)
            params = dict(saved)
            params["target_return"] = np.full_like(saved["target_return"], asked)
            r = evaluate_params(learner, params, episodes=EVAL_EPISODES, greedy=True, seed=3)
            achieved[str(target)] = round(float(stats.iqm(100.0 * (r - lo) / (hi - lo))), 1)
        row["dt_achieved_by_target"] = achieved
    log(f"  {algo:<12} {row['dataset']:<14} IQM {row['score_iqm']:7.1f} "
        f"[{row['score_ci'][0]:.1f}, {row['score_ci'][1]:.1f}]  >=80: {row['seeds_ge_80']}/{seeds}"
        f"  compile {row['compile_s']:.0f} s, run {row['run_s']:.0f} s"
        + (f"  q_start {row['q_start_final']:.1f} vs true {row['true_discounted_return']:.1f}"
           if "q_start_final" in row else "")
        + (f"  DT {row['dt_achieved_by_target']}" if algo == "dt" else ""))  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default="/tmp/jaxrl_offline_data")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--algos", default=",".join(ALGOS + ("dt",)))
    parser.add_argument("--kinds", default="", help="datasets (default: as --quick says)")
    parser.add_argument("--envs", default="", help="envs (default: as --quick says)")
    parser.add_argument("--steps", type=int, default=0, help="gradient steps (0: the mode's)")
    parser.add_argument("--width", type=int, default=0, help="hidden width (0: the mode's)")
    parser.add_argument("--seed", type=int, default=0, help="base key of the runs")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="train once, not twice (run_s then includes first-call costs)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else print
    envs = ENVS[:1] if args.quick else ENVS
    if args.envs:
        envs = tuple(e for e in args.envs.split(",") if e)
    kinds = (("expert", "medium-replay", "medium-expert") if args.quick else
             ("random", "medium", "expert", "medium-replay", "medium-expert"))  # fmt: skip
    if args.kinds:
        kinds = tuple(k for k in args.kinds.split(",") if k)
    steps = args.steps or (3_000 if args.quick else 30_000)
    width = (args.width,) * 2 if args.width else (64, 64) if args.quick else (256, 256)
    base = {"total_steps": steps, "log_every": steps // 6, "hidden": width, "eval_episodes": 2}
    dt_steps = 1_500 if args.quick else 20_000
    dt_config = {"total_steps": dt_steps, "log_every": dt_steps // 3, "eval_episodes": 2,
                 "warmup_steps": dt_steps // 10,
                 **({"context": 10, "width": 64, "layers": 2} if args.quick else {})}  # fmt: skip
    algos = [a for a in args.algos.split(",") if a]
    data = Path(args.data)
    t0 = time.perf_counter()
    rows = []
    for env in envs:
        ensure_datasets(data, env, kinds, log)
        for kind in kinds:
            for algo in algos:
                if algo == "dt" and kind != "medium-expert":
                    continue  # return conditioning needs returns of more than one level
                config = dt_config if algo == "dt" else base
                rows.append(run_cell(algo, data / env / kind, env, args.seeds, config, log,
                                     seed=args.seed, warmup=not args.no_warmup))  # fmt: skip
    log("")
    log(f"{'env':<20} {'dataset':<14} " + " ".join(f"{a:>18}" for a in algos))
    for env in envs:
        for kind in kinds:
            cells = {r["algo"]: r for r in rows if r["env"] == env and r["dataset"] == kind}
            log(f"{env:<20} {kind:<14} " + " ".join(
                f"{cells[a]['score_iqm']:6.1f} [{cells[a]['score_ci'][0]:5.1f},"
                f"{cells[a]['score_ci'][1]:5.1f}]" if a in cells else f"{'-':>18}"
                for a in algos))  # fmt: skip
    out = {"quick": args.quick, "seeds": args.seeds, "seed": args.seed, "steps": steps,
           "hidden": list(width), "rows": rows,
           "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    log(f"wall {out['wall_s']:.0f} s")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
