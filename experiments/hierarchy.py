"""Hierarchical RL: do learned options transfer when the goal moves, and do subgoals reach
the far end of a long maze that a flat learner does not?

    python experiments/hierarchy.py [--quick] [--json] [--out DIR] [--overwrite]

**Four rooms** (Bacon et al. 2017, section 4.1). Tabular option-critic (4 options,
``option_critic.TABULAR``) and a flat actor-critic (the same learner with one option: the
same critic, step sizes and exploration, no temporal abstraction) train on ``FourRooms-v0``
for ``--seeds`` seeds each (50), vmapped in one compile per learner. After ``--switch``
episodes (1,000) the goal moves from the east doorway to a cell of the lower-right room,
drawn per seed from the seed's key, so both learners face the same goals
(:func:`jaxrl.run.switch.make_switching_train`). Columns:

* ``learned_before`` / ``learned_after``: seeds whose mean steps per episode over the last
  100 episodes before the switch / of the run (2 x ``--switch`` episodes) are within twice
  the fastest policy's expected steps for that goal (15-21 steps; value iteration on the
  known dynamics; a uniformly random policy takes hundreds).
* ``before_iqm`` / ``after_iqm``: the same means, IQM over seeds with 95 % bootstrap CIs.
* ``recovery_iqm``: mean steps per episode over the 100 episodes after the switch (IQM, CI);
  ``p_oc_recovers_faster``: the probability that an option-critic seed's recovery takes
  fewer steps than an actor-critic seed's (Agarwal et al. 2021).
* ``options_in_use``: per seed, the options that the final policy over options picks
  (argmax ``Q_W``) in at least 5 of the 104 cells; ``beta_in_use_median``: the median over
  seeds and cells of the termination probability of the option picked there.

A seed that has not finished the episodes a statistic needs counts as taking 1,000 steps
per episode (the episode cap).

Figures in ``--out`` (default ``docs``; with ``--quick``, a new temporary directory, so
that a quick run never replaces the committed figures; an existing figure is refused unless
``--overwrite``): ``hierarchy_fourrooms.png``, steps per episode against episodes
(IQM and 95 % CI per 10 episodes, log scale), the paper's Figure 3 style; and
``hierarchy_terminations.png``, each option's termination probability ``beta_w(s)`` in
every cell for the first seed after training, with the cells where the policy over options
picks it, the final goal marked.

**Maze.** HIRO (``--maze-steps`` env steps, 150,000) against flat TD3 at the same env steps
(exploration noise 0.1, TD3's default, and 0.5), ``--maze-seeds`` seeds each (5), on
``PointMaze-v0`` with its distance reward. Each final policy plays 8 greedy episodes on the
same maze with the sparse reward, whose return is positive exactly when the episode came
within 0.5 of the goal. ``success_rate``: the fraction of those episodes over all seeds;
``seeds_reaching``: seeds with at least half of their episodes reaching the goal.

Compile and run times are measured apart (``jaxrl.run.run_seeds``). With ``--json`` the
last line is ``{"fourrooms": [...], "maze": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from jaxrl.run import configure_cpu


def fourrooms_part(args, out_dir: Path) -> tuple[list[dict], dict]:
    import dataclasses

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.hierarchical import option_critic as oc
    from jaxrl.envs import fourrooms
    from jaxrl.run import run_seeds, stats
    from jaxrl.run.switch import make_switching_train, per_episode

    env, p = envs.make("FourRooms-v0")
    cells = jnp.asarray(fourrooms.room_cells("lower_right"))
    n_ep = 2 * args.switch
    results = {}
    for name, k in (("option_critic", 4), ("actor_critic", 1)):  # one option: no hierarchy
        cfg = dataclasses.replace(oc.TABULAR, num_options=k, total_steps=args.fourrooms_steps)
        switching = make_switching_train(oc.make_learner(cfg, env, p), args.switch)

        def train(key, hp, switching=switching):
            k_goal, k_run = jax.random.split(key)
            goal = cells[jax.random.randint(k_goal, (), 0, cells.shape[0])]
            out = switching(k_run, hp, p, p.replace(goal=goal))
            return out, goal

        res = run_seeds(train, args.seeds, oc.TABULAR_HPARAMS, seed=args.seed)
        (out, goals), m = res.output, res.output[0].metrics
        steps = per_episode(m["episode_length"], m["episodes"], n_ep)
        results[name] = dict(steps=steps, goals=goals, out=out, compile_s=res.compile_s,
                             run_s=res.run_s)  # fmt: skip

    optimal_a = fourrooms.optimal_steps(fourrooms.EAST_DOORWAY)
    cfg_k = {"option_critic": 4, "actor_critic": 1}

    def in_use_beta(r, k):
        q, beta = option_tables(r, k)
        return np.take_along_axis(beta, np.argmax(q, -1)[..., None], axis=-1)

    rows = []
    for name, r in results.items():
        steps, goals = r["steps"], r["goals"]
        optimal_b = np.array([fourrooms.optimal_steps(int(g)) for g in goals])
        before = steps[:, args.switch - 100 : args.switch].mean(axis=1)
        after = steps[:, n_ep - 100 : n_ep].mean(axis=1)
        recovery = steps[:, args.switch : args.switch + 100].mean(axis=1)
        r["recovery"] = recovery

        def iqm_ci(x):
            # A seed short of the episodes counts as taking 1,000 steps (the episode cap).
            x = np.where(np.isnan(x), 1000.0, x)
            lo, hi = stats.bootstrap_ci(x, seed=args.seed)
            return [stats.iqm(x), lo, hi]

        rows.append({
            "learner": name,
            "seeds": args.seeds,
            "learned_before": int(np.sum(before <= 2 * optimal_a)),
            "learned_after": int(np.sum(after <= 2 * optimal_b)),
            "learned_both": int(np.sum((before <= 2 * optimal_a) & (after <= 2 * optimal_b))),
            "before_iqm": iqm_ci(before),
            "after_iqm": iqm_ci(after),
            "recovery_iqm": iqm_ci(recovery),
            "options_in_use": options_in_use(option_tables(r, cfg_k[name])[0]).tolist(),
            "beta_in_use_median": float(np.median(in_use_beta(r, cfg_k[name]))),
            "optimal_before": optimal_a,
            "optimal_after_mean": float(optimal_b.mean()),
            "env_steps_per_run": args.fourrooms_steps,
            "compile_s": r["compile_s"],
            "run_s": r["run_s"],
        })  # fmt: skip
    oc_rec, ac_rec = results["option_critic"]["recovery"], results["actor_critic"]["recovery"]
    p_better = stats.probability_of_improvement(-np.nan_to_num(oc_rec, nan=1000.0),
                                                -np.nan_to_num(ac_rec, nan=1000.0))  # fmt: skip
    for row in rows:
        row["p_oc_recovers_faster"] = p_better
    plot_curves(results, args, out_dir / "hierarchy_fourrooms.png")
    plot_terminations(results["option_critic"], out_dir / "hierarchy_terminations.png")
    return rows, results


def plot_curves(results: dict, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxrl.run import stats

    fig, ax = plt.subplots(figsize=(7, 4))
    bin_ = 10
    for (name, r), color in zip(results.items(), ("C0", "C1"), strict=True):
        steps = r["steps"]
        n_bins = steps.shape[1] // bin_
        binned = steps[:, : n_bins * bin_].reshape(len(steps), n_bins, bin_).mean(axis=2)
        binned = np.where(np.isnan(binned), 1000.0, binned)  # not reached: the episode cap
        mid = [stats.iqm(binned[:, b]) for b in range(n_bins)]
        ci = np.array([stats.bootstrap_ci(binned[:, b], num_resamples=500, seed=b)
                       for b in range(n_bins)])  # fmt: skip
        x = (np.arange(n_bins) + 0.5) * bin_
        label = name.replace("_", "-") + (" (4 options)" if name == "option_critic" else "")
        ax.plot(x, mid, color=color, label=label)
        ax.fill_between(x, ci[:, 0], ci[:, 1], color=color, alpha=0.25)
    ax.axvline(args.switch, color="k", ls="--", lw=0.8)
    ax.set(xlabel="episode", ylabel="steps per episode", yscale="log",
           title=f"FourRooms-v0, goal moved after {args.switch} episodes "
                 f"(IQM, 95 % CI, {args.seeds} seeds)")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def option_tables(result: dict, k: int):
    """Per seed: ``Q_W [104, K]`` and ``beta [104, K]`` of the final table (linear on one-hot
    states: row s of kernel + bias is the output at s)."""
    import numpy as np

    layer = result["out"].state.params[0]
    table = np.asarray(layer["kernel"]) + np.asarray(layer["bias"])[:, None, :]
    return table[..., :k], 1.0 / (1.0 + np.exp(-table[..., k : 2 * k]))


def options_in_use(q, min_cells: int = 5):
    """Per seed, the options the policy over options picks (argmax Q_W) in >= 5 cells."""
    import numpy as np

    chosen = np.argmax(q, axis=-1)  # [seeds, 104]
    return np.sum([(chosen == w).sum(axis=1) >= min_cells for w in range(q.shape[-1])], axis=0)


def plot_terminations(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxrl.envs import fourrooms

    k = 4
    q, beta = option_tables(result, k)
    chosen = np.argmax(q, axis=-1)  # [seeds, 104]
    seed = int(np.argmax(options_in_use(q)))  # the seed whose policy uses the most options
    acting = np.take_along_axis(beta, chosen[..., None], axis=-1)[..., 0].mean(axis=0)

    def grid_of(values):
        grid = np.full((13, 13), np.nan)
        grid[fourrooms.CELLS[:, 0], fourrooms.CELLS[:, 1]] = values
        return grid

    def draw(ax, values, title):
        grid = grid_of(values)
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.imshow(np.ma.masked_where(~np.isnan(grid), np.ones_like(grid)), cmap="Greys",
                  vmin=0, vmax=1)  # fmt: skip
        ax.set(xticks=[], yticks=[], title=title)
        return im

    fig, axes = plt.subplots(1, k + 1, figsize=(3.1 * (k + 1), 3.9))
    goal = fourrooms.CELLS[int(result["goals"][seed])]
    for w in range(k):
        im = draw(axes[w], beta[seed, :, w], f"option {w}")
        picked = fourrooms.CELLS[chosen[seed] == w]
        axes[w].scatter(picked[:, 1], picked[:, 0], s=6, c="w", marker="o", linewidths=0)
        axes[w].scatter([goal[1]], [goal[0]], s=120, c="r", marker="*")
    draw(axes[k], acting, f"option in use, {len(q)} seeds")
    fig.colorbar(im, ax=axes, shrink=0.8, label="termination probability")
    fig.suptitle(f"Option-critic's termination probabilities beta(s) after the run. Left: each "
                 f"option of seed {seed}, the seed whose policy over options uses the most options "
                 "(dots: cells where it picks the option;\nstar: its final goal). Right: the mean "
                 "over seeds of beta of the option the policy over options picks in each cell",
                 fontsize=9)  # fmt: skip
    fig.savefig(path, dpi=120)
    plt.close(fig)


def maze_part(args) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.hierarchical import hiro
    from jaxrl.agents.offpolicy import td3
    from jaxrl.run import run_seeds, saved_policies
    from jaxrl.run.evaluate import first_episode_returns

    env, p = envs.make("PointMaze-v0")
    sparse = p.replace(sparse=True)
    episodes = 8
    common = dict(total_steps=args.maze_steps, learning_starts=10_000, batch_size=128,
                  hidden=(64, 64), log_every=5_000)  # fmt: skip
    runs = {
        "hiro": (hiro, hiro.HIROConfig(goal_dims=2, **common), hiro.HIROHParams()),
        "td3": (td3, td3.TD3Config(**common), td3.TD3HParams()),
        "td3_noise_0.5": (td3, td3.TD3Config(**common), td3.TD3HParams(exploration_noise=0.5)),
    }
    rows = []
    for name, (module, cfg, hp) in runs.items():
        learner = module.make_learner(cfg, env, p)
        res = run_seeds(learner, args.maze_seeds, hp, seed=args.seed)
        policies = saved_policies(learner, res.output.state)
        venv = envs.stack(env, sparse, episodes)

        @jax.jit
        def evaluate(params, key, learner=learner, venv=venv):
            return first_episode_returns(learner.policy, params, venv, sparse, key,
                                         sparse.max_steps_in_episode, True)  # fmt: skip

        reached = []
        for i in range(args.maze_seeds):
            params = jax.tree.map(lambda x, i=i: jnp.asarray(x[i]), policies)
            returns, _ = evaluate(params, jax.random.key(10_000 + i))
            reached.append(np.asarray(returns) > 0)
        reached = np.array(reached)  # [seeds, episodes]
        final = res.output.metrics["episode_return"][:, -1]
        rows.append({
            "learner": name,
            "seeds": args.maze_seeds,
            "env_steps_per_run": args.maze_steps,
            "success_rate": float(reached.mean()),
            "seeds_reaching": int(np.sum(reached.mean(axis=1) >= 0.5)),
            "per_seed_success": reached.mean(axis=1).tolist(),
            "final_train_return_mean": float(np.mean(final)),
            "compile_s": res.compile_s,
            "run_s": res.run_s,
        })  # fmt: skip
    return rows


def print_fourrooms(rows: list[dict], args, out_dir: Path) -> None:
    import numpy as np

    def ci(v):
        return f"{v[0]:7.1f} [{v[1]:6.1f}, {v[2]:6.1f}]"

    print(f"four rooms: goal moved after {args.switch} episodes, {args.seeds} seeds, "
          f"{args.fourrooms_steps} env steps per run")  # fmt: skip
    print(f"  {'learner':<14} {'learned b/a/both':>17} {'before IQM [CI]':>25} "
          f"{'after IQM [CI]':>25} {'recovery IQM [CI]':>25} {'compile/run s':>14}")  # fmt: skip
    for r in rows:
        learned = f"{r['learned_before']}/{r['learned_after']}/{r['learned_both']}"
        print(f"  {r['learner']:<14} {learned:>17} {ci(r['before_iqm']):>25} "
              f"{ci(r['after_iqm']):>25} {ci(r['recovery_iqm']):>25} "
              f"{r['compile_s']:6.1f}/{r['run_s']:<7.1f}")  # fmt: skip
    first = rows[0]
    print(f"  fastest policy: {first['optimal_before']:.1f} steps before, "
          f"{first['optimal_after_mean']:.1f} after (mean over seeds); "
          f"P(option-critic recovers faster) = {first['p_oc_recovers_faster']:.2f}")  # fmt: skip
    used = np.array(first["options_in_use"])
    counts = ", ".join(f"{n}: {np.sum(used == n)}" for n in range(1, 5))
    print(f"  option-critic seeds by options in use ({counts}); median beta of the "
          f"option in use {first['beta_in_use_median']:.3f}")  # fmt: skip
    print(f"  figures: {out_dir / 'hierarchy_fourrooms.png'}, "
          f"{out_dir / 'hierarchy_terminations.png'}", flush=True)  # fmt: skip


def print_maze(rows: list[dict], args) -> None:
    print(f"maze: PointMaze-v0, {args.maze_steps} env steps per run, {args.maze_seeds} seeds")
    print(f"  {'learner':<14} {'success rate':>12} {'seeds reaching':>15} "
          f"{'per seed':>30} {'compile/run s':>14}")  # fmt: skip
    for r in rows:
        per = " ".join(f"{x:.2f}" for x in r["per_seed_success"])
        print(f"  {r['learner']:<14} {r['success_rate']:>12.2f} "
              f"{r['seeds_reaching']:>10}/{r['seeds']:<4} {per:>30} "
              f"{r['compile_s']:6.1f}/{r['run_s']:<7.1f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--switch", type=int, default=None)
    parser.add_argument("--fourrooms-steps", type=int, default=None)
    parser.add_argument("--maze-seeds", type=int, default=None)
    parser.add_argument("--maze-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-maze", action="store_true")
    parser.add_argument("--skip-fourrooms", action="store_true")
    parser.add_argument("--out", default="", help="figures' directory (see above)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the figures in --out if they exist"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    args.seeds = args.seeds or (10 if quick else 50)
    args.switch = args.switch or (500 if quick else 1000)
    args.fourrooms_steps = args.fourrooms_steps or (60_000 if quick else 100_000)
    args.maze_seeds = args.maze_seeds or (2 if quick else 5)
    args.maze_steps = args.maze_steps or (60_000 if quick else 150_000)
    configure_cpu(num_runs=max(args.seeds, args.maze_seeds))
    out_dir = Path(args.out or (tempfile.mkdtemp(prefix="jaxrl_hierarchy_") if quick else "docs"))
    from jaxrl.run.results import overwrite_refusal

    if message := overwrite_refusal(
        []
        if args.skip_fourrooms
        else [out_dir / "hierarchy_fourrooms.png", out_dir / "hierarchy_terminations.png"],
        overwrite=args.overwrite,
    ):
        parser.error(message)
    out_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    fourrooms_rows, maze_rows = [], []
    if not args.skip_fourrooms:
        fourrooms_rows = fourrooms_part(args, out_dir)[0]
        print_fourrooms(fourrooms_rows, args, out_dir)
    if not args.skip_maze:
        maze_rows = maze_part(args)
        print_maze(maze_rows, args)
    print(f"total wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps({"fourrooms": fourrooms_rows, "maze": maze_rows}))


if __name__ == "__main__":
    main()
