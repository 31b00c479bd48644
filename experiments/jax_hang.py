"""Counts hangs of a JAX program under settings of XLA:CPU and the runtime (the jax pin).

    python experiments/jax_hang.py [--python PATH] [--runs 6] [--timeout 180]
        [--variants default,devices1,...] [--program "experiments/bench_ppo.py ..."] [--json]

Runs ``--program`` (default: the 16-seed PPO benchmark at 100,000 steps) ``--runs`` times
under each variant, each run in a fresh process, and counts the runs that did not finish
within ``--timeout`` seconds while using almost no CPU (a hang: the threads wait, as opposed
to a slow run). ``--python`` picks the interpreter, so one venv per jax version compares
versions. A variant changes what :func:`jaxrl.run.configure_cpu` would set, through the
environment it respects (a setting already in ``XLA_FLAGS`` or ``PJRT_NPROC`` is kept):

- ``default``: configure_cpu's settings (two CPU devices on two cores, one runtime thread,
  single-threaded Eigen, LLVM opt level 1, 512-bit vectors, small while loops as one kernel);
- ``devices1``: one CPU device (``--xla_force_host_platform_device_count=1``);
- ``nproc``: the runtime's thread pool at its default size (``PJRT_NPROC`` = the cores);
- ``eigen``: multi-threaded Eigen; ``opt``: LLVM's default optimisation level;
- ``vec256``: XLA's default vector width; ``loops``: XLA's default small-loop threshold;
- ``stock``: every one of them at XLA's and the runtime's default, two devices kept.

On a hang the stacks of every thread are written with ``py-spy dump --native`` when py-spy
is installed next to ``--python``. BENCHMARKS.md and pyproject.toml have the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROGRAM = "experiments/bench_ppo.py --seeds 16 --total-steps 100000 --peak-gflops 1 --json"

VARIANTS = {
    "default": ({}, []),
    "devices1": ({}, ["--xla_force_host_platform_device_count=1"]),
    "nproc": ({"PJRT_NPROC": str(os.cpu_count())}, []),
    "eigen": ({}, ["--xla_cpu_multi_thread_eigen=true"]),
    "opt": ({}, ["--xla_backend_optimization_level=2"]),
    "vec256": ({}, ["--xla_cpu_prefer_vector_width=256"]),
    "loops": ({}, ["--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1024"]),
    "stock": (
        {"PJRT_NPROC": str(os.cpu_count())},
        [
            "--xla_cpu_multi_thread_eigen=true",
            "--xla_backend_optimization_level=2",
            "--xla_cpu_prefer_vector_width=256",
            "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1024",
        ],
    ),
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(python: str, program: str, variant: str, timeout: float, dump_dir: Path) -> dict:
    env_over, flags = VARIANTS[variant]
    env = {**os.environ, **env_over}
    env["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()
    start = time.perf_counter()
    proc = subprocess.Popen([python, *program.split()], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
        return {"variant": variant, "hung": False, "rc": proc.returncode,
                "wall_s": time.perf_counter() - start, "tail": out.strip().splitlines()[-1:]}  # fmt: skip
    except subprocess.TimeoutExpired:
        # a hang waits: sample its CPU time over a few seconds
        before = cpu_seconds(proc.pid)
        time.sleep(5.0)
        busy = cpu_seconds(proc.pid) - before
        dump = ""
        spy = Path(python).with_name("py-spy")
        if spy.exists() or shutil.which("py-spy"):
            res = subprocess.run([str(spy) if spy.exists() else "py-spy", "dump", "--native",
                                  "--pid", str(proc.pid)], capture_output=True, text=True)  # fmt: skip
            dump_dir.mkdir(parents=True, exist_ok=True)
            path = dump_dir / f"{variant}-{proc.pid}.txt"
            path.write_text(res.stdout + res.stderr)
            dump = str(path)
        proc.kill()
        proc.communicate()
        return {"variant": variant, "hung": busy < 1.0, "rc": None, "wall_s": timeout,
                "cpu_s_in_5s": busy, "dump": dump}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--program", default=PROGRAM)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--variants", default="default,devices1,nproc,eigen")
    parser.add_argument("--dumps", default="jax_hang_dumps", help="where hung stacks go")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    version = subprocess.run([args.python, "-c", "import jax; print(jax.__version__)"],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    rows = []
    for _ in range(args.runs):  # interleaved, so that load changes hit every variant alike
        for name in names:
            row = run_once(args.python, args.program, name, args.timeout, Path(args.dumps))
            print(f"jax {version} {name:9s} hung={row['hung']!s:5s} {row['wall_s']:7.1f} s",
                  flush=True)  # fmt: skip
            rows.append(row)
    summary = {}
    print(f"\njax {version}: {args.program}")
    print(f"{'variant':10s} {'hangs':>7s} {'median s (finished)':>20s}")
    for name in names:
        mine = [r for r in rows if r["variant"] == name]
        hangs = sum(r["hung"] for r in mine)
        done = sorted(r["wall_s"] for r in mine if r["rc"] == 0)
        median = done[len(done) // 2] if done else float("nan")
        summary[name] = {"hangs": hangs, "runs": len(mine), "median_s": median}
        print(f"{name:10s} {hangs:>3d}/{len(mine):<3d} {median:>20.1f}")
    if args.json:
        print(json.dumps({"jax": version, "program": args.program, "summary": summary,
                          "runs": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
