"""How often does a deep RL run end worse than the random policy? Hundreds of seeds per cell.

    python experiments/seed_instability.py [--quick] [--seeds 256] [--lr-seeds 256]
        [--algos ppo,a2c,dqn,sac,sac_discrete,cmaes] [--envs CartPole-v1,...]
        [--out experiments/results/seed_instability.json] [--overwrite] [--json]

Each cell (algorithm x env, where the algorithm handles the env's actions) trains ``--seeds``
runs at the published default hyperparameters named in :data:`SETTINGS` and ``--lr-seeds``
runs at each perturbed learning rate (x3 and /3 of every learning rate of the algorithm;
CMA-ES, which has none, perturbs its initial step size ``sigma``) in ONE compiled call
(``run_seeds`` with one hyperparameter value per run; run ``i`` of every factor shares seed
``i``). Each run's final policy is scored greedily over ``--episodes`` episodes. Per factor:
the fraction of runs below the random policy's mean return (measured on the env over 256
episodes) with a 95 % bootstrap CI, IQM [95 % CI], mean, median, the fraction reaching the
env's solved threshold, a performance profile and a histogram of final scores.

Results merge into ``--out`` (one entry per algorithm x env), so cells can run as separate
commands; a cell that ``--out`` already holds is refused before anything trains unless
``--overwrite`` is given. ``--quick`` (16 seeds, small budgets) writes
``experiments/results/seed_instability_quick.json`` unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

# CMA-ES eigendecomposes its covariance every generation through LAPACK, whose spinning
# OpenBLAS worker threads slow a busy machine down many times (experiments/mpc_vs_rl.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from jaxrl.run import configure_cpu  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ENVS = ("CartPole-v1", "Acrobot-v1", "Breakout-MinAtar", "Pendulum-v1")
ALGOS = ("ppo", "a2c", "dqn", "sac", "sac_discrete", "cmaes")
FACTORS = (1.0, 3.0, 1.0 / 3.0)
SOLVED = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Pendulum-v1": -200.0}
LR_FIELDS = {
    "ppo": ("lr",),
    "a2c": ("lr",),
    "dqn": ("lr",),
    "sac": ("actor_lr", "critic_lr", "alpha_lr"),
    "sac_discrete": ("actor_lr", "critic_lr", "alpha_lr"),
    "cmaes": ("sigma",),
}


class Setting(NamedTuple):
    config: dict
    hparams: dict
    source: str


# CleanRL ppo.py's defaults (jaxrl's PPO defaults): 4 envs x 128 steps, 5e5 steps, Adam
# 2.5e-4 annealed, 4 epochs x 4 minibatches, 64-64 tanh.
_PPO = Setting({}, {}, "CleanRL ppo.py defaults (= jaxrl PPOConfig/PPOHParams), 5e5 steps")
# CleanRL ppo_continuous_action.py: 1 env x 2048 steps, 10 epochs x 32 minibatches, Adam 3e-4
# annealed, no entropy bonus, observation normalisation (its reward normalisation has no
# counterpart in jaxrl), 1e6 steps.
_PPO_CONT = Setting(
    dict(num_envs=1, num_steps=2048, total_steps=1_000_000, update_epochs=10,
         num_minibatches=32, normalize_obs=True),
    dict(lr=3e-4, ent_coef=0.0),
    "CleanRL ppo_continuous_action.py defaults (no reward normalisation), 1e6 steps",
)  # fmt: skip
# MinAtar: PureJaxRL-style MinAtar PPO (64 envs x 128 steps, 128-128 ReLU, lr 2.5e-4 ...) at
# 1e6 steps, the budget experiments/muzero_vs_ppo.py uses, a tenth of the usual 1e7.
_PPO_MINATAR = Setting(
    dict(total_steps=1_048_576, num_envs=64, num_steps=128, num_minibatches=8,
         hidden=(128, 128), activation="relu"),
    {},
    "PureJaxRL-style MinAtar PPO (64 envs x 128 steps, 128-128 ReLU), 1e6 steps (usual: 1e7)",
)  # fmt: skip
# OpenAI Baselines a2c: 16 envs x 5 steps, RMSProp 7e-4 (eps 1e-5), entropy 0.01, n-step
# returns (jaxrl's A2C defaults).
_A2C = Setting({}, {}, "OpenAI Baselines a2c defaults (= jaxrl A2C defaults), 5e5 steps")
# PureJaxRL dqn.py (and CleanRL dqn.py's settings): 10 envs, uniform buffer of 10k, batch
# 128, one gradient step per vector step, learning from 10k steps, target copied every 500 env
# steps, 120-84 ReLU, Adam 2.5e-4, squared TD error, plain targets, eps 1 -> 0.05 over half
# the run, 5e5 steps.
_DQN = Setting(
    dict(num_envs=10, total_steps=500_000, learning_starts=10_000, buffer_size=10_000,
         batch_size=128, train_every=1, gradient_steps=1, log_every=10_000, n_step=1,
         prioritized=False, hidden=(120, 84), double=False, huber=False,
         target_update_every=50),
    dict(lr=2.5e-4, gamma=0.99, tau=1.0, eps_start=1.0, eps_end=0.05, eps_fraction=0.5,
         max_grad_norm=1e9),
    "PureJaxRL dqn.py defaults, 5e5 steps",
)  # fmt: skip
# rl-zoo's SAC for Pendulum-v1 (SB3 defaults: 256-256, batch 256, Adam 3e-4 ... at 2e4 steps
# with lr 1e-3) with jaxrl's learning_starts of 1000.
_SAC = Setting(
    dict(total_steps=20_000, hidden=(256, 256), batch_size=256, learning_starts=1_000),
    dict(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3),
    "rl-zoo SAC Pendulum-v1 (SB3 defaults, lr 1e-3), 2e4 steps",
)  # fmt: skip
# Discrete SAC: CleanRL sac_atari.py's update rules (target entropy 0.89 log|A|, Adam 3e-4)
# on an MLP, jaxrl's SACConfig defaults, 1e5 steps.
_SAC_DISCRETE = Setting(
    dict(total_steps=100_000, hidden=(256, 256)),
    dict(target_entropy_scale=0.89),  # CleanRL's; jaxrl's default is 0.7 (sac.py says why)
    "CleanRL sac_atari.py hyperparameters (0.89 log|A| target entropy, Adam 3e-4) on an MLP, "
    "1e5 steps",
)
# CMA-ES: evosax's CMA-ES defaults with jaxrl's population 16, sigma 0.5 and a 16-unit policy.
_CMAES = Setting({}, {}, "evosax CMA-ES defaults, jaxrl population 16, sigma 0.5, 4e5 steps")

SETTINGS: dict[tuple[str, str], Setting] = {
    ("ppo", "CartPole-v1"): _PPO,
    ("ppo", "Acrobot-v1"): _PPO,
    ("ppo", "Breakout-MinAtar"): _PPO_MINATAR,
    ("ppo", "Pendulum-v1"): _PPO_CONT,
    ("a2c", "CartPole-v1"): _A2C,
    ("a2c", "Acrobot-v1"): _A2C,
    ("a2c", "Breakout-MinAtar"): _A2C._replace(
        config=dict(total_steps=1_048_576, hidden=(128, 128), activation="relu"),
        source="OpenAI Baselines a2c defaults, 128-128 ReLU, 1e6 steps",
    ),
    ("a2c", "Pendulum-v1"): _A2C._replace(
        config=dict(total_steps=1_000_000, normalize_obs=True),
        source="OpenAI Baselines a2c defaults, observation normalisation, 1e6 steps",
    ),
    ("dqn", "CartPole-v1"): _DQN,
    ("dqn", "Acrobot-v1"): _DQN,
    ("dqn", "Breakout-MinAtar"): _DQN._replace(
        config={**_DQN.config, "total_steps": 1_000_000, "hidden": (128, 128)},
        hparams={**_DQN.hparams, "eps_fraction": 0.25},
        source="PureJaxRL dqn.py defaults, 128-128 ReLU, 1e6 steps",
    ),
    ("sac", "Pendulum-v1"): _SAC,
    ("sac_discrete", "CartPole-v1"): _SAC_DISCRETE,
    ("sac_discrete", "Acrobot-v1"): _SAC_DISCRETE,
    ("sac_discrete", "Breakout-MinAtar"): _SAC_DISCRETE,
    ("cmaes", "CartPole-v1"): _CMAES,
    ("cmaes", "Acrobot-v1"): _CMAES,
    # A 16-unit policy on MinAtar's 400 inputs has 6,467 parameters: full CMA-ES's covariance
    # (167 MB per run, 64 GB for 384 runs) does not fit, so this cell runs separable CMA-ES
    # (Ros & Hansen 2008), the diagonal form with linear memory, at the same defaults.
    ("cmaes", "Breakout-MinAtar"): _CMAES._replace(
        config=dict(strategy="sep_cma_es", total_steps=1_024_000, episode_steps=1000),
        source="separable CMA-ES (evosax Sep_CMA_ES, Ros & Hansen's rates), population 16, "
        "sigma 0.5, 1000-step episodes, ~1e6 steps",
    ),
    ("cmaes", "Pendulum-v1"): _CMAES._replace(
        config=dict(episode_steps=200),
        source="evosax CMA-ES defaults, population 16, 200-step episodes, 4e5 steps",
    ),
}


def quick_setting(setting: Setting, algo: str) -> Setting:
    """The same hyperparameters at a small budget (a smoke test of the whole pipeline)."""
    steps = {"ppo": 32_768, "a2c": 32_768, "dqn": 20_000, "sac": 2_000, "sac_discrete": 4_000,
             "cmaes": 64_000}[algo]  # fmt: skip
    config = {**setting.config, "total_steps": steps}
    if algo == "dqn":
        config.update(learning_starts=1_000, buffer_size=5_000, log_every=1_000)
    if algo == "sac_discrete":
        config.update(hidden=(64, 64), learning_starts=500, log_every=500)
    if algo == "sac":
        config.update(hidden=(64, 64), learning_starts=500, log_every=500)
    if algo == "cmaes":
        config["total_steps"] = max(steps, 16 * config.get("episode_steps", 500))
    return setting._replace(config=config, source=setting.source + " [quick budget]")


def scaled_hparams(module, algo: str, base: dict, factors, seeds_per_factor):
    """One hyperparameter value per run: every learning-rate field of the algorithm times the
    run's factor (leading axis ``sum(seeds_per_factor)``); and each field's value per factor."""
    import numpy as np

    values = module.HPARAMS(**base)._asdict()
    scale = np.repeat(np.asarray(factors, np.float32), seeds_per_factor)
    per_factor = {name: [float(values[name]) * f for f in factors] for name in LR_FIELDS[algo]}
    for name in LR_FIELDS[algo]:
        values[name] = np.float32(values[name]) * scale
    return module.HPARAMS(**values), per_factor


def summarize_scores(scores, random_return: float, solved: float | None, edges, taus) -> dict:
    """Statistics of one factor's final scores ``[runs]`` (non-finite: diverged runs, which
    count as below random)."""
    import numpy as np

    from jaxrl.run import stats

    finite = np.isfinite(scores)
    worst = np.where(finite, scores, -np.inf)
    frac, lo, hi = stats.fraction_below_ci(worst, random_return)
    ok = scores[finite]
    iqm_lo, iqm_hi = stats.bootstrap_ci(ok, stats.iqm) if ok.size else (np.nan, np.nan)
    counts, _ = np.histogram(np.clip(ok, edges[0], edges[-1]), bins=edges)
    out = {
        "runs": int(scores.size),
        "diverged": int((~finite).sum()),
        "frac_below_random": [frac, lo, hi],
        "iqm": [stats.iqm(ok), iqm_lo, iqm_hi] if ok.size else None,
        "mean": float(ok.mean()) if ok.size else None,
        "median": float(np.median(ok)) if ok.size else None,
        "min": float(ok.min()) if ok.size else None,
        "max": float(ok.max()) if ok.size else None,
        "profile": stats.performance_profile(worst, taus).tolist(),
        "histogram": counts.tolist(),
    }
    if solved is not None:
        out["frac_solved"] = float(np.mean(worst >= solved))
    return out


def score_range(env_name: str, random_return: float) -> tuple[float, float]:
    """The span of returns an env's histogram and profile cover."""
    return {
        "CartPole-v1": (0.0, 500.0),
        "Acrobot-v1": (-500.0, 0.0),
        "Pendulum-v1": (-1700.0, 0.0),
    }.get(env_name, (min(0.0, random_return), 100.0))


def run_cell(algo: str, env_name: str, setting: Setting, seeds: int, lr_seeds: int,
             episodes: int, factors) -> dict:  # fmt: skip
    import jax
    import numpy as np

    from jaxrl import envs, registry
    from jaxrl.run import evaluate_params, run_seeds, saved_policies
    from jaxrl.run.baseline import random_policy_return

    t_wall = time.perf_counter()
    module = registry.algorithm(algo)
    env, env_params = envs.make(env_name)
    learner = module.make_learner(module.CONFIG(**setting.config), env, env_params)
    per_factor = [seeds if f == 1.0 else lr_seeds for f in factors]
    hparams, lrs = scaled_hparams(module, algo, setting.hparams, factors, per_factor)
    key_ids = np.concatenate([np.arange(n) for n in per_factor])
    res = run_seeds(learner, int(sum(per_factor)), hparams, key_ids=key_ids)
    t0 = time.perf_counter()
    policies = saved_policies(learner, res.output.state)
    scores = evaluate_params(learner, policies, episodes=episodes, greedy=True, seed=1)
    scores = np.where(res.diverged, np.nan, scores)
    eval_s = time.perf_counter() - t0
    random_return = random_policy_return(env, env_params, episodes=256)
    train_final = np.asarray(res.output.metrics["episode_return"])[:, -1]

    low, high = score_range(env_name, random_return)
    edges = np.linspace(low, high, 26)
    taus = np.linspace(low, high, 51)
    solved = SOLVED.get(env_name)
    rows, start = [], 0
    for f, n in zip(factors, per_factor, strict=True):
        s = scores[start : start + n]
        rows.append({
            "factor": f,
            "lr": {name: v[len(rows)] for name, v in lrs.items()},
            **summarize_scores(s, random_return, solved, edges, taus),
            "scores": [round(float(x), 3) for x in s],
            "train_final": [round(float(x), 3) for x in train_final[start : start + n]],
        })  # fmt: skip
        start += n
    return {
        "algo": algo,
        "env": env_name,
        "source": setting.source,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in setting.config.items()},
        "hparams": setting.hparams,
        "lr_fields": list(LR_FIELDS[algo]),
        "env_steps_per_run": learner.total_steps,
        "episodes": episodes,
        "random_return": random_return,
        "solved_threshold": solved,
        "hist_edges": edges.tolist(),
        "taus": taus.tolist(),
        "factors": rows,
        "compile_s": round(res.compile_s, 2),
        "run_s": round(res.run_s, 2),
        "eval_s": round(eval_s, 2),
        "wall_s": round(time.perf_counter() - t_wall, 2),
        "devices": len(jax.devices()),
    }


def verdict(frac_ci) -> str:
    """Where the "30 % of runs worse than random" claim stands for one cell."""
    frac, lo, hi = frac_ci
    if lo >= 0.3:
        return "holds (CI >= 30 %)"
    if hi < 0.3:
        return "fails (CI < 30 %)"
    return "CI spans 30 %"


def print_table(cells: list[dict]) -> None:
    print(f"\n{'algo':<13} {'env':<17} {'lr x':>5} {'runs':>5} {'below random [95% CI]':>24} "
          f"{'IQM [95% CI]':>28} {'solved':>6}  30 % claim")  # fmt: skip
    for c in cells:
        for r in c["factors"]:
            f, lo, hi = r["frac_below_random"]
            iqm = r["iqm"] or [float("nan")] * 3
            solved = f"{r['frac_solved']:.2f}" if "frac_solved" in r else "-"
            print(f"{c['algo']:<13} {c['env']:<17} {r['factor']:>5.2f} {r['runs']:>5} "
                  f"{f:>8.3f} [{lo:.3f}, {hi:.3f}] {iqm[0]:>10.1f} [{iqm[1]:.1f}, {iqm[2]:.1f}]"
                  f" {solved:>6}  {verdict(r['frac_below_random'])}")  # fmt: skip


def merge(path: Path, cells: list[dict], meta: dict) -> dict:
    """Replaces the cells of ``path`` with the same (algo, env) by ``cells``."""
    old = json.loads(path.read_text()) if path.exists() else {"cells": []}
    keep = [c for c in old["cells"] if (c["algo"], c["env"]) not in
            {(n["algo"], n["env"]) for n in cells}]  # fmt: skip
    order = {(a, e): i for i, (a, e) in enumerate(SETTINGS)}
    merged = sorted(keep + cells, key=lambda c: order.get((c["algo"], c["env"]), 1 << 30))
    out = {"study": "seed_instability", **meta, "cells": merged}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None, help="runs at the default lr")
    parser.add_argument("--lr-seeds", type=int, default=None, help="runs at each perturbed lr")
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--out", default=None)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the cells --out already holds")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seeds = args.seeds or (16 if args.quick else 256)
    lr_seeds = args.lr_seeds or seeds
    configure_cpu(num_runs=seeds + 2 * lr_seeds)

    from jaxrl import envs, registry
    from jaxrl._errors import first_unknown
    from jaxrl.run.results import stored_cells_refusal

    out = Path(args.out) if args.out else RESULTS / (
        "seed_instability_quick.json" if args.quick else "seed_instability.json")  # fmt: skip
    for flag, kind, options in (("algos", "algorithm", ALGOS), ("envs", "env", ENVS)):
        if message := first_unknown(kind, getattr(args, flag).split(","), options):
            parser.error(f"--{flag}: {message}")
    plan = []
    for env_name in args.envs.split(","):
        env, env_params = envs.make(env_name)
        discrete = envs.is_discrete(env, env_params)
        for algo in args.algos.split(","):
            handles = registry.ALGORITHMS[algo].actions
            if handles == "both" or (handles == "discrete") == discrete:
                plan.append((algo, env_name))
    if message := stored_cells_refusal(out, plan, overwrite=args.overwrite):
        parser.error(message)
    cells = []
    t_total = time.perf_counter()
    for algo, env_name in plan:
        setting = SETTINGS[(algo, env_name)]
        if args.quick:
            setting = quick_setting(setting, algo)
        cell = run_cell(algo, env_name, setting, seeds, lr_seeds, args.episodes, FACTORS)
        cell["command"] = " ".join(["python experiments/seed_instability.py", *sys.argv[1:]])
        cells.append(cell)
        print_table([cell])
        print(f"  compile {cell['compile_s']} s, run {cell['run_s']} s, evaluation "
              f"{cell['eval_s']} s, wall {cell['wall_s']} s, random policy "
              f"{cell['random_return']:.2f}", flush=True)  # fmt: skip
        merge(out, [cell], {"quick": args.quick})
    total = time.perf_counter() - t_total
    print(f"\ntotal wall {total:.1f} s; results in {out}")
    if args.json:
        print(json.dumps({"total_wall_s": total, "cells": [
            {k: v for k, v in c.items() if k != "factors"} | {"factors": [
                {k: v for k, v in r.items() if k not in ("scores", "train_final")}
                for r in c["factors"]]} for c in cells]}))  # fmt: skip


if __name__ == "__main__":
    main()
