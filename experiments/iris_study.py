"""IRIS on Catch and CartPole: returns at 20k/50k/100k env steps, and open-loop prediction
error of the world model against the copy-last-observation baseline.

    python experiments/iris_study.py [--quick] [--seeds 5] [--envs Catch-bsuite,CartPole-v1]
                                     [--steps 100000] [--key 0] [--json]

For each env, ``--seeds`` runs of ``jaxrl train iris`` (the config below) train in one
compiled call, in chunks; after each chunk the greedy policy of every run is evaluated on
``--episodes`` episodes. Reported per env:

* ``return_at``: IQM over seeds of the evaluation return at 20k, 50k and 100k env steps (the
  checkpoints at or just past them), with its 95 % bootstrap CI.
* ``seeds_solved``: seeds whose evaluation return reached the threshold (Catch 0.9, CartPole
  475) at some checkpoint within the budget.
* ``train_wall_s`` (all seeds together, compile and evaluation excluded), ``compile_s``,
  ``updates_per_env_step`` (world-model plus actor-critic Adam steps per env step).
* ``open_loop``: the trained world model (each seed) dreams from a real observation along
  the real actions that followed, choosing the most likely token each time; at each horizon
  h, the mean squared error of the decoded dream's observation against the real one h steps
  later, and the same error of the copy-last baseline (the start observation), over every
  start whose next h steps stay in one episode (:func:`open_loop_error`). ``recon`` is the
  tokenizer's own error on the real observation (the floor).

With ``--json`` the last line is ``{"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from jaxrl.run import configure_cpu

THRESHOLDS = {"Catch-bsuite": 0.9, "CartPole-v1": 475.0}
CONFIGS = {
    "Catch-bsuite": dict(),
    "CartPole-v1": dict(horizon=15, context=8, model_steps=8),
}
MARKS = (20_000, 50_000, 100_000)


def open_loop_error(parts, params, episodes: dict, horizons, key=None) -> dict:
    """Open-loop prediction error of one trained world model.

    Args:
      parts: :func:`jaxrl.agents.world_models.iris.make_parts`'s networks.
      params: one run's saved parameters.
      episodes: real steps ``{"obs": [N, T, D], "action": [N, T], "ended": [N, T]}`` of
        ``N`` envs (``ended[n, t]``: the episode ended on step ``t``, so ``obs[n, t + 1]``
        starts a new one).
      horizons: the horizons ``h`` to score (at most ``T - 1``).

    Returns:
      ``{"horizon": [...], "model": [...], "copy_last": [...], "recon": float,
      "count": [...]}``: mean squared errors per horizon (NaN where no start qualifies).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    obs, actions, ended = (np.asarray(episodes[k]) for k in ("obs", "action", "ended"))
    n, t_len, _ = obs.shape
    h_max = max(horizons)
    starts = t_len - h_max
    key = jax.random.key(0) if key is None else key

    idx = np.arange(starts)[:, None] + np.arange(h_max)[None, :]  # [S, H]
    act = jnp.asarray(actions[:, idx]).reshape(n * starts, h_max)
    start_obs = jnp.asarray(obs[:, :starts]).reshape(n * starts, -1)

    @jax.jit
    def dream(params, start_obs, act):
        tokens = parts.tokenize(params, start_obs)
        out = parts.rollout(params, tokens, key, h_max, lambda t, tok, k: act[:, t], True)
        seq = jnp.concatenate([out.tokens[:, 1:], out.final_tokens[:, None]], axis=1)
        return parts.decode(params, seq), parts.decode(params, tokens)

    pred, recon = (np.asarray(x) for x in dream(params, start_obs, act))
    pred = pred.reshape(n, starts, h_max, -1)
    real = obs[:, idx + 1]  # [N, S, H, D]
    ends = np.cumsum(ended[:, idx], axis=-1) > 0  # an episode end at or before step s+h-1
    model_err = ((pred - real) ** 2).mean(-1)
    copy_err = ((obs[:, :starts, None] - real) ** 2).mean(-1)
    out = {"horizon": [], "model": [], "copy_last": [], "count": []}
    for h in horizons:
        ok = ~ends[:, :, h - 1]
        count = int(ok.sum())
        out["horizon"].append(int(h))
        out["count"].append(count)
        out["model"].append(float(model_err[:, :, h - 1][ok].mean()) if count else float("nan"))
        out["copy_last"].append(float(copy_err[:, :, h - 1][ok].mean()) if count else float("nan"))
    out["recon"] = float(((recon.reshape(n, starts, -1) - obs[:, :starts]) ** 2).mean())
    return out


def dream_example(parts, params, episodes: dict, horizon: int = 15):
    """One real episode from its first observation (up to ``horizon`` steps) and the world
    model's open-loop dream along its actions: ``(real [h + 1, D], dream [h + 1, D])``, the
    dream's first row the tokenizer's reconstruction of the start."""
    import jax
    import numpy as np

    obs, actions, ended = (np.asarray(episodes[k]) for k in ("obs", "action", "ended"))
    ends = np.flatnonzero(ended[0])
    # the first whole episode of env 0 after its first end (step 0 if none ended)
    start = int(ends[0]) + 1 if ends.size and ends[0] + 1 < obs.shape[1] - 1 else 0
    stop = int(ends[ends >= start][0]) if np.any(ends >= start) else obs.shape[1] - 1
    h = min(horizon, stop - start, obs.shape[1] - 1 - start)
    act = jax.numpy.asarray(actions[0, start : start + h])[None]
    tokens = parts.tokenize(params, obs[0, start][None])
    out = parts.rollout(params, tokens, jax.random.key(0), h, lambda t, tok, k: act[:, t], True)
    seq = np.concatenate([np.asarray(out.tokens), np.asarray(out.final_tokens)[:, None]], 1)
    return obs[0, start : start + h + 1], np.asarray(parts.decode(params, seq))[0]


def plot_dream(real, dream, env_name: str, path: str) -> None:
    """Real frames above dreamed ones (Catch's 10x5 board), or each observation dimension
    over time, real against dreamed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = real.shape[0]
    if env_name == "Catch-bsuite":
        fig, axes = plt.subplots(2, steps, figsize=(1.1 * steps, 4.2))
        for t in range(steps):
            for row, (frames, name) in enumerate(((real, "real"), (dream, "dreamed"))):
                ax = axes[row, t]
                ax.imshow(frames[t].reshape(10, 5), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{name} t={t}" if t == 0 else f"t={t}", fontsize=7)
    else:
        dims = real.shape[1]
        fig, axes = plt.subplots(1, dims, figsize=(3 * dims, 2.6))
        for d in range(dims):
            axes[d].plot(real[:, d], "k-o", ms=3, label="real")
            axes[d].plot(dream[:, d], "r--s", ms=3, label="dreamed")
            axes[d].set_title(f"obs[{d}]", fontsize=8)
            axes[d].set_xlabel("step", fontsize=8)
        axes[0].legend(fontsize=7)
    fig.suptitle(f"IRIS on {env_name}: real steps and the open-loop dream along their actions",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def collect_episodes(learner, params, num_envs: int, steps: int, key) -> dict:
    """``steps`` steps of ``num_envs`` envs with the trained policy (sampling actions)."""
    import jax

    from jaxrl import envs

    venv = envs.stack(learner.env, learner.env_params, num_envs)

    @jax.jit
    def play(params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, learner.env_params)

        def step(carry, key):
            obs, state = carry
            k_act, k_env = jax.random.split(key)
            action = learner.act(params, obs, k_act, greedy=False)
            nxt, state, _, terminated, truncated, _ = venv.step(k_env, state, action,
                                                                learner.env_params)  # fmt: skip
            return (nxt, state), (obs, action, terminated | truncated)

        _, (obs, action, ended) = jax.lax.scan(step, (obs, state), jax.random.split(k_run, steps))
        swap = lambda x: jax.numpy.swapaxes(x, 0, 1)  # noqa: E731
        return {"obs": swap(obs), "action": swap(action), "ended": swap(ended)}

    return play(params, key)


def parse_overrides(text: str) -> dict:
    """``"tokens=8,codebook=64"`` -> ``{"tokens": 8, "codebook": 64}`` (ints or floats)."""
    out = {}
    for item in filter(None, text.split(",")):
        name, value = item.split("=")
        out[name] = float(value) if "." in value else int(value)
    return out


def finite(xs) -> list:
    """Rounded floats, ``None`` for NaN (a horizon no episode lasts; strict JSON)."""
    return [None if x != x else round(float(x), 5) for x in xs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="env steps per chunk")
    parser.add_argument("--envs", default="Catch-bsuite,CartPole-v1")
    parser.add_argument("--plot", default="", help="PREFIX: PREFIX_<env>.png, a dream")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the --plot figures if they exist"
    )
    parser.add_argument("--config", default="", help="config overrides NAME=VALUE,...")
    parser.add_argument("--key", type=int, default=0, help="base PRNG key of the runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.chunk, args.episodes = 2, 10_000, 5_000, 8
    configure_cpu(num_runs=args.seeds)
    from jaxrl.run.results import overwrite_refusal

    if message := overwrite_refusal(
        [f"{args.plot}_{e}.png" for e in args.envs.split(",") if args.plot],
        overwrite=args.overwrite,
    ):
        parser.error(message)

    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl import learner as contract
    from jaxrl.agents.world_models import iris
    from jaxrl.run import saved_policies
    from jaxrl.run.evaluate import make_evaluator
    from jaxrl.run.stats import bootstrap_ci, iqm

    rows = []
    for env_name in args.envs.split(","):
        env, env_params = envs.make(env_name)
        overrides = dict(CONFIGS[env_name], **parse_overrides(args.config))
        cfg = iris.IRISConfig(total_steps=args.steps, **overrides)
        learner = iris.make_learner(cfg, env, env_params)
        parts = iris.make_learner_parts(cfg, env, env_params)
        per_chunk = max(1, args.chunk // cfg.batch)
        total = learner.num_updates
        sizes = [per_chunk] * (total // per_chunk) + (
            [total % per_chunk] if total % per_chunk else []
        )

        t0 = time.perf_counter()
        keys = jax.random.split(jax.random.key(args.key), args.seeds)
        state = jax.jit(jax.vmap(lambda k, lr=learner: contract.init(lr, k)))(keys)
        compiled = {}
        for n in sorted(set(sizes)):
            fn = jax.jit(jax.vmap(lambda s, n=n, lr=learner: contract.run(lr, s, None, n)))
            compiled[n] = fn.lower(state).compile()
        compile_s = time.perf_counter() - t0
        evaluate = make_evaluator(learner, episodes=args.episodes, greedy=True)

        train_s, steps, curve = 0.0, 0, []
        for i, n in enumerate(sizes):
            t0 = time.perf_counter()
            state, _ = jax.block_until_ready(compiled[n](state))
            train_s += time.perf_counter() - t0
            steps += n * learner.steps_per_update
            per_seed = np.asarray(evaluate(saved_policies(learner, state), jax.random.key(i)))
            curve.append((steps, per_seed.mean(axis=-1) if per_seed.ndim > 1 else per_seed))
            print(f"{env_name} {steps:>7} env steps: {np.round(curve[-1][1], 2)} "
                  f"({train_s:.0f} s)", flush=True)  # fmt: skip

        threshold = THRESHOLDS[env_name]
        solved = np.zeros(args.seeds, bool)
        for _, r in curve:
            solved |= r >= threshold
        return_at = {}
        for mark in MARKS:
            at = [r for s, r in curve if s >= mark * 0.98]
            if at and mark <= steps * 1.02:
                lo, hi = bootstrap_ci(np.asarray(at[0])[:, None])
                value = iqm(np.asarray(at[0])[:, None])
                return_at[mark] = [round(value, 3), round(lo, 3), round(hi, 3)]

        saved = saved_policies(learner, state)
        horizons = list(range(1, 16))
        errors = []
        for s in range(args.seeds):
            one = jax.tree.map(lambda x, s=s: x[s], saved)
            ep = collect_episodes(learner, one, 16, 200, jax.random.key(100 + s))
            errors.append(open_loop_error(parts, one, ep, horizons))
            if args.plot and s == 0:
                real, dreamed = dream_example(parts, one, ep)
                plot_dream(real, dreamed, env_name, f"{args.plot}_{env_name}.png")
        with warnings.catch_warnings():  # horizons past every episode's end stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            model = np.nanmean([e["model"] for e in errors], axis=0)
            copy = np.nanmean([e["copy_last"] for e in errors], axis=0)
        counts = np.sum([e["count"] for e in errors], axis=0)
        updates = (cfg.model_steps + cfg.ac_steps) / cfg.batch
        row = {
            "env": env_name,
            "seeds": args.seeds,
            "env_steps": steps,
            "config": overrides,
            "return_at": return_at,
            "seeds_solved": int(solved.sum()),
            "final_returns": [round(float(x), 3) for x in curve[-1][1]],
            "train_wall_s": round(train_s, 1),
            "compile_s": round(compile_s, 1),
            "updates_per_env_step": round(updates, 4),
            "open_loop": {"horizon": horizons, "model": finite(model), "copy_last": finite(copy),
                          "count": [int(c) for c in counts],
                          "recon": round(float(np.mean([e["recon"] for e in errors])), 5)},
            "curve": [[s, [round(float(x), 3) for x in r]] for s, r in curve],
        }  # fmt: skip
        rows.append(row)
        print(f"\n{env_name}: {row['seeds_solved']}/{args.seeds} seeds >= {threshold}; "
              f"IQM [95% CI] at {return_at}; train {train_s:.0f} s, compile {compile_s:.0f} s, "
              f"{updates:.4f} updates per env step")  # fmt: skip
        print(f"{'h':>3} {'model':>9} {'copy_last':>9} {'starts':>7}")
        for h, m, c, k in zip(horizons, model, copy, counts, strict=True):
            print(f"{h:>3} {m:>9.5f} {c:>9.5f} {k:>7}")
        print(f"tokenizer reconstruction MSE: {row['open_loop']['recon']:.5f}", flush=True)
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
