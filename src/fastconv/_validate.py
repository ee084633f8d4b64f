"""One place that turns user arguments into a normalised call, or a clear error.

Every public function runs its arguments through here before any kernel runs. What comes out
is a call object the backends take as it is: 4-D C-contiguous arrays in the kernel's layout and
dtype, integer pairs, explicit 4-sided padding, an output array to write into.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _shapes
from ._arguments import (MAX_BYTES, choice, flag, groups_divide, integer, nonnegative_pair,  # noqa: F401
                         pool_padding_fits, positive_int, positive_pair)

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LAYOUTS = ("NCHW", "NHWC")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
CONV_ALGORITHMS = ("auto", "igemm", "igemm_channels", "depthwise", "winograd", "direct")
# conv2d padding_mode (torch names) -> np.pad mode
NUMPY_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
def layout_of(value: Any, function: str) -> str:
    if isinstance(value, str) and value.upper() in LAYOUTS:
        return value.upper()
    msg = f"{function}: `layout` must be 'NCHW' or 'NHWC', got {value!r}"
    raise ValueError(msg)


# -- arrays -----------------------------------------------------------------------------------

def float_array(value: Any, name: str, function: str, dtype: Optional[np.dtype] = None) -> np.ndarray:
    """An ndarray of float32/float64 (or cast to ``dtype``), never copied unless needed."""
    array = np.asarray(value)
    if array.dtype.kind == "f" and not array.dtype.isnative:  # big-endian data from a file, say
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype not in FLOAT_DTYPES and not (dtype is not None and array.dtype.kind in "iuf"):
        msg = f"{function}: `{name}` must be a float32 or float64 array, got dtype {array.dtype}"
        raise TypeError(msg)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    if not array.flags.aligned:  # the kernels read whole numbers at their natural alignment (C++ needs it)
        array = array.copy()
    return array


def check_bytes(shape: Sequence[int], dtype: np.dtype, what: str, function: str) -> None:
    count = 1
    for extent in shape:
        count *= int(extent)
    if count * dtype.itemsize > MAX_BYTES:
        msg = (f"{function}: the {what} of shape {tuple(shape)} ({count} elements of {dtype}) is too large "
               f"to index with 64-bit integers")
        raise ValueError(msg)


def _batched(array: np.ndarray, name: str, function: str, layout: str) -> Tuple[np.ndarray, bool]:
    dims = "(N, C, H, W) or (C, H, W)" if layout == "NCHW" else "(N, H, W, C) or (H, W, C)"
    if array.ndim not in (3, 4):
        msg = f"{function}: `{name}` must be 4-D {dims} for layout {layout}, got shape {array.shape}"
        raise ValueError(msg)
    unbatched = array.ndim == 3
    array = array[np.newaxis] if unbatched else array
    _, c, h, w = _nchw_shape(array.shape, layout)
    if c < 1 or h < 1 or w < 1:
        msg = (f"{function}: `{name}` of shape {array.shape[1:] if unbatched else array.shape} "
               f"({layout}) has an empty channel or spatial axis")
        raise ValueError(msg)
    return array, unbatched


def _nchw_shape(shape: Sequence[int], layout: str) -> Tuple[int, int, int, int]:
    n, a, b, c = shape
    return (n, a, b, c) if layout == "NCHW" else (n, c, a, b)


def _layout_shape(n: int, c: int, h: int, w: int, layout: str) -> Tuple[int, int, int, int]:
    return (n, c, h, w) if layout == "NCHW" else (n, h, w, c)


@dataclass
class Output:
    """Where a kernel writes (``array``: 4-D, C-contiguous) and what the caller gets back.

    A user's ``out`` is written in place when it is C-contiguous and shares no memory with the
    inputs; otherwise the kernel writes a fresh buffer that is then copied into ``out``.
    """

    array: np.ndarray
    result: np.ndarray
    staged: bool

    def finish(self) -> np.ndarray:
        if self.staged:
            self.result[...] = self.array.reshape(self.result.shape)
        return self.result


def output_for(shape4: Tuple[int, ...], unbatched: bool, dtype: np.dtype, out: Any, inputs: Sequence[np.ndarray],
               function: str, name: str = "out") -> Output:
    user_shape = shape4[1:] if unbatched else shape4
    check_bytes(shape4, dtype, "output", function)
    if out is None:
        array = np.empty(shape4, dtype=dtype)
        return Output(array, array[0] if unbatched else array, staged=False)
    if not isinstance(out, np.ndarray):
        msg = f"{function}: `{name}` must be a numpy.ndarray, got {type(out).__name__}"
        raise TypeError(msg)
    if out.shape != tuple(user_shape):
        msg = f"{function}: `{name}` must have shape {tuple(user_shape)}, got {out.shape}"
        raise ValueError(msg)
    if out.dtype != dtype:
        msg = f"{function}: `{name}` must have dtype {dtype} (the input's), got {out.dtype}"
        raise TypeError(msg)
    if not out.flags.writeable:
        msg = f"{function}: `{name}` is read-only"
        raise ValueError(msg)
    overlaps = any(np.may_share_memory(out, other) for other in inputs if other is not None)
    if out.flags.c_contiguous and out.flags.aligned and not overlaps:
        return Output(out.reshape(shape4), out, staged=False)
    return Output(np.empty(shape4, dtype=dtype), out, staged=True)


# -- calls ------------------------------------------------------------------------------------

@dataclass
class Conv2dCall:
    """A validated conv2d: arrays in ``layout``, zero padding still to apply in the kernel."""

    input: np.ndarray                       # (N, C_in, H, W) or (N, H, W, C_in), C-contiguous
    weight: np.ndarray                      # (C_out, C_in / groups, KH, KW), C-contiguous
    bias: Optional[np.ndarray]              # (C_out,) or None
    output: Output                          # (N, C_out, OH, OW) or (N, OH, OW, C_out)
    stride: Tuple[int, int]
    padding: Tuple[int, int, int, int]      # top, bottom, left, right (zeros)
    dilation: Tuple[int, int]
    groups: int
    relu: bool
    layout: str
    algorithm: str = "auto"                 # the cpp backend's kernel; the others have one


# -- repeated calls ----------------------------------------------------------------------------
# Most programs call a layer again and again with the same shapes and options (a network's
# forward pass, a drop-in front end serving a client's loop). A call whose arrays are already
# what a kernel takes (C-contiguous ndarrays of one native float dtype) and whose options are
# plain ints, int tuples and strings is validated once; later calls with the same signature
# reuse the result and only allocate their output. Bools, NumPy integers, lists and `out=`
# always take the full checks, so every error a call can raise is raised as before.

_REPEATED_CALLS_LIMIT = 512


def _plain(options: tuple) -> bool:
    """Every option an int, a str, None or a tuple of ints (bools and NumPy integers are not)."""
    for value in options:
        kind = type(value)
        if kind is int or kind is str or value is None:
            continue
        if kind is not tuple:
            return False
        for item in value:
            if type(item) is not int:
                return False
    return True


def _kernel_ready(array: Any, dtype: Optional[np.dtype] = None) -> bool:
    """An ndarray a kernel takes as it is: C-contiguous, native float32/float64 (of `dtype`)."""
    if type(array) is not np.ndarray:
        return False
    flags = array.flags
    return (flags.c_contiguous and flags.aligned and
            (array.dtype == dtype if dtype is not None else array.dtype in FLOAT_DTYPES))


def _remember(cache: dict, key: tuple, template: Any) -> None:
    if len(cache) >= _REPEATED_CALLS_LIMIT:  # a program cycling through more signatures: start over
        cache.clear()
    cache[key] = template


@dataclass(frozen=True)
class _Conv2dTemplate:
    """What validating a conv2d signature found, to bind to the arrays of a repeated call."""

    unbatched: bool
    output_shape: Tuple[int, int, int, int]
    stride: Tuple[int, int]
    padding: Tuple[int, int, int, int]
    dilation: Tuple[int, int]
    groups: int
    relu: bool
    layout: str
    algorithm: str

    def bind(self, input: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> Conv2dCall:
        array = np.empty(self.output_shape, dtype=input.dtype)
        output = Output(array, array[0] if self.unbatched else array, staged=False)
        return Conv2dCall(input=input[np.newaxis] if self.unbatched else input, weight=weight, bias=bias,
                          output=output, stride=self.stride, padding=self.padding, dilation=self.dilation,
                          groups=self.groups, relu=self.relu, layout=self.layout, algorithm=self.algorithm)


_CONV2D_TEMPLATES: dict = {}


def _conv2d_key(input: Any, weight: Any, bias: Any, options: tuple) -> Optional[tuple]:
    if not (_kernel_ready(input) and _kernel_ready(weight, input.dtype) and
            (bias is None or _kernel_ready(bias, input.dtype)) and _plain(options) and
            options[4] == "zeros"):  # other padding modes pad the input on every call
        return None
    return (input.shape, input.dtype, weight.shape, None if bias is None else bias.shape, options)


def conv2d_call(input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any,
                padding_mode: Any, layout: Any, activation: Any, out: Any, algorithm: Any = "auto") -> Conv2dCall:
    """Validate a conv2d call (see conv2d); a repeated signature reuses its first validation."""
    options = (stride, padding, dilation, groups, padding_mode, layout, activation, algorithm)
    key = _conv2d_key(input, weight, bias, options) if out is None else None
    if key is not None:
        template = _CONV2D_TEMPLATES.get(key)
        if template is not None:
            return template.bind(input, weight, bias)
    call = _conv2d_call(input, weight, bias, stride, padding, dilation, groups, padding_mode, layout, activation,
                        out, algorithm)
    if key is not None:
        _remember(_CONV2D_TEMPLATES, key, _Conv2dTemplate(
            unbatched=call.output.result.ndim == 3, output_shape=call.output.array.shape, stride=call.stride,
            padding=call.padding, dilation=call.dilation, groups=call.groups, relu=call.relu,
            layout=call.layout, algorithm=call.algorithm))
    return call


def _conv2d_call(input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any,
                 padding_mode: Any, layout: Any, activation: Any, out: Any, algorithm: Any) -> Conv2dCall:
    function = "conv2d"
    layout = layout_of(layout, function)
    algorithm = choice(algorithm, "algorithm", CONV_ALGORITHMS, function)
    x = float_array(input, "input", function)
    x4, unbatched = _batched(x, "input", function, layout)
    dtype = x.dtype
    w = float_array(weight, "weight", function, dtype=dtype)
    if w.ndim != 4:
        msg = f"{function}: `weight` must be 4-D (C_out, C_in/groups, KH, KW), got shape {w.shape}"
        raise ValueError(msg)
    n, c_in, h, wd = _nchw_shape(x4.shape, layout)
    c_out, c_per_group, kh, kw = w.shape
    if min(w.shape) < 1:
        msg = f"{function}: `weight` of shape {w.shape} has an empty axis"
        raise ValueError(msg)
    groups = positive_int(groups, "groups", function)
    groups_divide(c_in, c_out, groups, function)
    if c_per_group * groups != c_in:
        msg = (f"{function}: `weight` of shape {w.shape} expects {c_per_group * groups} input channels "
               f"(C_in/groups={c_per_group}, groups={groups}), but `input` of shape {x.shape} ({layout}) "
               f"has {c_in}")
        raise ValueError(msg)
    b = None
    if bias is not None:
        b = float_array(bias, "bias", function, dtype=dtype)
        if b.shape != (c_out,):
            msg = f"{function}: `bias` must have shape ({c_out},) (one per output channel), got {b.shape}"
            raise ValueError(msg)
    stride = positive_pair(stride, "stride", function)
    dilation = positive_pair(dilation, "dilation", function)
    sides = _shapes.conv_padding(padding, (kh, kw), dilation, stride, function=function)
    padding_mode = choice(padding_mode, "padding_mode", PADDING_MODES, function)
    if activation not in (None, "relu"):
        msg = f"{function}: `activation` must be None or 'relu', got {activation!r}"
        raise ValueError(msg)
    top, bottom, left, right = sides
    for extent, name in ((h + top + bottom, "height"), (wd + left + right, "width")):
        if extent > MAX_BYTES:
            msg = f"{function}: the padded {name} ({extent}) is too large to index with 64-bit integers"
            raise ValueError(msg)
    if algorithm == "winograd" and ((kh, kw) != (3, 3) or stride != (1, 1) or dilation != (1, 1) or groups != 1):
        msg = (f"{function}: algorithm='winograd' needs a 3x3 kernel, stride 1, dilation 1 and groups 1, got "
               f"kernel {(kh, kw)}, stride {stride}, dilation {dilation}, groups {groups}")
        raise ValueError(msg)
    if algorithm == "depthwise" and (groups != c_in or c_out != c_in):
        msg = (f"{function}: algorithm='depthwise' needs groups == input channels == output channels, got "
               f"groups {groups}, input channels {c_in}, weight shape {w.shape}")
        raise ValueError(msg)
    oh = _shapes.conv_extent(h, kh, stride[0], top, bottom, dilation[0])
    ow = _shapes.conv_extent(wd, kw, stride[1], left, right, dilation[1])
    if oh < 1 or ow < 1:
        msg = (f"{function}: the dilated kernel ({dilation[0] * (kh - 1) + 1}, {dilation[1] * (kw - 1) + 1}) "
               f"is larger than the padded input ({h + top + bottom}, {wd + left + right}) "
               f"(input shape {x.shape}, weight shape {w.shape}, padding {sides}): the output would be empty")
        raise ValueError(msg)
    if padding_mode != "zeros" and any(sides):
        x4 = _pad_input(x4, sides, padding_mode, layout, function)
        sides = (0, 0, 0, 0)
    output = output_for(_layout_shape(n, c_out, oh, ow, layout), unbatched, dtype, out, (x, w, b), function)
    return Conv2dCall(
        input=np.ascontiguousarray(x4), weight=np.ascontiguousarray(w),
        bias=None if b is None else np.ascontiguousarray(b), output=output, stride=stride, padding=sides,
        dilation=dilation, groups=groups, relu=activation == "relu", layout=layout, algorithm=algorithm)


def _pad_input(x4: np.ndarray, sides: Tuple[int, int, int, int], mode: str, layout: str,
               function: str) -> np.ndarray:
    """Apply a non-zero padding mode explicitly (torch does the same: F.pad, then conv)."""
    n, c, h, w = _nchw_shape(x4.shape, layout)
    top, bottom, left, right = sides
    for before, after, size, axis in ((top, bottom, h, "height"), (left, right, w, "width")):
        if mode == "reflect" and max(before, after) >= size:
            msg = (f"{function}: padding_mode='reflect' needs padding < the input {axis} ({size}), got "
                   f"padding {sides}")
            raise ValueError(msg)
        if mode == "circular" and max(before, after) > size:
            msg = (f"{function}: padding_mode='circular' needs padding <= the input {axis} ({size}), got "
                   f"padding {sides} (it would wrap around more than once)")
            raise ValueError(msg)
    check_bytes(_layout_shape(n, c, h + top + bottom, w + left + right, layout), x4.dtype, "padded input", function)
    spatial = ((top, bottom), (left, right))
    widths = ((0, 0), (0, 0), *spatial) if layout == "NCHW" else ((0, 0), *spatial, (0, 0))
    return np.pad(x4, widths, mode=NUMPY_PAD_MODE[mode])


@dataclass
class Pool2dCall:
    """A validated pooling call; ``indices`` is set for max pooling with return_indices."""

    input: np.ndarray                 # 4-D, C-contiguous, in ``layout``
    output: Output
    indices: Optional[Output]
    kernel_size: Tuple[int, int]
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    dilation: Tuple[int, int]
    layout: str
    count_include_pad: bool = True
    divisor_override: Optional[int] = None


@dataclass(frozen=True)
class _Pool2dTemplate:
    """What validating a pooling signature found, to bind to the input of a repeated call."""

    unbatched: bool
    output_shape: Tuple[int, int, int, int]
    indices: bool
    kernel_size: Tuple[int, int]
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    dilation: Tuple[int, int]
    layout: str
    count_include_pad: bool
    divisor_override: Optional[int]

    def bind(self, input: np.ndarray) -> Pool2dCall:
        def output(dtype: np.dtype) -> Output:
            array = np.empty(self.output_shape, dtype=dtype)
            return Output(array, array[0] if self.unbatched else array, staged=False)

        return Pool2dCall(input=input[np.newaxis] if self.unbatched else input, output=output(input.dtype),
                          indices=output(np.dtype(np.int64)) if self.indices else None,
                          kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                          dilation=self.dilation, layout=self.layout, count_include_pad=self.count_include_pad,
                          divisor_override=self.divisor_override)


_POOL2D_TEMPLATES: dict = {}


def pool2d_call(function: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                ceil_mode: Any, layout: Any, *, return_indices: bool = False, count_include_pad: Any = True,
                divisor_override: Any = None, out: Any = None) -> Pool2dCall:
    """Validate a pooling call (see max_pool2d); a repeated signature reuses its first validation."""
    options = (kernel_size, stride, padding, dilation, divisor_override, layout)
    flags = (ceil_mode, return_indices, count_include_pad)
    key = None
    if (out is None and _kernel_ready(input) and _plain(options) and
            all(type(v) is bool for v in flags)):
        key = (function, input.shape, input.dtype, options, flags)
        template = _POOL2D_TEMPLATES.get(key)
        if template is not None:
            return template.bind(input)
    call = _pool2d_call(function, input, kernel_size, stride, padding, dilation, ceil_mode, layout,
                        return_indices=return_indices, count_include_pad=count_include_pad,
                        divisor_override=divisor_override, out=out)
    if key is not None:
        _remember(_POOL2D_TEMPLATES, key, _Pool2dTemplate(
            unbatched=call.output.result.ndim == 3, output_shape=call.output.array.shape,
            indices=call.indices is not None, kernel_size=call.kernel_size, stride=call.stride,
            padding=call.padding, dilation=call.dilation, layout=call.layout,
            count_include_pad=call.count_include_pad, divisor_override=call.divisor_override))
    return call


def _pool2d_call(function: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                 ceil_mode: Any, layout: Any, *, return_indices: bool, count_include_pad: Any,
                 divisor_override: Any, out: Any) -> Pool2dCall:
    layout = layout_of(layout, function)
    x = float_array(input, "input", function)
    x4, unbatched = _batched(x, "input", function, layout)
    n, c, h, w = _nchw_shape(x4.shape, layout)
    kernel = positive_pair(kernel_size, "kernel_size", function)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel  # torch's default: non-overlapping windows
    else:
        stride = positive_pair(stride, "stride", function)
    pad = nonnegative_pair(padding, "padding", function)
    dil = positive_pair(dilation, "dilation", function)
    ceil_mode = flag(ceil_mode, "ceil_mode", function)
    pool_padding_fits(pad, kernel, function)
    count_include_pad = flag(count_include_pad, "count_include_pad", function)
    if divisor_override is not None:
        divisor_override = integer(divisor_override, "divisor_override", function)
        if divisor_override == 0:
            msg = f"{function}: `divisor_override` must not be zero"
            raise ValueError(msg)
    oh = _shapes.pool_extent(h, kernel[0], stride[0], pad[0], dil[0], ceil_mode)
    ow = _shapes.pool_extent(w, kernel[1], stride[1], pad[1], dil[1], ceil_mode)
    if oh < 1 or ow < 1:
        msg = (f"{function}: the window {kernel} (dilation {dil}) is larger than the padded input "
               f"({h + 2 * pad[0]}, {w + 2 * pad[1]}) (input shape {x.shape}, padding {pad}): the output would "
               f"be empty")
        raise ValueError(msg)
    shape4 = _layout_shape(n, c, oh, ow, layout)
    output = output_for(shape4, unbatched, x.dtype, out, (x,), function)
    indices = output_for(shape4, unbatched, np.dtype(np.int64), None, (), function) if return_indices else None
    return Pool2dCall(input=np.ascontiguousarray(x4), output=output, indices=indices, kernel_size=kernel,
                      stride=stride, padding=pad, dilation=dil, layout=layout,
                      count_include_pad=count_include_pad, divisor_override=divisor_override)


# -- filter2d ---------------------------------------------------------------------------------

FILTER_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64))
FILTER_MODES = ("same", "valid", "full")
FILTER_BORDERS = ("constant", "reflect", "nearest", "mirror", "wrap")  # scipy.ndimage's names
# aliases that do not clash with scipy's names (torch's "reflect" is scipy's "mirror": not an alias)
_FILTER_BORDER_ALIASES = {
    "zeros": "constant", "replicate": "nearest", "circular": "wrap",
    "BORDER_CONSTANT": "constant", "BORDER_REPLICATE": "nearest", "BORDER_REFLECT": "reflect",
    "BORDER_REFLECT_101": "mirror", "BORDER_REFLECT101": "mirror", "BORDER_DEFAULT": "mirror",
    "BORDER_WRAP": "wrap", 0: "constant", 1: "nearest", 2: "reflect", 3: "wrap", 4: "mirror"}


FILTER_ALGORITHMS = ("auto", "direct", "separable", "fft")


@dataclass
class Filter2dCall:
    """A validated filter2d: the image as (planes, H, W, channels) and where its result goes.

    A channels-last image keeps its channels interleaved (planes = 1, channels = C); a
    channels-first (or middle) one is C planes of one channel; a plain image is one of each.
    """

    image: np.ndarray                                 # (planes, H, W, channels), a view of the caller's array
    output: np.ndarray                                # (planes, out_H, out_W, channels), C-contiguous, output_dtype
    result: np.ndarray                                # what filter2d returns: a view of `output`
    kernel: np.ndarray                                # float64, correlation order (flipped for a convolution)
    padding: Tuple[Tuple[int, int], Tuple[int, int]]  # (top, bottom), (left, right)
    border: str                                       # scipy.ndimage's name
    cval: float
    output_dtype: np.dtype
    algorithm: str                                    # as asked: auto, direct, separable or fft
    compute_dtype: np.dtype                           # what the sums are computed in (see _filter_precision)
    round_margin: float                               # see _filter_precision
    kernel_rounding: float                            # the machine epsilon separable_factors allows for
    value_bound: float                                # integer results: the largest |value| summed, else 0
    # kernel ~= outer(column_taps, row_taps) (float64) when the separable path is taken, else None
    column_taps: Optional[np.ndarray] = None
    row_taps: Optional[np.ndarray] = None


def _filter_border(border: Any, function: str) -> str:
    if isinstance(border, str) and border in FILTER_BORDERS:
        return border
    if isinstance(border, (str, int)) and not isinstance(border, bool) and border in _FILTER_BORDER_ALIASES:
        return _FILTER_BORDER_ALIASES[border]
    msg = (f"{function}: `border` must be one of {', '.join(map(repr, FILTER_BORDERS))} (or a torch / OpenCV "
           f"alias: 'zeros', 'replicate', 'circular', 'BORDER_*'), got {border!r}")
    raise ValueError(msg)


def _filter_output_dtype(input_dtype: np.dtype, requested: Any, function: str) -> np.dtype:
    if requested is None:
        return input_dtype if input_dtype.kind == "f" else np.dtype(np.float32)
    try:
        chosen = np.dtype(requested)
    except TypeError as error:
        msg = f"{function}: `dtype` {requested!r} is not a NumPy dtype"
        raise TypeError(msg) from error
    if chosen not in FILTER_DTYPES:
        msg = f"{function}: `dtype` must be uint8, uint16, int16, float32 or float64, got {chosen}"
        raise TypeError(msg)
    return chosen


# A kernel within this many of its machine epsilons (times its Frobenius norm) of rank 1 is
# split: room for several roundings of each entry and for the float64 SVD's own error (up to
# 6 epsilons measured on exact outer products up to 64x64).
_SPLIT_EPSILONS = 8


def separable_factors(kernel: np.ndarray, rounding: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(column_taps, row_taps) with outer(column_taps, row_taps) equal to ``kernel`` up to its
    rounding, or None if the kernel is not of rank 1 (nor all zero, nor finite).

    ``rounding`` is the machine epsilon of the kernel's values. Rounding each entry of a rank-1
    kernel moves it at most ``rounding / 2 * ||K||_F`` away (Frobenius norm), so the best rank-1
    approximation is no further than that (Eckart-Young): a factorisation is accepted when
    ``||K - outer||_F <= 8 * rounding * ||K||_F``. The same norm bounds what splitting changes in
    an output value (Cauchy-Schwarz): at most ``8 * rounding * ||K||_F * sqrt(KH * KW) * max|x|``,
    of the order of the dense sums' own rounding bound, ``KH * KW * rounding * sum|K| * max|x|``.

    Split at the largest entry first (column taps with a 1 there): exact for kernels of small
    integers, 1/n boxes and powers of two. Else the leading singular pair, sqrt(s0) to each side,
    signed so that the largest column tap is positive.
    """
    if not np.isfinite(kernel).all() or not kernel.any():
        return None
    tolerance = _SPLIT_EPSILONS * rounding * float(np.linalg.norm(kernel))
    i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    column_taps, row_taps = kernel[:, j] / kernel[i, j], kernel[i, :].copy()
    residual = kernel - np.outer(column_taps, row_taps)
    if np.linalg.norm(residual) <= tolerance:
        return column_taps, row_taps
    # The split at the largest entry misses no entry by more than 2 * s1, s1 the second singular
    # value (Goreinov and Tyrtyshnikov's maximal-volume bound): a miss beyond 4 tolerances (2 for
    # rounding) means s1 > tolerance, which no factorisation beats, so the SVD is skipped.
    if np.abs(residual).max() > 4 * tolerance:
        return None
    u, s, vt = np.linalg.svd(kernel)
    column_taps, row_taps = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
    if column_taps[np.argmax(np.abs(column_taps))] < 0:  # the SVD's signs are arbitrary
        column_taps, row_taps = -column_taps, -row_taps
    if np.linalg.norm(kernel - np.outer(column_taps, row_taps)) > tolerance:
        return None
    return column_taps, row_taps


def separable_call(call: Filter2dCall) -> Optional[Filter2dCall]:
    """``call`` on the separable path, or None if its kernel is not of rank 1 (see
    separable_factors). Integer results widen the round margin by what the split may move a sum
    (sum|K - outer| * the largest value), so that near ties are still summed again in double."""
    factors = separable_factors(call.kernel, call.kernel_rounding)
    if factors is None:
        return None
    column_taps, row_taps = factors
    margin = call.round_margin
    if call.output_dtype.kind != "f":
        margin += 2.0 * float(np.abs(call.kernel - np.outer(column_taps, row_taps)).sum()) * call.value_bound
    return dataclasses.replace(call, algorithm="separable", column_taps=column_taps, row_taps=row_taps,
                               round_margin=margin)


def _filter_precision(image: np.ndarray, output_dtype: np.dtype, kernel: np.ndarray,
                      cval: float) -> Tuple[np.dtype, float, float]:
    """The dtype the sums are computed in, and for integer results the round margin and the
    largest |value| summed (0 for float results).

    float64 when the image or the result is float64, or a float image gives an integer result;
    float32 otherwise (float32 images; integer images, whose values float32 holds exactly).
    Integer results come with a bound on the sums' error in that dtype (the kernel rounded, then
    KH * KW + KH + KW products and sums, times two): the kernels sum again, in double and in the
    reference backend's order, every value within that distance of x.5, so that the rounding is
    the reference's whatever the path (FMA, separable passes). Where the float32 bound is not small
    (large kernels on 16-bit images) the sums are made in float64.
    """
    float32, float64 = np.dtype(np.float32), np.dtype(np.float64)
    input_dtype = image.dtype
    if output_dtype.kind == "f":
        return (float64 if float64 in (input_dtype, output_dtype) else float32), 0.0, 0.0
    if input_dtype.kind == "f":
        magnitudes = np.abs(image)
        largest = float(magnitudes.max())
        if not np.isfinite(largest):
            largest = float(np.max(magnitudes, where=np.isfinite(magnitudes), initial=0.0))
    else:
        info = np.iinfo(input_dtype)
        largest = max(-float(info.min), float(info.max))
    largest = max(largest, abs(cval))
    operations = kernel.size + sum(kernel.shape) + 4
    scale = 2.0 * operations * float(np.abs(kernel).sum()) * largest
    if input_dtype.kind != "f" and scale * 2.0 ** -24 < 0.05:
        return float32, scale * 2.0 ** -24, largest
    return float64, scale * 2.0 ** -53, largest


def filter2d_call(image: Any, kernel: Any, mode: Any, border: Any, cval: Any, flip: Any, channel_axis: Any,
                  dtype: Any, algorithm: Any = "auto") -> Filter2dCall:
    function = "filter2d"
    array = np.asarray(image)
    if not array.dtype.isnative:  # big-endian data from a file, say: the kernels read native numbers
        array = array.astype(array.dtype.newbyteorder("="))
    if not array.flags.aligned:  # the kernels read whole numbers at their natural alignment
        array = array.copy()
    if array.dtype not in FILTER_DTYPES:
        msg = f"{function}: `image` must be uint8, uint16, int16, float32 or float64, got dtype {array.dtype}"
        raise TypeError(msg)
    weights = float_array(kernel, "kernel", function, dtype=np.dtype(np.float64))
    if weights.ndim != 2 or weights.size == 0:
        msg = f"{function}: `kernel` must be a non-empty 2-D array, got shape {weights.shape}"
        raise ValueError(msg)
    mode = choice(mode, "mode", FILTER_MODES, function)
    border = _filter_border(border, function)
    flip = flag(flip, "flip", function)
    algorithm = choice(algorithm, "algorithm", FILTER_ALGORITHMS, function)
    try:
        cval = float(cval)
    except (TypeError, ValueError) as error:
        msg = f"{function}: `cval` must be a real number, got {cval!r}"
        raise TypeError(msg) from error
    if channel_axis is None:
        if array.ndim != 2:
            msg = f"{function}: `image` must be 2-D (H, W) without `channel_axis`, got shape {array.shape}"
            raise ValueError(msg)
        image4 = array[np.newaxis, :, :, np.newaxis]
    else:
        channel_axis = integer(channel_axis, "channel_axis", function)
        if array.ndim != 3 or not -3 <= channel_axis < 3:
            msg = f"{function}: with `channel_axis`={channel_axis} `image` must be 3-D, got shape {array.shape}"
            raise ValueError(msg)
        channel_axis %= 3
        # channels last stay interleaved in each row; otherwise each channel is a plane
        image4 = array[np.newaxis] if channel_axis == 2 else np.moveaxis(array, channel_axis, 0)[..., np.newaxis]
    output_dtype = _filter_output_dtype(array.dtype, dtype, function)
    if min(array.shape) == 0:
        msg = f"{function}: `image` of shape {array.shape} is empty"
        raise ValueError(msg)
    planes, height, width, channels = image4.shape
    if mode == "valid" and (weights.shape[0] > height or weights.shape[1] > width):
        msg = f"{function}: mode='valid' needs the kernel {weights.shape} to fit in the image ({height}, {width})"
        raise ValueError(msg)
    padding = _shapes.filter_padding(weights.shape, mode, flip)
    if flip:
        weights = weights[::-1, ::-1]
    out_height = height + sum(padding[0]) - weights.shape[0] + 1
    out_width = width + sum(padding[1]) - weights.shape[1] + 1
    shape = (planes, out_height, out_width, channels)
    check_bytes(shape, output_dtype, "result", function)
    check_bytes((weights.shape[0], width + sum(padding[1]), channels), np.dtype(np.float64), "padded rows", function)
    compute_dtype, round_margin, value_bound = _filter_precision(array, output_dtype, weights, cval)
    # The kernel's own rounding, but no coarser than the sums': on a float64 image a float32
    # kernel's values are exact, and the reference sums them as they are. Integer kernels are exact.
    kernel_dtype = np.asarray(kernel).dtype
    kernel_rounding = float(np.finfo(kernel_dtype if kernel_dtype.kind == "f" else np.float64).eps)
    kernel_rounding = min(kernel_rounding, float(np.finfo(compute_dtype).eps))
    output = np.empty(shape, dtype=output_dtype)
    if channel_axis is None:
        result = output[0, :, :, 0]
    elif channel_axis == 2:
        result = output[0]
    else:
        result = np.moveaxis(output[..., 0], 0, channel_axis)
    call = Filter2dCall(image=image4, output=output, result=result, kernel=np.ascontiguousarray(weights),
                        padding=padding, border=border, cval=cval, output_dtype=output_dtype, algorithm=algorithm,
                        compute_dtype=compute_dtype, round_margin=round_margin, kernel_rounding=kernel_rounding,
                        value_bound=value_bound)
    if algorithm != "separable":  # for "auto" filters.py looks, when the kernel is worth splitting
        return call
    separable = separable_call(call)
    if separable is None:
        msg = (f"{function}: algorithm='separable' needs a kernel of rank 1 (an outer product, up to its dtype's "
               f"rounding); the {weights.shape} kernel is not")
        raise ValueError(msg)
    return separable
