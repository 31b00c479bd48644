"""The learning tests' statistics under several base keys: what their thresholds rest on.

    python experiments/learning_tests.py [--keys 0 1 2] [--only ppo_cartpole,dqn_cartpole] [--json]
    XLA_FLAGS=--xla_cpu_max_isa=AVX2 python experiments/learning_tests.py ...   # no AVX-512

Each spec of ``tests/learning.py`` trains its seeds vmapped in one compile on one CPU device
(as the test suite does), once per base key, and reports every run's greedy score, the
minimum, the IQM (the statistic the test asserts), and whether the test would pass.
With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from jaxrl.run import configure_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_cpu(num_devices=1)

    import os

    import learning
    import numpy as np

    from jaxrl.run import stats

    names = args.only.split(",") if args.only else list(learning.SPECS)
    rows = []
    print(f"{'test':<24} {'key':>3} {'min':>9} {'IQM':>9} {'threshold':>9} {'pass':>5} {'s':>6}")
    for name in names:
        spec = learning.SPECS[name]
        for key in args.keys:
            t0 = time.perf_counter()
            scores = learning.run(spec, seed=key)
            finite = scores[np.isfinite(scores)]
            row = {
                "test": name, "key": key, "seeds": spec.seeds, "threshold": spec.threshold,
                "scores": [round(float(s), 3) for s in scores], "min": float(np.min(scores)),
                "iqm": stats.iqm(finite) if finite.size else None, "passed": spec.passed(scores),
                "seconds": round(time.perf_counter() - t0, 1),
                "xla_flags": os.environ.get("XLA_FLAGS", ""),
            }  # fmt: skip
            rows.append(row)
            print(f"{name:<24} {key:>3} {row['min']:>9.2f} {row['iqm'] or float('nan'):>9.2f} "
                  f"{spec.threshold:>9.2f} {str(row['passed']):>5} {row['seconds']:>6.0f}",
                  flush=True)  # fmt: skip
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
