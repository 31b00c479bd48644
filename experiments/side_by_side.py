"""Two benchmark commands run alternately on one machine: throughput and compile ratios.

    python experiments/side_by_side.py --pairs 3 \\
        --ours "python experiments/bench_dqn.py --seeds 1 --json" \\
        --ref "python /path/to/reference/dqn.py --seeds 1 --json" [--env XLA_FLAGS=...] [--json]

Each command must end its output with one JSON line carrying ``compile_s`` and a throughput
(``sps`` or ``steps_per_s``; ``grad_steps_per_s`` is compared when both have it). The
reference runs first in each pair, so drifts of a noisy machine hit both sides alike. ``--env``
settings (e.g. ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` to emulate a CPU without AVX-512) apply to
both commands. Prints each run and the ratios; with ``--json`` the last line is one object.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys


def run(command: str, env: dict) -> dict:
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"side_by_side: {command!r} failed:\n{out.stderr[-2000:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"side_by_side: {command!r} printed no JSON line")
    return json.loads(lines[-1])


def throughput(row: dict, key: str | None) -> float:
    if key:
        return float(row[key])
    return float(row.get("sps", row.get("steps_per_s")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for both")
    parser.add_argument("--key", default=None, help="throughput field (default sps)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    pairs = []
    print(f"{'pair':>4} {'ref compile':>11} {'ref run/s':>12} {'ours compile':>12} "
          f"{'ours run/s':>12} {'throughput x':>12} {'compile x':>9}")  # fmt: skip
    for i in range(args.pairs):
        ref, ours = run(args.ref, env), run(args.ours, env)
        speed = throughput(ours, args.key) / throughput(ref, args.key)
        compile_ratio = ours["compile_s"] / ref["compile_s"]
        pairs.append({"ref": ref, "ours": ours, "throughput_ratio": round(speed, 3),
                      "compile_ratio": round(compile_ratio, 3)})  # fmt: skip
        print(f"{i:>4} {ref['compile_s']:>11.2f} {throughput(ref, args.key):>12,.0f} "
              f"{ours['compile_s']:>12.2f} {throughput(ours, args.key):>12,.0f} "
              f"{speed:>11.2f}x {compile_ratio:>8.2f}x", flush=True)  # fmt: skip
    if args.json:
        print(json.dumps({"env": args.env, "pairs": pairs}))


if __name__ == "__main__":
    main()
