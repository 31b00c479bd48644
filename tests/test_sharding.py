"""Sharded and multi-process runs give the same per-run results as one device.

XLA:CPU vectorises a vmapped batch differently below 4 elements, which changes float rounding;
from 4 runs per device on, a run's result is bit-identical whatever the device count.
"""

import socket
import subprocess
import sys

import jax
import numpy as np
from conftest import run_python

from jaxrl.run.platform import SMALL_LOOP_BYTES, runtime_threads

# Single-threaded dots: the summation order of a matmul must not depend on how many runs
# share a device. jaxrl.run.configure_cpu sets the same for the CLI, and also compiles small
# loops into single kernels, which happens or not depending on how many runs share a vmap:
# these tests run with that setting too.
EIGEN1 = (
    "--xla_cpu_multi_thread_eigen=false --xla_backend_extra_options="
    f"xla_cpu_small_while_loop_byte_threshold={SMALL_LOOP_BYTES}"
)

TRAIN = """
import dataclasses, numpy as np, jax
from jaxrl import envs
from jaxrl.agents.onpolicy import ppo
from jaxrl.run import run_seeds
env, p = envs.make("CartPole-v1")
cfg = ppo.PPOConfig(total_steps=4096, num_envs=8, num_steps=32)
train = ppo.make_train(cfg, env, p)
hp = ppo.PPOHParams(lr=np.tile([1e-3, 3e-3], N // 2))
"""


def test_sharded_over_4_devices_equals_one_device(subprocess_env, tmp_path):
    env = dict(subprocess_env, XLA_FLAGS="--xla_force_host_platform_device_count=4 " + EIGEN1,
               PJRT_NPROC=str(runtime_threads(4, jax.__version__)))  # fmt: skip
    code = (
        "N = 16\n"
        + TRAIN
        + f"""
assert len(jax.devices()) == 4
sharded = run_seeds(train, N, hp).output
single = run_seeds(train, N, hp, devices=jax.devices()[:1]).output
np.save(r"{tmp_path}/a.npy", sharded.state.params)
np.save(r"{tmp_path}/b.npy", single.state.params)
np.save(r"{tmp_path}/m.npy", sharded.metrics["loss"] - single.metrics["loss"])
"""
    )
    out = run_python(code, env)
    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert np.all(np.load(tmp_path / "m.npy") == 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_distributed_equals_one_process(subprocess_env, tmp_path):
    port = _free_port()
    worker = (
        """
import sys, jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address="127.0.0.1:{port}", num_processes=2,
                           process_id=int(sys.argv[1]))
N = 8
"""
        + TRAIN
        + """
assert jax.process_count() == 2
res = run_seeds(train, N, hp).output
if jax.process_index() == 0:
    np.save(r"{out}/dist.npy", res.state.params)
"""
    )
    worker = worker.replace("{port}", str(port)).replace("{out}", str(tmp_path))
    env = dict(subprocess_env, XLA_FLAGS="--xla_force_host_platform_device_count=1 " + EIGEN1)
    procs = [
        subprocess.Popen([sys.executable, "-c", worker, str(i)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    single = run_python("N = 8\n" + TRAIN + f"""
np.save(r"{tmp_path}/single.npy", run_seeds(train, N, hp).output.state.params)
""", env)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "dist.npy"), np.load(tmp_path / "single.npy"))
