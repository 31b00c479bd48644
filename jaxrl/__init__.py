"""jaxrl: reinforcement learning as pure, jit-compiled, vmapped JAX functions."""

__version__ = "0.1.0"


def load(run_dir, run=0):
    """The trained policy of run ``run`` (an index, or ``"best"``) of a results directory:
    a :class:`jaxrl.policies.LoadedPolicy` with a jittable ``act(obs, key, greedy=True)``
    that takes NumPy or JAX observations. Nothing in the directory is unpickled or run."""
    from jaxrl.policies import load as load_run

    return load_run(run_dir, run=run)
