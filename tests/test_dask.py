"""fastconv.dask: chunked results equal the in-memory ones bit for bit, on dask's threaded
scheduler and on a real LocalCluster (worker processes)."""

import doctest
import pickle
import threading
import tracemalloc

import numpy as np
import pytest

import fastconv
from fastconv import _dispatch, models
from _cases import require_slow

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
fd = pytest.importorskip("fastconv.dask")

BORDERS = ("constant", "reflect", "nearest", "mirror", "wrap")
# uneven, none a multiple of a stride or of a kernel's size
IMAGE_CHUNKS = ((301, 250, 449), (512, 401, 387))


def threads(array):
    return array.compute(scheduler="threads")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(19).standard_normal((1000, 1300)).astype(np.float32)


@pytest.fixture(scope="module")
def chunked(image):
    return da.from_array(image, chunks=IMAGE_CHUNKS)


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(20).standard_normal((7, 3, 61, 53)).astype(np.float32)


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster for the module: 2 worker processes x 1 thread, the default client while
    the tests that use it run (the others name their scheduler)."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local, distributed.Client(local) as client:
        yield client


# -- filter2d -------------------------------------------------------------------------------------

KERNELS = {
    "random5x5": np.random.default_rng(1).standard_normal((5, 5)),        # the direct path
    "gaussian5x5": fastconv.kernels.gaussian(1.1, 5),                     # the separable path
    "random4x6-f32": np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32),  # even, uneven halo
}


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("kernel", list(KERNELS), ids=str)
def test_filter2d_equals_in_memory(image, chunked, border, kernel):
    weights = KERNELS[kernel]
    expected = fastconv.filter2d(image, weights, border=border, cval=0.25)
    result = threads(fd.filter2d(chunked, weights, border=border, cval=0.25))
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected, strict=True)


@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize("border", ["reflect", "wrap"])
@pytest.mark.parametrize("flip", [False, True])
def test_filter2d_modes_and_flip(image, chunked, mode, border, flip):
    weights = KERNELS["random4x6-f32"]
    expected = fastconv.filter2d(image, weights, mode=mode, border=border, flip=flip)
    result = fd.filter2d(chunked, weights, mode=mode, border=border, flip=flip)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(threads(result), expected, strict=True)


def test_filter2d_chunks_follow_the_image(chunked):
    result = fd.filter2d(chunked, np.ones((3, 3)))
    assert result.chunks == chunked.chunks
    # a chunk smaller than the kernel merges with its right neighbour; the other boundaries stay
    tiny = da.from_array(np.ones((40, 30), np.float32), chunks=((20, 2, 18), (30,)))
    assert fd.filter2d(tiny, np.ones((5, 5))).chunks == ((20, 20), (30,))


def test_filter2d_integer_images_and_channels():
    rng = np.random.default_rng(3)
    image8 = rng.integers(0, 256, (157, 203)).astype(np.uint8)
    chunked8 = da.from_array(image8, chunks=(50, 70))
    sharpen = fastconv.kernels.sharpen()
    for dtype in (None, np.uint8):
        expected = fastconv.filter2d(image8, sharpen, border="mirror", dtype=dtype)
        np.testing.assert_array_equal(threads(fd.filter2d(chunked8, sharpen, border="mirror", dtype=dtype)), expected,
                                      strict=True)
    colour = rng.standard_normal((3, 157, 203))
    for axis, array in ((0, colour), (-1, np.moveaxis(colour, 0, -1).copy())):
        chunks = (2, 60, 70) if axis == 0 else (60, 70, 2)
        expected = fastconv.filter2d(array, sharpen, border="reflect", channel_axis=axis)
        result = fd.filter2d(da.from_array(array, chunks=chunks), sharpen, border="reflect", channel_axis=axis)
        np.testing.assert_array_equal(threads(result), expected, strict=True)


def test_filter2d_small_images_in_one_chunk():
    """An image smaller than the kernel's halo (borders reflected more than once) is one chunk."""
    tiny = np.random.default_rng(4).standard_normal((3, 40)).astype(np.float32)
    weights = np.random.default_rng(5).standard_normal((7, 7))
    for border in BORDERS:
        expected = fastconv.filter2d(tiny, weights, border=border)
        np.testing.assert_array_equal(threads(fd.filter2d(da.from_array(tiny, chunks=(2, 9)), weights, border=border)),
                                      expected, strict=True)


def test_filter2d_errors_before_any_task():
    image = da.zeros((100, 100), chunks=50, dtype=np.float32)
    with pytest.raises(ValueError, match="kernel"):
        fd.filter2d(image, np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="border"):
        fd.filter2d(image, np.ones((3, 3)), border="bogus")
    with pytest.raises(ValueError, match="mode='valid'"):
        fd.filter2d(da.zeros((4, 100), chunks=50, dtype=np.float32), np.ones((5, 5)), mode="valid")
    with pytest.raises(TypeError, match="dtype"):
        fd.filter2d(da.zeros((10, 10), dtype=np.int64), np.ones((3, 3)))
    with pytest.raises(ValueError, match="threads_per_task"):
        fd.filter2d(image, np.ones((3, 3)), threads_per_task=0)


# -- pools ----------------------------------------------------------------------------------------

POOLS = [  # kernel, stride, padding, dilation, ceil_mode
    (2, 2, 0, 1, False), (2, 2, 0, 1, True), (3, 2, 0, 1, True), (3, 2, 1, 1, True), (3, 2, 1, 1, False),
    (3, 1, 1, 1, False), (5, 3, 2, 1, True), (3, 2, 1, 2, True)]
POOL_CHUNKS = [(1, 2, 50, 61), (2, 3, 33, 77)]  # no boundary a multiple of 2 or 3


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", POOLS, ids=str)
@pytest.mark.parametrize("chunks", POOL_CHUNKS, ids=str)
def test_max_pool2d_equals_in_memory(batch, kernel, stride, padding, dilation, ceil_mode, chunks):
    expected, indices = fastconv.max_pool2d(batch, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    chunked = da.from_array(batch, chunks=chunks)
    values = fd.max_pool2d(chunked, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_array_equal(threads(values), expected, strict=True)
    pair = fd.max_pool2d(chunked, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    got_values, got_indices = dask.compute(*pair, scheduler="threads")
    np.testing.assert_array_equal(got_values, expected, strict=True)
    np.testing.assert_array_equal(got_indices, indices, strict=True)


def test_pool_chunks_align_to_the_stride():
    from fastconv.dask._windows import plan_axis

    plan = plan_axis((50, 50, 50, 53), stride=3, reach=1, window=3, out_extent=68)
    assert plan.chunks == (48, 51, 51, 53)  # boundaries moved down to multiples of 3
    assert plan.out_chunks == (16, 17, 17, 18)  # the windows that start in each chunk
    assert (plan.before, plan.after) == (3, 0)  # whole strides back for the padding's reach
    assert plan_axis((5, 5), stride=2, reach=0, window=7, out_extent=2).chunks == (10,)  # too small: one chunk


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", [p for p in POOLS if p[3] == 1], ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_equals_in_memory(batch, kernel, stride, padding, dilation, ceil_mode, count_include_pad):
    expected = fastconv.avg_pool2d(batch, kernel, stride, padding, ceil_mode, count_include_pad)
    result = fd.avg_pool2d(da.from_array(batch, chunks=POOL_CHUNKS[1]), kernel, stride, padding, ceil_mode,
                           count_include_pad)
    np.testing.assert_array_equal(threads(result), expected, strict=True)


def test_pools_nhwc_unbatched_and_divisor(batch):
    nhwc = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
    expected = fastconv.max_pool2d(nhwc, 3, 2, 1, ceil_mode=True, layout="NHWC")
    result = fd.max_pool2d(da.from_array(nhwc, chunks=(2, 19, 23, 2)), 3, 2, 1, ceil_mode=True, layout="NHWC")
    np.testing.assert_array_equal(threads(result), expected, strict=True)
    image = batch[0].astype(np.float64)
    expected = fastconv.avg_pool2d(image, 3, 2, 1, ceil_mode=True, divisor_override=7)
    result = fd.avg_pool2d(da.from_array(image, chunks=(3, 21, 17)), 3, 2, 1, ceil_mode=True, divisor_override=7)
    np.testing.assert_array_equal(threads(result), expected, strict=True)


def test_pool_errors_before_any_task(batch):
    chunked = da.from_array(batch, chunks=(2, 3, 30, 30))
    with pytest.raises(ValueError, match="padding"):
        fd.max_pool2d(chunked, 2, padding=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        fd.avg_pool2d(chunked.astype(np.int32), 2)


# -- batches --------------------------------------------------------------------------------------

def test_conv2d_over_a_batch(batch):
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((16, 3, 5, 5)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)
    chunked = da.from_array(batch, chunks=(3, 1, 30, 30))  # the image axes are made one chunk
    result = fd.conv2d(chunked, weight, bias, stride=2, padding=2, activation="relu")
    assert result.chunks[0] == (3, 3, 1)
    expected = fastconv.conv2d(batch, weight, bias, stride=2, padding=2, activation="relu")
    np.testing.assert_array_equal(threads(result), expected, strict=True)
    unbatched = fd.conv2d(da.from_array(batch[0]), weight, padding="same", padding_mode="reflect")
    np.testing.assert_array_equal(threads(unbatched), fastconv.conv2d(batch[0], weight, padding="same",
                                                                      padding_mode="reflect"), strict=True)


def test_conv2d_weights_are_one_key(batch):
    """The weight is one literal of the graph every task reads, not a copy in each task."""
    weight = np.random.default_rng(7).standard_normal((64, 3, 7, 7)).astype(np.float32)
    result = fd.conv2d(da.from_array(batch, chunks=(1, 3, 61, 53)), weight, padding=3)
    graph = dict(result.__dask_graph__())
    holding = [key for key, task in graph.items() if type(task).__name__ == "DataNode"
               and getattr(getattr(task.value, "value", None), "nbytes", 0) == weight.nbytes]
    assert len(holding) == 1
    conv_tasks = [task for key, task in graph.items() if isinstance(key, tuple) and "conv2d" in key[0]]
    assert len(conv_tasks) == batch.shape[0]
    assert all(len(pickle.dumps(task)) < weight.nbytes / 10 for task in conv_tasks)
    assert all(holding[0] in task.dependencies for task in conv_tasks)


@pytest.fixture(scope="module")
def alexnet_features():
    """AlexNet's conv stack (features), random weights, eval mode."""
    return models.alexnet(num_classes=10, rng=0).eval().features


def test_apply_a_model(alexnet_features):
    model = alexnet_features
    images = np.random.default_rng(8).standard_normal((5, 3, 80, 80)).astype(np.float32)
    features = fd.apply(model, da.from_array(images, chunks=(2, 3, 40, 80)))
    assert features.chunks[0] == (2, 2, 1)
    np.testing.assert_array_equal(threads(features), model(images), strict=True)
    try:
        with pytest.raises(ValueError, match="eval mode"):
            fd.apply(model.train(), images)
    finally:
        model.eval()


# -- threads --------------------------------------------------------------------------------------

def test_threads_per_task_leave_the_process_count_alone(chunked, image, restore_threads):
    fastconv.set_num_threads(2)
    seen = []

    def spy(*args, **kwargs):
        seen.append(fastconv.get_num_threads())
        return fastconv.filter2d(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fd, "_filter2d", spy)
        result = threads(fd.filter2d(chunked, np.ones((3, 3)), threads_per_task=1))
    assert set(seen) == {1}
    assert fastconv.get_num_threads() == 2
    np.testing.assert_array_equal(result, fastconv.filter2d(image, np.ones((3, 3))))


def test_threads_in_context_is_per_thread(restore_threads):
    fastconv.set_num_threads(3)
    other = []
    with _dispatch.threads_in_context(1):
        worker = threading.Thread(target=lambda: other.append(fastconv.get_num_threads()))
        worker.start()
        worker.join()
        assert fastconv.get_num_threads() == 1
    assert other == [3]
    assert fastconv.get_num_threads() == 3


def test_docstring_examples():
    result = doctest.testmod(fd, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# -- a real LocalCluster (processes) --------------------------------------------------------------

def test_on_a_local_cluster(cluster, image, batch):
    weights = KERNELS["random5x5"]
    # 2 x 2 chunks, uneven: every seam and corner, few tasks (each costs milliseconds here)
    image = image[:300, :410]
    chunked = cluster.persist(da.from_array(image, chunks=((151, 149), (203, 207))))
    filtered = [fd.filter2d(chunked, weights, border=border) for border in BORDERS]
    pool_chunks = (7, 3, 31, 27)
    pooled = [fd.max_pool2d(da.from_array(batch, chunks=pool_chunks), 2, 2),
              fd.max_pool2d(da.from_array(batch, chunks=pool_chunks), 3, 2, ceil_mode=True),
              fd.avg_pool2d(da.from_array(batch, chunks=pool_chunks), 3, 2, 1, ceil_mode=True)]
    weight = np.random.default_rng(9).standard_normal((8, 3, 3, 3)).astype(np.float32)
    convolved = fd.conv2d(da.from_array(batch, chunks=(4, 3, 61, 53)), weight, padding=1)
    results = cluster.gather(cluster.compute([*filtered, *pooled, convolved]))
    for border, result in zip(BORDERS, results):
        np.testing.assert_array_equal(result, fastconv.filter2d(image, weights, border=border), strict=True)
    np.testing.assert_array_equal(results[5], fastconv.max_pool2d(batch, 2, 2), strict=True)
    np.testing.assert_array_equal(results[6], fastconv.max_pool2d(batch, 3, 2, ceil_mode=True), strict=True)
    np.testing.assert_array_equal(results[7], fastconv.avg_pool2d(batch, 3, 2, 1, ceil_mode=True), strict=True)
    np.testing.assert_array_equal(results[8], fastconv.conv2d(batch, weight, padding=1), strict=True)


def test_a_model_on_a_local_cluster(cluster, alexnet_features):
    model = alexnet_features
    images = np.random.default_rng(10).standard_normal((4, 3, 67, 67)).astype(np.float32)
    features = fd.apply(model, da.from_array(images, chunks=(2, 3, 67, 67)))
    # the model was scattered to the workers: the graph holds its key, not the model
    assert not any(type(task).__name__ == "DataNode" and isinstance(task.value, fd._Held)
                   for task in dict(features.__dask_graph__()).values())
    np.testing.assert_array_equal(cluster.compute(features).result(), model(images), strict=True)


# -- the size -----------------------------------------------------------------------------

class TileReader:
    """Stands for an image read tile by tile from storage (zarr, TIFF tiles): dask.array.from_array
    copies a NumPy array whole first, which no image read from storage suffers."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        return np.array(self.array[index])


@pytest.fixture(scope="module")
def big_image(request):
    require_slow(request)
    return np.random.default_rng(16384).standard_normal((16384, 16384), dtype=np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("border", BORDERS)
def test_16384_image_in_2048_chunks(request, big_image, border, record_property):
    """The issue's case: 16384x16384 float32 in 2048x2048 chunks, a 5x5 kernel: equal to the
    in-memory result, and the run's peak of new allocations (the tiles read, blocks and results in
    flight; the result is stored into a preallocated array) far below the 1 GiB image."""
    require_slow(request)
    weights = KERNELS["random5x5"]
    expected = fastconv.filter2d(big_image, weights, border=border)
    result = np.empty_like(expected)
    result.fill(np.nan)  # pages touched before the measurement
    tracemalloc.start()
    try:
        tiles = da.from_array(TileReader(big_image), chunks=2048)
        da.store(fd.filter2d(tiles, weights, border=border), result, lock=False, scheduler="threads")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    record_property("peak_bytes", peak)
    print(f"\n16384^2 float32 in 2048^2 chunks, 5x5, border={border}: peak new allocations "
          f"{peak / 2**20:.0f} MiB (image {big_image.nbytes / 2**20:.0f} MiB, one chunk {2048 * 2048 * 4 / 2**20:.0f} MiB)")
    assert np.array_equal(result, expected)
    # about three rows of tiles in flight (a block's halo comes from the rows above and below it);
    # wrap also holds the far edges (the last row and column of tiles) from the first blocks on;
    # measured on 2 threads: 370-415 MiB, wrap 707 MiB
    assert peak < big_image.nbytes * (1 if border == "wrap" else 1 / 2)
