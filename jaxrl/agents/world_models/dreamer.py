"""Dreamer: an actor-critic trained on the imagined rollouts of a learned world model.

Hafner et al., "Mastering Diverse Domains through World Models" (DreamerV3, 2023,
arXiv:2301.04104), small, in one jitted, vmappable loop on the learner contract:

- World model: a recurrent state-space model (RSSM). The deterministic state ``h_t`` is a GRU
  (:class:`jaxrl.networks.recurrent.Core`, stepped one step at a time: imagination has no
  input sequence to project ahead) over ``(z_{t-1}, a_{t-1})``; the stochastic state ``z_t``
  is ``stoch`` categorical latents of ``classes`` classes each (one-hot, straight-through
  gradients, 1 % uniform mix), drawn from the prior ``p(z_t | h_t)`` in imagination and from
  the posterior ``q(z_t | h_t, x_t)`` when the observation is seen. Heads on ``(h_t, z_t)``
  decode ``symlog(x_t)`` (squared error), the reward (two-hot over a symlog support) and the
  continue flag (Bernoulli).
- KL balancing with free bits: ``dyn_scale max(free, KL(sg(q) || p)) + rep_scale max(free,
  KL(q || sg(p)))`` (:func:`kl_balance_loss`).
- Actor-critic in imagination: from every posterior state of a replayed batch (or a random
  ``imagine_starts`` of them), ``horizon``
  steps of the actor in the prior (no observation is read after the start state), rewards and
  continues from the heads, lambda-returns (:func:`lambda_returns`) bootstrapped with a slow
  (EMA) critic. The critic is a two-hot categorical over symlog returns regularised towards
  the slow critic; the actor is REINFORCE on the returns normalised by ``max(1, S)``, with
  ``S`` an EMA of the 95th minus the 5th percentile of the returns, plus an entropy bonus.
  Discrete actions: a categorical actor; continuous: a Gaussian with tanh mean and bounded std.

The replay stores transitions ``(x_t, a_t, r_t, terminated_t, done_t, x_{t+1})`` as every
replay learner here does (``x_{t+1}`` the true next observation, also at an episode end): the
model's state after ``a_t`` is the posterior of ``x_{t+1}``, and it starts again from
``h = 0`` (the posterior of the first observation) after ``done_t`` and at the start of a
sampled sequence. The trained policy keeps ``(h, z, previous action)`` as its carry.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import (
    require,
    require_choice,
    require_nonnegative_int,
    require_positive_ints,
    require_update_schedule,
)
from jaxrl.distributions import Categorical, DiagGaussian
from jaxrl.learner import Learner, Policy, ReplaySchedule, latest_return, trainer
from jaxrl.losses import lambda_returns, symexp, symlog, two_hot, two_hot_decode
from jaxrl.networks import ACTIVATIONS, apply_mlp, init_mlp
from jaxrl.networks.recurrent import Core, reset_where

SYMLOG_BOUND = 20.0  # the two-hot support of rewards and values spans symlog values [-20, 20]


@dataclasses.dataclass(frozen=True)
class DreamerConfig(ReplaySchedule):
    """Static configuration (changing one recompiles).

    One gradient step (world model, then actor and critic) follows every ``train_every``
    steps of the ``num_envs`` envs: ``num_envs * train_every / gradient_steps`` env steps per
    gradient step. ``log_every`` env steps make one reported update.
    """

    num_envs: int = 4
    """Environments stepped in lockstep in each run."""
    total_steps: int = 100_000
    """Env steps per run (per seed), rounded down to whole multiples of log_every."""
    learning_starts: int = 1_024
    """Env steps of uniformly random actions before the first gradient step."""
    buffer_size: int = 100_000
    """Replay capacity in transitions (all envs together)."""
    batch_size: int = 16
    """Sequences per gradient step."""
    sequence_length: int = 32
    """Consecutive steps of one env per replayed sequence."""
    train_every: int = 4
    """Steps of every env between two rounds of gradient steps."""
    gradient_steps: int = 1
    """Gradient steps per round."""
    log_every: int = 1_024
    """Env steps per reported update (one row of metrics, one progress tick)."""
    deter: int = 64
    """Units of the deterministic (GRU) state h."""
    stoch: int = 8
    """Categorical latents in the stochastic state z."""
    classes: int = 8
    """Classes of each categorical latent."""
    hidden: int = 64
    """Width of every hidden layer (encoder, heads, actor, critic)."""
    horizon: int = 15
    """Imagined steps per start state for the actor-critic."""
    imagine_starts: int = 0
    """Start states of the imagined rollouts per gradient step, drawn without replacement
    from the batch's ``batch_size * sequence_length`` posterior states; 0: every one. Fewer
    starts make a gradient step cheaper (imagination is most of its cost) for a higher
    replay ratio at the same wall time."""
    num_bins: int = 63
    """Bins of the two-hot reward and value heads (symlog support [-20, 20])."""
    unimix: float = 0.01
    """Uniform mixture in the latents' class probabilities (keeps the KL finite)."""
    activation: str = "silu"
    """Hidden activation: relu, tanh, gelu or silu."""

    def validate(self) -> None:
        require_positive_ints(self, ("num_envs", "total_steps", "buffer_size", "batch_size",
                                     "sequence_length", "train_every", "gradient_steps",
                                     "log_every", "deter", "stoch", "classes", "hidden",
                                     "horizon"))  # fmt: skip
        require_nonnegative_int(self, "learning_starts")
        require_nonnegative_int(self, "imagine_starts")
        require(
            self.imagine_starts <= self.batch_size * self.sequence_length,
            "imagine_starts",
            f"{self.imagine_starts} is more than the batch's batch_size*sequence_length="
            f"{self.batch_size * self.sequence_length} posterior states",
        )
        require(
            isinstance(self.num_bins, int) and self.num_bins >= 2,
            "num_bins",
            f"must be an int >= 2, got {self.num_bins}",
        )
        require_update_schedule(self, "num_envs*train_every")
        require(
            self.buffer_size // self.num_envs >= self.sequence_length,
            "buffer_size",
            f"{self.buffer_size} holds fewer than sequence_length={self.sequence_length} "
            "steps per env",
        )
        require(
            self.learning_starts // self.num_envs >= self.sequence_length,
            "learning_starts",
            f"{self.learning_starts} gives each of num_envs={self.num_envs} envs fewer than "
            f"sequence_length={self.sequence_length} steps before the first gradient step",
        )
        require(0.0 <= self.unimix < 1.0, "unimix", f"must be in [0, 1), got {self.unimix}")
        require_choice("activation", self.activation, ACTIVATIONS)


class DreamerHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    model_lr: float = 1e-3
    """Adam's learning rate for the world model."""
    actor_lr: float = 1e-4
    """Adam's learning rate for the actor (3e-4 balances CartPole sooner and then loses it:
    BENCHMARKS.md, World models)."""
    critic_lr: float = 3e-4
    """Adam's learning rate for the critic."""
    gamma: float = 0.99
    """Discount of the imagined returns."""
    lambda_: float = 0.95
    """Lambda of the imagined lambda-returns."""
    ent_coef: float = 3e-3
    """Entropy bonus of the actor (on returns normalised to about [0, 1])."""
    free_nats: float = 1.0
    """Free bits: KL terms below this many nats (summed over latents) are not penalised."""
    dyn_scale: float = 0.5
    """Weight of the dynamics KL, KL(sg(posterior) || prior): trains the prior."""
    rep_scale: float = 0.1
    """Weight of the representation KL, KL(posterior || sg(prior)): trains the posterior."""
    slow_critic_tau: float = 0.02
    """Fraction of the way the slow critic moves to the critic per gradient step."""
    return_decay: float = 0.99
    """EMA decay of the return scale (95th minus 5th percentile of imagined returns)."""
    max_grad_norm: float = 100.0
    """Global gradient-norm clip of each of the three optimisers."""


HPARAM_RANGES = {
    "model_lr": "> 0",
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "gamma": "[0, 1]",
    "lambda_": "[0, 1]",
    "ent_coef": ">= 0",
    "free_nats": ">= 0",
    "dyn_scale": ">= 0",
    "rep_scale": ">= 0",
    "slow_critic_tau": "(0, 1]",
    "return_decay": "[0, 1)",
    "max_grad_norm": "> 0",
}


# ----------------------------------------------------------------------------- losses


def kl_balance_loss(post_logits, prior_logits, free_nats, dyn_scale, rep_scale):
    """DreamerV3's KL balancing with free bits.

    Args:
      post_logits, prior_logits: ``[..., stoch, classes]`` log-probabilities (or logits) of
        the posterior ``q`` and the prior ``p``.
      free_nats, dyn_scale, rep_scale: scalars.

    Returns:
      ``(loss [...], kl [...])`` with ``kl = sum_latents KL(q || p)`` and ``loss =
      dyn_scale max(free_nats, KL(sg(q) || p)) + rep_scale max(free_nats, KL(q || sg(p)))``:
      the same value twice, whose gradients train the prior towards the posterior (dyn) and,
      more weakly, the posterior towards the prior (rep).
    """
    log_q = jax.nn.log_softmax(post_logits, axis=-1)
    log_p = jax.nn.log_softmax(prior_logits, axis=-1)

    def kl(log_a, log_b):
        return jnp.sum(jnp.exp(log_a) * (log_a - log_b), axis=(-2, -1))

    sg = jax.lax.stop_gradient
    dyn = jnp.maximum(kl(sg(log_q), log_p), free_nats)
    rep = jnp.maximum(kl(log_q, sg(log_p)), free_nats)
    return dyn_scale * dyn + rep_scale * rep, kl(log_q, log_p)


def _two_hot(x, num_bins):
    """Two-hot of ``symlog(x) [...]`` over the symlog support: ``[..., num_bins]``."""
    flat = jax.vmap(lambda v: two_hot(v, -SYMLOG_BOUND, SYMLOG_BOUND, num_bins))
    return flat(symlog(x).reshape(-1)).reshape(x.shape + (num_bins,))


def _decode(logits, num_bins):
    """The scalar a two-hot head ``[..., num_bins]`` predicts: ``symexp(E[symlog x])``."""
    probs = jax.nn.softmax(logits, axis=-1)
    return symexp(two_hot_decode(probs, -SYMLOG_BOUND, SYMLOG_BOUND, num_bins))


def _cross_entropy(target_probs, logits):
    return -jnp.sum(target_probs * jax.nn.log_softmax(logits, axis=-1), axis=-1)


# ----------------------------------------------------------------------------- the model


class Latent(NamedTuple):
    """The RSSM's state: deterministic ``h [..., deter]`` and one-hot ``z [..., stoch *
    classes]``."""

    h: jax.Array
    z: jax.Array


class Carry(NamedTuple):
    """The policy's memory: the latent state, the previous action (one-hot for discrete
    actions) and whether the episode has begun (false: the next observation is its first)."""

    h: jax.Array
    z: jax.Array
    action: jax.Array
    started: jax.Array


class Model(NamedTuple):
    """The static shapes and the pure functions of one Dreamer."""

    cfg: DreamerConfig
    spec: jenvs.ActionSpec
    obs_dim: int
    core: Core

    @property
    def act_dim(self) -> int:
        return self.spec.dim

    @property
    def latent_dim(self) -> int:
        return self.cfg.stoch * self.cfg.classes

    @property
    def feat_dim(self) -> int:
        return self.cfg.deter + self.latent_dim

    # ---- parameters

    def init(self, key):
        cfg, hid = self.cfg, self.cfg.hidden
        ks = jax.random.split(key, 10)
        out = self.act_dim if self.spec.discrete else 2 * self.act_dim
        world = {
            "enc": init_mlp(ks[0], (self.obs_dim, hid, hid)),
            "img_in": init_mlp(ks[1], (self.latent_dim + self.act_dim, hid)),
            "gru": self.core.init(ks[2], hid),
            "prior": init_mlp(ks[3], (cfg.deter, hid, self.latent_dim)),
            "post": init_mlp(ks[4], (cfg.deter + hid, hid, self.latent_dim)),
            "dec": init_mlp(ks[5], (self.feat_dim, hid, hid, self.obs_dim)),
            "rew": init_mlp(ks[6], (self.feat_dim, hid, cfg.num_bins), head_scale=0.0),
            "cont": init_mlp(ks[7], (self.feat_dim, hid, 1)),
        }
        actor = init_mlp(ks[8], (self.feat_dim, hid, hid, out), head_scale=0.01)
        critic = init_mlp(ks[9], (self.feat_dim, hid, hid, cfg.num_bins), head_scale=0.0)
        return {"world": world, "actor": actor, "critic": critic}

    def mlp(self, layers, x):
        return apply_mlp(layers, x, self.cfg.activation)

    # ---- latents

    def latent_logits(self, raw):
        """Raw head outputs ``[..., stoch * classes]`` -> log-probabilities ``[..., stoch,
        classes]`` with the uniform mix."""
        cfg = self.cfg
        probs = jax.nn.softmax(raw.reshape(raw.shape[:-1] + (cfg.stoch, cfg.classes)), axis=-1)
        probs = (1.0 - cfg.unimix) * probs + cfg.unimix / cfg.classes
        return jnp.log(probs)

    def sample_latent(self, key, logits, mode: bool = False):
        """One-hot latents ``[..., stoch * classes]`` (straight-through gradients)."""
        probs = jnp.exp(logits)
        if mode:
            index = jnp.argmax(logits, axis=-1)
        else:
            index = jax.random.categorical(key, logits)
        onehot = jax.nn.one_hot(index, self.cfg.classes)
        onehot = onehot + probs - jax.lax.stop_gradient(probs)
        return onehot.reshape(onehot.shape[:-2] + (self.latent_dim,))

    def action_vector(self, action):
        """What the model reads of an action: one-hot (discrete) or the vector itself."""
        if self.spec.discrete:
            return jax.nn.one_hot(action, self.act_dim)
        return action

    def embed(self, world, obs):
        return self.mlp(world["enc"], symlog(obs))

    def deter_step(self, world, latent: Latent, action_vec):
        """``h_{t+1} = GRU(h_t, [z_t, a_t])``."""
        x = ACTIVATIONS[self.cfg.activation](
            self.mlp(world["img_in"], jnp.concatenate([latent.z, action_vec], -1))
        )
        h, _ = self.core(world["gru"], latent.h, x)
        return h

    def prior_logits(self, world, h):
        return self.latent_logits(self.mlp(world["prior"], h))

    def post_logits(self, world, h, embed):
        return self.latent_logits(self.mlp(world["post"], jnp.concatenate([h, embed], -1)))

    def img_step(self, world, latent: Latent, action_vec, key, mode: bool = False):
        """One step in imagination: the deterministic step, then ``z`` from the prior."""
        h = self.deter_step(world, latent, action_vec)
        return Latent(h, self.sample_latent(key, self.prior_logits(world, h), mode))

    def first_latent(self, world, embed, key, mode: bool = False):
        """The posterior state of an episode's first observation (``h = 0``)."""
        h = jnp.zeros(embed.shape[:-1] + (self.cfg.deter,))
        return Latent(h, self.sample_latent(key, self.post_logits(world, h, embed), mode))

    @staticmethod
    def features(latent: Latent):
        return jnp.concatenate([latent.h, latent.z], -1)

    # ---- actor

    def actor_dist(self, actor, feat):
        out = self.mlp(actor, feat)
        if self.spec.discrete:
            return Categorical(out)
        mean, raw_std = jnp.split(out, 2, axis=-1)
        std = 0.9 * jax.nn.sigmoid(raw_std + 2.0) + 0.1
        return DiagGaussian(jnp.tanh(mean), jnp.log(std))

    def env_action(self, action):
        """The action as the model and the env see it (continuous clipped into [-1, 1])."""
        return action if self.spec.discrete else jnp.clip(action, -1.0, 1.0)

    def value(self, critic, feat):
        return _decode(self.mlp(critic, feat), self.cfg.num_bins)


# ----------------------------------------------------------------------------- world model


class Observed(NamedTuple):
    """The posterior pass over a batch of sequences, time-major ``[T, B, ...]``."""

    latent: Latent  # the state after each step's action, the posterior of x_{t+1}
    first: Latent  # the posterior of x_t at h = 0 (an episode's first state), for every t
    post_logits: jax.Array
    prior_logits: jax.Array


def observe(model: Model, world, items, key) -> Observed:
    """The RSSM over replayed transitions ``items`` (time-major ``[T, B, ...]``).

    The state before step ``t`` is the posterior of ``x_t`` at ``h = 0`` where ``t = 0`` or
    ``done_{t-1}`` (a new episode), else the state after step ``t - 1``.
    """
    T = items.obs.shape[0]
    k_first, k_steps = jax.random.split(key)
    first = model.first_latent(world, model.embed(world, items.obs), k_first)
    embed_next = model.embed(world, items.next_obs)
    reset = jnp.concatenate([jnp.ones_like(items.done[:1]), items.done[:-1]], axis=0)
    action_vec = model.action_vector(items.action)

    def step(latent, xs):
        first_t, reset_t, a_t, e_t, k_t = xs
        latent = reset_where(reset_t, first_t, latent)
        h = model.deter_step(world, latent, a_t)
        prior = model.prior_logits(world, h)
        post = model.post_logits(world, h, e_t)
        nxt = Latent(h, model.sample_latent(k_t, post))
        return nxt, (nxt, post, prior)

    start = jax.tree.map(lambda x: x[0], first)
    xs = (first, reset, action_vec, embed_next, jax.random.split(k_steps, T))
    _, (latent, post, prior) = jax.lax.scan(step, start, xs)
    return Observed(latent, first, post, prior)


def world_model_loss(model: Model, world, items, key, hp):
    """The world model's loss on a batch (time-major) -> ``(loss, (observed, metrics))``."""
    cfg = model.cfg
    out = observe(model, world, items, key)
    feat = model.features(out.latent)
    recon = jnp.sum((model.mlp(world["dec"], feat) - symlog(items.next_obs)) ** 2, -1)
    # Every observation is also decoded from its first-state posterior (h = 0), where the
    # policy and open-loop predictions start: else that posterior would be trained only at
    # the few episode and sequence starts of a batch.
    first_feat = model.features(out.first)
    recon += jnp.sum((model.mlp(world["dec"], first_feat) - symlog(items.obs)) ** 2, -1)
    reward_loss = _cross_entropy(
        _two_hot(items.reward.astype(jnp.float32), cfg.num_bins), model.mlp(world["rew"], feat)
    )
    cont_logit = model.mlp(world["cont"], feat)[..., 0]
    cont_target = 1.0 - items.terminated.astype(jnp.float32)
    cont_loss = optax.sigmoid_binary_cross_entropy(cont_logit, cont_target)
    kl_loss, kl = kl_balance_loss(out.post_logits, out.prior_logits, hp.free_nats,
                                  hp.dyn_scale, hp.rep_scale)  # fmt: skip
    loss = jnp.mean(recon + reward_loss + cont_loss + kl_loss)
    term = items.terminated.astype(jnp.float32)
    cont_prob = jax.nn.sigmoid(cont_logit)
    metrics = {"model_loss": loss, "recon_loss": recon.mean(), "reward_loss": reward_loss.mean(),
               "cont_loss": cont_loss.mean(), "kl": kl.mean(),
               "cont_terminal_mass": jnp.mean(cont_prob * term),
               "cont_elsewhere": jnp.sum(cont_prob * (1 - term)) / jnp.maximum(
                   (1 - term).sum(), 1.0),
               "terminal_frac": term.mean()}  # fmt: skip
    return loss, (out, metrics)


# ----------------------------------------------------------------------------- imagination


def imagine(model: Model, world, actor, start: Latent, key, horizon: int):
    """``horizon`` steps of the actor in the model from ``start`` (``[N, ...]``), reading no
    observation: ``(latents [horizon + 1, N, ...], actions [horizon, N, ...])``, without
    gradients (the actor learns by REINFORCE)."""
    world, actor, start = jax.lax.stop_gradient((world, actor, start))

    def step(latent, k):
        k_a, k_z = jax.random.split(k)
        action = model.actor_dist(actor, model.features(latent)).sample(k_a)
        nxt = model.img_step(world, latent, model.action_vector(model.env_action(action)), k_z)
        return nxt, (latent, action)

    last, (latents, actions) = jax.lax.scan(step, start, jax.random.split(key, horizon))
    latents = jax.tree.map(lambda xs, x: jnp.concatenate([xs, x[None]]), latents, last)
    return latents, actions


def behaviour_loss(model: Model, world, params, slow_critic, ret_scale, latents, actions, hp):
    """The actor's and the critic's losses (``params``: ``{"actor", "critic"}``) on an imagined
    trajectory (``latents [H + 1, N]``, ``actions [H, N]``) of the world model ``world`` ->
    ``(loss, (new return scale, metrics))``."""
    cfg, world = model.cfg, jax.lax.stop_gradient(world)
    feat = model.features(latents)
    reward = _decode(model.mlp(world["rew"], feat[1:]), cfg.num_bins)
    cont = jax.nn.sigmoid(model.mlp(world["cont"], feat[1:])[..., 0])
    slow_v = model.value(slow_critic, feat)
    returns = lambda_returns(reward, hp.gamma * cont, slow_v, hp.lambda_)
    weight = jnp.concatenate([jnp.ones_like(cont[:1]), jnp.cumprod(cont[:-1], axis=0)], axis=0)

    spread = jnp.percentile(returns, 95) - jnp.percentile(returns, 5)
    scale = hp.return_decay * ret_scale + (1.0 - hp.return_decay) * spread
    critic_logits = model.mlp(params["critic"], feat[:-1])
    baseline = _decode(jax.lax.stop_gradient(critic_logits), cfg.num_bins)
    adv = jax.lax.stop_gradient((returns - baseline) / jnp.maximum(1.0, scale))
    dist = model.actor_dist(params["actor"], feat[:-1])
    entropy = dist.entropy()
    actor_loss = -jnp.mean(weight * (adv * dist.log_prob(actions) + hp.ent_coef * entropy))

    target = jax.lax.stop_gradient(_two_hot(returns, cfg.num_bins))
    slow_probs = jax.nn.softmax(model.mlp(slow_critic, feat[:-1]), axis=-1)
    critic_ce = _cross_entropy(target, critic_logits) + _cross_entropy(slow_probs, critic_logits)
    critic_loss = jnp.mean(weight * critic_ce)
    metrics = {"actor_loss": actor_loss, "critic_loss": critic_loss, "entropy": entropy.mean(),
               "imagined_return": returns[0].mean(), "return_scale": scale,
               "return_spread": spread, "advantage_abs": jnp.mean(jnp.abs(adv)),
               "imagined_alive": (weight[-1] * cont[-1]).mean()}  # fmt: skip
    return actor_loss + critic_loss, (scale, metrics)


# ----------------------------------------------------------------------------- the loop


class Transition(NamedTuple):
    """One env step in replay (``next_obs`` the true next observation, also at an end)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    next_obs: jax.Array


@struct.dataclass
class DreamerState:
    params: Any  # {"world", "actor", "critic"}
    slow_critic: Any
    opt_state: Any  # {"world", "actor", "critic"}
    ret_scale: jax.Array
    buffer: buffers.BufferState
    env_state: Any
    obs: jax.Array
    carry: Carry
    key: jax.Array
    env_steps: jax.Array
    grad_steps: jax.Array
    last_return: jax.Array


def _optimizer(lr, hp):
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr))


def _optimizers(hp):
    return {"world": _optimizer(hp.model_lr, hp), "actor": _optimizer(hp.actor_lr, hp),
            "critic": _optimizer(hp.critic_lr, hp)}  # fmt: skip


def train_step(model: Model, state: DreamerState, batch, key, hp):
    """One gradient step of the world model on ``batch`` (``[B, T, ...]``), then of the actor
    and the critic on imagined rollouts from the batch's posterior states (every one, or
    ``imagine_starts`` of them drawn without replacement)."""
    k_wm, k_img = jax.random.split(key)
    items = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), batch)
    opts = _optimizers(hp)
    params = state.params
    (_, (observed, wm_metrics)), grads = jax.value_and_grad(
        functools.partial(world_model_loss, model), has_aux=True
    )(params["world"], items, k_wm, hp)
    updates, wm_opt = opts["world"].update(grads, state.opt_state["world"], params["world"])
    world = optax.apply_updates(params["world"], updates)

    start = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), observed.latent)
    if model.cfg.imagine_starts:
        k_start = jax.random.fold_in(k_img, 1)  # the default's streams stay as they were
        pick = jax.random.permutation(k_start, start.h.shape[0])[: model.cfg.imagine_starts]
        start = jax.tree.map(lambda x: x[pick], start)
    latents, actions = imagine(model, params["world"], params["actor"], start, k_img,
                               model.cfg.horizon)  # fmt: skip
    world_params = params["world"]
    ac = {"actor": params["actor"], "critic": params["critic"]}
    (_, (scale, ac_metrics)), grads = jax.value_and_grad(
        lambda p: behaviour_loss(model, world_params, p, state.slow_critic, state.ret_scale,
                                 latents, actions, hp), has_aux=True,
    )(ac)  # fmt: skip
    new_opt = {"world": wm_opt}
    new_params = {"world": world}
    for name in ("actor", "critic"):
        updates, new_opt[name] = opts[name].update(grads[name], state.opt_state[name],
                                                   params[name])  # fmt: skip
        new_params[name] = optax.apply_updates(params[name], updates)
    tau = hp.slow_critic_tau
    slow = jax.tree.map(lambda s, c: (1.0 - tau) * s + tau * c, state.slow_critic,
                        new_params["critic"])  # fmt: skip
    state = state.replace(params=new_params, slow_critic=slow, opt_state=new_opt,
                          ret_scale=scale, grad_steps=state.grad_steps + 1)  # fmt: skip
    return state, {**wm_metrics, **ac_metrics}


# Diagnostics beside the losses: ``terminal_frac`` (replayed transitions that terminate),
# ``cont_terminal_mass`` (the continue head's probability summed over those, per transition:
# divided by ``terminal_frac`` it is the mean continue predicted at a real termination),
# ``cont_elsewhere`` (the mean continue predicted at the other transitions), ``return_spread``
# (the batch's 95th minus 5th percentile of imagined returns, before the EMA),
# ``advantage_abs`` (mean |normalised advantage|) and ``imagined_alive`` (the predicted
# probability that an imagined rollout survives its horizon).
METRIC_NAMES = ("model_loss", "recon_loss", "reward_loss", "cont_loss", "kl", "cont_terminal_mass",
                "cont_elsewhere", "terminal_frac", "actor_loss", "critic_loss", "entropy",
                "imagined_return", "return_scale", "return_spread", "advantage_abs",
                "imagined_alive")  # fmt: skip


def policy_step(model: Model, saved, obs, key, carry: Carry, greedy: bool,
                mode_latents: bool | None = None):  # fmt: skip
    """The policy: the posterior of ``obs`` after the carry's state and action, then the
    actor -> ``(action in agent units [B, ...], carry)``. ``greedy`` takes the actor's mode,
    and the posterior's too unless ``mode_latents`` says otherwise."""
    world = saved["world"]
    k_z, k_a = jax.random.split(key)
    embed = model.embed(world, obs)
    h_next = model.deter_step(world, Latent(carry.h, carry.z), carry.action)
    h = jnp.where(carry.started[:, None], h_next, 0.0)
    mode_z = greedy if mode_latents is None else mode_latents
    z = model.sample_latent(k_z, model.post_logits(world, h, embed), mode=mode_z)
    dist = model.actor_dist(saved["actor"], model.features(Latent(h, z)))
    action = model.env_action(dist.mode() if greedy else dist.sample(k_a))
    started = jnp.ones_like(carry.started)
    return action, Carry(h, z, model.action_vector(action), started)


def init_carry(model: Model, batch: int) -> Carry:
    return Carry(
        h=jnp.zeros((batch, model.cfg.deter)),
        z=jnp.zeros((batch, model.latent_dim)),
        action=jnp.zeros((batch, model.act_dim)),
        started=jnp.zeros((batch,), bool),
    )


def open_loop_predict(model: Model, saved, obs, actions, key):
    """Predicted observations from the first one and the actions alone.

    Args:
      saved: the saved params (``learner.save(state)``).
      obs: ``[B, H + 1, D]`` real observations; only ``obs[:, 0]`` is read.
      actions: ``[B, H, ...]`` the actions taken after each (agent units: indices, or
        ``[-1, 1]`` vectors).
      key: PRNG key (latents are sampled from the prior, as in imagination).

    Returns:
      ``[B, H, D]``: the model's prediction of ``obs[:, 1:]`` (decoded from symlog space).
    """
    world = saved["world"]
    k0, k_steps = jax.random.split(key)
    latent = model.first_latent(world, model.embed(world, obs[:, 0]), k0)
    action_vec = model.action_vector(model.env_action(jnp.swapaxes(actions, 0, 1)))

    def step(latent, xs):
        a, k = xs
        nxt = model.img_step(world, latent, a, k)
        return nxt, symexp(model.mlp(world["dec"], model.features(nxt)))

    H = actions.shape[1]
    _, pred = jax.lax.scan(step, latent, (action_vec, jax.random.split(k_steps, H)))
    return jnp.swapaxes(pred, 0, 1)


def open_loop_predictor(learner: Learner):
    """``predict(saved, obs [B, H + 1, D], actions [B, H, ...], key) -> [B, H, D]`` for a
    Dreamer learner, with actions in env units (as ``learner.policy.act`` returns them):
    :func:`open_loop_predict`, which reads ``obs[:, 0]`` only."""
    model = make_model(learner.config, learner.env, learner.env_params)
    spec = model.spec

    def predict(saved, obs, actions, key):
        if not spec.discrete:  # back from the env's box to [-1, 1]
            actions = 2.0 * (actions - spec.low) / (spec.high - spec.low) - 1.0
        return open_loop_predict(model, saved, obs, actions, key)

    return predict


class Loop(NamedTuple):
    model: Model
    venv: Any
    buffer: buffers.ReplayBuffer


def env_step(loop: Loop, state: DreamerState, prepared_t, key, env_params):
    """One vector step: act (uniformly at random before ``learning_starts``), step, store."""
    model, cfg = loop.model, loop.model.cfg
    k_act, k_random = jax.random.split(key)
    action, carry = policy_step(model, state.params, state.obs, k_act, state.carry, False)
    warmup = state.env_steps < cfg.learning_starts
    action = jnp.where(warmup, model.spec.random(k_random, cfg.num_envs), action)
    carry = carry._replace(action=model.action_vector(action))
    next_obs, env_state, reward, terminated, truncated, info = loop.venv.step_prepared(
        prepared_t, state.env_state, model.spec.to_env(action), env_params
    )
    done = terminated | truncated
    tr = Transition(state.obs, action, reward, terminated, done, info["final_observation"])
    carry = reset_where(done, init_carry(model, cfg.num_envs), carry)
    state = state.replace(buffer=loop.buffer.add(state.buffer, tr), env_state=env_state,
                          obs=next_obs, carry=carry,
                          env_steps=state.env_steps + cfg.num_envs)  # fmt: skip
    ended = info["returned_episode"]
    return state, (jnp.sum(info["episode_return"] * ended), jnp.sum(ended))


def _train(loop: Loop, state: DreamerState, key, hp):
    def one(state, k):
        k_sample, k_step = jax.random.split(k)
        batch = loop.buffer.sample(state.buffer, k_sample).items
        return train_step(loop.model, state, batch, k_step, hp)

    keys = jax.random.split(key, loop.model.cfg.gradient_steps)
    state, metrics = jax.lax.scan(one, state, keys)
    return state, jax.tree.map(jnp.mean, metrics)


def _no_train(loop: Loop, state: DreamerState, key, hp):
    return state, {k: jnp.zeros(()) for k in METRIC_NAMES}


def iteration(loop: Loop, carry, xs):
    """``train_every`` vector steps, then a train phase once ``learning_starts`` steps are
    in the buffer (a ``lax.scan`` body over iterations)."""
    state, hp, env_params = carry
    prepared, key = xs
    k_env, k_train = jax.random.split(key)

    def one_step(state, xs_t):
        return env_step(loop, state, xs_t[0], xs_t[1], env_params)

    env_keys = jax.random.split(k_env, loop.model.cfg.train_every)
    state, (ret_sum, n_done) = jax.lax.scan(one_step, state, (prepared, env_keys))
    learn = state.env_steps >= loop.model.cfg.learning_starts
    train, skip = functools.partial(_train, loop), functools.partial(_no_train, loop)
    state, metrics = jax.lax.cond(learn, train, skip, state, k_train, hp)
    metrics = {**metrics, "trained": learn.astype(jnp.float32)}
    return (state, hp, env_params), (ret_sum.sum(), n_done.sum(), metrics)


def update(loop: Loop, state: DreamerState, hp, env_params):
    """``log_every`` env steps: one reported update -> ``(state, metrics)``."""
    cfg = loop.model.cfg
    n_iter = cfg.iterations_per_update
    key, k_prep, k_iter = jax.random.split(state.key, 3)
    prepared = loop.venv.prepare(k_prep, n_iter * cfg.train_every, env_params)
    prepared = jax.tree.map(lambda x: x.reshape((n_iter, cfg.train_every) + x.shape[1:]), prepared)
    (state, _, _), (ret_sum, n_done, metrics) = jax.lax.scan(
        functools.partial(iteration, loop),
        (state.replace(key=key), hp, env_params),
        (prepared, jax.random.split(k_iter, n_iter)),
    )
    episodes = n_done.sum()
    mean_return = ret_sum.sum() / jnp.maximum(episodes, 1)
    last_return, _ = latest_return(state.last_return, mean_return, episodes > 0)
    trained = jnp.maximum(metrics.pop("trained").sum(), 1.0)
    out = {k: v.sum() / trained for k, v in metrics.items()}
    out.update(episode_return=last_return, episodes=episodes)
    return state.replace(last_return=last_return), out


def make_model(config: DreamerConfig, env, env_params) -> Model:
    """The static model of ``config`` on ``env`` (validates ``config``)."""
    config.validate()
    spec = jenvs.action_spec(env, env_params)
    return Model(config, spec, jenvs.observation_size(env, env_params),
                 Core("gru", config.deter))  # fmt: skip


def make_learner(config: DreamerConfig, env, env_params) -> Learner:
    """Dreamer on ``env`` (discrete or continuous actions).

    Raises:
      ValueError: invalid config (naming the field).
    """
    model = make_model(config, env, env_params)
    cfg = model.cfg
    venv = jenvs.stack(env, env_params, cfg.num_envs, clip_actions=False)
    buffer = buffers.make_uniform(cfg.buffer_size, cfg.num_envs, cfg.batch_size,
                                  sequence_length=cfg.sequence_length)  # fmt: skip
    loop = Loop(model, venv, buffer)
    spec = model.spec
    example = Transition(
        obs=jnp.zeros((model.obs_dim,)),
        action=jnp.zeros(() if spec.discrete else (spec.dim,), jnp.int32 if spec.discrete
                         else jnp.float32),
        reward=jnp.zeros(()),
        terminated=jnp.zeros((), bool),
        done=jnp.zeros((), bool),
        next_obs=jnp.zeros((model.obs_dim,)),
    )  # fmt: skip

    def init(key, hp, env_params, data) -> DreamerState:
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params = model.init(k_init)
        opt = {k: o.init(params[k]) for k, o in _optimizers(hp).items()}
        obs, env_state = venv.reset(k_reset, env_params)
        zero = jnp.zeros((), jnp.int32)
        return DreamerState(params=params, slow_critic=params["critic"], opt_state=opt,
                            ret_scale=jnp.zeros(()), buffer=buffer.init(example),
                            env_state=env_state, obs=obs, carry=init_carry(model, cfg.num_envs),
                            key=k_run, env_steps=zero, grad_steps=zero,
                            last_return=jnp.zeros((), jnp.float32))  # fmt: skip

    def act(saved, obs, key, carry, env_state, greedy: bool):
        action, carry = policy_step(model, saved, obs, key, carry, greedy)
        return spec.to_env(action), carry

    return Learner(
        config=cfg,
        hparams=DreamerHParams(),
        init=init,
        update=lambda state, hp, env_params, data: update(loop, state, hp, env_params),
        policy=Policy(act, functools.partial(init_carry, model)),
        save=lambda state: {"world": state.params["world"], "actor": state.params["actor"]},
        num_updates=cfg.num_updates,
        steps_per_update=cfg.log_every,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )


make_train = trainer(make_learner)
CONFIG = DreamerConfig
HPARAMS = DreamerHParams
