"""Every bad argument raises a ValueError / TypeError naming it, before any kernel runs."""

import numpy as np
import pytest

import fastconv

X = np.ones((2, 4, 8, 8), np.float32)
W = np.ones((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((np.ones((8, 8), np.float32), W), {}, ValueError, ["input", "4-D", "(8, 8)"]),
    ((np.ones((1, 2, 4, 8, 8), np.float32), W), {}, ValueError, ["input", "(1, 2, 4, 8, 8)"]),
    ((X, np.ones((6, 4, 3), np.float32)), {}, ValueError, ["weight", "4-D", "(6, 4, 3)"]),
    ((X, np.ones((6, 3, 3, 3), np.float32)), {}, ValueError, ["weight", "(6, 3, 3, 3)", "(2, 4, 8, 8)", "4"]),
    ((X, np.ones((6, 2, 3, 3), np.float32)), {"groups": 3}, ValueError, ["groups", "3", "4"]),
    ((X, np.ones((5, 2, 3, 3), np.float32)), {"groups": 2}, ValueError, ["groups", "5"]),
    ((X, W), {"groups": 0}, ValueError, ["groups", "positive"]),
    ((X, W), {"bias": np.ones(5, np.float32)}, ValueError, ["bias", "(6,)", "(5,)"]),
    ((X, W), {"stride": 0}, ValueError, ["stride", "positive", "0"]),
    ((X, W), {"stride": (1, -2)}, ValueError, ["stride", "-2"]),
    ((X, W), {"stride": (1, 2, 3)}, ValueError, ["stride", "pair"]),
    ((X, W), {"stride": 1.5}, TypeError, ["stride", "float"]),
    ((X, W), {"stride": True}, TypeError, ["stride", "bool"]),
    ((X, W), {"dilation": 0}, ValueError, ["dilation", "positive"]),
    ((X, W), {"padding": -1}, ValueError, ["padding", "non-negative", "-1"]),
    ((X, W), {"padding": (1, 2, 3)}, ValueError, ["padding", "4-tuple", "(1, 2, 3)"]),
    ((X, W), {"padding": "full"}, ValueError, ["padding", "'full'"]),
    ((X, W), {"padding": "same", "stride": 2}, ValueError, ["same", "stride"]),
    ((X, W), {"padding_mode": "mirror"}, ValueError, ["padding_mode", "'mirror'"]),
    ((X, W), {"padding": 8, "padding_mode": "reflect"}, ValueError, ["reflect", "padding", "8"]),
    ((X, W), {"padding": 9, "padding_mode": "circular"}, ValueError, ["circular", "9"]),
    ((X, np.ones((6, 4, 9, 3), np.float32)), {}, ValueError, ["kernel", "larger", "(9, 3)", "(8, 8)"]),
    ((X, W), {"dilation": 4}, ValueError, ["dilated kernel", "(9, 9)", "empty"]),
    ((X, W), {"layout": "NCWH"}, ValueError, ["layout", "NCWH"]),
    ((X, W), {"activation": "tanh"}, ValueError, ["activation", "tanh"]),
    ((X, W), {"algorithm": "fft"}, ValueError, ["algorithm", "fft"]),
    ((X, W), {"algorithm": "winograd", "stride": 2}, ValueError, ["winograd", "stride", "(2, 2)"]),
    ((X, W), {"algorithm": "depthwise"}, ValueError, ["depthwise", "groups 1"]),
    ((X, np.ones((6, 2, 3, 3), np.float32)), {"algorithm": "winograd", "groups": 2}, ValueError, ["winograd", "groups"]),
    ((X.astype(np.int32), W), {}, TypeError, ["input", "int32"]),
    ((X.astype(np.float16), W), {}, TypeError, ["input", "float16"]),
    ((X.astype(np.complex64), W), {}, TypeError, ["input", "complex64"]),
    ((X, W.astype(bool)), {}, TypeError, ["weight", "bool"]),
    ((X, W), {"out": np.empty((2, 6, 6, 5), np.float32)}, ValueError, ["out", "(2, 6, 6, 6)", "(2, 6, 6, 5)"]),
    ((X, W), {"out": np.empty((2, 6, 6, 6), np.float64)}, TypeError, ["out", "float32", "float64"]),
    ((X, W), {"out": [0.0]}, TypeError, ["out", "ndarray", "list"]),
    ((X, W), {"backend": "cuda"}, ValueError, ["backend", "cuda"]),
    ((np.ones((1, 0, 8, 8), np.float32), np.ones((6, 0, 3, 3), np.float32)), {}, ValueError, ["input", "empty"]),
    ((np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)), {"padding": 2 ** 40}, ValueError,
     ["too large", "64-bit"]),
    ((np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)), {"padding": 2 ** 63}, ValueError,
     ["too large", "64-bit"]),
])
def test_conv2d_errors(args, kwargs, error, words):
    with pytest.raises(error) as info:
        fastconv.conv2d(*args, **kwargs)
    message = str(info.value)
    assert message.startswith("conv2d")
    for word in words:
        assert word in message, (word, message)


def test_read_only_out_is_refused():
    out = np.empty((2, 6, 6, 6), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out.*read-only"):
        fastconv.conv2d(X, W, out=out)


P = np.ones((1, 3, 6, 6))


@pytest.mark.parametrize("function", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("args, kwargs, error, words", [
    ((np.ones((6, 6)), 2), {}, ValueError, ["input", "(6, 6)"]),
    ((P, 0), {}, ValueError, ["kernel_size", "positive"]),
    ((P, (2, 2, 2)), {}, ValueError, ["kernel_size", "pair"]),
    ((P, 2.0), {}, TypeError, ["kernel_size", "float"]),
    ((P, 2), {"stride": 0}, ValueError, ["stride", "positive"]),
    ((P, 2), {"padding": -1}, ValueError, ["padding", "non-negative"]),
    ((P, 3), {"padding": 2}, ValueError, ["padding", "half", "kernel_size"]),
    ((P, 7), {}, ValueError, ["window", "larger", "empty"]),
    ((P, 2), {"ceil_mode": "yes"}, TypeError, ["ceil_mode", "bool"]),
    ((P.astype(np.int64), 2), {}, TypeError, ["input", "int64"]),
    ((P, 2), {"layout": "HWC"}, ValueError, ["layout"]),
    ((P, 2), {"out": np.empty((1, 3, 2, 2))}, ValueError, ["out", "(1, 3, 3, 3)"]),
    ((P, 2), {"backend": "gpu"}, ValueError, ["backend", "gpu"]),
])
def test_pool_errors(function, args, kwargs, error, words):
    with pytest.raises(error) as info:
        getattr(fastconv, function)(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(function)
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("kwargs, error, word", [
    ({"dilation": 0}, ValueError, "dilation"),
    ({"return_indices": None}, TypeError, "return_indices"),
])
def test_max_pool_errors(kwargs, error, word):
    with pytest.raises(error, match=word):
        fastconv.max_pool2d(P, 2, **kwargs)


@pytest.mark.parametrize("kwargs, error, word", [
    ({"divisor_override": 0}, ValueError, "divisor_override"),
    ({"divisor_override": 1.5}, TypeError, "divisor_override"),
    ({"count_include_pad": "no"}, TypeError, "count_include_pad"),
])
def test_avg_pool_errors(kwargs, error, word):
    with pytest.raises(error, match=word):
        fastconv.avg_pool2d(P, 2, **kwargs)


def test_accepted_spellings():
    """NumPy integers, lists, arrays and lower-case layouts are fine; bool-like 0/1 flags and
    big-endian floats too."""
    out = fastconv.conv2d(X, W, stride=[np.int64(1), 2], padding=np.int32(1), layout="nchw")
    assert out.shape == (2, 6, 8, 4)
    out = fastconv.conv2d(X.astype(">f4"), W, padding=np.array([0, 1, 2, 3]))
    assert out.shape == (2, 6, 7, 11) and out.dtype == np.float32
    pooled = fastconv.max_pool2d(P, [2, 2], stride=(), ceil_mode=np.bool_(True), return_indices=0)
    assert pooled.shape == (1, 3, 3, 3)


# -- repeated calls: a signature validated once is reused, and only by calls it fits -------------

def test_repeated_signature_still_refuses_what_differs():
    """A cached conv2d / pool signature must not let through an argument the full checks refuse
    (True where 1 was, a float array of the other dtype, a non-contiguous view, `out=`)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    fastconv.conv2d(x, w, stride=1, padding=1)
    fastconv.conv2d(x, w, stride=1, padding=1)  # served from the cache
    with pytest.raises(TypeError, match="stride"):
        fastconv.conv2d(x, w, stride=True, padding=1)
    with pytest.raises(TypeError, match="bool"):
        fastconv.conv2d(x, w, stride=1, padding=True)
    fastconv.max_pool2d(x, 2, 2)
    fastconv.max_pool2d(x, 2, 2)
    with pytest.raises(TypeError, match="kernel_size"):
        fastconv.max_pool2d(x, True, 2)
    with pytest.raises(TypeError, match="ceil_mode"):
        fastconv.max_pool2d(x, 2, 2, ceil_mode="yes")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_repeated_signature_gives_each_call_its_own_result(dtype):
    """Calls of one signature on new data: every result right (against the reference), in its
    own fresh array; unbatched inputs, bias, ReLU, views and the pools included."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 4, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    results = []
    for _ in range(3):
        x = rng.standard_normal((4, 9, 7)).astype(dtype)  # unbatched
        for arrays in ((x,), (x[None],), (x[:, :, ::-1],)):  # the reversed view is not C-contiguous
            got = fastconv.conv2d(arrays[0], w, b, padding=(1, 2), activation="relu")
            want = fastconv.conv2d(arrays[0], w, b, padding=(1, 2), activation="relu", backend="reference")
            np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
            results.append(got)
        pooled, indices = fastconv.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
        want_pooled, want_indices = fastconv.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True,
                                                        backend="reference")
        np.testing.assert_array_equal(pooled, want_pooled)
        np.testing.assert_array_equal(indices, want_indices)
        averaged = fastconv.avg_pool2d(x[None], 2, 1, count_include_pad=False, divisor_override=3)
        want = fastconv.avg_pool2d(x[None], 2, 1, count_include_pad=False, divisor_override=3, backend="reference")
        np.testing.assert_allclose(averaged, want, rtol=1e-5, atol=1e-6)
        results.append(pooled)
    assert len({id(r) for r in results}) == len(results)
    assert not any(np.shares_memory(a, b) for i, a in enumerate(results) for b in results[i + 1:])
