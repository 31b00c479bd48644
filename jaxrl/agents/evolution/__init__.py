"""Evolution strategies for policy search (evosax): CMA-ES and OpenAI-ES.

One update of the contract is one generation: sample a population of policy parameters,
score each by vmapped rollouts, update the search distribution. Modules here import the
contract and the shared parts, never :mod:`jaxrl.run`.
"""
