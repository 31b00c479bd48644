"""TD3+BC and IQL gradient steps per second on one of jaxrl's datasets, for a side by side.

    python experiments/bench_offline.py --algo td3_bc --data DATASET_DIR --seeds S --steps N \
        [--batch-size 256] [--hidden 256,256] [--json]

One run of jaxrl's offline learner (``jaxrl.agents.offline``) with ``total_steps = log_every
= N``: one update of N gradient steps on batches drawn uniformly from the dataset, then its
evaluation episodes (``eval_episodes`` greedy episodes, default 4, counted in the time), for S
seeds vmapped in one compile (:func:`jaxrl.run.run_seeds`). Compile and run are timed apart.
The JSON line carries the keys of a reference's benchmark (``compile_s``, ``run_s``,
``grad_steps_per_s``, ``steps_per_s``) so that ``experiments/side_by_side.py`` pairs them::

    python experiments/side_by_side.py --pairs 3 --key grad_steps_per_s \
        --ours "python experiments/bench_offline.py --algo td3_bc --data D --seeds 8 \
                --steps 2000 --json" \
        --ref "python REF/bench.py --algo td3bc --data D --seeds 8 --steps 2000 --json"

``--flops`` also prints the matmul FLOPs of one gradient step (from the network sizes) and
the fraction of this machine's f32 matmul peak that the measured rate reaches.
"""

from __future__ import annotations

import argparse
import json

from jaxrl.run import configure_cpu

ALGOS = ("td3_bc", "iql")


def _macs(sizes) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def flops_per_grad_step(algo: str, obs_dim: int, act_dim: int, hidden, batch: int) -> float:
    """Matmul FLOPs (2 per multiply-add) of one gradient step, counting a backward pass as two
    forwards (one for the input gradient, one for the weights'; the first layer's input
    gradient is counted too, an upper bound).

    TD3+BC, per sample: target actor 1 + twin target critics 2 + twin critics forward and
    backward 2 x 3; every second step the actor forward and backward 3 and one critic forward
    and backward to the action 3 (1.5 + 1.5 on average). IQL: twin target critics 2, value
    forward and backward 3, value again on s 1, actor forward and backward 3, value on s' 1,
    twin critics forward and backward 2 x 3.
    """
    actor = _macs((obs_dim, *hidden, act_dim))
    critic = _macs((obs_dim + act_dim, *hidden, 1))
    value = _macs((obs_dim, *hidden, 1))
    if algo == "td3_bc":
        per_sample = actor + 2 * critic + 6 * critic + 1.5 * actor + 1.5 * critic
    else:
        per_sample = 2 * critic + 3 * value + value + 3 * actor + value + 6 * critic
    return 2.0 * per_sample * batch


def run(algo: str, data: str, seeds: int, steps: int, batch_size: int, hidden) -> dict:
    from jaxrl import envs
    from jaxrl.datasets.storage import read_metadata
    from jaxrl.registry import algorithm
    from jaxrl.run import run_seeds

    env_name = read_metadata(data)["jaxrl"]["env"]
    env, env_params = envs.make(env_name)
    module = algorithm(algo)
    config = module.CONFIG(dataset=data, total_steps=steps, log_every=steps,
                           batch_size=batch_size, hidden=tuple(hidden))  # fmt: skip
    learner = module.make_learner(config, env, env_params)
    res = run_seeds(learner, seeds, learner.hparams)
    grad_steps = seeds * learner.num_updates * learner.steps_per_update
    obs_dim, act_dim = learner.data["obs"].shape[1], learner.data["action"].shape[1]
    return {
        "impl": f"jaxrl {algo}",
        "algo": algo,
        "env": env_name,
        "seeds": seeds,
        "seeds_how": "vmap",
        "steps": learner.num_updates * learner.steps_per_update,
        "transitions": int(learner.data["obs"].shape[0]),
        "batch_size": batch_size,
        "hidden": list(hidden),
        "eval_episodes": config.eval_episodes,
        "compile_s": round(res.compile_s, 3),
        "run_s": round(res.run_s, 3),
        "grad_steps_per_s": round(grad_steps / res.run_s, 1),
        "steps_per_s": round(grad_steps / res.run_s, 1),
        "flops_per_grad_step": flops_per_grad_step(algo, obs_dim, act_dim, hidden, batch_size),
        "episode_return": float(res.output.metrics["episode_return"][:, -1].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=ALGOS, required=True)
    parser.add_argument("--data", required=True, help="a dataset made by `jaxrl dataset make`")
    parser.add_argument("--seeds", type=int, default=1, help="seeds vmapped in one compile")
    parser.add_argument("--steps", type=int, default=5000, help="gradient steps per seed")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", default="256,256", help="hidden widths, comma-separated")
    parser.add_argument("--flops", action="store_true", help="also the fraction of matmul peak")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_devices=1)
    hidden = [int(h) for h in args.hidden.split(",")]
    row = run(args.algo, args.data, args.seeds, args.steps, args.batch_size, hidden)
    if args.flops:
        from jaxrl.run import matmul_peak_gflops

        peak = matmul_peak_gflops()
        gflops = row["grad_steps_per_s"] * row["flops_per_grad_step"] / 1e9
        row.update(matmul_peak_gflops=round(peak, 1), achieved_gflops=round(gflops, 1),
                   fraction_of_peak=round(gflops / peak, 3))  # fmt: skip
    print(f"{row['impl']}: {row['seeds']} seed(s) x {row['steps']} gradient steps "
          f"(vmapped), compile {row['compile_s']:.2f} s, run {row['run_s']:.2f} s, "
          f"{row['grad_steps_per_s']:,.0f} gradient steps/s")  # fmt: skip
    if args.flops:
        print(f"  {row['flops_per_grad_step'] / 1e6:.1f} MFLOP per gradient step, "
              f"{row['achieved_gflops']} GFLOP/s of a {row['matmul_peak_gflops']} GFLOP/s "
              f"matmul peak ({100 * row['fraction_of_peak']:.0f} %)")  # fmt: skip
    if args.json:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
