"""conv2d: fastconv backends against torch on the layers people run (float32, batch 1)."""

import numpy as np
import pytest

from _impls import IMPLS, reference, random, set_torch_threads

# name: (input shape, weight shape, kwargs, slow)
CASES = {
    "lecture-7x7": ((1, 1, 7, 7), (1, 1, 3, 3), {}, False),
    "lecture-3to64-256": ((1, 3, 256, 256), (64, 3, 3, 3), {"padding": 1}, False),
    "alexnet-conv1": ((1, 3, 224, 224), (64, 3, 11, 11), {"stride": 4, "padding": 2}, True),
    "alexnet-conv2": ((1, 64, 27, 27), (192, 64, 5, 5), {"padding": 2}, True),
    "resnet-3x3-64@56": ((1, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}, True),
    "resnet-3x3-128@28-s2": ((1, 64, 56, 56), (128, 64, 3, 3), {"stride": 2, "padding": 1}, True),
    "pointwise-256to64@56": ((1, 256, 56, 56), (64, 256, 1, 1), {}, True),
    "depthwise-3x3-64@56": ((1, 64, 56, 56), (64, 1, 3, 3), {"padding": 1, "groups": 64}, False),
}


def _params():
    for case, (_, _, _, slow) in CASES.items():
        for impl in IMPLS["conv2d"]:
            marks = [pytest.mark.slow] if slow or impl == "numba" and case != "lecture-7x7" else []
            yield pytest.param(case, impl, id=f"{case}-{impl}", marks=marks)


@pytest.mark.parametrize("case, impl", list(_params()))
def test_conv2d(benchmark, case, impl):
    x_shape, w_shape, kwargs, _ = CASES[case]
    x, weight = random(x_shape, 0), random(w_shape, 1)
    set_torch_threads()
    benchmark.group = f"conv2d {case}"
    benchmark.extra_info["gflop"] = 2 * np.prod(w_shape) * np.prod(x_shape[2:]) / 1e9  # order of magnitude
    result = benchmark(IMPLS["conv2d"][impl], x, weight, **kwargs)
    expected = reference("conv2d", case, x, weight, **kwargs)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
