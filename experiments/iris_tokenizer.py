"""IRIS's tokenizer alone on CartPole observations: how its reconstruction error depends on
Adam steps, codebook size, tokens per observation and input scaling.

    python experiments/iris_tokenizer.py [--steps 4000] [--long 16000] [--json]

Observations: 500 steps of 64 CartPole-v1 envs under uniformly random actions (32,000).
Each variant trains the tokenizer of :mod:`jaxrl.agents.world_models.iris` (encoder,
codebook, decoder; its loss, :func:`iris.tokenizer_loss`, commitment 0.25) alone with Adam
(1e-3) on batches of 128 observations, then reports the reconstruction MSE over all the
observations in env units, per entry, and the number of codebook entries in use.
``normalised`` divides each entry by its standard deviation before the tokenizer and scales
the reconstruction back. With ``--json`` the last line is ``{"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from jaxrl.run import configure_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--long", type=int, default=16000, help="Adam steps of the long run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_runs=1)

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from jaxrl import envs
    from jaxrl.agents.world_models import iris

    env, env_params = envs.make("CartPole-v1")
    venv = envs.stack(env, env_params, 64)

    @jax.jit
    def collect(key):
        obs, state = venv.reset(key, env_params)

        def body(carry, k):
            obs, state = carry
            action = jax.random.randint(k, (64,), 0, 2)
            nxt, state, *_ = venv.step(k, state, action, env_params)
            return (nxt, state), obs

        _, seen = jax.lax.scan(body, (obs, state), jax.random.split(key, 500))
        return seen.reshape(-1, seen.shape[-1])

    data = collect(jax.random.key(0))
    scale = jnp.std(data, axis=0)

    def run(name, steps, scaled=False, **overrides):
        cfg = dataclasses.replace(iris.IRISConfig(), **overrides)
        parts = iris.make_parts(cfg, data.shape[-1], 2)
        x = data / scale if scaled else data
        params = parts.init(jax.random.key(1))
        tok = {k: params[k] for k in ("encoder", "decoder", "codebook")}
        tx = optax.adam(1e-3)

        def step(carry, key):
            tok, opt = carry
            batch = x[jax.random.randint(key, (128,), 0, x.shape[0])]
            grads = jax.grad(lambda p: iris.tokenizer_loss(parts, p, batch, 0.25)[0])(tok)
            updates, opt = tx.update(grads, opt, tok)
            return (optax.apply_updates(tok, updates), opt), None

        t0 = time.perf_counter()
        keys = jax.random.split(jax.random.key(2), steps)
        tok = jax.jit(lambda tok: jax.lax.scan(step, (tok, tx.init(tok)), keys)[0][0])(tok)
        tokens = parts.tokenize(tok, x)
        recon = parts.decode(tok, tokens) * (scale if scaled else 1.0)
        per_entry = np.asarray(jnp.mean((recon - data) ** 2, axis=0))
        row = {"variant": name, "adam_steps": steps, "mse": round(float(per_entry.mean()), 5),
               "mse_per_entry": [round(float(e), 5) for e in per_entry],
               "codes_used": int(np.unique(np.asarray(tokens)).size),
               "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
        print(
            f"{name:<12} {steps:>6} steps  MSE {row['mse']:.5f}  per entry "
            f"{row['mse_per_entry']}  codes used {row['codes_used']}",
            flush=True,
        )
        return row

    rows = [
        run("defaults", args.steps),
        run("defaults", args.long),
        run("embed_dim=4", args.steps, embed_dim=4),
        run("codebook=128", args.steps, codebook=128),
        run("tokens=8", args.steps, tokens=8),
        run("normalised", args.steps, scaled=True),
    ]
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
