"""On-policy learners: PPO and A2C, which learn from the rollouts of the current policy.

Each update collects ``num_envs x num_steps`` steps with the current policy, computes GAE
advantages and takes gradient steps on that batch only. :mod:`ppo` is the readable
reference update; :mod:`ppo_cpu` is the same update laid out for XLA:CPU (chosen by
``PPOConfig.implementation``); :mod:`a2c` is PPO with one epoch, one minibatch and no
clipping. Modules here import the contract (:mod:`jaxrl.learner`) and the shared parts
(``envs``, ``networks``, ``losses``, ``distributions``), never :mod:`jaxrl.run`.
"""
