"""Dreamer's training diagnostics over env steps: what the actor-critic and the continue head
do while the greedy return rises or falls.

    python experiments/dreamer_diagnostics.py [--quick] [--env CartPole-v1] [--seeds 3]
        [--updates 50] [--every 5] [--episodes 8] [--set actor_lr=1e-4 --set num_bins=255]
        [--key 0] [--json]

Trains ``--seeds`` runs of Dreamer (defaults, or ``--set name=value`` for any config field or
hyperparameter) in one compile, one update (``log_every`` env steps) per call. Every
``--every`` updates it prints, per seed: the greedy score (``--episodes`` episodes, mode
latents and mode actions, as ``experiments/world_models.py`` scores), the score with sampled
posterior latents and mode actions, the training episodes' return, and the means over those
updates of the actor's entropy, the return scale and the batch's return spread (95th minus
5th percentile of imagined returns), the mean |normalised advantage|, the mean imagined
return, the fraction of replayed transitions that terminate, the continue head's mean
prediction at those terminations and elsewhere. With ``--json`` the last line is ``{"rows":
[...]}``.
"""

from __future__ import annotations

import argparse
import ast
import json
import time

from jaxrl.run import configure_cpu

COLUMNS = (("greedy", "greedy"), ("sampled_z", "sampled z"), ("train_return", "train ret"),
           ("entropy", "entropy"), ("return_scale", "scale"), ("return_spread", "spread"),
           ("advantage_abs", "|adv|"), ("imagined_return", "imag ret"),
           ("terminal_permille", "term/1000"), ("cont_at_terminal", "cont@term"),
           ("cont_elsewhere", "cont else"))  # fmt: skip


def sampled_latent_policy(learner, model):
    """The learner with a policy that samples the posterior latents and takes the actor's
    mode (the training-time latents, the greedy action)."""
    from jaxrl.agents.world_models import dreamer
    from jaxrl.learner import Policy

    def act(saved, obs, key, carry, env_state, greedy):
        action, carry = dreamer.policy_step(model, saved, obs, key, carry, True,
                                            mode_latents=False)  # fmt: skip
        return model.spec.to_env(action), carry

    return learner._replace(policy=Policy(act, learner.policy.init_carry))


def parse_sets(items):
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = ast.literal_eval(value)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 updates")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], help="name=value")
    parser.add_argument("--key", type=int, default=0, help="base PRNG key of the runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.updates, args.every = 2, 4, 2
    configure_cpu(num_runs=args.seeds)

    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl import learner as contract
    from jaxrl.agents.world_models import dreamer
    from jaxrl.run import saved_policies
    from jaxrl.run.evaluate import make_evaluator

    sets = parse_sets(args.set)
    cfg_kw = {k: v for k, v in sets.items() if k in dreamer.DreamerConfig.__dataclass_fields__}
    hp_kw = {k: v for k, v in sets.items() if k not in cfg_kw}
    env, env_params = envs.make(args.env)
    cfg = dreamer.DreamerConfig(**{"total_steps": 100_000, **cfg_kw})
    learner = dreamer.make_learner(cfg, env, env_params)
    model = dreamer.make_model(cfg, env, env_params)
    hp = contract.as_f32(dreamer.DreamerHParams(**hp_kw))
    learner.validate_hparams(hp)

    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.key(args.key), args.seeds)
    state = jax.jit(jax.vmap(lambda k: contract.init(learner, k, hp)))(keys)
    one = jax.jit(jax.vmap(lambda s: learner.update(s, hp, learner.env_params, None)))
    one = one.lower(state).compile()
    compile_s = time.perf_counter() - t0
    greedy = make_evaluator(learner, episodes=args.episodes, greedy=True)
    sampled_z = make_evaluator(sampled_latent_policy(learner, model), episodes=args.episodes,
                               greedy=True)  # fmt: skip

    rows, window, train_s = [], [], 0.0
    print(f"compile {compile_s:.1f} s; per seed: " + ", ".join(h for _, h in COLUMNS))
    for u in range(1, args.updates + 1):
        t0 = time.perf_counter()
        state, metrics = one(state)
        window.append(jax.tree.map(np.asarray, metrics))
        train_s += time.perf_counter() - t0
        if u % args.every:
            continue
        m = {k: np.mean([w[k] for w in window], axis=0) for k in window[0]}
        window = []
        saved, key = saved_policies(learner, state), jax.random.key(u)
        term = np.maximum(m["terminal_frac"], 1e-12)
        row = {
            "env_steps": u * learner.steps_per_update,
            "greedy": np.asarray(greedy(saved, key)),
            "sampled_z": np.asarray(sampled_z(saved, key)),
            "train_return": m["episode_return"], "entropy": m["entropy"],
            "return_scale": m["return_scale"], "return_spread": m["return_spread"],
            "advantage_abs": m["advantage_abs"], "imagined_return": m["imagined_return"],
            "terminal_permille": 1000 * m["terminal_frac"],
            "cont_at_terminal": np.where(m["terminal_frac"] > 0, m["cont_terminal_mass"] / term,
                                         np.nan),
            "cont_elsewhere": m["cont_elsewhere"],
        }  # fmt: skip
        row = {k: v if k == "env_steps" else [None if np.isnan(x) else round(float(x), 4)
                                               for x in v]
               for k, v in row.items()}  # fmt: skip
        row["train_s"] = round(train_s, 1)
        rows.append(row)
        print(f"-- {row['env_steps']} env steps (train {train_s:.0f} s)")
        for name, head in COLUMNS:
            cells = ("     nan" if x is None else f"{x:8.3g}" for x in row[name])
            print(f"  {head:>10}: " + " ".join(cells), flush=True)
    if args.json:
        print(json.dumps({"env": args.env, "seeds": args.seeds, "set": sets,
                          "compile_s": round(compile_s, 1), "rows": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
