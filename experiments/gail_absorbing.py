"""GAIL's absorbing state at ``bench_irl.py``'s settings: why the default fell at once.

    python experiments/gail_absorbing.py [--quick] [--demos FILE.npz] [--updates 300]
                                         [--seeds 4] [--out DIR] [--json]

At ``bench_irl.py``'s settings (CartPole-v1, 16 envs x 64 steps, PPO 256-256, a state-only
64-64 relu discriminator, 4 full-batch steps per update, gradient penalty 10) GAIL with the
absorbing state (Kostrikov et al. 2019) ended at a return of ~9 after 100 updates, without it
at ~400. This runs GAIL there for ``--updates`` updates in four variants (absorbing on; off;
on with gradient penalty 1; on with none), ``--seeds`` seeds vmapped in one compile each,
and prints, at a few updates, the mean return and the learned value of a termination:
``absorbing_return = gamma / (1 - gamma) * r(absorbing)``, what a terminating step earns on
top of its own reward. Learning rates are not annealed, so the first ``k`` updates of a run
are the run of ``k`` updates. A fifth variant is GAIL at its own defaults (16 envs x 64
steps, PPO 64-64 annealed over the run, a tanh state-action discriminator, 1 pass in 4
minibatches, penalty 1: the settings of ``inverse_rl.py``'s deep part). Demonstrations:
``--demos``, else an expert trained by ``inverse_rl.make_expert`` (10 of its episodes).
``--json`` ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from jaxrl.run import configure_cpu

VARIANTS = {
    "absorbing, penalty 10 (bench_irl)": dict(absorbing=True, grad_penalty=10.0),
    "absorbing off, penalty 10": dict(absorbing=False, grad_penalty=10.0),
    "absorbing, penalty 1": dict(absorbing=True, grad_penalty=1.0),
    "absorbing, penalty 0": dict(absorbing=True, grad_penalty=0.0),
    "GAIL's defaults (absorbing)": dict(absorbing=True, grad_penalty=None),
}


def run_variant(demos: Path, updates: int, seeds: int, absorbing: bool, grad_penalty):
    """One variant; ``grad_penalty=None``: GAIL's own defaults instead of bench_irl's."""
    import numpy as np
    from bench_irl import HPARAMS, SETTINGS

    from jaxrl import envs
    from jaxrl.agents.inverse import gail
    from jaxrl.run import run_seeds

    env, p = envs.make("CartPole-v1")
    settings = {} if grad_penalty is None else SETTINGS
    cfg = gail.GAILConfig(demos=str(demos), num_demos=10, absorbing=absorbing,
                          total_steps=updates * 16 * 64, **settings)  # fmt: skip
    learner = gail.make_learner(cfg, env, p)
    hparams = {} if grad_penalty is None else {**HPARAMS, "grad_penalty": grad_penalty}
    hp = gail.GAILHParams(**hparams)
    res = run_seeds(learner, seeds, hp)
    m = res.output.metrics
    rounded = {k: np.round(np.asarray(m[k], np.float64), 3).tolist()
               for k in ("episode_return", "absorbing_return")}  # fmt: skip
    return {"compile_s": res.compile_s, "run_s": res.run_s, **rounded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 updates, 2 seeds")
    parser.add_argument("--demos", default="", help="CartPole-v1 demonstrations (.npz)")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default="", help="where demonstrations go (default: temp)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_devices=1)
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    updates, seeds = (100, 2) if args.quick else (args.updates, args.seeds)
    if args.demos:
        demos = Path(args.demos)
    else:
        from inverse_rl import make_expert

        out = Path(args.out or tempfile.mkdtemp(prefix="gail_absorbing_"))
        out.mkdir(parents=True, exist_ok=True)
        demos = make_expert("CartPole-v1", out, args.quick)["path"]
    marks = sorted({u for u in (1, 10, 50, 100, 150, 200, 300, updates) if u <= updates})
    rows = {}
    for name, variant in VARIANTS.items():
        t = time.perf_counter()
        rows[name] = run_variant(demos, updates, seeds, **variant)
        print(f"{name}: {time.perf_counter() - t:.1f} s", flush=True)
    print(f"\nGAIL on CartPole-v1 at bench_irl.py's settings, {seeds} seeds; mean over seeds "
          f"after k updates (1024 env steps each)")  # fmt: skip
    head = " ".join(f"{k:>6}" for k in marks)
    print(f"  {'variant':<36} {'quantity':<17} {head}")
    for name, r in rows.items():
        ret, after = np.asarray(r["episode_return"]), np.asarray(r["absorbing_return"])
        for label, x in (("return", ret), ("absorbing_return", after)):
            cells = " ".join(f"{x[:, k - 1].mean():>6.1f}" for k in marks)
            print(f"  {name if label == 'return' else '':<36} {label:<17} {cells}")
        print(f"  {'':<36} {'final per seed':<17} {np.round(ret[:, -1], 1).tolist()}")
    print(f"\ndemonstrations: {demos}")
    if args.json:
        print(json.dumps({"demos": str(demos), "updates": updates, "seeds": seeds,
                          "rows": rows}, default=float))  # fmt: skip


if __name__ == "__main__":
    main()
