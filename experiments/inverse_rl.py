"""Inverse RL and reward misspecification: what a learned reward is worth.

    python experiments/inverse_rl.py [--quick] [--parts tabular,deep,transfer,misspec]
                                     [--seeds 5] [--out DIR] [--json] [--worlds 8]
                                     [--maxent l2=0.01,lr_end=0.01] [--maxent-steps 2000]

Parts (each prints a table; ``--json`` ends with one line ``{"tabular": [...], ...}``):

* ``tabular``: maximum-entropy IRL (:mod:`jaxrl.agents.inverse.maxent`) on random 10 x 10
  objectworlds (Levine et al. 2011; 30 % wind, 8 objects, 2 colours, 40 features), horizon
  20, from ``n`` demonstrations of a near-optimal expert (the soft-optimal policy of the
  true reward x 10). Expected value difference (the true value lost by acting optimally for
  the learned reward, Levine et al.) relative to the optimal value, for every ``n`` and for
  the expert's exact feature counts (``exact``: no sampling noise), with the final gradient
  norm and |theta|; all worlds and counts in one vmapped compile. ``linear``: a true reward
  linear in the features; ``levine``: the paper's reward, which is not.
* ``deep``: GAIL and AIRL (on PPO) against an expert trained by jaxrl (PPO on CartPole-v1,
  SAC on Pendulum-v1), from ``n`` of its greedy episodes; the imitators' greedy return over
  32 episodes, and as a fraction of the way from the random policy's return to the
  expert's (measured on the same episodes): ``score = (R - R_random) / (R_expert -
  R_random)``; ``>= 0.9``: seeds at 90 % or more.
* ``transfer``: new dynamics (CartPole's pole twice as long; Pendulum's mass 1.5 x): the
  imitation policies moved as they are, against PPO re-trained from scratch on each run's
  learned reward under the new dynamics (AIRL's g(s), GAIL's -log(1 - D)), the expert
  moved as it is, and PPO on the true reward (the ceiling).
* ``misspec``: the boat race (``BoatRace-v0``): PPO on the env's reward, against PPO on a
  reward learned by maximum-entropy IRL from 10 finishing demonstrations, and GAIL and AIRL
  from the same demonstrations; how often each finishes, how often it collects the bonus.
(GAIL's time per update against FLAIR's ``jaxirl``: ``experiments/bench_irl.py``.)

CIs are 95 % percentile bootstraps over seeds. Compile and run are timed apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from jaxrl.run import configure_cpu

EVAL_EPISODES = 32

# PPO and discriminator settings per env (the hparams' defaults otherwise: entropy bonus 0.01,
# gradient penalty 1): (config overrides, hparams overrides, total steps).
DEEP = {
    "CartPole-v1": (dict(num_envs=16, num_steps=64, num_minibatches=8), dict(lr=2.5e-3), 200_000),
    "Pendulum-v1": (
        dict(num_envs=16, num_steps=64, update_epochs=8, num_minibatches=8, normalize_obs=True,
             state_only=True),
        dict(lr=1e-3, gamma=0.95),
        1_000_000,
    ),
    "playground/CartpoleBalance": (
        dict(num_envs=32, num_steps=64, normalize_obs=True, state_only=True),
        dict(lr=1e-3),
        1_000_000,
    ),
}  # fmt: skip
# per (algorithm, env) config and hparams overrides on top of DEEP's
ALGO_CONFIG = {("airl", "CartPole-v1"): dict(entropy_reward=True)}
ALGO_HPARAMS = {("airl", "Pendulum-v1"): dict(ent_coef=0.05)}
TRANSFER = {"CartPole-v1": {"length": 1.0}, "Pendulum-v1": {"m": 1.5}}


def _ci(x) -> tuple[float, float]:
    from jaxrl.run import stats

    return stats.bootstrap_ci(x, statistic=stats.mean)


def _timed(fn, *args):
    """``(compile_s, run_s, out)`` of ``jax.jit(fn)(*args)``, the run after a warm-up."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - t0, out


# ---- tabular --------------------------------------------------------------------------------


def tabular_rows(quick: bool, worlds: int, steps: int = 2000, hparams=None,
                 env_start: bool = False) -> list[dict]:  # fmt: skip
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl.agents.inverse import maxent
    from jaxrl.envs import tabular

    horizon = 20
    hparams = maxent.MaxEntHParams() if hparams is None else hparams
    # 0: the expert's exact feature counts (its visitation frequencies), no sampling noise
    counts = [1, 10, 100, 200, 0] if quick else [1, 2, 5, 10, 20, 50, 100, 200, 500, 0]
    n_max = max(counts)
    rows = []
    for reward in ("linear", "levine"):

        def one(key, n, reward=reward):
            k_w, k_d = jax.random.split(key)
            mdp = tabular.objectworld(k_w, size=10, num_objects=8, reward=reward)
            log_pi, _ = maxent.soft_value_iteration(mdp.transitions, 10.0 * mdp.reward, horizon)
            states, _ = tabular.sample_trajectories(k_d, mdp.transitions, mdp.initial,
                                                    jnp.exp(log_pi), n_max)  # fmt: skip
            weights = (jnp.arange(n_max) < n) / jnp.maximum(n, 1)
            sampled = maxent.feature_counts(mdp.features, states, weights)
            d = maxent.state_visitation(mdp.transitions, mdp.initial, jnp.exp(log_pi))
            mu = jnp.where(n > 0, sampled, d.sum(axis=0) @ mdp.features)
            # the forward pass starts where the demonstrations started (the env's start
            # distribution for exact counts); --env-start measures the other choice
            demo_start = maxent.start_distribution(states, weights, mdp.num_states)
            start = jnp.where((n > 0) & (not env_start), demo_start, mdp.initial)
            theta, norms = maxent.maxent_irl(mdp.transitions, mdp.features, start, mu,
                                             horizon, steps, hparams)  # fmt: skip
            evd = maxent.expected_value_difference(mdp.transitions, mdp.initial, mdp.reward,
                                                   mdp.features @ theta, horizon)  # fmt: skip
            return evd, norms[-1], jnp.linalg.norm(theta)

        keys = jax.random.split(jax.random.key(0), worlds)
        fn = jax.vmap(jax.vmap(one, (None, 0)), (0, None))
        compile_s, run_s, (evd, grad_end, theta_norm) = _timed(fn, keys, jnp.asarray(counts))
        rel = np.asarray(evd.difference) / np.asarray(evd.optimal)  # [worlds, counts]
        for j, n in enumerate(counts):
            lo, hi = _ci(rel[:, j])
            rows.append(
                {
                    "reward": reward,
                    "demos": n if n else "exact",
                    "evd_rel_mean": float(rel[:, j].mean()),
                    "evd_rel_ci": [lo, hi],
                    "evd_rel_max": float(rel[:, j].max()),
                    "optimal_value_mean": float(np.mean(evd.optimal[:, j])),
                    "grad_norm_end_mean": float(np.mean(grad_end[:, j])),
                    "theta_norm_mean": float(np.mean(theta_norm[:, j])),
                    "steps": steps,
                    "start": "env's" if env_start else "demonstrations'",
                    "hparams": hparams._asdict(),
                    "worlds": worlds,
                    "compile_s": compile_s,
                    "run_s": run_s,
                    "us_per_gradient_step": 1e6 * run_s / (worlds * len(counts) * steps),
                }
            )
    hp = ", ".join(f"{k}={v:g}" for k, v in hparams._asdict().items())
    print(
        f"\nmax-ent IRL, 10x10 objectworld, horizon {horizon}, {worlds} worlds, {steps} Adam "
        f"steps ({hp}); forward pass from the {rows[0]['start']} start states; "
        f"compile {rows[0]['compile_s']:.1f} s, run {rows[0]['run_s']:.1f} s"
    )
    print(f"  {'reward':<7} {'demos':>5} {'EVD / V* mean [95% CI]':>30} {'max':>8} {'V*':>7} "
          f"{'|grad| end':>10} {'|theta|':>8}")  # fmt: skip
    for r in rows:
        lo, hi = r["evd_rel_ci"]
        print(f"  {r['reward']:<7} {r['demos']:>5} {100 * r['evd_rel_mean']:>11.2f} % "
              f"[{100 * lo:.2f}, {100 * hi:.2f}] {100 * r['evd_rel_max']:>7.2f}% "
              f"{r['optimal_value_mean']:>7.2f} {r['grad_norm_end_mean']:>10.4f} "
              f"{r['theta_norm_mean']:>8.1f}")  # fmt: skip
    return rows


# ---- experts and demonstrations -------------------------------------------------------------


def make_expert(env_name: str, out: Path, quick: bool) -> dict:
    """Trains an expert with jaxrl (4 seeds), keeps the best seed by greedy return and writes
    20 of its greedy episodes to ``out / <env>.npz``."""
    import jax
    import numpy as np

    from jaxrl import demos as jdemos
    from jaxrl import envs
    from jaxrl.agents.offpolicy import sac
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.run import evaluate_params, run_seeds, saved_policies

    env, p = envs.make(env_name)
    if env_name == "CartPole-v1":
        cfg = ppo.PPOConfig(total_steps=200_000, num_envs=16, num_steps=32, num_minibatches=8)
        learner, hp = ppo.make_learner(cfg, env, p), ppo.PPOHParams(lr=2.5e-3)
    elif env_name.startswith("playground/"):
        cfg = ppo.PPOConfig(total_steps=1_000_000, num_envs=32, num_steps=64, normalize_obs=True)
        learner, hp = ppo.make_learner(cfg, env, p), ppo.PPOHParams(lr=1e-3, ent_coef=0.0)
    else:
        cfg = sac.SACConfig(total_steps=20_000, hidden=(64, 64))
        learner, hp = sac.make_learner(cfg, env, p), sac.SACHParams()
    res = run_seeds(learner, 4, hp)
    policies = saved_policies(learner, res.output.state)
    scores = evaluate_params(learner, policies, episodes=EVAL_EPISODES, greedy=True, seed=99)
    best = int(np.argmax(scores))
    one = jax.tree.map(lambda x: x[best], policies)
    steps = int(p.max_steps_in_episode)
    rec = jax.jit(lambda k: jdemos.record(learner.policy, one, env, p, k, 20, steps))
    flat, returns = jdemos.flatten(*rec(jax.random.key(7)))
    path = out / f"{env_name}.npz"
    jdemos.save(path, flat, returns, env_name)
    return {"env": env_name, "learner": learner, "params": jax.tree.map(lambda x: x[None], one),
            "path": path, "demo_return": float(np.mean(returns)), "train_s": res.run_s}  # fmt: skip


# ---- deep imitation -------------------------------------------------------------------------


def train_imitators(kind: str, env_name: str, demos: Path, n: int, seeds: int, quick: bool):
    """GAIL or AIRL on ``env_name`` from the first ``n`` demonstrations: ``(learner,
    policies, compile_s, run_s)``."""
    import numpy as np

    from jaxrl import envs
    from jaxrl.registry import algorithm
    from jaxrl.run import run_seeds, saved_policies

    module = algorithm(kind)
    env, p = envs.make(env_name)
    cfg_over, hp_over, total = DEEP[env_name]
    total = total // 2 if quick else total
    cfg_over = {**cfg_over, **ALGO_CONFIG.get((kind, env_name), {})}
    cfg = module.CONFIG(demos=str(demos), num_demos=n, total_steps=total, **cfg_over)
    learner = module.make_learner(cfg, env, p)
    hp_over = {**hp_over, **ALGO_HPARAMS.get((kind, env_name), {})}
    res = run_seeds(learner, seeds, module.HPARAMS(**hp_over))
    assert not np.any(res.diverged), f"{kind} on {env_name}: runs diverged"
    return learner, saved_policies(learner, res.output.state), res.compile_s, res.run_s


def deep_rows(env_names, counts, seeds: int, out: Path, quick: bool, keep: dict) -> list[dict]:
    from jaxrl import envs
    from jaxrl.run import evaluate_params
    from jaxrl.run.baseline import random_policy_return

    rows = []
    for env_name in env_names:
        expert = make_expert(env_name, out, quick)
        keep[env_name] = {"expert": expert}
        env, p = envs.make(env_name)
        r_expert = float(
            evaluate_params(
                expert["learner"], expert["params"], episodes=EVAL_EPISODES, greedy=True, seed=1
            )[0]
        )
        r_random = float(random_policy_return(env, p))
        for kind in ("gail", "airl"):
            for n in counts:
                learner, policies, compile_s, run_s = train_imitators(
                    kind, env_name, expert["path"], n, seeds, quick
                )
                ret = evaluate_params(learner, policies, episodes=EVAL_EPISODES, greedy=True,
                                      seed=1)  # fmt: skip
                score = (ret - r_random) / (r_expert - r_random)
                lo, hi = _ci(ret)
                rows.append({"env": env_name, "algo": kind, "demos": n, "seeds": seeds,
                             "return_mean": float(ret.mean()), "return_ci": [lo, hi],
                             "returns": ret.tolist(), "expert_return": r_expert,
                             "random_return": r_random, "score_mean": float(score.mean()),
                             "seeds_at_90pct": int((score >= 0.9).sum()),
                             "env_steps": learner.total_steps, "compile_s": compile_s,
                             "run_s": run_s})  # fmt: skip
                if n == max(counts):
                    keep[env_name][kind] = (learner, policies)
    print("\nimitation: greedy return over 32 episodes, score = (R - random) / (expert - random)")
    print(f"  {'env':<12} {'algo':<5} {'demos':>5} {'return [95% CI]':>28} {'expert':>8} "
          f"{'score':>6} {'>=0.9':>6} {'steps':>9} {'run s':>7}")  # fmt: skip
    for r in rows:
        lo, hi = r["return_ci"]
        print(
            f"  {r['env']:<12} {r['algo']:<5} {r['demos']:>5} {r['return_mean']:>9.1f} "
            f"[{lo:8.1f}, {hi:8.1f}] {r['expert_return']:>8.1f} {r['score_mean']:>6.3f} "
            f"{r['seeds_at_90pct']:>3}/{r['seeds']:<2} {r['env_steps']:>9} {r['run_s']:>7.1f}"
        )
    return rows


# ---- transfer -------------------------------------------------------------------------------


def reoptimise(env_name: str, reward_fn, reward_params, new_params, seeds: int, quick: bool):
    """PPO from scratch on ``reward_fn`` (one parameter set per run) under ``new_params``;
    the runs' greedy returns under the true reward."""
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.envs.reward import RewardParams, with_reward
    from jaxrl.learner import make_train
    from jaxrl.run import evaluate_params, saved_policies

    env, p = envs.make(env_name)
    cfg_over, hp_over, total = DEEP[env_name]
    total = total // 2 if quick else total
    fields = {f.name for f in dataclasses.fields(ppo.PPOConfig)}
    cfg = ppo.PPOConfig(total_steps=total, **{k: v for k, v in cfg_over.items() if k in fields})
    hp = ppo.PPOHParams(**{k: v for k, v in hp_over.items() if k in ppo.PPOHParams._fields})
    keys = jax.random.split(jax.random.key(11), seeds)
    if reward_fn is None:  # the true reward
        learner = ppo.make_learner(cfg, env, new_params)
        train = make_train(learner)
        run = jax.vmap(lambda k, theta: train(k, hp).state)
        reward_params = keys  # a placeholder with a run axis
    else:  # each run on its own learned reward: theta rides in the env params
        renv = with_reward(env, reward_fn)
        first = jax.tree.map(lambda x: x[0], reward_params)
        learner = ppo.make_learner(cfg, renv, RewardParams(new_params, first))
        train = make_train(learner)
        run = jax.vmap(lambda k, theta: train(k, hp, RewardParams(new_params, theta)).state)
    compile_s, run_s, state = _timed(run, keys, reward_params)
    policies = saved_policies(learner, state)
    plain = ppo.make_learner(cfg, env, new_params)
    ret = evaluate_params(plain, policies, episodes=EVAL_EPISODES, greedy=True, seed=2,
                          env_params=new_params)  # fmt: skip
    return np.asarray(ret), compile_s, run_s


def transfer_rows(keep: dict, seeds: int, quick: bool) -> list[dict]:
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.agents.inverse import airl, gail
    from jaxrl.run import evaluate_params

    rows = []
    for env_name, trained in keep.items():
        if "gail" not in trained:
            continue
        env, p = envs.make(env_name)
        new = envs.set_params(p, **TRANSFER[env_name])
        change = ",".join(f"{k}={v}" for k, v in TRANSFER[env_name].items())

        def add(method, ret, compile_s=0.0, run_s=0.0, env_name=env_name, change=change):
            lo, hi = _ci(ret)
            rows.append({"env": env_name, "change": change, "method": method,
                         "return_mean": float(np.mean(ret)), "return_ci": [lo, hi],
                         "returns": np.asarray(ret).tolist(), "compile_s": compile_s,
                         "run_s": run_s})  # fmt: skip

        expert = trained["expert"]
        add("expert policy, moved", evaluate_params(expert["learner"], expert["params"],
                                                    episodes=EVAL_EPISODES, greedy=True,
                                                    seed=2, env_params=new))  # fmt: skip
        for kind, module in (("gail", gail), ("airl", airl)):
            learner, policies = trained[kind]
            add(f"{kind} policy, moved", evaluate_params(learner, policies,
                                                          episodes=EVAL_EPISODES, greedy=True,
                                                          seed=2, env_params=new))  # fmt: skip
            gamma = DEEP[env_name][1].get("gamma", 0.99)
            reward = module.learned_reward(learner, gamma)
            saved = jax.tree.map(jax.numpy.asarray, policies)
            add(
                f"ppo on {kind} reward, new dynamics",
                *reoptimise(env_name, reward, saved, new, seeds, quick),
            )
        add("ppo on true reward, new dynamics", *reoptimise(env_name, None, None, new, seeds,
                                                            quick))  # fmt: skip
    print("\nreward transfer: greedy return under the new dynamics (true reward), mean [95% CI]")
    for r in rows:
        lo, hi = r["return_ci"]
        print(f"  {r['env']:<12} {r['change']:<11} {r['method']:<36} {r['return_mean']:>9.1f} "
              f"[{lo:8.1f}, {hi:8.1f}]")  # fmt: skip
    return rows


# ---- misspecification -----------------------------------------------------------------------


def boat_stats(learner, policies):
    """Per run, over 16 greedy episodes: finished fraction, mean steps to finish (40 when not),
    bonus collections per episode, env return."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import demos as jdemos
    from jaxrl import envs
    from jaxrl.envs import boat_race

    env, p = envs.make("BoatRace-v0")

    def one(params):
        steps, _, returns, _ = jdemos.record(learner.policy, params, env, p,
                                             jax.random.key(3), 16, 40)  # fmt: skip
        cells = boat_race.cell_of(steps.next_obs)  # [E, T]
        at_finish = cells == boat_race.FINISH
        finished = at_finish.any(axis=1)
        first = jnp.where(finished, jnp.argmax(at_finish, axis=1) + 1, 40)
        before = jnp.concatenate([jnp.full((16, 1), boat_race.START), cells[:, :-1]], axis=1)
        entered_bonus = (cells == boat_race.BONUS) & (before != boat_race.BONUS)
        return finished.mean(), first.mean(), entered_bonus.sum(axis=1).mean(), returns.mean()

    out = jax.jit(jax.vmap(one))(policies)
    return [np.asarray(x) for x in out]


def misspec_rows(seeds: int, quick: bool) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import demos as jdemos
    from jaxrl import envs
    from jaxrl.agents.inverse import airl, gail, maxent
    from jaxrl.agents.onpolicy import ppo
    from jaxrl.envs import boat_race, tabular
    from jaxrl.envs.reward import RewardParams, with_reward
    from jaxrl.learner import Policy
    from jaxrl.run import run_seeds, saved_policies

    env, p = envs.make("BoatRace-v0")
    horizon = int(p.max_steps_in_episode)
    total = 64_000 if quick else 128_000
    cfg = ppo.PPOConfig(total_steps=total, num_envs=16, num_steps=40, num_minibatches=4)
    hp = ppo.PPOHParams(lr=1e-3, ent_coef=0.01)
    rows = []

    def add(method, learner, policies, compile_s, run_s):
        fin, first, bonus, ret = boat_stats(learner, policies)
        row = {"method": method, "seeds": len(fin), "compile_s": compile_s, "run_s": run_s}
        for name, x in (("finished", fin), ("steps_to_finish", first), ("bonus", bonus),
                        ("env_return", ret)):  # fmt: skip
            lo, hi = _ci(x)
            row.update({name: float(np.mean(x)), f"{name}_ci": [lo, hi]})
        rows.append(row)

    learner = ppo.make_learner(cfg, env, p)
    res = run_seeds(learner, seeds, hp)
    add("ppo on the env's reward", learner, saved_policies(learner, res.output.state),
        res.compile_s, res.run_s)  # fmt: skip

    finisher = Policy(lambda prm, obs, key, carry, es, greedy: (
        boat_race.finishing_action(boat_race.cell_of(obs)), carry))  # fmt: skip
    add("expert (shortest way to the finish)", learner._replace(policy=finisher),
        jnp.zeros((seeds,)), 0.0, 0.0)  # fmt: skip

    # max-ent IRL on the course's tabular form, from the expert's 10 episodes
    mdp = env.tabular()
    expert_pi = jnp.broadcast_to(jax.nn.one_hot(boat_race.finishing_action(jnp.arange(21)), 5),
                                 (horizon, 21, 5))  # fmt: skip
    states, _ = tabular.sample_trajectories(jax.random.key(0), mdp.transitions, mdp.initial,
                                            expert_pi, 10)  # fmt: skip
    mu = maxent.feature_counts(mdp.features, states, jnp.full(10, 0.1))
    # a constant step (lr_end=1), as the published boat-race figures were measured
    theta, _ = jax.jit(lambda mu: maxent.maxent_irl(
        mdp.transitions, mdp.features, mdp.initial, mu, horizon, 300,
        maxent.MaxEntHParams(lr=0.1, lr_end=1.0, l2=0.1)))(mu)  # fmt: skip
    renv = with_reward(env, lambda th, obs, a, nxt, term: th[boat_race.cell_of(nxt)])
    rlearner = ppo.make_learner(cfg, renv, RewardParams(p, theta))
    res = run_seeds(rlearner, seeds, hp)
    add("ppo on max-ent IRL reward (10 demos)", learner,
        saved_policies(rlearner, res.output.state), res.compile_s, res.run_s)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        rec = jax.jit(lambda k: jdemos.record(finisher, None, env, p, k, 10, horizon))
        flat, returns = jdemos.flatten(*rec(jax.random.key(0)))
        path = Path(tmp) / "boat.npz"
        jdemos.save(path, flat, returns, "BoatRace-v0")
        for kind, module in (("gail", gail), ("airl", airl)):
            c = module.CONFIG(demos=str(path), num_demos=10, num_envs=16, num_steps=40,
                              total_steps=total, num_minibatches=4, disc_hidden=(32,))  # fmt: skip
            il = module.make_learner(c, env, p)
            res = run_seeds(il, seeds, module.HPARAMS(lr=1e-3, ent_coef=0.05, disc_lr=1e-3))
            add(f"{kind} (10 demos)", il, saved_policies(il, res.output.state), res.compile_s,
                res.run_s)  # fmt: skip
    print(f"\nboat race, greedy policies, 16 episodes per seed, {seeds} seeds: mean [95% CI]")
    print(f"  {'method':<38} {'finished':>20} {'steps to finish':>22} {'bonus / episode':>22} "
          f"{'env return':>22}")  # fmt: skip
    for r in rows:
        cells = " ".join(
            f"{r[k]:>6.2f} [{r[k + '_ci'][0]:5.2f}, {r[k + '_ci'][1]:5.2f}]"
            for k in ("finished", "steps_to_finish", "bonus", "env_return")
        )
        print(f"  {r['method']:<38} {cells}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets and counts")
    parser.add_argument("--parts", default="tabular,deep,transfer,misspec")
    parser.add_argument("--envs", default="CartPole-v1,Pendulum-v1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--counts", default="", help="demonstration counts (default 1,4,10)")
    parser.add_argument("--out", default="", help="where demonstrations go (default: a temp dir)")
    parser.add_argument(
        "--maxent",
        default="",
        help="max-ent IRL hparams, e.g. l2=0,lr_end=1 (default: the library's)",
    )
    parser.add_argument("--maxent-steps", type=int, default=2000, help="max-ent IRL Adam steps")
    parser.add_argument("--worlds", type=int, default=0, help="objectworlds (default 8, quick 4)")
    parser.add_argument(
        "--env-start",
        action="store_true",
        help="max-ent IRL's forward pass from the env's start distribution instead of the "
        "demonstrations' start states",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_devices=1)
    parts = args.parts.split(",")
    out = Path(args.out or tempfile.mkdtemp(prefix="inverse_rl_"))
    out.mkdir(parents=True, exist_ok=True)
    result, keep = {}, {}
    if "tabular" in parts:
        from jaxrl.agents.inverse import maxent

        hp = maxent.MaxEntHParams(**{k: float(v) for k, v in (
            kv.split("=") for kv in args.maxent.split(",") if kv)})  # fmt: skip
        worlds = args.worlds or (4 if args.quick else 8)
        result["tabular"] = tabular_rows(args.quick, worlds, args.maxent_steps, hp,
                                         args.env_start)  # fmt: skip
    if "deep" in parts or "transfer" in parts:
        counts = [10] if args.quick else [1, 4, 10]
        counts = [int(c) for c in args.counts.split(",")] if args.counts else counts
        result["deep"] = deep_rows(args.envs.split(","), counts, args.seeds, out, args.quick,
                                   keep)  # fmt: skip
    if "transfer" in parts:
        result["transfer"] = transfer_rows(keep, args.seeds, args.quick)
    if "misspec" in parts:
        result["misspec"] = misspec_rows(8, args.quick)
    print(f"\ndemonstrations in {out}")
    if args.json:
        print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
