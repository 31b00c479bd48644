"""configure_cpu: the XLA settings it adds, and the ones a user made that it keeps."""

import pytest
from conftest import run_python

CODE = """
import os
from jaxrl.run import configure_cpu
configure_cpu(num_devices=2)
print(os.environ["XLA_FLAGS"])
"""


@pytest.mark.parametrize(
    "user_flags",
    ["", "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=7"],
)
def test_configure_cpu_adds_settings_and_keeps_the_users(subprocess_env, user_flags):
    env = dict(subprocess_env, XLA_FLAGS=user_flags)
    out = run_python(CODE, env)
    assert out.returncode == 0, out.stderr
    flags = out.stdout.split()
    assert "--xla_cpu_multi_thread_eigen=false" in flags
    assert "--xla_backend_optimization_level=1" in flags
    small_loops = [f for f in flags if f.startswith("--xla_backend_extra_options")]
    if user_flags:
        assert small_loops == [user_flags]
    else:
        assert small_loops == [
            "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=50000"
        ]


def test_runtime_threads_outnumber_devices_from_jax_0_10():
    """jax 0.10 hangs a multi-device program that calls LAPACK when the runtime has no more
    threads than devices (experiments/jax_hang.py); one thread stays the setting before."""
    from jaxrl.run.platform import runtime_threads

    assert runtime_threads(1, "0.10.2") == 1 and runtime_threads(2, "0.10.2") == 3
    assert runtime_threads(4, "0.11.0") == 5 and runtime_threads(16, "1.0") == 17
    assert runtime_threads(2, "0.9.2") == 1 and runtime_threads(4, "0.4.38") == 1


@pytest.mark.parametrize("given", ["1", "8", ""])
def test_configure_cpu_raises_a_runtime_pool_too_small_for_its_devices(subprocess_env, given):
    """A PJRT_NPROC inherited from a one-device parent (the suite's) is raised to
    runtime_threads for two devices; a larger one is kept."""
    import jax

    from jaxrl.run.platform import runtime_threads

    env = dict(subprocess_env, PJRT_NPROC=given)
    code = CODE.replace('print(os.environ["XLA_FLAGS"])', 'print(os.environ["PJRT_NPROC"])')
    out = run_python(code, env)
    assert out.returncode == 0, out.stderr
    need = runtime_threads(2, jax.__version__)
    want = given if given and (need == 1 or int(given) >= need) else str(need)
    assert out.stdout.split() == [want]
