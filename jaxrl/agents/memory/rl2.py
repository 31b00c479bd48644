"""RL²: fast reinforcement learning via slow reinforcement learning (Duan et al. 2016,
arXiv:1611.02779); learning to reinforcement-learn (Wang et al. 2016, arXiv:1611.05763).

A recurrent policy is trained by ordinary RL (here recurrent PPO, :mod:`ppo_rnn`) across
many tasks, one *trial* at a time: a task is drawn, the policy plays ``episodes_per_trial``
episodes of it with its hidden state kept across them, and it sees, besides each
observation, its previous action, the previous reward and whether the previous step ended an
episode. Maximising a trial's return makes the hidden state a learning algorithm of its own:
the policy learns to explore a new task, then to exploit what it found.

The trial is an env (:class:`jaxrl.envs.Trial`): an env that is one already (the bandit
trials ``BernoulliBandit-k<arms>-n<pulls>``, whose arms are drawn ``U[0, 1]`` for each trial)
is trained on as it is; any other env is wrapped into trials of ``episodes_per_trial``
episodes of it (gymnax's ``MetaMaze-misc`` and ``BernoulliBandit-misc`` draw their task at
each episode's reset, so one episode is one trial of theirs). Since a trial is one episode of
that env, recurrent PPO's own rule (the carry resets where an episode ends) keeps the hidden
state through a trial and resets it between trials, in training and in evaluation alike.

The defaults are for the bandit trials: 64 trials in lockstep, rollouts of 100 steps, a
128-unit GRU fed the observation directly, and a learning rate of 3e-3 (on
``BernoulliBandit-k5-n100``, 1e6 steps: 3e-3 reached a trial return of 73-74 where 1e-3
reached 65-68, and discounting by 0.99 did better than none).
"""

from __future__ import annotations

import dataclasses
import warnings

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints
from jaxrl.agents.memory import ppo_rnn
from jaxrl.learner import Learner, hyperparameters, trainer


@dataclasses.dataclass(frozen=True)
class RL2Config(ppo_rnn.PPORNNConfig):
    """Recurrent PPO's configuration, plus the trial's length (changing one recompiles)."""

    num_envs: int = 64
    """Trials played in lockstep in each run."""
    num_steps: int = 100
    """Steps of every env per rollout: the length of the sequences trained on. At least a
    trial's length, so that backpropagation spans whole trials (``make_learner`` warns when
    a trial of known length is longer)."""
    total_steps: int = 5_000_000
    """Env steps per run (per seed), rounded down to whole updates."""
    num_minibatches: int = 8
    """Minibatches per epoch, each of whole env sequences (must divide num_envs)."""
    encoder: tuple[int, ...] = ()
    """Widths of the layers between the observation and the core (may be empty)."""
    episodes_per_trial: int = 1
    """Episodes of the env in one trial (for an env that is not a trial already)."""

    def validate(self) -> None:
        super().validate()
        require_positive_ints(self, ("episodes_per_trial",))


@hyperparameters
class RL2HParams(ppo_rnn.PPORNNHParams):
    """Traced hyperparameters (recurrent PPO's, :class:`jaxrl.agents.onpolicy.ppo.PPOHParams`,
    with RL²'s defaults)."""

    lr: float = 3e-3


def make_learner(config: RL2Config, env, env_params) -> Learner:
    """RL² on trials of ``env`` (:class:`jaxrl.envs.Trial`) as a
    :class:`~jaxrl.learner.Learner`; its ``env`` and ``env_params`` are the trial's.

    Raises:
      ValueError: an invalid config, naming the field.
    """
    config.validate()
    given_trial = isinstance(env, jenvs.Trial)
    if given_trial:
        require(
            config.episodes_per_trial == 1,
            "episodes_per_trial",
            f"the env is a trial already ({env.episodes} episodes); leave it at 1",
        )
    else:
        env, env_params = jenvs.as_trial(env, env_params, config.episodes_per_trial)
    # A trial made as one (the bandits) states its length; a wrapped env's is only a bound.
    trial_steps = int(env_params.max_steps_in_episode) if given_trial else 0
    if config.num_steps < trial_steps:
        warnings.warn(
            f"num_steps={config.num_steps} is shorter than a trial ({trial_steps} steps): "
            "rollouts cut trials, and backpropagation through time never spans a whole one;"
            f" num_steps >= {trial_steps} trains on whole trials (on bandits with "
            "500 pulls, rollouts of 100 kept RL² near the random policy: BENCHMARKS.md)",
            stacklevel=2,
        )
    learner = ppo_rnn.make_learner(config, env, env_params)
    return learner._replace(hparams=RL2HParams())


make_train = trainer(make_learner)
CONFIG = RL2Config
HPARAMS = RL2HParams
