"""max/avg pooling: fastconv backends against torch on CNN-shaped maps (float32), NCHW and NHWC
(torch with channels-last tensors)."""

import numpy as np
import pytest

from _impls import IMPLS, reference, random, set_torch_threads

# name: (input shape, kwargs, slow)
CASES = {
    "lecture-5x5-ceil": ((1, 1, 5, 5), {"kernel_size": 2, "ceil_mode": True}, False),
    "alexnet-pool1": ((1, 64, 55, 55), {"kernel_size": 3, "stride": 2}, False),
    "resnet-stem-b8": ((8, 64, 112, 112), {"kernel_size": 3, "stride": 2, "padding": 1}, True),
    "alexnet-pool1-nhwc": ((1, 55, 55, 64), {"kernel_size": 3, "stride": 2, "layout": "NHWC"}, False),
    "resnet-stem-b8-nhwc": ((8, 112, 112, 64), {"kernel_size": 3, "stride": 2, "padding": 1, "layout": "NHWC"}, True),
}


def _params():
    for family in ("max_pool2d", "avg_pool2d"):
        for case, (_, _, slow) in CASES.items():
            for impl in IMPLS[family]:
                yield pytest.param(family, case, impl, id=f"{family}-{case}-{impl}",
                                   marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("family, case, impl", list(_params()))
def test_pool2d(benchmark, family, case, impl):
    shape, kwargs, _ = CASES[case]
    x = random(shape, 2)
    set_torch_threads()
    benchmark.group = f"{family} {case}"
    result = benchmark(IMPLS[family][impl], x, **kwargs)
    expected = reference(family, case, x, **kwargs)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
