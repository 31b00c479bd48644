"""Does RL² learn to explore? Bandit trials against hand-designed strategies (Duan et al. 2016).

    python experiments/rl2_bandits.py [--quick] [--pulls 10 100 500] [--arms 5 10 50]
        [--steps N] [--test-trials 1000] [--plots DIR] [--overwrite] [--metamaze-steps N] [--json]

For each setting (``n`` pulls of ``k`` arms, means drawn U[0, 1] per trial:
``BernoulliBandit-k<k>-n<n>``) RL² is trained (``--seeds`` runs in one compile, RL2Config
defaults, ``--steps`` env steps each), then every strategy plays the same ``--test-trials``
trials (one evaluation key: the same arms and the same luck for all):

* RL²: the trained policy (its rollouts hold whole trials, ``num_steps = max(100, n)``:
  backpropagation truncated inside a trial, 100 steps of a 500-pull trial, left RL² near
  the random policy at n = 500), sampling its actions (``rl2``) and taking its most likely arm
  (``rl2 greedy``); with several seeds, each seed's policy is scored and the mean over seeds is
  reported beside the row of the seed that earns most on the tuning trials (the CI is over
  trials, of that seed's policy);
* ``random``, ``greedy``, ``thompson``, ``ucb1 (c=1)``;
* tuned on ``--tune-trials`` other trials (another key), the best of a grid:
  ``epsilon-greedy`` (epsilon), ``ucb1 tuned`` (c), ``gittins`` (the discount gamma of the
  indices; Gittins indices are optimal for the discounted infinite horizon, so on a finite
  trial the discount is a choice: the one that earns most on the tuning trials, from 0.5 to
  0.99, and also 0.995 and 0.998 when n > 200);
* ``bayes-optimal`` for two arms (n <= 200): the exact finite-horizon policy by DP.

Columns: mean cumulative reward per trial with its 95 % CI (normal, over trials), the RL²
paper's Table 1 layout. For two arms, also the mean pseudo-regret (``n max p - sum_t
p[a_t]``) of RL² against the Bayes-optimal DP's. ``--plots DIR`` writes the cumulative
pseudo-regret over pulls and the fraction of pulls on the best arm over pulls (explore, then
exploit) for RL² and the best baselines at each setting. ``--metamaze-steps N`` adds
MetaMaze-misc: RL² (one episode a trial) against feed-forward PPO, N env steps each, scored
by the mean return of 256 evaluation episodes per seed. With ``--json`` the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from pathlib import Path

from jaxrl.run import configure_cpu

EPSILONS = (0.01, 0.03, 0.1, 0.2, 0.3)
UCB_CS = (0.05, 0.1, 0.2, 0.5, 1.0)
GAMMAS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
LONG_GAMMAS = (0.995, 0.998)  # also tried when n > 200: 0.99's horizon is ~100 pulls


def ci95(x):
    import numpy as np

    x = np.asarray(x, np.float64)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def make_player(env, env_params, trials: int, pulls: int):
    """A jitted ``play(policy, params, key) -> (returns [N], pseudo-regret [N],
    regret curve [n], best-arm fraction [n])`` over ``trials`` trials of ``env``."""
    import jax
    import jax.numpy as jnp

    from jaxrl import envs
    from jaxrl.run.evaluate import play

    venv = envs.stack(env, env_params, trials)

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def run(policy, params, key, greedy=False):
        steps = play(policy, params, venv, env_params, key, pulls, greedy)
        _, state = venv.reset(jax.random.split(key)[0], env_params)  # the trials' arms
        means = state.env_state.task.means  # [N, k]
        best = jnp.max(means, axis=-1)
        pulled = jnp.take_along_axis(means[None], steps.action[..., None], axis=-1)[..., 0]
        regret = best[None] - pulled  # [n, N]
        on_best = steps.action == jnp.argmax(means, axis=-1)[None]
        returns = jnp.sum(steps.reward, axis=0)
        return returns, regret.sum(0), jnp.cumsum(regret.mean(1)), on_best.mean(1)

    return run


def baselines(k: int, n: int, run, tune_key):
    """``{name: (policy, params, note)}``: the fixed strategies and the tuned ones."""
    import numpy as np

    from jaxrl.agents.memory import bandits

    out = {
        "random": (*bandits.random_policy(k), ""),
        "greedy": (*bandits.greedy_policy(k), ""),
        "thompson": (*bandits.thompson_policy(k), ""),
        "ucb1 (c=1)": (*bandits.ucb1_policy(k, 1.0), ""),
    }

    def tuned(name, make, grid, label):
        scores = [float(np.mean(run(*make(v)[:2], tune_key)[0])) for v in grid]
        best = grid[int(np.argmax(scores))]
        out[name] = (*make(best)[:2], f"{label}={best}")

    tuned("epsilon-greedy", lambda e: bandits.epsilon_greedy_policy(k, e), EPSILONS, "epsilon")
    tuned("ucb1 tuned", lambda c: bandits.ucb1_policy(k, c), UCB_CS, "c")
    gammas = GAMMAS + LONG_GAMMAS if n > 200 else GAMMAS
    tuned("gittins", lambda g: bandits.gittins_policy(k, n, g), gammas, "gamma")
    if k == 2 and n <= 200:
        out["bayes-optimal"] = (*bandits.bayes_optimal_policy(n), "exact DP")
    return out


def run_setting(k: int, n: int, args) -> dict:
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.memory import rl2
    from jaxrl.run import run_seeds, saved_policies

    name = f"BernoulliBandit-k{k}-n{n}"
    env, p = envs.make(name)
    run = make_player(env, p, args.test_trials, n)
    test_key, tune_key = jax.random.key(args.eval_seed), jax.random.key(args.eval_seed + 1)
    tune_run = make_player(env, p, args.tune_trials, n) if args.tune_trials else run
    rows = {}
    for label, (policy, params, note) in baselines(k, n, tune_run, tune_key).items():
        returns, regret, curve, best = run(policy, params, test_key)
        rows[label] = summarize(returns, regret, curve, best, note)

    cfg = rl2.RL2Config(total_steps=args.steps, num_steps=args.num_steps or max(100, n))
    learner = rl2.make_learner(cfg, env, p)
    res = run_seeds(learner, args.seeds, learner.hparams, seed=args.seed)
    saved = saved_policies(learner, res.output.state)
    for greedy in (False, True):
        per_seed, tuning = [], []
        for i in range(args.seeds):
            params = jax.tree.map(lambda x, i=i: x[i], saved)
            per_seed.append(run(learner.policy, params, test_key, greedy))
            tuning.append(float(np.mean(tune_run(learner.policy, params, tune_key, greedy)[0])))
        means = [float(np.mean(r[0])) for r in per_seed]
        best_seed = int(np.argmax(tuning))  # chosen on the tuning trials, as the baselines are
        row = summarize(*per_seed[best_seed], f"{args.seeds} seeds, {cfg.total_steps} steps")
        row["seed_means"] = means
        row["mean_over_seeds"] = float(np.mean(means))
        rows["rl2 greedy" if greedy else "rl2"] = row
    baseline_names = [r for r in rows if not r.startswith("rl2")]
    best_baseline = max(baseline_names, key=lambda r: rows[r]["mean"])
    out = {
        "env": name,
        "arms": k,
        "pulls": n,
        "rows": rows,
        "best_baseline": best_baseline,
        "rl2_compile_s": round(res.compile_s, 2),
        "rl2_train_s": round(res.run_s, 2),
        "rl2_in_best_baseline_ci": rows["rl2"]["mean"] >= rows[best_baseline]["ci"][0],
    }
    if "bayes-optimal" in rows:
        optimal = rows["bayes-optimal"]["pseudo_regret"]
        out["rl2_regret_over_optimal"] = rows["rl2"]["pseudo_regret"] / optimal
    return out


def summarize(returns, regret, curve, best, note) -> dict:
    import numpy as np

    mean, lo, hi = ci95(returns)
    return {
        "mean": mean,
        "ci": [lo, hi],
        "pseudo_regret": float(np.mean(regret)),
        "pseudo_regret_ci": list(ci95(regret)[1:]),
        "regret_curve": np.asarray(curve).round(4).tolist(),
        "best_arm_fraction": np.asarray(best).round(4).tolist(),
        "note": note,
    }


def metamaze(steps: int, seeds: int, seed: int) -> dict:
    """RL² against feed-forward PPO on MetaMaze-misc (mean evaluation return per seed)."""
    import dataclasses

    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.memory import rl2
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.run import evaluate_params, run_seeds, saved_policies

    env, p = envs.make("MetaMaze-misc")
    rl2_cfg = dataclasses.replace(rl2.RL2Config(total_steps=steps), num_envs=32, num_steps=200,
                                  num_minibatches=4, encoder=(128,))  # fmt: skip
    ppo_cfg = ppo.PPOConfig(total_steps=steps, num_envs=32, num_steps=200, num_minibatches=4)
    out = {}
    for label, learner, hp in [
        ("rl2", rl2.make_learner(rl2_cfg, env, p), rl2.RL2HParams(lr=1e-3)),
        ("ppo (feed-forward)", ppo.make_learner(ppo_cfg, env, p), ppo.PPOHParams(lr=1e-3)),
    ]:
        res = run_seeds(learner, seeds, hp, seed=seed)
        ret = evaluate_params(learner, saved_policies(learner, res.output.state), episodes=256,
                              greedy=False)  # fmt: skip
        out[label] = {"per_seed": np.round(ret, 2).tolist(), "mean": float(np.mean(ret)),
                      "compile_s": round(res.compile_s, 2),
                      "train_s": round(res.run_s, 2)}  # fmt: skip
    return out


PLOT_FILES = ("rl2_bandits_regret.png", "rl2_bandits_best_arm.png")


def plot(settings: list[dict], directory: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(directory).mkdir(parents=True, exist_ok=True)
    written = []
    for key, ylabel, fname in [
        ("regret_curve", "cumulative pseudo-regret", PLOT_FILES[0]),
        ("best_arm_fraction", "trials pulling the best arm", PLOT_FILES[1]),
    ]:
        cols = len(settings)
        fig, axes = plt.subplots(1, cols, figsize=(4 * cols, 3.4), squeeze=False)
        for ax, s in zip(axes[0], settings, strict=True):
            rows = s["rows"]
            shown = ["rl2", s["best_baseline"], "thompson", "ucb1 (c=1)", "random"]
            if "bayes-optimal" in rows:
                shown.insert(1, "bayes-optimal")
            for name in dict.fromkeys(shown):
                ax.plot(range(1, len(rows[name][key]) + 1), rows[name][key], label=name,
                        lw=2 if name == "rl2" else 1)  # fmt: skip
            ax.set_title(f"k={s['arms']}, n={s['pulls']}")
            ax.set_xlabel("pull")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = str(Path(directory) / fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k=5, n=10 and k=2, n=10, small")
    parser.add_argument("--pulls", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--arms", type=int, nargs="*", default=[5, 10, 50],
                        help="k of the k-armed settings (none: two arms only)")  # fmt: skip
    parser.add_argument("--two-arms", type=int, nargs="*", default=[10, 100],
                        help="also two arms at these n (with the Bayes-optimal DP)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=5_000_000, help="RL² env steps per run")
    parser.add_argument("--num-steps", type=int, default=0,
                        help="RL² rollout length (default max(100, n))")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-trials", type=int, default=1000)
    parser.add_argument("--tune-trials", type=int, default=1000)
    parser.add_argument("--eval-seed", type=int, default=12345)
    parser.add_argument("--plots", default="", help="directory for the two plots")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the two plots if they exist"
    )
    parser.add_argument("--metamaze-steps", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.pulls, args.arms, args.two_arms = [10], [5], [10]
        args.steps, args.metamaze_steps = min(args.steps, 200_000), args.metamaze_steps and 64_000
    configure_cpu(num_runs=args.seeds)
    from jaxrl.run.results import overwrite_refusal

    if message := overwrite_refusal(
        [Path(args.plots) / f for f in PLOT_FILES if args.plots], overwrite=args.overwrite
    ):
        parser.error(message)

    settings = [(2, n) for n in args.two_arms]
    settings += [(k, n) for n in args.pulls for k in args.arms]
    results = []
    for k, n in settings:
        t = time.perf_counter()
        s = run_setting(k, n, args)
        s["wall_s"] = round(time.perf_counter() - t, 1)
        results.append(s)
        print_setting(s, flush=True)
    print_table(results)
    out = {"settings": results, "steps": args.steps, "seeds": args.seeds,
           "test_trials": args.test_trials}  # fmt: skip
    if args.metamaze_steps:
        out["metamaze"] = metamaze(args.metamaze_steps, max(args.seeds, 2), args.seed)
        for label, r in out["metamaze"].items():
            print(f"MetaMaze-misc {label:<20} mean eval return {r['mean']:.2f} "
                  f"per seed {r['per_seed']}")  # fmt: skip
    if args.plots:
        out["plots"] = plot([s for s in results if s["pulls"] <= 500], args.plots)
    if args.json:
        for s in out["settings"]:  # keep the JSON line short: curves are in the plots
            for row in s["rows"].values():
                row.pop("regret_curve")
                row.pop("best_arm_fraction")
        print(json.dumps(out))


def print_setting(s: dict, flush: bool = False) -> None:
    print(f"\n{s['env']}: RL² compile {s['rl2_compile_s']} s, train {s['rl2_train_s']} s, "
          f"best baseline {s['best_baseline']}", flush=flush)  # fmt: skip
    for name, r in s["rows"].items():
        print(f"  {name:<16} {r['mean']:8.2f} [{r['ci'][0]:7.2f}, {r['ci'][1]:7.2f}]  "
              f"pseudo-regret {r['pseudo_regret']:7.2f}  {r['note']}", flush=flush)  # fmt: skip
    if "rl2_regret_over_optimal" in s:
        print(f"  RL² regret / Bayes-optimal regret: {s['rl2_regret_over_optimal']:.3f}")


def print_table(results: list[dict]) -> None:
    names = list(dict.fromkeys(n for s in results for n in s["rows"]))
    header = f"{'setting':<10}" + "".join(f"{n:>17}" for n in names)
    print("\n" + header)
    for s in results:
        cells = []
        for n in names:
            r = s["rows"].get(n)
            cells.append(f"{r['mean']:>9.2f} ±{(r['ci'][1] - r['ci'][0]) / 2:<6.2f}" if r else
                         f"{'-':>17}")  # fmt: skip
        setting = f"n={s['pulls']} k={s['arms']}"
        print(f"{setting:<10}" + "".join(f"{c:>17}" for c in cells))


if __name__ == "__main__":
    main()
