"""Option-critic (Bacon, Harb & Precup 2017, arXiv:1609.05140), tabular and deep.

An option ``w`` is an intra-option policy ``pi_w(a|s)`` with a termination ``beta_w(s)``; a
policy over options picks a new option epsilon-greedily by ``Q_W(s, w)`` whenever the
running one terminates (and at the start of an episode). All three are learned together
from one stream of experience, with these losses on each step ``(s, w, a, r, s')`` (one
forward pass gives ``Q_W``, ``beta`` and ``pi`` for every option, :func:`heads`):

- critic: ``1/2 (G - Q_W(s, w))^2``, with ``G`` the return bootstrapped on arrival in ``s'``
  with ``w`` still running by ``U(w, s') = (1 - beta_w(s')) Q_W(s', w) + beta_w(s')
  max_w' Q_W(s', w')`` (intra-option Q-learning, the paper's Algorithm 1);
- intra-option policy gradient (Theorem 1): ``-log pi_w(a|s) (G - Q_W(s, w))``: the sampled
  return estimates ``Q_U(s, w, a)``, and ``Q_W(s, w)`` is the baseline;
- termination gradient (Theorem 2): ``beta_w(s') (Q_W(s', w) - V_W(s') + xi)``, descended:
  an option ends where it is worse than the best option, ``V_W(s') = max_w' Q_W(s', w')``
  (the greedy policy over options, as Algorithm 1 and the paper's four-rooms code), and the
  termination regulariser ``xi > 0`` (section 3) is a margin an option must lose by before
  it ends, which keeps options long.

The targets ``G`` and the two advantages are constants of the gradient. One gradient step
follows each rollout of ``num_steps`` steps of ``num_envs`` envs, with n-step returns
(A2OC, Harb et al. 2018, arXiv:1709.04571) that end in ``U`` (:func:`option_returns`);
steps repeat until ``log_every`` env steps make one reported update.

The tabular algorithm is the case :data:`TABULAR`: one env, one-step rollouts, ``hidden =
()`` (a linear function of the observation, which on the one-hot states of
``FourRooms-v0`` is a table: ``Q_W``, ``beta`` and ``pi`` each read one row per state)
under plain SGD, i.e. each step moves only the entries of ``s`` and ``s'``, as Algorithm 1.
With ``num_options = 1`` the learner is a flat actor-critic with a ``Q`` critic (the
option never changes, so ``U = Q``), the paper's baseline.

The running option is the policy's memory: ``Policy.act`` carries it (``-1``, "choose
one", after ``init_carry``), and the evaluation loop resets it at episode ends.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import envs as jenvs
from jaxrl._errors import (
    require,
    require_choice,
    require_positive_ints,
    require_update_schedule,
)
from jaxrl.distributions import Categorical
from jaxrl.learner import Learner, Policy, latest_return, trainer
from jaxrl.networks import ACTIVATIONS, apply_mlp, init_mlp

OPTIMIZERS = {
    "sgd": optax.sgd,
    "adam": lambda lr: optax.adam(lr, eps=1e-5),
    "rmsprop": lambda lr: optax.rmsprop(lr, decay=0.99, eps=1e-5),
}


@dataclasses.dataclass(frozen=True)
class OptionCriticConfig:
    """Static configuration (changing one recompiles)."""

    num_envs: int = 16
    """Environments stepped in lockstep in each run."""
    num_steps: int = 5
    """Steps of every env per rollout; one gradient step per rollout."""
    total_steps: int = 500_000
    """Env steps per run (per seed), rounded down to whole updates."""
    log_every: int = 2_000
    """Env steps per reported update (a multiple of num_envs * num_steps)."""
    num_options: int = 4
    """Options (intra-option policies with their terminations)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the shared torso; () is linear (a table on one-hot states)."""
    activation: str = "relu"
    """Hidden activation: tanh, relu, gelu or silu."""
    optimizer: str = "adam"
    """sgd, adam or rmsprop."""

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.log_every

    def validate(self) -> None:
        require_positive_ints(
            self, ("num_envs", "num_steps", "total_steps", "log_every", "num_options")
        )
        require_update_schedule(self, "num_envs*num_steps")
        require(
            all(isinstance(h, int) and h > 0 for h in self.hidden),
            "hidden",
            f"layer sizes must be positive ints, got {self.hidden}",
        )
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)


class OptionCriticHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 1e-3
    """Learning rate (the intra-option policies' step; the critic's and the terminations'
    are scaled by their coefficients)."""
    gamma: float = 0.99
    """Discount."""
    critic_coef: float = 0.5
    """Weight of the critic's loss."""
    termination_coef: float = 1.0
    """Weight of the termination loss."""
    termination_reg: float = 0.01
    """xi: the margin an option must lose by, Q_W(s', w) < V_W(s') - xi, before it ends."""
    epsilon: float = 0.05
    """Exploration of the policy over options (epsilon-greedy on Q_W)."""
    ent_coef: float = 0.001
    """Weight of the intra-option policies' entropy bonus."""


HPARAM_RANGES = {
    "lr": "> 0",
    "gamma": "[0, 1]",
    "critic_coef": ">= 0",
    "termination_coef": ">= 0",
    "termination_reg": ">= 0",
    "epsilon": "[0, 1]",
    "ent_coef": ">= 0",
}

# The tabular algorithm (the paper's four-rooms experiment): one env, an update after every
# step, a table (linear on one-hot states), plain SGD with step sizes 3 for the intra-option
# policies, 0.5 for Q_W and 0.25 for the terminations (lr times each coefficient). Chosen on
# FourRooms-v0 among policy steps 0.5-5 over 8 seeds, before the experiment's seeds ran.
TABULAR = OptionCriticConfig(
    num_envs=1, num_steps=1, total_steps=150_000, log_every=100, hidden=(), optimizer="sgd"
)
TABULAR_HPARAMS = OptionCriticHParams(
    lr=3.0, critic_coef=0.5 / 3.0, termination_coef=0.25 / 3.0, termination_reg=0.01,
    epsilon=0.01, ent_coef=0.0,
)  # fmt: skip


class Heads(NamedTuple):
    """Every option's values, terminations and intra-option policies at a batch of states."""

    q: jax.Array  # [..., K] Q_W(s, w)
    beta: jax.Array  # [..., K] beta_w(s)
    logits: jax.Array  # [..., K, A] of pi_w(.|s)


def heads(params, obs: jax.Array, num_options: int, activation: str) -> Heads:
    """One network (torso and a linear head of ``K (2 + A)`` outputs) -> :class:`Heads`."""
    out = apply_mlp(params, obs, activation)
    k = num_options
    logits = out[..., 2 * k :].reshape(out.shape[:-1] + (k, -1))
    return Heads(out[..., :k], jax.nn.sigmoid(out[..., k : 2 * k]), logits)


def pick(x: jax.Array, option: jax.Array) -> jax.Array:
    """``x[..., w, ...]`` for each row's option: ``x [..., K, *rest]``, ``option [...]``."""
    idx = option.reshape(option.shape + (1,) * (x.ndim - option.ndim))
    return jnp.squeeze(jnp.take_along_axis(x, idx, axis=option.ndim), option.ndim)


def choose_option(h: Heads, option: jax.Array, key, epsilon, greedy: bool):
    """The option to follow at states ``h`` given the running ``option [B]`` (-1: none).

    The running option terminates with probability ``beta_w(s)``; then (and when there is
    none) a new one is drawn epsilon-greedily by ``Q_W(s, .)`` (greedily if ``greedy``).
    Returns ``(option [B], ended [B])``, ``ended`` true where a running option terminated.
    """
    k_end, k_eps, k_rand = jax.random.split(key, 3)
    running = option >= 0
    current = jnp.maximum(option, 0)
    ends = jax.random.uniform(k_end, current.shape) < pick(h.beta, current)
    best = jnp.argmax(h.q, axis=-1).astype(jnp.int32)
    if greedy:
        chosen = best
    else:
        explore = jax.random.uniform(k_eps, current.shape) < epsilon
        other = jax.random.randint(k_rand, current.shape, 0, h.q.shape[-1], jnp.int32)
        chosen = jnp.where(explore, other, best)
    new = jnp.where(running & ~ends, current, chosen)
    return new, running & ends


def behave(h: Heads, option, key, epsilon, greedy: bool):
    """``(action [B], option [B], ended [B])``: choose the option, then its action."""
    k_opt, k_act = jax.random.split(key)
    option, ended = choose_option(h, option, k_opt, epsilon, greedy)
    dist = Categorical(pick(h.logits, option))
    action = dist.mode() if greedy else dist.sample(k_act)
    return action, option, ended


def option_returns(r_t, terminated_t, done_t, u_t, gamma):
    """n-step returns of one env's rollout, ``[T]`` each -> ``G [T]``.

    ``G_t = r_t + gamma (1 - terminated_t) X``, with ``X = U_t`` (the value of the state the
    step reached, ``U(w_t, s_{t+1})``) where the episode ended there or the rollout does,
    else ``X = G_{t+1}``.
    """

    def body(g_next, x):
        r, term, done, u = x
        g = r + gamma * (1.0 - term) * jnp.where(done, u, g_next)
        return g, g

    xs = (r_t, terminated_t.astype(jnp.float32), done_t, u_t)
    _, g = jax.lax.scan(body, u_t[-1], xs, reverse=True)
    return g


class Rollout(NamedTuple):
    """One rollout, ``[T, N, ...]``."""

    obs: jax.Array
    option: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    final_obs: jax.Array  # the state each step reached, before any reset
    episode_return: jax.Array
    episode_length: jax.Array
    ended: jax.Array  # a running option terminated at obs


LOSS_NAMES = ("loss", "critic_loss", "policy_loss", "termination_loss", "entropy", "beta")


def option_critic_loss(params, traj: Rollout, hp: OptionCriticHParams, num_options: int,
                       activation: str):  # fmt: skip
    """The summed losses of a rollout -> ``(loss, [loss, critic, policy, termination,
    entropy, mean beta_w(s')])`` (the module docstring's three terms)."""
    h = heads(params, traj.obs, num_options, activation)
    h2 = heads(params, traj.final_obs, num_options, activation)
    w = traj.option
    q = pick(h.q, w)
    q2, beta2 = pick(h2.q, w), pick(h2.beta, w)
    v2 = jnp.max(h2.q, axis=-1)
    u2 = jax.lax.stop_gradient((1.0 - beta2) * q2 + beta2 * v2)
    g = jax.vmap(option_returns, (1, 1, 1, 1, None), 1)(
        traj.reward, traj.terminated, traj.done, u2, hp.gamma
    )
    critic_loss = jnp.mean(0.5 * jnp.square(g - q))
    dist = Categorical(pick(h.logits, w))
    advantage = jax.lax.stop_gradient(g - q)
    policy_loss = -jnp.mean(dist.log_prob(traj.action) * advantage)
    entropy = jnp.mean(dist.entropy())
    margin = jax.lax.stop_gradient(q2 - v2 + hp.termination_reg)
    termination_loss = jnp.mean(beta2 * margin * (1.0 - traj.done))
    loss = (policy_loss + hp.critic_coef * critic_loss + hp.termination_coef * termination_loss
            - hp.ent_coef * entropy)  # fmt: skip
    return loss, jnp.stack(
        [loss, critic_loss, policy_loss, termination_loss, entropy, jnp.mean(beta2)]
    )


@struct.dataclass
class OptionCriticState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    option: jax.Array  # [N] the running option of each env (-1: choose one)
    epsilon: jax.Array  # the policy over options' exploration (saved with the policy)
    key: jax.Array
    last_return: jax.Array
    last_length: jax.Array


def make_learner(config: OptionCriticConfig, env, env_params) -> Learner:
    """Option-critic on ``env`` (discrete actions).

    Raises:
      ValueError: an invalid config (naming the field) or a continuous-action env.
    """
    config.validate()
    cfg = config
    spec = jenvs.require_action_kind(
        "option_critic", env, env_params, discrete=True, instead="hiro, td3 or sac"
    )
    venv = jenvs.stack(env, env_params, cfg.num_envs)
    obs_dim = venv.observation_space(env_params).shape[0]
    k, n, t = cfg.num_options, cfg.num_envs, cfg.num_steps
    sizes = (obs_dim, *cfg.hidden, k * (2 + spec.dim))
    n_iter = cfg.log_every // cfg.steps_per_iteration

    def net(params, obs):
        return heads(params, obs, k, cfg.activation)

    def loss_fn(params, traj, hp):
        return option_critic_loss(params, traj, hp, k, cfg.activation)

    def init(key, hp, env_params, data) -> OptionCriticState:
        k_net, k_reset, k_run = jax.random.split(key, 3)
        params = init_mlp(k_net, sizes, head_scale=0.01)
        obs, env_state = venv.reset(k_reset, env_params)
        zero = jnp.zeros((), jnp.float32)
        return OptionCriticState(params=params,
                                 opt_state=OPTIMIZERS[cfg.optimizer](hp.lr).init(params),
                                 env_state=env_state, obs=obs,
                                 option=jnp.full((n,), -1, jnp.int32),
                                 epsilon=jnp.asarray(hp.epsilon, jnp.float32), key=k_run,
                                 last_return=zero, last_length=zero)  # fmt: skip

    def iteration(carry, xs):
        """One rollout of ``num_steps`` steps and one gradient step."""
        state, hp, env_params = carry
        prepared, keys = xs

        def env_step(c, xs_t):
            env_state, obs, option = c
            prep_t, key = xs_t
            action, option, ended = behave(net(state.params, obs), option, key, hp.epsilon,
                                           greedy=False)  # fmt: skip
            next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
                prep_t, env_state, action, env_params
            )
            done = terminated | truncated
            step = Rollout(obs, option, action, reward, terminated, done,
                           info["final_observation"], info["episode_return"],
                           info["episode_length"].astype(jnp.float32), ended)  # fmt: skip
            return (env_state, next_obs, jnp.where(done, -1, option)), step

        init_c = (state.env_state, state.obs, state.option)
        (env_state, obs, option), traj = jax.lax.scan(env_step, init_c, (prepared, keys))
        grads, losses = jax.grad(loss_fn, has_aux=True)(state.params, traj, hp)
        tx = OPTIMIZERS[cfg.optimizer](hp.lr)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        state = state.replace(params=optax.apply_updates(state.params, updates),
                              opt_state=opt_state, env_state=env_state, obs=obs,
                              option=option)  # fmt: skip
        stats = (traj.episode_return, traj.episode_length, traj.done, jnp.mean(traj.ended),
                 losses)  # fmt: skip
        return (state, hp, env_params), stats

    def update(state: OptionCriticState, hp, env_params, data):
        key, k_prep, k_act = jax.random.split(state.key, 3)
        prepared = venv.prepare(k_prep, n_iter * t, env_params)
        prepared = jax.tree.map(lambda x: x.reshape((n_iter, t) + x.shape[1:]), prepared)
        keys = jax.random.split(k_act, (n_iter, t))
        (state, _, _), (returns, lengths, done, ended, losses) = jax.lax.scan(
            iteration, (state.replace(key=key), hp, env_params), (prepared, keys)
        )
        last_return, count = latest_return(state.last_return, returns, done)
        last_length, _ = latest_return(state.last_length, lengths, done)
        metrics = dict(zip(LOSS_NAMES, losses.mean(axis=0), strict=True))
        metrics.update(episode_return=last_return, episode_length=last_length,
                       episodes=count, option_terminations=ended.mean())  # fmt: skip
        return state.replace(last_return=last_return, last_length=last_length), metrics

    def save(state: OptionCriticState) -> dict:
        return {"net": state.params, "epsilon": state.epsilon}

    def act(saved, obs, key, carry, env_state, greedy: bool):
        action, option, _ = behave(net(saved["net"], obs), carry, key, saved["epsilon"], greedy)
        return action, option

    def init_carry(batch: int):
        return jnp.full((batch,), -1, jnp.int32)

    return Learner(
        config=cfg,
        hparams=OptionCriticHParams(),
        init=init,
        update=update,
        policy=Policy(act, init_carry),
        save=save,
        num_updates=cfg.num_updates,
        steps_per_update=cfg.log_every,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )


make_train = trainer(make_learner)
CONFIG = OptionCriticConfig
HPARAMS = OptionCriticHParams
