"""Exploration beyond dithering: curiosity bonuses on PPO and randomized value functions.

- :mod:`curiosity`: PPO with an intrinsic reward (two value heads: the extrinsic return,
  episodic, and the intrinsic return, non-episodic), the learner RND and ICM share.
- :mod:`ppo_rnd`: Random Network Distillation (Burda et al. 2018): the error of a trained
  predictor against a fixed random network is the bonus.
- :mod:`ppo_icm`: the Intrinsic Curiosity Module (Pathak et al. 2017): a forward model's error
  in the feature space an inverse model learns is the bonus.
- :mod:`bootdqn`: bootstrapped DQN with randomized prior functions (Osband et al. 2016,
  2018) on the off-policy loop: K heads, bootstrap masks, a head per episode.

Modules here import the contract (:mod:`jaxrl.learner`), PPO's update pieces
(:mod:`jaxrl.agents.onpolicy.ppo`), the off-policy loop (:mod:`jaxrl.agents.offpolicy.loop`)
and the shared parts (``envs``, ``networks``, ``losses``, ``distributions``, ``buffers``),
never :mod:`jaxrl.run`.
"""
