"""The learner contract: what every algorithm provides, and the one way to train one.

Every algorithm in jaxrl (on-policy, off-policy, recurrent, planners, evolution, offline) is a
:class:`Learner`: a frozen bundle of pure functions and static counts, as optax's
``GradientTransformation`` bundles ``init`` and ``update``. The engine (:mod:`jaxrl.run`:
seeds, sharding, chunks, checkpoints, evaluation) only ever sees a ``Learner``, so nothing
there special-cases an algorithm, and an algorithm never imports the engine.

- ``init(key, hparams, env_params, data) -> state`` and ``update(state, hparams, env_params,
  data) -> (state, metrics)``: one update is one rollout and its gradient steps (on-policy),
  ``log_every`` env steps (off-policy), one generation (evolution) or a block of gradient
  steps over a dataset (offline). ``metrics`` is a dict of scalars and always has
  ``"episode_return"``. :func:`run` scans ``update``; running it in chunks gives the same
  bits as one call, since all randomness travels in the state.
- ``policy``: how the trained learner acts (:class:`Policy`), on what ``save(state)`` yields;
  ``save`` is also what a results directory stores (a pytree, never an opaque flat vector).
- ``data``: arrays every run shares (an offline learner's dataset), passed to ``init`` and
  ``update`` as an argument (not closed over, so they are not compiled into the program) and
  never vmapped over runs. ``None`` for learners that collect their own experience.
- ``hparams``: the default traced hyperparameters (a NamedTuple of floats; a sweep gives each
  leaf a leading run axis), with their valid ranges in ``hparam_ranges``.

:func:`make_train` turns a ``Learner`` into the pure ``train(key, hparams, env_params)`` that
``jax.vmap`` runs over seeds and hyperparameters (and over env params: domain
randomisation). :func:`trainer` gives an algorithm module its ``make_train(config, env,
env_params)`` from its ``make_learner``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl._errors import check_ranges


def no_carry(batch: int):
    """The carry of a policy without memory: nothing."""
    del batch
    return ()


class ReplaySchedule:
    """The update schedule of a config that steps ``num_envs`` envs ``train_every`` times
    per iteration (then trains) and reports every ``log_every`` env steps of ``total_steps``:
    the replay learners' configs extend it (it adds no fields)."""

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.train_every

    @property
    def iterations_per_update(self) -> int:
        return self.log_every // self.steps_per_iteration

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.log_every


class Policy(NamedTuple):
    """How a trained learner acts.

    ``act(params, obs [B, ...], key, carry, env_state, greedy) -> (actions [B, ...], carry)``,
    jittable, with ``greedy`` a Python bool (the policy's mode, or a sample) and ``params``
    what :attr:`Learner.save` yields. ``carry`` is the policy's memory (a recurrent hidden
    state, a planner's warm start; ``()`` for most), made by ``init_carry(B)`` at the start
    of an episode. ``env_state`` is the batch of env states behind ``obs`` (the states of the
    env as :func:`jaxrl.envs.stack` wraps it), read only by planners that search with the
    true simulator (``uses_env_state``); others ignore it.

    ``observe(carry, reward [B]) -> carry``, if given, tells the carry the reward of the
    step just taken, before the episode loop resets the carry of episodes that ended: a
    return-conditioned policy (Decision Transformer) counts down its target return with it.
    ``None`` for policies that do not read rewards.
    """

    act: Callable
    init_carry: Callable = no_carry
    uses_env_state: bool = False
    observe: Callable | None = None


class Learner(NamedTuple):
    """An algorithm, configured for one env: everything the engine needs (module docstring)."""

    config: Any
    hparams: Any
    init: Callable
    update: Callable
    policy: Policy
    save: Callable
    num_updates: int
    steps_per_update: int
    env: Any
    env_params: Any
    hparam_ranges: Mapping[str, str] = {}
    data: Any = None
    step_unit: str = "env steps"

    @property
    def total_steps(self) -> int:
        """Steps (in ``step_unit``) of a whole run: ``num_updates * steps_per_update``."""
        return self.num_updates * self.steps_per_update

    def validate_hparams(self, hparams) -> None:
        """Raises ``ValueError("lr must be > 0, got -1")`` for a value outside its range."""
        check_ranges(hparams, self.hparam_ranges)

    def act(self, params, obs, key, *, greedy: bool = True, carry=None, env_state=None):
        """Actions for a batch of observations (:class:`Policy`); returns only the actions
        when the policy has no memory, else ``(actions, carry)``."""
        stateless = carry is None
        carry = self.policy.init_carry(obs.shape[0]) if stateless else carry
        action, carry = self.policy.act(params, obs, key, carry, env_state, greedy)
        return action if stateless else (action, carry)


@struct.dataclass
class TrainResult:
    """A whole run: the final learner state, and metrics per update (``[num_updates]``)."""

    state: Any
    metrics: dict


def hyperparameters(cls):
    """A class decorator that makes ``cls`` a NamedTuple of its fields and its bases' fields.

    A ``NamedTuple`` cannot extend another's fields, so an algorithm whose hyperparameters
    are another's plus a few writes::

        @hyperparameters
        class ICMHParams(CuriosityHParams):
            icm_beta: float = 0.2
            \"\"\"Weight of the forward loss.\"\"\"

    The result is a plain NamedTuple: the bases' fields first in their order, then the new
    ones; a field written again keeps its place and takes the new default (as dataclass
    inheritance does). Each field's docstring stays where it was written, which is where
    :mod:`jaxrl._fields` (and so ``--help``) reads it.
    """
    order: dict[str, Any] = {}
    written = []  # the classes the fields were written in, bases first
    for klass in reversed(cls.__mro__):
        if klass in (object, tuple):
            continue
        if "_fields" in vars(klass):  # a NamedTuple: its fields and defaults
            sources = vars(klass).get("__hparams_sources__", (klass,))
            written += [k for k in sources if k not in written]
            for name in klass._fields:
                if name not in klass._field_defaults:
                    raise TypeError(f"{klass.__name__}.{name} has no default")
                order[name] = (klass.__annotations__.get(name, float), klass._field_defaults[name])
            continue
        written.append(klass)
        for name, kind in vars(klass).get("__annotations__", {}).items():
            if name not in vars(klass):
                raise TypeError(f"{klass.__name__}.{name} has no default")
            order[name] = (kind, vars(klass)[name])
    out = NamedTuple(cls.__name__, [(name, kind) for name, (kind, _) in order.items()])
    out.__new__.__defaults__ = tuple(default for _, default in order.values())
    out._field_defaults = {name: default for name, (_, default) in order.items()}
    out.__module__, out.__qualname__, out.__doc__ = cls.__module__, cls.__qualname__, cls.__doc__
    out.__hparams_sources__ = tuple(written)
    return out


def as_f32(hparams):
    """Every hyperparameter as float32 (scalars, sweep arrays or tracers alike)."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)


def init(learner: Learner, key: jax.Array, hparams=None, env_params=None, data=None):
    """The learner's initial state (defaults: its hparams, env params and data)."""
    hp = as_f32(learner.hparams if hparams is None else hparams)
    env_params = learner.env_params if env_params is None else env_params
    data = learner.data if data is None else data
    return learner.init(key, hp, env_params, data)


def run(learner: Learner, state, hparams, num_updates: int, env_params=None, data=None):
    """``num_updates`` updates from ``state`` -> ``(state, metrics [num_updates])``."""
    hp = as_f32(learner.hparams if hparams is None else hparams)
    env_params = learner.env_params if env_params is None else env_params
    data = learner.data if data is None else data

    def step(state, _):
        return learner.update(state, hp, env_params, data)

    return jax.lax.scan(step, state, None, num_updates)


def make_train(learner: Learner) -> Callable:
    """``train(key, hparams=None, env_params=None, data=None) -> TrainResult``, pure.

    ``train.learner`` is ``learner``, so the engine can run it in chunks, pass its data and
    save its policy.
    """

    def train(key: jax.Array, hparams=None, env_params=None, data=None) -> TrainResult:
        state = init(learner, key, hparams, env_params, data)
        state, metrics = run(learner, state, hparams, learner.num_updates, env_params, data)
        return TrainResult(state=state, metrics=metrics)

    train.learner = learner
    return train


def trainer(make_learner: Callable) -> Callable:
    """An algorithm module's ``make_train(config, env, env_params) -> train`` (validates
    ``config`` in Python, naming the field) from its ``make_learner``."""

    @functools.wraps(make_learner)
    def make(config, env, env_params, *args, **kwargs):
        return make_train(make_learner(config, env, env_params, *args, **kwargs))

    make.__name__ = "make_train"
    make.__doc__ = f"``make_train(make_learner(...))``.\n\n{make_learner.__doc__}"
    return make


def as_learner(train_or_learner) -> Learner | None:
    """The :class:`Learner` of ``train_or_learner`` (a Learner, or a ``train`` from
    :func:`make_train`); ``None`` for any other function."""
    if isinstance(train_or_learner, Learner):
        return train_or_learner
    return getattr(train_or_learner, "learner", None)


def latest_return(previous, returns, ended):
    """``(mean return of the episodes that ended, their count)``, the mean kept at
    ``previous`` when none did (a learner's ``"episode_return"`` metric). ``returns`` and
    ``ended`` are any shape, ``ended`` true where an episode ended with that return."""
    count = jnp.sum(ended)
    mean = jnp.sum(jnp.where(ended, returns, 0.0)) / jnp.maximum(count, 1)
    return jnp.where(count > 0, mean, previous).astype(jnp.float32), count
