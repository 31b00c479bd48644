"""Stable-Baselines3 PPO against jaxrl PPO on the same dynamics: jaxrl's CartPole-v1.

    pip install torch==2.13.0 stable-baselines3   # not jaxrl dependencies
    python experiments/sb3_vs_jaxrl.py [--seeds 8] [--total-steps 100000] [--quick] [--json]

SB3 trains on jaxrl's env through :class:`jaxrl.envs.gymnasium.GymnasiumEnv` (16 copies in a
``DummyVecEnv``); jaxrl trains natively, all seeds vmapped in one compile. Both use the same
PPO: 16 envs x 32 steps, 4 epochs x 8 minibatches of 64, Adam 2.5e-3 (eps 1e-5) annealed
linearly to 0, gamma 0.99, GAE lambda 0.95, clip 0.2 on the ratio and on the value, entropy
0.01, value 0.5, grad-norm 0.5, separate 64-64 tanh actor and critic with orthogonal init,
advantages normalised per minibatch, truncated episodes bootstrapped. Every final policy is
scored by the same loop: greedy episodes on the gymnasium env (NumPy observations in,
actions out; the jaxrl policy through its jitted act). Both run on one CPU thread (jaxrl on
one XLA device; torch with one thread); wall time is training only (jaxrl's includes its
compile). Prints a table; with --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from jaxrl.run import configure_cpu

ENV = "CartPole-v1"
NUM_ENVS, NUM_STEPS, MINIBATCHES, EPOCHS, LR = 16, 32, 8, 4, 2.5e-3


def evaluate(act, episodes: int, seed: int) -> float:
    """Mean return of ``episodes`` greedy episodes of ``act(obs) -> action`` on the
    gymnasium env (seeds ``seed + e``)."""
    from jaxrl.envs.gymnasium import GymnasiumEnv

    env = GymnasiumEnv(ENV)
    total = 0.0
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += reward
            done = terminated or truncated
    return total / episodes


def run_jaxrl(seeds: int, total_steps: int, episodes: int) -> dict:
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.run import run_seeds, saved_policies

    env, params = envs.make(ENV)
    cfg = ppo.PPOConfig(total_steps=total_steps, num_envs=NUM_ENVS, num_steps=NUM_STEPS,
                        num_minibatches=MINIBATCHES, update_epochs=EPOCHS)  # fmt: skip
    learner = ppo.make_learner(cfg, env, params)
    t0 = time.perf_counter()
    res = run_seeds(learner, seeds, ppo.PPOHParams(lr=LR))
    wall = time.perf_counter() - t0
    saved = saved_policies(learner, res.output.state)
    act = jax.jit(learner.policy.act, static_argnums=5)
    key = jax.random.key(0)
    returns = []
    for i in range(seeds):
        p = jax.tree.map(lambda x, i=i: x[i], saved)

        def one(obs, p=p):
            return int(act(p, obs[None], key, (), None, True)[0][0])

        returns.append(evaluate(one, episodes, 1000))
    final = np.asarray(res.output.metrics["episode_return"][:, -1]).tolist()
    return {"returns": returns, "wall_s": wall, "compile_s": res.compile_s, "run_s": res.run_s,
            "steps": cfg.num_updates * cfg.batch_size, "train_final": final}  # fmt: skip


def run_sb3(seeds: int, total_steps: int, episodes: int) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from jaxrl.envs.gymnasium import GymnasiumEnv

    torch.set_num_threads(1)
    returns, walls = [], []
    for seed in range(seeds):
        venv = DummyVecEnv([lambda s=seed * NUM_ENVS + i: GymnasiumEnv(ENV, seed=s)
                            for i in range(NUM_ENVS)])  # fmt: skip
        model = PPO(
            "MlpPolicy", venv, n_steps=NUM_STEPS, batch_size=NUM_ENVS * NUM_STEPS // MINIBATCHES,
            n_epochs=EPOCHS, learning_rate=lambda remaining: LR * remaining, gamma=0.99,
            gae_lambda=0.95, clip_range=0.2, clip_range_vf=0.2, ent_coef=0.01, vf_coef=0.5,
            max_grad_norm=0.5, normalize_advantage=True, seed=seed, device="cpu", verbose=0,
            policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]},
                           "activation_fn": torch.nn.Tanh, "ortho_init": True},
        )  # fmt: skip
        t0 = time.perf_counter()
        model.learn(total_timesteps=total_steps)
        walls.append(time.perf_counter() - t0)

        def one(obs, model=model):
            return int(model.predict(obs, deterministic=True)[0])

        returns.append(evaluate(one, episodes, 1000))
    steps = (total_steps // (NUM_ENVS * NUM_STEPS) + (total_steps % (NUM_ENVS * NUM_STEPS) > 0)
             ) * NUM_ENVS * NUM_STEPS  # SB3 finishes its last rollout  # fmt: skip
    return {"returns": returns, "wall_s": sum(walls), "steps": steps}


def row(name: str, r: dict, seeds: int) -> dict:
    import numpy as np

    from jaxrl.run import stats

    x = np.asarray(r["returns"], np.float64)
    lo, hi = stats.bootstrap_ci(x)
    return {"library": name, "seeds": seeds, "env_steps_per_seed": r["steps"],
            "eval_iqm": stats.iqm(x), "eval_iqm_ci95": [lo, hi], "eval_mean": float(x.mean()),
            "frac_solved": float(np.mean(x >= 475)), "wall_s": round(r["wall_s"], 2),
            "wall_s_per_seed": round(r["wall_s"] / seeds, 2),
            "env_steps_per_s": round(seeds * r["steps"] / r["wall_s"]),
            "returns": [round(v, 1) for v in r["returns"]],
            **({"compile_s": round(r["compile_s"], 2)} if "compile_s" in r else {})}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--total-steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes per policy")
    parser.add_argument("--quick", action="store_true", help="3 seeds, 50k steps, 5 episodes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.total_steps, args.episodes = 3, 50_000, 5
    configure_cpu(num_devices=1)
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        raise SystemExit("sb3_vs_jaxrl: needs stable-baselines3 and torch: "
                         "pip install torch==2.13.0 stable-baselines3") from None  # fmt: skip
    import numpy as np

    from jaxrl.run import stats

    ours = run_jaxrl(args.seeds, args.total_steps, args.episodes)
    theirs = run_sb3(args.seeds, args.total_steps, args.episodes)
    rows = [row("jaxrl", ours, args.seeds), row("stable-baselines3", theirs, args.seeds)]
    p = stats.probability_of_improvement(ours["returns"], theirs["returns"])
    lo, hi = stats.probability_of_improvement_ci([np.asarray(ours["returns"])],
                                                 [np.asarray(theirs["returns"])])  # fmt: skip
    print(
        f"PPO on jaxrl's {ENV}, {args.seeds} seeds x {args.total_steps:,} env steps, "
        f"{args.episodes} greedy episodes per policy"
    )
    print(
        f"  {'library':<18} {'IQM [95% CI]':>26} {'mean':>7} {'solved':>7} "
        f"{'wall s/seed':>11} {'env steps/s':>12}"
    )
    for r in rows:
        ci = f"{r['eval_iqm']:.1f} [{r['eval_iqm_ci95'][0]:.1f}, {r['eval_iqm_ci95'][1]:.1f}]"
        print(
            f"  {r['library']:<18} {ci:>26} {r['eval_mean']:>7.1f} {r['frac_solved']:>7.2f} "
            f"{r['wall_s_per_seed']:>11.2f} {r['env_steps_per_s']:>12,}"
        )
    print(f"  P(jaxrl > SB3) = {p:.2f} [{lo:.2f}, {hi:.2f}]")
    if args.json:
        print(json.dumps({"env": ENV, "rows": rows, "p_jaxrl_better": p,
                          "p_jaxrl_better_ci95": [lo, hi]}))  # fmt: skip


if __name__ == "__main__":
    main()
