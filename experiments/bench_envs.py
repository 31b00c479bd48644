"""Env steps per second under uniform random actions: which simulator the CPU affords.

    python experiments/bench_envs.py [--envs playground/CheetahRun,brax/halfcheetah,...]
        [--num-envs 1 16] [--steps 1000] [--out experiments/results/bench_envs.json]

For each env and each batch size, one jitted ``lax.scan`` of ``--steps`` vectorised steps
(``jaxrl.envs.stack``, auto-reset) is compiled and run once (compile), then timed twice more
(the faster of the two is the figure; MJX models can recompile on the second call). Prints a
table; ``--out`` writes it as JSON (never over an existing file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from jaxrl.run import configure_cpu

DEFAULT_ENVS = ("playground/CheetahRun", "brax/halfcheetah", "brax/hopper", "Pendulum-v1")


def measure(name: str, num_envs: int, steps: int) -> dict:
    import jax

    from jaxrl import envs

    env, params = envs.make(name)
    spec = envs.action_spec(env, params)
    venv = envs.stack(env, params, num_envs)

    @jax.jit
    def run(key):
        obs, state = venv.reset(key, params)

        def body(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            action = spec.to_env(spec.random(k_act, num_envs))
            _, state, reward, *_ = venv.step(k_step, state, action, params)
            return (state, total + reward.sum()), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    t = time.perf_counter()
    jax.block_until_ready(run(jax.random.key(0)))
    first = time.perf_counter() - t
    runs = []
    for i in (1, 2):
        t = time.perf_counter()
        jax.block_until_ready(run(jax.random.key(i)))
        runs.append(time.perf_counter() - t)
    best = min(runs)
    return {
        "env": name,
        "num_envs": num_envs,
        "steps": steps,
        "compile_and_first_s": round(first, 2),
        "run_s": [round(r, 3) for r in runs],
        "env_steps_per_s": round(steps * num_envs / best, 1),
        "ms_per_step": round(1000 * best / steps, 3),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default=",".join(DEFAULT_ENVS))
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.steps <= 0 or min(args.num_envs) <= 0:
        parser.error("--steps and --num-envs must be positive")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        parser.error(f"{out} exists; choose another --out")
    configure_cpu(num_runs=1)
    rows = []
    print(f"{'env':<24} {'envs':>5} {'compile+1st s':>14} {'run s':>8} {'steps/s':>10} "
          f"{'ms/step':>8}")  # fmt: skip
    for name in [e for e in args.envs.split(",") if e]:
        for n in args.num_envs:
            r = measure(name, n, args.steps)
            rows.append(r)
            line = (f"{name:<24} {n:>5} {r['compile_and_first_s']:>14.1f} "
                    f"{min(r['run_s']):>8.3f} {r['env_steps_per_s']:>10,.0f} "
                    f"{r['ms_per_step']:>8.3f}")  # fmt: skip
            print(line, flush=True)
    if out is not None:
        meta = {"cpu": cpu_model(), "cores": os.cpu_count(),
                "xla_flags": os.environ.get("XLA_FLAGS", ""), "rows": rows}  # fmt: skip
        out.write_text(json.dumps(meta, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
