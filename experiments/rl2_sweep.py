"""RL² settings on one bandit setting, scored on tuning trials (never the test trials).

    python experiments/rl2_sweep.py --k 10 --n 100 --steps 10000000 \
        [--config core_size=256] --hp gamma=0.99 gamma=0.995 "gamma=1.0;ent_coef=0.03"

Each ``--hp`` setting (``name=value`` pairs of RL2HParams joined by ``;``) trains one RL²
run (base key ``--seed``, the RL2Config defaults with ``--config`` overrides, whole trials
per rollout as in ``rl2_bandits.py``), one after another, and scores the trained policy
(sampling its actions) on ``--trials`` trials drawn with key ``--eval-seed``, which
``rl2_bandits.py``'s test trials (key 12345) and tuning trials (12346) are not.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from jaxrl.run import configure_cpu

sys.path.insert(0, str(Path(__file__).parent))


def parse_pairs(text: str, sep: str) -> dict:
    out = {}
    for item in filter(None, text.split(sep)):
        name, _, value = item.partition("=")
        out[name] = int(value) if value.isdigit() else float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--eval-seed", type=int, default=777)
    parser.add_argument("--config", default="", help="RL2Config overrides, k=v,k=v")
    parser.add_argument("--hp", nargs="+", default=["gamma=0.99"], help="settings, k=v;k=v")
    args = parser.parse_args()
    configure_cpu(num_devices=1)

    import jax
    import numpy as np
    import rl2_bandits

    from jaxrl import envs
    from jaxrl.agents.memory import rl2
    from jaxrl.run import run_seeds, saved_policies

    name = f"BernoulliBandit-k{args.k}-n{args.n}"
    env, env_params = envs.make(name)
    play = rl2_bandits.make_player(env, env_params, args.trials, args.n)
    key = jax.random.key(args.eval_seed)
    config = dataclasses.replace(
        rl2.RL2Config(total_steps=args.steps, num_steps=max(100, args.n)),
        **parse_pairs(args.config, ","),
    )
    learner = rl2.make_learner(config, env, env_params)
    for setting in args.hp:
        hp = learner.hparams._replace(**parse_pairs(setting, ";"))
        res = run_seeds(learner, 1, hp, seed=args.seed)
        saved = jax.tree.map(lambda x: x[0], saved_policies(learner, res.output.state))
        returns, regret, _, _ = play(learner.policy, saved, key)
        mean, lo, hi = rl2_bandits.ci95(returns)
        print(f"{name} {args.config or 'defaults'} {setting}: {mean:.2f} [{lo:.2f}, {hi:.2f}] "
              f"pseudo-regret {float(np.mean(regret)):.2f} (compile {res.compile_s:.0f} s, "
              f"run {res.run_s:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
