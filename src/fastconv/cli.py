"""The `fastconv` command: `fastconv demo`, `fastconv info`."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastconv", description="Fast CPU convolution and pooling kernels.")
    commands = parser.add_subparsers(dest="command", metavar="command")
    demo = commands.add_parser("demo", help="walk through the lecture's CNN example, computed by fastconv")
    demo.add_argument("--backend", help="cpp, numba or reference (default: the fastest available)")
    commands.add_parser("info", help="show the configuration (= fastconv.show_config())")
    bench = commands.add_parser("bench", help="time every backend against the installed peers (torch, cv2, scipy)")
    bench.add_argument("suites", nargs="*", default=["all"], metavar="SUITE",
                       help="conv, pool, filter or all; or dask alone (fastconv.dask against in-memory fastconv, "
                            "a chunked filter and a conv stack; --quick, --threads N and --json apply); or models "
                            "alone (AlexNet, ResNet-18, MobileNetV2 at batch 1 and 8, inference and an SGD step, "
                            "against torch twins with the same weights; all options but --warm apply)")
    bench.add_argument("--quick", action="store_true", help="a short run (1-2 minutes on 2 cores)")
    bench.add_argument("--threads", help="threads for every implementation: N, or a comma list such as 1,2 "
                                         "to run every case at each count (default: fastconv's)")
    bench.add_argument("--warm", action="store_true",
                       help="time repeated calls on the same input (in cache) instead of cold calls")
    bench.add_argument("--cases", help="comma-separated case names (as printed in the table) to run only those")
    bench.add_argument("--backends", help="comma-separated fastconv backends (default: all but reference)")
    bench.add_argument("--peers", default="torch,cv2,scipy", help="comma-separated peers to compare with")
    bench.add_argument("--json", metavar="FILE", help="write the results as JSON")
    bench.add_argument("--plot", metavar="FILE.png", help="bar chart of the speed-ups (needs matplotlib)")
    calibrate = commands.add_parser("calibrate-torch", help="measure below which sizes fastconv.torch hands calls "
                                    "back to torch (needs torch)")
    calibrate.add_argument("--store", action="store_true", help="save them where fastconv.torch reads them at import")
    filtering = commands.add_parser("filter", help="apply an image kernel to image files (needs Pillow)")
    filtering.add_argument("inputs", nargs="*", metavar="IMAGE")
    filtering.add_argument("-k", "--kernel", help="kernel name (see --list); 'sobel' gives the gradient magnitude")
    filtering.add_argument("-o", "--output", help="output file (one input) or folder (several)")
    filtering.add_argument("--border", default="reflect",
                           help="constant, reflect, nearest, mirror, wrap (or a torch/OpenCV alias); default reflect")
    filtering.add_argument("--size", type=int, help="box_blur / gaussian size")
    filtering.add_argument("--sigma", type=float, help="gaussian sigma (default 1)")
    filtering.add_argument("--list", action="store_true", help="list the kernels with their matrices")
    train = commands.add_parser("train-digits", help="train the lecture's small CNN on scikit-learn's 8x8 digits")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--plot", metavar="FILE.png", help="write the loss curve (needs matplotlib)")
    train.add_argument("--model", choices=("cnn", "resnet-small"), default="cnn",
                       help="the lecture's CNN (default) or a ResNet-style net with BatchNorm and residual blocks")
    args = parser.parse_args(argv)

    if args.command == "bench":
        from ._bench_cli import main as bench_main

        return bench_main(args.suites, args.quick, args.threads, args.backends, args.peers, args.json, args.plot,
                          warm=args.warm, cases=args.cases)
    if args.command == "calibrate-torch":
        try:
            from ._torch_thresholds import calibrate
            import torch  # noqa: F401
        except ImportError:
            print("fastconv calibrate-torch: needs torch (pip install torch)", file=sys.stderr)
            return 1
        calibrate(store=args.store)
        return 0
    if args.command == "filter":
        from ._filter_cli import main as filter_main

        return filter_main(args.inputs, args.kernel, args.output, args.border, args.size, args.sigma, args.list)
    if args.command == "train-digits":
        from ._train import main as train_main

        return train_main(args.epochs, args.seed, args.plot, args.model)

    if args.command == "demo":
        from ._demo import run_demo
        from ._dispatch import BACKEND_NAMES, backends

        if args.backend is not None and args.backend not in backends():
            known = "not one of " + ", ".join(BACKEND_NAMES) if args.backend not in BACKEND_NAMES else "unavailable"
            print(f"fastconv demo: backend {args.backend!r} is {known} (available: {', '.join(backends())})",
                  file=sys.stderr)
            return 2
        return 0 if run_demo(args.backend) else 1
    if args.command == "info":
        from ._config import show_config

        show_config()
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
