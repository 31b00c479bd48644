"""Bootstrapped DQN (Osband et al. 2016, arXiv:1602.04621) with randomized prior functions
(Osband, Aslanides & Cassirer 2018, arXiv:1806.03335).

``K`` Q-networks ("heads", separate MLPs), each the sum of a trained network and a fixed
random prior network of the same shape scaled by ``prior_scale``:
``Q_k(s, a) = f_k(s, a) + prior_scale * p_k(s, a)``, ``p_k`` never trained. Every transition
is stored with a bootstrap mask ``m in {0, 1}^K``, ``m_k ~ Bernoulli(mask_prob)`` drawn when it
is stored, and head ``k`` learns only on the transitions whose ``m_k = 1``:

``L = sum_k mean_i w_i m_ik huber(Q_k(s_i, a_i) - y_ik)``, with
``y_ik = R_i + discount_i * max_a Q_k^target(s'_i, a)``

(``R_i``, ``discount_i``: the n-step partial return and bootstrap discount; ``w_i`` the
importance weights of prioritized replay, 1 otherwise; ``Q_k^target`` the head's target
network plus the same prior). Acting, each env follows one head, drawn uniformly when its
episode starts, greedily for the whole episode: deep exploration by sampling a plausible Q
(Thompson sampling over the ensemble). Replay stores every transition's prior outputs
``p_k(s, .)`` and ``p_k(s', .)`` (the loop's fixed features), so a gradient step does not run
the prior networks over its batch again. The head is the loop's per-env exploration carry and,
for the trained policy, the :class:`~jaxrl.learner.Policy`'s carry (``-1``: draw one), which
the evaluation loop resets at every episode's start; the greedy policy is the action the most
heads pick (Osband et al. 2016's ensemble vote). The loop (env, replay, n-step) is
:mod:`jaxrl.agents.offpolicy.loop`'s.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints
from jaxrl.agents.offpolicy import loop
from jaxrl.agents.offpolicy.loop import NStep, OffPolicyAgent, OffPolicyConfig
from jaxrl.learner import Learner, trainer
from jaxrl.losses import huber_loss
from jaxrl.networks import apply_ensemble, init_ensemble


@dataclasses.dataclass(frozen=True)
class BootDQNConfig(OffPolicyConfig):
    """Static configuration; see :class:`~jaxrl.agents.offpolicy.OffPolicyConfig`."""

    total_steps: int = 20_000
    learning_starts: int = 128
    buffer_size: int = 10_000
    batch_size: int = 128
    hidden: tuple[int, ...] = (50, 50)
    num_heads: int = 10
    """Heads K of the ensemble (each an MLP with its own prior network)."""
    target_update_every: int = 4
    """Gradient steps between target updates (each moves the target by tau)."""

    def validate(self) -> None:
        super().validate()
        require_positive_ints(self, ("num_heads", "target_update_every"))
        require(self.num_heads >= 2, "num_heads", f"must be at least 2, got {self.num_heads}")


class BootDQNHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 1e-3
    """Adam's learning rate."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 1.0
    """Fraction of the way the targets move to the online heads per target update (1: copy)."""
    prior_scale: float = 3.0
    """Weight beta of each head's fixed random prior network (0: no prior)."""
    mask_prob: float = 0.5
    """Probability that a transition trains a given head (the bootstrap mask's Bernoulli p)."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip."""


HPARAM_RANGES = {
    "lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "prior_scale": ">= 0",
    "mask_prob": "(0, 1]",
    "max_grad_norm": "> 0",
}


def head_q_values(params, obs, activation: str, prior=None):
    """``Q_k(s, .) = f_k(s, .) + prior_scale p_k(s, .)`` for every head: ``[K, B, A]``.

    ``prior``: ``p_k(s, .)`` ``[K, B, A]`` if already known (replay stores it with each
    transition: the prior networks never change), else computed from ``params["prior"]``.
    """
    online = apply_ensemble(params["online"], obs, activation)
    if prior is None:
        prior = apply_ensemble(params["prior"], obs, activation)
    return online + params["prior_scale"] * jax.lax.stop_gradient(prior)


def bootstrap_loss(q_sa, q_next_target, partial_return, bootstrap_discount, mask, weights,
                   huber: bool = True):  # fmt: skip
    """The masked ensemble TD loss (module docstring) -> ``(loss, td [K, B])``.

    Args:
      q_sa: ``Q_k(s_i, a_i)`` ``[K, B]``.
      q_next_target: ``Q_k^target(s'_i, .)`` ``[K, B, A]``.
      partial_return, bootstrap_discount, weights: ``[B]``.
      mask: bootstrap masks ``[B, K]``.
    """
    y = partial_return + bootstrap_discount * q_next_target.max(axis=-1)
    td = q_sa - jax.lax.stop_gradient(y)
    per_sample = huber_loss(td) if huber else 0.5 * td**2
    return jnp.sum(jnp.mean(weights * mask.T * per_sample, axis=-1)), td


def vote(q):
    """The action most heads pick (ties: the lowest action) for each of ``B`` rows of
    ``q [K, B, A]`` -> ``[B]``."""
    picks = jax.nn.one_hot(jnp.argmax(q, axis=-1), q.shape[-1]).sum(axis=0)
    return jnp.argmax(picks, axis=-1).astype(jnp.int32)


def make_learner(config: BootDQNConfig, env, env_params) -> Learner:
    """Bootstrapped DQN with randomized priors on ``env``; see :mod:`~jaxrl.agents.offpolicy.loop`.

    Raises:
      ValueError: invalid config (naming the field) or a continuous-action env.
    """
    agent, spec = make_agent(config, env, env_params)
    return loop.make_learner(config, env, env_params, agent, spec, BootDQNHParams(),
                             HPARAM_RANGES)  # fmt: skip


def make_agent(config: BootDQNConfig, env, env_params) -> tuple[OffPolicyAgent, jenvs.ActionSpec]:
    """The :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` for ``env`` (validates)."""
    config.validate()
    spec = jenvs.require_action_kind(
        "bootdqn", env, env_params, discrete=True, instead="sac, td3 or ddpg for continuous actions"
    )
    cfg = config
    n_act, k = spec.dim, cfg.num_heads
    obs_dim = jenvs.observation_size(env, env_params)
    sizes = (obs_dim, *cfg.hidden, n_act)

    def q_values(params, obs):
        return head_q_values(params, obs, cfg.activation)

    def optimizer(hp):
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(hp.lr))

    def init(key, hp):
        k_online, k_prior = jax.random.split(key)
        params = {"online": init_ensemble(k_online, k, sizes),
                  "prior": init_ensemble(k_prior, k, sizes),
                  "prior_scale": hp.prior_scale}  # fmt: skip
        return params, {"target": params["online"],
                        "opt_state": optimizer(hp).init(params["online"])}  # fmt: skip

    def init_carry(n):
        return jnp.full((n,), -1, jnp.int32)

    def follow(params, obs, key, carry):
        head = jnp.where(carry < 0, jax.random.randint(key, carry.shape, 0, k), carry)
        q = q_values(params, obs)  # [K, N, A]
        q_head = jnp.take_along_axis(q, head[None, :, None], axis=0)[0]
        return jnp.argmax(q_head, axis=-1).astype(jnp.int32), head

    def explore(params, agent_state, obs, key, progress, hp, carry):
        return follow(params, obs, key, carry)

    def act(saved, obs, key, greedy, carry):
        if greedy:
            return vote(q_values(saved, obs)), carry
        return follow(saved, obs, key, carry)

    def prior_outputs(params, obs):  # the fixed features replay stores: [N, K, A]
        return jnp.swapaxes(apply_ensemble(params["prior"], obs, cfg.activation), 0, 1)

    def stored_prior(features):  # [B, K, A] -> [K, B, A]; None when the batch has none
        return None if isinstance(features, tuple) else jnp.swapaxes(features, 0, 1)

    def loss_fn(online, params, target, batch: NStep, hp):
        p = {**params, "online": online}
        q = head_q_values(p, batch.obs, cfg.activation, stored_prior(batch.obs_features))
        q_sa = jnp.take_along_axis(q, batch.action[None, :, None], axis=-1)[..., 0]
        q_next = head_q_values({**params, "online": target}, batch.next_obs, cfg.activation,
                               stored_prior(batch.next_features))  # fmt: skip
        mask = batch.extras["mask"].astype(jnp.float32) < hp.mask_prob
        loss, td = bootstrap_loss(q_sa, q_next, batch.partial_return, batch.bootstrap_discount,
                                  mask.astype(jnp.float32), batch.weights)  # fmt: skip
        return loss, (td, q_sa.mean())

    def update(params, agent_state, batch: NStep, key, hp, grad_step, progress):
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, (td, q_mean)), grads = grad_fn(params["online"], params, agent_state["target"],
                                              batch, hp)  # fmt: skip
        updates, opt_state = optimizer(hp).update(grads, agent_state["opt_state"],
                                                  params["online"])  # fmt: skip
        online = optax.apply_updates(params["online"], updates)
        refresh = (grad_step + 1) % cfg.target_update_every == 0
        target = jax.tree.map(
            lambda t, o: jnp.where(refresh, hp.tau * o + (1.0 - hp.tau) * t, t),
            agent_state["target"], online,
        )  # fmt: skip
        metrics = {"loss": loss, "q_mean": q_mean}
        state = {"target": target, "opt_state": opt_state}
        return {**params, "online": online}, state, jnp.abs(td).mean(axis=0), metrics

    return OffPolicyAgent(init, explore, update, act, ("loss", "q_mean"),
                          extras=uniform_draws(k), explore_carry=init_carry,
                          fixed_features=prior_outputs), spec  # fmt: skip


def uniform_draws(num_heads: int):
    """The stored extras: ``u ~ U[0, 1)^K`` per transition; head ``k`` trains on it where
    ``u_k < mask_prob``, i.e. ``m_k ~ Bernoulli(mask_prob)``, drawn once when stored (storing
    the uniforms keeps ``mask_prob`` a traced hyperparameter, read when the batch is used)."""

    def draw(key, n):
        return {"mask": jax.random.uniform(key, (n, num_heads))}

    return draw


make_train = trainer(make_learner)
CONFIG = BootDQNConfig
HPARAMS = BootDQNHParams
