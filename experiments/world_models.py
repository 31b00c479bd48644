"""World models against model-free and search learners, at the same env steps.

    python experiments/world_models.py [--quick] [--seeds 5] [--envs CartPole-v1,Catch-bsuite]
        [--methods dreamer,ppo,dqn,muzero] [--episodes 16] [--checkpoints 20000,50000,100000]
        [--png-dir docs] [--overwrite] [--set dreamer.train_every=2] [--key 0] [--json]

Three parts, for each env:

1. **Returns at checkpoints** (20k, 50k and 100k env steps; 5k and 10k with ``--quick``):
   every method in ``WORLD_MODELS + BASELINES`` trains ``--seeds`` runs in one compile, one
   update per call; at each checkpoint the greedy policy of every run is evaluated over
   ``--episodes`` episodes. Columns: IQM [95 % bootstrap CI] over runs, how many runs reach
   the env's threshold (CartPole 475, Catch 0.9), the train wall time of all runs together
   (compile apart) and gradient steps per env step.
2. **Open-loop prediction error** of each world model at horizons 1..15 against the
   copy-last-observation baseline: from every step ``t`` of sampled trajectories of the
   trained policy (seed 0's), the model sees ``x_t`` and the actions ``a_t..a_{t+k-1}``
   only and predicts ``x_{t+k}``; the error is the mean squared error over observation
   entries, over the windows that stay inside one episode (Catch's episodes last 9 steps, so
   its horizons stop there).
3. **A picture** of an imagined rollout beside the real one (PNG per world model and env,
   in ``--png-dir``: default ``docs``; with ``--quick``, a new temporary directory, so that
   a quick run never replaces the committed pictures; an existing picture is refused unless
   ``--overwrite``).

``--set METHOD.NAME=VALUE`` (repeatable) overrides one config field or hyperparameter of one
method on top of :func:`settings`; the runs of every method use the base PRNG key ``--key``.

A world model takes part in 2 and 3 if its module has ``open_loop_predictor(learner) ->
predict``, with

    predict(saved, obs [B, H + 1, D], actions [B, H, ...], key) -> [B, H, D]

``saved`` what ``learner.save`` yields for one run, ``obs`` real (flattened) observations of
which only ``obs[:, 0]`` may be read, ``actions`` the actions taken after each as
``learner.policy.act`` returned them (env units), and the result the predicted
``obs[:, 1:]`` in env units.

With ``--json`` the last line is ``{"rows": [...], "prediction": [...], "pictures": [...]}``.
"""

from __future__ import annotations

import argparse
import ast
import json
import tempfile
import time
from pathlib import Path

from jaxrl.run import configure_cpu

WORLD_MODELS = ("dreamer", "iris")  # agents with a world model: a name here adds one
BASELINES = ("ppo", "dqn", "muzero")
THRESHOLDS = {"Catch-bsuite": 0.9, "CartPole-v1": 475.0, "Acrobot-v1": -100.0,
              "Pendulum-v1": -250.0, "Breakout-MinAtar": 10.0}  # fmt: skip
HORIZON = 15


def settings(method: str, total: int) -> tuple[dict, dict]:
    """(config overrides, hparams overrides) of ``method`` for a run of ``total`` env steps.
    PPO's are those of ``experiments/muzero_vs_ppo.py``; the others are each learner's
    defaults."""
    if method == "ppo":
        return dict(total_steps=total, num_envs=16, num_steps=32), dict(lr=5e-3)
    return dict(total_steps=total), {}


def overrides(items: list[str]) -> dict[str, dict]:
    """``["dreamer.train_every=2", ...]`` as ``{"dreamer": {"train_every": 2}}``."""
    out: dict[str, dict] = {}
    for item in items:
        name, eq, value = item.partition("=")
        method, dot, field = name.partition(".")
        if not (eq and dot and method and field):
            raise SystemExit(f"--set {item!r}: expected METHOD.NAME=VALUE")
        try:
            out.setdefault(method, {})[field] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out.setdefault(method, {})[field] = value
    return out


def split_overrides(module, method: str, fields: dict) -> tuple[dict, dict]:
    """``fields`` as (config overrides, hparams overrides); an unknown name stops the run."""
    import dataclasses

    from jaxrl._errors import unknown_name

    config_names = {f.name for f in dataclasses.fields(module.CONFIG)}
    hparam_names = set(module.HPARAMS._fields)
    for name in fields:
        if name not in config_names | hparam_names:
            raise SystemExit(
                f"--set {method}.{name}: "
                + unknown_name(
                    "config field or hyperparameter", name, sorted(config_names | hparam_names)
                )
            )
    return ({k: v for k, v in fields.items() if k in config_names},
            {k: v for k, v in fields.items() if k not in config_names})  # fmt: skip


def grad_steps_per_env_step(cfg) -> float | None:
    """Gradient steps per env step from a config's usual fields (None if it has none)."""
    if hasattr(cfg, "update_epochs"):  # on-policy rollouts
        return cfg.update_epochs * cfg.num_minibatches / (cfg.num_envs * cfg.num_steps)
    if hasattr(cfg, "sgd_steps"):  # search learners
        return cfg.sgd_steps / (cfg.num_envs * cfg.num_steps)
    if hasattr(cfg, "gradient_steps") and hasattr(cfg, "train_every"):
        return cfg.gradient_steps / (cfg.num_envs * cfg.train_every)
    return None


def train_and_score(
    method, env_name, env, env_params, checkpoints, seeds, episodes, extra=None, key=0
):
    import jax
    import numpy as np

    from jaxrl import learner as contract
    from jaxrl.registry import algorithm
    from jaxrl.run import saved_policies, stats
    from jaxrl.run.evaluate import make_evaluator

    module = algorithm(method)
    cfg_kw, hp_kw = settings(method, checkpoints[-1])
    cfg_extra, hp_extra = split_overrides(module, method, extra or {})
    cfg_kw, hp_kw = {**cfg_kw, **cfg_extra}, {**hp_kw, **hp_extra}
    learner = module.make_learner(module.CONFIG(**cfg_kw), env, env_params)
    hp = contract.as_f32(module.HPARAMS(**hp_kw))
    spu = learner.steps_per_update
    marks = sorted({min(learner.num_updates, -(-c // spu)) for c in checkpoints})
    keys = jax.random.split(jax.random.key(key), seeds)

    t0 = time.perf_counter()
    state = jax.jit(jax.vmap(lambda k: contract.init(learner, k, hp)))(keys)
    one = jax.jit(jax.vmap(lambda s: contract.run(learner, s, hp, 1)[0]))
    one = one.lower(state).compile()
    compile_s = time.perf_counter() - t0
    evaluate = make_evaluator(learner, episodes=episodes, greedy=True)

    rows, done, train_s = [], 0, 0.0
    for mark in marks:
        t0 = time.perf_counter()
        for _ in range(mark - done):
            state = one(state)
        jax.block_until_ready(state)
        train_s += time.perf_counter() - t0
        done = mark
        scores = np.asarray(evaluate(saved_policies(learner, state), jax.random.key(mark)))
        lo, hi = stats.bootstrap_ci(scores)
        rows.append({
            "method": method, "env": env_name, "seeds": seeds, "env_steps": mark * spu,
            "iqm": round(stats.iqm(scores), 3), "ci95": [round(lo, 3), round(hi, 3)],
            "reached": int(np.sum(scores >= THRESHOLDS.get(env_name, np.inf))),
            "scores": [round(float(s), 3) for s in scores],
            "train_wall_s": round(train_s, 1), "compile_s": round(compile_s, 1),
            "grad_steps_per_env_step": grad_steps_per_env_step(learner.config),
            "overrides": extra or {}, "key": key,
        })  # fmt: skip
        r = rows[-1]
        print(f"{method:<8} {env_name:<14} {r['env_steps']:>7} steps  IQM {r['iqm']:>8.2f} "
              f"[{lo:8.2f}, {hi:8.2f}]  reached {r['reached']}/{seeds}  train {train_s:7.1f}s "
              f"compile {compile_s:5.1f}s", flush=True)  # fmt: skip
    return learner, module, state, rows


def trajectories(learner, saved, key, num_envs: int, length: int):
    """``length`` steps of the policy in ``num_envs`` envs: ``(obs [N, length + 1, D],
    actions [N, length, ...], done [N, length])``."""
    import jax
    import jax.numpy as jnp

    from jaxrl import envs
    from jaxrl.networks.recurrent import reset_where

    venv = envs.stack(learner.env, learner.env_params, num_envs)
    policy = learner.policy

    @jax.jit
    def run(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, learner.env_params)
        carry0 = policy.init_carry(num_envs)

        def body(loop, k):
            obs, state, carry = loop
            k_act, k_step = jax.random.split(k)
            action, carry = policy.act(saved, obs, k_act, carry, state, False)
            nxt, state, _, term, trunc, _ = venv.step(k_step, state, action, learner.env_params)
            done = term | trunc
            carry = reset_where(done, carry0, carry)
            return (nxt, state, carry), (obs, action, done)

        (last, _, _), (obs, action, done) = jax.lax.scan(
            body, (obs, state, carry0), jax.random.split(k_run, length)
        )
        obs = jnp.concatenate([obs, last[None]])
        return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (obs, action, done))

    return run(key)


def prediction_error(predict, saved, obs, actions, done, key):
    """MSE per horizon 1..H of ``predict`` and of copying the last observation, over the
    windows that stay inside one episode: ``(model [H], copy [H], windows [H])``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    N, L = actions.shape[:2]
    starts = np.arange(L - HORIZON + 1)
    idx = starts[:, None] + np.arange(HORIZON + 1)[None]  # [S, H + 1]
    w_obs = obs[:, idx].reshape((-1, HORIZON + 1) + obs.shape[2:])
    w_act = actions[:, idx[:, :-1]].reshape((-1, HORIZON) + actions.shape[2:])
    w_done = done[:, idx[:, :-1]].reshape((-1, HORIZON))
    # x_{t+k} is in x_t's episode if no step t..t+k-1 ended one.
    valid = np.cumsum(np.asarray(w_done), axis=1) == 0  # [W, H]
    pred = jax.jit(predict)(saved, w_obs, w_act, key)
    err_model = np.asarray(jnp.mean((pred - w_obs[:, 1:]) ** 2, axis=-1))
    err_copy = np.asarray(jnp.mean((w_obs[:, :1] - w_obs[:, 1:]) ** 2, axis=-1))
    count = valid.sum(0)

    def avg(err):
        return np.where(count > 0, (err * valid).sum(0) / np.maximum(count, 1), np.nan)

    return avg(err_model), avg(err_copy), count


def picture(path, env_name, obs_shape, real, imagined):
    """Real (top) and imagined (bottom) observations of one window: frames for images,
    one panel per observation entry for vectors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    H = real.shape[0]
    if len(obs_shape) >= 2:
        fig, axes = plt.subplots(2, H, figsize=(1.1 * H, 3.0))
        for k in range(H):
            for row, frames in enumerate((real, imagined)):
                img = np.asarray(frames[k]).reshape(obs_shape)
                img = img if img.ndim == 2 else img.max(axis=-1)
                axes[row, k].imshow(img, cmap="viridis", vmin=0.0, vmax=1.0)
                axes[row, k].set_xticks([])
                axes[row, k].set_yticks([])
            axes[0, k].set_title(f"t+{k + 1}", fontsize=7)
        axes[0, 0].set_ylabel("real")
        axes[1, 0].set_ylabel("imagined")
    else:
        D = real.shape[1]
        fig, axes = plt.subplots(1, D, figsize=(3.0 * D, 2.6), squeeze=False)
        for d in range(D):
            ax = axes[0, d]
            ax.plot(np.arange(1, H + 1), real[:, d], "k-", label="real")
            ax.plot(np.arange(1, H + 1), imagined[:, d], "C1--", label="imagined")
            ax.set_title(f"observation[{d}]", fontsize=8)
            ax.set_xlabel("steps ahead")
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{env_name}: real vs imagined from the first observation and the actions")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--envs", default="CartPole-v1,Catch-bsuite")
    parser.add_argument("--methods", default=",".join(WORLD_MODELS + BASELINES))
    parser.add_argument("--png-dir", default="", help="pictures' directory (see above)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the pictures in --png-dir if they exist"
    )
    parser.add_argument(
        "--checkpoints",
        default="",
        help="env steps to evaluate at, comma-separated (default 20k,50k,100k)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="METHOD.NAME=VALUE",
        help="override one config field or hyperparameter of one method",
    )
    parser.add_argument("--key", type=int, default=0, help="base PRNG key of every method's runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extra = overrides(args.set)
    unknown = sorted(set(extra) - set(args.methods.split(",")))
    if unknown:
        raise SystemExit(f"--set names methods not in --methods: {', '.join(unknown)}")
    configure_cpu(num_runs=args.seeds)
    if not args.png_dir:
        args.png_dir = tempfile.mkdtemp(prefix="jaxrl_world_models_") if args.quick else "docs"

    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.registry import algorithm
    from jaxrl.run import saved_policies

    for method, fields in extra.items():  # every override checked before any training
        split_overrides(algorithm(method), method, fields)
    from jaxrl.run.results import overwrite_refusal

    if message := overwrite_refusal(
        [
            Path(args.png_dir) / f"world_models_{method}_{env_name}.png"
            for env_name in args.envs.split(",")
            for method in args.methods.split(",")
            if hasattr(algorithm(method), "open_loop_predictor")
        ],
        overwrite=args.overwrite,
    ):
        parser.error(message)

    checkpoints = (5_000, 10_000) if args.quick else (20_000, 50_000, 100_000)
    if args.checkpoints:
        checkpoints = tuple(sorted(int(c) for c in args.checkpoints.split(",")))
    rows, prediction, pictures = [], [], []
    for env_name in args.envs.split(","):
        env, env_params = envs.make(env_name)
        obs_shape = tuple(env.observation_space(env_params).shape)
        for method in args.methods.split(","):
            learner, module, state, method_rows = train_and_score(
                method,
                env_name,
                env,
                env_params,
                checkpoints,
                args.seeds,
                args.episodes,
                extra.get(method),
                args.key,
            )
            rows += method_rows
            if not hasattr(module, "open_loop_predictor"):
                continue
            predict = module.open_loop_predictor(learner)
            saved = jax.tree.map(lambda x: x[0], saved_policies(learner, state))
            obs, actions, done = trajectories(learner, saved, jax.random.key(1), 16, 200)
            model, copy, count = prediction_error(predict, saved, obs, actions, done,
                                                  jax.random.key(2))  # fmt: skip
            better = [bool(m < c) for m, c in zip(model, copy, strict=True) if np.isfinite(m)]
            prediction.append({
                "method": method, "env": env_name, "env_steps": method_rows[-1]["env_steps"],
                "mse_model": [None if not np.isfinite(m) else float(f"{m:.4g}") for m in model],
                "mse_copy_last": [None if not np.isfinite(c) else float(f"{c:.4g}")
                                  for c in copy],
                "windows": count.tolist(), "better_at_every_horizon": all(better),
            })  # fmt: skip
            print(f"open-loop MSE {method} {env_name} (horizon: model / copy-last):")
            for k in range(HORIZON):
                if count[k]:
                    print(f"  {k + 1:>2}: {model[k]:10.4g} / {copy[k]:10.4g}  ({count[k]} windows)")
            # the picture: the first window of env 0 that stays in one episode longest
            n_valid = int(min(HORIZON, np.argmax(np.append(np.asarray(done[0]), True))))
            n_valid = max(n_valid, 1)
            pred = jax.jit(predict)(saved, obs[:1, : HORIZON + 1], actions[:1, :HORIZON],
                                    jax.random.key(3))  # fmt: skip
            path = Path(args.png_dir) / f"world_models_{method}_{env_name}.png"
            picture(path, env_name, obs_shape, np.asarray(obs[0, 1 : n_valid + 1]),
                    np.asarray(pred[0, :n_valid]))  # fmt: skip
            pictures.append(str(path))
            print(f"picture: {path}", flush=True)
    if args.json:
        print(json.dumps({"rows": rows, "prediction": prediction, "pictures": pictures}))


if __name__ == "__main__":
    main()
