"""Print conv2d layer timings against PyTorch in one interleaved run.

    python benchmarks/conv_layers.py                 # every layer, threads = fastconv's default
    python benchmarks/conv_layers.py --threads 1 --quick
    python benchmarks/conv_layers.py --scaling       # batch-8 layers at 1 and 2 threads, one run
    python benchmarks/conv_layers.py --families      # more shapes of the same families
"""

import argparse
import platform

import fastconv
from fastconv import _bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=fastconv.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="four layers only")
    parser.add_argument("--families", action="store_true",
                        help="_bench.FAMILY_LAYERS: more ResNet, VGG, MobileNet and grouped shapes")
    parser.add_argument("--backend", default="cpp")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--scaling", action="store_true",
                        help="the batch-8 layers at 1 and --threads threads (2 by default) in one interleaved run")
    args = parser.parse_args()
    if args.scaling:
        high = args.threads if args.threads > 1 else 2
        results = _bench.run_thread_scaling(_bench.BATCH_LAYERS, (1, high), backend=args.backend,
                                            rounds=args.rounds)
        print(f"{platform.processor() or platform.machine()}: 1 and {high} threads timed in the same rounds; "
              f"'gemm': a {_bench.PEAK_PROBE_SIZE}x{_bench.PEAK_PROBE_SIZE} GEMM probe in those rounds")
        print(_bench.format_scaling_table(results, backend=args.backend))
        return
    peak, probe = _bench.gemm_peak_gflops(args.threads)
    info = fastconv._config.config()
    simd = info.get("cpp", {}).get("simd_level", "-")
    print(f"{platform.processor() or platform.machine()}, SIMD {simd}, {args.threads} threads; "
          f"FP32 peak {peak:.0f} GFLOP/s ({probe}); the 'peak' column: a 1024x1024 GEMM timed in "
          f"each layer's rounds")
    layers = (_bench.QUICK_LAYERS if args.quick else
              tuple(_bench.FAMILY_LAYERS) if args.families else tuple(_bench.CONV_LAYERS))
    results = _bench.run_conv_layers(layers, threads=args.threads, backends=(args.backend,), rounds=args.rounds,
                                     peak_probe=True)
    print(_bench.format_conv_table(results, peak, backend=args.backend))


if __name__ == "__main__":
    main()
