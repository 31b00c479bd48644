"""World models: learners that fit a model of the environment and train in its imagination.

- :mod:`dreamer`: a Dreamer-style agent (recurrent state-space model with categorical
  latents, symlog observations, two-hot rewards and values, KL balancing with free bits; an
  actor-critic trained on imagined rollouts with lambda-returns).
- :mod:`iris`: an IRIS-style agent (a discrete autoencoder of observations into tokens and a
  small causal transformer over token and action sequences; the policy trains in the
  transformer's imagination).

Modules here import the contract (:mod:`jaxrl.learner`) and the shared parts (``envs``,
``networks``, ``losses``, ``buffers``, ``distributions``), never :mod:`jaxrl.run`.
"""
