"""Evolution strategies for policy search: CMA-ES and OpenAI-ES (with evosax).

A population of deterministic MLP policies (one flat parameter vector each) is sampled from
the strategy's search distribution; each member's fitness is its mean undiscounted return
over ``episodes_per_member`` episodes from vmapped rollouts; the strategy updates its
distribution from the fitnesses. One generation is one update of the learner contract, and
``state.params`` is the distribution's mean: the policy a run saves and is evaluated by.

Metrics per generation: ``episode_return`` is the return of that saved policy, the search
mean the generation started from, over ``episodes_per_member`` episodes played beside the
population's; ``population_return`` is the population's mean fitness (what the strategy sees,
lower than the mean's return while the search still explores) and ``best_return`` its best.

- ``strategy="cma_es"``: covariance matrix adaptation (Hansen & Ostermeier 2001; tutorial
  Hansen 2016, arXiv:1604.00772); ``sigma`` is the initial step size.
- ``strategy="sep_cma_es"``: separable CMA-ES (Ros & Hansen 2008, PPSN X): the covariance
  is kept diagonal, so memory and time per generation are linear in the parameter count
  (full CMA-ES stores and eigendecomposes an ``n x n`` matrix: 6,467 parameters, a 16-unit
  policy on MinAtar, make 167 MB per run). As the paper prescribes, the covariance learning
  rates are raised by ``(n + 2) / 3`` over full CMA-ES's (evosax's ``Sep_CMA_ES`` keeps the
  full-CMA rates), capped so that ``c_1 + c_mu * sum(w) <= 1``.
- ``strategy="open_es"``: OpenAI-ES (Salimans et al. 2017, arXiv:1703.03864), antithetic
  Gaussian perturbations of std ``sigma``, centred-rank fitness, Adam on the mean with ``lr``.

evosax minimises, so the fitness handed to it is minus the return.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from evosax.algorithms import CMA_ES, Open_ES, Sep_CMA_ES
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_choice, require_positive_ints
from jaxrl.distributions import Categorical, TanhGaussian
from jaxrl.envs.wrappers import transition
from jaxrl.learner import Learner, Policy, trainer
from jaxrl.networks import ACTIVATIONS, apply_mlp, init_mlp

STRATEGIES = ("cma_es", "sep_cma_es", "open_es")


@dataclasses.dataclass(frozen=True)
class CMAESConfig:
    """Static configuration (changing one recompiles).

    ``episode_steps`` is the length of every rollout (episodes that end earlier stop counting
    reward); it must not exceed the env's time limit, so set it to e.g. 200 for Pendulum-v1.
    """

    strategy: str = "cma_es"
    """cma_es (covariance matrix adaptation), sep_cma_es (its diagonal, linear-memory form)
    or open_es (OpenAI-ES with Adam)."""
    population_size: int = 16
    """Policies sampled and scored per generation."""
    episodes_per_member: int = 1
    """Episodes averaged into each member's fitness."""
    episode_steps: int = 500
    """Length of every rollout, at most the env's time limit (e.g. 200 for Pendulum-v1)."""
    total_steps: int = 400_000
    """Env steps per run (per seed), rounded down to whole generations."""
    hidden: tuple[int, ...] = (16,)
    """Hidden layer widths of the policy."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu, gelu or silu."""

    @property
    def batch_size(self) -> int:
        """Env steps of one generation."""
        return self.population_size * self.episodes_per_member * self.episode_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def validate(self) -> None:
        require_choice("strategy", self.strategy, STRATEGIES)
        require_positive_ints(
            self, ("population_size", "episodes_per_member", "episode_steps", "total_steps")
        )
        require(self.population_size >= 4, "population_size",
                f"needs at least 4 members, got {self.population_size}")  # fmt: skip
        if self.strategy == "open_es":
            require(self.population_size % 2 == 0, "population_size",
                    f"open_es samples antithetic pairs: must be even, "
                    f"got {self.population_size}")  # fmt: skip
        require(self.total_steps >= self.batch_size, "total_steps",
                f"{self.total_steps} is less than one generation "
                "(population_size*episodes_per_member*episode_steps="
                f"{self.batch_size})")  # fmt: skip
        require(all(h > 0 for h in self.hidden), "hidden",
                f"layer sizes must be positive, got {self.hidden}")  # fmt: skip
        require_choice("activation", self.activation, ACTIVATIONS)


class CMAESHParams(NamedTuple):
    """Traced hyperparameters: ``sigma`` (initial / perturbation std), ``lr`` (open_es only)."""

    sigma: float = 0.5
    """Initial step size (cma_es, sep_cma_es) or perturbation std (open_es), in parameter
    units."""
    lr: float = 0.05
    """Adam's learning rate on the mean (open_es only)."""


HPARAM_RANGES = {"sigma": "> 0", "lr": "> 0"}


@struct.dataclass
class ESState:
    params: jax.Array  # [P] mean of the search distribution
    es_state: Any
    key: jax.Array
    last_return: jax.Array


class _Policy(NamedTuple):
    """A deterministic MLP policy: the mode of a categorical over its outputs (discrete), or
    the squashed mean ``tanh(out)`` mapped onto the action box (continuous)."""

    spec: jenvs.ActionSpec
    activation: str
    unravel: Any

    def __call__(self, layers, obs: jax.Array) -> jax.Array:
        """Actions ``[..., ...]`` for observations ``[..., obs_dim]`` (``layers`` a pytree)."""
        out = apply_mlp(layers, obs, self.activation)
        if self.spec.discrete:
            return Categorical(out).mode()
        return self.spec.to_env(TanhGaussian(out, jnp.zeros_like(out)).mode())

    def flat(self, flat_params: jax.Array, obs: jax.Array) -> jax.Array:
        return self(self.unravel(flat_params), obs)


def separable_rates(c_1, c_mu, weight_sum, num_params: int):
    """Ros & Hansen (2008)'s covariance learning rates for separable CMA-ES: full CMA-ES's
    ``c_1`` and ``c_mu`` times ``(n + 2) / 3``, scaled down together where the decay factor
    ``1 - c_1 - c_mu * sum(w)`` of the diagonal would turn negative."""
    scale = (num_params + 2) / 3
    c_1, c_mu = c_1 * scale, c_mu * scale
    shrink = jnp.minimum(1.0, 1.0 / (c_1 + c_mu * weight_sum))
    return c_1 * shrink, c_mu * shrink


def _strategy(cfg: CMAESConfig, num_params: int, hp: CMAESHParams):
    """The evosax strategy and its params (built per trace: ``hp`` may be traced)."""
    solution = jnp.zeros((num_params,))
    if cfg.strategy == "cma_es":
        es = CMA_ES(population_size=cfg.population_size, solution=solution)
        return es, es.default_params.replace(std_init=hp.sigma)
    if cfg.strategy == "sep_cma_es":
        es = Sep_CMA_ES(population_size=cfg.population_size, solution=solution)
        p = es.default_params
        c_1, c_mu = separable_rates(p.c_1, p.c_mu, jnp.sum(p.weights), num_params)
        return es, p.replace(std_init=hp.sigma, c_1=c_1, c_mu=c_mu)
    es = Open_ES(population_size=cfg.population_size, solution=solution,
                 optimizer=optax.adam(hp.lr), std_schedule=lambda _: hp.sigma)  # fmt: skip
    return es, es.default_params


def make_learner(config: CMAESConfig, env, env_params) -> Learner:
    """Policy search with ``config.strategy`` on ``env`` (see the module doc)."""
    config.validate()
    max_steps = int(getattr(env_params, "max_steps_in_episode", config.episode_steps))
    require(config.episode_steps <= max_steps, "episode_steps",
            f"{config.episode_steps} exceeds the env's time limit of {max_steps} "
            "steps")  # fmt: skip
    base_env = env
    if len(env.observation_space(env_params).shape) != 1:
        env = jenvs.FlattenObservation(env)
    spec = jenvs.action_spec(env, env_params)
    obs_dim = env.observation_space(env_params).shape[0]
    sizes = (obs_dim, *config.hidden, spec.dim)

    def init_layers(key):
        return init_mlp(key, sizes, kernel_init="glorot_uniform")

    _, unravel = ravel_pytree(init_layers(jax.random.key(0)))
    policy = _Policy(spec, config.activation, unravel)
    cfg = config
    n_members = cfg.population_size + 1  # the population and the search mean
    n_rollouts = n_members * cfg.episodes_per_member

    def evaluate(population: jax.Array, key: jax.Array, env_params) -> jax.Array:
        """Mean return of each member ``[N + 1, P]`` over its episodes -> ``[N + 1]``."""
        members = jnp.repeat(population, cfg.episodes_per_member, axis=0)
        k_reset, k_step = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, n_rollouts),
                                                    env_params)  # fmt: skip
        step_keys = jax.random.split(k_step, (cfg.episode_steps, n_rollouts))

        def step(carry, keys):
            obs, state, ret, alive = carry
            action = jax.vmap(policy.flat)(members, obs)
            obs, state, reward, terminated, truncated, _ = jax.vmap(
                transition, (None, 0, 0, 0, None)
            )(env, keys, state, action, env_params)
            ret = ret + jnp.where(alive, reward, 0.0)
            alive = alive & ~(terminated | truncated)
            return (obs, state, ret, alive), None

        init = (obs, state, jnp.zeros(n_rollouts), jnp.ones(n_rollouts, bool))
        (_, _, ret, _), _ = jax.lax.scan(step, init, step_keys)
        return ret.reshape(n_members, cfg.episodes_per_member).mean(axis=1)

    def init(key: jax.Array, hp: CMAESHParams, env_params, data) -> ESState:
        k_net, k_es, k_run = jax.random.split(key, 3)
        mean, _ = ravel_pytree(init_layers(k_net))
        es, es_params = _strategy(cfg, mean.shape[0], hp)
        es_state = es.init(k_es, mean, es_params)
        return ESState(mean, es_state, k_run, jnp.zeros((), jnp.float32))

    def update(state: ESState, hp: CMAESHParams, env_params, data):
        """One generation: ask, evaluate the population, tell."""
        es, es_params = _strategy(cfg, state.params.shape[0], hp)
        key, k_ask, k_eval, k_tell = jax.random.split(state.key, 4)
        population, es_state = es.ask(k_ask, state.es_state, es_params)
        members = jnp.concatenate([population, state.params[None]])
        returns = evaluate(members, k_eval, env_params)
        returns, mean_policy_return = returns[:-1], returns[-1]
        fitness = jnp.where(jnp.isfinite(returns), -returns, jnp.inf)
        es_state, _ = es.tell(k_tell, population, fitness, es_state, es_params)
        metrics = {
            "episode_return": mean_policy_return,
            "population_return": jnp.mean(returns),
            "best_return": jnp.max(returns),
            "sigma": jnp.asarray(es_state.std, jnp.float32).mean(),
        }
        return ESState(es_state.mean, es_state, key, mean_policy_return), metrics

    def act(layers, obs, key, carry, env_state, greedy: bool):
        return policy(layers, obs), carry

    return Learner(
        config=cfg,
        hparams=CMAESHParams(),
        init=init,
        update=update,
        policy=Policy(act),
        save=lambda state: unravel(state.params),
        num_updates=cfg.num_updates,
        steps_per_update=cfg.batch_size,
        env=base_env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )


make_train = trainer(make_learner)
CONFIG = CMAESConfig
HPARAMS = CMAESHParams
