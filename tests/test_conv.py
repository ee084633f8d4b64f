"""conv2d: every backend against the reference on random cases over every option, the reference
(and every backend) against torch when installed, the edge cases and every error."""

import numpy as np
import pytest

import fastconv
from _cases import assert_close, random_array, random_conv_case, reference, run_in_threads

SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_reference(backend, dtype, seed):
    rng = np.random.default_rng(seed)
    case = random_conv_case(rng, dtype)
    expected = reference("conv2d", case)
    actual = fastconv.conv2d(case.input, case.weight, **case.kwargs, backend=backend)
    assert actual.dtype == dtype
    assert_close(actual, expected, dtype)


# Padded rows share a zero column with their neighbours in the packed input; padding wider than
# the kernel reaches, asymmetric padding and strides must still keep every output row apart.
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kernel, stride, padding", [
    ((1, 3), 1, (0, 3)), ((3, 3), 1, 1), ((3, 3), 1, (1, 1, 2, 0)), ((3, 3), 1, (1, 1, 0, 2)),
    ((1, 1), 1, (0, 4)), ((3, 5), 2, (1, 2)), ((2, 2), 1, (0, 0, 1, 1)), ((3, 3), (1, 3), 3),
    ((5, 5), 4, 2), ((3, 4), (4, 3), (2, 1))])
def test_padded_rows_stay_apart(backend, dtype, layout, kernel, stride, padding):
    rng = np.random.default_rng(7)
    x = random_array(rng, (2, 5, 6, 9), dtype)
    weight = random_array(rng, (4, 5) + kernel, dtype)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    kwargs = dict(stride=stride, padding=padding, layout=layout)
    expected = fastconv.conv2d(x.astype(np.float64), weight.astype(np.float64), **kwargs, backend="reference")
    assert_close(fastconv.conv2d(x, weight, **kwargs, backend=backend), expected, dtype)


@pytest.mark.parametrize("seed", range(100, 140))
def test_matches_torch(backend, dtype, seed):
    torch_ops = pytest.importorskip("_torch")
    rng = np.random.default_rng(seed)
    case = random_conv_case(rng, dtype)
    expected = torch_ops.conv2d(case)
    actual = fastconv.conv2d(case.input, case.weight, **case.kwargs, backend=backend)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert_close(actual, expected, dtype)


def test_lecture_example(backend):
    from fastconv._demo import LECTURE_DETECTOR, LECTURE_FEATURE_MAP, LECTURE_IMAGE

    feature_map = fastconv.conv2d(LECTURE_IMAGE[None, None], LECTURE_DETECTOR[None, None], backend=backend)
    np.testing.assert_array_equal(feature_map[0, 0], LECTURE_FEATURE_MAP)
    assert feature_map[0, 0, 2, 2] == 0  # the slides print 1 here


def test_lecture_layer_shapes(backend):
    rng = np.random.default_rng(1)
    image = random_array(rng, (3, 32, 32), np.float32)
    weight = random_array(rng, (64, 3, 3, 3), np.float32)
    assert fastconv.conv2d(image, weight, backend=backend).shape == (64, 30, 30)
    assert fastconv.conv2d(image, weight, padding=1, backend=backend).shape == (64, 32, 32)
    nhwc = fastconv.conv2d(image.transpose(1, 2, 0), weight, padding="same", layout="NHWC", backend=backend)
    assert nhwc.shape == (32, 32, 64)


@pytest.mark.parametrize("kernel, dilation, expected", [
    (2, 1, (0, 1)), (4, 1, (1, 2)), (3, 1, (1, 1)), (2, 3, (1, 2)), (3, 2, (2, 2))])
def test_same_padding_puts_the_extra_cell_bottom_right(kernel, dilation, expected):
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    weight = np.zeros((1, 1, kernel, kernel))
    weight[0, 0, 0, 0] = 1.0  # picks the top-left tap: out[i, j] = x_padded[i, j]
    out = fastconv.conv2d(x, weight, padding="same", dilation=dilation)
    top, _ = expected
    shifted = np.pad(x[0, 0], ((top, 0), (top, 0)))[:6, :6]
    np.testing.assert_array_equal(out[0, 0], shifted)


def test_out_argument(backend, dtype):
    rng = np.random.default_rng(3)
    x = random_array(rng, (2, 4, 9, 8), dtype)
    weight = random_array(rng, (6, 2, 3, 3), dtype)
    expected = fastconv.conv2d(x, weight, groups=2, backend="reference")
    out = np.full(expected.shape, np.nan, dtype=dtype)
    result = fastconv.conv2d(x, weight, groups=2, out=out, backend=backend)
    assert result is out
    assert_close(out, expected, dtype)
    # a non-contiguous out is filled through a buffer
    big = np.full((2, 6, 7, 12), np.nan, dtype=dtype)
    view = big[:, :, :, ::2]
    assert fastconv.conv2d(x, weight, groups=2, out=view, backend=backend) is view
    assert_close(view, expected, dtype)
    assert np.isnan(big[:, :, :, 1::2]).all()


def test_out_overlapping_the_input_gives_the_right_answer(backend):
    rng = np.random.default_rng(4)
    x = random_array(rng, (1, 2, 6, 6), np.float64)
    weight = random_array(rng, (2, 2, 1, 1), np.float64)
    expected = fastconv.conv2d(x, weight, backend="reference")
    fastconv.conv2d(x, weight, out=x, backend=backend)  # in place: read before write
    assert_close(x, expected, np.float64)


def test_non_contiguous_and_foreign_inputs(backend):
    rng = np.random.default_rng(5)
    x = random_array(rng, (2, 3, 10, 14), np.float32)[:, :, ::2, 1::2]
    weight = random_array(rng, (4, 3, 2, 2), np.float64)  # cast to the input's dtype
    result = fastconv.conv2d(x, weight.tolist(), backend=backend)
    expected = fastconv.conv2d(np.ascontiguousarray(x), weight.astype(np.float32), backend="reference")
    assert result.dtype == np.float32
    assert_close(result, expected, np.float32)


def test_nan_and_inf_propagate(backend, dtype):
    x = np.ones((1, 1, 7, 7), dtype=dtype)
    x[0, 0, 5, 5] = np.nan
    x[0, 0, 0, 0] = np.inf
    out = fastconv.conv2d(x, np.ones((1, 1, 3, 3), dtype=dtype), activation="relu", backend=backend)[0, 0]
    nan_cells = np.zeros((5, 5), dtype=bool)
    nan_cells[3:, 3:] = True  # the windows that cover (5, 5)
    np.testing.assert_array_equal(np.isnan(out), nan_cells)
    assert out[0, 0] == np.inf
    assert out[0, 4] == 9 and out[4, 0] == 9


def test_empty_batch(backend):
    out = fastconv.conv2d(np.zeros((0, 3, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float32), backend=backend)
    assert out.shape == (0, 2, 3, 3) and out.dtype == np.float32


def test_large_random_layer_matches_reference(fast_backend):
    """A layer big enough to run every thread and the wide SIMD paths."""
    backend = fast_backend
    rng = np.random.default_rng(6)
    x = random_array(rng, (2, 16, 37, 41), np.float32)
    weight = random_array(rng, (24, 8, 3, 3), np.float32)
    bias = random_array(rng, (24,), np.float32)
    for layout in ("NCHW", "NHWC"):
        xin = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        expected = fastconv.conv2d(xin, weight, bias, stride=(1, 2), padding=(2, 1, 0, 3), groups=2,
                                   layout=layout, activation="relu", backend="reference")
        actual = fastconv.conv2d(xin, weight, bias, stride=(1, 2), padding=(2, 1, 0, 3), groups=2,
                                 layout=layout, activation="relu", backend=backend)
        assert_close(actual, expected, np.float32)


def test_threads_setting_gives_the_same_answer(backend, restore_threads):
    rng = np.random.default_rng(7)
    x = random_array(rng, (2, 4, 20, 20), np.float64)
    weight = random_array(rng, (8, 4, 3, 3), np.float64)
    fastconv.set_num_threads(1)
    one = fastconv.conv2d(x, weight, backend=backend)
    fastconv.set_num_threads(2)
    assert fastconv.get_num_threads() == 2
    two = fastconv.conv2d(x, weight, backend=backend)
    assert_close(one, two, np.float64)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("batch, groups", [(2, 4), (3, 8), (5, 6)])
def test_grouped_batches_on_several_threads(fast_backend, dtype, restore_threads, threads, batch, groups):
    """Whole images per thread, each packing its groups into per-thread scratch (the cpp
    backend's path for batch >= threads and groups >= 2 x threads): every thread its own slice.
    Two threads once shared one slice and gave wrong results."""
    rng = np.random.default_rng(batch * groups)
    x = random_array(rng, (batch, 4 * groups, 12, 11), dtype)
    weight = random_array(rng, (2 * groups, 4, 3, 3), dtype)
    expected = fastconv.conv2d(x, weight, padding=1, groups=groups, backend="reference")
    fastconv.set_num_threads(threads)
    for _ in range(5):  # a race shows on some calls only
        assert_close(fastconv.conv2d(x, weight, padding=1, groups=groups, backend=fast_backend), expected, dtype)


# (3, 24): igemm; (64, 13): AlexNet-like, igemm_channels under `auto` on AVX-512 float32
@pytest.mark.parametrize("channels, size", [(3, 24), (64, 13)])
def test_concurrent_calls_from_python_threads(backend, channels, size):
    rng = np.random.default_rng(8)
    inputs = [random_array(rng, (1, channels, size, size), np.float32) for _ in range(6)]
    weight = random_array(rng, (40, channels, 3, 3), np.float32)
    expected = [fastconv.conv2d(x, weight, padding=1, backend="reference") for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(3):
            results[i] = fastconv.conv2d(inputs[i], weight, padding=1, backend=backend)

    run_in_threads(work, len(inputs))
    for got, want in zip(results, expected):
        assert_close(got, want, np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_plan_matches_conv2d(backend, dtype, seed):
    case = random_conv_case(np.random.default_rng(300 + seed), dtype)
    options = {k: v for k, v in case.kwargs.items() if k != "bias"}
    plan = fastconv.Conv2dPlan(case.weight, case.kwargs.get("bias"), dtype=dtype, backend=backend, **options)
    expected = fastconv.conv2d(case.input, case.weight, **case.kwargs, backend="reference")
    assert_close(plan(case.input), expected, dtype)
    assert_close(plan(case.input), expected, dtype)  # and again: nothing left over from the first call


def test_plan_keeps_its_weight_until_set_weight():
    rng = np.random.default_rng(9)
    x = random_array(rng, (1, 2, 7, 7), np.float64)
    weight = random_array(rng, (3, 2, 3, 3), np.float64)
    plan = fastconv.Conv2dPlan(weight, padding=1, dtype=np.float64)
    before = plan(x)
    weight *= 2.0  # the caller changes its array in place: the plan took a copy
    np.testing.assert_array_equal(plan(x), before)
    plan.set_weight(weight)
    assert_close(plan(x), fastconv.conv2d(x, weight, padding=1), np.float64)
    # conv2d itself caches nothing: the changed array gives the new answer at once
    assert_close(fastconv.conv2d(x, weight, padding=1), 2.0 * before, np.float64)


def test_plan_errors():
    weight = np.ones((4, 3, 3, 3))
    with pytest.raises(ValueError, match="same.*stride"):
        fastconv.Conv2dPlan(weight, padding="same", stride=2)
    with pytest.raises(TypeError, match="dtype"):
        fastconv.Conv2dPlan(weight, dtype=np.int32)
    plan = fastconv.Conv2dPlan(weight, padding=5, padding_mode="reflect")  # checked per input, not here
    with pytest.raises(TypeError, match="float32"):
        plan(np.ones((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="reflect"):
        plan(np.ones((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="input channels"):
        plan(np.ones((1, 2, 8, 8), np.float32))
