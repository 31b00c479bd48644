"""jaxrl's GAIL against FLAIR's ``jaxirl`` IRL: time per discriminator-and-policy update.

    python experiments/bench_irl.py [--quick] [--demos FILE.npz] [--updates 100]
                                    [--seeds 1,4] [--jaxirl-python PYTHON --jaxirl-dir DIR]
                                    [--out DIR] [--json]

Both sides on CartPole-v1 with the same settings: 16 envs x 64 steps per update (1024
transitions), PPO with 256-256 tanh actor and critic, 4 epochs x 4 minibatches, Adam 2.5e-4,
no learning-rate annealing; a state-only 64-64 relu discriminator, 4 Adam steps per update on
1024 policy and 1024 expert states with a gradient penalty (weight 10); the same 10
demonstrations (an expert trained by jaxrl's PPO, ``inverse_rl.make_expert``, unless
``--demos`` gives a file). The jaxirl side is a copy of its modules (``jaxirl/irl/irl.py``'s
``IRL`` class, its discriminator, buffer and PPO) driven by ``DIR/bench_irl.py`` in its own
virtualenv (``--jaxirl-python``), in a subprocess.

What differs by design (each side as its code has it): jaxirl's discriminator loss is its
moment-matching one with a WGAN-style penalty on interpolates, it keeps a buffer of all past
policy states and computes the reward in every env step; jaxrl's GAIL uses the logistic loss
with an R1 penalty on the expert's inputs on the rollout's states and computes the reward
after the rollout. jaxrl runs twice: ``absorbing=False`` (jaxirl has no absorbing state) and
its default ``absorbing=True`` (each loss also sees the terminated transitions' absorbing
twins: twice the rows).

The jaxirl side as measured: ``DIR/jaxirl/`` holds jaxirl's ``irl/irl.py``,
``irl/gail_discriminator.py``, ``training/ppo_v2_irl.py``, ``training/wrappers.py``,
``utils/buffer.py``, ``utils/utils.py`` and ``configs/inner_training_configs.py`` at commit
133ba114109829d182f37f06beb3b8e7b83883d3, changed only where they no longer import (brax,
wandb, the continuous PPO and the env helpers dropped; ``jax.tree_map`` -> ``jax.tree.map``);
``DIR/bench_irl.py`` builds its ``IRL`` object from CartPole's config with the settings
above, adapts gymnax 1.0's 6-tuple ``step`` to the 5-tuple of the gymnax 0.0.6 jaxirl
targets (``done = terminated or truncated``), runs ``IRL.train``'s first generation and then
times a jitted scan of ``IRL.train_step`` over the rest; its virtualenv has the versions of
jaxrl's (jax 0.10.2, flax 0.12.7, optax 0.2.8, gymnax 1.0.1, distrax 0.1.9).

Each side: the runs of ``seeds`` seeds are vmapped in one compile; compile and run are timed
apart (jaxirl's first generation, which builds its runner state outside the scan, is timed
on its own and left out). ``ms / update`` = run seconds / updates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from jaxrl.run import configure_cpu

SETTINGS = dict(num_envs=16, num_steps=64, update_epochs=4, num_minibatches=4,
                hidden=(256, 256), anneal_lr=False, disc_hidden=(64, 64),
                disc_activation="relu", disc_epochs=4, disc_minibatches=1,
                state_only=True)  # fmt: skip
HPARAMS = dict(lr=2.5e-4, ent_coef=0.01, disc_lr=3e-4, grad_penalty=10.0)


def jaxrl_row(demos: Path, updates: int, seeds: int, absorbing: bool) -> dict:
    from jaxrl import envs
    from jaxrl.agents.inverse import gail
    from jaxrl.run import run_seeds

    env, p = envs.make("CartPole-v1")
    cfg = gail.GAILConfig(demos=str(demos), num_demos=10, total_steps=updates * 1024,
                          absorbing=absorbing, **SETTINGS)  # fmt: skip
    learner = gail.make_learner(cfg, env, p)
    res = run_seeds(learner, seeds, gail.GAILHParams(**HPARAMS))
    return {"impl": f"jaxrl gail (absorbing={absorbing})", "seeds": seeds,
            "updates": learner.num_updates, "compile_s": res.compile_s, "run_s": res.run_s,
            "ms_per_update": 1e3 * res.run_s / learner.num_updates,
            "final_return": float(res.output.metrics["episode_return"][:, -1].mean())}  # fmt: skip


def jaxirl_row(python: str, bench_dir: str, demos: Path, updates: int, seeds: int) -> dict:
    # one more generation: jaxirl's first is run (and compiled) outside the timed scan
    cmd = [python, str(Path(bench_dir) / "bench_irl.py"), "--demos", str(demos),
           "--generations", str(updates + 1), "--seeds", str(seeds), "--json"]  # fmt: skip
    env = {"PYTHONPATH": bench_dir, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=bench_dir, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"jaxirl side failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 updates, 1 seed")
    parser.add_argument("--demos", default="", help="CartPole-v1 demonstrations (.npz)")
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--seeds", default="1,4", help="vmapped seeds per run, a list")
    parser.add_argument("--jaxirl-python", default="", help="python of jaxirl's virtualenv")
    parser.add_argument("--jaxirl-dir", default="/work/jaxirl_bench",
                        help="folder with jaxirl's copy and its bench_irl.py")  # fmt: skip
    parser.add_argument("--out", default="", help="where demonstrations go (default: temp)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_devices=1)
    updates = 20 if args.quick else args.updates
    seeds_list = [1] if args.quick else [int(s) for s in args.seeds.split(",")]
    if args.demos:
        demos = Path(args.demos)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from inverse_rl import make_expert

        out = Path(args.out or tempfile.mkdtemp(prefix="bench_irl_"))
        out.mkdir(parents=True, exist_ok=True)
        demos = make_expert("CartPole-v1", out, args.quick)["path"]
    rows = []
    for seeds in seeds_list:
        if args.jaxirl_python:
            rows.append(jaxirl_row(args.jaxirl_python, args.jaxirl_dir, demos, updates, seeds))
        for absorbing in (False, True):
            rows.append(jaxrl_row(demos, updates, seeds, absorbing))
    print(f"\nCartPole-v1, one discriminator-and-policy update = 1024 env steps, {updates} updates")
    print(f"  {'impl':<30} {'seeds':>5} {'compile s':>9} {'run s':>8} {'ms / update':>11} "
          f"{'ratio':>6}")  # fmt: skip
    for r in rows:
        ref = next((x for x in rows if x["impl"] == "jaxirl" and x["seeds"] == r["seeds"]), None)
        ratio = f"{r['ms_per_update'] / ref['ms_per_update']:>6.2f}" if ref else ""
        print(f"  {r['impl']:<30} {r['seeds']:>5} {r['compile_s']:>9.2f} {r['run_s']:>8.2f} "
              f"{r['ms_per_update']:>11.2f} {ratio}")  # fmt: skip
    print(f"\ndemonstrations: {demos}")
    if args.json:
        print(json.dumps({"demos": str(demos), "settings": {**SETTINGS, **HPARAMS},
                          "rows": rows}, default=float))  # fmt: skip


if __name__ == "__main__":
    main()
