"""The loop shared by offline learners: gradient steps on a dataset, evaluation episodes.

An offline learner never steps its env to learn. One update takes ``log_every`` gradient
steps on batches drawn uniformly from the dataset, which is the learner's ``data`` (shared by
every run, never vmapped; :class:`~jaxrl.learner.Learner`), then plays ``eval_episodes``
greedy episodes with the one episode loop (:func:`jaxrl.episodes.first_episode_returns`)
to report the update's ``episode_return`` and, when the dataset records D4RL's reference
returns, its ``normalized_score``. Replay-style agents (BC, TD3+BC, IQL, CQL, offline SAC
and TD3) are :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` s: their gradient steps are
the off-policy loop's :func:`~jaxrl.agents.offpolicy.loop.train_phase` over a buffer state
that holds the dataset (:func:`jaxrl.buffers.full_state`).

Observations are standardised with the dataset's mean and standard deviation
(``normalize_obs``, as TD3+BC does); the statistics are part of the saved policy, which acts
on raw observations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import require, require_choice, require_layers, require_positive_ints
from jaxrl.agents.offpolicy import loop as offpolicy
from jaxrl.datasets import training as dtraining
from jaxrl.datasets.storage import Dataset
from jaxrl.episodes import first_episode_returns, max_steps_of
from jaxrl.learner import Learner, Policy, latest_return
from jaxrl.networks import ACTIVATIONS

STEP_UNIT = "gradient steps"
START_STATES = 256  # dataset episode starts at which value estimates are reported


@dataclasses.dataclass(frozen=True)
class OfflineConfig:
    """Static configuration common to offline learners (changing one recompiles).

    ``log_every`` gradient steps make one reported update (one row of metrics, evaluation
    episodes); the total is ``total_steps // log_every`` updates.
    """

    dataset: str = ""
    """Path of the dataset (a directory made by `jaxrl dataset make`, Minari's format)."""
    total_steps: int = 100_000
    """Gradient steps per run (per seed), rounded down to whole multiples of log_every."""
    log_every: int = 5_000
    """Gradient steps per reported update (one row of metrics, then evaluation episodes)."""
    batch_size: int = 256
    """Transitions per gradient step, drawn uniformly from the dataset."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of each network."""
    activation: str = "relu"
    """Hidden activation: relu, tanh, gelu or silu."""
    normalize_obs: bool = True
    """Standardise observations by the dataset's mean and std (saved with the policy)."""
    eval_episodes: int = 4
    """Greedy evaluation episodes after every update (its episode_return)."""

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.log_every

    def validate(self) -> None:
        require(isinstance(self.dataset, str), "dataset", f"must be a path, got {self.dataset!r}")
        require_positive_ints(self, ("total_steps", "log_every", "batch_size", "eval_episodes"))
        require(
            self.total_steps >= self.log_every,
            "total_steps",
            f"{self.total_steps} is less than one update (log_every={self.log_every})",
        )
        require_layers(self.hidden)
        require_choice("activation", self.activation, ACTIVATIONS)


@struct.dataclass
class OfflineState:
    params: Any  # the policy's parameters (what the agent's save turns into the saved pytree)
    agent: Any  # critics, targets, optimiser states
    key: jax.Array
    grad_steps: jax.Array
    last_return: jax.Array


class Prepared(NamedTuple):
    """A dataset as an offline learner sees it, computed once in Python."""

    items: dict  # numpy arrays with a leading axis of N transitions (what Learner.data holds)
    obs_mean: np.ndarray
    obs_std: np.ndarray
    ref_scores: tuple[float, float] | None
    spec: Any  # the env's ActionSpec
    dataset: Dataset


def prepare(config: OfflineConfig, env, env_params, *, algo: str, continuous: bool,
            reward_scale: Callable[[Dataset], float] | None = None) -> Prepared:  # fmt: skip
    """Reads and checks ``config.dataset`` against the env, and makes its transitions:
    observations standardised (``normalize_obs``), actions in ``[-1, 1]``, rewards times
    ``reward_scale(dataset)`` if given. The dataset's first states of its episodes go in
    ``items["start_obs"]`` (up to 256, for value estimates)."""
    dataset = dtraining.load(config.dataset, env, env_params, algo=algo, continuous=continuous)
    spec = jenvs.action_spec(env, env_params)
    items = dtraining.transitions(dataset, spec)
    if config.normalize_obs:
        mean = items["obs"].mean(axis=0)
        std = items["obs"].std(axis=0) + 1e-3
    else:
        mean = np.zeros(items["obs"].shape[1], np.float32)
        std = np.ones(items["obs"].shape[1], np.float32)
    mean, std = mean.astype(np.float32), std.astype(np.float32)
    items["obs"] = (items["obs"] - mean) / std
    items["next_obs"] = (items["next_obs"] - mean) / std
    if reward_scale is not None:
        items["reward"] = (items["reward"] * reward_scale(dataset)).astype(np.float32)
    starts = dataset.episode_bounds[:-1][:START_STATES]
    items["start_obs"] = items["obs"][starts]
    return Prepared(items, mean, std, dataset.ref_scores, spec, dataset)


def normalize(obs, saved):
    return (obs - saved["obs_mean"]) / saved["obs_std"]


def score_metrics(returns, ref_scores) -> dict:
    """``normalized_score`` of ``returns`` when the dataset has reference returns."""
    if ref_scores is None:
        return {}
    lo, hi = ref_scores
    return {"normalized_score": 100.0 * (returns - lo) / (hi - lo)}


def replay_learner(config: OfflineConfig, env, env_params, prepared: Prepared,
                   agent: offpolicy.OffPolicyAgent, replay_config, hparams, hparam_ranges,
                   gamma_of: Callable = lambda hp: hp.gamma) -> Learner:  # fmt: skip
    """The offline learner of a replay-style ``agent``: each update is ``log_every`` of the
    off-policy loop's gradient steps (:func:`~jaxrl.agents.offpolicy.loop.train_phase`) on
    batches drawn uniformly from the dataset, then the evaluation episodes.

    ``replay_config`` is the off-policy config the agent was made from (its
    ``gradient_steps`` must be ``config.log_every``).
    """
    cfg, spec = config, prepared.spec
    items = prepared.items
    n = items["obs"].shape[0]
    require(n >= cfg.batch_size, "batch_size",
            f"{cfg.batch_size} is more than the dataset's {n} transitions")  # fmt: skip
    buffer = buffers.make_uniform(n, 1, cfg.batch_size)
    replay = offpolicy.Loop(replay_config, agent, spec, None, buffer, gamma_of)
    venv = jenvs.stack(env, env_params, cfg.eval_episodes)
    max_steps = max_steps_of(env_params)
    mean, std = jnp.asarray(prepared.obs_mean), jnp.asarray(prepared.obs_std)
    total = cfg.num_updates * cfg.log_every

    def save_params(params):
        return {"policy": agent.save(params), "obs_mean": mean, "obs_std": std}

    def act(saved, obs, key, carry, env_state, greedy: bool):
        return spec.to_env(agent.act(saved["policy"], normalize(obs, saved), key, greedy)), carry

    policy = Policy(act)

    def init(key, hp, env_params, data) -> OfflineState:
        k_init, k_run = jax.random.split(key)
        params, agent_state = agent.init(k_init, hp)
        zero = jnp.zeros((), jnp.int32)
        return OfflineState(params=params, agent=agent_state, key=k_run, grad_steps=zero,
                            last_return=jnp.zeros((), jnp.float32))  # fmt: skip

    def update(state: OfflineState, hp, env_params, data):
        key, k_train, k_eval = jax.random.split(state.key, 3)
        transitions = offpolicy.Transition(**{k: data[k] for k in offpolicy.Transition._fields})
        progress = state.grad_steps / total
        params, agent_state, _, grad_steps, metrics = offpolicy.train_phase(
            replay, state.params, state.agent, buffers.full_state(transitions),
            state.grad_steps, k_train, hp, progress,
        )  # fmt: skip
        returns, finished = first_episode_returns(policy, save_params(params), venv, env_params,
                                                  k_eval, max_steps, greedy=True)  # fmt: skip
        last, episodes = latest_return(state.last_return, returns, finished)
        if agent.value is not None:
            metrics["q_start"] = jnp.mean(agent.value(params, agent_state, data["start_obs"]))
        metrics.update(episode_return=last, episodes=episodes.astype(jnp.float32),
                       **score_metrics(last, prepared.ref_scores))  # fmt: skip
        state = state.replace(params=params, agent=agent_state, key=key, grad_steps=grad_steps,
                              last_return=last)  # fmt: skip
        return state, metrics

    return Learner(
        config=cfg,
        hparams=hparams,
        init=init,
        update=update,
        policy=policy,
        save=lambda state: save_params(state.params),
        num_updates=cfg.num_updates,
        steps_per_update=cfg.log_every,
        env=env,
        env_params=env_params,
        hparam_ranges=hparam_ranges,
        data=items,
        step_unit=STEP_UNIT,
    )
