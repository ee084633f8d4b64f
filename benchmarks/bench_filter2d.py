"""filter2d against cv2.filter2D / cv2.sepFilter2D and scipy.ndimage.correlate (when installed)."""

import numpy as np
import pytest

import fastconv
from fastconv import kernels
from _impls import FAST_BACKENDS, random

try:
    import cv2
except ImportError:  # optional peer
    cv2 = None
try:
    from scipy import ndimage
except ImportError:  # optional peer
    ndimage = None

CASES = {
    "512-3x3": ((512, 512), kernels.sharpen(), False),
    "2048-3x3": ((2048, 2048), kernels.sharpen(), True),
    "2048-5x5": ((2048, 2048), kernels.box_blur(5), True),
    "2048-11x11": ((2048, 2048), kernels.gaussian(1.7, 11), True),
    "2048-15x15-gaussian": ((2048, 2048), kernels.gaussian(2.3, 15), True),
}


def _impls():
    impls = {b: (lambda x, k, b=b: fastconv.filter2d(x, k, border="mirror", backend=b)) for b in FAST_BACKENDS}
    if cv2 is not None:
        impls["cv2"] = lambda x, k: cv2.filter2D(x, -1, k.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    if ndimage is not None:
        impls["scipy"] = lambda x, k: ndimage.correlate(x, k.astype(np.float32), mode="mirror")
    return impls


IMPLS = _impls()


def _params():
    for case, (_, _, slow) in CASES.items():
        for impl in IMPLS:
            yield pytest.param(case, impl, id=f"{case}-{impl}", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("case, impl", list(_params()))
def test_filter2d(benchmark, case, impl):
    shape, kernel, _ = CASES[case]
    image = random(shape, 3)
    benchmark.group = f"filter2d {case}"
    result = benchmark(IMPLS[impl], image, kernel)
    expected = fastconv.filter2d(image.astype(np.float64), kernel, border="mirror", backend="reference")
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
