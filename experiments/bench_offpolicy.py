"""Off-policy and actor-critic learners at their target budgets, SAC speed, replay memory.

    python experiments/bench_offpolicy.py [--seeds 4] [--json] [--skip-targets] [--skip-speed]

Targets (4 seeds each, final return = mean over seeds of the mean greedy evaluation return
over 16 episodes at the end): DQN CartPole-v1 1e5 steps, SAC Pendulum-v1 2e4, TD3
Pendulum-v1 3e4, A2C CartPole-v1 5e5. Each run compiles once (timed apart) and runs once.

Speed: SAC with 256-256 networks and batch 256 on Pendulum-v1, 1 seed and 16 vmapped seeds:
gradient steps per second (the run includes its env steps, so this is a lower bound) and the
fraction of the machine's f32 matmul peak, measured here with a 1024x1024 matmul.

Memory: the replay buffer of 16 seeds x 1e6 Pendulum transitions, from the state's shapes,
and XLA's memory analysis of the compiled run (temporary bytes beyond arguments and
outputs show whether the buffer is copied inside the loop).

With --json the last line is ``{"rows": [...], "sac_speed": {...}, "memory": {...}}``.
"""

from __future__ import annotations

import argparse
import json

from jaxrl.run import configure_cpu, matmul_peak_gflops

TARGETS = [
    # algo, env, config overrides, hparam overrides, threshold
    ("dqn", "CartPole-v1", {"total_steps": 100_000}, {}, 400.0),
    ("sac", "Pendulum-v1", {"total_steps": 20_000, "hidden": (64, 64)}, {}, -250.0),
    ("td3", "Pendulum-v1", {"total_steps": 30_000, "hidden": (64, 64)}, {}, -250.0),
    ("a2c", "CartPole-v1", {"total_steps": 500_000}, {}, 400.0),
]


def _mlp_macs(sizes) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def sac_flops_per_grad_step(obs_dim: int, act_dim: int, hidden=(256, 256), batch=256) -> float:
    """Forward-equivalents per SAC gradient step: critic update 9 (actor on s' 1, twin targets
    2, twin critics forward+backward 2x3), actor update 7 (actor forward+backward 3, twin
    critics forward 2 and backward to the action 2). 2 FLOPs per multiply-add."""
    actor = _mlp_macs((obs_dim, *hidden, 2 * act_dim))
    critic = _mlp_macs((obs_dim + act_dim, *hidden, 1))
    per_sample = 1 * actor + 2 * critic + 6 * critic + 3 * actor + 4 * critic
    return 2.0 * per_sample * batch


def run_target(algo, env_name, config_kw, hparams_kw, seeds):
    import numpy as np

    from jaxrl import envs
    from jaxrl.registry import algorithm
    from jaxrl.run import evaluate_params, run_seeds, saved_policies

    module = algorithm(algo)
    env, env_params = envs.make(env_name)
    learner = module.make_learner(module.CONFIG(**config_kw), env, env_params)
    res = run_seeds(learner, seeds, module.HPARAMS(**hparams_kw), warmup=False)
    policies = saved_policies(learner, res.output.state)
    returns = evaluate_params(learner, policies, episodes=16, greedy=True)
    steps = learner.total_steps
    return {
        "algo": algo,
        "env": env_name,
        "seeds": seeds,
        "steps": steps,
        "final_return_mean": round(float(np.mean(returns)), 2),
        "final_return_per_seed": [round(float(r), 2) for r in returns],
        "compile_s": round(res.compile_s, 2),
        "run_s": round(res.run_s, 2),
        "sps": round(seeds * steps / res.run_s),
        "diverged": int(res.diverged.sum()),
    }


def sac_speed(peak: float, total_steps: int) -> dict:
    from jaxrl import envs
    from jaxrl.agents.offpolicy import sac
    from jaxrl.run import run_seeds

    env, env_params = envs.make("Pendulum-v1")
    cfg = sac.SACConfig(total_steps=total_steps, learning_starts=1_000, log_every=1_000)
    train = sac.make_learner(cfg, env, env_params)
    grad_steps = (total_steps - cfg.learning_starts) // cfg.steps_per_iteration
    flops = sac_flops_per_grad_step(3, 1)
    out = {"hidden": list(cfg.hidden), "batch": cfg.batch_size, "grad_steps": grad_steps,
           "gflop_per_grad_step": round(flops / 1e9, 3), "peak_gflops": round(peak, 1)}  # fmt: skip
    for seeds in (1, 16):
        res = run_seeds(train, seeds, sac.SACHParams(), warmup=False)
        gps = seeds * grad_steps / res.run_s
        out[f"seeds_{seeds}"] = {
            "compile_s": round(res.compile_s, 2),
            "run_s": round(res.run_s, 2),
            "grad_steps_per_s": round(gps, 1),
            "frac_of_peak": round(gps * flops / 1e9 / peak, 3),
        }
    out["cost_16_vs_1"] = round(out["seeds_16"]["run_s"] / out["seeds_1"]["run_s"], 2)
    return out


def replay_memory(seeds: int = 16, capacity: int = 1_000_000) -> dict:
    import jax

    from jaxrl import envs
    from jaxrl import learner as contract
    from jaxrl.agents.offpolicy import sac

    env, env_params = envs.make("Pendulum-v1")
    cfg = sac.SACConfig(total_steps=2_000, buffer_size=capacity, hidden=(64, 64))
    learner = sac.make_learner(cfg, env, env_params)
    keys = jax.random.split(jax.random.key(0), seeds)
    state = jax.eval_shape(jax.vmap(lambda k: contract.init(learner, k)), keys)
    buffer_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state.buffer.data))
    step = jax.jit(jax.vmap(lambda s: contract.run(learner, s, None, 1)[0]), donate_argnums=0)
    mem = step.lower(state).compile().memory_analysis()
    return {
        "seeds": seeds,
        "transitions_per_seed": capacity,
        "buffer_gib": round(buffer_bytes / 2**30, 3),
        "compiled_argument_gib": round(mem.argument_size_in_bytes / 2**30, 3),
        "compiled_output_gib": round(mem.output_size_in_bytes / 2**30, 3),
        "compiled_alias_gib": round(mem.alias_size_in_bytes / 2**30, 3),
        "compiled_temp_gib": round(mem.temp_size_in_bytes / 2**30, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-targets", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-steps", type=int, default=3_000)
    args = parser.parse_args()
    configure_cpu(num_runs=16)

    rows = []
    if not args.skip_targets:
        print(f"{'algo':<6} {'env':<12} {'steps':>8} {'return':>9} {'compile_s':>9} "
              f"{'run_s':>8} {'sps':>9}")  # fmt: skip
        for algo, env_name, cfg_kw, hp_kw, threshold in TARGETS:
            row = run_target(algo, env_name, cfg_kw, hp_kw, args.seeds)
            row["target"] = threshold
            row["met"] = row["final_return_mean"] >= threshold
            rows.append(row)
            print(f"{algo:<6} {env_name:<12} {row['steps']:>8} {row['final_return_mean']:>9.1f} "
                  f"{row['compile_s']:>9.2f} {row['run_s']:>8.2f} {row['sps']:>9,}",
                  flush=True)  # fmt: skip
    result = {"rows": rows}
    if not args.skip_speed:
        import jax

        peak = matmul_peak_gflops(devices=jax.devices()[:1])  # one core's peak
        speed = sac_speed(peak, args.speed_steps)
        print("SAC 256-256 batch 256:", json.dumps(speed), flush=True)
        result["sac_speed"] = speed
        del jax
    memory = replay_memory()
    print("replay memory:", json.dumps(memory))
    result["memory"] = memory
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
