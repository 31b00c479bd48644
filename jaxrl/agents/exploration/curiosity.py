"""PPO with an intrinsic reward: the learner RND and ICM share.

One update:

1. a PPO rollout of the current policy (:func:`jaxrl.agents.onpolicy.ppo.collect_rollout`),
   the actor-critic having two value heads, ``V_ext`` and ``V_int``;
2. the bonus's observation statistics (a running mean and variance of every observation the
   rollout reached) updated, and its inputs normalised by them and clipped to ``[-5, 5]``
   (Burda et al. 2018: the random target network sees observations of unit scale);
3. the raw intrinsic reward ``b_t`` of each transition (the bonus's prediction error on the
   state it reached), divided by a running standard deviation of the discounted intrinsic
   return: per env ``R_t = int_gamma R_{t-1} + b_t``, carried across rollouts and episodes,
   its variance a running estimate over every ``R_t`` so far; ``r_int = b_t / sqrt(var)``
   (:func:`intrinsic_rewards`);
4. two GAE advantages: extrinsic, episodic (``gamma``; terminations stop it, truncations
   bootstrap from the true final observation), and intrinsic, non-episodic (``int_gamma``;
   no episode end stops it: after a reset the next state is the new episode's first),
   combined as ``ext_coef * A_ext + int_coef * A_int`` (:func:`advantages`); each head
   regresses on its own return (the value loss averages the two heads' losses);
5. PPO's epochs on that batch (:func:`jaxrl.agents.onpolicy.ppo.learn_batch`), then as many
   Adam steps of the bonus's own loss on the same samples (its minibatches drawn anew).

A bonus is a :class:`Bonus`: the trained and the frozen parameters, the raw reward and the
loss. :mod:`jaxrl.agents.exploration.ppo_rnd` and :mod:`jaxrl.agents.exploration.ppo_icm`
supply theirs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import envs as jenvs
from jaxrl._errors import require_choice, require_layers
from jaxrl.agents.onpolicy import ppo
from jaxrl.distributions import Categorical, DiagGaussian
from jaxrl.envs import RunningMeanStd
from jaxrl.learner import Learner, Policy, hyperparameters, latest_return
from jaxrl.losses import generalized_advantage_estimation
from jaxrl.networks import ACTIVATIONS, apply_mlp, init_actor_critic, init_mlp
from jaxrl.networks.actor_critic import split_towers

OBS_CLIP = 5.0  # the bonus's normalised observations are clipped to [-5, 5] (Burda et al.)


@dataclasses.dataclass(frozen=True)
class CuriosityConfig(ppo.RolloutConfig):
    """Static configuration: PPO's shapes and the bonus networks'."""

    num_envs: int = 16
    num_steps: int = 32
    total_steps: int = 200_000
    update_epochs: int = 4
    """Passes over each rollout (of PPO and of the bonus's loss)."""
    anneal_lr: bool = False
    normalize_obs: bool = False
    """Normalise the policy's observations by running statistics (the bonus always does)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor, of the critic and of the intrinsic value network."""
    activation: str = "tanh"
    """Hidden activation of the actor-critic: tanh, relu, gelu or silu."""
    bonus_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the bonus's networks."""
    bonus_activation: str = "relu"
    """Hidden activation of the bonus's networks."""

    def ppo_config(self) -> ppo.PPOConfig:
        """PPO's config for the policy step (its plain, reference update)."""
        return ppo.plain_config(self)

    def validate(self) -> None:
        self.ppo_config().validate()
        require_layers(self.bonus_hidden)
        require_choice("bonus_activation", self.bonus_activation, ACTIVATIONS)


@hyperparameters
class CuriosityHParams(ppo.PPOHParams):
    """Traced hyperparameters: PPO's, the two rewards' weights and the bonus's."""

    gamma: float = 0.99
    """Discount of the extrinsic (episodic) return."""
    int_gamma: float = 0.99
    """Discount of the intrinsic (non-episodic) return."""
    ext_coef: float = 2.0
    """Weight of the extrinsic advantage."""
    int_coef: float = 1.0
    """Weight of the intrinsic advantage."""
    bonus_lr: float = 1e-3
    """Adam's learning rate for the bonus's networks."""


HPARAM_RANGES = {
    **ppo.HPARAM_RANGES,
    "int_gamma": "[0, 1)",
    "ext_coef": ">= 0",
    "int_coef": ">= 0",
    "bonus_lr": "> 0",
}


class Bonus(NamedTuple):
    """An intrinsic reward with its networks.

    ``init(key) -> (trained, frozen)`` parameters; ``reward(trained, frozen, obs [B, D],
    action [B, ...], next_obs [B, D]) -> [B]`` the raw (unnormalised) intrinsic reward;
    ``loss(trained, frozen, obs, action, next_obs, hp) -> (total, aux [k])`` on a minibatch,
    ``aux`` named by ``metric_names``. Observations arrive normalised.
    """

    init: Callable
    reward: Callable
    loss: Callable
    metric_names: tuple[str, ...]


class TwoHeads(NamedTuple):
    """The policy's distribution and the values ``[B, 2]`` (extrinsic, intrinsic)."""

    discrete: bool
    activation: str

    def __call__(self, params, obs):
        actor, critic = split_towers(params["ac"])
        out = apply_mlp(actor, obs, self.activation)
        v_ext = apply_mlp(critic, obs, self.activation)[..., 0]
        v_int = apply_mlp(params["int_value"], obs, self.activation)[..., 0]
        value = jnp.stack([v_ext, v_int], axis=-1)
        if self.discrete:
            return Categorical(out), value
        return DiagGaussian(out, params["ac"]["log_std"]), value


@struct.dataclass
class CuriosityState:
    ppo: ppo.PPOState  # the policy's state (its key drives every random draw)
    bonus: Any  # the bonus's trained parameters
    bonus_opt: Any
    frozen: Any  # the bonus's fixed parameters (RND's target network)
    obs_stats: RunningMeanStd  # of the observations the bonus reads
    return_stats: RunningMeanStd  # of the discounted intrinsic return (a scalar)
    int_return: jax.Array  # [E] each env's running discounted intrinsic return


def intrinsic_rewards(raw, int_return, return_stats: RunningMeanStd, int_gamma):
    """Raw bonuses ``[T, E]`` divided by the running standard deviation of the discounted
    intrinsic return -> ``(rewards [T, E], int_return [E], return_stats)``.

    ``R_t = int_gamma R_{t-1} + raw_t`` per env (``R`` carried in ``int_return``, never
    reset), the statistics updated with all ``T x E`` values of ``R`` before dividing.
    """

    def step(ret, r_t):
        ret = int_gamma * ret + r_t
        return ret, ret

    int_return, returns = jax.lax.scan(step, int_return, raw)
    return_stats = return_stats.update(returns.reshape(-1))
    return raw / jnp.sqrt(return_stats.var + 1e-8), int_return, return_stats


def advantages(net: TwoHeads, params, traj: ppo.Transition, last_obs, r_int, hp):
    """Extrinsic (episodic) and intrinsic (non-episodic) GAE -> ``(advantage [T, E], value
    targets [T, E, 2])``; the advantage is ``ext_coef * A_ext + int_coef * A_int``.

    Extrinsic: ``v(s_{t+1})`` is the value of each step's final observation, terminations
    cut the return. Intrinsic: ``v(s_{t+1})`` is the value of the next observation the
    policy saw (after a reset, the new episode's first; ``last_obs`` after the rollout), and
    nothing cuts the return.
    """
    _, v_final = net(params, traj.final_obs)
    _, v_last = net(params, last_obs)
    v_ext, v_int = traj.value[..., 0], traj.value[..., 1]
    v_int_tp1 = jnp.concatenate([v_int[1:], v_last[None, :, 1]], axis=0)
    gae = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)
    adv_ext = gae(traj.reward, v_ext, v_final[..., 0], traj.terminated, traj.done, hp.gamma,
                  hp.gae_lambda)  # fmt: skip
    never = jnp.zeros_like(traj.done)
    adv_int = gae(r_int, v_int, v_int_tp1, never, never, hp.int_gamma, hp.gae_lambda)
    targets = jnp.stack([adv_ext + v_ext, adv_int + v_int], axis=-1)
    return hp.ext_coef * adv_ext + hp.int_coef * adv_int, targets


def bonus_optimizer(hp) -> optax.GradientTransformation:
    return optax.adam(hp.bonus_lr, eps=hp.adam_eps)


def update(parts, state: CuriosityState, hp, env_params):
    """One update (module docstring) -> ``(state, metrics)``."""
    cfg, net, venv, bonus = parts.cfg, parts.net, parts.venv, parts.bonus
    pcfg = cfg.ppo_config()
    p = state.ppo
    key, k_rollout, k_perm, k_bonus = jax.random.split(p.key, 4)
    env_state, last_obs, traj = ppo.collect_rollout(
        net, venv, p.params, p.env_state, p.obs, k_rollout, cfg.num_steps, env_params
    )
    n, obs_dim = cfg.batch_size, traj.obs.shape[-1]
    obs_stats = state.obs_stats.update(traj.final_obs.reshape(n, obs_dim))
    obs_n = obs_stats.normalize(traj.obs.reshape(n, obs_dim), OBS_CLIP)
    next_n = obs_stats.normalize(traj.final_obs.reshape(n, obs_dim), OBS_CLIP)
    actions = traj.action.reshape((n,) + traj.action.shape[2:])
    raw = bonus.reward(state.bonus, state.frozen, obs_n, actions, next_n).reshape(traj.reward.shape)
    r_int, int_return, return_stats = intrinsic_rewards(
        raw, state.int_return, state.return_stats, hp.int_gamma
    )
    adv, target = advantages(net, p.params, traj, last_obs, r_int, hp)
    batch = ppo.Batch(traj.obs, traj.action, traj.log_prob, traj.value, adv, target)
    params, opt_state, losses = ppo.learn_batch(net, pcfg, p.params, p.opt_state, batch, hp,
                                                k_perm)  # fmt: skip

    perms = ppo.epoch_permutations(pcfg, k_bonus).reshape(-1, pcfg.minibatch_size)
    mbs = jax.tree.map(lambda x: x[perms], (obs_n, actions, next_n))

    def bonus_loss(trained, mb, hp):
        return bonus.loss(trained, state.frozen, *mb, hp)

    trained, bonus_opt, bonus_aux = ppo.sgd_steps(bonus_loss, bonus_optimizer(hp), state.bonus,
                                                  state.bonus_opt, mbs, hp)  # fmt: skip

    last_return, episodes = latest_return(p.last_return, traj.episode_return, traj.done)
    metrics = {"episode_return": last_return, "episodes": episodes,
               "intrinsic_reward": r_int.mean(), "raw_bonus": raw.mean()}  # fmt: skip
    metrics.update(zip(ppo.LOSS_NAMES, losses, strict=True))
    metrics.update(zip(bonus.metric_names, bonus_aux, strict=True))
    p = p.replace(params=params, opt_state=opt_state, env_state=env_state, obs=last_obs, key=key,
                  last_return=last_return)  # fmt: skip
    state = state.replace(ppo=p, bonus=trained, bonus_opt=bonus_opt, obs_stats=obs_stats,
                          return_stats=return_stats, int_return=int_return)  # fmt: skip
    return state, metrics


class Parts(NamedTuple):
    cfg: CuriosityConfig
    net: TwoHeads
    venv: Any
    bonus: Bonus
    obs_dim: int


def make_parts(config: CuriosityConfig, env, env_params, make_bonus: Callable) -> Parts:
    """The static parts; ``make_bonus(config, obs_dim, action_spec) -> Bonus``."""
    config.validate()
    venv = jenvs.stack(env, env_params, config.num_envs, normalize_obs=config.normalize_obs)
    spec = jenvs.action_spec(env, env_params)
    obs_dim = venv.observation_space(env_params).shape[0]
    net = TwoHeads(spec.discrete, config.activation)
    return Parts(config, net, venv, make_bonus(config, obs_dim, spec), obs_dim)


def init_params(parts: Parts, key, spec_dim: int, continuous: bool) -> dict:
    k_ac, k_int = jax.random.split(key)
    cfg = parts.cfg
    ac = init_actor_critic(k_ac, parts.obs_dim, spec_dim, cfg.hidden, continuous)
    int_value = init_mlp(k_int, (parts.obs_dim, *cfg.hidden, 1))
    return {"ac": ac, "int_value": int_value}


def make_learner(config: CuriosityConfig, env, env_params, make_bonus: Callable,
                 hparams=None, hparam_ranges=HPARAM_RANGES) -> Learner:  # fmt: skip
    """PPO with the intrinsic reward of ``make_bonus`` on ``env`` (module docstring);
    ``hparams`` (default :class:`CuriosityHParams`) has at least its fields.

    Raises:
      ValueError: an invalid config, naming the field.
    """
    parts = make_parts(config, env, env_params, make_bonus)
    cfg, venv, net = parts.cfg, parts.venv, parts.net
    spec = jenvs.action_spec(env, env_params)
    pcfg = cfg.ppo_config()

    def init(key, hp, env_params, data):
        k_init, k_bonus, k_reset, k_run = jax.random.split(key, 4)
        params = init_params(parts, k_init, spec.dim, not spec.discrete)
        trained, frozen = parts.bonus.init(k_bonus)
        obs, env_state = venv.reset(k_reset, env_params)
        p = ppo.PPOState(params=params, opt_state=ppo.make_optimizer(pcfg, hp).init(params),
                         env_state=env_state, obs=obs, key=k_run,
                         last_return=jnp.zeros((), jnp.float32))  # fmt: skip
        return CuriosityState(
            ppo=p,
            bonus=trained,
            bonus_opt=bonus_optimizer(hp).init(trained),
            frozen=frozen,
            obs_stats=RunningMeanStd.create((parts.obs_dim,)),
            return_stats=RunningMeanStd.create(()),
            int_return=jnp.zeros((cfg.num_envs,)),
        )

    def save(state: CuriosityState) -> dict:
        saved = {"net": state.ppo.params}
        if cfg.normalize_obs:
            saved["obs_stats"] = state.ppo.env_state.obs_stats
        return saved

    def act(saved, obs, key, carry, env_state, greedy: bool):
        if cfg.normalize_obs:
            obs = saved["obs_stats"].normalize(obs)
        dist, _ = net(saved["net"], obs)
        return (dist.mode() if greedy else dist.sample(key)), carry

    return Learner(
        config=cfg,
        hparams=CuriosityHParams() if hparams is None else hparams,
        init=init,
        update=lambda state, hp, env_params, data: update(parts, state, hp, env_params),
        policy=Policy(act),
        save=save,
        num_updates=pcfg.num_updates,
        steps_per_update=cfg.batch_size,
        env=env,
        env_params=env_params,
        hparam_ranges=hparam_ranges,
    )
