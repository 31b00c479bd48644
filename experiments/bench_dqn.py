"""DQN on CartPole-v1 at PureJaxRL ``dqn.py``'s settings: compile time, throughput, return.

    python experiments/bench_dqn.py --seeds 1 [--total-steps 500000] [--json]

The reference's defaults, as jaxrl's DQN config: 10 envs, a uniform buffer of 10,000
transitions, batch 128, one gradient step per vector step (10 env steps), learning from
10,000 steps, the target network copied every 500 env steps, a 120-84 ReLU Q-network,
Adam 2.5e-4, squared TD error, plain (not double) one-step targets, ε from 1 to 0.05 over the
first 250,000 steps, γ 0.99. Compile and run are timed apart (one untimed execution warms up
first). With --json the last line is one JSON object (for ``side_by_side.py``).
"""

from __future__ import annotations

import argparse
import json

from jaxrl.run import configure_cpu


def config_kwargs(total_steps: int) -> dict:
    return dict(
        num_envs=10, total_steps=total_steps, learning_starts=10_000, buffer_size=10_000,
        batch_size=128, train_every=1, gradient_steps=1, log_every=10_000, n_step=1,
        prioritized=False, hidden=(120, 84), double=False, huber=False,
        target_update_every=50,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="never start learning: the env, exploration and replay alone",
    )
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)

    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.offpolicy import dqn
    from jaxrl.run import run_seeds

    env, params = envs.make("CartPole-v1")
    kwargs = config_kwargs(args.total_steps)
    if args.no_train:
        kwargs["learning_starts"] = args.total_steps
    cfg = dqn.DQNConfig(**kwargs)
    hp = dqn.DQNHParams(lr=2.5e-4, gamma=0.99, tau=1.0, eps_start=1.0, eps_end=0.05,
                        eps_fraction=250_000 / args.total_steps, max_grad_norm=1e9)  # fmt: skip
    learner = dqn.make_learner(cfg, env, params)
    res = run_seeds(learner, args.seeds, hp, warmup=True)
    final = res.output.metrics["episode_return"][:, -1]
    steps = learner.total_steps
    row = {
        "impl": "jaxrl-dqn",
        "seeds": args.seeds,
        "steps": steps,
        "compile_s": round(res.compile_s, 3),
        "run_s": round(res.run_s, 3),
        "sps": round(args.seeds * steps / res.run_s),
        "us_per_vector_step": round(res.run_s / (steps / cfg.num_envs) * 1e6, 1),
        "final_return_mean": float(np.mean(final)),
        "solved": int(np.sum(final >= 475)),
        "diverged": int(res.diverged.sum()),
    }
    width = max(len(k) for k in row)
    for k, v in row.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
