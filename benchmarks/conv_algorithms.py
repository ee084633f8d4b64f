"""conv2d's algorithms side by side on ResNet/VGG/AlexNet-shaped layers, with PyTorch: the
measurement behind the cpp backend's 'auto' choices (cpp/conv2d.cpp: prefer_winograd).

    python benchmarks/conv_algorithms.py                      # 1 thread, float32 NCHW
    python benchmarks/conv_algorithms.py --threads 2 --dtype float64 --layout NHWC

One process, every implementation called once per round in turn (warm: each call is preceded by
an untimed one), the median of the rounds; the ratios are what to read, since a shared VM's speed
drifts between runs. Algorithms a layer does not allow print as nan.
"""

import argparse
import time

import numpy as np

import fastconv

LAYERS = {
    "resnet-64@56": ((1, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),
    "resnet-128@28": ((1, 128, 28, 28), (128, 128, 3, 3), {"padding": 1}),
    "resnet-256@14": ((1, 256, 14, 14), (256, 256, 3, 3), {"padding": 1}),
    "resnet-512@7": ((1, 512, 7, 7), (512, 512, 3, 3), {"padding": 1}),
    "resnet-64to128@56": ((1, 64, 56, 56), (128, 64, 3, 3), {"padding": 1}),
    "resnet-64@56-b8": ((8, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),
    "resnet-128@28-b8": ((8, 128, 28, 28), (128, 128, 3, 3), {"padding": 1}),
    "alexnet-conv3": ((1, 192, 13, 13), (384, 192, 3, 3), {"padding": 1}),
    "alexnet-conv5": ((1, 256, 13, 13), (256, 256, 3, 3), {"padding": 1}),
    "vgg-32@112": ((1, 32, 112, 112), (32, 32, 3, 3), {"padding": 1}),
    "small-16@64": ((1, 16, 64, 64), (16, 16, 3, 3), {"padding": 1}),
    "lecture-3to64@256": ((1, 3, 256, 256), (64, 3, 3, 3), {"padding": 1}),
}
ALGORITHMS = ("auto", "igemm", "igemm_channels", "winograd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--layout", choices=("NCHW", "NHWC"), default="NCHW")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--layers", help="comma-separated names (default: all)")
    args = parser.parse_args()
    fastconv.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    names = args.layers.split(",") if args.layers else list(LAYERS)
    info = fastconv._config.config()
    print(f"{info['cpu']}, L3 {info['caches']['l3'] >> 20} MiB, SIMD {info['cpp']['simd_level']}, "
          f"{args.threads} thread(s), {args.dtype} {args.layout}, median ms of {args.rounds} warm rounds")
    columns = ALGORITHMS + (("torch",) if torch is not None else ())
    print(f"{'layer':20}" + "".join(f"{c:>16}" for c in columns) + "   winograd/igemm")
    for name in names:
        x_shape, w_shape, kwargs = LAYERS[name]
        x = rng.standard_normal(x_shape).astype(args.dtype)
        weight = rng.standard_normal(w_shape).astype(args.dtype)
        bias = rng.standard_normal(w_shape[0]).astype(args.dtype)
        calls = {}
        x_in = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if args.layout == "NHWC" else x
        for algorithm in ALGORITHMS:
            calls[algorithm] = (lambda a=algorithm: fastconv.conv2d(x_in, weight, bias, **kwargs, layout=args.layout,
                                                                    algorithm=a))
        if torch is not None:
            tx, tw, tb = map(torch.from_numpy, (x, weight, bias))
            if args.layout == "NHWC":
                tx = tx.contiguous(memory_format=torch.channels_last)
            calls["torch"] = lambda: torch.nn.functional.conv2d(tx, tw, tb, **kwargs)
        samples = {key: [] for key in calls}
        for _ in range(args.rounds):
            for key, call in calls.items():
                try:
                    call()
                    start = time.perf_counter()
                    call()
                    samples[key].append(time.perf_counter() - start)
                except ValueError:  # an algorithm this layer does not allow
                    samples[key].append(float("nan"))
        median = {key: float(np.median(values)) * 1e3 for key, values in samples.items()}
        print(f"{name:20}" + "".join(f"{median[c]:16.3f}" for c in columns)
              + f"   {median['winograd'] / median['igemm']:.2f}")


if __name__ == "__main__":
    main()
