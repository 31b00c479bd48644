"""HIRO: data-efficient hierarchical RL (Nachum, Gu, Lee & Levine 2018, arXiv:1805.08296).

Two TD3 agents (:func:`jaxrl.agents.offpolicy.td3.agent_of_sizes`), each trained by the
off-policy loop's :func:`~jaxrl.agents.offpolicy.loop.train_phase` on its own replay:

- the manager sees the state ``s_t`` and, every ``c`` env steps, proposes a subgoal ``g_t``:
  a desired change of the state's first ``goal_dims`` numbers (the position, in the maze),
  within ``[-goal_scale, goal_scale]`` each. Its reward is the env's, summed over the ``c``
  steps (times ``manager_reward_scale``), its next state ``s_{t+c}``.
- the worker sees ``(s_t, g_t)`` and acts in the env; between the manager's proposals the
  subgoal follows the state, ``g_{t+1} = h(s_t, g_t, s_{t+1}) = s_t + g_t - s_{t+1}``
  (:func:`subgoal_transition`: it keeps pointing at the same absolute target), and the
  worker's reward is ``-||s_t + g_t - s_{t+1}||`` (:func:`worker_reward`).
- off-policy correction: the worker changes while the manager's transitions wait in
  replay, so a stored subgoal may no longer explain the worker's stored actions. Each
  sampled manager transition is relabelled with the candidate subgoal ``g~`` that makes the
  stored actions most likely under the current worker, ``argmax -1/2 sum_i ||a_i -
  mu(s_i, g~_i)||^2`` with ``g~_i`` the candidate carried along by ``h``
  (:func:`relabel_subgoals`), among the original, the achieved change ``s_{t+c} - s_t`` and
  ``relabel_candidates - 2`` draws around it (:func:`subgoal_candidates`).

One iteration runs every env for one segment of ``c`` steps (subgoals are chosen at the
same steps in every env, and again wherever an episode ends, so an episode starts with a
fresh one), stores ``c`` worker transitions and one manager transition per env, and then
takes ``worker_gradient_steps`` and ``manager_gradient_steps`` gradient steps. A manager
transition keeps the worker's states, actions and a mask of the steps that belong to it
(those up to the episode's end, if it ended in the segment) for the relabelling; the
segment after a reset inside a segment is not stored (none is lost when episodes last a
multiple of ``c`` steps, as in ``PointMaze-v0``). Until ``learning_starts`` env steps,
actions and subgoals are uniformly random.

The policy's memory (``Policy.init_carry``) is the running subgoal, the last position and
the step count within the episode, so evaluation follows the same schedule.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import (
    require,
    require_choice,
    require_layers,
    require_nonnegative_int,
    require_positive_ints,
    require_update_schedule,
)
from jaxrl.agents.offpolicy import loop, td3
from jaxrl.agents.offpolicy.loop import NStep, OffPolicyAgent, Transition
from jaxrl.learner import Learner, Policy, latest_return, trainer
from jaxrl.networks import ACTIVATIONS, apply_mlp


@dataclasses.dataclass(frozen=True)
class HIROConfig:
    """Static configuration (changing one recompiles)."""

    num_envs: int = 1
    """Environments stepped in lockstep in each run."""
    total_steps: int = 200_000
    """Env steps per run (per seed), rounded down to whole updates."""
    learning_starts: int = 10_000
    """Env steps of uniformly random actions and subgoals before learning starts."""
    buffer_size: int = 200_000
    """Worker transitions kept in replay (the manager keeps buffer_size // c)."""
    batch_size: int = 128
    """Samples per gradient step, for either agent."""
    log_every: int = 5_000
    """Env steps per reported update (a multiple of num_envs * c)."""
    c: int = 10
    """Env steps per subgoal."""
    goal_dims: int = 0
    """Subgoals set the first goal_dims numbers of the state (0: all of them)."""
    goal_scale: float = 1.0
    """Subgoals lie in [-goal_scale, goal_scale] on each of their dims."""
    relabel_candidates: int = 10
    """Candidate subgoals of the off-policy correction (1: no correction)."""
    worker_gradient_steps: int = 10
    """Worker gradient steps per iteration (one segment of c steps of every env)."""
    manager_gradient_steps: int = 1
    """Manager gradient steps per iteration."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of every actor and critic."""
    activation: str = "relu"
    """Hidden activation: tanh, relu, gelu or silu."""
    policy_delay: int = 2
    """TD3's gradient steps between actor (and target) updates, for both agents."""

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.c

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.log_every

    def td3_config(self, gradient_steps: int) -> td3.TD3Config:
        """The TD3 settings of one level (what its agent and train phase read)."""
        return td3.TD3Config(
            num_envs=self.num_envs,
            batch_size=self.batch_size,
            gradient_steps=gradient_steps,
            hidden=self.hidden,
            activation=self.activation,
            policy_delay=self.policy_delay,
        )

    def validate(self) -> None:
        require_positive_ints(
            self,
            ("num_envs", "total_steps", "buffer_size", "batch_size", "log_every", "c",
             "relabel_candidates", "worker_gradient_steps", "manager_gradient_steps",
             "policy_delay"),
        )  # fmt: skip
        require_nonnegative_int(self, "learning_starts")
        require_nonnegative_int(self, "goal_dims")
        require(self.goal_scale > 0, "goal_scale", f"must be > 0, got {self.goal_scale}")
        require(
            self.relabel_candidates != 2,
            "relabel_candidates",
            "must be 1 (no correction) or at least 3 (the original, the achieved change "
            "and draws around it), got 2",
        )
        require_update_schedule(self, "num_envs*c")
        require(
            self.buffer_size // self.c >= self.batch_size,
            "buffer_size",
            f"{self.buffer_size} // c={self.c} holds fewer manager transitions than "
            f"batch_size={self.batch_size}",
        )
        require(
            self.learning_starts >= self.batch_size * self.c,
            "learning_starts",
            f"{self.learning_starts} env steps give fewer manager transitions than "
            f"batch_size={self.batch_size} (need batch_size*c={self.batch_size * self.c})",
        )
        require_layers(self.hidden)
        require_choice("activation", self.activation, ACTIVATIONS)


class HIROHParams(NamedTuple):
    """Traced hyperparameters (vmappable). Noise scales are in units of the action ranges
    (``[-1, 1]`` for the worker; ``goal_scale`` for the manager)."""

    actor_lr: float = 3e-4
    """Both actors' learning rate."""
    critic_lr: float = 1e-3
    """Both critics' learning rate."""
    gamma: float = 0.99
    """Discount of the worker per env step, and of the manager per segment."""
    tau: float = 0.005
    """Polyak rate of the target networks."""
    worker_noise: float = 0.1
    """The worker's exploration noise."""
    manager_noise: float = 1.0
    """The manager's exploration noise (1: as wide as the subgoal range; 0.3 left every
    seed in the maze at the wall below the goal)."""
    target_noise: float = 0.2
    """TD3's target-policy smoothing noise."""
    noise_clip: float = 0.5
    """Clip of the target-policy smoothing noise."""
    manager_reward_scale: float = 0.1
    """Factor on the env reward summed over a segment (the manager's reward)."""
    relabel_sigma: float = 0.5
    """Spread of the sampled relabelling candidates around the achieved change."""


HPARAM_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "worker_noise": ">= 0",
    "manager_noise": ">= 0",
    "target_noise": ">= 0",
    "noise_clip": ">= 0",
    "manager_reward_scale": "> 0",
    "relabel_sigma": ">= 0",
}


def level_hparams(hp: HIROHParams, noise) -> td3.TD3HParams:
    """One level's TD3 hyperparameters."""
    return td3.TD3HParams(actor_lr=hp.actor_lr, critic_lr=hp.critic_lr, gamma=hp.gamma,
                          tau=hp.tau, exploration_noise=noise, target_noise=hp.target_noise,
                          noise_clip=hp.noise_clip)  # fmt: skip


def subgoal_transition(s_t: jax.Array, g_t: jax.Array, s_tp1: jax.Array) -> jax.Array:
    """``h(s_t, g_t, s_{t+1}) = s_t + g_t - s_{t+1}`` on the goal's dims (``g_t``'s size):
    the subgoal that still points at the absolute target ``s_t + g_t``."""
    d = g_t.shape[-1]
    return s_t[..., :d] + g_t - s_tp1[..., :d]


def worker_reward(s_t: jax.Array, g_t: jax.Array, s_tp1: jax.Array) -> jax.Array:
    """``-||s_t + g_t - s_{t+1}||``: minus the distance left to the subgoal's target."""
    return -jnp.linalg.norm(subgoal_transition(s_t, g_t, s_tp1), axis=-1)


def subgoal_candidates(goal, start, end, key, num: int, sigma, scale):
    """Candidate subgoals for relabelling, ``[B, num, d]`` in units of ``scale`` (clipped
    to ``[-1, 1]``): the stored ``goal [B, d]`` (same units), the achieved change ``(end -
    start) / scale`` and ``num - 2`` draws from a normal around it with spread ``sigma``.
    ``start``/``end`` are the segment's first and last states ``[B, D]``."""
    d = goal.shape[-1]
    achieved = (end[..., :d] - start[..., :d]) / scale
    noise = sigma * jax.random.normal(key, goal.shape[:-1] + (num - 2, d))
    cands = jnp.concatenate([goal[..., None, :], achieved[..., None, :],
                             achieved[..., None, :] + noise], axis=-2)  # fmt: skip
    return jnp.clip(cands, -1.0, 1.0)


def relabel_subgoals(worker, candidates, start, states, actions, valid, scale):
    """The candidate under which the worker's stored actions are most likely, per sample.

    Args:
      worker: the worker's deterministic policy, ``(states [..., D], goals [..., d] in units
        of scale) -> actions [..., A]``.
      candidates: ``[B, K, d]`` subgoals in units of ``scale`` (the first is the stored one).
      start: ``[B, D]`` the segment's first state.
      states, actions, valid: the segment's ``[B, c, D]`` states, ``[B, c, A]`` actions and
        ``[B, c]`` mask of its steps.
      scale: ``goal_scale``.

    Returns:
      ``(chosen [B, d], log_likelihoods [B, K])``: each candidate's ``-1/2 sum_i ||a_i -
      worker(s_i, g_i)||^2`` over the valid steps, with ``g_i = start + g - s_i`` (the
      candidate carried along by :func:`subgoal_transition`), and the best candidate.
    """
    d = candidates.shape[-1]
    target = start[:, None, None, :d] + scale * candidates[:, :, None, :]  # [B, K, 1, d]
    goals = (target - states[:, None, :, :d]) / scale  # [B, K, c, d]
    k = candidates.shape[1]
    s = jnp.broadcast_to(states[:, None], (states.shape[0], k) + states.shape[1:])
    mu = worker(s, goals)  # [B, K, c, A]
    err = jnp.sum(jnp.square(actions[:, None] - mu), axis=-1)  # [B, K, c]
    loglik = -0.5 * jnp.sum(err * valid[:, None, :], axis=-1)
    best = jnp.argmax(loglik, axis=-1)
    chosen = jnp.take_along_axis(candidates, best[:, None, None], axis=1)[:, 0]
    return chosen, loglik


class Segment(NamedTuple):
    """What a manager transition stores as its action: the subgoal and the worker's steps."""

    goal: jax.Array  # [d] in units of goal_scale (the manager's action)
    states: jax.Array  # [c, D]
    actions: jax.Array  # [c, A]
    valid: jax.Array  # [c]


@struct.dataclass
class HIROState:
    worker: Any  # the worker's actor (flat)
    worker_agent: Any  # its critics, targets and optimisers
    manager: Any
    manager_agent: Any
    worker_buffer: buffers.BufferState
    manager_buffer: buffers.BufferState
    env_state: Any
    obs: jax.Array
    key: jax.Array
    env_steps: jax.Array
    worker_steps: jax.Array  # gradient steps
    manager_steps: jax.Array
    last_return: jax.Array


def make_learner(config: HIROConfig, env, env_params) -> Learner:
    """HIRO on ``env`` (continuous actions).

    Raises:
      ValueError: an invalid config (naming the field) or a discrete-action env.
    """
    config.validate()
    cfg = config
    spec = jenvs.require_action_kind(
        "hiro", env, env_params, discrete=False, instead="option_critic, dqn or sac_discrete"
    )
    obs_dim = jenvs.observation_size(env, env_params)
    d = cfg.goal_dims or obs_dim
    require(d <= obs_dim, "goal_dims", f"{d} exceeds the observation's {obs_dim} numbers")
    a_dim, n, c, scale = spec.dim, cfg.num_envs, cfg.c, cfg.goal_scale
    venv = jenvs.stack(env, env_params, n, clip_actions=False)
    w_cfg, m_cfg = (
        cfg.td3_config(cfg.worker_gradient_steps),
        cfg.td3_config(cfg.manager_gradient_steps),
    )
    w_agent = td3.agent_of_sizes(w_cfg, obs_dim + d, a_dim)
    m_td3 = td3.agent_of_sizes(m_cfg, obs_dim, d)

    def worker_mu(flat, states, goals):
        return w_agent.act(w_agent.save(flat), jnp.concatenate([states, goals], -1), None, True)

    def manager_update(params, agent_state, batch: NStep, key, hp, grad_step, progress):
        """TD3's update on the batch with each subgoal relabelled (agent_state carries the
        current worker's actor, read and returned unchanged)."""
        seg: Segment = batch.action
        k_cand, k_update = jax.random.split(key)
        if cfg.relabel_candidates > 1:
            cands = subgoal_candidates(seg.goal, batch.obs, batch.next_obs, k_cand,
                                       cfg.relabel_candidates, hp.relabel_sigma, scale)  # fmt: skip
            worker = lambda s, g: worker_mu(agent_state["worker"], s, g)  # noqa: E731
            goal, _ = relabel_subgoals(worker, cands, batch.obs, seg.states, seg.actions,
                                       seg.valid, scale)  # fmt: skip
        else:
            goal = seg.goal
        kept = jnp.mean(jnp.all(goal == seg.goal, axis=-1).astype(jnp.float32))
        params, td3_state, td_abs, metrics = m_td3.update(
            params, agent_state["td3"], batch._replace(action=goal), k_update,
            level_hparams(hp, hp.manager_noise), grad_step, progress,
        )  # fmt: skip
        metrics = {**metrics, "kept_subgoal": kept}
        return params, {**agent_state, "td3": td3_state}, td_abs, metrics

    m_names = (*m_td3.metric_names, "kept_subgoal")
    m_agent = OffPolicyAgent(m_td3.init, m_td3.explore, manager_update, m_td3.act, m_names,
                             m_td3.save)  # fmt: skip
    w_buffer = buffers.make_uniform(cfg.buffer_size, n, cfg.batch_size)
    m_buffer = buffers.make_uniform(cfg.buffer_size // c, n, cfg.batch_size)
    w_loop = loop.Loop(w_cfg, w_agent, spec, None, w_buffer, lambda hp: hp.gamma)
    m_loop = loop.Loop(m_cfg, m_agent, None, None, m_buffer, lambda hp: hp.gamma)
    w_example = loop.example_transition(obs_dim + d, spec)
    m_example = Transition(
        obs=jnp.zeros((obs_dim,)),
        action=Segment(
            jnp.zeros((d,)), jnp.zeros((c, obs_dim)), jnp.zeros((c, a_dim)), jnp.zeros((c,))
        ),  # fmt: skip
        reward=jnp.zeros(()),
        terminated=jnp.zeros((), bool),
        done=jnp.zeros((), bool),
        next_obs=jnp.zeros((obs_dim,)),
    )
    n_iter = cfg.log_every // cfg.steps_per_iteration

    def init(key, hp, env_params, data) -> HIROState:
        k_w, k_m, k_reset, k_run = jax.random.split(key, 4)
        worker, worker_agent = w_agent.init(k_w, level_hparams(hp, hp.worker_noise))
        manager, manager_agent = m_agent.init(k_m, level_hparams(hp, hp.manager_noise))
        obs, env_state = venv.reset(k_reset, env_params)
        zero = jnp.zeros((), jnp.int32)
        return HIROState(worker=worker, worker_agent=worker_agent, manager=manager,
                         manager_agent=manager_agent, worker_buffer=w_buffer.init(w_example),
                         manager_buffer=m_buffer.init(m_example), env_state=env_state,
                         obs=obs, key=k_run, env_steps=zero, worker_steps=zero,
                         manager_steps=zero,
                         last_return=jnp.zeros((), jnp.float32))  # fmt: skip

    def propose(state: HIROState, obs, key, hp, warmup):
        """Subgoals ``[N, d]`` in units of ``goal_scale``: the manager's with noise, or
        uniformly random during warm-up."""
        k_explore, k_random = jax.random.split(key)
        m_hp = level_hparams(hp, hp.manager_noise)
        explore = m_agent.explore(state.manager, state.manager_agent, obs, k_explore, 0.0, m_hp)
        return jnp.where(warmup, jax.random.uniform(k_random, (n, d), minval=-1.0, maxval=1.0),
                         explore)  # fmt: skip

    def segment(carry, xs):
        """One segment of ``c`` steps of every env, then both agents' train phases."""
        state, hp, env_params = carry
        prepared, key = xs
        k_goal, k_steps, k_train_w, k_train_m = jax.random.split(key, 4)
        warmup = state.env_steps < cfg.learning_starts
        goal = propose(state, state.obs, k_goal, hp, warmup)
        w_hp = level_hparams(hp, hp.worker_noise)

        def step(c_, xs_t):
            env_state, obs, goal, wbuf, seg, open_ = c_
            prep_t, key, i = xs_t
            k_act, k_rand, k_new = jax.random.split(key, 3)
            w_obs = jnp.concatenate([obs, goal], -1)
            explore = w_agent.explore(state.worker, state.worker_agent, w_obs, k_act, 0.0, w_hp)
            action = jnp.where(warmup, spec.random(k_rand, n), explore)
            next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
                prep_t, env_state, spec.to_env(action), env_params
            )
            final = info["final_observation"]
            done = terminated | truncated
            next_goal = subgoal_transition(obs, goal * scale, final) / scale
            wbuf = w_buffer.add(wbuf, Transition(
                w_obs, action, worker_reward(obs, goal * scale, final), terminated, done,
                jnp.concatenate([final, next_goal], -1)))  # fmt: skip
            on = open_[:, None]
            seg = {
                "states": seg["states"].at[:, i].set(obs),
                "actions": seg["actions"].at[:, i].set(action),
                "valid": seg["valid"].at[:, i].set(open_.astype(jnp.float32)),
                "reward": seg["reward"] + jnp.where(open_, reward, 0.0),
                "end": jnp.where(on, final, seg["end"]),
                "terminated": seg["terminated"] | (open_ & terminated),
                "done": seg["done"] | (open_ & done),
            }
            fresh = propose(state, next_obs, k_new, hp, warmup)
            goal = jnp.where(done[:, None], fresh, next_goal)
            stats = (info["episode_return"], done)
            return (env_state, next_obs, goal, wbuf, seg, open_ & ~done), stats

        seg0 = {
            "states": jnp.zeros((n, c, obs_dim)), "actions": jnp.zeros((n, c, a_dim)),
            "valid": jnp.zeros((n, c)), "reward": jnp.zeros(n), "end": state.obs,
            "terminated": jnp.zeros(n, bool), "done": jnp.zeros(n, bool),
        }  # fmt: skip
        init_c = (state.env_state, state.obs, goal, state.worker_buffer, seg0, jnp.ones(n, bool))
        xs_c = (prepared, jax.random.split(k_steps, c), jnp.arange(c))
        (env_state, obs, _, wbuf, seg, _), (returns, done) = jax.lax.scan(step, init_c, xs_c)
        m_tr = Transition(state.obs, Segment(goal, seg["states"], seg["actions"], seg["valid"]),
                          hp.manager_reward_scale * seg["reward"], seg["terminated"],
                          seg["done"], seg["end"])  # fmt: skip
        state = state.replace(env_state=env_state, obs=obs, worker_buffer=wbuf,
                              manager_buffer=m_buffer.add(state.manager_buffer, m_tr),
                              env_steps=state.env_steps + n * c)  # fmt: skip
        learn = state.env_steps >= cfg.learning_starts
        state, metrics = jax.lax.cond(learn, train, no_train, state, hp, k_train_w, k_train_m)
        return (state, hp, env_params), (returns, done, metrics, learn)

    def train(state: HIROState, hp, k_w, k_m):
        progress = state.env_steps / cfg.total_steps
        worker, w_state, wbuf, w_steps, w_metrics = loop.train_phase(
            w_loop, state.worker, state.worker_agent, state.worker_buffer, state.worker_steps,
            k_w, level_hparams(hp, hp.worker_noise), progress,
        )  # fmt: skip
        m_in = {"td3": state.manager_agent, "worker": worker}
        manager, m_state, mbuf, m_steps, m_metrics = loop.train_phase(
            m_loop, state.manager, m_in, state.manager_buffer, state.manager_steps, k_m, hp,
            progress,
        )  # fmt: skip
        state = state.replace(worker=worker, worker_agent=w_state, worker_buffer=wbuf,
                              worker_steps=w_steps, manager=manager,
                              manager_agent=m_state["td3"], manager_buffer=mbuf,
                              manager_steps=m_steps)  # fmt: skip
        return state, metric_dict(w_metrics, m_metrics)

    def no_train(state, hp, k_w, k_m):
        zeros = {k: jnp.zeros(()) for k in w_agent.metric_names}
        return state, metric_dict(zeros, {k: jnp.zeros(()) for k in m_names})

    def update(state: HIROState, hp, env_params, data):
        key, k_prep, k_iter = jax.random.split(state.key, 3)
        prepared = venv.prepare(k_prep, n_iter * c, env_params)
        prepared = jax.tree.map(lambda x: x.reshape((n_iter, c) + x.shape[1:]), prepared)
        (state, _, _), (returns, done, metrics, learn) = jax.lax.scan(
            segment, (state.replace(key=key), hp, env_params),
            (prepared, jax.random.split(k_iter, n_iter)),
        )  # fmt: skip
        last_return, episodes = latest_return(state.last_return, returns, done)
        trained = jnp.maximum(learn.sum(), 1)
        out = {k: v.sum() / trained for k, v in metrics.items()}
        out.update(episode_return=last_return, episodes=episodes)
        return state.replace(last_return=last_return), out

    def save(state: HIROState) -> dict:
        return {"worker": w_agent.save(state.worker), "manager": m_td3.save(state.manager)}

    def act(saved, obs, key, carry, env_state, greedy: bool):
        goal, last, t = carry
        proposed = jnp.tanh(apply_mlp(saved["manager"], obs, cfg.activation))
        carried = subgoal_transition(last, goal * scale, obs) / scale
        goal = jnp.where((t % c == 0)[:, None], proposed, carried)
        action = w_agent.act(saved["worker"], jnp.concatenate([obs, goal], -1), key, greedy)
        return spec.to_env(action), (goal, obs[:, :d], t + 1)

    def init_carry(batch: int):
        return (jnp.zeros((batch, d)), jnp.zeros((batch, d)), jnp.zeros((batch,), jnp.int32))

    return Learner(
        config=cfg,
        hparams=HIROHParams(),
        init=init,
        update=update,
        policy=Policy(act, init_carry),
        save=save,
        num_updates=cfg.num_updates,
        steps_per_update=cfg.log_every,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )


def metric_dict(worker: dict, manager: dict) -> dict:
    """Both agents' metrics, prefixed by level."""
    return {**{f"worker_{k}": v for k, v in worker.items()},
            **{f"manager_{k}": v for k, v in manager.items()}}  # fmt: skip


make_train = trainer(make_learner)
CONFIG = HIROConfig
HPARAMS = HIROHParams
