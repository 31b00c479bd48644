"""Tasks that need memory: feed-forward PPO against recurrent PPO, several seeds each.

    python experiments/memory_tasks.py [--quick] [--seeds 8] [--json]

* ``MemoryChain-bsuite`` (memory_length 5, and 30 without ``--quick``): the context bit is
  shown at the start of an episode, the last action pays +1 if it matches it and -1 if not.
  Without memory a policy is at chance (expected return 0).
* ``CartPoleNoVel-v1`` (without ``--quick``): CartPole observing (x, theta) only.

Each method trains ``--seeds`` runs in one compiled call; each run's final policy is scored by
its mean return over 64 evaluation episodes, greedy (the policy's mode). Columns: mean and
min/max over seeds, the number of seeds that solve the task (MemoryChain: >= 0.9; CartPole:
>= 475), compile and training time. With ``--json`` the last line is ``{"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import json

from jaxrl.run import configure_cpu


def tasks(quick: bool) -> list[tuple[str, dict, dict, float]]:
    """(env name, env params overrides, method budgets, solved threshold)."""
    chain = dict(num_envs=16, num_steps=32, num_minibatches=4)
    rnn_small = dict(core_size=32, encoder=(32,), head=(32,))
    out = [("MemoryChain-bsuite", {"memory_length": 5},
            {"ppo": (dict(chain, total_steps=32_768), {"lr": 2.5e-3}),
             "ppo_rnn": (dict(chain, total_steps=32_768, **rnn_small), {"lr": 2.5e-3})},
            0.9)]  # fmt: skip
    if not quick:
        long_chain = dict(num_envs=16, num_steps=64, num_minibatches=4)
        out.append(("MemoryChain-bsuite", {"memory_length": 30},
                    {"ppo": (dict(long_chain, total_steps=200_000), {"lr": 2.5e-3}),
                     "ppo_rnn": (dict(long_chain, total_steps=200_000, **rnn_small),
                                 {"lr": 2.5e-3})},
                    0.9))  # fmt: skip
        cart = dict(num_envs=16, num_steps=128, num_minibatches=4, total_steps=500_000)
        out.append(("CartPoleNoVel-v1", {},
                    {"ppo": (dict(cart), {"lr": 1e-3}),
                     "ppo_rnn": (dict(cart, core_size=64, encoder=(64,), head=(64,)),
                                 {"lr": 1e-3})},
                    475.0))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)

    import numpy as np

    from jaxrl import envs, registry
    from jaxrl.run import evaluate_params, run_seeds, saved_policies
    from jaxrl.run.baseline import random_policy_return

    rows = []
    print(f"{'env':<34} {'method':<8} {'mean':>7} {'min':>7} {'max':>7} {'solved':>7} "
          f"{'compile s':>9} {'train s':>8}")  # fmt: skip
    for name, overrides, methods, threshold in tasks(args.quick):
        env, p = envs.make(name, **overrides)
        label = name + "".join(f" {k}={v}" for k, v in overrides.items())
        for method, (config, hparams) in methods.items():
            module = registry.algorithm(method)
            learner = module.make_learner(module.CONFIG(**config), env, p)
            res = run_seeds(learner, args.seeds, module.HPARAMS(**hparams), seed=0)
            scores = evaluate_params(learner, saved_policies(learner, res.output.state),
                                     episodes=64, greedy=True)  # fmt: skip
            row = {"env": label, "method": method, "per_seed": np.round(scores, 3).tolist(),
                   "mean": float(scores.mean()), "solved": int((scores >= threshold).sum()),
                   "seeds": args.seeds, "env_steps": learner.total_steps,
                   "random_return": random_policy_return(env, p),
                   "compile_s": round(res.compile_s, 2),
                   "train_s": round(res.run_s, 2)}  # fmt: skip
            rows.append(row)
            print(f"{label:<34} {method:<8} {row['mean']:>7.2f} {scores.min():>7.2f} "
                  f"{scores.max():>7.2f} {row['solved']:>4}/{args.seeds:<2} "
                  f"{row['compile_s']:>9.1f} {row['train_s']:>8.1f}", flush=True)  # fmt: skip
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
