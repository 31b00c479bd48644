"""Soft Actor-Critic (Haarnoja et al. 2018, arXiv:1812.05905), continuous and discrete.

Continuous: a tanh-squashed Gaussian actor, twin Q critics with Polyak-averaged targets and a
learned temperature aiming at entropy ``-target_entropy_scale * action_dim``. Discrete
(``sac_discrete``; Christodoulou 2019, arXiv:1910.07207): a categorical actor, critics giving
``Q(s, .)`` for every action and exact expectations over actions instead of samples, with
target entropy ``target_entropy_scale * log(num_actions)``. A categorical policy's entropy is
at most ``log(num_actions)`` (uniform), so the scale must be below 1: at 1 the temperature
would rise at every step towards a uniform policy.

Discrete SAC's default scale is 0.7, lower than CleanRL's ``sac_atari`` (0.89) and
Christodoulou 2019 (0.98), because with few actions those targets can lie above any entropy
the soft-optimal policy reaches, and then the temperature grows without bound. Where an
episode's end cuts off the entropy bonus (CartPole: termination is failure), the soft value
carries ``alpha * H / (1 - gamma)`` that failing loses, so the Q gaps between actions grow in
proportion to alpha and the policy's entropy approaches a ceiling below ``log(num_actions)``
as alpha grows (the most random policy that still survives). On CartPole (two actions) that
ceiling is about 0.62 nats and 0.89 asks for 0.617: with the experiment's small settings
(``python experiments/sac_discrete_entropy.py``, 8 seeds, 50,000 steps) the median alpha is
12 at 13,000 steps and 3,190 at 50,000 and still rising with 0.89, 1,070 with 0.85, 189 with
0.8, while with 0.75 it levels off at 11-13 and with 0.7 it peaks near 4 and falls to 1.9
(the entropy at its target from 10,000 steps on). The diverging settings still balance the
pole (greedy IQM 500 at 0.89, 401 at 0.8, 337 at 0.7), since the survival-seeking entropy
objective and CartPole's reward agree, but alpha in the thousands makes the critics fit
values near 10^5 whose reward part is noise. On Acrobot (three actions, where ending the
episode is the goal) alpha stays below 1 at every scale from 0.3 to 0.89. Take a higher scale
for many actions (Atari's 18) if the entropy stays above its target there.

The loop (env, replay, n-step targets) is :mod:`jaxrl.agents.offpolicy.loop`'s. With
``n_step > 1`` the soft target is ``r_0 + γ r_1 + ... + γ^(n-1) r_(n-1) + γ^n V_soft(s_n)``
with ``V_soft(s) = min_i Q_i(s, a') - α log π(a'|s)``: the entropy bonus enters at the
bootstrap state only, not at the intermediate steps, whose actions the replayed (older)
policies took; with ``n_step = 1`` it is SAC's target exactly. Prioritized replay weights the
critic's TD loss (:func:`~jaxrl.agents.offpolicy.loop.td_loss_mean`); the actor's and the
temperature's losses average over the sampled states unweighted.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl.agents.offpolicy import loop
from jaxrl.agents.offpolicy.loop import NStep, OffPolicyAgent, OffPolicyConfig
from jaxrl.distributions import Categorical, TanhGaussian
from jaxrl.learner import Learner, hyperparameters, trainer
from jaxrl.losses import cql_penalty, soft_state_value
from jaxrl.networks import apply_ensemble, apply_mlp, init_ensemble, init_mlp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclasses.dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """Static configuration; see :class:`~jaxrl.agents.offpolicy.OffPolicyConfig`."""

    total_steps: int = 20_000
    learning_starts: int = 1_000
    buffer_size: int = 100_000
    batch_size: int = 256
    hidden: tuple[int, ...] = (256, 256)
    autotune_alpha: bool = True
    """Learn the temperature towards the target entropy (else keep init_alpha)."""


class SACHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    actor_lr: float = 3e-4
    """Adam's learning rate for the actor."""
    critic_lr: float = 3e-4
    """Adam's learning rate for the critics."""
    alpha_lr: float = 3e-4
    """Adam's learning rate for the log-temperature."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak step of the target critics per gradient step."""
    init_alpha: float = 1.0
    """Initial temperature (the entropy bonus's weight)."""
    target_entropy_scale: float = 1.0
    """Target entropy: -scale * action_dim."""


HPARAM_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "alpha_lr": ">= 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "init_alpha": "> 0",
    "target_entropy_scale": ">= 0",
}


@hyperparameters
class SACDiscreteHParams(SACHParams):
    """Discrete SAC's traced hyperparameters: :class:`SACHParams` with a target entropy of
    0.7 of the maximum, ``log(num_actions)`` (the module docstring says why not 0.89)."""

    target_entropy_scale: float = 0.7
    """Target entropy as a fraction of the maximum, log(num_actions)."""


DISCRETE_HPARAM_RANGES = {**HPARAM_RANGES, "target_entropy_scale": "[0, 1)"}


def _optimizers(hp: SACHParams):
    return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr)


def make_agent(config: SACConfig, env, env_params, discrete: bool, *, cql_actions: int = 0,
               backup_entropy: bool = True):  # fmt: skip
    """SAC's :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` and the env's action spec
    (``config`` already validated).

    For offline RL (continuous actions): ``cql_actions > 0`` adds CQL's regulariser
    (:func:`jaxrl.losses.cql_penalty` with that many actions of each kind, weighted by
    ``hp.cql_alpha`` against the mean squared TD error, as the authors' code) to the
    critics' loss (Kumar et al. 2020); ``backup_entropy=False`` leaves the entropy bonus out
    of the bootstrapped target, as CQL's authors do. The defaults are SAC.
    """
    cfg = config
    spec = jenvs.action_spec(env, env_params)
    a_dim = spec.dim
    obs_dim = jenvs.observation_size(env, env_params)
    actor_sizes = (obs_dim, *cfg.hidden, a_dim if discrete else 2 * a_dim)
    critic_sizes = (obs_dim, *cfg.hidden, a_dim) if discrete else (obs_dim + a_dim, *cfg.hidden, 1)
    _, unravel = ravel_pytree(init_mlp(jax.random.key(0), actor_sizes))
    target_entropy_of = (
        (lambda hp: hp.target_entropy_scale * math.log(a_dim))
        if discrete
        else (lambda hp: -hp.target_entropy_scale * a_dim)
    )

    def actor_out(flat, obs):
        return actor_of(unravel(flat), obs)

    def actor_of(layers, obs):
        out = apply_mlp(layers, obs, cfg.activation)
        if discrete:
            return out
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)

    def q_all(critic, obs, action=None):
        """Twin critics: ``[2, B]`` for continuous ``(obs, action)``, ``[2, B, A]`` discrete."""
        if discrete:
            return apply_ensemble(critic, obs, cfg.activation)
        return apply_ensemble(critic, jnp.concatenate([obs, action], -1), cfg.activation)[..., 0]

    def sample_action(flat, obs, key):
        return TanhGaussian(*actor_out(flat, obs)).sample_and_log_prob(key)

    def init(key, hp):
        k_actor, k_critic = jax.random.split(key)
        params, _ = ravel_pytree(init_mlp(k_actor, actor_sizes, head_scale=0.01))
        critic = init_ensemble(k_critic, 2, critic_sizes)
        log_alpha = jnp.log(hp.init_alpha)
        tx_a, tx_c, tx_t = _optimizers(hp)
        learner = {
            "critic": critic,
            "target": critic,
            "log_alpha": log_alpha,
            "opt_actor": tx_a.init(params),
            "opt_critic": tx_c.init(critic),
            "opt_alpha": tx_t.init(log_alpha),
        }
        return params, learner

    def policy(layers, obs):
        out = actor_of(layers, obs)
        return Categorical(out) if discrete else TanhGaussian(*out)

    def act(layers, obs, key, greedy):
        dist = policy(layers, obs)
        return dist.mode() if greedy else dist.sample(key)

    def explore(params, learner, obs, key, progress, hp):
        return act(unravel(params), obs, key, False)

    def critic_loss(critic, params, learner, batch: NStep, key, alpha, hp):
        if discrete:
            logp_next = jax.nn.log_softmax(actor_out(params, batch.next_obs))
            q_next = q_all(learner["target"], batch.next_obs).min(axis=0)
            v_next = jax.vmap(soft_state_value, (0, 0, 0, None))(
                q_next, jnp.exp(logp_next), logp_next, alpha
            )
            q = q_all(critic, batch.obs)
            q_sa = jnp.take_along_axis(q, batch.action[None, :, None], axis=-1)[..., 0]
        else:
            k_next, k_cql = jax.random.split(key) if cql_actions else (key, None)
            a_next, logp_next = sample_action(params, batch.next_obs, k_next)
            q_next = q_all(learner["target"], batch.next_obs, a_next).min(axis=0)
            v_next = q_next - alpha * logp_next if backup_entropy else q_next
            q_sa = q_all(critic, batch.obs, batch.action)
        y = jax.lax.stop_gradient(batch.partial_return + batch.bootstrap_discount * v_next)
        td = q_sa - y  # [2, B]
        loss = jnp.sum(loop.td_loss_mean(batch.weights, 0.5 * td**2))  # summed over the twins
        if cql_actions:
            # CQL's authors fit the critics by the mean squared TD error (no 1/2) and chose
            # cql_alpha against it; half the penalty here keeps their ratio of the two terms.
            penalty = conservative_penalty(critic, params, batch, k_cql, q_sa)  # [2, B]
            loss += 0.5 * hp.cql_alpha * jnp.sum(loop.sample_mean(batch.weights, penalty))
        return loss, (jnp.abs(td).mean(axis=0), q_sa.mean())

    def conservative_penalty(critic, params, batch: NStep, key, q_data):
        """CQL's penalty per critic and sample ``[2, B]`` (:func:`jaxrl.losses.cql_penalty`):
        ``cql_actions`` uniform actions and as many from the policy at ``s`` and at ``s'``,
        all valued at ``s``; the policy's samples enter as constants."""
        k_rand, k_cur, k_next = jax.random.split(key, 3)
        n, b = cql_actions, batch.obs.shape[0]
        obs = jnp.broadcast_to(batch.obs, (n,) + batch.obs.shape)  # [N, B, D]
        a_rand = jax.random.uniform(k_rand, (n, b, a_dim), minval=-1.0, maxval=1.0)

        def policy_samples(o, k):
            mean, log_std = actor_out(params, o)
            noise = jax.random.normal(k, (n,) + mean.shape)
            a, logp = TanhGaussian(mean, log_std).from_noise(noise)
            return jax.lax.stop_gradient(a), jax.lax.stop_gradient(logp)

        a_cur, logp_cur = policy_samples(batch.obs, k_cur)
        a_nxt, logp_nxt = policy_samples(batch.next_obs, k_next)
        q_rand, q_cur, q_nxt = (q_all(critic, obs, a) for a in (a_rand, a_cur, a_nxt))  # [2,N,B]
        per_critic = jax.vmap(  # over critics, then samples: N along axis 1 of q, 0 of logp
            jax.vmap(cql_penalty, in_axes=(1, 1, 1, 1, 1, 0, None)),
            in_axes=(0, 0, None, 0, None, 0, None),
        )
        return per_critic(q_rand, q_cur, logp_cur, q_nxt, logp_nxt, q_data, a_dim)

    def actor_loss(params, critic, batch: NStep, key, alpha):
        if discrete:
            logp = jax.nn.log_softmax(actor_out(params, batch.obs))
            p = jnp.exp(logp)
            q = q_all(critic, batch.obs).min(axis=0)
            per_sample = jnp.sum(p * (alpha * logp - q), axis=-1)
            entropy = -jnp.sum(p * logp, axis=-1)
        else:
            a, logp = sample_action(params, batch.obs, key)
            per_sample = alpha * logp - q_all(critic, batch.obs, a).min(axis=0)
            entropy = -logp
        mean = functools.partial(loop.sample_mean, batch.weights)
        return mean(per_sample), mean(entropy)

    def update(params, learner, batch: NStep, key, hp, grad_step, progress):
        k_critic, k_actor = jax.random.split(key)
        tx_a, tx_c, tx_t = _optimizers(hp)
        alpha = jnp.exp(learner["log_alpha"])
        (c_loss, (td_abs, q_mean)), c_grads = jax.value_and_grad(critic_loss, has_aux=True)(
            learner["critic"], params, learner, batch, k_critic, alpha, hp
        )
        c_updates, opt_critic = tx_c.update(c_grads, learner["opt_critic"])
        critic = optax.apply_updates(learner["critic"], c_updates)

        (a_loss, entropy), a_grads = jax.value_and_grad(actor_loss, has_aux=True)(
            params, critic, batch, k_actor, alpha
        )
        a_updates, opt_actor = tx_a.update(a_grads, learner["opt_actor"])
        params = optax.apply_updates(params, a_updates)

        log_alpha, opt_alpha = learner["log_alpha"], learner["opt_alpha"]
        if cfg.autotune_alpha:
            # The temperature's loss is log_alpha * (entropy - target): its gradient lowers
            # alpha while the policy's entropy is above the target and raises it below.
            t_grad = jax.lax.stop_gradient(entropy - target_entropy_of(hp))
            t_updates, opt_alpha = tx_t.update(t_grad, opt_alpha)
            log_alpha = optax.apply_updates(log_alpha, t_updates)

        target = loop.polyak(learner["target"], critic, hp.tau)
        learner = {
            "critic": critic,
            "target": target,
            "log_alpha": log_alpha,
            "opt_actor": opt_actor,
            "opt_critic": opt_critic,
            "opt_alpha": opt_alpha,
        }
        metrics = {
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "alpha": alpha,
            "entropy": entropy,
            "q_mean": q_mean,
        }
        return params, learner, td_abs, metrics

    def value(params, learner, obs):
        """``min_i Q_i(s, mode pi(s))`` ``[B]`` (continuous actions)."""
        return q_all(learner["critic"], obs, act(unravel(params), obs, None, True)).min(axis=0)

    names = ("critic_loss", "actor_loss", "alpha", "entropy", "q_mean")
    agent = OffPolicyAgent(init, explore, update, act, names, unravel,
                           None if discrete else value)  # fmt: skip
    return agent, spec


def _build(config: SACConfig, env, env_params, discrete: bool) -> Learner:
    agent, spec = make_agent(config, env, env_params, discrete)
    if discrete:
        hparams, ranges = SACDiscreteHParams(), DISCRETE_HPARAM_RANGES
    else:
        hparams, ranges = SACHParams(), HPARAM_RANGES
    return loop.make_learner(config, env, env_params, agent, spec, hparams, ranges)


def make_learner(config: SACConfig, env, env_params) -> Learner:
    """Continuous-action SAC on ``env``.

    Raises:
      ValueError: invalid config (naming the field) or a discrete-action env (use
        ``sac_discrete`` or ``dqn``).
    """
    config.validate()
    jenvs.require_action_kind(
        "sac", env, env_params, discrete=False, instead="sac_discrete or dqn for discrete actions"
    )
    return _build(config, env, env_params, discrete=False)


def make_learner_discrete(config: SACConfig, env, env_params) -> Learner:
    """Discrete-action SAC on ``env``; refuses continuous-action envs (use ``sac``)."""
    config.validate()
    jenvs.require_action_kind(
        "sac_discrete", env, env_params, discrete=True, instead="sac for continuous actions"
    )
    return _build(config, env, env_params, discrete=True)


make_train = trainer(make_learner)
make_train_discrete = trainer(make_learner_discrete)
CONFIG = SACConfig
HPARAMS = SACHParams
