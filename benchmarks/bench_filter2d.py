"""filter2d against cv2.filter2D / cv2.sepFilter2D and scipy.ndimage.correlate (when installed),
on the cases of issue #5's targets: 2048x2048 float32 with 3x3, 5x5 and 11x11 kernels, a
3-channel image, uint8, and 15x15 Gaussians (where cv2.sepFilter2D is the peer to beat): float64,
and dense float32 7x7 and 15x15 ones as users build them (the 1-D kernel's outer product, cast),
which filter2d must recognise as separable despite their float32 rounding.

    python -m pytest benchmarks/bench_filter2d.py --benchmark-only [-m "not slow"]
"""

import numpy as np
import pytest

import fastconv
from fastconv import kernels
from fastconv._bench_cli import dense_gaussian_f32, opencv_gaussian_taps
from _impls import FAST_BACKENDS

try:
    import cv2
except ImportError:  # optional peer
    cv2 = None
try:
    from scipy import ndimage
except ImportError:  # optional peer
    ndimage = None


# The 1-D kernels cv2.sepFilter2D gets for the dense float32 Gaussians
GAUSSIAN_TAPS = {size: opencv_gaussian_taps(size).astype(np.float32) for size in (7, 15)}

# name: (shape, dtype, kernel, channel axis, slow)
CASES = {
    "512-3x3": ((512, 512), np.float32, kernels.sharpen(), None, False),
    "512x3-3x3": ((512, 512, 3), np.float32, kernels.sharpen(), -1, False),
    "512-u8-3x3": ((512, 512), np.uint8, kernels.sharpen(), None, False),
    "2048-3x3": ((2048, 2048), np.float32, kernels.sharpen(), None, True),
    "2048-5x5": ((2048, 2048), np.float32, kernels.box_blur(5), None, True),
    "2048-11x11": ((2048, 2048), np.float32, kernels.gaussian(1.7, 11), None, True),
    "2048x3-3x3": ((2048, 2048, 3), np.float32, kernels.sharpen(), -1, True),
    "2048-u8-3x3": ((2048, 2048), np.uint8, kernels.sharpen(), None, True),
    "2048-15x15-gaussian": ((2048, 2048), np.float32, kernels.gaussian(2.3, 15), None, True),
    "512-7x7-gaussian-dense-f32": ((512, 512), np.float32, dense_gaussian_f32(7), None, False),
    "2048-7x7-gaussian-dense-f32": ((2048, 2048), np.float32, dense_gaussian_f32(7), None, True),
    "2048-15x15-gaussian-dense-f32": ((2048, 2048), np.float32, dense_gaussian_f32(15), None, True),
}


def _image(shape, dtype):
    rng = np.random.default_rng(3)
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, shape).astype(np.uint8)
    return rng.standard_normal(shape).astype(dtype)


def _impls(case):
    _, _, kernel, axis, _ = CASES[case]
    impls = {b: (lambda x, b=b: fastconv.filter2d(x, kernel, border="mirror", channel_axis=axis, dtype=x.dtype,
                                                   backend=b))
             for b in FAST_BACKENDS}
    if cv2 is not None:
        impls["cv2.filter2D"] = lambda x: cv2.filter2D(x, -1, kernel.astype(np.float32),
                                                       borderType=cv2.BORDER_REFLECT_101)
        if "gaussian" in case or "5x5" in case:  # separable kernels: OpenCV's 1-D pair too
            taps = (kernel.sum(axis=1) / np.sqrt(kernel.sum())).astype(np.float32)
            if "dense-f32" in case:
                taps = GAUSSIAN_TAPS[kernel.shape[0]]
            impls["cv2.sepFilter2D"] = lambda x: cv2.sepFilter2D(x, -1, taps, taps, borderType=cv2.BORDER_REFLECT_101)
    if ndimage is not None and axis is None and "u8" not in case:
        impls["scipy"] = lambda x: ndimage.correlate(x, kernel.astype(np.float32), mode="mirror")
    return impls


def _params():
    for case, (*_, slow) in CASES.items():
        for impl in _impls(case):
            yield pytest.param(case, impl, id=f"{case}-{impl}", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("case, impl", list(_params()))
def test_filter2d(benchmark, case, impl):
    shape, dtype, kernel, axis, _ = CASES[case]
    image = _image(shape, dtype)
    benchmark.group = f"filter2d {case}"
    result = benchmark(_impls(case)[impl], image)
    reference = image if image.dtype.kind != "f" else image.astype(np.float64)
    expected = fastconv.filter2d(reference, kernel, border="mirror", channel_axis=axis,
                                 dtype=image.dtype if image.dtype.kind != "f" else None, backend="reference")
    if image.dtype.kind == "f":
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    elif impl in FAST_BACKENDS:  # integer results: the correctly rounded value
        np.testing.assert_array_equal(result, expected)
    else:  # OpenCV rounds its float32 sums
        assert np.abs(result.astype(int) - expected).max() <= 1
