"""Property tests (hypothesis) of every public function against its specification (issue 20).

Each test draws a whole call -- shapes (1-pixel images, kernel == input, huge padding,
dilation), every option, the backend (every fast one), the dtype (float32 / float64) and the
memory order of the arrays (C, Fortran, negative strides, strided views, permuted axes) -- and
compares the result with the reference backend (the spec), or with SciPy / torch for the drop-in
front ends and the nn layers. The array values come from a drawn seed (random floats, never
all zeros); hypothesis shrinks the shapes and options, which is what makes a failure readable.

Tolerances: float32 1e-5 and float64 1e-12 times the magnitude of the sums involved (the same
computation on |x|, |w|: the bound of the rounding error a correct summation order can make),
so a cancellation near zero is no false alarm and a wrong tap is still far outside.

Profiles, chosen by the environment variable FASTCONV_HYPOTHESIS_PROFILE:

- ``ci`` (the default): derandomized (the same examples on every run, no example database),
  deadline off; each test's own count (``@_examples(n)``), fitted to about a minute of the suite
  on two loaded cores once numba has compiled its kernels (which the other test modules make it
  do anyway; ~35 s more when this module runs alone): conv2d 400 (+20 reference-vs-torch),
  max_pool2d 400, avg_pool2d 400 (+30 reference-vs-torch for both pools), filter2d 400 (+30
  reference-vs-SciPy), fastconv.scipy.ndimage 300 (over its 9 functions), fastconv.torch 100
  (3 ops), nn layers 100 (11 layers), BatchNorm2d 40, CrossEntropyLoss 40.
- ``slow``: 10,000 examples per test, random, with hypothesis' example database (``.hypothesis/``,
  so a failure found once is replayed first next time)::

      FASTCONV_HYPOTHESIS_PROFILE=slow pytest tests/test_properties.py --hypothesis-show-statistics

  Narrow it with ``-k`` (e.g. ``-k conv2d``); FASTCONV_HYPOTHESIS_EXAMPLES=n sets every test's
  count (either profile), for a slow run that fits the time at hand. A failure found there is
  kept below as a plain regression test (``test_regression_*``), with xfail(strict=True) and the
  reason when it is a kernel bug not fixed yet.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Dict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _shapes

BACKENDS = fastconv.backends()
FAST_BACKENDS = [b for b in BACKENDS if b != "reference"]
try:  # the compiled kernels at each SIMD level this CPU runs: "cpp" (the chosen one), "cpp/scalar", ...
    from fastconv import _core

    _LEVELS = [level for level in _core.simd_levels() if level != _core.simd_level()] if "cpp" in BACKENDS else []
except ImportError:
    _LEVELS = []
BACKEND_CHOICES = FAST_BACKENDS + [f"cpp/{level}" for level in _LEVELS]
FLOATS = [np.dtype(np.float32), np.dtype(np.float64)]
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

# ---------------------------------------------------------------------------------------------
# profiles

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("fastconv-ci", deadline=None, derandomize=True, database=None,
                          suppress_health_check=_HEALTH, print_blob=True)
settings.register_profile("fastconv-slow", deadline=None, derandomize=False, max_examples=10_000,
                          suppress_health_check=_HEALTH, print_blob=True)
PROFILE = os.environ.get("FASTCONV_HYPOTHESIS_PROFILE", "ci").strip().lower() or "ci"
if PROFILE not in ("ci", "slow"):
    raise ValueError(f"FASTCONV_HYPOTHESIS_PROFILE must be 'ci' or 'slow', got {PROFILE!r}")
_PARENT = settings.get_profile(f"fastconv-{PROFILE}")
DEFAULT_EXAMPLES = 500
SLOW_EXAMPLES = 10_000


_OVERRIDE = os.environ.get("FASTCONV_HYPOTHESIS_EXAMPLES", "").strip()


def _examples(ci: int) -> settings:
    """The settings of one test: `ci` examples by default (fitted to the time the suite can
    spend), SLOW_EXAMPLES with the slow profile, FASTCONV_HYPOTHESIS_EXAMPLES when set."""
    count = int(_OVERRIDE) if _OVERRIDE else SLOW_EXAMPLES if PROFILE == "slow" else ci
    return settings(_PARENT, max_examples=count)


# ---------------------------------------------------------------------------------------------
# helpers

def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _normal(rng, shape, dtype) -> np.ndarray:
    """Random floats (never all zero), of magnitude ~1 with the odd larger or smaller one."""
    return (rng.standard_normal(shape) * np.exp(rng.uniform(-1.0, 1.0, shape))).astype(dtype)


MEMORY_ORDERS = ["C", "F", "reversed", "strided", "permuted"]


def in_memory(array: np.ndarray, order: str, rng=None) -> np.ndarray:
    """The same values in another memory order: a Fortran copy, a view with negative strides, a
    strided view into a larger buffer, or a view of a copy with permuted axes."""
    if order == "C" or array.ndim == 0:
        return np.ascontiguousarray(array)
    if order == "F":
        return np.asfortranarray(array)
    every = (slice(None, None, -1),) * array.ndim
    if order == "reversed":
        return np.ascontiguousarray(array[every])[every]
    if order == "strided":
        big = np.full(tuple(2 * s for s in array.shape), np.nan if array.dtype.kind == "f" else 0, array.dtype)
        view = big[(slice(None, None, 2),) * array.ndim]
        view[...] = array
        return view
    permutation = np.arange(array.ndim)[::-1] if rng is None else rng.permutation(array.ndim)
    inverse = np.argsort(permutation)
    return np.ascontiguousarray(array.transpose(permutation)).transpose(inverse)


def assert_close(actual, expected, dtype, magnitude, what=""):
    """|actual - expected| <= tol * max(magnitude) elementwise, NaN where NaN; shapes equal."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    finite = np.asarray(magnitude, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    scale = float(np.abs(finite).max()) if finite.size else 1.0
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale + 1e-300, equal_nan=True,
                               err_msg=f"{what} (scale {scale:g})")


backends = st.sampled_from(BACKEND_CHOICES)


@contextlib.contextmanager
def on(choice: str):
    """The backend's name, with the cpp kernels forced to the SIMD level of a "cpp/<level>" choice."""
    backend, _, level = choice.partition("/")
    if not level:
        yield backend
        return
    before = _core.simd_level()
    _core._set_simd(level)
    try:
        yield backend
    finally:
        _core._set_simd(before)
dtypes = st.sampled_from(FLOATS)
orders = st.sampled_from(MEMORY_ORDERS)
seeds = st.integers(0, 2**32 - 1)


def _pair(draw, low, high):
    return draw(st.integers(low, high)), draw(st.integers(low, high))


def _as_argument(draw, pair):
    """An int when both are equal (sometimes), else the pair, as callers write it."""
    if pair[0] == pair[1] and draw(st.booleans()):
        return pair[0]
    return tuple(pair)


def _size(draw, effective_kernel: int, before: int, after: int) -> int:
    """An input length with a non-empty output: 1 pixel, the (dilated) kernel's exact size, or any."""
    least = max(1, effective_kernel - before - after)
    kind = draw(st.sampled_from(["any", "any", "any", "kernel", "one"]))
    if kind == "kernel":
        return max(least, effective_kernel)
    if kind == "one":
        return least
    return draw(st.integers(least, least + 9))


# ---------------------------------------------------------------------------------------------
# conv2d

@st.composite
def conv2d_calls(draw) -> Dict[str, Any]:
    depthwise = draw(st.booleans()) and draw(st.booleans())
    if depthwise:
        groups = draw(st.integers(1, 5))
        c_in = c_out = groups
    else:
        groups = draw(st.sampled_from([1, 1, 2, 3]))
        c_in = groups * draw(st.integers(1, 3))
        c_out = groups * draw(st.integers(1, 3))
    kh, kw = _pair(draw, 1, 5)
    stride = _pair(draw, 1, 3)
    dilation = _pair(draw, 1, 3) if draw(st.booleans()) else (1, 1)
    kind = draw(st.sampled_from(["int", "pair", "four", "same", "valid", "huge", "zero"]))
    padding: Any
    if kind == "int":
        padding = draw(st.integers(0, 3))
    elif kind == "pair":
        padding = _pair(draw, 0, 3)
    elif kind == "four":
        padding = tuple(draw(st.integers(0, 4)) for _ in range(4))
    elif kind == "huge":
        padding = tuple(draw(st.integers(0, 24)) for _ in range(4))
    elif kind == "same":
        padding, stride = "same", (1, 1)
    elif kind == "valid":
        padding = "valid"
    else:
        padding = 0
    top, bottom, left, right = _shapes.conv_padding(padding, (kh, kw), dilation, stride)
    h = _size(draw, dilation[0] * (kh - 1) + 1, top, bottom)
    w = _size(draw, dilation[1] * (kw - 1) + 1, left, right)
    padding_mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    if padding_mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        padding_mode = "zeros"
    if padding_mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        padding_mode = "zeros"
    algorithms = ["auto", "auto", "igemm", "igemm_channels", "direct"]
    if groups == c_in == c_out:
        algorithms.append("depthwise")
    if (kh, kw) == (3, 3) and stride == (1, 1) and dilation == (1, 1) and groups == 1:
        algorithms.append("winograd")
    return dict(
        n=draw(st.integers(1, 3)), c_in=c_in, h=h, w=w, weight_shape=(c_out, c_in // groups, kh, kw),
        batched=draw(st.integers(0, 4)) > 0, layout=draw(st.sampled_from(["NCHW", "NHWC"])),
        bias=draw(st.booleans()), stride=_as_argument(draw, stride), padding=padding,
        dilation=_as_argument(draw, dilation), groups=groups, padding_mode=padding_mode,
        activation=draw(st.sampled_from([None, "relu"])), algorithm=draw(st.sampled_from(algorithms)),
        out=draw(st.integers(0, 4)) == 0)


def _conv2d_arrays(call, dtype, seed):
    rng = _rng(seed)
    n, c, h, w = call["n"], call["c_in"], call["h"], call["w"]
    shape = (n, c, h, w) if call["layout"] == "NCHW" else (n, h, w, c)
    x = _normal(rng, shape if call["batched"] else shape[1:], dtype)
    weight = _normal(rng, call["weight_shape"], dtype)
    bias = _normal(rng, (call["weight_shape"][0],), dtype) if call["bias"] else None
    return x, weight, bias


def _conv2d_options(call):
    return dict(stride=call["stride"], padding=call["padding"], dilation=call["dilation"], groups=call["groups"],
                padding_mode=call["padding_mode"], layout=call["layout"])


def check_conv2d(call, backend, dtype, seed, x_order="C", w_order="C"):
    x, weight, bias = _conv2d_arrays(call, dtype, seed)
    options = _conv2d_options(call)
    expected = fastconv.conv2d(x, weight, bias, **options, activation=call["activation"], backend="reference")
    magnitude = fastconv.conv2d(np.abs(x), np.abs(weight), None if bias is None else np.abs(bias), **options,
                                backend="reference")
    out = np.full(expected.shape, np.nan, dtype) if call["out"] else None
    rng = _rng(seed + 1)
    got = fastconv.conv2d(in_memory(x, x_order, rng), in_memory(weight, w_order, rng), bias, **options,
                          activation=call["activation"], out=out, algorithm=call["algorithm"], backend=backend)
    assert got.dtype == dtype
    if out is not None:
        assert got is out
    assert_close(got, expected, dtype, magnitude, "conv2d")


@_examples(400)
@given(call=conv2d_calls(), backend=backends, dtype=dtypes, seed=seeds, x_order=orders, w_order=orders)
def test_conv2d_matches_the_reference(call, backend, dtype, seed, x_order, w_order):
    with on(backend) as backend:
        check_conv2d(call, backend, dtype, seed, x_order, w_order)


@_examples(20)
@given(call=conv2d_calls(), seed=seeds)
def test_conv2d_reference_matches_torch(call, seed):
    """The spec itself, in float64, against torch (nn.Conv2d's padding_mode, F.pad for 4 sides)."""
    torch_ = _torch_helpers()
    from _cases import ConvCase

    x, weight, bias = _conv2d_arrays(call, np.dtype(np.float64), seed)
    kwargs = _conv2d_options(call)
    kwargs["stride"] = _pair_of(kwargs["stride"])
    kwargs["dilation"] = _pair_of(kwargs["dilation"])
    if call["activation"]:
        kwargs["activation"] = call["activation"]
    if bias is not None:
        kwargs["bias"] = bias
    case = ConvCase(x, weight, kwargs)
    expected = torch_.conv2d(case)
    got = fastconv.conv2d(x, weight, **kwargs, backend="reference")
    magnitude = fastconv.conv2d(np.abs(x), np.abs(weight), None if bias is None else np.abs(bias),
                                **_conv2d_options(call), backend="reference")
    assert_close(got, expected, np.float64, magnitude, "reference conv2d vs torch")


def _pair_of(value):
    return value if isinstance(value, tuple) else (value, value)


def _torch_helpers():
    pytest.importorskip("torch")
    import _torch

    return _torch


# ---------------------------------------------------------------------------------------------
# pooling

@st.composite
def pool_calls(draw, kind: str) -> Dict[str, Any]:
    kernel = _pair(draw, 1, 4)
    stride = _pair(draw, 1, 3)
    dilation = (_pair(draw, 1, 3) if draw(st.booleans()) else (1, 1)) if kind == "max" else (1, 1)
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    # torch's rule: padding <= half the window, kernel_size // 2 (dilation not counted; the
    # DESIGN's ((k - 1) * d + 1) // 2 is not what torch checks); sometimes the largest allowed
    limits = [k // 2 for k in kernel]
    padding = tuple(draw(st.sampled_from([0, limit, draw(st.integers(0, limit))])) for limit in limits)
    ceil_mode = draw(st.booleans())
    sizes = []
    for axis in range(2):
        size = _size(draw, effective[axis], padding[axis], padding[axis])
        while _shapes.pool_extent(size, kernel[axis], stride[axis], padding[axis], dilation[axis], ceil_mode) < 1:
            size += 1
        sizes.append(size)
    call = dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 4)), h=sizes[0], w=sizes[1],
                batched=draw(st.integers(0, 4)) > 0, layout=draw(st.sampled_from(["NCHW", "NHWC"])),
                kernel_size=_as_argument(draw, kernel),
                stride=None if draw(st.integers(0, 4)) == 0 else _as_argument(draw, stride),
                padding=_as_argument(draw, padding), ceil_mode=ceil_mode,
                values=draw(st.sampled_from(["floats", "floats", "ties", "specials"])),
                out=draw(st.integers(0, 4)) == 0)
    if kind == "max":
        call.update(dilation=_as_argument(draw, dilation), return_indices=draw(st.booleans()))
    else:
        call.update(count_include_pad=draw(st.booleans()),
                    divisor_override=draw(st.sampled_from([None, None, None, 1, 2, 3, 7, -3])))
    return call


def _pool_input(call, dtype, seed, specials=True):
    rng = _rng(seed)
    n, c, h, w = call["n"], call["c"], call["h"], call["w"]
    shape = (n, c, h, w) if call["layout"] == "NCHW" else (n, h, w, c)
    if call["values"] == "ties":  # small integers: ties decide the max-pool indices
        x = rng.integers(-3, 4, size=shape).astype(dtype)
    else:
        x = _normal(rng, shape, dtype)
    if call["values"] == "specials" and specials:
        for value in (np.nan, np.inf, -np.inf):
            x.flat[rng.integers(0, x.size, size=max(1, x.size // 8))] = value
    return x if call["batched"] else x[0]


def _pool_options(call, kind):
    options = dict(kernel_size=call["kernel_size"], stride=call["stride"], padding=call["padding"],
                   ceil_mode=call["ceil_mode"], layout=call["layout"])
    if kind == "max":
        options["dilation"] = call["dilation"]
    else:
        options.update(count_include_pad=call["count_include_pad"], divisor_override=call["divisor_override"])
    return options


def check_max_pool2d(call, backend, dtype, seed, order="C"):
    x = _pool_input(call, dtype, seed)
    options = _pool_options(call, "max")
    values, indices = fastconv.max_pool2d(x, **options, return_indices=True, backend="reference")
    out = np.full(values.shape, 7.0, dtype) if call["out"] else None
    got = fastconv.max_pool2d(in_memory(x, order, _rng(seed + 1)), **options,
                              return_indices=call["return_indices"], out=out, backend=backend)
    got_values, got_indices = got if call["return_indices"] else (got, None)
    assert got_values.dtype == dtype
    if out is not None:
        assert got_values is out
    np.testing.assert_array_equal(got_values, values.astype(dtype))  # a max is exact (NaN == NaN here)
    if got_indices is not None:
        assert got_indices.dtype == np.int64
        np.testing.assert_array_equal(got_indices, indices)


@_examples(400)
@given(call=pool_calls("max"), backend=backends, dtype=dtypes, seed=seeds, order=orders)
def test_max_pool2d_matches_the_reference(call, backend, dtype, seed, order):
    with on(backend) as backend:
        check_max_pool2d(call, backend, dtype, seed, order)


def check_avg_pool2d(call, backend, dtype, seed, order="C"):
    x = _pool_input(call, dtype, seed)
    options = _pool_options(call, "avg")
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in a window: NaN, as in torch
        expected = fastconv.avg_pool2d(x, **options, backend="reference")
        magnitude = np.abs(fastconv.avg_pool2d(np.abs(x), **options, backend="reference"))
    out = np.full(expected.shape, 7.0, dtype) if call["out"] else None
    got = fastconv.avg_pool2d(in_memory(x, order, _rng(seed + 1)), **options, out=out, backend=backend)
    assert got.dtype == dtype
    if out is not None:
        assert got is out
    assert_close(got, expected, dtype, magnitude, "avg_pool2d")


@_examples(400)
@given(call=pool_calls("avg"), backend=backends, dtype=dtypes, seed=seeds, order=orders)
def test_avg_pool2d_matches_the_reference(call, backend, dtype, seed, order):
    with on(backend) as backend:
        check_avg_pool2d(call, backend, dtype, seed, order)


@_examples(30)
@given(kind=st.sampled_from(["max", "avg"]), data=st.data(), seed=seeds)
def test_pool_reference_matches_torch(kind, data, seed):
    """The spec itself, in float64, against torch (values and, for max, the indices)."""
    torch_ = _torch_helpers()
    from _cases import PoolCase

    call = data.draw(pool_calls(kind))
    x = _pool_input(call, np.dtype(np.float64), seed, specials=False)
    kwargs = _pool_options(call, kind)
    for name in ("kernel_size", "padding", "dilation"):
        if name in kwargs:
            kwargs[name] = _pair_of(kwargs[name])
    if kwargs["stride"] is not None:
        kwargs["stride"] = _pair_of(kwargs["stride"])
    case = PoolCase(x, dict(kwargs, return_indices=True) if kind == "max" else kwargs)
    if kind == "max":
        values, indices = torch_.max_pool2d(case)
        got_values, got_indices = fastconv.max_pool2d(x, **kwargs, return_indices=True, backend="reference")
        np.testing.assert_array_equal(got_values, values)
        np.testing.assert_array_equal(got_indices, indices)
    else:
        expected = torch_.avg_pool2d(case)
        got = fastconv.avg_pool2d(x, **kwargs, backend="reference")
        assert_close(got, expected, np.float64, np.abs(x).max(), "reference avg_pool2d vs torch")


# ---------------------------------------------------------------------------------------------
# filter2d

IMAGE_DTYPES = [np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)]
BORDERS = ["constant", "reflect", "nearest", "mirror", "wrap"]
BORDER_ALIASES = {"constant": ["zeros", "BORDER_CONSTANT"], "nearest": ["replicate", "BORDER_REPLICATE"],
                  "reflect": ["BORDER_REFLECT"], "mirror": ["BORDER_REFLECT_101"], "wrap": ["circular", "BORDER_WRAP"]}


@st.composite
def filter2d_calls(draw) -> Dict[str, Any]:
    image_dtype = draw(st.sampled_from(IMAGE_DTYPES))
    algorithm = draw(st.sampled_from(["auto", "auto", "direct", "separable", "fft"]))
    kh, kw = _pair(draw, 1, 6) if draw(st.integers(0, 5)) else _pair(draw, 1, 11)
    mode = draw(st.sampled_from(["same", "same", "valid", "full"]))
    sizes = []
    for k in (kh, kw):
        kind = draw(st.sampled_from(["any", "any", "kernel", "one"]))
        if mode == "valid":
            sizes.append(k if kind in ("kernel", "one") else draw(st.integers(k, k + 9)))
        else:
            sizes.append({"kernel": k, "one": 1}.get(kind) or draw(st.integers(1, 12)))
    channel_axis = draw(st.sampled_from([None, None, 0, 1, 2, -1, -3]))
    border = draw(st.sampled_from(BORDERS))
    spelled = draw(st.sampled_from([border] + BORDER_ALIASES[border])) if draw(st.integers(0, 4)) == 0 else border
    if image_dtype.kind == "f":
        out_dtype = draw(st.sampled_from([None, None, None, np.float32, np.float64]))
    else:
        out_dtype = draw(st.sampled_from([None, None, np.float32, np.float64, np.uint8, np.uint16, np.int16]))
    return dict(image_dtype=image_dtype, h=sizes[0], w=sizes[1], c=draw(st.integers(1, 3)),
                channel_axis=channel_axis, kernel_shape=(kh, kw), rank1=algorithm == "separable" or draw(st.booleans()),
                kernel_dtype=draw(st.sampled_from([np.float64, np.float64, np.float32])), mode=mode, border=spelled,
                canonical_border=border, cval=draw(st.sampled_from([0.0, 0.0, 1.0, -2.5, 100.0, 1e4])),
                flip=draw(st.booleans()), dtype=out_dtype, algorithm=algorithm)


def _filter2d_arrays(call, seed):
    rng = _rng(seed)
    dtype = call["image_dtype"]
    h, w, c = call["h"], call["w"], call["c"]
    if call["channel_axis"] is None:
        shape = (h, w)
    else:
        shape = [h, w]
        shape.insert(call["channel_axis"] % 3, c)
    if dtype.kind == "f":
        image = _normal(rng, shape, dtype)
    else:
        info = np.iinfo(dtype)
        image = rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)
    kh, kw = call["kernel_shape"]
    if call["rank1"] and call["algorithm"] == "separable" and call["kernel_dtype"] == np.float32:
        # exactly of rank 1 in float64 too (eighths: the products are exact), as a float32
        # kernel on float64 sums must be to be split
        kernel = np.outer(rng.integers(1, 33, kh) * rng.choice([-1, 1], kh) / 8,
                          rng.integers(1, 33, kw) * rng.choice([-1, 1], kw) / 8)
    elif call["rank1"]:
        kernel = np.outer(_normal(rng, kh, np.float64), _normal(rng, kw, np.float64))
    else:
        kernel = _normal(rng, (kh, kw), np.float64)
    return image, kernel.astype(call["kernel_dtype"])


def _filter2d_options(call):
    return dict(mode=call["mode"], border=call["border"], cval=call["cval"], flip=call["flip"],
                channel_axis=call["channel_axis"])


def check_filter2d(call, backend, seed, order="C"):
    image, kernel = _filter2d_arrays(call, seed)
    options = _filter2d_options(call)
    exact = fastconv.filter2d(image, kernel, **options, dtype=np.float64, algorithm="direct", backend="reference")
    expected = fastconv.filter2d(image, kernel, **options, dtype=call["dtype"], algorithm="direct",
                                 backend="reference")
    magnitude = fastconv.filter2d(np.abs(image.astype(np.float64)), np.abs(kernel.astype(np.float64)),
                                  **dict(options, cval=abs(call["cval"])), algorithm="direct", backend="reference")
    got = fastconv.filter2d(in_memory(image, order, _rng(seed + 1)), kernel, **options, dtype=call["dtype"],
                            algorithm=call["algorithm"], backend=backend)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    if got.dtype.kind == "f":
        # the sums' dtype: float64 when the image or the result is float64, else float32
        wide = np.dtype(np.float64) in (call["image_dtype"], got.dtype)
        sums = np.dtype(np.float64) if wide else np.dtype(np.float32)
        assert_close(got, expected, sums, magnitude, "filter2d")
    else:
        # rounded to an integer: the reference's integers (values near x.5 are summed again in
        # double, in the reference's order); the FFT's float64 error may move a near tie only
        tol = 1e-12 * float(np.abs(magnitude).max()) if call["algorithm"] == "fft" else 0.0
        near_tie = np.abs(np.abs(exact - np.floor(exact)) - 0.5) <= tol
        differ = got.astype(np.int64) != expected.astype(np.int64)
        assert not np.any(differ & ~near_tie), (got[differ & ~near_tie], expected[differ & ~near_tie],
                                                 exact[differ & ~near_tie])
        assert np.all(np.abs(got.astype(np.int64) - expected.astype(np.int64)) <= 1)


@_examples(400)
@given(call=filter2d_calls(), backend=backends, seed=seeds, order=orders)
def test_filter2d_matches_the_reference(call, backend, seed, order):
    with on(backend) as backend:
        check_filter2d(call, backend, seed, order)


@_examples(30)
@given(call=filter2d_calls(), seed=seeds)
def test_filter2d_reference_matches_scipy(call, seed):
    """The spec itself against SciPy: ndimage.correlate / convolve for 'same', signal.correlate2d /
    convolve2d for 'valid' and 'full' (constant border, cval 0), float64 results."""
    ndimage = pytest.importorskip("scipy.ndimage")
    signal = pytest.importorskip("scipy.signal")
    image, kernel = _filter2d_arrays(call, seed)
    if call["channel_axis"] is not None:
        image = np.take(image, 0, axis=call["channel_axis"])
    options = dict(_filter2d_options(call), channel_axis=None)
    mode = call["mode"]
    if mode != "same":
        options.update(border="constant", cval=0.0)
    got = fastconv.filter2d(image, kernel, **options, dtype=np.float64, backend="reference")
    x = image.astype(np.float64)
    k = kernel.astype(np.float64)
    if mode == "same":
        function = ndimage.convolve if call["flip"] else ndimage.correlate
        expected = function(x, k, mode=call["canonical_border"], cval=call["cval"])
    else:
        function = signal.convolve2d if call["flip"] else signal.correlate2d
        expected = function(x, k, mode=mode)
    magnitude = np.abs(x).max() * np.abs(k).sum() + abs(call["cval"]) * np.abs(k).sum()
    assert_close(got, expected, np.float64, magnitude, "reference filter2d vs scipy")


# ---------------------------------------------------------------------------------------------
# fastconv.scipy.ndimage against SciPy itself

SCIPY_MODES = ["reflect", "mirror", "nearest", "wrap", "constant", "grid-mirror", "grid-wrap", "grid-constant"]
NDIMAGE_FUNCTIONS = ["correlate", "convolve", "correlate1d", "convolve1d", "uniform_filter", "gaussian_filter",
                     "sobel", "prewitt", "laplace"]


@st.composite
def ndimage_calls(draw) -> Dict[str, Any]:
    name = draw(st.sampled_from(NDIMAGE_FUNCTIONS))
    h, w = (draw(st.sampled_from([1, draw(st.integers(1, 12))])) for _ in range(2))
    call = dict(name=name, h=h, w=w, dtype=draw(st.sampled_from(FLOATS)), mode=draw(st.sampled_from(SCIPY_MODES)),
                cval=draw(st.sampled_from([0.0, 1.5, -3.0])),
                output=draw(st.sampled_from(["none", "none", "float32", "float64", "array"])))
    if name in ("correlate", "convolve"):
        kh, kw = _pair(draw, 1, 6)
        origin = (draw(st.integers(-(kh // 2), (kh - 1) // 2)), draw(st.integers(-(kw // 2), (kw - 1) // 2)))
        call.update(weights_shape=(kh, kw), origin=_as_argument(draw, origin) if draw(st.booleans()) else 0)
    elif name in ("correlate1d", "convolve1d"):
        k = draw(st.integers(1, 7))
        call.update(weights_shape=(k,), origin=draw(st.integers(-(k // 2), (k - 1) // 2)),
                    axis=draw(st.sampled_from([0, 1, -1, -2])))
    elif name == "uniform_filter":
        call.update(size=_as_argument(draw, _pair(draw, 1, 6)))
    elif name == "gaussian_filter":
        sigma = tuple(draw(st.sampled_from([0.3, 0.5, 1.0, 1.7, 2.5])) for _ in range(2))
        call.update(sigma=sigma if draw(st.booleans()) else sigma[0],
                    truncate=draw(st.sampled_from([4.0, 4.0, 2.0, 1.0])))
    elif name in ("sobel", "prewitt"):
        call.update(axis=draw(st.sampled_from([0, 1, -1, -2])))
    return call


# the sum of |weights| of each function's filter (its gain on |x|): the tolerance's scale
_GAIN = {"uniform_filter": 1.0, "gaussian_filter": 1.0, "sobel": 8.0, "prewitt": 6.0, "laplace": 8.0}


def _ndimage_arguments(call, seed):
    rng = _rng(seed)
    x = _normal(rng, (call["h"], call["w"]), call["dtype"])
    args, kwargs = [x], dict(mode=call["mode"], cval=call["cval"])
    name = call["name"]
    gain = _GAIN.get(name)
    if "weights_shape" in call:
        weights = _normal(rng, call["weights_shape"], np.float64)
        args.append(weights)
        kwargs["origin"] = call["origin"]
        gain = float(np.abs(weights).sum())
    for key in ("axis", "size", "truncate"):
        if key in call:
            kwargs[key] = call[key]
    if name == "gaussian_filter":
        args.append(call["sigma"])
    return args, kwargs, gain


def _output(call, shape):
    if call["output"] == "none":
        return None
    if call["output"] == "array":
        return np.full(shape, np.nan, np.float64 if call["dtype"] == np.float64 else np.float32)
    return np.dtype(call["output"])


def check_ndimage(call, backend, seed, order="C"):
    import scipy.ndimage

    from fastconv.scipy import ndimage as ours

    args, kwargs, gain = _ndimage_arguments(call, seed)
    x = args[0]
    theirs_output = _output(call, x.shape)
    expected = getattr(scipy.ndimage, call["name"])(*args, output=theirs_output, **kwargs)
    if isinstance(theirs_output, np.ndarray):
        expected = theirs_output
    output = _output(call, x.shape)
    with fastconv.use_backend(backend):
        got = getattr(ours, call["name"])(in_memory(x, order, _rng(seed + 1)), *args[1:], output=output, **kwargs)
    if isinstance(output, np.ndarray):
        assert got is None or got is output
        got = output
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if np.array_equal(got, expected, equal_nan=True):
        return
    # not the same bits: within a few roundings of the result's dtype (both sum in double)
    scale = max(float(np.abs(x).max()), abs(call["cval"])) * gain
    tol = 4 * np.finfo(got.dtype).eps if got.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale, err_msg=call["name"])


@_examples(300)
@given(call=ndimage_calls(), backend=backends, seed=seeds, order=orders)
def test_scipy_ndimage_matches_scipy(call, backend, seed, order):
    pytest.importorskip("scipy")
    with on(backend) as backend:
        check_ndimage(call, backend, seed, order)


# ---------------------------------------------------------------------------------------------
# fastconv.torch against torch.nn.functional

@contextlib.contextmanager
def _fastconv_serves_every_size():
    import fastconv.torch as front

    saved = front.thresholds()
    front.set_thresholds({op: {d: 0 for d in by_dtype} for op, by_dtype in saved.items()})
    try:
        yield front
    finally:
        front.set_thresholds(saved)


def _torch_tensor(torch, array, form, rng):
    """A tensor of the array's values: contiguous, channels-last, or a non-contiguous view."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    if form == "channels_last" and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if form == "view":
        return torch.from_numpy(in_memory(array, "strided"))
    if form == "transposed":
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    return t


@st.composite
def torch_calls(draw) -> Dict[str, Any]:
    op = draw(st.sampled_from(["conv2d", "max_pool2d", "avg_pool2d"]))
    form = draw(st.sampled_from(["contiguous", "contiguous", "channels_last", "view", "transposed"]))
    if op == "conv2d":
        call = draw(conv2d_calls())
        if call["padding_mode"] != "zeros" or (isinstance(call["padding"], tuple) and len(call["padding"]) == 4):
            call.update(padding_mode="zeros", padding=call["padding"][:2] if isinstance(call["padding"], tuple) else 0)
        top, bottom, left, right = _shapes.conv_padding(call["padding"], call["weight_shape"][2:],
                                                        _pair_of(call["dilation"]), _pair_of(call["stride"]))
        kh, kw = call["weight_shape"][2:]
        dh, dw = _pair_of(call["dilation"])
        call["h"] = max(call["h"], dh * (kh - 1) + 1 - top - bottom)
        call["w"] = max(call["w"], dw * (kw - 1) + 1 - left - right)
        call["layout"] = "NCHW"
    else:
        call = draw(pool_calls("max" if op == "max_pool2d" else "avg"))
        call["layout"] = "NCHW"
        if call["values"] == "specials":
            call["values"] = "floats"
    call.update(op=op, form=form)
    return call


def check_torch(call, backend, dtype, seed):
    import torch

    F = torch.nn.functional
    from fastconv import torch as front

    op, rng = call["op"], _rng(seed + 1)
    if op == "conv2d":
        x, weight, bias = _conv2d_arrays(call, dtype, seed)
        args = [_torch_tensor(torch, x, call["form"], rng), torch.from_numpy(weight),
                None if bias is None else torch.from_numpy(bias), call["stride"], call["padding"],
                call["dilation"], call["groups"]]
        abs_args = [torch.from_numpy(np.abs(x).astype(np.float64)), torch.from_numpy(np.abs(weight).astype(np.float64)),
                    None if bias is None else torch.from_numpy(np.abs(bias).astype(np.float64)), *args[3:]]
        exact_args = [a.double() if isinstance(a, torch.Tensor) else a for a in args]
    else:
        x = _pool_input(call, dtype, seed)
        options = _pool_options(call, "max" if op == "max_pool2d" else "avg")
        options.pop("layout")
        if op == "max_pool2d":
            options["return_indices"] = call["return_indices"]
        args = [_torch_tensor(torch, x, call["form"], rng)]
        abs_args = [torch.from_numpy(np.abs(x).astype(np.float64))]
        exact_args = [args[0].double()]
    kwargs = options if op != "conv2d" else {}
    with _fastconv_serves_every_size(), fastconv.use_backend(backend):
        got = getattr(front, op)(*args, **kwargs)
    original = front._ORIGINALS[op]
    expected = original(*exact_args, **kwargs)
    if op == "max_pool2d" and call["return_indices"]:
        (got, got_indices), (expected, indices) = got, expected
        assert got_indices.dtype == torch.int64
        assert got_indices.is_contiguous() or got_indices.is_contiguous(memory_format=torch.channels_last)
        np.testing.assert_array_equal(got_indices.numpy(), indices.numpy())
    torch_result = original(*args, **kwargs)
    torch_result = torch_result[0] if isinstance(torch_result, tuple) else torch_result
    assert got.dtype == args[0].dtype and got.shape == torch_result.shape
    assert got.is_contiguous() or got.is_contiguous(memory_format=torch.channels_last)
    if op == "max_pool2d":
        np.testing.assert_array_equal(got.numpy(), expected.numpy().astype(dtype))
        return
    with torch.no_grad():
        if op == "conv2d":
            magnitude = original(*abs_args).numpy()
        else:
            magnitude = np.abs(original(*abs_args, **kwargs).numpy())
    assert_close(got.numpy(), expected.numpy(), dtype, magnitude, op)


@_examples(100)
@given(call=torch_calls(), backend=backends, dtype=dtypes, seed=seeds)
def test_torch_frontend_matches_torch(call, backend, dtype, seed):
    pytest.importorskip("torch")
    with on(backend) as backend:
        check_torch(call, backend, dtype, seed)


# ---------------------------------------------------------------------------------------------
# nn layers, forward and backward, against torch twins

def _abs_twin_bounds(torch, twin, x, g):
    """Magnitude bounds of a linear layer's output and gradients: the twin on |x|, |params|, |g|
    (it changes the twin's parameters and gradients)."""
    with torch.no_grad():
        for p in twin.parameters():
            p.abs_()
            p.grad = None
    xa = x.detach().abs().requires_grad_(True)
    y = twin(xa)
    y.backward(g.abs())
    return y.detach().numpy(), xa.grad.numpy(), [p.grad.numpy() for p in twin.parameters()]


def _copy_into_twin(torch, layer, twin):
    with torch.no_grad():
        for (name, p), (twin_name, q) in zip(layer.named_parameters(), twin.named_parameters()):
            assert name == twin_name
            q.copy_(torch.from_numpy(np.asarray(p.data, np.float64)))


@st.composite
def nn_calls(draw) -> Dict[str, Any]:
    kind = draw(st.sampled_from(["Conv2d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear",
                                 "ReLU", "ReLU6", "Flatten", "Softmax", "LogSoftmax"]))
    if kind == "Conv2d":
        call = draw(conv2d_calls())
        if isinstance(call["padding"], tuple) and len(call["padding"]) == 4:
            call["padding"] = call["padding"][:2]
            if call["padding_mode"] != "zeros" and draw(st.booleans()):
                call["padding_mode"] = "zeros"
            top = bottom = call["padding"][0]
            left = right = call["padding"][1]
            kh, kw = call["weight_shape"][2:]
            dh, dw = _pair_of(call["dilation"])
            call["h"] = max(call["h"], dh * (kh - 1) + 1 - top - bottom, top + 1, bottom + 1)
            call["w"] = max(call["w"], dw * (kw - 1) + 1 - left - right, left + 1, right + 1)
    elif kind in ("MaxPool2d", "AvgPool2d"):
        call = draw(pool_calls("max" if kind == "MaxPool2d" else "avg"))
        if call["values"] == "specials":
            call["values"] = "floats"
    else:
        call = dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 4)), h=draw(st.integers(1, 6)),
                    w=draw(st.integers(1, 6)), out_features=draw(st.integers(1, 5)), bias=draw(st.booleans()),
                    output_size=_pair(draw, 1, 4), dim=draw(st.sampled_from([1, -1])))
    call.update(kind=kind, layout="NCHW", batched=True)
    return call


def _nn_layers(call, dtype):
    """(fastconv layer, torch twin (float64), input shape)."""
    import torch

    from fastconv import nn

    kind = call["kind"]
    if kind == "Conv2d":
        c_out, _, kh, kw = call["weight_shape"]
        options = dict(stride=call["stride"], padding=call["padding"], dilation=call["dilation"],
                       groups=call["groups"], bias=call["bias"], padding_mode=call["padding_mode"])
        layer = nn.Conv2d(call["c_in"], c_out, (kh, kw), **options, dtype=dtype)
        twin = torch.nn.Conv2d(call["c_in"], c_out, (kh, kw), **options, dtype=torch.float64)
        return layer, twin, (call["n"], call["c_in"], call["h"], call["w"])
    shape = (call["n"], call["c"], call["h"], call["w"])
    if kind in ("MaxPool2d", "AvgPool2d"):
        options = _pool_options(call, "max" if kind == "MaxPool2d" else "avg")
        options.pop("layout")
        return getattr(nn, kind)(**options), getattr(torch.nn, kind)(**options), shape
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(call["output_size"]), torch.nn.AdaptiveAvgPool2d(call["output_size"]), shape
    if kind == "Linear":
        layer = nn.Linear(call["w"], call["out_features"], call["bias"], dtype=dtype)
        twin = torch.nn.Linear(call["w"], call["out_features"], call["bias"], dtype=torch.float64)
        return layer, twin, shape
    if kind in ("Softmax", "LogSoftmax"):
        return getattr(nn, kind)(dim=call["dim"]), getattr(torch.nn, kind)(dim=call["dim"]), shape[:2]
    return getattr(nn, kind)(), getattr(torch.nn, kind)(), shape


def check_nn(call, backend, dtype, seed):
    import torch

    layer, twin, shape = _nn_layers(call, dtype)
    rng = _rng(seed)
    if call.get("values") == "ties":
        x = rng.integers(-3, 4, size=shape).astype(dtype)
    else:
        x = _normal(rng, shape, dtype)
    for p in layer.parameters():  # random parameters, not the initialisation
        p.data[...] = _normal(rng, p.data.shape, dtype)
    _copy_into_twin(torch, layer, twin)
    layer.train()
    with fastconv.use_backend(backend):
        y = layer(x)
        g = _normal(rng, y.shape, dtype)
        grad_input = layer.backward(g)
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    yt = twin(xt)
    gt = torch.from_numpy(g.astype(np.float64))
    yt.backward(gt)
    expected_grads = [q.grad.numpy().copy() for q in twin.parameters()]
    assert y.dtype == dtype and grad_input.dtype == dtype
    kind = call["kind"]
    if kind == "MaxPool2d":  # the winners are exact; their gradients are copies of g, added up
        np.testing.assert_array_equal(y, yt.detach().numpy().astype(dtype))
        _, indices = fastconv.max_pool2d(x, **_pool_options(call, "max"), return_indices=True, backend="reference")
        plane = shape[2] * shape[3]
        if np.any(indices >= plane):
            # a dilated window wholly in the padding: -inf, its index one past the plane (torch's
            # too); torch's backward then adds its gradient into the next plane's first cell
            # (out of bounds for the last one), fastconv drops it: judge by the winners instead
            scatter = np.zeros((shape[0] * shape[1], plane))
            rows = np.repeat(np.arange(shape[0] * shape[1]), indices[0, 0].size)
            flat, grads = indices.reshape(-1), g.astype(np.float64).reshape(-1)
            keep = flat < plane
            np.add.at(scatter, (rows[keep], flat[keep]), grads[keep])
            xt.grad = torch.from_numpy(scatter.reshape(shape))
    linear = kind in ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear", "ReLU", "ReLU6", "Flatten")
    if linear:
        bounds = _abs_twin_bounds(torch, twin, xt, gt)
    else:  # softmax: values in [0, 1] (log: their logs); gradients bounded by |g|'s sum
        bounds = (np.abs(yt.detach().numpy()), np.abs(g).sum(axis=call["dim"], keepdims=True) * 2 + 1, [])
    assert_close(y, yt.detach().numpy(), dtype, bounds[0], f"{kind} forward")
    assert_close(grad_input, xt.grad.numpy(), dtype, bounds[1], f"{kind} input gradient")
    assert len(expected_grads) == len(layer.parameters()) == len(bounds[2]) or not linear
    for (name, p), expected_grad, bound in zip(layer.named_parameters(), expected_grads, bounds[2]):
        assert p.grad is not None and p.grad.dtype == dtype
        assert_close(p.grad, expected_grad, dtype, bound, f"{kind} {name} gradient")


@_examples(100)
@given(call=nn_calls(), backend=backends, dtype=dtypes, seed=seeds)
def test_nn_layers_match_torch(call, backend, dtype, seed):
    pytest.importorskip("torch")
    with on(backend) as backend:
        check_nn(call, backend, dtype, seed)


@st.composite
def batchnorm_calls(draw) -> Dict[str, Any]:
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 4)), h=draw(st.integers(1, 5)),
                w=draw(st.integers(1, 5)), affine=draw(st.booleans()), track=draw(st.booleans()),
                momentum=draw(st.sampled_from([0.1, 0.5, None])), eps=draw(st.sampled_from([1e-5, 1e-3])),
                training=draw(st.booleans()), steps=draw(st.integers(1, 3)), shift=draw(st.sampled_from([0.0, 5.0])))


@_examples(40)
@given(call=batchnorm_calls(), backend=st.sampled_from(FAST_BACKENDS), dtype=dtypes, seed=seeds)
def test_nn_batchnorm2d_matches_torch(call, backend, dtype, seed):
    """BatchNorm2d (train: batch statistics, running-statistics updates; eval), forward and
    backward, against torch's float64 twin; float32 within 1e-4 of the output's scale (the
    normalisation divides by the batch's standard deviation)."""
    torch = pytest.importorskip("torch")
    from fastconv import nn

    if (call["training"] or not call["track"]) and call["n"] * call["h"] * call["w"] == 1:
        call = dict(call, h=2)  # batch statistics: torch refuses one value per channel
    options = dict(eps=call["eps"], momentum=call["momentum"], affine=call["affine"],
                   track_running_stats=call["track"])
    layer = nn.BatchNorm2d(call["c"], **options, dtype=dtype)
    twin = torch.nn.BatchNorm2d(call["c"], **options, dtype=torch.float64)
    rng = _rng(seed)
    for p in layer.parameters():
        p.data[...] = _normal(rng, p.data.shape, dtype)
    _copy_into_twin(torch, layer, twin)
    shape = (call["n"], call["c"], call["h"], call["w"])
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for step in range(call["steps"]):
        layer.train(call["training"])
        twin.train(call["training"])
        x = (_normal(rng, shape, dtype) + call["shift"]).astype(dtype)
        with fastconv.use_backend(backend):
            y = layer(x)
            g = _normal(rng, y.shape, dtype)
            # backward follows a training-mode forward only (no tape: eval keeps nothing)
            grad_input = layer.backward(g) if call["training"] else None
        xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
        yt = twin(xt)
        yt.backward(torch.from_numpy(g.astype(np.float64)))
        scale = max(1.0, float(np.abs(yt.detach().numpy()).max()))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tolerance, atol=tolerance * scale,
                                   err_msg=f"step {step} forward")
        if grad_input is not None:
            g_scale = max(1.0, float(np.abs(xt.grad.numpy()).max()))
            np.testing.assert_allclose(grad_input, xt.grad.numpy(), rtol=tolerance, atol=tolerance * g_scale * 10,
                                       err_msg=f"step {step} input gradient")
        if call["track"]:
            for name in ("running_mean", "running_var"):
                np.testing.assert_allclose(getattr(layer, name), getattr(twin, name).numpy(), rtol=tolerance,
                                           atol=tolerance * 10, err_msg=f"step {step} {name}")
        for p in layer.parameters():
            p.grad = None
        twin.zero_grad()


@_examples(40)
@given(n=st.integers(1, 5), classes=st.integers(1, 6), dtype=dtypes, seed=seeds)
def test_nn_cross_entropy_matches_torch(n, classes, dtype, seed):
    torch = pytest.importorskip("torch")
    from fastconv import nn

    rng = _rng(seed)
    logits = (_normal(rng, (n, classes), np.float64) * 5).astype(dtype)
    labels = rng.integers(0, classes, size=n)
    criterion = nn.CrossEntropyLoss()
    loss = criterion(logits, labels)
    grad = criterion.backward()
    lt = torch.from_numpy(logits.astype(np.float64)).requires_grad_(True)
    expected = torch.nn.functional.cross_entropy(lt, torch.from_numpy(labels))
    expected.backward()
    assert grad.dtype == dtype
    np.testing.assert_allclose(loss, expected.item(), rtol=1e-12, atol=1e-12)
    assert_close(grad, lt.grad.numpy(), dtype, 1.0, "cross entropy gradient")


# ---------------------------------------------------------------------------------------------
# regression examples: failures hypothesis found, kept as plain tests


def test_regression_ndimage_float32_image_with_float64_output_keeps_double_passes():
    """Found by test_scipy_ndimage_matches_scipy (sobel, 2x1 float32 image, output=float64): the
    separable filters rounded their first 1-D pass to the image's float32 where SciPy keeps it in
    the output's float64 (fixed in fastconv.scipy.ndimage; now the same bits as SciPy)."""
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    from fastconv.scipy import ndimage as ours

    x = _normal(_rng(0), (6, 5), np.float32)
    for name in ("sobel", "prewitt", "laplace"):  # integer taps: the same bits
        np.testing.assert_array_equal(getattr(ours, name)(x, output=np.float64),
                                      getattr(scipy_ndimage, name)(x, output=np.float64), err_msg=name)
    # 1/3 and Gaussian taps, summed in another order than SciPy's: within float64 roundings
    np.testing.assert_allclose(ours.uniform_filter(x, output=np.float64),
                               scipy_ndimage.uniform_filter(x, output=np.float64), rtol=0, atol=1e-15)
    np.testing.assert_allclose(ours.gaussian_filter(x, 1.0, output=np.float64),
                               scipy_ndimage.gaussian_filter(x, 1.0, output=np.float64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("backend", FAST_BACKENDS + ["reference"])
def test_regression_max_pool_window_wholly_in_the_padding(backend):
    """Found by test_nn_layers_match_torch: a dilated window can lie wholly in the padding (a
    1-row plane, kernel 2 / dilation 2 / padding 1 along H). Its value is -inf and its index one
    past the plane, as torch's; its gradient goes nowhere. torch's backward instead adds it to
    the next plane's first cell (here channel 1's), out of bounds for the last plane."""
    from fastconv import nn

    x = np.array([[[[0.5]], [[-0.25]]]])
    options = dict(kernel_size=(2, 1), padding=(1, 0), dilation=(2, 1))
    values, indices = fastconv.max_pool2d(x, **options, return_indices=True, backend=backend)
    np.testing.assert_array_equal(values, [[[[-np.inf]], [[-np.inf]]]])
    np.testing.assert_array_equal(indices, [[[[1]], [[1]]]])
    layer = nn.MaxPool2d(**options)
    with fastconv.use_backend(backend):
        layer(x)
        np.testing.assert_array_equal(layer.backward(np.array([[[[3.0]], [[5.0]]]])), np.zeros_like(x))
