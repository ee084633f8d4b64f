"""Measure where filter2d's algorithms cross over on this machine (the rules behind
algorithm="auto" in src/fastconv/filters.py): direct vs separable vs FFT, 2048x2048 float32,
square kernels of growing size, one interleaved run.

    python benchmarks/filter_rules.py [--threads N] [--side 2048] [--sizes 3 5 7 ...]
"""

import argparse
import statistics
import time

import numpy as np

import fastconv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=fastconv.get_num_threads())
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 4, 5, 7, 11, 15, 21, 31, 41, 51, 65])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fastconv.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    image = rng.standard_normal((args.side, args.side)).astype(np.float32)
    print(f"{args.side}x{args.side} float32, {args.threads} thread(s), backend cpp; ms (median of {args.rounds})")
    print(f"{'kernel':>8} {'direct':>9} {'separable':>10} {'fft':>9}  fastest")
    for size in args.sizes:
        kernel = np.outer(rng.standard_normal(size), rng.standard_normal(size))
        runs = {name: (lambda name=name: fastconv.filter2d(image, kernel, border="mirror", algorithm=name,
                                                           backend="cpp"))
                for name in ("direct", "separable", "fft")}
        times = {name: [] for name in runs}
        for run in runs.values():
            run()
        for _ in range(args.rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        medians = {name: 1e3 * statistics.median(t) for name, t in times.items()}
        fastest = min(medians, key=medians.get)
        print(f"{size:>4}x{size:<3} {medians['direct']:9.2f} {medians['separable']:10.2f} {medians['fft']:9.2f}  {fastest}")


if __name__ == "__main__":
    main()
