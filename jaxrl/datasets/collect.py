"""Datasets made the way D4RL made its own (Fu et al. 2020, arXiv:2004.07219), from jaxrl's SAC.

One SAC run (``sac``, or ``sac_discrete`` for discrete actions) is trained on the env with a
replay buffer that keeps every transition; after every update its policy is saved and scored
by its mean return over ``eval_episodes`` episodes, acting as it collects (sampling, not the
mode). Then:

- ``expert``: ``size`` transitions of the final policy;
- ``medium``: ``size`` transitions of the saved policy whose score comes closest to a third
  of the way from the random policy's return to the expert's (D4RL: "about one third of the
  expert's performance"; ``medium_fraction``), i.e. a normalised score of 33 (the earliest
  of equals; its own return, over 100 episodes, is recorded);
- ``medium-replay``: the replay buffer of the run up to that policy, in the order it was
  collected (the warm-up's random actions included);
- ``medium-expert``: the medium and the expert datasets, one after the other;
- ``random``: ``size`` transitions of uniformly random actions.

Every kind records the same reference returns (``ref_min_score``: the random policy's mean
return over 100 episodes; ``ref_max_score``: the expert policy's, over 100 episodes), so
:func:`~jaxrl.datasets.storage.normalized_score` puts all of an env's datasets on one scale.
Policies collect ``num_envs`` episodes in parallel, ``size`` transitions in all; an episode
still running when collection stops is kept and marked truncated.

This module sits above the agents and the engine (it trains SAC through the registry and
scores policies with :mod:`jaxrl.run.evaluate`), like the command line.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs as jenvs
from jaxrl import learner as contract
from jaxrl import registry
from jaxrl.datasets import storage
from jaxrl.datasets.storage import Dataset, DatasetError
from jaxrl.datasets.training import env_spaces
from jaxrl.episodes import max_steps_of

REF_EPISODES = 100


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How an env's behaviour policy is trained and how much each dataset holds."""

    train_steps: int = 100_000  # env steps of the SAC run
    log_every: int = 1_000  # env steps between saved, scored policies
    hidden: tuple[int, ...] = (256, 256)
    size: int = 100_000  # transitions of each collected kind
    hparams: tuple[tuple[str, float], ...] = ()  # SAC hyperparameters other than the defaults


# SAC learns Pendulum within a few thousand steps: slower learning rates and frequent
# snapshots leave policies between random and expert to pick the medium one from.
SLOW = (("actor_lr", 1e-4), ("critic_lr", 1e-4))
RECIPES = {
    "Pendulum-v1": Recipe(train_steps=30_000, log_every=250, hparams=SLOW),
    "CartPoleSwingUp-v0": Recipe(train_steps=40_000, log_every=500),
}


def recipe_for(env_name: str, **overrides) -> Recipe:
    """The env's recipe (a default one for envs without their own), fields overridden."""
    base = RECIPES.get(env_name, Recipe())
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})


# ---- rollouts ---------------------------------------------------------------------------------


def rollout(env, env_params, act: Callable, params, key, *, num_envs: int, size: int) -> Dataset:
    """Whole episodes of ``act(params, obs [E, D], key) -> env actions [E, ...]`` played in
    ``num_envs`` envs (auto-reset), at least ``size`` transitions: the fewest episodes that
    reach it, each env's in turn. Episodes still running when the envs stop are dropped."""
    venv = jenvs.stack(env, env_params, num_envs)
    steps = -(-size // num_envs) + max_steps_of(env_params)

    @jax.jit
    def run(params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, env_params)

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            action = act(params, obs, k_act)
            next_obs, state, reward, terminated, truncated, info = venv.step(
                k_step, state, action, env_params
            )
            out = (obs, action, reward, terminated, truncated, info["final_observation"])
            return (next_obs, state), out

        _, out = jax.lax.scan(body, (obs, state), jax.random.split(k_run, steps))
        return out

    obs, action, reward, term, trunc, nxt = jax.device_get(run(params, key))
    streams = []
    for e in range(num_envs):
        done = np.asarray(term[:, e]) | np.asarray(trunc[:, e])
        end = int(np.flatnonzero(done)[-1]) + 1 if done.any() else 0
        if end:
            streams.append(_stream(obs[:end, e], action[:end, e], reward[:end, e],
                                   term[:end, e], trunc[:end, e], nxt[:end, e]))  # fmt: skip
    d = storage.concatenate(streams, {}) if streams else None
    if d is None or len(d) < size:
        got = 0 if d is None else len(d)
        raise DatasetError(f"collection: {got} transitions in whole episodes, fewer than "
                           f"size={size}; the env's episodes may outlast its limit")  # fmt: skip
    bounds = d.episode_bounds
    cut = int(bounds[np.searchsorted(bounds, size)])  # the first episode end at or past size
    fields = {f.name: getattr(d, f.name)[:cut] for f in dataclasses.fields(d)
              if f.name != "metadata"}  # fmt: skip
    return Dataset(**fields)


def _stream(obs, action, reward, term, trunc, nxt) -> Dataset:
    """One env's consecutive steps as a dataset; a last step that ends no episode (the
    collection stopped there) is marked truncated."""
    term, trunc = np.asarray(term, bool), np.asarray(trunc, bool).copy()
    trunc[-1] |= not term[-1]
    trunc &= ~term
    discrete = np.issubdtype(np.asarray(action).dtype, np.integer)
    return Dataset(
        observations=np.asarray(obs, np.float32).reshape(len(reward), -1),
        actions=np.asarray(action, np.int64 if discrete else np.float32),
        rewards=np.asarray(reward, np.float32),
        terminations=term,
        truncations=trunc,
        next_observations=np.asarray(nxt, np.float32).reshape(len(reward), -1),
    )


def buffer_prefix(buffer_data, steps: int, spec) -> Dataset:
    """The first ``steps`` transitions of a replay buffer that never wrapped (``[rows, 1,
    ...]`` of :class:`~jaxrl.agents.offpolicy.loop.Transition`), actions mapped from the
    learner's ``[-1, 1]`` to the env's units."""
    t = jax.tree.map(lambda x: np.asarray(x)[:steps, 0], buffer_data)
    action = np.asarray(spec.to_env(jnp.asarray(t.action)))
    term = np.asarray(t.terminated, bool)
    trunc = np.asarray(t.done, bool) & ~term
    return _stream(t.obs, action, t.reward, term, trunc, t.next_obs)


# ---- the behaviour policy -----------------------------------------------------------------


class Trained:
    """A SAC run's saved policies, their scores, and its replay buffer at the end."""

    def __init__(self, learner, snapshots, scores, env_steps, buffer_data, train_s):
        self.learner = learner
        self.snapshots = snapshots  # saved params after every update
        self.scores = np.asarray(scores)  # mean stochastic return of each
        self.env_steps = np.asarray(env_steps)  # env steps behind each
        self.buffer_data = buffer_data
        self.train_s = train_s


def train_behaviour(env, env_params, recipe: Recipe, seed: int, discrete: bool,
                    eval_episodes: int = 16, log: Callable = print) -> Trained:  # fmt: skip
    from jaxrl.run.evaluate import make_evaluator

    module = registry.algorithm("sac_discrete" if discrete else "sac")
    config = module.CONFIG(total_steps=recipe.train_steps, log_every=recipe.log_every,
                           buffer_size=max(recipe.train_steps, 1_000), hidden=recipe.hidden,
                           num_envs=1)  # fmt: skip
    learner = module.make_learner(config, env, env_params)
    hp = contract.as_f32(learner.hparams._replace(**dict(recipe.hparams)))
    evaluate = make_evaluator(learner, episodes=eval_episodes, greedy=False)
    step = jax.jit(lambda s: contract.run(learner, s, hp, 1))
    state = jax.jit(lambda k: contract.init(learner, k, hp))(jax.random.key(seed))
    snapshots, scores, env_steps = [], [], []
    t0 = time.perf_counter()
    for u in range(learner.num_updates):
        state, _ = step(state)
        saved = jax.device_get(learner.save(state))
        score = float(evaluate(jax.tree.map(lambda x: x[None], saved),
                               jax.random.key(seed + 1 + u))[0])  # fmt: skip
        snapshots.append(saved)
        scores.append(score)
        env_steps.append((u + 1) * learner.steps_per_update)
        if log is not None and (u + 1) % max(1, learner.num_updates // 10) == 0:
            log(f"  sac: {env_steps[-1]:,} env steps, return {score:.1f} "
                f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return Trained(
        learner, snapshots, scores, env_steps, state.buffer.data, time.perf_counter() - t0
    )


def policy_return(env, env_params, learner, saved, seed: int, greedy: bool = False) -> float:
    from jaxrl.run.evaluate import make_evaluator

    evaluate = make_evaluator(learner, episodes=REF_EPISODES, greedy=greedy)
    return float(evaluate(jax.tree.map(lambda x: jnp.asarray(x)[None], saved),
                          jax.random.key(seed))[0])  # fmt: skip


# ---- making datasets ----------------------------------------------------------------------


def make(env_name: str, kinds: list[str], out: str | Path, *, recipe: Recipe, seed: int = 0,
         num_envs: int = 50, env_overrides: dict | None = None, overwrite: bool = False,
         medium_fraction: float = 1 / 3, log: Callable | None = print) -> dict:  # fmt: skip
    """Makes the datasets ``kinds`` of ``env_name`` (module docstring): one kind is written
    to ``out``, several to ``out/<kind>``. Returns ``{kind: path}``."""
    from jaxrl.run.baseline import random_policy_return

    out = Path(out)
    paths = {k: out if len(kinds) == 1 else out / k for k in kinds}
    for path in paths.values():
        if path.exists() and not overwrite:
            raise DatasetError(f"{path} already exists; pass --overwrite to replace it")
    overrides = env_overrides or {}
    env, env_params = jenvs.make(env_name, **overrides)
    spec = jenvs.action_spec(env, env_params)
    obs_space, act_space = env_spaces(env, env_params)
    t_start = time.perf_counter()
    r_random = random_policy_return(env, env_params, episodes=REF_EPISODES, seed=seed)
    trained = train_behaviour(env, env_params, recipe, seed, spec.discrete, log=log)
    learner = trained.learner
    expert = trained.snapshots[-1]
    r_expert = policy_return(env, env_params, learner, expert, seed + 7)
    if not r_expert > r_random:
        raise DatasetError(f"{env_name}: the trained policy's return {r_expert:.1f} does not "
                           f"beat the random policy's {r_random:.1f}; train longer "
                           "(--train-steps)")  # fmt: skip
    target = r_random + medium_fraction * (r_expert - r_random)
    medium_i = int(np.argmin(np.abs(trained.scores - target)))  # the first of the closest
    medium = trained.snapshots[medium_i]

    def policy_act(params, obs, key):  # the SAC policy, sampling (as it collected its data)
        return learner.policy.act(params, obs, key, (), None, False)[0]

    def random_act(params, obs, key):
        return spec.to_env(spec.random(key, obs.shape[0]))

    base_meta = {
        "ref_min_score": r_random,
        "ref_max_score": r_expert,
        "num_episodes_average_score": REF_EPISODES,
        "algorithm_name": "jaxrl sac (D4RL's recipe)",
        "author": "jaxrl",
        "code_permalink": "jaxrl/datasets/collect.py",
    }
    record = {
        "env": env_name,
        "env_params": overrides,
        "seed": seed,
        "behaviour": {
            "algo": "sac_discrete" if spec.discrete else "sac",
            "train_steps": recipe.train_steps,
            "hidden": list(recipe.hidden),
            "hparams": dict(recipe.hparams),
            "medium_update": medium_i + 1,
            "medium_env_steps": int(trained.env_steps[medium_i]),
            "medium_score_during_training": float(trained.scores[medium_i]),
            "expert_env_steps": int(trained.env_steps[-1]),
            "train_s": round(trained.train_s, 1),
        },
    }
    made: dict[str, Dataset] = {}

    def collect(kind: str) -> Dataset:
        if kind in made:
            return made[kind]
        k = jax.random.fold_in(jax.random.key(seed), storage.KINDS.index(kind) + 100)
        if kind == "random":
            d = rollout(env, env_params, random_act, None, k, num_envs=num_envs, size=recipe.size)
            how = "uniformly random actions"
        elif kind in ("medium", "expert"):
            saved = medium if kind == "medium" else expert
            d = rollout(env, env_params, policy_act, saved, k, num_envs=num_envs,
                        size=recipe.size)  # fmt: skip
            ret = r_expert if kind == "expert" else policy_return(
                env, env_params, learner, medium, seed + 11)  # fmt: skip
            steps = trained.env_steps[medium_i if kind == "medium" else -1]
            how = (f"the SAC policy after {steps:,} env steps, sampling its actions; "
                   f"its mean return {ret:.2f}")  # fmt: skip
        elif kind == "medium-replay":
            d = buffer_prefix(trained.buffer_data, int(trained.env_steps[medium_i]), spec)
            how = (f"the SAC run's replay buffer up to the medium policy "
                   f"({trained.env_steps[medium_i]:,} env steps)")  # fmt: skip
        else:  # medium-expert
            d = storage.concatenate([collect("medium"), collect("expert")], {})
            how = "the medium dataset, then the expert dataset"
        made[kind] = dataclasses.replace(d, metadata={"collected": how})
        return made[kind]

    written = {}
    for kind in kinds:
        d = collect(kind)
        how = d.metadata["collected"]
        meta = {**base_meta, "description": f"{env_name} {kind}: {how}",
                "dataset_id": f"jaxrl/{env_name}/{kind}-v0",
                "jaxrl": {**record, "kind": kind, "collected": how}}  # fmt: skip
        storage.write(paths[kind], dataclasses.replace(d, metadata=meta),
                      observation_space=obs_space, action_space=act_space,
                      overwrite=overwrite)  # fmt: skip
        written[kind] = paths[kind]
        if log is not None:
            returns = d.episode_returns()
            score = storage.normalized_score(returns.mean(), r_random, r_expert)
            log(f"  {kind:<14} {len(d):>9,} transitions, {returns.size:>6,} episodes, mean return "
                f"{returns.mean():9.2f} (normalised {score:6.1f}) -> {paths[kind]}")  # fmt: skip
    if log is not None:
        log(f"references: random {r_random:.2f}, expert {r_expert:.2f}; "
            f"{time.perf_counter() - t_start:.0f} s in all")  # fmt: skip
    return written


__all__ = ["RECIPES", "Recipe", "make", "recipe_for", "rollout"]
