"""PPO on CartPole-v1 at the reference hyperparameters: compile time, throughput, solve rate.

    python experiments/bench_ppo.py --seeds 16 [--total-steps 500000] [--chunks 20] [--json]

Hyperparameters: 4 envs x 128 steps, 4 epochs x 4 minibatches, Adam 2.5e-4 (eps 1e-5)
annealed linearly to 0, gamma 0.99, lambda 0.95, clip 0.2 (value clipped too), entropy 0.01,
value 0.5, grad-norm 0.5, separate 64-64 tanh actor and critic. Compile and run are timed
apart (one untimed execution warms up first). The FLOP rate is compared with the f32 matmul
peak of the devices the run uses, measured here (1024 x 1024, every device at once), unless
``--peak-gflops`` is given. With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource

from jaxrl.run import configure_cpu, matmul_peak_gflops

# Forward FLOPs per sample of the two 64-64 MLPs (obs 4; 2 logits and 1 value).
FWD_FLOPS = 2 * ((4 * 64 + 64 * 64 + 64 * 2) + (4 * 64 + 64 * 64 + 64 * 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--chunks", type=int, default=0, help="also time the run in chunks with a progress bar"
    )
    parser.add_argument(
        "--peak-gflops", type=float, default=0.0, help="matmul peak (default: measure it)"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the parts of an update, 1 seed"
    )
    parser.add_argument(
        "--implementation", default="auto", help="PPOConfig.implementation: auto, plain or cpu"
    )
    parser.add_argument(
        "--breakdown-runs",
        type=int,
        default=1,
        help="runs vmapped together on one device in the breakdown (figures per run)",
    )
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)

    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.run import run_seeds

    env, params = envs.make("CartPole-v1")
    cfg = ppo.PPOConfig(total_steps=args.total_steps, implementation=args.implementation)
    train = ppo.make_learner(cfg, env, params)
    res = run_seeds(train, args.seeds, ppo.PPOHParams(), warmup=True)
    final = res.output.metrics["episode_return"][:, -1]
    steps = cfg.num_updates * cfg.batch_size
    devices = jax.devices()[: min(args.seeds, len(jax.devices()))]
    peak = args.peak_gflops or matmul_peak_gflops(devices=devices)
    # Rollout forward passes + per epoch a forward and a backward (~2x forward) pass.
    flops = steps * FWD_FLOPS * (1 + 3 * cfg.update_epochs) * args.seeds
    row = {
        "seeds": args.seeds,
        "steps": steps,
        "compile_s": round(res.compile_s, 3),
        "run_s": round(res.run_s, 3),
        "sps": round(args.seeds * steps / res.run_s),
        "final_return_mean": float(np.mean(final)),
        "frac_solved": float(np.mean(final >= 475)),
        "gflops": round(flops / res.run_s / 1e9, 1),
        "peak_gflops": round(peak, 1),
        "frac_of_peak": round(flops / res.run_s / 1e9 / peak, 3),
        "devices": len(devices),
        "diverged": int(res.diverged.sum()),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if args.chunks:
        from jaxrl.run.chunked import chunk_size, run_chunked

        size = chunk_size(cfg.num_updates, args.chunks)
        chunked = run_chunked(train, args.seeds, ppo.PPOHParams(), chunk_updates=size)
        same = all(np.array_equal(a, b) for a, b in zip(
            jax.tree.leaves(chunked.output.state.params), jax.tree.leaves(res.output.state.params),
            strict=True))  # fmt: skip
        row.update(chunks=cfg.num_updates // size, chunked_run_s=round(chunked.run_s, 3),
                   chunked_overhead=round(chunked.run_s / res.run_s - 1, 3),
                   chunked_bit_identical=bool(same))  # fmt: skip
    if args.breakdown:
        row.update(breakdown(cfg, env, params, args.breakdown_runs))
    width = max(len(k) for k in row)
    for k, v in row.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        print(json.dumps(row))


def breakdown(cfg, env, env_params, runs: int = 1) -> dict:
    """Microseconds per update of one seed for each part, every part compiled and timed on
    its own over ``num_updates`` updates: the rollout; the rollout plus evaluating it (log-probs,
    values, GAE); plus building and shuffling the minibatches; and the SGD steps alone (on a
    fixed random batch). With ``runs > 1``, that many runs are vmapped together (as
    :func:`jaxrl.run.run_seeds` groups them on a device) and the figures are per run."""
    import time

    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from jaxrl.agents.onpolicy import ppo
    from jaxrl.agents.onpolicy import ppo_cpu as fast
    from jaxrl.networks import init_actor_critic

    learner = ppo.cpu_parts(cfg, env, env_params)
    hp = jax.tree.map(jnp.float32, ppo.PPOHParams())
    tx = ppo.make_optimizer(cfg, hp)
    p = learner.policy
    params = init_actor_critic(jax.random.key(0), learner.obs_dim, p.num_actions, cfg.hidden)
    obs, env_state = learner.venv.reset(jax.random.key(1), env_params)
    keys = jax.random.split(jax.random.key(2), (runs, cfg.num_updates)[runs == 1 :])

    def same_per_run(x):
        return x if runs == 1 else jax.tree.map(lambda a: jnp.broadcast_to(a, (runs, *a.shape)), x)

    def timed(fn, *args):
        compiled = jax.jit(fn if runs == 1 else jax.vmap(fn)).lower(*args).compile()
        jax.block_until_ready(compiled(*args))
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            best = min(best, time.perf_counter() - t)
        return round(best / cfg.num_updates / runs * 1e6, 1)

    def rollout_parts(depth):
        def body(carry, key):
            env_state, obs = carry
            draws = fast.draw_update(learner, key)
            env_state, obs, traj = fast.collect_rollout(learner, params, env_state, obs, draws,
                                                        env_params)  # fmt: skip
            out = traj.obs.sum()
            if depth > 0:
                evaluated = fast.evaluate_rollout(learner, params, traj, hp)
                out += evaluated[2].sum()
                if depth > 1:
                    batch = fast.make_batch(learner, traj, *evaluated)
                    perms = fast.permutations_from_bits(draws.permutation_bits)
                    out += fast.minibatches(learner, batch, perms).sum()
            return (env_state, obs), out

        return lambda s, o, k: jax.lax.scan(body, (s, o), k)[1]

    flat = ravel_pytree(params)[0]
    batch = jax.random.normal(jax.random.key(3), (cfg.batch_size, learner.num_rows))
    batch = batch.at[:, learner.obs_dim].set(0.0)  # a valid action column
    bits = jax.random.bits(jax.random.key(4), (cfg.update_epochs, cfg.batch_size), jnp.uint32)
    mbs = fast.minibatches(learner, batch, fast.permutations_from_bits(bits))

    def sgd(flat, opt_state):
        def body(carry, _):
            flat, opt_state, _ = fast.sgd_epochs(learner, tx, *carry, mbs, hp)
            return (flat, opt_state), None

        return jax.lax.scan(body, (flat, opt_state), None, cfg.num_updates)[0]

    state = same_per_run((env_state, obs))
    return {
        "breakdown_runs": runs,
        "us_rollout": timed(rollout_parts(0), *state, keys),
        "us_rollout_evaluate": timed(rollout_parts(1), *state, keys),
        "us_rollout_evaluate_minibatches": timed(rollout_parts(2), *state, keys),
        "us_sgd_steps": timed(sgd, *same_per_run((flat, tx.init(flat)))),
    }


if __name__ == "__main__":
    main()
