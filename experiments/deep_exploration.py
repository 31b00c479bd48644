"""Deep exploration: episodes until DQN (epsilon-greedy), PPO, PPO+ICM, PPO+RND and bootstrapped
DQN with randomized priors learn DeepSea(N); MountainCar-v0's sparse reward; the noisy TV.

    python experiments/deep_exploration.py [--quick] [--seeds 5] [--json] [--out FILE]
        [--plot FILE.png] [--overwrite] [--only deepsea,mountaincar,noisytv]

DeepSea(N) (deterministic, gymnax's fixed random action map): a method has learned at the end
of the first window of at least 100 episodes (whole updates) whose mean return is at least
0.9 of the optimum 0.99; the episodes to learn are those played until then (``inf``: not
within the budget). All seeds of one method and N run vmapped in one compile (N changes
shapes, so one compile per N). The slope of log(episodes) against log(N) is fitted over the N
that every seed learned (median episodes). MountainCar-v0 (PPO and PPO+RND, observations
normalised): a seed succeeds if any of its episodes reached the goal (return above -200).
NoisyTV-v0 (PPO, PPO+ICM, PPO+RND): the fraction of the trained policy's sampled actions that
watch the TV (16 envs x 256 steps per seed), mean over seeds with a 95 % t-interval.

Compile and run are timed apart for every group (the first call compiles, ``lower().compile()``).
``--quick``: N in (4, 6, 8, 10), 600 episodes per N, MountainCar 100,000 steps, NoisyTV 60,000
steps. Full: N in (4, 6, 10, 16, 20, 30, 40), 5,000 episodes per N, MountainCar 1,000,000
steps, NoisyTV 500,000 steps.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from jaxrl.run import configure_cpu

METHODS = ("dqn", "ppo", "ppo_icm", "ppo_rnd", "bootdqn")
OPTIMAL = 0.99  # deterministic DeepSea: 1 for the treasure less 0.01 for the right moves
WINDOW = 100  # episodes


def deepsea_learner(method: str, n: int, episodes: int):
    from gymnax.environments.bsuite.deep_sea import DeepSea

    from jaxrl.agents.exploration import bootdqn, ppo_icm, ppo_rnd
    from jaxrl.agents.offpolicy import dqn
    from jaxrl.agents.onpolicy import ppo

    env = DeepSea(n)
    p = env.default_params
    if method in ("dqn", "bootdqn"):
        common = dict(total_steps=episodes * n, log_every=10 * n, batch_size=64,
                      learning_starts=64, buffer_size=10_000, hidden=(32, 32), train_every=1,
                      gradient_steps=1, n_step=1, prioritized=False)  # fmt: skip
        if method == "dqn":
            cfg = dqn.DQNConfig(**common, target_update_every=4)
            return dqn.make_learner(cfg, env, p), dqn.DQNHParams(lr=1e-3, tau=1.0)
        # bsuite's bootstrapped DQN baseline (bsuite/baselines/jax/boot_dqn, default_agent):
        # every head trains on every transition (mask_prob 1) and its prior weighs 5; its 20
        # heads of 50-50 units on batches of 128 cost ~6x this per step (K = 20 heads learned
        # DeepSea N = 20 in a median 320 episodes against 340 with these 10).
        cfg = bootdqn.BootDQNConfig(**common)
        hp = bootdqn.BootDQNHParams(mask_prob=1.0, prior_scale=5.0)
        return bootdqn.make_learner(cfg, env, p), hp
    num_envs, num_steps = 16, 2 * n  # 32 episodes an update
    total = max(episodes // 32, 1) * num_envs * num_steps
    shapes = dict(num_envs=num_envs, num_steps=num_steps, total_steps=total)
    if method == "ppo":
        cfg = ppo.PPOConfig(**shapes, anneal_lr=False, implementation="plain")
        return ppo.make_learner(cfg, env, p), ppo.PPOHParams()
    if method == "ppo_icm":
        return ppo_icm.make_learner(ppo_icm.ICMConfig(**shapes), env, p), ppo_icm.ICMHParams()
    return ppo_rnd.make_learner(ppo_rnd.RNDConfig(**shapes), env, p), ppo_rnd.RNDHParams()


def run_vmapped(learner, hp, seeds: int, seed: int = 0):
    """All seeds in one compile -> (metrics as numpy, compile s, run s, final state)."""
    import jax
    import numpy as np

    from jaxrl.learner import make_train

    train = make_train(learner)
    fn = jax.jit(jax.vmap(lambda k: train(k, hp)))
    keys = jax.random.split(jax.random.key(seed), seeds)
    t0 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t2 = time.perf_counter()
    metrics = {k: np.asarray(v) for k, v in out.metrics.items()}
    return metrics, t1 - t0, t2 - t1, out.state


def episodes_to_learn(returns, counts, threshold=0.9 * OPTIMAL, window=WINDOW) -> float:
    """Episodes played until the end of the first window of >= ``window`` episodes (whole
    updates) with mean return >= ``threshold``; ``inf`` if none."""
    total = 0.0
    for u in range(len(returns)):
        total += counts[u]
        got, n = 0.0, 0.0
        for v in range(u, -1, -1):
            got += returns[v] * counts[v]
            n += counts[v]
            if n >= window:
                break
        if n >= window and got / n >= threshold:
            return total
    return math.inf


def fit_slope(ns, eps) -> float | None:
    import numpy as np

    pts = [(n, e) for n, e in zip(ns, eps, strict=True) if math.isfinite(e)]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def deepsea(sizes, episodes, seeds, methods=METHODS):
    import numpy as np

    rows = []
    for method in methods:
        for n in sizes:
            learner, hp = deepsea_learner(method, n, episodes)
            m, t_compile, t_run, _ = run_vmapped(learner, hp, seeds)
            eps = [episodes_to_learn(m["episode_return"][s], m["episodes"][s])
                   for s in range(seeds)]  # fmt: skip
            learned = sum(math.isfinite(e) for e in eps)
            row = {"method": method, "N": n, "seeds": seeds, "learned": learned,
                   "median_episodes": float(np.median(eps)), "episodes": eps,
                   "budget_episodes": int(m["episodes"][0].sum()),
                   "compile_s": round(t_compile, 1), "run_s": round(t_run, 1)}  # fmt: skip
            rows.append(row)
            print(f"{method:8s} N={n:3d} learned {learned}/{seeds}  median episodes "
                  f"{row['median_episodes']:>7}  (budget {row['budget_episodes']})  "
                  f"compile {t_compile:5.1f}s run {t_run:6.1f}s", flush=True)  # fmt: skip
    slopes = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method and r["learned"] == seeds]
        slopes[method] = fit_slope([r["N"] for r in mine], [r["median_episodes"] for r in mine])
    largest = {method: max([r["N"] for r in rows if r["method"] == method
                            and r["learned"] == seeds] or [0]) for method in methods}  # fmt: skip
    return rows, slopes, largest


def plot(rows, slopes, path: str) -> None:
    """Median episodes to learn against N, log-log, one line per method (N all seeds learned)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for method in sorted({r["method"] for r in rows}, key=METHODS.index):
        mine = [r for r in rows if r["method"] == method and math.isfinite(r["median_episodes"])]
        if mine:
            s = slopes.get(method)
            label = method if s is None else f"{method} (slope {s:.2f})"
            ax.plot([r["N"] for r in mine], [r["median_episodes"] for r in mine], "o-",
                    label=label)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("DeepSea N")
    ax.set_ylabel("episodes to learn (median over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def mountaincar(steps, seeds):
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.exploration import ppo_rnd
    from jaxrl.agents.onpolicy import ppo

    env, p = envs.make("MountainCar-v0")
    shapes = dict(num_envs=16, num_steps=128, total_steps=steps, normalize_obs=True)
    out = {}
    for name, (learner, hp) in {
        "ppo": (ppo.make_learner(ppo.PPOConfig(**shapes, implementation="plain"), env, p),
                ppo.PPOHParams()),
        "ppo_rnd": (ppo_rnd.make_learner(ppo_rnd.RNDConfig(**shapes), env, p),
                    ppo_rnd.RNDHParams()),
    }.items():  # fmt: skip
        m, t_compile, t_run, _ = run_vmapped(learner, hp, seeds)
        ret = m["episode_return"]
        ended = m["episodes"] > 0  # updates where an episode ended (else the metric is stale)
        success = [bool((ended[s] & (ret[s] > -200 + 1e-3)).any()) for s in range(seeds)]
        out[name] = {"successes": int(sum(success)), "seeds": seeds, "steps": learner.total_steps,
                     "final_return": [float(x) for x in ret[:, -1]],
                     "compile_s": round(t_compile, 1), "run_s": round(t_run, 1)}  # fmt: skip
        print(f"MountainCar {name:8s} reached the goal in {sum(success)}/{seeds} seeds within "
              f"{learner.total_steps} steps; final returns {np.round(ret[:, -1], 1).tolist()}  "
              f"compile {t_compile:5.1f}s run {t_run:6.1f}s", flush=True)  # fmt: skip
    return out


def watch_fraction(learner, state, seeds, steps=256):
    """The fraction of sampled actions that watch the TV, per seed."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import envs
    from jaxrl.envs import noisy_tv

    venv = envs.stack(learner.env, learner.env_params, 16)

    def one(saved, key):
        k_reset, k_run = jax.random.split(key)
        obs, env_state = venv.reset(k_reset, learner.env_params)

        def step(carry, key):
            obs, env_state = carry
            k_act, k_env = jax.random.split(key)
            a = learner.act(saved, obs, k_act, greedy=False)
            obs, env_state, *_ = venv.step(k_env, env_state, a, learner.env_params)
            return (obs, env_state), jnp.mean(a == noisy_tv.WATCH)

        _, frac = jax.lax.scan(step, (obs, env_state), jax.random.split(k_run, steps))
        return frac.mean()

    saved = jax.vmap(learner.save)(state)
    keys = jax.random.split(jax.random.key(99), seeds)
    return np.asarray(jax.jit(jax.vmap(one))(saved, keys))


def noisy(steps, seeds):
    import numpy as np
    from scipy import stats

    from jaxrl import envs
    from jaxrl.agents.exploration import ppo_icm, ppo_rnd
    from jaxrl.agents.onpolicy import ppo

    env, p = envs.make("NoisyTV-v0")
    shapes = dict(num_envs=16, num_steps=32, total_steps=steps)
    out = {}
    for name, (learner, hp) in {
        "ppo": (ppo.make_learner(ppo.PPOConfig(**shapes, implementation="plain"), env, p),
                ppo.PPOHParams()),
        "ppo_icm": (ppo_icm.make_learner(ppo_icm.ICMConfig(**shapes), env, p),
                    ppo_icm.ICMHParams()),
        "ppo_rnd": (ppo_rnd.make_learner(ppo_rnd.RNDConfig(**shapes), env, p),
                    ppo_rnd.RNDHParams()),
    }.items():  # fmt: skip
        m, t_compile, t_run, state = run_vmapped(learner, hp, seeds)
        frac = watch_fraction(learner, state, seeds)
        mean = float(frac.mean())
        half = float(stats.t.ppf(0.975, seeds - 1) * frac.std(ddof=1) / math.sqrt(seeds))
        out[name] = {"watch_fraction": [float(x) for x in frac], "mean": mean,
                     "ci95": [mean - half, mean + half],
                     "final_return": [float(x) for x in m["episode_return"][:, -1]],
                     "compile_s": round(t_compile, 1), "run_s": round(t_run, 1)}  # fmt: skip
        print(f"NoisyTV {name:8s} watches {mean:.3f} of the time (95% CI {mean - half:.3f} "
              f"to {mean + half:.3f}; chance 1/6 = 0.167); final returns "
              f"{np.round(m['episode_return'][:, -1], 2).tolist()}  compile {t_compile:5.1f}s "
              f"run {t_run:6.1f}s", flush=True)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files --out and --plot name if they exist",
    )
    parser.add_argument("--only", default="deepsea,mountaincar,noisytv")
    parser.add_argument("--plot", default="", help="write the log-log plot to this PNG")
    parser.add_argument("--methods", default=",".join(METHODS), help="DeepSea's methods")
    parser.add_argument("--sizes", default="", help="DeepSea's N, comma-separated")
    parser.add_argument("--episodes", type=int, default=0, help="DeepSea's budget per N")
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)
    from jaxrl.run.results import overwrite_refusal

    if message := overwrite_refusal([args.out, args.plot], overwrite=args.overwrite):
        parser.error(message)
    if args.quick:
        sizes, episodes, mc_steps, tv_steps = (4, 6, 8, 10), 600, 100_000, 60_000
    else:
        sizes, episodes, mc_steps, tv_steps = (4, 6, 10, 16, 20, 30, 40), 5_000, 1_000_000, 500_000
    only = set(args.only.split(","))
    methods = tuple(args.methods.split(","))
    if args.sizes:
        sizes = tuple(int(n) for n in args.sizes.split(","))
    episodes = args.episodes or episodes
    result = {"quick": args.quick, "seeds": args.seeds}
    t0 = time.perf_counter()
    if "deepsea" in only:
        rows, slopes, largest = deepsea(sizes, episodes, args.seeds, methods)
        result.update(deepsea=rows, slopes=slopes, largest_n_learned=largest)
        if args.plot:
            plot(rows, slopes, args.plot)
        print("\nlog-log slope of episodes to learn against N (N every seed learned):")
        for method in methods:
            s = slopes[method]
            print(
                f"  {method:8s} slope {'-' if s is None else f'{s:.2f}'}  "
                f"largest N learned by every seed {largest[method]}"
            )
    if "mountaincar" in only:
        result["mountaincar"] = mountaincar(mc_steps, args.seeds)
    if "noisytv" in only:
        result["noisytv"] = noisy(tv_steps, args.seeds)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"\nwall {result['wall_s']} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
