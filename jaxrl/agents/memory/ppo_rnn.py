"""Recurrent PPO: PPO (Schulman et al. 2017) with a GRU or LSTM core, for tasks with memory.

The network is an encoder MLP, a recurrent core (:mod:`jaxrl.networks.recurrent`; GRU by
default, as in PureJaxRL's ``ppo_rnn.py``, LSTM selectable) and separate actor and critic
heads on the core's output. The core's hidden state is the policy's carry (:class:`Policy`):
it persists from step to step and goes back to zeros where an episode ends, in the rollout,
in training and in evaluation alike.

Everything but the sequence handling is :mod:`jaxrl.agents.onpolicy.ppo`'s: its optimiser,
its objective (:func:`~jaxrl.agents.onpolicy.ppo.ppo_objective`), its SGD loop and its
hyperparameters. A rollout records where the carry was reset and the carry it started from;
a minibatch is whole env sequences (``num_envs / num_minibatches`` of them, ``num_steps``
long), and the loss re-runs the core over each from its recorded start with the same resets,
so gradients flow back through the rollout's steps (truncated backpropagation through time,
cut at the rollout's start). Truncated episodes bootstrap from the value of the true final
observation, computed from the carry the step reached.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_choice, require_positive_ints
from jaxrl.agents.onpolicy import ppo
from jaxrl.distributions import Categorical, DiagGaussian
from jaxrl.learner import Learner, Policy, latest_return, trainer
from jaxrl.losses import generalized_advantage_estimation
from jaxrl.networks import ACTIVATIONS, apply_mlp, init_mlp
from jaxrl.networks.recurrent import CORES, Core, reset_where, unroll

PPORNNHParams = ppo.PPOHParams
HPARAM_RANGES = ppo.HPARAM_RANGES


@dataclasses.dataclass(frozen=True)
class PPORNNConfig(ppo.RolloutConfig):
    """Static configuration: shapes, counts and switches (changing one recompiles)."""

    num_steps: int = 128
    """Steps of every env per rollout: the length of the sequences trained on."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per epoch, each of whole env sequences (must divide num_envs)."""
    core: str = "gru"
    """Recurrent core: gru or lstm."""
    core_size: int = 128
    """Units of the recurrent core."""
    encoder: tuple[int, ...] = (128,)
    """Widths of the layers between the observation and the core (may be empty)."""
    head: tuple[int, ...] = (128,)
    """Hidden layer widths of the actor head and of the critic head on the core's output."""
    activation: str = "relu"
    """Activation of the encoder and head layers: tanh, relu, gelu or silu."""

    @property
    def envs_per_minibatch(self) -> int:
        return self.num_envs // self.num_minibatches

    def validate(self) -> None:
        require_positive_ints(self, ("core_size",))
        require(
            self.num_envs % max(self.num_minibatches, 1) == 0,
            "num_minibatches",
            f"a minibatch is whole env sequences: num_envs={self.num_envs} is not divisible "
            f"into {self.num_minibatches} minibatches",
        )
        super().validate()
        for name in ("encoder", "head"):
            widths = getattr(self, name)
            require(all(isinstance(w, int) and w > 0 for w in widths), name,
                    f"layer widths must be positive ints, got {widths}")  # fmt: skip
        require_choice("core", self.core, CORES)
        require_choice("activation", self.activation, ACTIVATIONS)


class RecurrentActorCritic(NamedTuple):
    """Encoder, recurrent core, actor and critic heads (static description, pure methods).

    Parameters: ``{"encoder": [layers], "core": core params, "actor": [layers],
    "critic": [layers]}`` (plus ``"log_std" [A]`` for continuous actions); the layers are
    :func:`jaxrl.networks.init_mlp`'s.
    """

    core: Core
    discrete: bool
    activation: str

    def init(self, key, obs_dim: int, num_outputs: int, encoder=(128,), head=(128,)) -> dict:
        """Orthogonal encoder and heads (gain sqrt 2; 0.01 actor output, 1 value output), zero
        biases; the core as :meth:`Core.init`."""
        k_enc, k_core, k_actor, k_critic = jax.random.split(key, 4)
        gain = math.sqrt(2.0)
        params = {
            "encoder": init_mlp(k_enc, (obs_dim, *encoder), head_scale=gain) if encoder else [],
            "core": self.core.init(k_core, encoder[-1] if encoder else obs_dim),
            "actor": init_mlp(k_actor, (self.core.size, *head, num_outputs), head_scale=0.01),
            "critic": init_mlp(k_critic, (self.core.size, *head, 1), head_scale=1.0),
        }
        if not self.discrete:
            params["log_std"] = jnp.zeros((num_outputs,))
        return params

    def project(self, params, obs: jax.Array) -> jax.Array:
        """The core's projected input ``[..., G H]`` from observations ``[..., D]``."""
        x = obs
        if params["encoder"]:
            x = ACTIVATIONS[self.activation](apply_mlp(params["encoder"], x, self.activation))
        return self.core.project(params["core"], x)

    def heads(self, params, h: jax.Array):
        """``(distribution, value [...])`` from the core's outputs ``[..., H]``."""
        out = apply_mlp(params["actor"], h, self.activation)
        value = apply_mlp(params["critic"], h, self.activation)[..., 0]
        if self.discrete:
            return Categorical(out), value
        return DiagGaussian(out, params["log_std"]), value

    def step(self, params, carry, obs: jax.Array):
        """One step for observations ``[..., D]`` -> ``(carry, distribution, value)``."""
        carry, h = self.core.step(params["core"], carry, self.project(params, obs))
        return (carry, *self.heads(params, h))

    def unroll(self, params, carry, obs: jax.Array, reset: jax.Array):
        """Over sequences ``obs [T, B, D]`` from ``carry [B, H]``, reset where ``reset [T, B]``
        holds (:func:`jaxrl.networks.recurrent.unroll`) -> ``(carry, distribution, value)``,
        ``[T, B]`` each. The encoder and heads run once on all ``T B`` inputs; only the core
        steps in time."""
        carry, h = unroll(self.core, params["core"], carry, self.project(params, obs), reset)
        return (carry, *self.heads(params, h))


@struct.dataclass
class PPORNNState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array  # [E, D]: the observations the next step acts on
    carry: Any  # [E, H]: the core's carry after the last step (before any reset)
    done: jax.Array  # [E]: the last step ended an episode (the carry resets before the next)
    key: jax.Array
    last_return: jax.Array  # mean return of the latest update with a finished episode


class Transition(NamedTuple):
    """One rollout step of every env (leading axis ``num_envs``)."""

    obs: jax.Array
    reset: jax.Array  # the carry went back to its initial value before this step
    action: jax.Array
    log_prob: jax.Array  # of the action, under the policy that acted
    value: jax.Array  # v(obs), with the carry of this step
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array  # terminated or truncated: an episode ended (and its return is known)
    final_obs: jax.Array  # the observation the step reached, before any reset
    carry: Any  # the carry after this step (before any reset): the state final_obs is seen in
    episode_return: jax.Array


class Sequences(NamedTuple):
    """What the loss reads of env sequences: ``carry0 [B, H]`` (each sequence's carry before
    its first step), ``reset [T, B]`` and the samples ``batch`` (:class:`ppo.Batch`,
    ``[T, B, ...]``)."""

    carry0: Any
    reset: jax.Array
    batch: ppo.Batch


def collect_rollout(net: RecurrentActorCritic, venv, params, state: PPORNNState, key,
                    num_steps: int, env_params):  # fmt: skip
    """``num_steps`` steps of every env -> ``((env_state, obs, carry, done), Transition
    [T, E, ...])``. Before each step the carry resets where the previous step ended an
    episode."""
    initial = net.core.initial_carry(venv.num_envs)

    def env_step(loop, key):
        env_state, obs, carry, done = loop
        k_act, k_env = jax.random.split(key)
        carry = reset_where(done, initial, carry)
        carry, dist, value = net.step(params, carry, obs)
        action = dist.sample(k_act)
        next_obs, env_state, reward, terminated, truncated, info = venv.step(
            k_env, env_state, action, env_params
        )
        next_done = terminated | truncated
        tr = Transition(obs, done, action, dist.log_prob(action), value, reward, terminated,
                        next_done, info["final_observation"], carry,
                        info["episode_return"])  # fmt: skip
        return (env_state, next_obs, carry, next_done), tr

    loop = (state.env_state, state.obs, state.carry, state.done)
    return jax.lax.scan(env_step, loop, jax.random.split(key, num_steps))


def advantages(net: RecurrentActorCritic, params, traj: Transition, hp):
    """GAE advantages and value targets ``[T, E]`` each.

    ``v(s_{t+1})`` is the value of each step's final observation seen with the carry the
    step reached, so a truncated episode bootstraps from its true last state (elsewhere it
    equals the next step's value).
    """
    _, _, v_tp1 = net.step(params, traj.carry, traj.final_obs)
    gae = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)
    adv = gae(traj.reward, traj.value, v_tp1, traj.terminated, traj.done, hp.gamma,
              hp.gae_lambda)  # fmt: skip
    return adv, adv + traj.value


def ppo_rnn_loss(net: RecurrentActorCritic, cfg: PPORNNConfig, params, mb: Sequences, hp):
    """PPO's objective on a minibatch of sequences: the network re-run over each from its
    recorded carry with its recorded resets -> ``(total, [total, policy, value, entropy,
    approx_kl])``."""
    _, dist, value = net.unroll(params, mb.carry0, mb.batch.obs, mb.reset)
    return ppo.ppo_objective(cfg, dist, value, mb.batch, hp)


def minibatches(cfg: PPORNNConfig, seqs: Sequences, perms: jax.Array) -> Sequences:
    """``perms [epochs, num_envs]`` shuffles the envs once per epoch; each shuffle is cut into
    ``num_minibatches`` groups of whole sequences -> a leading minibatch axis on every leaf
    (``carry0 [U, M, H]``, the rest ``[U, T, M, ...]``)."""
    idx = perms.reshape(cfg.update_epochs * cfg.num_minibatches, cfg.envs_per_minibatch)

    def envs_of(x, axis):
        return jnp.moveaxis(jnp.take(x, idx, axis=axis), axis, 0)

    carry0 = jax.tree.map(lambda x: envs_of(x, 0), seqs.carry0)
    rest = jax.tree.map(lambda x: envs_of(x, 1), (seqs.reset, seqs.batch))
    return Sequences(carry0, *rest)


def sgd_epochs(net, cfg: PPORNNConfig, tx, params, opt_state, seqs: Sequences, perms, hp):
    """One gradient step per minibatch of sequences -> ``(params, opt_state, mean losses)``."""
    mbs = minibatches(cfg, seqs, perms)
    loss = functools.partial(ppo_rnn_loss, net, cfg)
    return ppo.sgd_steps(loss, tx, params, opt_state, mbs, hp)


def update(net: RecurrentActorCritic, cfg: PPORNNConfig, venv, state: PPORNNState, hp,
           env_params):  # fmt: skip
    """One update: rollout, advantages, epochs of minibatch SGD -> ``(state, metrics)``."""
    key, k_rollout, k_perm = jax.random.split(state.key, 3)
    (env_state, obs, carry, done), traj = collect_rollout(
        net, venv, state.params, state, k_rollout, cfg.num_steps, env_params
    )
    adv, target = advantages(net, state.params, traj, hp)
    batch = ppo.Batch(traj.obs, traj.action, traj.log_prob, traj.value, adv, target)
    seqs = Sequences(state.carry, traj.reset, batch)
    perm_keys = jax.random.split(k_perm, cfg.update_epochs)
    perms = jax.vmap(lambda k: jax.random.permutation(k, cfg.num_envs))(perm_keys)
    params, opt_state, losses = sgd_epochs(
        net, cfg, ppo.make_optimizer(cfg, hp), state.params, state.opt_state, seqs, perms, hp
    )
    last_return, episodes = latest_return(state.last_return, traj.episode_return, traj.done)
    metrics = {"episode_return": last_return, "episodes": episodes}
    metrics.update(zip(ppo.LOSS_NAMES, losses, strict=True))
    state = state.replace(params=params, opt_state=opt_state, env_state=env_state, obs=obs,
                          carry=carry, done=done, key=key, last_return=last_return)  # fmt: skip
    return state, metrics


def make_learner(config: PPORNNConfig, env, env_params) -> Learner:
    """Recurrent PPO on ``env`` as a :class:`~jaxrl.learner.Learner`.

    Raises:
      ValueError: an invalid config, naming the field.
    """
    config.validate()
    cfg = config
    venv = jenvs.stack(env, env_params, cfg.num_envs, normalize_obs=cfg.normalize_obs)
    spec = jenvs.action_spec(env, env_params)
    obs_dim = venv.observation_space(env_params).shape[0]
    net = RecurrentActorCritic(Core(cfg.core, cfg.core_size), spec.discrete, cfg.activation)

    def init(key, hp, env_params, data):
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params = net.init(k_init, obs_dim, spec.dim, cfg.encoder, cfg.head)
        obs, env_state = venv.reset(k_reset, env_params)
        return PPORNNState(params=params, opt_state=ppo.make_optimizer(cfg, hp).init(params),
                           env_state=env_state, obs=obs,
                           carry=net.core.initial_carry(cfg.num_envs),
                           done=jnp.zeros(cfg.num_envs, bool), key=k_run,
                           last_return=jnp.zeros((), jnp.float32))  # fmt: skip

    def update_state(state, hp, env_params, data):
        return update(net, cfg, venv, state, hp, env_params)

    def save(state: PPORNNState) -> dict:
        saved = {"net": state.params}
        if cfg.normalize_obs:
            saved["obs_stats"] = state.env_state.obs_stats
        return saved

    def act(saved, obs, key, carry, env_state, greedy: bool):
        if cfg.normalize_obs:
            obs = saved["obs_stats"].normalize(obs)
        carry, dist, _ = net.step(saved["net"], carry, obs)
        return (dist.mode() if greedy else dist.sample(key)), carry

    return Learner(
        config=cfg,
        hparams=PPORNNHParams(),
        init=init,
        update=update_state,
        policy=Policy(act, net.core.initial_carry),
        save=save,
        num_updates=cfg.num_updates,
        steps_per_update=cfg.batch_size,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )


make_train = trainer(make_learner)
CONFIG = PPORNNConfig
HPARAMS = PPORNNHParams
