"""Each conv2d layer's time on one backend over another (default: numba over cpp).

    python benchmarks/backend_ratio.py --threads 2

Each backend runs in its own process: Numba's and BLAS's thread pools spin after their work and
would slow the OpenMP kernels measured next in the same process.
"""

import argparse
import json
import math
import subprocess
import sys

_CHILD = """
import json, sys
from fastconv import _bench
results = _bench.run_conv_layers(threads=int(sys.argv[2]), backends=(sys.argv[1],), with_torch=False, rounds=7)
print(json.dumps({r.layer: r.median_ms[sys.argv[1]] for r in results}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slow", default="numba")
    parser.add_argument("--fast", default="cpp")
    args = parser.parse_args()
    times = {}
    for backend in (args.fast, args.slow):
        done = subprocess.run([sys.executable, "-c", _CHILD, backend, str(args.threads)], capture_output=True,
                              text=True, check=True)
        times[backend] = json.loads(done.stdout)
    ratios = []
    for layer, fast in times[args.fast].items():
        slow = times[args.slow][layer]
        ratios.append(slow / fast)
        print(f"{layer:24s} {args.fast} {fast:8.3f} ms  {args.slow} {slow:8.3f} ms  {args.slow}/{args.fast} {slow / fast:5.2f}")
    print(f"geo-mean {args.slow}/{args.fast}: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")


if __name__ == "__main__":
    main()
