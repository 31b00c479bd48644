"""Discrete SAC's temperature against its target entropy: does alpha stay bounded?

    python experiments/sac_discrete_entropy.py [--envs CartPole-v1,Acrobot-v1]
        [--scales 0.89,0.7,0.5,0.3] [--seeds 8] [--steps 50000] [--seed 0] [--quick] [--json]

The target entropy of discrete SAC is ``scale * log|A|``. For every env, every scale and
seed train in ONE compiled call (``run_seeds`` with one ``target_entropy_scale`` per run,
run ``i`` of every scale sharing seed ``i``), the test suite's small settings (64-64
networks, batch 128) and every other hyperparameter at its default. Per scale: the median
over seeds of the temperature alpha and of the policy's entropy (nats, on replayed states)
at a few points of training, the largest alpha any seed reached, and the greedy return of the
final policies (IQM [95 % bootstrap CI] over 32 episodes per seed). ``--quick``: CartPole
only, scales 0.89 and 0.7, 4 seeds, 10,000 steps.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from jaxrl.run import configure_cpu


def study(env_name: str, scales, seeds: int, steps: int, seed: int) -> list[dict]:
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.offpolicy import sac_discrete
    from jaxrl.run import evaluate_params, run_seeds, saved_policies, stats

    env, params = envs.make(env_name)
    config = sac_discrete.CONFIG(total_steps=steps, hidden=(64, 64), batch_size=128)
    learner = sac_discrete.make_learner(config, env, params)
    n_act = envs.action_spec(env, params).dim
    per_run = np.repeat(np.asarray(scales, np.float32), seeds)
    hp = sac_discrete.HPARAMS()._replace(target_entropy_scale=jnp.asarray(per_run))
    t0 = time.perf_counter()
    res = run_seeds(learner, len(per_run), hp, seed=seed, key_ids=np.tile(np.arange(seeds),
                    len(scales)))  # fmt: skip
    seconds = time.perf_counter() - t0
    scores = evaluate_params(learner, saved_policies(learner, res.output.state), episodes=32,
                             greedy=True)  # fmt: skip
    alpha = np.asarray(res.output.metrics["alpha"]).reshape(len(scales), seeds, -1)
    entropy = np.asarray(res.output.metrics["entropy"]).reshape(len(scales), seeds, -1)
    scores = np.asarray(scores).reshape(len(scales), seeds)
    updates = alpha.shape[-1]
    marks = sorted({updates // 4, updates // 2, 3 * updates // 4, updates - 1})
    step_of = steps / updates
    rows = []
    for i, scale in enumerate(scales):
        lo, hi = stats.bootstrap_ci(scores[i], stats.iqm)
        rows.append({
            "env": env_name, "scale": float(scale),
            "target_nats": float(scale * math.log(n_act)),
            "steps_at": [int((m + 1) * step_of) for m in marks],
            "alpha_median": [float(np.median(alpha[i, :, m])) for m in marks],
            "entropy_median": [float(np.median(entropy[i, :, m])) for m in marks],
            "alpha_max": float(alpha[i].max()),
            "greedy_iqm": float(stats.iqm(scores[i])), "greedy_ci": [float(lo), float(hi)],
            "greedy": scores[i].tolist(), "diverged": int(np.asarray(res.diverged).reshape(
                len(scales), seeds)[i].sum()),
            "seconds_all_scales": seconds,
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="CartPole-v1,Acrobot-v1")
    parser.add_argument("--scales", default="0.89,0.7,0.5,0.3")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.envs, args.scales, args.seeds, args.steps = "CartPole-v1", "0.89,0.7", 4, 10_000
    scales = [float(s) for s in args.scales.split(",")]
    configure_cpu(num_runs=len(scales) * args.seeds)
    rows = []
    for env_name in args.envs.split(","):
        mine = study(env_name, scales, args.seeds, args.steps, args.seed)
        rows += mine
        print(f"\n{env_name}: {args.seeds} seeds x {len(scales)} scales, {args.steps} steps "
              f"({mine[0]['seconds_all_scales']:.0f} s with compile)")  # fmt: skip
        at = ", ".join(str(s) for s in mine[0]["steps_at"])
        print(
            f"| scale | target (nats) | median alpha at {at} | median entropy | max alpha "
            "| greedy IQM [95 % CI] |"
        )
        print("|---|---|---|---|---|---|")
        for r in mine:
            a = " / ".join(f"{x:.3g}" for x in r["alpha_median"])
            e = " / ".join(f"{x:.3f}" for x in r["entropy_median"])
            print(
                f"| {r['scale']} | {r['target_nats']:.3f} | {a} | {e} | {r['alpha_max']:.3g} "
                f"| {r['greedy_iqm']:.1f} [{r['greedy_ci'][0]:.1f}, {r['greedy_ci'][1]:.1f}] |"
            )
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
