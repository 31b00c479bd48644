"""Recurrent PPO on CartPole-v1 at PureJaxRL's ppo_rnn settings: compile time, throughput.

    python experiments/bench_ppo_rnn.py --seeds 16 [--total-steps 500000] [--breakdown] [--json]

Settings (PureJaxRL's ``ppo_rnn.py`` defaults): 4 envs x 128 steps, 4 epochs x 4 minibatches
(one env's 128-step sequence each), Adam 2.5e-4 (eps 1e-5) annealed linearly to 0, gamma
0.99, lambda 0.95, clip 0.2 (value clipped too), entropy 0.01, value 0.5, grad-norm 0.5; a
128 relu encoder, a 128-unit GRU, 128 relu actor and critic heads. Compile and run are timed
apart (one untimed execution warms up first). ``--breakdown`` also times the parts of an
update compiled on their own (1 seed). With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from jaxrl.run import configure_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--core", default="gru", help="gru or lstm")
    parser.add_argument("--breakdown", action="store_true", help="time the parts, 1 seed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_runs=args.seeds)

    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.memory import ppo_rnn
    from jaxrl.run import run_seeds

    env, params = envs.make(args.env)
    cfg = ppo_rnn.PPORNNConfig(total_steps=args.total_steps, core=args.core)
    learner = ppo_rnn.make_learner(cfg, env, params)
    res = run_seeds(learner, args.seeds, ppo_rnn.PPORNNHParams(), warmup=True)
    final = res.output.metrics["episode_return"][:, -1]
    steps = cfg.num_updates * cfg.batch_size
    row = {
        "impl": "jaxrl-ppo-rnn",
        "env": args.env,
        "core": args.core,
        "seeds": args.seeds,
        "steps": steps,
        "compile_s": round(res.compile_s, 3),
        "run_s": round(res.run_s, 3),
        "sps": round(args.seeds * steps / res.run_s),
        "final_return_mean": float(np.mean(final)),
        "frac_solved": float(np.mean(final >= 475)) if args.env == "CartPole-v1" else None,
        "devices": min(args.seeds, len(jax.devices())),
        "diverged": int(res.diverged.sum()),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if args.breakdown:
        row.update(breakdown(cfg, env, params))
    width = max(len(k) for k in row)
    for k, v in row.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        print(json.dumps(row))


def breakdown(cfg, env, env_params) -> dict:
    """Microseconds per update of one seed for each part, compiled and timed on its own over
    ``num_updates`` updates: the rollout; the rollout and its advantages; the SGD epochs alone
    (on one fixed rollout). Then, per minibatch (one gradient of the first minibatch of
    sequences, repeated ``num_updates`` times): the loss's gradient, and the gradient of the
    recurrent core's unroll alone (its time loop forward and backward)."""
    import jax
    import jax.numpy as jnp

    from jaxrl import envs
    from jaxrl.agents.memory import ppo_rnn
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.networks.recurrent import unroll

    learner = ppo_rnn.make_learner(cfg, env, env_params)
    hp = jax.tree.map(jnp.float32, ppo_rnn.PPORNNHParams())
    state = learner.init(jax.random.key(0), hp, env_params, None)
    venv = envs.stack(env, env_params, cfg.num_envs)
    spec = envs.action_spec(env, env_params)
    net = ppo_rnn.RecurrentActorCritic(ppo_rnn.Core(cfg.core, cfg.core_size), spec.discrete,
                                       cfg.activation)  # fmt: skip
    tx = ppo.make_optimizer(cfg, hp)
    keys = jax.random.split(jax.random.key(1), cfg.num_updates)

    def timed(fn, *args):
        compiled = jax.jit(fn).lower(*args).compile()
        jax.block_until_ready(compiled(*args))
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            best = min(best, time.perf_counter() - t)
        return round(best / cfg.num_updates * 1e6, 1)

    def rollouts(with_advantages):
        def body(state, key):
            (env_state, obs, carry, done), traj = ppo_rnn.collect_rollout(
                net, venv, state.params, state, key, cfg.num_steps, env_params
            )
            out = traj.value.sum()
            if with_advantages:
                out += ppo_rnn.advantages(net, state.params, traj, hp)[0].sum()
            state = state.replace(env_state=env_state, obs=obs, carry=carry, done=done)
            return state, out

        return lambda s, k: jax.lax.scan(body, s, k)[1]

    (_, traj) = ppo_rnn.collect_rollout(net, venv, state.params, state, keys[0], cfg.num_steps,
                                        env_params)  # fmt: skip
    adv, target = ppo_rnn.advantages(net, state.params, traj, hp)
    seqs = ppo_rnn.Sequences(state.carry, traj.reset,
                             ppo.Batch(traj.obs, traj.action, traj.log_prob, traj.value, adv,
                                       target))  # fmt: skip
    perms = jax.vmap(lambda k: jax.random.permutation(k, cfg.num_envs))(
        jax.random.split(keys[1], cfg.update_epochs)
    )

    def sgd(params, opt_state):
        def body(carry, _):
            params, opt_state, _ = ppo_rnn.sgd_epochs(net, cfg, tx, *carry, seqs, perms, hp)
            return (params, opt_state), None

        return jax.lax.scan(body, (params, opt_state), None, cfg.num_updates)[0]

    mb = jax.tree.map(lambda x: x[0], ppo_rnn.minibatches(cfg, seqs, perms))
    loss = lambda p: ppo_rnn.ppo_rnn_loss(net, cfg, p, mb, hp)[0]  # noqa: E731
    x_proj = net.project(state.params, mb.batch.obs)

    def unrolled(core_params):
        return unroll(net.core, core_params, mb.carry0, x_proj, mb.reset)[1].sum()

    def repeated(grad_fn):
        def run(params):
            # each repetition moves the parameters a little, so none is hoisted out of the loop
            def body(p, i):
                g = grad_fn(jax.tree.map(lambda x: x + 1e-9 * i, p))
                return p, sum(jnp.sum(x) for x in jax.tree.leaves(g))

            return jax.lax.scan(body, params, jnp.arange(cfg.num_updates, dtype=jnp.float32))[1]

        return run

    return {
        "us_rollout": timed(rollouts(False), state, keys),
        "us_rollout_advantages": timed(rollouts(True), state, keys),
        "us_sgd_epochs": timed(sgd, state.params, state.opt_state),
        "us_minibatch_grad": timed(repeated(jax.grad(loss)), state.params),
        "us_minibatch_core_unroll_grad": timed(
            repeated(jax.grad(unrolled)), state.params["core"]
        ),  # fmt: skip
    }


if __name__ == "__main__":
    main()
