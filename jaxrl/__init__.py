"""jaxrl: reinforcement learning as pure, jit-compiled, vmapped JAX functions."""

__version__ = "0.1.0"
