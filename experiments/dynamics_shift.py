"""Do policies overfit their training dynamics? Packer et al. 2018's protocol, many seeds.

    python experiments/dynamics_shift.py [--quick] [--seeds 64] [--algos ppo,a2c]
        [--envs CartPole-v1,MountainCar-v0,Pendulum-v1,Acrobot-v1] [--episodes 32]
        [--out experiments/results/dynamics_shift.json] [--overwrite] [--json] [--blind-only]

Packer, Gao, Kos, Krähenbühl, Koltun and Song 2018, "Assessing Generalization in Deep
Reinforcement Learning" (arXiv:1810.12282): each env has deterministic (D: the default
params), random (R: uniform ranges around them) and extreme (E: unions of two intervals
outside R) dynamics, with the ranges of the paper's released environments
(``sunblaze_envs``), in :data:`RANGES`. For each algorithm x env, ``--seeds`` runs train on
D and ``--seeds`` on R (domain randomisation: :class:`jaxrl.envs.DomainRandomization` draws
each training episode's params; one compiled call each), and every final policy plays
``--episodes`` greedy episodes on each of D, R and E (each episode with its own params).

Per (train, test) cell: the IQM of the runs' mean returns [95 % bootstrap CI] and the mean
success rate [CI], success as the paper's released envs define it (CartPole: 195 steps
balanced; MountainCar: the goal within 110 steps; Acrobot: the swing-up within 90 steps;
Pendulum's criterion reads the angle, not the return, and is not computed here). The paper's
summary: Default = DD, Interpolation = RR, Extrapolation = the geometric mean of DR, DE and
RE (success rates), with bootstrap CIs over runs; and domain randomisation's effect on E:
RE minus DE in mean return and in success rate [CI], and the probability that an R-trained
run beats a D-trained one on E.

Beside the trained policies, each env's policies that read no observation (uniform random
actions, and each action held throughout) play the same test ranges (``blind_policies`` in
the results file; ``--blind-only`` runs only them): a trained policy's success on shifted
dynamics is to be read against theirs.

Cells merge into ``--out`` (one per algorithm x env), so they can run as separate commands;
a cell that ``--out`` already holds is refused before anything trains unless
``--overwrite`` is given. (The blind policies' results, which involve no training, are
recomputed and replaced for each env a command names.)

Acrobot's "length" and "mass" set both links (``link_length_1+link_length_2``: one shared
draw, as the released envs do); "inertia" is ``link_moi``. MountainCar's "mass" is gymnax's
``gravity`` field (the weight term of the velocity update). The paper trained on CartPole-v0
(200 steps); gymnax's CartPole-v1 runs to 500, and success still means 195 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from jaxrl.run import configure_cpu

RESULTS = Path(__file__).resolve().parent / "results"
ENVS = ("CartPole-v1", "MountainCar-v0", "Pendulum-v1", "Acrobot-v1")

# Packer et al. 2018's R and E ranges (D is the env's default), from the released envs.
RANGES = {
    "CartPole-v1": {
        "R": "force_mag=5:15,length=0.25:0.75,masspole=0.05:0.5",
        "E": "force_mag=1:5|15:20,length=0.05:0.25|0.75:1.0,masspole=0.01:0.05|0.5:1.0",
    },
    "MountainCar-v0": {
        "R": "force=0.0005:0.005,gravity=0.001:0.005",
        "E": "force=0.0001:0.0005|0.005:0.01,gravity=0.0005:0.001|0.005:0.01",
    },
    "Pendulum-v1": {
        "R": "l=0.75:1.25,m=0.75:1.25",
        "E": "l=0.5:0.75|1.25:1.5,m=0.5:0.75|1.25:1.5",
    },
    "Acrobot-v1": {
        "R": "link_length_1+link_length_2=0.75:1.25,link_mass_1+link_mass_2=0.75:1.25,"
        "link_moi=0.75:1.25",
        "E": "link_length_1+link_length_2=0.5:0.75|1.25:1.5,"
        "link_mass_1+link_mass_2=0.5:0.75|1.25:1.5,link_moi=0.5:0.75|1.25:1.5",
    },
}

# Success from an episode's return, as the released envs define it (None: not a function of
# the return).
SUCCESS_RETURN = {"CartPole-v1": 195.0, "MountainCar-v0": -110.0, "Acrobot-v1": -90.0}

# Published defaults, as in experiments/seed_instability.py (whose source each follows).
PPO_CONTINUOUS = dict(num_envs=1, num_steps=2048, total_steps=1_000_000, update_epochs=10,
                      num_minibatches=32, normalize_obs=True)  # fmt: skip
SETTINGS = {
    "ppo": ({}, {}, "CleanRL ppo.py defaults, 5e5 steps"),
    "a2c": ({}, {}, "OpenAI Baselines a2c defaults, 5e5 steps"),
}
CONTINUOUS_SETTINGS = {
    "ppo": (PPO_CONTINUOUS, dict(lr=3e-4, ent_coef=0.0),
            "CleanRL ppo_continuous_action.py defaults (no reward normalisation), 1e6 steps"),
    "a2c": (dict(total_steps=1_000_000, normalize_obs=True), {},
            "OpenAI Baselines a2c defaults, observation normalisation, 1e6 steps"),
}  # fmt: skip


def record_episodes(learner, params, env_params_batch, key):
    """Observations ``[n, T, obs_dim]`` of one policy's greedy episodes under ``n`` sets of
    env params, and ``[n, T]`` true while the episode is still running."""
    import jax
    import jax.numpy as jnp

    from jaxrl import envs
    from jaxrl.run.evaluate import max_steps_of

    n = jax.tree.leaves(env_params_batch)[0].shape[0]
    venv = envs.stack(learner.env, learner.env_params, n, batched_params=True)

    @jax.jit
    def rollout(params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, env_params_batch)

        def body(loop, key):
            obs, state, carry, done = loop
            k_act, k_step = jax.random.split(key)
            action, carry = learner.policy.act(params, obs, k_act, carry, state, True)
            nxt, state, _, _, _, info = venv.step(k_step, state, action, env_params_batch)
            return (nxt, state, carry, done | info["returned_episode"]), (obs, ~done)

        init = (obs, state, learner.policy.init_carry(n), jnp.zeros(n, bool))
        steps = jax.random.split(k_run, max_steps_of(learner.env_params))
        _, (obs, alive) = jax.lax.scan(body, init, steps)
        return jnp.swapaxes(obs, 0, 1), alive.T

    return rollout(params, key)


def behaviour(plain, policies: dict, returns: dict, ranges: dict, draws: int = 2) -> dict:
    """The greedy episodes of each training range's median run on E (by its mean E return)
    under the default params and ``draws`` extreme ones (the same for both), for figures of
    behaviour: observations per step until the episode ends."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs

    keys = jax.random.split(jax.random.key(7), draws)
    extreme = jax.vmap(envs.sample_params, (0, None, None))(keys, plain.env_params, ranges["E"])
    batch = jax.tree.map(lambda d, e: jnp.concatenate([jnp.broadcast_to(d, (1, *jnp.shape(d))),
                                                       e]), plain.env_params, extreme)  # fmt: skip
    fields = [f for name in ranges["E"] for f in envs.perturb.tied_fields(name)]
    out = {"params": [{f: round(float(getattr(batch, f)[i]), 5) for f in fields}
                      for i in range(draws + 1)]}  # fmt: skip
    for train, policies_t in policies.items():
        e_means = returns[train + "E"].mean(1)
        run = int(np.argsort(e_means)[len(e_means) // 2])
        one = jax.tree.map(lambda x, run=run: jnp.asarray(x[run]), policies_t)
        obs, alive = record_episodes(plain, one, batch, jax.random.key(3))
        obs, alive = np.asarray(obs), np.asarray(alive)
        out[train] = {
            "run": run,
            "episodes": [np.round(obs[i][alive[i]], 4).tolist() for i in range(draws + 1)],
        }
    return out


def _bootstrap(fn, samples: list, num: int = 2000, seed: int = 0):
    """Percentile 95 % interval of ``fn(*resampled)``, each array resampled over its runs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num):
        values.append(fn(*[s[rng.integers(0, len(s), len(s))] for s in samples]))
    lo, hi = np.quantile(values, [0.025, 0.975])
    return [float(fn(*samples)), float(lo), float(hi)]


def geometric_mean(*rates):
    import numpy as np

    return float(np.prod([np.mean(r) for r in rates]) ** (1.0 / len(rates)))


def cell_stats(returns, success_at):
    """Statistics of a (train, test) cell from its returns ``[runs, episodes]``."""
    from jaxrl.run import stats

    per_run = returns.mean(axis=1)
    out = {
        "iqm": [stats.iqm(per_run), *stats.bootstrap_ci(per_run, stats.iqm)],
        "mean": [float(per_run.mean()), *stats.bootstrap_ci(per_run, stats.mean)],
        "per_run_return": [round(float(x), 3) for x in per_run],
    }
    if success_at is not None:
        success = (returns >= success_at).mean(axis=1)
        out["success"] = [float(success.mean()), *stats.bootstrap_ci(success, stats.mean)]
        out["per_run_success"] = [round(float(x), 4) for x in success]
    return out


def blind_policies(env_name: str, episodes: int = 256) -> dict:
    """Policies that read no observation, on D, R and E: the floor a trained policy's
    success on shifted dynamics is to be read against (on MountainCar, holding one action
    reaches the goal wherever the engine beats gravity).

    Discrete actions: uniform random actions and each action held for the whole episode;
    continuous: uniform random actions and the action held at its lower bound, its middle
    and its upper bound. Per policy and test range: the mean return over ``episodes``
    episodes (each with its own params) and, where the env defines it, the success rate.
    """
    import types

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs
    from jaxrl.learner import Policy
    from jaxrl.run.evaluate import make_evaluator

    env, env_params = envs.make(env_name)
    spec = envs.action_spec(env, env_params)
    if spec.discrete:
        names = ["random"] + [f"action {a}" for a in range(spec.dim)]
        params = jnp.arange(-1, spec.dim)  # -1: uniform random, else the action held

        def act(p, obs, key, carry, env_state, greedy):
            uniform = jax.random.randint(key, obs.shape[:1], 0, spec.dim)
            return jnp.where(p < 0, uniform, p), carry
    else:
        names = ["random", "low", "middle", "high"]
        params = jnp.asarray([-1.0, 0.0, 0.5, 1.0])  # < 0: uniform, else low + p (high - low)

        def act(p, obs, key, carry, env_state, greedy):
            shape = obs.shape[:1] + spec.low.shape
            u = jax.random.uniform(key, shape)
            return spec.low + jnp.where(p < 0, u, p) * (spec.high - spec.low), carry

    blind = types.SimpleNamespace(env=env, env_params=env_params, policy=Policy(act))
    ranges = {name: envs.parse_ranges(spec_) for name, spec_ in RANGES[env_name].items()}
    success_at = SUCCESS_RETURN.get(env_name)
    out = {name: {} for name in names}
    for test in "DRE":
        evaluate = make_evaluator(blind, episodes=episodes, greedy=True, ranges=ranges.get(test),
                                  per_episode=True)  # fmt: skip
        returns = np.asarray(evaluate(params, jax.random.key(2)))
        for name, r in zip(names, returns, strict=True):
            out[name][test] = {"mean": round(float(r.mean()), 3)}
            if success_at is not None:
                out[name][test]["success"] = round(float((r >= success_at).mean()), 4)
    return {"episodes": episodes, "policies": out}


def print_blind(env_name: str, blind: dict) -> None:
    print(f"\n{env_name}, policies that read no observation ({blind['episodes']} episodes "
          "per test): mean return; success")  # fmt: skip
    for name, row in blind["policies"].items():
        cols = [f"{row[t]['mean']:>9.1f}" + (f"; {row[t]['success']:.2f}" if "success" in
                row[t] else "") for t in "DRE"]  # fmt: skip
        print(f"  {name:<10} " + "   ".join(f"{t} {c}" for t, c in zip("DRE", cols, strict=True)))


def run_cell(algo: str, env_name: str, seeds: int, episodes: int, quick: bool) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs, registry
    from jaxrl.run import run_seeds, saved_policies, stats
    from jaxrl.run.evaluate import make_evaluator

    t_wall = time.perf_counter()
    module = registry.algorithm(algo)
    env, env_params = envs.make(env_name)
    discrete = envs.is_discrete(env, env_params)
    config, hparams, source = (SETTINGS if discrete else CONTINUOUS_SETTINGS)[algo]
    if quick:
        config = {**config, "total_steps": 65_536 if discrete else 131_072}
        source += " [quick budget]"
    ranges = {name: envs.parse_ranges(spec) for name, spec in RANGES[env_name].items()}
    learners = {
        "D": module.make_learner(module.CONFIG(**config), env, env_params),
        "R": module.make_learner(
            module.CONFIG(**config), envs.DomainRandomization(env, ranges["R"], env_params),
            env_params,
        ),
    }  # fmt: skip
    plain = learners["D"]  # evaluation: the plain env, each episode's params given
    evaluators = {
        test: make_evaluator(plain, episodes=episodes, greedy=True, ranges=ranges.get(test),
                             per_episode=True)
        for test in "DRE"
    }  # fmt: skip
    timing, returns, trained = {}, {}, {}
    for train, learner in learners.items():
        res = run_seeds(learner, seeds, module.HPARAMS(**hparams))
        policies = trained[train] = saved_policies(learner, res.output.state)
        t0 = time.perf_counter()
        for test, evaluate in evaluators.items():
            params = jax.tree.map(jnp.asarray, policies)
            returns[train + test] = np.asarray(evaluate(params, jax.random.key(1)))
        timing[train] = {"compile_s": round(res.compile_s, 2), "run_s": round(res.run_s, 2),
                         "eval_s": round(time.perf_counter() - t0, 2),
                         "diverged": int(res.diverged.sum())}  # fmt: skip
    success_at = SUCCESS_RETURN.get(env_name)
    grid = {name: cell_stats(r, success_at) for name, r in returns.items()}
    summary = {}
    if success_at is not None:
        rate = {name: np.asarray(g["per_run_success"]) for name, g in grid.items()}
        summary = {
            "default": grid["DD"]["success"],
            "interpolation": grid["RR"]["success"],
            # DR and DE come from the same D-trained runs: resample those runs together.
            "extrapolation": _bootstrap(
                lambda d, r: geometric_mean(d[:, 0], d[:, 1], r),
                [np.stack([rate["DR"], rate["DE"]], 1), rate["RE"]],
            ),
        }
    de, re_ = returns["DE"].mean(1), returns["RE"].mean(1)
    effect = {
        "return_RE_minus_DE": _bootstrap(lambda a, b: a.mean() - b.mean(), [re_, de]),
        "p_R_beats_D_on_E": stats.probability_of_improvement(re_, de),
    }
    if success_at is not None:
        effect["success_RE_minus_DE"] = _bootstrap(
            lambda a, b: a.mean() - b.mean(), [rate["RE"], rate["DE"]]
        )
    return {
        "algo": algo,
        "env": env_name,
        "source": source,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        "hparams": hparams,
        "ranges": RANGES[env_name],
        "seeds": seeds,
        "episodes": episodes,
        "env_steps_per_run": plain.total_steps,
        "success_return": success_at,
        "train": timing,
        "grid": grid,
        "summary": summary,
        "dr_effect_on_E": effect,
        "behaviour": behaviour(plain, trained, returns, ranges),
        "wall_s": round(time.perf_counter() - t_wall, 2),
        "devices": len(jax.devices()),
        "command": " ".join(["python experiments/dynamics_shift.py", *sys.argv[1:]]),
    }


def _fmt(v, digits=1):
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"


def print_cell(c: dict) -> None:
    print(f"\n{c['algo']} on {c['env']} ({c['seeds']} runs per training range, "
          f"{c['episodes']} episodes per test): IQM return [95% CI]; success [95% CI]")  # fmt: skip
    print(f"  {'train/test':<10} {'D':>30} {'R':>30} {'E':>30}")
    for train in "DR":
        cols = []
        for test in "DRE":
            g = c["grid"][train + test]
            text = _fmt(g["iqm"])
            if "success" in g:
                text += f"; {g['success'][0]:.2f}"
            cols.append(f"{text:>30}")
        print(f"  {train:<10} " + " ".join(cols))
    for name, v in c["summary"].items():
        print(f"  {name:<14} success {_fmt(v, 3)}")
    e = c["dr_effect_on_E"]
    print(f"  DR on E: return RE-DE {_fmt(e['return_RE_minus_DE'])}, "
          f"P(R-trained > D-trained on E) {e['p_R_beats_D_on_E']:.2f}"
          + (f", success RE-DE {_fmt(e['success_RE_minus_DE'], 3)}"
             if "success_RE_minus_DE" in e else ""))  # fmt: skip


def merge(path: Path, cells: list[dict], meta: dict, blind: dict | None = None) -> None:
    """Replaces the cells of ``path`` with the same (algo, env), and the blind policies'
    results of the same envs, by the new ones."""
    old = json.loads(path.read_text()) if path.exists() else {"cells": []}
    new = {(c["algo"], c["env"]) for c in cells}
    merged = [c for c in old["cells"] if (c["algo"], c["env"]) not in new] + cells
    merged.sort(key=lambda c: (c["algo"], ENVS.index(c["env"]) if c["env"] in ENVS else 99))
    blind = {**old.get("blind_policies", {}), **(blind or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"study": "dynamics_shift", **meta, "cells": merged,
                                "blind_policies": blind}) + "\n")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--algos", default="ppo,a2c")
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--out", default=None)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the cells --out already holds")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--blind-only",
        action="store_true",
        help="only the policies that read no observation (no training)",
    )
    args = parser.parse_args()
    seeds = args.seeds or (8 if args.quick else 64)
    configure_cpu(num_runs=seeds)
    out = Path(args.out) if args.out else RESULTS / (
        "dynamics_shift_quick.json" if args.quick else "dynamics_shift.json")  # fmt: skip
    from jaxrl._errors import first_unknown
    from jaxrl.run.results import stored_cells_refusal

    for flag, kind, options in (("envs", "env", RANGES), ("algos", "algorithm", SETTINGS)):
        if message := first_unknown(kind, getattr(args, flag).split(","), options):
            parser.error(f"--{flag}: {message}")
    plan = [] if args.blind_only else [
        (algo, env) for env in args.envs.split(",") for algo in args.algos.split(",")]  # fmt: skip
    if message := stored_cells_refusal(out, plan, overwrite=args.overwrite):
        parser.error(message)
    cells, t0 = [], time.perf_counter()
    for env_name in args.envs.split(","):
        blind = blind_policies(env_name)
        print_blind(env_name, blind)
        merge(out, [], {"quick": args.quick}, {env_name: blind})
        if args.blind_only:
            continue
        for algo in args.algos.split(","):
            cell = run_cell(algo, env_name, seeds, args.episodes, args.quick)
            print_cell(cell)
            print(f"  wall {cell['wall_s']} s; training {cell['train']}", flush=True)
            cells.append(cell)
            merge(out, [cell], {"quick": args.quick})
    total = time.perf_counter() - t0
    print(f"\ntotal wall {total:.1f} s; results in {out}")
    if args.json:
        print(json.dumps({"total_wall_s": total, "cells": [
            {k: v for k, v in c.items() if k != "grid"}
            | {"grid": {n: {k: v for k, v in g.items() if not k.startswith("per_run")}
                        for n, g in c["grid"].items()}} for c in cells]}))  # fmt: skip


if __name__ == "__main__":
    main()
