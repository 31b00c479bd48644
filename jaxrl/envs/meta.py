"""Meta-RL trials: several episodes of one task as one episode, and Bernoulli bandits.

RL² (Duan et al. 2016, arXiv:1611.02779) trains a recurrent policy on *trials*: a task is
drawn, the policy plays ``episodes`` episodes of it, and its hidden state persists across
them, so that what it learns in the first episodes can serve in the later ones. A
:class:`Trial` is that trial as one episode of an env (gymnax protocol): the usual
evaluation loop, which resets a policy's carry where an episode ends, then resets it
between trials and keeps it within one. Each observation is the inner env's, followed by
the previous action (one-hot for discrete actions), the previous reward and whether the
previous step ended an inner episode (all zero at a trial's first step).

A trial's task is the inner env's params, drawn at each trial reset by ``sample_task(key,
env_params)`` (by default the params as given: the task is then whatever the inner env's own
reset draws, as in gymnax's ``MetaMaze-misc``, whose goal is drawn when an episode starts
and kept through it).

:func:`bernoulli_bandit` is the paper's bandit setting: a trial is ``n`` pulls of ``k`` arms
whose success probabilities are drawn ``U[0, 1]`` for each trial; each pull is one inner
episode with no observation of its own, so the policy sees only its previous arm, reward and
the (always set) done flag. ``make("BernoulliBandit-k5-n100")`` builds one. A pull's reward is
``u < p[arm]`` with one ``u ~ U[0, 1]`` per step drawn from the step's key, so policies played
with the same keys (the evaluation loop's) meet the same arms and the same luck.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl._envnames import BANDIT_NAME, BANDIT_NAMES  # noqa: F401 (re-exported)
from jaxrl.envs.wrappers import Wrapper, transition


@struct.dataclass
class TrialParams:
    env_params: Any  # the inner env's params (each trial's task is drawn from them)
    max_steps_in_episode: int  # steps of a whole trial at most (then it is truncated)


@struct.dataclass
class TrialState:
    env_state: Any  # the inner env's state
    task: Any  # the inner env's params in this trial
    prev_action: jax.Array  # the previous action, encoded as in the observation
    prev_reward: jax.Array
    prev_done: jax.Array  # the previous step ended an inner episode
    episode: jax.Array  # inner episodes finished in this trial
    time: jax.Array  # steps taken in this trial


def keep_task(key, env_params):
    """The default task sampler: the inner env's params as given."""
    del key
    return env_params


class Trial(Wrapper):
    """``episodes`` episodes of ``env`` on one task drawn by ``sample_task``, as one episode.

    Params are :class:`TrialParams`; make them with :func:`trial_params`. The trial
    terminates when its last inner episode ends (whether that episode terminated or was
    truncated), and is truncated after ``max_steps_in_episode`` steps if it has not.
    """

    def __init__(self, env, episodes: int, sample_task: Callable = keep_task):
        super().__init__(env)
        if not isinstance(episodes, int) or episodes <= 0:
            raise ValueError(f"episodes: must be a positive int, got {episodes}")
        self.episodes = episodes
        self.sample_task = sample_task

    @property
    def default_params(self) -> TrialParams:
        return trial_params(self._env, self._env.default_params, self.episodes)

    def _inner_space(self, params: TrialParams):
        return self._env.action_space(params.env_params)

    def _encode(self, action, params: TrialParams):
        space = self._inner_space(params)
        if hasattr(space, "n"):
            return jax.nn.one_hot(action, space.n)
        return jnp.reshape(jnp.asarray(action, jnp.float32), (-1,))

    def _action_size(self, params: TrialParams) -> int:
        space = self._inner_space(params)
        if hasattr(space, "n"):
            return int(space.n)
        size = 1
        for d in space.shape:
            size *= int(d)
        return size

    def _observe(self, obs, state: TrialState):
        return jnp.concatenate([
            jnp.reshape(obs, (-1,)).astype(jnp.float32),
            state.prev_action,
            state.prev_reward[None],
            state.prev_done.astype(jnp.float32)[None],
        ])  # fmt: skip

    def action_space(self, params: TrialParams):
        return self._inner_space(params)

    def observation_space(self, params: TrialParams):
        inner = self._env.observation_space(params.env_params)
        low = jnp.reshape(jnp.broadcast_to(inner.low, inner.shape), (-1,)).astype(jnp.float32)
        high = jnp.reshape(jnp.broadcast_to(inner.high, inner.shape), (-1,)).astype(jnp.float32)
        space = self._inner_space(params)
        a = self._action_size(params)
        if hasattr(space, "n"):
            a_low, a_high = jnp.zeros(a), jnp.ones(a)
        else:
            a_low = jnp.broadcast_to(space.low, space.shape).reshape(-1)
            a_high = jnp.broadcast_to(space.high, space.shape).reshape(-1)
        low = jnp.concatenate([low, a_low, jnp.array([-jnp.inf, 0.0])])
        high = jnp.concatenate([high, a_high, jnp.array([jnp.inf, 1.0])])
        return spaces.Box(low, high, (low.shape[0],), jnp.float32)

    def reset(self, key, params: TrialParams | None = None):
        params = self.default_params if params is None else params
        k_task, k_reset = jax.random.split(key)
        task = self.sample_task(k_task, params.env_params)
        obs, env_state = self._env.reset(k_reset, task)
        zero = jnp.zeros((), jnp.float32)
        state = TrialState(env_state=env_state, task=task,
                           prev_action=jnp.zeros(self._action_size(params), jnp.float32),
                           prev_reward=zero, prev_done=jnp.zeros((), bool),
                           episode=jnp.zeros((), jnp.int32),
                           time=jnp.zeros((), jnp.int32))  # fmt: skip
        return self._observe(obs, state), state

    def transition(self, key, state: TrialState, action, params: TrialParams | None = None):
        params = self.default_params if params is None else params
        k_step, k_reset = jax.random.split(key)
        obs, env_state, reward, terminated, truncated, info = transition(
            self._env, k_step, state.env_state, action, state.task
        )
        inner_done = jnp.logical_or(terminated, truncated)
        episode = state.episode + inner_done.astype(jnp.int32)
        time = state.time + 1
        over = episode >= self.episodes
        # An inner episode that ended mid-trial starts again on the same task.
        reset_obs, reset_state = self._env.reset(k_reset, state.task)
        again = jnp.logical_and(inner_done, ~over)
        obs, env_state = jax.tree.map(lambda r, s: jnp.where(again, r, s),
                                      (reset_obs, reset_state), (obs, env_state))  # fmt: skip
        state = TrialState(env_state=env_state, task=state.task,
                           prev_action=self._encode(action, params).astype(jnp.float32),
                           prev_reward=jnp.asarray(reward, jnp.float32), prev_done=inner_done,
                           episode=episode, time=time)  # fmt: skip
        trial_truncated = jnp.logical_and(~over, time >= params.max_steps_in_episode)
        info = {**info, "inner_done": inner_done}
        return self._observe(obs, state), state, reward, over, trial_truncated, info


def trial_params(env, env_params, episodes: int) -> TrialParams:
    """:class:`TrialParams` for ``episodes`` episodes of ``env``: a trial may last as long
    as its episodes can (``episodes`` times the inner env's ``max_steps_in_episode``)."""
    del env
    return TrialParams(
        env_params, episodes * int(getattr(env_params, "max_steps_in_episode", 1000))
    )


def as_trial(env, env_params, episodes: int, sample_task: Callable = keep_task):
    """``(Trial(env, episodes, sample_task), its params)``."""
    return Trial(env, episodes, sample_task), trial_params(env, env_params, episodes)


@struct.dataclass
class BanditParams:
    means: jax.Array  # [k] success probability of each arm
    max_steps_in_episode: int = 1  # one pull is one episode


@struct.dataclass
class BanditState:
    time: jax.Array


class BernoulliArms:
    """``num_arms`` Bernoulli arms; an episode is one pull, and there is nothing to observe
    (an empty observation). A pull of arm ``a`` pays ``u < means[a]``, ``u ~ U[0, 1]`` from
    the step's key."""

    def __init__(self, num_arms: int):
        if not isinstance(num_arms, int) or num_arms < 2:
            raise ValueError(f"num_arms: must be an int >= 2, got {num_arms}")
        self.num_arms = num_arms

    @property
    def name(self) -> str:
        return f"BernoulliArms-k{self.num_arms}"

    @property
    def default_params(self) -> BanditParams:
        return BanditParams(means=jnp.full((self.num_arms,), 0.5, jnp.float32))

    def action_space(self, params=None):
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (0,), jnp.float32)

    def reset(self, key, params=None):
        return jnp.zeros((0,), jnp.float32), BanditState(jnp.zeros((), jnp.int32))

    def transition(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        u = jax.random.uniform(key)
        reward = (u < params.means[action]).astype(jnp.float32)
        done = jnp.ones((), bool)
        return (jnp.zeros((0,), jnp.float32), BanditState(state.time + 1), reward, done,
                jnp.zeros((), bool), {})  # fmt: skip


def uniform_means(key, params: BanditParams) -> BanditParams:
    """Each arm's success probability drawn ``U[0, 1]`` (the RL² paper's bandit tasks)."""
    return params.replace(means=jax.random.uniform(key, params.means.shape))


def bernoulli_bandit(num_arms: int, num_pulls: int):
    """A trial of ``num_pulls`` pulls of ``num_arms`` arms with means drawn ``U[0, 1]`` per
    trial -> ``(env, params)``."""
    arms = BernoulliArms(num_arms)
    env = Trial(arms, num_pulls, uniform_means)
    return env, TrialParams(arms.default_params, num_pulls)


def bandit_from_name(name: str):
    """``(env, params)`` for ``"BernoulliBandit-k<arms>-n<pulls>"``, or ``None``."""
    m = BANDIT_NAME.match(name)
    if m is None:
        return None
    return bernoulli_bandit(int(m.group(1)), int(m.group(2)))
