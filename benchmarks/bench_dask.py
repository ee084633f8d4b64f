"""fastconv.dask on the threaded scheduler against in-memory fastconv: a chunked filter, chunked
pools and a batch through a conv layer. The comparison with a LocalCluster, interleaved and on
the issue's sizes, is `fastconv bench dask`.

    python -m pytest benchmarks/bench_dask.py --benchmark-only [-m "not slow"]
"""

import numpy as np
import pytest

import fastconv

da = pytest.importorskip("dask.array")
fd = pytest.importorskip("fastconv.dask")

KERNEL = np.random.default_rng(5).standard_normal((5, 5))

# name: (image side, chunk side, slow)
FILTER_CASES = {"1024-in-256": (1024, 256, False), "8192-in-2048": (8192, 2048, True)}


def _filter_params():
    for case, (*_, slow) in FILTER_CASES.items():
        for impl in ("in-memory", "dask-threads"):
            yield pytest.param(case, impl, id=f"{case}-{impl}", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("case, impl", list(_filter_params()))
def test_filter2d(benchmark, case, impl):
    side, chunk, _ = FILTER_CASES[case]
    image = np.random.default_rng(19).standard_normal((side, side), dtype=np.float32)
    benchmark.group = f"dask filter2d {case} 5x5 mirror"
    if impl == "in-memory":
        result = benchmark(fastconv.filter2d, image, KERNEL, border="mirror")
    else:
        chunked = da.from_array(image, chunks=chunk)
        result = benchmark(lambda: fd.filter2d(chunked, KERNEL, border="mirror").compute(scheduler="threads"))
    np.testing.assert_array_equal(result, fastconv.filter2d(image, KERNEL, border="mirror"))


@pytest.mark.parametrize("impl", ["in-memory", "dask-threads"])
def test_max_pool2d_3x3s2_ceil(benchmark, impl):
    x = np.random.default_rng(20).standard_normal((4, 16, 250, 250)).astype(np.float32)
    benchmark.group = "dask max_pool2d 3x3/2 ceil 4x16x250x250"
    if impl == "in-memory":
        result = benchmark(fastconv.max_pool2d, x, 3, 2, ceil_mode=True)
    else:
        chunked = da.from_array(x, chunks=(2, 16, 125, 125))  # 125: not a multiple of the stride
        result = benchmark(lambda: fd.max_pool2d(chunked, 3, 2, ceil_mode=True).compute(scheduler="threads"))
    np.testing.assert_array_equal(result, fastconv.max_pool2d(x, 3, 2, ceil_mode=True))


@pytest.mark.parametrize("impl", ["in-memory", "dask-threads"])
def test_conv2d_batch(benchmark, impl):
    rng = np.random.default_rng(21)
    x = rng.standard_normal((16, 64, 28, 28)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    benchmark.group = "dask conv2d 16x64x28x28 3x3x64"
    if impl == "in-memory":
        result = benchmark(fastconv.conv2d, x, w, padding=1)
    else:
        chunked = da.from_array(x, chunks=(4, 64, 28, 28))
        result = benchmark(lambda: fd.conv2d(chunked, w, padding=1).compute(scheduler="threads"))
    np.testing.assert_array_equal(result, fastconv.conv2d(x, w, padding=1))
