"""The drop-ins' cost per call on the small calls that dominate real use: a plain torch /
SciPy call against the same call through fastconv.torch / fastconv.scipy (routed by the stored
or default thresholds, and served by fastconv at every size with the thresholds at 0).

Run: python -m pytest benchmarks/bench_dropins.py --benchmark-only --benchmark-group-by=group
Compare the rows of a group as ratios; the issue's bar is <= 1.1x the plain call.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import fastconv.torch as fastconv_torch  # noqa: E402

from _impls import set_torch_threads  # noqa: E402

F = torch.nn.functional
RNG = np.random.default_rng(11)

# kornia-sized calls: (name, function name, args builder, kwargs)
TORCH_CALLS = {
    "depthwise-3x3-1x3x32x32": ("conv2d", lambda: (torch.from_numpy(RNG.standard_normal((1, 3, 32, 32), np.float32)),
                                                   torch.from_numpy(RNG.standard_normal((3, 1, 3, 3), np.float32))),
                                {"padding": 1, "groups": 3}),
    "depthwise-3x3-f64": ("conv2d", lambda: (torch.from_numpy(RNG.standard_normal((1, 3, 32, 32))),
                                             torch.from_numpy(RNG.standard_normal((3, 1, 3, 3)))),
                          {"padding": 1, "groups": 3}),
    "max-3x3-1x3x32x32": ("max_pool2d", lambda: (torch.from_numpy(RNG.standard_normal((1, 3, 32, 32), np.float32)),),
                          {"kernel_size": 3, "stride": 1, "padding": 1}),
    "max-3x3-2x3x5x5": ("max_pool2d", lambda: (torch.from_numpy(RNG.standard_normal((2, 3, 5, 5), np.float32)),),
                        {"kernel_size": 3}),
    "avg-2x2-1x16x32x32": ("avg_pool2d", lambda: (torch.from_numpy(RNG.standard_normal((1, 16, 32, 32), np.float32)),),
                           {"kernel_size": 2}),
}


@pytest.mark.parametrize("route", ["torch", "fastconv.torch", "fastconv.torch-served"])
@pytest.mark.parametrize("case", TORCH_CALLS)
def test_torch_small_call(benchmark, case, route):
    function, build, kwargs = TORCH_CALLS[case]
    args = build()
    set_torch_threads()
    benchmark.group = f"torch small call {case}"
    call = getattr(F if route == "torch" else fastconv_torch, function)
    if route == "fastconv.torch-served":
        fastconv_torch.set_thresholds({op: {"float32": 0, "float64": 0} for op in fastconv_torch.thresholds()})
    try:
        result = benchmark(call, *args, **kwargs)
    finally:
        fastconv_torch.set_thresholds(None)
    torch.testing.assert_close(result, getattr(F, function)(*args, **kwargs))


scipy_ndimage = pytest.importorskip("scipy.ndimage")
from fastconv.scipy import ndimage as fastconv_ndimage  # noqa: E402

IMAGE = RNG.standard_normal((64, 64))
SCIPY_CALLS = {
    "gaussian-sigma2-64x64": ("gaussian_filter", (IMAGE, 2.0), {}),
    "correlate-5x5-64x64": ("correlate", (IMAGE, RNG.standard_normal((5, 5))), {"mode": "reflect"}),
    "uniform-3-64x64-f32": ("uniform_filter", (IMAGE.astype(np.float32), 3), {}),
    "sobel-64x64": ("sobel", (IMAGE,), {"axis": 0}),
}


@pytest.mark.parametrize("route", ["scipy", "fastconv.scipy"])
@pytest.mark.parametrize("case", SCIPY_CALLS)
def test_scipy_small_call(benchmark, case, route):
    function, args, kwargs = SCIPY_CALLS[case]
    benchmark.group = f"scipy small call {case}"
    call = getattr(scipy_ndimage if route == "scipy" else fastconv_ndimage, function)
    result = benchmark(call, *args, **kwargs)
    np.testing.assert_allclose(result, getattr(scipy_ndimage, function)(*args, **kwargs), rtol=1e-6, atol=1e-12)
