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
    train = commands.add_parser("train-digits", help="train the lecture's small CNN on scikit-learn's 8x8 digits")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--plot", metavar="FILE.png", help="write the loss curve (needs matplotlib)")
    args = parser.parse_args(argv)

    if args.command == "train-digits":
        from ._train import main as train_main

        return train_main(args.epochs, args.seed, args.plot)

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
