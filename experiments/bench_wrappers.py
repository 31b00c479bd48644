"""Cost of jaxrl's vectorised env with episode statistics against raw gymnax stepping.

    python experiments/bench_wrappers.py [--envs 4096] [--steps 1000] [--json]

Both sides step CartPole-v1 with random actions inside one jitted ``lax.scan``: raw is
``jax.vmap(env.step)`` of gymnax; jaxrl is ``VecEnv(EpisodeStatistics(env))`` through
``step`` (keys split inside) and through ``step_prepared`` (keys and resets drawn per block).
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import jax

    from jaxrl import envs

    env, p = envs.make("CartPole-v1")
    n, T = args.envs, args.steps
    venv = envs.VecEnv(envs.EpisodeStatistics(env), n)

    def raw(key):
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, n), p)

        def body(state, k):
            ka, ks = jax.random.split(k)
            a = jax.random.randint(ka, (n,), 0, 2)
            obs, state, r, term, trunc, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(ks, n), state, a, p
            )
            return state, r.sum()

        return jax.lax.scan(body, state, jax.random.split(key, T))[1].sum()

    def wrapped(key):
        obs, state = venv.reset(key, p)

        def body(state, k):
            ka, ks = jax.random.split(k)
            a = jax.random.randint(ka, (n,), 0, 2)
            obs, state, r, term, trunc, info = venv.step(ks, state, a, p)
            return state, r.sum() + info["episode_return"].sum() * 0

        return jax.lax.scan(body, state, jax.random.split(key, T))[1].sum()

    def prepared(key):
        obs, state = venv.reset(key, p)
        block = 100

        def outer(state, k):
            k_env, k_act = jax.random.split(k)
            prep = venv.prepare(k_env, block, p)
            actions = jax.random.randint(k_act, (block, n), 0, 2)

            def body(state, xs):
                prep_t, a = xs
                obs, state, r, term, trunc, info = venv.step_prepared(prep_t, state, a, p)
                return state, r.sum() + info["episode_return"].sum() * 0

            state, r = jax.lax.scan(body, state, (prep, actions))
            return state, r.sum()

        return jax.lax.scan(outer, state, jax.random.split(key, T // block))[1].sum()

    rows = []
    for name, fn in [("gymnax_raw", raw), ("jaxrl_step", wrapped), ("jaxrl_prepared", prepared)]:
        t0 = time.perf_counter()
        compiled = jax.jit(fn).lower(jax.random.key(0)).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(jax.random.key(1)))
        times = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(jax.random.key(2 + i)))
            times.append(time.perf_counter() - t0)
        run_s = min(times)
        rows.append({"name": name, "compile_s": round(compile_s, 3), "run_s": round(run_s, 4),
                     "steps_per_s": round(n * T / run_s)})  # fmt: skip
    base = rows[0]["run_s"]
    for r in rows:
        r["ratio_to_raw"] = round(r["run_s"] / base, 3)
        print(f"{r['name']:<16} compile {r['compile_s']:6.2f} s  run {r['run_s']:7.3f} s  "
              f"{r['steps_per_s']:>12,} steps/s  x{r['ratio_to_raw']:.3f} of raw")  # fmt: skip
    if args.json:
        print(json.dumps({"envs": n, "steps": T, "rows": rows}))


if __name__ == "__main__":
    main()
