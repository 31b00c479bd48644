import os
import sys
from pathlib import Path

import pytest

from jaxrl.run import configure_cpu

# The suite runs under the CPU settings the CLI and the benchmarks use (one thread per device,
# 512-bit vectors, small loops as single kernels), on one device: tests that compare runs
# across device counts start their own processes.
configure_cpu(num_devices=1)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def subprocess_env():
    """Environment for child processes that import jaxrl from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    env.pop("PJRT_NPROC", None)  # configure_cpu in the child sizes it to the child's devices
    return env


def run_python(code: str, env: dict, timeout: float = 600):
    import subprocess

    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )
