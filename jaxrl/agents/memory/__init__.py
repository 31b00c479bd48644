"""Learners with memory: recurrent PPO, and RL² (meta-RL) on top of it.

- :mod:`ppo_rnn`: PPO with a GRU or LSTM core whose hidden state is the policy's carry,
  reset where episodes end, trained on whole env sequences (truncated backpropagation
  through time over each rollout).
- :mod:`rl2`: RL² (Duan et al. 2016): recurrent PPO on trials (:class:`jaxrl.envs.Trial`),
  the policy seeing the previous action, reward and done flag and keeping its hidden state
  across the episodes of a trial, so that it learns how to explore a new task.
- :mod:`bandits`: the hand-designed bandit strategies RL² is compared with (Gittins indices,
  Thompson sampling, UCB1, epsilon-greedy, greedy, random, and the Bayes-optimal
  finite-horizon policy for two arms), as jitted policies acting in the same trials.

Modules here import the contract (:mod:`jaxrl.learner`), the on-policy family's PPO pieces
(:mod:`jaxrl.agents.onpolicy.ppo`: its optimiser, objective and SGD loop) and the shared
parts (``envs``, ``networks``, ``losses``, ``distributions``), never :mod:`jaxrl.run`.
"""
