"""Learning from demonstrations instead of a reward: inverse RL and adversarial imitation.

- :mod:`maxent`: maximum-entropy inverse RL with a linear reward on tabular MDPs (Ziebart et
  al. 2008): soft value iteration, exact state visitation frequencies, the likelihood
  gradient; functions over a :class:`jaxrl.envs.tabular.TabularMDP`, not a learner (it needs
  the transition tensor and its policy is indexed by time).
- :mod:`adversarial`: GAIL (Ho & Ermon 2016) and AIRL (Fu et al. 2018) as learners on the
  contract: a discriminator trained against the demonstrations (the learner's ``data``)
  supplies the reward of jaxrl's PPO (:mod:`jaxrl.agents.onpolicy.ppo`, its plain update).
  :mod:`gail` and :mod:`airl` are the two algorithms' modules for the registry.

Modules here import the contract (:mod:`jaxrl.learner`), the shared parts (``envs``,
``networks``, ``distributions``, ``demos``) and PPO's update pieces, never :mod:`jaxrl.run`.
"""
