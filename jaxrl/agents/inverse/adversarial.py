"""Adversarial imitation on PPO: GAIL (Ho & Ermon 2016, arXiv:1606.03476) and AIRL (Fu, Luo
& Levine 2018, arXiv:1710.11248).

A discriminator learns to tell the expert's transitions (the demonstrations, the learner's
``data``) from the policy's, and its output is the reward PPO maximises. One update:

1. a PPO rollout of the current policy (:func:`jaxrl.agents.onpolicy.ppo.collect_rollout`);
2. ``disc_epochs`` passes of Adam on the discriminator's logistic loss over the rollout, in
   ``disc_minibatches`` minibatches, each against as many demonstration transitions drawn
   uniformly (expert label 1, policy label 0);
3. the rollout's rewards replaced by the updated discriminator's, then PPO's learning step on
   it (:func:`jaxrl.agents.onpolicy.ppo.learn`: GAE and clipped-surrogate epochs).

The two algorithms differ in the discriminator's logit ``l`` (``D = sigmoid(l)``, the
probability that a transition is the expert's) and in the reward read from it:

- GAIL: ``l = D_net(s, a)``; reward ``-log(1 - D(s, a)) = softplus(l)``, the form of Ho &
  Ermon's cost ``log D`` turned into a reward, always positive.
- AIRL: ``D = exp f / (exp f + pi(a | s))`` with the disentangled
  ``f(s, a, s') = g(s) + gamma h(s') - h(s)`` (after a termination ``s'`` is the absorbing
  state below, or ``h(s') = 0`` without it), so ``l = f(s, a, s') - log pi(a | s)``.
  ``g(s)`` (``g(s, a)`` unless ``state_only``) is the learned reward, ``h`` the shaping
  potential. The policy's reward is ``f(s, a, s')``, with PPO's entropy bonus (``ent_coef``)
  as the entropy term; ``AIRLConfig.entropy_reward`` gives the paper's
  ``log D - log(1 - D) = f - log pi(a | s)`` instead. Under PPO's Gaussian policies (a
  learned standard deviation) its ``-log pi`` pays for widening the policy without bound:
  on Pendulum-v1 all 5 runs ended below the random policy's return (greedy -1557 to -1635
  after 1e6 steps). With discrete actions it is bounded by ``log |A|`` and helps:
  CartPole-v1, 2e5 steps, 5 runs, greedy returns 408-500 against 119-177 with ``f`` alone
  (137-500 without the gradient penalty).

Terminations (``absorbing``, on by default): an episode that terminates moves to an absorbing
state whose reward the discriminator learns too (Kostrikov et al. 2019, "Discriminator-actor-
critic"): the networks read a flag input that marks it, every terminated transition's ``s'``
is it (AIRL's ``h(s')`` there is ``h(absorbing)``), each side's terminated transitions bring
an ``absorbing -> absorbing`` transition into the loss, and the policy's reward for a
terminating step adds ``gamma / (1 - gamma)`` times the absorbing transition's reward (what
staying there for ever is worth). Without it a reward of a fixed sign decides the episode
length by itself: GAIL's ``-log(1 - D) > 0`` pays for surviving, and AIRL's ``f``, mostly
negative, paid CartPole-v1 policies for falling at once (mean return 9.4 over 5 seeds).
The update's ``absorbing_return`` metric is what a termination earns beyond its own
transition's reward. With GAIL it starts near ``gamma / (1 - gamma) log 2`` (69 at gamma
0.99): as much as surviving for ever at the initial reward of ``log 2`` per step. As soon as
the discriminator pays the policy's own states less than that, ending the episode pays more,
until the discriminator has also learned that the absorbing state is the policy's. On
CartPole-v1 policies first learn to fall at once and recover only then: after ~75-100 updates
of 1024 steps at GAIL's defaults, ~150-300 with a gradient penalty of 10
(``experiments/gail_absorbing.py``); a short run ends in that dip.

With ``state_only`` GAIL's discriminator reads ``s`` only. A gradient penalty
``grad_penalty * |d l / d x|^2`` on the expert's inputs (Mescheder et al. 2018's R1; weight 1
by default) regularises either discriminator: without it 2 of 5 GAIL runs on CartPole-v1
learned to fall at once, with it none (2e5 steps). ``save`` stores the discriminator's
parameters with the policy's (``"discriminator"``), so a run's learned reward can be
re-optimised later (:func:`learned_reward`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import demos as jdemos
from jaxrl import envs as jenvs
from jaxrl._errors import require, require_choice, require_layers, require_positive_ints
from jaxrl.agents.onpolicy import ppo
from jaxrl.learner import Learner, Policy, hyperparameters, latest_return
from jaxrl.networks import ACTIVATIONS, apply_mlp, init_mlp

KINDS = ("gail", "airl")


@dataclasses.dataclass(frozen=True)
class AdversarialConfig(ppo.RolloutConfig):
    """Static configuration: PPO's shapes, the demonstrations and the discriminator's."""

    num_envs: int = 16
    num_steps: int = 64
    total_steps: int = 300_000
    num_minibatches: int = 8
    normalize_obs: bool = False
    """Normalise observations by running statistics (the demonstrations' too)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic."""
    activation: str = "tanh"
    """Hidden activation of the actor-critic: tanh, relu, gelu or silu."""
    demos: str = ""
    """Demonstration file (.npz, see jaxrl.demos; write one with `jaxrl demos RUN_DIR`)."""
    num_demos: int = 10
    """Episodes of the file to imitate (its first ones)."""
    disc_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the discriminator's networks (AIRL: of g and of h)."""
    disc_activation: str = "tanh"
    """Hidden activation of the discriminator."""
    disc_epochs: int = 1
    """Passes of the discriminator over each rollout."""
    disc_minibatches: int = 4
    """Discriminator minibatches per pass (must divide num_envs * num_steps)."""
    state_only: bool = False
    """Discriminator (GAIL) or reward g (AIRL) of the state only, not of the action."""
    absorbing: bool = True
    """Learn the reward of the absorbing state that follows a termination (Kostrikov et al.)."""

    def ppo_config(self) -> ppo.PPOConfig:
        """PPO's config for the policy step (its plain, reference update)."""
        return ppo.plain_config(self)

    def validate(self) -> None:
        self.ppo_config().validate()
        require(bool(self.demos), "demos", "a demonstration file is needed (--demos PATH)")
        require_positive_ints(self, ("num_demos", "disc_epochs", "disc_minibatches"))
        require(
            self.batch_size % self.disc_minibatches == 0,
            "disc_minibatches",
            f"batch num_envs*num_steps={self.batch_size} is not divisible into "
            f"{self.disc_minibatches} minibatches",
        )
        require_layers(self.disc_hidden)
        require_choice("disc_activation", self.disc_activation, ACTIVATIONS)


@hyperparameters
class AdversarialHParams(ppo.PPOHParams):
    """Traced hyperparameters: PPO's and the discriminator's."""

    gamma: float = 0.99
    """Discount (also AIRL's gamma in g(s) + gamma h(s') - h(s))."""
    disc_lr: float = 3e-4
    """The discriminator's Adam learning rate."""
    grad_penalty: float = 1.0
    """Weight of the R1 gradient penalty on the discriminator's expert inputs."""


HPARAM_RANGES = {
    **ppo.HPARAM_RANGES,
    "gamma": "[0, 1)",  # the absorbing state's value is gamma / (1 - gamma) times its reward
    "disc_lr": "> 0",
    "grad_penalty": ">= 0",
}


def ppo_hparams(hp: AdversarialHParams) -> ppo.PPOHParams:
    return ppo.PPOHParams(*(getattr(hp, name) for name in ppo.PPOHParams._fields))


@struct.dataclass
class AdversarialState:
    ppo: ppo.PPOState  # the policy's state (its key drives every random draw)
    disc: Any  # the discriminator's parameters
    disc_opt: Any


class Sample(NamedTuple):
    """Transitions as the discriminator reads them (leading axis: samples)."""

    obs: jax.Array
    action: jax.Array  # discrete: one-hot; continuous: in [-1, 1]
    next_obs: jax.Array
    terminated: jax.Array  # the transition ended the episode by termination
    log_pi: jax.Array  # log pi(a | s) under the current policy (AIRL)
    absorbing: jax.Array | None = None  # the state is the absorbing one (bool)
    weight: jax.Array | None = None  # the sample's weight in the loss (None: 1)


def absorbing_twins(s: Sample) -> Sample:
    """For each transition, an absorbing -> absorbing one, weighted by whether the
    transition terminated (Kostrikov et al. 2019): what follows a termination."""
    zeros = jnp.zeros_like(s.terminated, jnp.float32)
    weight = s.terminated.astype(jnp.float32) * (1.0 if s.weight is None else s.weight)
    return Sample(jnp.zeros_like(s.obs), jnp.zeros_like(s.action), jnp.zeros_like(s.next_obs),
                  jnp.ones_like(s.terminated), zeros, jnp.ones_like(s.terminated),
                  weight)  # fmt: skip


class Discriminator(NamedTuple):
    """The discriminator's logit for GAIL or AIRL (module docstring)."""

    kind: str
    state_only: bool
    activation: str
    entropy_reward: bool = False
    absorbing: bool = False

    def init(self, key, obs_dim: int, act_dim: int, hidden) -> dict:
        k_g, k_h = jax.random.split(key)
        obs_dim += int(self.absorbing)
        in_g = obs_dim if self.state_only else obs_dim + act_dim
        params = {"g": init_mlp(k_g, (in_g, *hidden, 1), head_scale=0.01)}
        if self.kind == "airl":
            params["h"] = init_mlp(k_h, (obs_dim, *hidden, 1), head_scale=0.01)
        return params

    def state(self, obs, absorbing=None):
        """A state as the networks read it: with ``absorbing``, the observation zeroed and a
        last input that flags the absorbing state."""
        if not self.absorbing:
            return obs
        flag = jnp.broadcast_to(False if absorbing is None else absorbing, obs.shape[:-1])
        flag = flag.astype(obs.dtype)[..., None]
        return jnp.concatenate([obs * (1.0 - flag), flag], axis=-1)

    def g(self, params, obs, action, absorbing=None):
        """GAIL's logit ``D_net``; AIRL's reward ``g`` ``[B]`` (of non-absorbing states
        unless ``absorbing`` says otherwise)."""
        x = self.state(obs, absorbing)
        x = x if self.state_only else jnp.concatenate([x, action], axis=-1)
        return apply_mlp(params["g"], x, self.activation)[..., 0]

    def h(self, params, obs, absorbing=None):
        return apply_mlp(params["h"], self.state(obs, absorbing), self.activation)[..., 0]

    def f(self, params, s: Sample, gamma):
        """AIRL's ``f(s, a, s') = g(s) + gamma h(s') - h(s)`` ``[B]``: after a termination
        ``s'`` is the absorbing state (with ``absorbing``), else ``h(s') = 0``."""
        if self.absorbing:
            ends = s.terminated if s.absorbing is None else s.terminated | s.absorbing
            h_next = self.h(params, s.next_obs, ends)
        else:
            h_next = jnp.where(s.terminated, 0.0, self.h(params, s.next_obs))
        return (self.g(params, s.obs, s.action, s.absorbing) + gamma * h_next
                - self.h(params, s.obs, s.absorbing))  # fmt: skip

    def logit(self, params, s: Sample, gamma):
        """``log D - log(1 - D)`` ``[B]``, with ``D`` the probability of being the expert's."""
        if self.kind == "gail":
            return self.g(params, s.obs, s.action, s.absorbing)
        return self.f(params, s, gamma) - s.log_pi

    def reward(self, params, s: Sample, gamma):
        """The reward of each transition ``[B]``: GAIL ``-log(1 - D)``; AIRL ``f`` (or
        ``f - log pi = log D - log(1 - D)`` with ``entropy_reward``)."""
        if self.kind == "gail":
            return jax.nn.softplus(self.logit(params, s, gamma))
        return self.logit(params, s, gamma) if self.entropy_reward else self.f(params, s, gamma)

    def absorbing_return(self, params, gamma, obs_dim: int, act_dim: int):
        """``sum_{k >= 1} gamma^k r(absorbing -> absorbing)``: what a termination is worth
        beyond its own transition's reward (0 without ``absorbing``)."""
        if not self.absorbing:
            return jnp.zeros(())
        one = jnp.ones((1,), bool)
        s = Sample(jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), jnp.zeros((1, obs_dim)),
                   one, jnp.zeros((1,)), one)  # fmt: skip
        return gamma / (1.0 - gamma) * self.reward(params, s, gamma)[0]


def _weighted_mean(x, weight):
    if weight is None:
        return jnp.mean(x)
    return jnp.sum(weight * x) / jnp.maximum(jnp.sum(weight), 1e-8)


def discriminator_loss(disc: Discriminator, params, expert: Sample, policy: Sample, hp):
    """Logistic loss (expert 1, policy 0) plus the R1 penalty -> ``(loss, [loss, expert
    accuracy, policy accuracy])``. With ``absorbing``, each side's terminated transitions
    bring their absorbing -> absorbing twins (:func:`absorbing_twins`)."""
    gamma = hp.gamma
    if disc.absorbing:
        ones = jnp.ones_like(expert.terminated, jnp.float32)
        real = lambda s: s._replace(absorbing=jnp.zeros_like(s.terminated), weight=ones)  # noqa: E731
        join = lambda a, b: jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)  # noqa: E731
        expert = join(real(expert), absorbing_twins(real(expert)))
        policy = join(real(policy), absorbing_twins(real(policy)))
    l_e = disc.logit(params, expert, gamma)
    l_p = disc.logit(params, policy, gamma)
    loss = (_weighted_mean(jax.nn.softplus(-l_e), expert.weight)
            + _weighted_mean(jax.nn.softplus(l_p), policy.weight))  # fmt: skip

    def expert_logit(obs, action, next_obs):
        return disc.logit(params, expert._replace(obs=obs, action=action, next_obs=next_obs),
                          gamma).sum()  # fmt: skip

    grads = jax.grad(expert_logit, argnums=(0, 1, 2))(expert.obs, expert.action, expert.next_obs)
    penalty = _weighted_mean(sum(jnp.sum(jnp.square(g), axis=-1) for g in grads), expert.weight)
    total = loss + hp.grad_penalty * penalty
    stats = jnp.stack([loss, _weighted_mean(l_e > 0, expert.weight),
                       _weighted_mean(l_p < 0, policy.weight)])  # fmt: skip
    return total, stats


DISC_METRICS = ("disc_loss", "expert_accuracy", "policy_accuracy")


class Parts(NamedTuple):
    """The static parts of a configured learner."""

    cfg: AdversarialConfig
    ppo_cfg: ppo.PPOConfig
    venv: Any
    net: ppo.ActorCritic
    disc: Discriminator
    spec: jenvs.ActionSpec


def action_features(spec: jenvs.ActionSpec, action):
    """Actions as the discriminator reads them: one-hot, or clipped into the action box and
    scaled to ``[-1, 1]``."""
    if spec.discrete:
        return jax.nn.one_hot(action, spec.dim)
    action = jnp.clip(action, spec.low, spec.high)
    return 2.0 * (action - spec.low) / (spec.high - spec.low) - 1.0


def expert_sample(parts: Parts, params, demos: jdemos.Demos, idx, obs_stats) -> Sample:
    """Demonstration transitions ``idx`` as a :class:`Sample` under the current policy."""
    obs, next_obs = demos.obs[idx], demos.next_obs[idx]
    if obs_stats is not None:
        obs, next_obs = obs_stats.normalize(obs), obs_stats.normalize(next_obs)
    action = demos.action[idx]
    log_pi = jnp.zeros(idx.shape)
    if parts.disc.kind == "airl":
        dist, _ = parts.net(params, obs)
        log_pi = dist.log_prob(action)
    return Sample(obs, action_features(parts.spec, action), next_obs, demos.terminated[idx],
                  log_pi)  # fmt: skip


def train_discriminator(parts: Parts, tx, disc_params, disc_opt, policy: Sample, ppo_params,
                        demos: jdemos.Demos, obs_stats, key, hp):  # fmt: skip
    """``disc_epochs`` passes over the policy's samples ``[n]``, each minibatch against as
    many demonstration transitions -> ``(params, opt_state, mean stats [3])``."""
    cfg = parts.cfg
    n = policy.obs.shape[0]
    m = n // cfg.disc_minibatches
    steps = cfg.disc_epochs * cfg.disc_minibatches
    k_perm, k_idx = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
        jax.random.split(k_perm, cfg.disc_epochs)
    )
    policy_mbs = jax.tree.map(lambda x: x[perms.reshape(-1)].reshape((steps, m) + x.shape[1:]),
                              policy)  # fmt: skip
    expert_idx = jax.random.randint(k_idx, (steps, m), 0, demos.obs.shape[0])
    grad_fn = jax.grad(lambda p, e, s: discriminator_loss(parts.disc, p, e, s, hp), has_aux=True)

    def step(carry, inp):
        params, opt_state = carry
        mb, idx = inp
        expert = expert_sample(parts, ppo_params, demos, idx, obs_stats)
        grads, stats = grad_fn(params, expert, mb)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), stats

    (disc_params, disc_opt), stats = jax.lax.scan(step, (disc_params, disc_opt),
                                                  (policy_mbs, expert_idx))  # fmt: skip
    return disc_params, disc_opt, stats.mean(axis=0)


def policy_samples(parts: Parts, traj: ppo.Transition) -> Sample:
    """A rollout ``[T, E]`` as the discriminator's samples ``[T, E]``."""
    return Sample(traj.obs, action_features(parts.spec, traj.action), traj.final_obs,
                  traj.terminated, traj.log_prob)  # fmt: skip


def update(parts: Parts, state: AdversarialState, hp: AdversarialHParams, env_params,
           demos: jdemos.Demos):  # fmt: skip
    """One update: rollout, discriminator steps, PPO on the discriminator's rewards."""
    cfg, net = parts.cfg, parts.net
    php = ppo_hparams(hp)
    s = state.ppo
    key, k_rollout, k_perm, k_disc = jax.random.split(s.key, 4)
    env_state, obs, traj = ppo.collect_rollout(net, parts.venv, s.params, s.env_state, s.obs,
                                               k_rollout, cfg.num_steps, env_params)  # fmt: skip
    obs_stats = env_state.obs_stats if cfg.normalize_obs else None
    samples = policy_samples(parts, traj)
    flat = jax.tree.map(lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]), samples)
    disc, disc_opt, disc_stats = train_discriminator(
        parts, optax.adam(hp.disc_lr), state.disc, state.disc_opt, flat, s.params, demos,
        obs_stats, k_disc, hp,
    )  # fmt: skip
    reward = parts.disc.reward(disc, samples, hp.gamma)
    after = parts.disc.absorbing_return(disc, hp.gamma, flat.obs.shape[-1], flat.action.shape[-1])
    reward = reward + jnp.where(traj.terminated, after, 0.0)
    learned = traj._replace(reward=jax.lax.stop_gradient(reward))
    params, opt_state, losses = ppo.learn(net, parts.ppo_cfg, s.params, s.opt_state, learned,
                                          php, k_perm)  # fmt: skip
    last_return, episodes = latest_return(s.last_return, traj.episode_return, traj.done)
    metrics = {"episode_return": last_return, "episodes": episodes,
               "learned_reward": reward.mean(), "absorbing_return": after}  # fmt: skip
    metrics.update(zip(ppo.LOSS_NAMES, losses, strict=True))
    metrics.update(zip(DISC_METRICS, disc_stats, strict=True))
    s = s.replace(params=params, opt_state=opt_state, env_state=env_state, obs=obs, key=key,
                  last_return=last_return)  # fmt: skip
    return AdversarialState(ppo=s, disc=disc, disc_opt=disc_opt), metrics


def load_demos(config: AdversarialConfig, env, env_params) -> jdemos.Demos:
    """The first ``num_demos`` episodes of ``config.demos``, checked against the env.

    Raises:
      ValueError: naming ``demos`` (or ``num_demos``) if they do not fit.
    """
    demos = jdemos.load(config.demos, config.num_demos).demos
    obs_dim = jenvs.observation_size(env, env_params)
    spec = jenvs.action_spec(env, env_params)
    require(
        demos.obs.shape[1:] == (obs_dim,),
        "demos",
        f"observations of size {demos.obs.shape[1:]} but the env's are ({obs_dim},)",
    )
    if spec.discrete:
        require(demos.action.ndim == 1, "demos", "continuous actions for a discrete env")
    else:
        require(
            demos.action.shape[1:] == (spec.dim,),
            "demos",
            f"actions of shape {demos.action.shape[1:]}, the env's are ({spec.dim},)",
        )
    return jax.tree.map(jnp.asarray, demos)  # fmt: skip


def make_learner(config: AdversarialConfig, env, env_params, kind: str = "gail") -> Learner:
    """GAIL or AIRL (``kind``) on ``env``, imitating ``config.demos``, as a
    :class:`~jaxrl.learner.Learner` whose ``data`` is the demonstrations.

    Raises:
      ValueError: an invalid config or demonstration file, naming the field.
    """
    require_choice("kind", kind, KINDS)
    config.validate()
    ppo_cfg = config.ppo_config()
    demos = load_demos(config, env, env_params)
    policy_learner = ppo.make_learner(ppo_cfg, env, env_params)
    spec = jenvs.action_spec(env, env_params)
    venv = jenvs.stack(env, env_params, config.num_envs, normalize_obs=config.normalize_obs)
    obs_dim = venv.observation_space(env_params).shape[0]
    disc = Discriminator(kind, config.state_only, config.disc_activation,
                         getattr(config, "entropy_reward", False), config.absorbing)  # fmt: skip
    parts = Parts(config, ppo_cfg, venv, ppo.ActorCritic(spec.discrete, config.activation), disc,
                  spec)  # fmt: skip

    def init(key, hp, env_params, data):
        k_ppo, k_disc = jax.random.split(key)
        ppo_state = policy_learner.init(k_ppo, ppo_hparams(hp), env_params, None)
        params = disc.init(k_disc, obs_dim, spec.dim, config.disc_hidden)
        return AdversarialState(ppo_state, params, optax.adam(hp.disc_lr).init(params))

    def update_state(state, hp, env_params, data):
        return update(parts, state, hp, env_params, data)

    def save(state: AdversarialState) -> dict:
        return {**policy_learner.save(state.ppo), "discriminator": state.disc}

    return Learner(
        config=config,
        hparams=AdversarialHParams(),
        init=init,
        update=update_state,
        policy=Policy(policy_learner.policy.act),
        save=save,
        num_updates=ppo_cfg.num_updates,
        steps_per_update=ppo_cfg.batch_size,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
        data=demos,
    )


def learned_reward(learner: Learner, kind: str, gamma: float = 0.99):
    """The reward a trained GAIL or AIRL run (``kind``) learned, to re-optimise with any
    learner (:func:`jaxrl.envs.reward.with_reward`): ``reward(saved, obs, action, next_obs,
    terminated) -> r``, ``saved`` what the learner's ``save`` yields. AIRL: the disentangled
    ``g(s)`` (``g(s, a)`` unless ``state_only``), free of the shaping terms; GAIL:
    ``-log(1 - D(s, a))``. With ``absorbing``, a termination also earns the absorbing state's
    reward for ever after, discounted by ``gamma`` (the run's). Observations are raw; with
    ``normalize_obs`` they are normalised by the run's saved statistics first."""
    require_choice("kind", kind, KINDS)
    cfg = learner.config
    spec = jenvs.action_spec(learner.env, learner.env_params)
    disc = Discriminator(kind, cfg.state_only, cfg.disc_activation, absorbing=cfg.absorbing)

    def r(params, obs, action, absorbing=None):
        g = disc.g(params, obs, action, absorbing)
        return jax.nn.softplus(g) if kind == "gail" else g

    def reward(saved, obs, action, next_obs, terminated):
        del next_obs
        if cfg.normalize_obs:
            obs = saved["obs_stats"].normalize(obs)
        action = action_features(spec, action)
        out = r(saved["discriminator"], obs, action)
        if cfg.absorbing:
            after = r(saved["discriminator"], jnp.zeros_like(obs), jnp.zeros_like(action), True)
            out = out + jnp.where(terminated, gamma / (1.0 - gamma) * after, 0.0)
        return out

    return reward
