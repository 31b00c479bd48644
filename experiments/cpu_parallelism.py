"""Can one run use a second CPU core? The measurements behind BENCHMARKS.md's 1-seed limit.

    python experiments/cpu_parallelism.py [--json]

1. Inter-kernel parallelism: a scan whose body is two independent chains of six
   [64, 64] x [64, 128] matmul + tanh layers, against one chain, on one device (with the
   runtime pool at 1 and at 2 threads, each in a fresh process).
2. Cross-device synchronisation: a scan over two devices (one matmul + tanh per step on each)
   with and without a scalar ``psum`` per step: the price of an actor/critic split that
   shares the global gradient norm every SGD step.
3. Matmul peak of device 0 alone with one and with two devices exposed.
With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

STEPS = 3000

CHAINS = """
import time, jax, jax.numpy as jnp
w = jax.random.normal(jax.random.key(0), (2, 64, 64)) * 0.1
def make(n):
    def body(c, _):
        out = []
        for i in range(n):
            h = c[i]
            for _ in range(6):
                h = jnp.tanh(w[i] @ h)
            out.append(h)
        return jnp.stack(out), None
    return jax.jit(lambda c: jax.lax.scan(body, c, None, {steps})[0])
c = jax.random.normal(jax.random.key(1), (2, 64, 128))
res = {{}}
for n in (1, 2):
    f = make(n); f(c[:n]).block_until_ready()
    t = time.perf_counter(); f(c[:n]).block_until_ready()
    res[n] = (time.perf_counter() - t) / {steps} * 1e6
print(res[1], res[2])
"""

PSUM = """
import time, numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P
mesh = Mesh(np.array(jax.devices()[:2]), ("d",))
def make(sync):
    def loop(w, x):
        def body(w, _):
            s = jnp.sum(jnp.tanh(x[0] @ w[0]) ** 2)
            if sync:
                s = jax.lax.psum(s, "d")
            return w * (1 - 1e-6 * s), None
        return jax.lax.scan(body, w, None, {steps})[0]
    return jax.jit(jax.shard_map(loop, mesh=mesh, in_specs=(P("d"), P("d")), out_specs=P("d")))
w, x = jnp.ones((2, 64, 64)) * 0.01, jnp.ones((2, 128, 64))
res = []
for sync in (False, True):
    f = make(sync); f(w, x).block_until_ready()
    t = time.perf_counter(); f(w, x).block_until_ready()
    res.append((time.perf_counter() - t) / {steps} * 1e6)
print(*res)
"""

PEAK = """
import jax
from jaxrl.run import matmul_peak_gflops
print(matmul_peak_gflops(reps=100, devices=jax.devices()[:1]))
"""


def _run(code: str, devices: int, pool: int) -> list[float]:
    prelude = f"from jaxrl.run import configure_cpu; configure_cpu(num_devices={devices})\n"
    env = {**os.environ, "PJRT_NPROC": str(pool)}
    env.pop("XLA_FLAGS", None)
    out = subprocess.run([sys.executable, "-c", prelude + code], env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return [float(v) for v in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    row = {}
    for pool in (1, 2):
        one, two = _run(CHAINS.format(steps=STEPS), devices=1, pool=pool)
        row[f"pool{pool}_one_chain_us"] = round(one, 1)
        row[f"pool{pool}_two_chains_us"] = round(two, 1)
        row[f"pool{pool}_two_over_one"] = round(two / one, 2)
    plain, synced = _run(PSUM.format(steps=STEPS), devices=2, pool=1)
    row.update(step_us=round(plain, 1), step_with_psum_us=round(synced, 1),
               psum_cost_us=round(synced - plain, 1))  # fmt: skip
    for devices in (1, 2):
        (peak,) = _run(PEAK, devices=devices, pool=1)
        row[f"device0_peak_gflops_{devices}_exposed"] = round(peak, 1)
    width = max(len(k) for k in row)
    for k, v in row.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
