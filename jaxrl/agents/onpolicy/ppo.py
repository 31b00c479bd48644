"""Proximal Policy Optimisation (Schulman et al. 2017, arXiv:1707.06347).

The whole run (rollouts, GAE, minibatch epochs) is one pure function ``train(key, hparams)``
so ``jax.vmap`` trains many seeds and hyperparameter settings in one compile. Discrete
(categorical) and continuous (diagonal Gaussian, state-independent log-std) actions.
Truncated episodes bootstrap from the value of the true final observation; terminated
episodes do not.

This module is PPO as the paper writes it: :func:`collect_rollout`, :func:`advantages`,
:func:`ppo_loss` and :func:`sgd_epochs` (the last three behind :func:`learn`, which learners
that replace the env's reward reuse), with autodiff and textbook shapes. On CPU the same
update runs laid out for XLA:CPU (:mod:`jaxrl.agents.onpolicy.ppo_cpu`), chosen by
``PPOConfig.implementation``; a golden test holds one update of each to the same parameters.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_choice, require_layers, require_positive_ints
from jaxrl.distributions import Categorical, DiagGaussian
from jaxrl.learner import Learner, Policy, latest_return, trainer
from jaxrl.losses import (
    clipped_surrogate_loss,
    clipped_value_loss,
    generalized_advantage_estimation,
)
from jaxrl.networks import ACTIVATIONS, init_actor_critic
from jaxrl.networks.actor_critic import split_towers
from jaxrl.networks.mlp import apply_mlp

OPTIMIZERS = {
    "adam": lambda lr, eps: optax.adam(lr, eps=eps),
    "rmsprop": lambda lr, eps: optax.rmsprop(lr, decay=0.99, eps=eps),
}
IMPLEMENTATIONS = ("auto", "plain", "cpu")


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
    """PPO's rollout shapes and update switches, shared by the learners built on its update."""

    num_envs: int = 4
    """Environments stepped in lockstep in each run."""
    num_steps: int = 128
    """Steps of every env per rollout (one update uses num_envs * num_steps env steps)."""
    total_steps: int = 500_000
    """Env steps per run (per seed), rounded down to whole updates."""
    update_epochs: int = 4
    """Passes over each rollout's batch."""
    num_minibatches: int = 4
    """Minibatches per epoch (must divide num_envs * num_steps)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    normalize_obs: bool = False
    """Normalise observations by running statistics (saved with the policy)."""
    normalize_advantages: bool = True
    """Normalise advantages within each minibatch."""
    clip_value: bool = True
    """Clip the value loss around the rollout's values (by clip_eps)."""
    optimizer: str = "adam"
    """adam or rmsprop."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def validate(self) -> None:
        require_positive_ints(
            self, ("num_envs", "num_steps", "total_steps", "update_epochs", "num_minibatches")
        )
        require(
            self.batch_size % self.num_minibatches == 0,
            "num_minibatches",
            f"batch num_envs*num_steps={self.batch_size} is not divisible into "
            f"{self.num_minibatches} minibatches",
        )
        require(
            self.total_steps >= self.batch_size,
            "total_steps",
            f"{self.total_steps} is less than one batch (num_envs*num_steps={self.batch_size})",
        )
        require_choice("optimizer", self.optimizer, OPTIMIZERS)


@dataclasses.dataclass(frozen=True)
class PPOConfig(RolloutConfig):
    """Static configuration: shapes, counts and switches (changing one recompiles)."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (separate networks)."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu, gelu or silu."""
    implementation: str = "auto"
    """plain (the reference update), cpu (laid out for XLA:CPU) or auto (cpu on a CPU)."""

    def validate(self) -> None:
        super().validate()
        require_layers(self.hidden)
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("implementation", self.implementation, IMPLEMENTATIONS)


def plain_config(config) -> PPOConfig:
    """PPO's config (its plain, reference update) from the fields ``config`` shares with it:
    for learners that take PPO's step for their policy."""
    names = {f.name for f in dataclasses.fields(PPOConfig)}
    shared = {k: v for k, v in dataclasses.asdict(config).items() if k in names}
    return PPOConfig(**{**shared, "implementation": "plain"})


class PPOHParams(NamedTuple):
    """Traced hyperparameters: floats that can be vmapped over (a sweep in one compile)."""

    lr: float = 2.5e-4
    """Learning rate (its start, when annealed)."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE's lambda (1: Monte-Carlo advantages, 0: one-step TD errors)."""
    clip_eps: float = 0.2
    """Clip range of the probability ratio (and of the value, with clip_value)."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    adam_eps: float = 1e-5
    """The optimiser's epsilon."""


HPARAM_RANGES = {
    "lr": "> 0",
    "gamma": "[0, 1]",
    "gae_lambda": "[0, 1]",
    "clip_eps": "> 0",
    "ent_coef": ">= 0",
    "vf_coef": ">= 0",
    "max_grad_norm": "> 0",
    "adam_eps": "> 0",
}


@struct.dataclass
class PPOState:
    params: Any  # the actor-critic (one flat vector on the CPU path)
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    last_return: jax.Array  # mean return of the latest update with a finished episode


class Transition(NamedTuple):
    """One rollout step of every env (leading axis ``num_envs``)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # of the action, under the policy that acted
    value: jax.Array  # v(obs)
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array  # terminated or truncated: an episode ended (and its return is known)
    final_obs: jax.Array  # the observation the step reached, before any reset
    episode_return: jax.Array


class Batch(NamedTuple):
    """What the loss reads of each sample (leading axis: samples)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


class ActorCritic(NamedTuple):
    """The policy's distribution and the value, from the actor-critic's parameters."""

    discrete: bool
    activation: str

    def __call__(self, params, obs):
        """``(distribution over actions, value [B])`` for observations ``[B, D]``."""
        actor, critic = split_towers(params)
        out = apply_mlp(actor, obs, self.activation)
        value = apply_mlp(critic, obs, self.activation)[..., 0]
        if self.discrete:
            return Categorical(out), value
        return DiagGaussian(out, params["log_std"]), value


def make_optimizer(cfg: PPOConfig, hp: PPOHParams) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam (or RMSProp) with the learning rate annealed linearly
    to zero over the run when ``cfg.anneal_lr``."""
    steps_per_update = cfg.update_epochs * cfg.num_minibatches

    def schedule(count):
        if not cfg.anneal_lr:
            return hp.lr
        return hp.lr * (1.0 - (count // steps_per_update) / cfg.num_updates)

    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        OPTIMIZERS[cfg.optimizer](schedule, hp.adam_eps),
    )


def collect_rollout(net: ActorCritic, venv, params, env_state, obs, key, num_steps, env_params):
    """``num_steps`` steps of every env ``-> (env_state, obs, Transition [T, E, ...])``."""

    def env_step(carry, key):
        env_state, obs = carry
        k_act, k_env = jax.random.split(key)
        dist, value = net(params, obs)
        action = dist.sample(k_act)
        next_obs, env_state, reward, terminated, truncated, info = venv.step(
            k_env, env_state, action, env_params
        )
        tr = Transition(obs, action, dist.log_prob(action), value, reward, terminated,
                        terminated | truncated, info["final_observation"],
                        info["episode_return"])  # fmt: skip
        return (env_state, next_obs), tr

    keys = jax.random.split(key, num_steps)
    (env_state, obs), traj = jax.lax.scan(env_step, (env_state, obs), keys)
    return env_state, obs, traj


def advantages(net: ActorCritic, params, traj: Transition, hp: PPOHParams):
    """GAE advantages and value targets ``[T, E]`` each.

    ``v(s_{t+1})`` is the value of each step's final observation: the state the step reached
    (before an automatic reset), so a truncated episode bootstraps from its true last state.
    """
    _, v_tp1 = net(params, traj.final_obs)
    gae = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)
    adv = gae(traj.reward, traj.value, v_tp1, traj.terminated, traj.done, hp.gamma,
              hp.gae_lambda)  # fmt: skip
    return adv, adv + traj.value


def ppo_loss(net: ActorCritic, cfg: PPOConfig, params, mb: Batch, hp: PPOHParams):
    """PPO's loss on one minibatch -> ``(total, [total, policy, value, entropy, approx_kl])``.

    The clipped surrogate ``-min(r A, clip(r, 1 - eps, 1 + eps) A)``, the (clipped) value
    loss and an entropy bonus, each averaged over the minibatch.
    """
    dist, value = net(params, mb.obs)
    return ppo_objective(cfg, dist, value, mb, hp)


def ppo_objective(cfg: PPOConfig, dist, value, mb: Batch, hp: PPOHParams):
    """:func:`ppo_loss` from the policy's distribution and values on the minibatch (any
    leading shape, e.g. ``[T, B]`` for sequences), so a learner whose network is not
    :class:`ActorCritic` (a recurrent one) shares the objective."""
    log_ratio = dist.log_prob(mb.action) - mb.log_prob
    ratio = jnp.exp(log_ratio)
    adv = mb.advantage
    if cfg.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = clipped_surrogate_loss(ratio, adv, hp.clip_eps).mean()
    if cfg.clip_value:
        value_loss = clipped_value_loss(value, mb.value, mb.target, hp.clip_eps).mean()
    else:
        value_loss = (0.5 * jnp.square(value - mb.target)).mean()
    entropy = dist.entropy().mean()
    approx_kl = ((ratio - 1.0) - log_ratio).mean()  # KL(old || new), Schulman's estimator
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    return total, jnp.stack([total, policy_loss, value_loss, entropy, approx_kl])


def sgd_epochs(net, cfg: PPOConfig, tx, params, opt_state, batch: Batch, perms, hp):
    """One gradient step per minibatch -> ``(params, opt_state, mean losses [5])``.

    ``batch`` holds ``batch_size`` samples; ``perms [epochs, batch_size]`` shuffles it once
    per epoch, and each shuffle is cut into ``num_minibatches`` minibatches.
    """
    shape = (cfg.update_epochs * cfg.num_minibatches, cfg.minibatch_size)
    mbs = jax.tree.map(lambda x: x[perms.reshape(-1)].reshape(shape + x.shape[1:]), batch)
    return sgd_steps(functools.partial(ppo_loss, net, cfg), tx, params, opt_state, mbs, hp)


def sgd_steps(loss, tx, params, opt_state, mbs, hp):
    """One gradient step of ``loss(params, mb, hp) -> (total, aux)`` per minibatch of ``mbs``
    (a pytree with a leading minibatch axis) -> ``(params, opt_state, mean aux)``."""
    grad_fn = jax.grad(loss, has_aux=True)

    def sgd_step(carry, mb):
        params, opt_state = carry
        grads, losses = grad_fn(params, mb, hp)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), losses

    (params, opt_state), losses = jax.lax.scan(sgd_step, (params, opt_state), mbs)
    return params, opt_state, losses.mean(axis=0)


def learn(net: ActorCritic, cfg: PPOConfig, params, opt_state, traj: Transition, hp: PPOHParams,
          key):  # fmt: skip
    """PPO's learning step on a rollout ``traj [T, E]`` (whatever its rewards):
    :func:`advantages`, then :func:`sgd_epochs` on shuffles drawn from ``key``
    -> ``(params, opt_state, mean losses [5])``."""
    adv, target = advantages(net, params, traj, hp)
    batch = Batch(traj.obs, traj.action, traj.log_prob, traj.value, adv, target)
    return learn_batch(net, cfg, params, opt_state, batch, hp, key)


def learn_batch(net, cfg: PPOConfig, params, opt_state, batch: Batch, hp, key):
    """:func:`sgd_epochs` on a rollout's :class:`Batch` ``[T, E, ...]`` (its advantages and
    targets already computed), shuffled once per epoch by permutations drawn from ``key``
    -> ``(params, opt_state, mean losses [5])``. Learners with their own advantages (two
    value heads, intrinsic rewards) share PPO's epochs through it."""
    n = cfg.batch_size
    batch = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), batch)
    perms = epoch_permutations(cfg, key)
    return sgd_epochs(net, cfg, make_optimizer(cfg, hp), params, opt_state, batch, perms, hp)


def epoch_permutations(cfg: PPOConfig, key):
    """One shuffle of the ``batch_size`` samples per epoch ``[update_epochs, batch_size]``."""
    n = cfg.batch_size
    return jax.vmap(lambda k: jax.random.permutation(k, n))(
        jax.random.split(key, cfg.update_epochs)
    )


def update(net: ActorCritic, cfg: PPOConfig, venv, state: PPOState, hp: PPOHParams, env_params):
    """One PPO update: rollout, advantages, epochs of minibatch SGD -> ``(state, metrics)``."""
    key, k_rollout, k_perm = jax.random.split(state.key, 3)
    env_state, obs, traj = collect_rollout(
        net, venv, state.params, state.env_state, state.obs, k_rollout, cfg.num_steps, env_params
    )
    params, opt_state, losses = learn(net, cfg, state.params, state.opt_state, traj, hp, k_perm)
    last_return, episodes = latest_return(state.last_return, traj.episode_return, traj.done)
    metrics = {"episode_return": last_return, "episodes": episodes}
    metrics.update(zip(LOSS_NAMES, losses, strict=True))
    state = state.replace(params=params, opt_state=opt_state, env_state=env_state, obs=obs,
                          key=key, last_return=last_return)  # fmt: skip
    return state, metrics


LOSS_NAMES = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl")


def uses_cpu_path(config: PPOConfig) -> bool:
    """Whether ``config`` runs the XLA:CPU layout: ``"cpu"``, or ``"auto"`` on a CPU backend
    (the layouts were chosen for XLA:CPU and are not measured on accelerators)."""
    if config.implementation == "auto":
        return jax.default_backend() == "cpu"
    return config.implementation == "cpu"


def cpu_parts(config: PPOConfig, env, env_params):
    """The static parts of the XLA:CPU layout (:class:`jaxrl.agents.onpolicy.ppo_cpu.Parts`)
    for ``config`` on ``env``, as :func:`make_learner` builds them."""
    from jaxrl.agents.onpolicy import ppo_cpu

    venv = jenvs.stack(env, env_params, config.num_envs, normalize_obs=config.normalize_obs)
    spec = jenvs.action_spec(env, env_params)
    obs_dim = venv.observation_space(env_params).shape[0]
    template = init_actor_critic(jax.random.key(0), obs_dim, spec.dim, config.hidden,
                                 not spec.discrete)  # fmt: skip
    policy = ppo_cpu.Policy(spec.discrete, spec.dim, config.activation)
    return ppo_cpu.Parts(config, venv, policy, obs_dim, ravel_pytree(template)[1])


def make_learner(config: PPOConfig, env, env_params) -> Learner:
    """PPO on ``env`` as a :class:`~jaxrl.learner.Learner`.

    Raises:
      ValueError: an invalid config, naming the field.
    """
    config.validate()
    cfg = config
    venv = jenvs.stack(env, env_params, cfg.num_envs, normalize_obs=cfg.normalize_obs)
    spec = jenvs.action_spec(env, env_params)
    obs_dim = venv.observation_space(env_params).shape[0]
    net = ActorCritic(spec.discrete, cfg.activation)

    def init_params(key):
        return init_actor_critic(key, obs_dim, spec.dim, cfg.hidden, not spec.discrete)

    if uses_cpu_path(cfg):
        from jaxrl.agents.onpolicy import ppo_cpu

        parts = cpu_parts(cfg, env, env_params)
        unravel = parts.unravel

        def as_stored(params):
            return ravel_pytree(params)[0]

        def as_tree(params):
            return unravel(params)

        def update_state(state, hp, env_params, data):
            return ppo_cpu.update(parts, make_optimizer(cfg, hp), hp, env_params, state)

        def act_net(params, obs, key, greedy):
            return ppo_cpu.act(parts, params, obs, key, greedy)

    else:

        def as_stored(params):
            return params

        def as_tree(params):
            return params

        def update_state(state, hp, env_params, data):
            return update(net, cfg, venv, state, hp, env_params)

        def act_net(params, obs, key, greedy):
            dist, _ = net(params, obs)
            return dist.mode() if greedy else dist.sample(key)

    def init(key, hp, env_params, data):
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params = as_stored(init_params(k_init))
        obs, env_state = venv.reset(k_reset, env_params)
        return PPOState(params=params, opt_state=make_optimizer(cfg, hp).init(params),
                        env_state=env_state, obs=obs, key=k_run,
                        last_return=jnp.zeros((), jnp.float32))  # fmt: skip

    def save(state: PPOState) -> dict:
        saved = {"net": as_tree(state.params)}
        if cfg.normalize_obs:
            saved["obs_stats"] = state.env_state.obs_stats
        return saved

    def act(saved, obs, key, carry, env_state, greedy: bool):
        if cfg.normalize_obs:
            obs = saved["obs_stats"].normalize(obs)
        return act_net(saved["net"], obs, key, greedy), carry

    return Learner(
        config=cfg,
        hparams=PPOHParams(),
        init=init,
        update=update_state,
        policy=Policy(act),
        save=save,
        num_updates=cfg.num_updates,
        steps_per_update=cfg.batch_size,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )


make_train = trainer(make_learner)
CONFIG = PPOConfig
HPARAMS = PPOHParams
