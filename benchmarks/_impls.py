"""One registry of implementations per kernel family (peers join when installed), and seeded inputs.

Run: python -m pytest benchmarks --benchmark-only   (add -m "not slow" for the quick set)
"""

from __future__ import annotations

import functools

import numpy as np

import fastconv
from fastconv import _bench

try:
    import torch
except ImportError:  # peers are optional
    torch = None


def _fastconv(function, backend):
    return lambda *args, **kwargs: getattr(fastconv, function)(*args, **kwargs, backend=backend)


def _torch_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    with torch.no_grad():
        return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight),
                                          None if bias is None else torch.from_numpy(bias),
                                          stride, padding, dilation, groups).numpy()


def _torch_pool(function):
    kind = function.split("_")[0]  # "max_pool2d" -> "max"

    def run(x, **kwargs):
        return _bench.torch_pool(kind, x, kwargs)()
    return run


FAST_BACKENDS = [b for b in fastconv.backends() if b != "reference"]
IMPLS = {
    family: {**{b: _fastconv(family, b) for b in FAST_BACKENDS},
             **({"torch": (_torch_conv2d if family == "conv2d" else _torch_pool(family))} if torch else {})}
    for family in ("conv2d", "max_pool2d", "avg_pool2d")
}


def set_torch_threads():
    if torch is not None:
        torch.set_num_threads(fastconv.get_num_threads())  # same thread count for every implementation


_REFERENCE_RESULTS = {}


def reference(family, case, *args, **kwargs):
    """The float64 reference result for a named case, computed once per session."""
    key = (family, case)
    if key not in _REFERENCE_RESULTS:
        _REFERENCE_RESULTS[key] = getattr(fastconv, family)(*(a.astype(np.float64) for a in args), **kwargs,
                                                            backend="reference")
    return _REFERENCE_RESULTS[key]


@functools.lru_cache(maxsize=None)
def random(shape, seed=0, dtype="float32"):
    """Seeded input, built once per shape and seed (shared: benchmarks must not write to it)."""
    array = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return array
