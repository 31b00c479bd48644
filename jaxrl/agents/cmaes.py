"""Evolution strategies for policy search: CMA-ES and OpenAI-ES (with evosax).

A population of deterministic MLP policies (one flat parameter vector each) is sampled from
the strategy's search distribution; each member's fitness is its mean undiscounted return
over ``episodes_per_member`` episodes from vmapped rollouts; the strategy updates its
distribution from the fitnesses. One generation is one update of the learner contract, and
``state.params`` is the distribution's mean.

- ``strategy="cma_es"``: covariance matrix adaptation (Hansen & Ostermeier 2001; tutorial
  Hansen 2016, arXiv:1604.00772); ``sigma`` is the initial step size.
- ``strategy="open_es"``: OpenAI-ES (Salimans et al. 2017, arXiv:1703.03864), antithetic
  Gaussian perturbations of std ``sigma``, centred-rank fitness, Adam on the mean with ``lr``.

evosax minimises, so the fitness handed to it is minus the return.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import CMA_ES, Open_ES
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints, unknown_name
from jaxrl.envs.wrappers import transition
from jaxrl.networks import ACTIVATIONS

STRATEGIES = ("cma_es", "open_es")


@dataclasses.dataclass(frozen=True)
class CMAESConfig:
    """Static configuration (changing one recompiles).

    ``episode_steps`` is the length of every rollout (episodes that end earlier stop counting
    reward); it must not exceed the env's time limit, so set it to e.g. 200 for Pendulum-v1.
    """

    strategy: str = "cma_es"
    population_size: int = 16
    episodes_per_member: int = 1
    episode_steps: int = 500
    total_steps: int = 400_000
    hidden: tuple[int, ...] = (16,)
    activation: str = "tanh"

    @property
    def batch_size(self) -> int:
        """Env steps of one generation."""
        return self.population_size * self.episodes_per_member * self.episode_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError("strategy: " + unknown_name("strategy", self.strategy, STRATEGIES))
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
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                "activation: " + unknown_name("activation", self.activation, ACTIVATIONS)
            )


class CMAESHParams(NamedTuple):
    """Traced hyperparameters: ``sigma`` (initial / perturbation std), ``lr`` (open_es only)."""

    sigma: float = 0.5
    lr: float = 0.05


def validate_hparams(hp: CMAESHParams) -> None:
    """Checks concrete hyperparameter values (arrays elementwise)."""
    for name in ("sigma", "lr"):
        value = getattr(hp, name)
        if isinstance(value, jax.core.Tracer):
            continue
        if not np.all(np.asarray(value) > 0):
            raise ValueError(f"{name}: must be positive, got {value}")


@struct.dataclass
class ESState:
    params: jax.Array  # [P] mean of the search distribution
    es_state: Any
    key: jax.Array
    last_return: jax.Array


@struct.dataclass
class TrainResult:
    """Final state and metrics per generation (each ``[num_updates]``)."""

    state: ESState
    metrics: dict


def init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> list:
    """Glorot-uniform kernels and zero biases for layer sizes ``(in, h1, ..., out)``."""
    keys = jax.random.split(key, len(sizes) - 1)
    init = jax.nn.initializers.glorot_uniform()
    return [{"kernel": init(k, (a, b)), "bias": jnp.zeros((b,))}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]  # fmt: skip


class _Policy(NamedTuple):
    discrete: bool
    low: Any
    high: Any
    activation: str
    unravel: Any

    def __call__(self, flat_params: jax.Array, obs: jax.Array) -> jax.Array:
        """Deterministic action for one observation ``[obs_dim]``."""
        layers = self.unravel(flat_params)
        h = obs
        for layer in layers[:-1]:
            h = ACTIVATIONS[self.activation](h @ layer["kernel"] + layer["bias"])
        out = h @ layers[-1]["kernel"] + layers[-1]["bias"]
        if self.discrete:
            return jnp.argmax(out, axis=-1).astype(jnp.int32)
        return self.low + 0.5 * (jnp.tanh(out) + 1.0) * (self.high - self.low)


def _act(policy: _Policy, params, obs, key, greedy: bool):
    """Actions ``[B, ...]`` for observations ``[B, obs_dim]`` (the policy is deterministic)."""
    del key, greedy
    return jax.vmap(policy, (None, 0))(params, obs)


def _strategy(cfg: CMAESConfig, num_params: int, hp: CMAESHParams):
    """The evosax strategy and its params (built per trace: ``hp`` may be traced)."""
    solution = jnp.zeros((num_params,))
    if cfg.strategy == "cma_es":
        es = CMA_ES(population_size=cfg.population_size, solution=solution)
        return es, es.default_params.replace(std_init=hp.sigma)
    es = Open_ES(population_size=cfg.population_size, solution=solution,
                 optimizer=optax.adam(hp.lr), std_schedule=lambda _: hp.sigma)  # fmt: skip
    return es, es.default_params


def make_train(config: CMAESConfig, env, env_params):
    """Builds ``train(key, hparams, env_params=None) -> TrainResult`` (see the module doc)."""
    config.validate()
    max_steps = int(getattr(env_params, "max_steps_in_episode", config.episode_steps))
    require(config.episode_steps <= max_steps, "episode_steps",
            f"{config.episode_steps} exceeds the env's time limit of {max_steps} "
            "steps")  # fmt: skip
    if len(env.observation_space(env_params).shape) != 1:
        env = jenvs.FlattenObservation(env)
    discrete = jenvs.is_discrete(env, env_params)
    space = env.action_space(env_params)
    if discrete:
        num_out, low, high = space.n, None, None
    else:
        num_out = int(math.prod(space.shape))
        low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    obs_dim = env.observation_space(env_params).shape[0]
    sizes = (obs_dim, *config.hidden, num_out)
    _, unravel = ravel_pytree(init_mlp(jax.random.key(0), sizes))
    policy = _Policy(discrete, low, high, config.activation, unravel)
    cfg = config
    n_rollouts = cfg.population_size * cfg.episodes_per_member
    default_env_params = env_params

    def _as_f32(hparams):
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)

    def evaluate(population: jax.Array, key: jax.Array, env_params) -> jax.Array:
        """Mean return of each member ``[N, P]`` over its episodes -> ``[N]``."""
        members = jnp.repeat(population, cfg.episodes_per_member, axis=0)
        k_reset, k_step = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, n_rollouts),
                                                    env_params)  # fmt: skip
        step_keys = jax.random.split(k_step, (cfg.episode_steps, n_rollouts))

        def step(carry, keys):
            obs, state, ret, alive = carry
            action = jax.vmap(policy)(members, obs)
            obs, state, reward, terminated, truncated, _ = jax.vmap(
                transition, (None, 0, 0, 0, None)
            )(env, keys, state, action, env_params)
            ret = ret + jnp.where(alive, reward, 0.0)
            alive = alive & ~(terminated | truncated)
            return (obs, state, ret, alive), None

        init = (obs, state, jnp.zeros(n_rollouts), jnp.ones(n_rollouts, bool))
        (_, _, ret, _), _ = jax.lax.scan(step, init, step_keys)
        return ret.reshape(cfg.population_size, cfg.episodes_per_member).mean(axis=1)

    def init(key: jax.Array, hparams: CMAESHParams, env_params=None) -> ESState:
        hp = _as_f32(hparams)
        k_net, k_es, k_run = jax.random.split(key, 3)
        mean, _ = ravel_pytree(init_mlp(k_net, sizes))
        es, es_params = _strategy(cfg, mean.shape[0], hp)
        es_state = es.init(k_es, mean, es_params)
        return ESState(mean, es_state, k_run, jnp.zeros((), jnp.float32))

    def run(state: ESState, hparams: CMAESHParams, num_updates: int, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        es, es_params = _strategy(cfg, state.params.shape[0], hp)

        def generation(state: ESState, _):
            key, k_ask, k_eval, k_tell = jax.random.split(state.key, 4)
            population, es_state = es.ask(k_ask, state.es_state, es_params)
            returns = evaluate(population, k_eval, env_params)
            fitness = jnp.where(jnp.isfinite(returns), -returns, jnp.inf)
            es_state, _ = es.tell(k_tell, population, fitness, es_state, es_params)
            mean_return = jnp.mean(returns)
            metrics = {
                "episode_return": mean_return,
                "best_return": jnp.max(returns),
                "sigma": jnp.asarray(es_state.std, jnp.float32).mean(),
            }
            state = ESState(es_state.mean, es_state, key, mean_return)
            return state, metrics

        return jax.lax.scan(generation, state, None, num_updates)

    def train(key: jax.Array, hparams: CMAESHParams | None = None, env_params=None):
        hparams = CMAESHParams() if hparams is None else hparams
        state = init(key, hparams, env_params)
        state, metrics = run(state, hparams, cfg.num_updates, env_params)
        return TrainResult(state=state, metrics=metrics)

    train.init = init
    train.run = run
    train.num_updates = cfg.num_updates
    train.steps_per_update = cfg.batch_size
    train.act = lambda params, obs, key, greedy: _act(policy, params, obs, key, greedy)
    return train


CONFIG = CMAESConfig
HPARAMS = CMAESHParams
