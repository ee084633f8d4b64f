"""The compiled kernels at every SIMD level this CPU supports, and the guards of fastconv._core."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from _cases import assert_close, random_conv_case, random_pool_case

_core = pytest.importorskip("fastconv._core", reason="the compiled backend is not built")
LEVELS = _core.simd_levels()


@pytest.fixture(params=LEVELS)
def simd_level(request):
    before = _core.simd_level()
    _core._set_simd(request.param)
    yield request.param
    _core._set_simd(before)


def test_every_kernel_compiled_for_every_level():
    names = _core.kernels()
    for kernel in ("conv2d_f32_direct", "conv2d_f64_direct", "max_pool2d_f32", "avg_pool2d_f64", "filter2d_f32"):
        assert f"{kernel}_scalar" in names
    assert "scalar" in LEVELS and LEVELS[0] == "scalar"


def test_best_level_is_chosen_by_default():
    result = subprocess.run([sys.executable, "-c", "from fastconv import _core; print(_core.simd_level())"],
                            capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                 if k != "FASTCONV_SIMD"}, timeout=120)
    assert result.stdout.strip() == LEVELS[-1]


@pytest.mark.parametrize("algorithm", ["igemm", "igemm_channels", "direct", "auto"])
@pytest.mark.parametrize("seed", range(25))
def test_conv2d_at_every_level(simd_level, dtype, algorithm, seed):
    case = random_conv_case(np.random.default_rng(1000 + seed), dtype)
    expected = fastconv.conv2d(case.input, case.weight, **case.kwargs, backend="reference")
    actual = fastconv.conv2d(case.input, case.weight, **case.kwargs, algorithm=algorithm, backend="cpp")
    assert_close(actual, expected, dtype)


@pytest.mark.parametrize("seed", range(12))
def test_winograd_at_every_level(simd_level, dtype, seed):
    """3x3 / stride 1 cases over every other option, within 1e-4 relative (float32)."""
    rng = np.random.default_rng(3000 + seed)
    c_in, c_out = (int(v) for v in rng.integers(1, 40, size=2))
    h, w = (int(v) for v in rng.integers(1, 19, size=2))
    layout = str(rng.choice(["NCHW", "NHWC"]))
    shape = (int(rng.integers(1, 3)), c_in, h + 2, w + 2)
    x = rng.standard_normal(shape if layout == "NCHW" else (shape[0], shape[2], shape[3], shape[1])).astype(dtype)
    weight = rng.standard_normal((c_out, c_in, 3, 3)).astype(dtype)
    kwargs = dict(bias=rng.standard_normal(c_out).astype(dtype), padding=[0, 1, "same", (0, 2, 1, 0)][seed % 4],
                  padding_mode=["zeros", "reflect"][seed % 2], activation=[None, "relu"][seed % 3 == 0],
                  layout=layout)
    expected = fastconv.conv2d(x, weight, **kwargs, backend="reference")
    actual = fastconv.conv2d(x, weight, **kwargs, algorithm="winograd", backend="cpp")
    if dtype == np.float32:
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    else:
        assert_close(actual, expected, dtype)


@pytest.mark.parametrize("seed", range(24))
def test_depthwise_at_every_level(simd_level, dtype, seed):
    rng = np.random.default_rng(4000 + seed)
    channels = int(rng.integers(1, 20))
    k = int(rng.integers(1, 6))
    stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    size = int(rng.integers((k - 1) * dilation + 1, 40))
    x = rng.standard_normal((int(rng.integers(1, 3)), channels, size, size + 3)).astype(dtype)
    k2 = k if seed % 3 else int(rng.integers(1, 6))  # rectangular kernels too
    weight = rng.standard_normal((channels, 1, k, k2)).astype(dtype)
    stride = stride if seed % 2 else 1  # stride 1 has its own loop
    dilation = dilation if seed % 5 else 1
    kwargs = dict(groups=channels, stride=stride, dilation=dilation, padding=int(rng.integers(0, k)),
                  padding_mode=["zeros", "circular"][seed % 2], activation=[None, "relu"][seed % 3 == 0])
    if seed % 4:
        kwargs["bias"] = rng.standard_normal(channels).astype(dtype)
    expected = fastconv.conv2d(x, weight, **kwargs, backend="reference")
    for algorithm in ("auto", "depthwise"):
        assert_close(fastconv.conv2d(x, weight, **kwargs, algorithm=algorithm, backend="cpp"), expected, dtype)


# Small planes run depthwise with the channels in the vector lanes (rows no wider than a
# vector, planes of <= 256 positions): several channel vectors and a partial one, strides,
# dilation, batch, bias and ReLU; and planes on either side of the switch.
@pytest.mark.parametrize("shape, kernel, kwargs", [
    ((2, 40, 7, 7), (3, 3), {"padding": 1}),
    ((1, 37, 14, 14), (5, 5), {"padding": 2}),
    ((1, 50, 14, 13), (3, 3), {"stride": 2, "padding": 1}),
    ((2, 19, 12, 9), (3, 2), {"dilation": 2, "padding": (2, 1)}),
    ((1, 33, 4, 4), (5, 5), {"padding": 3}),
    ((1, 24, 16, 17), (3, 3), {"padding": 1}),
    ((1, 24, 18, 18), (3, 3), {"padding": 1}),
])
def test_depthwise_small_planes_at_every_level(simd_level, dtype, shape, kernel, kwargs):
    rng = np.random.default_rng(sum(shape))
    _assert_depthwise_matches_reference(rng, rng.standard_normal(shape).astype(dtype), kernel, kwargs, "NCHW",
                                        ("depthwise",))


# NHWC depthwise runs with the channels in the lanes at every size: jobs of up to 128 channels
# (several vectors, a partial one) over bands of output rows (a 30-row plane of 200 channels
# has several of both), strides, dilation, bias and ReLU.
@pytest.mark.parametrize("shape, kernel, kwargs", [
    ((2, 9, 11, 40), (3, 3), {"padding": 1}),
    ((1, 30, 31, 200), (3, 3), {"padding": 1}),
    ((1, 33, 29, 72), (5, 5), {"stride": 2, "padding": 2}),
    ((2, 20, 17, 19), (3, 2), {"dilation": 2, "padding": (2, 1)}),
    ((1, 64, 70, 24), (3, 3), {"padding": 1}),
    ((2, 3, 4, 20), (5, 5), {"padding": 3}),  # every position reaches into the padding
    ((1, 6, 9, 33), (3, 3), {"padding": "same", "dilation": 2}),
])
def test_depthwise_nhwc_at_every_level(simd_level, dtype, shape, kernel, kwargs):
    rng = np.random.default_rng(sum(shape) + 1)
    _assert_depthwise_matches_reference(rng, rng.standard_normal(shape).astype(dtype), kernel, kwargs, "NHWC",
                                        ("depthwise", "auto"))


def _assert_depthwise_matches_reference(rng, x, kernel, kwargs, layout, algorithms):
    """Depthwise conv of `x` (in `layout`) with a random weight and bias, with and without ReLU,
    by each of `algorithms` against the reference (run in NCHW)."""
    nchw = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    channels = nchw.shape[1]
    weight = rng.standard_normal((channels, 1) + kernel).astype(x.dtype)
    bias = rng.standard_normal(channels).astype(x.dtype)
    for activation in (None, "relu"):
        expected = fastconv.conv2d(nchw, weight, bias, groups=channels, activation=activation, **kwargs,
                                   backend="reference")
        if layout == "NHWC":
            expected = expected.transpose(0, 2, 3, 1)
        for algorithm in algorithms:
            actual = fastconv.conv2d(x, weight, bias, groups=channels, activation=activation, layout=layout, **kwargs,
                                     algorithm=algorithm, backend="cpp")
            assert_close(actual, expected, x.dtype)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(15))
def test_pooling_at_every_level(simd_level, dtype, kind, seed):
    case = random_pool_case(np.random.default_rng(2000 + seed), dtype, kind)
    function = getattr(fastconv, f"{kind}_pool2d")
    expected = function(case.input, **case.kwargs, backend="reference")
    actual = function(case.input, **case.kwargs, backend="cpp")
    if kind == "max":
        np.testing.assert_array_equal(actual, expected)
    else:
        assert_close(actual, expected, dtype)


@pytest.mark.parametrize("level", ["scalar", "avx2", "baseline"])
def test_environment_lowers_the_level(level):
    expected = "scalar" if level == "baseline" else level
    if expected not in LEVELS:
        pytest.skip(f"this CPU has no {level}")
    code = "from fastconv._backends import cpp; from fastconv import _core; print(_core.simd_level())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FASTCONV_SIMD": level})
    assert result.stdout.strip() == expected, result.stderr


def test_environment_unknown_level_warns():
    code = "import warnings; warnings.simplefilter('error'); from fastconv._backends import cpp"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FASTCONV_SIMD": "sse9"})
    assert result.returncode != 0 and "FASTCONV_SIMD" in result.stderr


def test_unsupported_level_is_refused():
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core._set_simd("avx1024")


def test_core_guards_refuse_inconsistent_buffers():
    """A direct call into _core with inconsistent arrays raises instead of touching memory."""
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="output has the wrong shape"):
        _core.conv2d(x, w, None, np.empty((1, 3, 4, 4), np.float32), (1, 1), (0, 0, 0, 0), (1, 1), 1, False, False, 1)
    with pytest.raises(ValueError, match="channels"):
        _core.conv2d(x, np.ones((3, 1, 3, 3), np.float32), None, np.empty((1, 3, 3, 3), np.float32), (1, 1),
                     (0, 0, 0, 0), (1, 1), 1, False, False, 1)
    with pytest.raises(TypeError):  # mixed dtypes are not converted silently
        _core.conv2d(x, w.astype(np.float64), None, np.empty((1, 3, 3, 3), np.float32), (1, 1), (0, 0, 0, 0),
                     (1, 1), 1, False, False, 1)
    with pytest.raises(ValueError, match="does not fit"):
        _core.max_pool2d(x, np.empty((1, 2, 9, 9), np.float32), None, (2, 2), (2, 2), (0, 0), (1, 1), False, 1)
    with pytest.raises(ValueError, match="bias"):
        _core.conv2d(x, w, np.ones(2, np.float32), np.empty((1, 3, 3, 3), np.float32), (1, 1), (0, 0, 0, 0),
                     (1, 1), 1, False, False, 1)


def _array_before_guard_page(values):
    """A copy of `values` whose last byte is the last byte before an unreadable page."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    nbytes = values.nbytes
    pages = (nbytes + page - 1) // page + 1
    buffer = mmap.mmap(-1, pages * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(base + (pages - 1) * page, page, 0) == 0  # PROT_NONE
    offset = (pages - 1) * page - nbytes
    array = np.frombuffer(buffer, dtype=values.dtype, count=values.size, offset=offset).reshape(values.shape)
    array[...] = values
    return array, buffer


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses mprotect")
@pytest.mark.parametrize("shape, kernel, kwargs", [
    ((1, 1, 9, 13), (3, 1, 1, 1), {}),                     # pointwise: reads the input as it is
    ((1, 2, 11, 10), (4, 2, 3, 3), {}),                    # valid 3x3
    ((2, 4, 7, 33), (6, 2, 2, 5), {"groups": 2, "dilation": (1, 2)}),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"padding": 1}),          # packed
])
@pytest.mark.parametrize("algorithm", ["auto", "igemm_channels"])
def test_reads_stop_at_the_input_end(simd_level, dtype, shape, kernel, kwargs, algorithm):
    rng = np.random.default_rng(5)
    values = rng.standard_normal(shape).astype(dtype)
    guarded, _buffer = _array_before_guard_page(values)
    weight = rng.standard_normal(kernel).astype(dtype)
    # a read past the end of the input would crash here
    out = fastconv.conv2d(guarded, weight, **kwargs, algorithm=algorithm, backend="cpp")
    assert_close(out, fastconv.conv2d(values, weight, **kwargs, backend="reference"), dtype)


@pytest.mark.parametrize("algorithm", ["direct", "separable"])
@pytest.mark.parametrize("seed", range(12))
def test_filter2d_at_every_level(simd_level, algorithm, seed):
    rng = np.random.default_rng(5000 + seed)
    dtype = [np.uint8, np.float32, np.float64][seed % 3]
    channels = [1, 3][seed % 2]
    shape = (int(rng.integers(1, 40)), int(rng.integers(1, 90)), channels)
    image = (rng.integers(0, 256, shape) if dtype == np.uint8 else rng.standard_normal(shape)).astype(dtype)
    kernel = np.outer(rng.standard_normal(int(rng.integers(1, 7))), rng.standard_normal(int(rng.integers(1, 7))))
    kwargs = dict(border=["constant", "reflect", "nearest", "mirror", "wrap"][seed % 5], cval=0.5,
                  channel_axis=-1, dtype=[None, np.uint8, np.int16, np.uint16][seed % 4 if dtype == np.uint8 else 0])
    expected = fastconv.filter2d(image, kernel, **kwargs, backend="reference")
    actual = fastconv.filter2d(image, kernel, **kwargs, algorithm=algorithm, backend="cpp")
    if expected.dtype.kind == "f":
        assert_close(actual, expected, np.float64 if dtype == np.float64 else np.float32)
    else:
        np.testing.assert_array_equal(actual, expected)


def test_type_stub_lists_every_function():
    """src/fastconv/_core.pyi declares exactly the functions the compiled module has."""
    import ast
    import pathlib

    stub = pathlib.Path(fastconv.__file__).with_name("_core.pyi")
    declared = {node.name for node in ast.parse(stub.read_text()).body if isinstance(node, ast.FunctionDef)}
    compiled = {name for name in dir(_core) if not name.startswith("__") and callable(getattr(_core, name))}
    assert declared == compiled


# Output rows at least a register tile wide (64-128 positions) are tiled row by row and stored
# straight from the registers: whole rows, a row ending mid-vector, padding in place or read
# in place (valid), strides, and channel counts that leave partial register blocks.
@pytest.mark.parametrize("width, kwargs", [
    (256, dict(padding=1)), (150, dict(padding=1)), (256, dict(padding=0)), (200, dict(padding=(1, 2))),
    (300, dict(padding=2, stride=2)), (140, dict(padding="same", dilation=2)), (133, dict(padding=(0, 3))),
    (160, dict(padding=1, groups=3)), (129, dict(padding=(2, 1), groups=3))])
def test_conv2d_wide_rows_at_every_level(simd_level, dtype, width, kwargs):
    rng = np.random.default_rng(width)
    groups = kwargs.get("groups", 1)
    x = rng.standard_normal((2, 3 * groups, 5, width)).astype(dtype)
    weight = rng.standard_normal((7 * groups, 3, 3, 3)).astype(dtype)
    bias = rng.standard_normal(7 * groups).astype(dtype)
    for relu in (None, "relu"):
        expected = fastconv.conv2d(x, weight, bias, **kwargs, activation=relu, backend="reference")
        for algorithm in ("igemm", "auto"):
            actual = fastconv.conv2d(x, weight, bias, **kwargs, activation=relu, algorithm=algorithm, backend="cpp")
            assert_close(actual, expected, dtype)


# A 1x1 / stride-1 / unpadded NHWC convolution runs as one GEMM over the caller's array (the
# positions as rows, the transposed weight as the contiguous operand), bias and ReLU after.
@pytest.mark.parametrize("shape, c_out", [((2, 7, 9, 5), 3), ((1, 12, 12, 64), 40), ((3, 5, 6, 17), 129),
                                          ((1, 1, 1, 8), 1), ((2, 20, 10, 33), 70)])
def test_conv2d_pointwise_nhwc_at_every_level(simd_level, dtype, shape, c_out):
    rng = np.random.default_rng(sum(shape) + c_out)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((c_out, shape[3], 1, 1)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    for b, relu in ((None, None), (bias, None), (bias, "relu"), (None, "relu")):
        expected = fastconv.conv2d(x, weight, b, layout="NHWC", activation=relu, backend="reference")
        for algorithm in ("igemm", "auto"):
            actual = fastconv.conv2d(x, weight, b, layout="NHWC", activation=relu, algorithm=algorithm, backend="cpp")
            assert_close(actual, expected, dtype)
    expected = fastconv.conv2d(x[0], weight, bias, layout="NHWC", backend="reference")  # unbatched
    assert_close(fastconv.conv2d(x[0], weight, bias, layout="NHWC", backend="cpp"), expected, dtype)


# Stride-1 layers with a reduction of at least 64 steps take 8-row register blocks on AVX-512
# (channel counts such as 8, 16, 64, 128); partial blocks (13, 70) and both tilings (narrow
# rows across the pitch, wide rows one by one).
@pytest.mark.parametrize("c_out", [8, 13, 16, 64, 70, 128])
@pytest.mark.parametrize("width", [11, 70])
def test_conv2d_eight_row_blocks_at_every_level(simd_level, dtype, c_out, width):
    rng = np.random.default_rng(c_out * width)
    x = rng.standard_normal((1, 9, 6, width)).astype(dtype)
    weight = rng.standard_normal((c_out, 9, 3, 3)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    expected = fastconv.conv2d(x, weight, bias, padding=1, activation="relu", backend="reference")
    actual = fastconv.conv2d(x, weight, bias, padding=1, activation="relu", backend="cpp")
    assert_close(actual, expected, dtype)


# The shapes `auto` sends to igemm_channels on AVX-512 (ungrouped, undilated, C_in*KH*KW >= 512,
# NHWC, a plane of <= 400 positions or a stride above 1), run by name at every level: partial
# channel blocks (40, 70), rows cut into segments of unequal length (27 = 14 + 13), a reduction
# that is not a whole number of weight chunks (57 * 9), stride 2 over a 30x29 plane, dilation,
# a batch, bias and ReLU, both layouts.
@pytest.mark.parametrize("shape, c_out, kwargs", [
    ((1, 64, 13, 13), 40, {"padding": 1}),
    ((2, 57, 9, 27), 70, {"padding": (1, 2), "dilation": (1, 2)}),
    ((1, 96, 7, 5), 33, {}),
    ((1, 8, 20, 30), 16, {"stride": 2, "padding": 2}),
    ((1, 64, 59, 57), 40, {"stride": 2, "padding": 1}),
    ((13, 512, 7, 7), 40, {"padding": 1}),  # row pairs (odd height), images packed in 2 MiB passes
    ((5, 80, 14, 13), 24, {"stride": 2, "padding": 1}),  # 7x7 outputs of a batch, one pass
])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conv2d_igemm_channels_at_every_level(simd_level, dtype, shape, c_out, kwargs, layout):
    rng = np.random.default_rng(sum(shape) + c_out)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((c_out, shape[1], 3, 3)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    expected = fastconv.conv2d(x, weight, bias, **kwargs, activation="relu", backend="reference")
    if layout == "NHWC":
        x, expected = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), expected.transpose(0, 2, 3, 1)
    for algorithm in ("igemm_channels", "auto"):
        actual = fastconv.conv2d(x, weight, bias, **kwargs, layout=layout, activation="relu", algorithm=algorithm,
                                 backend="cpp")
        assert_close(actual, expected, dtype)


@pytest.mark.parametrize("algorithm", ["igemm", "igemm_channels", "direct", "winograd"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_relu_keeps_nan_at_every_level(simd_level, dtype, algorithm, layout):
    # A vector max(x, 0) turns NaN into 0; torch's ReLU and the reference keep it.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 20, 9, 11)).astype(dtype)
    x[0, 3, 4, 6] = np.nan
    weight = rng.standard_normal((37, 20, 3, 3)).astype(dtype)
    expected = fastconv.conv2d(x, weight, padding=1, activation="relu", backend="reference")
    if layout == "NHWC":
        x, expected = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), expected.transpose(0, 2, 3, 1)
    actual = fastconv.conv2d(x, weight, padding=1, layout=layout, activation="relu", algorithm=algorithm,
                             backend="cpp")
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    assert np.isnan(expected).sum() == 37 * 9
    assert_close(np.nan_to_num(actual), np.nan_to_num(expected), dtype)


# The 1x1 layers `auto` sends to igemm_channels on AVX-512 (>= 512 input channels, a plane of
# <= 256 positions): a 7x7 plane, a stride-2 shortcut (one packed phase of four), a batch.
@pytest.mark.parametrize("shape, c_out, kwargs", [
    ((1, 512, 7, 7), 48, {}),
    ((2, 520, 14, 13), 36, {"stride": 2}),
    ((3, 512, 9, 9), 20, {"stride": 3, "padding": 1}),
])
def test_conv2d_pointwise_small_planes_at_every_level(simd_level, dtype, shape, c_out, kwargs):
    rng = np.random.default_rng(sum(shape) + c_out)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((c_out, shape[1], 1, 1)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    expected = fastconv.conv2d(x, weight, bias, **kwargs, activation="relu", backend="reference")
    for algorithm in ("igemm", "igemm_channels", "auto"):
        actual = fastconv.conv2d(x, weight, bias, **kwargs, activation="relu", algorithm=algorithm, backend="cpp")
        assert_close(actual, expected, dtype)


@pytest.mark.parametrize("window", [(2, 0), (3, 1), (3, 0)], ids=["2x2", "3x3-pad1", "3x3"])
@pytest.mark.parametrize("width", [2, 7, 16, 37, 112])
def test_max_pool_stride_2_special_values_at_every_level(simd_level, dtype, width, window):
    """Stride-2 max pooling of values (2x2: the compiled row path reads both input rows at once; 3x3:
    each window row's columns first, split into even and odd ones, then the rows):
    NaN, +-inf, inf - inf sums and signed-zero ties give torch's values and signs, taps in torch's
    order (rows, then columns, the first of equal values kept; padding never wins)."""
    size, padding = window
    rng = np.random.default_rng(width)
    x = rng.choice(np.array([-0.0, 0.0, 1.0, -1.0, 2.5], dtype=dtype), size=(2, 3, 9, width))
    specials = rng.random(x.shape)
    x[specials < 0.01] = np.nan
    x[(specials >= 0.01) & (specials < 0.02)] = np.inf
    x[(specials >= 0.02) & (specials < 0.03)] = -np.inf
    x[1, 2] = rng.standard_normal((9, width))  # a plane with no special value at all
    if width < size:
        pytest.skip("window wider than the input")
    actual = fastconv.max_pool2d(x, size, stride=2, padding=padding, backend="cpp")
    # the spec, window by window in torch's tap order: a NaN wins, then the first strict maximum
    expected = np.empty_like(actual)
    for index in np.ndindex(*actual.shape):
        n, c, i, j = index
        window = [x[n, c, row, column]
                  for row in range(2 * i - padding, 2 * i - padding + size) if 0 <= row < x.shape[2]
                  for column in range(2 * j - padding, 2 * j - padding + size) if 0 <= column < width]
        best = window[0]
        for value in window[1:]:
            if np.isnan(value) or (not np.isnan(best) and value > best):
                best = value
        expected[index] = best
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))


@pytest.mark.parametrize("divisor_override", [None, 2, 3, 8])
@pytest.mark.parametrize("window", [(2, 0), (3, 1)], ids=["2x2", "3x3-pad1"])
@pytest.mark.parametrize("width", [7, 37, 112])
def test_avg_pool_stride_2_at_every_level(simd_level, dtype, width, window, divisor_override):
    """Stride-2 average pooling (the 2x2 row path, whose power-of-two divisors multiply by the
    reciprocal, and the 3x3 line path's even / odd column split) against the reference, and
    equal to the generic order of sums: the result does not depend on the SIMD level."""
    size, padding = window
    rng = np.random.default_rng(width)
    x = rng.standard_normal((2, 3, 9, width)).astype(dtype)
    x[0, 0, 0, :4] = np.array([1e-40, -3e-39, 5e-324, np.inf], dtype=dtype)  # subnormal and inf sums
    kwargs = dict(stride=2, padding=padding, divisor_override=divisor_override)
    expected = fastconv.avg_pool2d(x, size, **kwargs, backend="reference")
    actual = fastconv.avg_pool2d(x, size, **kwargs, backend="cpp")
    assert_close(actual, expected, dtype)
    _core._set_simd("scalar")
    try:
        baseline = fastconv.avg_pool2d(x, size, **kwargs, backend="cpp")
    finally:
        _core._set_simd(simd_level)
    np.testing.assert_array_equal(actual.view(np.uint8), baseline.view(np.uint8))


@pytest.mark.parametrize("shape, c_out, chosen_below_avx512", [
    ((1, 64, 14, 14), 64, "winograd"),    # 3x3 / stride 1, >= 64 channels, >= 196 positions
    ((2, 64, 13, 13), 64, "igemm"),       # a plane under 14x14
    ((1, 32, 16, 16), 64, "igemm"),       # fewer than 64 input channels
])
def test_auto_takes_winograd_below_avx512(simd_level, dtype, shape, c_out, chosen_below_avx512):
    """'auto' runs Winograd F(2x2, 3x3) on 3x3 / stride-1 layers with enough channels and a large
    enough plane below AVX-512 (where it measured faster than igemm), igemm elsewhere: the same
    bits as the algorithm asked for by name, and within the float32 / float64 contract."""
    rng = np.random.default_rng(shape[2] + shape[1])
    x = rng.standard_normal(shape).astype(dtype)
    weight = (rng.standard_normal((c_out, shape[1], 3, 3)) / 24).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    auto = fastconv.conv2d(x, weight, bias, padding=1, backend="cpp")
    assert_close(auto, fastconv.conv2d(x, weight, bias, padding=1, backend="reference"), dtype)
    if simd_level == "avx512":
        return  # igemm or igemm_channels there (prefer_igemm_channels)
    named = fastconv.conv2d(x, weight, bias, padding=1, algorithm=chosen_below_avx512, backend="cpp")
    np.testing.assert_array_equal(auto.view(np.uint8), named.view(np.uint8))
    other = "igemm" if chosen_below_avx512 == "winograd" else "winograd"
    assert not np.array_equal(auto.view(np.uint8), fastconv.conv2d(
        x, weight, bias, padding=1, algorithm=other, backend="cpp").view(np.uint8))
