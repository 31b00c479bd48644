"""Sample efficiency and cost per action: MuZero and AlphaZero against PPO.

    python experiments/muzero_vs_ppo.py [--quick] [--seeds 4] [--json]

For each env (Catch-bsuite, CartPole-v1; Breakout-MinAtar too without ``--quick``) and each
method (``muzero``: learned model; ``alphazero``: search with the true simulator; ``ppo``),
``--seeds`` runs train in one compiled call, in chunks; after each chunk the greedy policy
of every run is evaluated (``--episodes`` episodes per run; MuZero searches its learned
model, AlphaZero searches the true env, PPO takes the policy's mode). Columns:

* ``steps_to_threshold``: env steps (per run) after which the mean evaluation return over
  runs first reaches the threshold (Catch 0.9, CartPole 475, Breakout 10); null if never.
* ``return_mean``: the mean evaluation return at the end.
* ``train_wall_s``: wall time of the training chunks (all runs together, evaluation and
  compilation excluded; ``compile_s`` is reported apart).
* ``ms_per_action_b1`` / ``ms_per_action_b256``: wall time of one greedy action call for a
  batch of 1 and of 256 observations (compiled, median of repeats).

AlphaZero refuses envs with stochastic transitions (Breakout-MinAtar's steps are
deterministic, so it runs there too). With ``--json`` the last line is ``{"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import time

from jaxrl.run import configure_cpu

THRESHOLDS = {"Catch-bsuite": 0.9, "CartPole-v1": 475.0, "Breakout-MinAtar": 10.0}


def budgets(quick: bool) -> dict:
    """(config overrides, hparams overrides, chunks) per (method, env)."""
    s = 1 if quick else 2
    ppo_fast = dict(num_envs=16, num_steps=32)
    return {
        ("muzero", "Catch-bsuite"): (dict(total_steps=20_480 * s), {}, 8),
        ("alphazero", "Catch-bsuite"): (dict(total_steps=8_192 * s, num_simulations=16), {}, 8),
        ("ppo", "Catch-bsuite"): (dict(total_steps=49_152 * s, **ppo_fast), dict(lr=5e-3), 8),
        ("muzero", "CartPole-v1"): (dict(total_steps=20_480 * s), {}, 5),
        ("alphazero", "CartPole-v1"): (dict(total_steps=61_440 * s), {}, 6),
        ("ppo", "CartPole-v1"): (dict(total_steps=98_304 * s, **ppo_fast), dict(lr=5e-3), 8),
        ("muzero", "Breakout-MinAtar"): (dict(total_steps=204_800, hidden=(128,)), {}, 5),
        ("alphazero", "Breakout-MinAtar"): (dict(total_steps=51_200), {}, 5),
        ("ppo", "Breakout-MinAtar"): (dict(total_steps=1_048_576, num_envs=64, num_steps=128,
                                           hidden=(128, 128), activation="relu"), {}, 8),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--methods", default="muzero,alphazero,ppo")
    parser.add_argument("--envs", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)

    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl import learner as contract
    from jaxrl.registry import algorithm
    from jaxrl.run import saved_policies
    from jaxrl.run.evaluate import make_evaluator
    from jaxrl.run.seeds import per_run, shard_inputs

    env_names = args.envs.split(",") if args.envs else (
        ["Catch-bsuite", "CartPole-v1"] + ([] if args.quick else ["Breakout-MinAtar"]))  # fmt: skip
    table = budgets(args.quick)
    rows = []
    for env_name in env_names:
        env, env_params = envs.make(env_name)
        for method in args.methods.split(","):
            module = algorithm(method)
            cfg_kw, hp_kw, chunks = table[(method, env_name)]
            cfg = module.CONFIG(**cfg_kw)
            hp = module.HPARAMS(**hp_kw)
            learner = module.make_learner(cfg, env, env_params)
            total = learner.num_updates
            size = max(1, total // chunks)
            sizes = [size] * (total // size) + ([total % size] if total % size else [])

            mesh, sharding, keys_g, hp_g = shard_inputs(args.seeds, hp, seed=0)
            t0 = time.perf_counter()
            init = jax.jit(
                per_run(
                    lambda k, h, lr=learner: contract.init(lr, jax.random.wrap_key_data(k), h), mesh
                )
            )
            state = init(keys_g, hp_g)
            compiled = {}
            for n in sorted(set(sizes)):
                fn = jax.jit(per_run(lambda s, h, n=n, lr=learner: contract.run(lr, s, h, n), mesh))
                compiled[n] = fn.lower(state, hp_g).compile()
            compile_s = time.perf_counter() - t0

            evaluate = make_evaluator(learner, episodes=args.episodes, greedy=True)

            def score(state, key, lr=learner, ev=evaluate):
                return float(np.mean(ev(saved_policies(lr, state), key)))

            score(state, jax.random.key(0))  # compile

            threshold = THRESHOLDS[env_name]
            train_s, steps, steps_to, curve = 0.0, 0, None, []
            for n in sizes:
                t0 = time.perf_counter()
                state, _ = jax.block_until_ready(compiled[n](state, hp_g))
                train_s += time.perf_counter() - t0
                steps += n * learner.steps_per_update
                mean = score(state, jax.random.key(len(curve)))
                curve.append((steps, mean))
                if steps_to is None and mean >= threshold:
                    steps_to = steps
            one = jax.tree.map(lambda x: x[0], saved_policies(learner, state))
            ms1, ms256 = _ms_per_action(learner, one)
            row = {
                "method": method,
                "env": env_name,
                "seeds": args.seeds,
                "env_steps": steps,
                "steps_to_threshold": steps_to,
                "return_mean": round(curve[-1][1], 3),
                "train_wall_s": round(train_s, 2),
                "compile_s": round(compile_s, 2),
                "ms_per_action_b1": round(ms1, 3),
                "ms_per_action_b256": round(ms256, 3),
                "curve": [[s, round(r, 3)] for s, r in curve],
            }
            rows.append(row)
            print(
                f"{method:<10} {env_name:<16} steps_to_thr={str(steps_to):>8} "
                f"return={row['return_mean']:>8.2f} train={train_s:7.1f}s "
                f"compile={compile_s:6.1f}s ms/act b1={ms1:8.3f} b256={ms256:8.3f}",
                flush=True,
            )
    if args.json:
        print(json.dumps({"rows": rows}))


def _ms_per_action(learner, params, repeats: int = 20):
    """Median wall time (ms) of one greedy action call, batch 1 and batch 256 (planners on
    the true simulator search from the env states)."""
    import jax
    import numpy as np

    from jaxrl import envs

    out = []
    for batch in (1, 256):
        venv = envs.stack(learner.env, learner.env_params, batch)
        obs, state = venv.reset(jax.random.key(0), learner.env_params)
        carry = learner.policy.init_carry(batch)
        fn = jax.jit(lambda p, o, s, k, c=carry: learner.policy.act(p, o, k, c, s, True)[0])
        args = (params, obs, state, jax.random.key(1))
        jax.block_until_ready(fn(*args))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times.append(time.perf_counter() - t0)
        out.append(1000 * float(np.median(times)))
    return out


if __name__ == "__main__":
    main()
