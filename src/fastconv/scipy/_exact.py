"""SciPy's own arithmetic on fastconv's kernels: what ``fastconv.scipy.ndimage`` and ``.signal``
share when they reproduce SciPy's results bit for bit.

The kernels (``_core.scipy_correlate`` / ``scipy_uniform``, cpp/common/scipy_*.hpp) compute each
output element as SciPy's C loops do: the same taps in the same order, each product rounded
before it is added, in SciPy's accumulator type, borders read by SciPy's rules. This module turns
a validated call into their arguments: tap lists in SciPy's order, axes merged or kept so that the
vectors run along a long enough line, and outputs that may overlap the input or be strided.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Optional, Sequence

import numpy as np

from .._dispatch import get_num_threads

try:
    from .. import _core
except ImportError:  # no compiled module: the front ends hand every call to SciPy
    _core = None

#: scipy.ndimage's mode names -> the kernels' codes (SciPy's own: nearest 0, wrap 1, reflect 2,
#: mirror 3, constant 4). In every function served here grid-wrap reads as wrap, grid-constant as
#: constant and grid-mirror as reflect, as in SciPy's filters.
MODE_CODES = {"nearest": 0, "wrap": 1, "grid-wrap": 1, "reflect": 2, "grid-mirror": 2, "mirror": 3,
              "constant": 4, "grid-constant": 4}
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

COMBINE_SUM, COMBINE_SUM_FROM_FIRST, COMBINE_FOLD_SYMMETRIC, COMBINE_FOLD_ANTISYMMETRIC = 0, 1, 2, 3

# SciPy's test for a weight that counts (NI_Correlate) and for a symmetric kernel (NI_Correlate1D)
_DBL_EPSILON = float(np.finfo(np.float64).eps)
# Trailing axes no tap moves along are merged into the line's elements when they are this short:
# a line of a few elements would leave the vectors mostly empty.
_SHORT_AXIS = 16


def available() -> bool:
    """Whether the compiled kernels are there (without them every call goes to SciPy)."""
    return _core is not None


def real_scalar(value: Any) -> Optional[float]:
    """`value` as a float when it is a real number (SciPy reads cval as a C double), else None."""
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        return float(value)
    return None


def integer(value: Any) -> Optional[int]:
    """`value` as an int when it is an integer (not a bool-like float), else None."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    return None


def same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a and b are the same elements of memory in the same layout."""
    return (a.shape == b.shape and a.strides == b.strides and a.dtype.itemsize == b.dtype.itemsize
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


# Calls with less work than this (products and sums) run on one thread: starting and joining the
# threads costs more than such a call (and far more when other programs keep the cores busy).
_PARALLEL_WORK = 1 << 18


def _threads(work: int) -> int:
    return 1 if work < _PARALLEL_WORK else get_num_threads()


class Step:
    """One pass of a filter: function(source, destination) on C-contiguous arrays. `in_place`: the
    pass may write the array it reads (each job reads its line whole before writing it)."""

    def __init__(self, function, in_place: bool = False) -> None:
        self.function = function
        self.in_place = in_place


def _kernel_ready(array: np.ndarray) -> np.ndarray:
    """C-contiguous and aligned: the kernels read whole numbers at their natural alignment."""
    array = np.ascontiguousarray(array)
    return array if array.flags.aligned else array.copy()


def run_passes(array: np.ndarray, target: np.ndarray, steps: Sequence[Step]) -> None:
    """Apply `steps` one after the other, the first reading `array` and the last writing `target`;
    between them the result lives in target's dtype, as it does in SciPy (which filters into its
    output in place). A pass that can runs in place; the others alternate between two buffers,
    planned from the last pass back so that no copy is needed at the end."""
    if not steps:
        target[...] = array
        return
    direct = (target.flags.c_contiguous and target.flags.aligned and target.flags.writeable
              and not np.may_share_memory(array, target))
    buffers = [target if direct else np.empty(target.shape, target.dtype), None]
    destinations = [0] * len(steps)
    for k in range(len(steps) - 1, 0, -1):  # where pass k reads is where pass k - 1 writes
        destinations[k - 1] = destinations[k] if steps[k].in_place else 1 - destinations[k]
    source = _kernel_ready(array)
    for step, index in zip(steps, destinations):
        if buffers[index] is None:
            buffers[index] = np.empty(target.shape, target.dtype)
        step.function(source, buffers[index])
        source = buffers[index]
    if not direct:
        target[...] = buffers[0]


def correlate_taps(input: np.ndarray, output: np.ndarray, offsets: np.ndarray, weights: np.ndarray, mode: int,
                   cval: float, *, shift: Optional[Sequence[int]] = None, group_sizes: Optional[Sequence[int]] = None,
                   combine: int = COMBINE_SUM, single_precision: bool = False) -> None:
    """Write into `output` (C-contiguous) element o = SciPy's combination of
    weights[t] * input[o + shift + offsets[t]] over the taps in order, positions beyond the input
    read by `mode` (a code of MODE_CODES; constant reads `cval`).

    input is C-contiguous, float32 or float64, with output's ndim; offsets is a C-contiguous int64
    (taps, ndim) array, weights a float64 (taps,) one. The sum is in double unless
    `single_precision` (signal's float32 arithmetic).
    """
    ndim = input.ndim
    shift = [0] * ndim if shift is None else [int(s) for s in shift]
    moving = offsets.any(axis=0).tolist()
    # Merge the trailing axes no tap moves along into each position's cell while they are short.
    cell = 1
    keep = ndim
    while keep > 1:
        axis = keep - 1
        if (moving[axis] or shift[axis] or input.shape[axis] != output.shape[axis]
                or cell * input.shape[axis] >= _SHORT_AXIS):
            break
        cell *= input.shape[axis]
        keep -= 1
    in_view = input.reshape(input.shape[:keep] + (cell,))
    out_view = output.reshape(output.shape[:keep] + (cell,))
    sizes = list(group_sizes) if group_sizes is not None else [1] * len(weights)
    _core.scipy_correlate(in_view, out_view, shift[:keep], offsets if keep == ndim else
                          np.ascontiguousarray(offsets[:, :keep]), weights, sizes, combine, mode, float(cval),
                          single_precision, input is output, _threads(output.size * len(weights)))


# ---- scipy.ndimage ------------------------------------------------------------------------------

# The passes below read `input` and write `output`: C-contiguous, the same array or not overlapping
# (run_passes); the same array only for passes along the last axis.

@functools.lru_cache(maxsize=256)
def _correlate_plan(weights_bytes: bytes, shape: tuple, origins: tuple) -> tuple:
    """(tap offsets, tap weights) of NI_Correlate, or None without taps: the weights of magnitude
    above DBL_EPSILON in C order, each at its position less the anchor shape // 2 + origin."""
    weights = np.frombuffer(weights_bytes, dtype=np.float64).reshape(shape)
    footprint = np.abs(weights) > _DBL_EPSILON
    taps = np.argwhere(footprint)  # C order, as NI_Correlate walks the footprint
    if len(taps) == 0:
        return None
    anchors = np.array([w // 2 + o for w, o in zip(shape, origins)], dtype=np.int64)
    offsets = np.ascontiguousarray(taps - anchors, dtype=np.int64)
    tap_weights = np.ascontiguousarray(weights[footprint], dtype=np.float64)
    offsets.flags.writeable = tap_weights.flags.writeable = False  # shared by the cache
    return offsets, tap_weights


def ndimage_correlate(input: np.ndarray, weights: np.ndarray, origins: Sequence[int], output: np.ndarray, mode: int,
                      cval: float) -> None:
    """NI_Correlate: weights (float64, input's ndim) anchored at shape // 2 + origin, summed from 0."""
    plan = _correlate_plan(np.ascontiguousarray(weights, dtype=np.float64).tobytes(), weights.shape,
                           tuple(int(o) for o in origins))
    if plan is None:  # SciPy's sum of no taps
        output[...] = 0
        return
    correlate_taps(input, output, plan[0], plan[1], mode, cval)


def fold_kind(values: Sequence[float]) -> int:
    """NI_Correlate1D's test: 1 symmetric, -1 antisymmetric, 0 neither (even lengths are neither).
    Plain floats: the same IEEE double arithmetic as SciPy's C, faster than NumPy on a few values."""
    size = len(values)
    if not size & 1:
        return 0
    half = size // 2
    pairs = [(values[half + i], values[half - i]) for i in range(1, half + 1)]
    if not any(abs(right - left) > _DBL_EPSILON for right, left in pairs):
        return 1
    if not any(abs(right + left) > _DBL_EPSILON for right, left in pairs):
        return -1
    return 0


@functools.lru_cache(maxsize=256)
def _correlate1d_plan(weights_bytes: bytes, origin: int) -> tuple:
    """(lags, tap weights, combine) of NI_Correlate1D for float64 weights (given as their bytes:
    the key keeps -0.0 apart from 0.0)."""
    values = np.frombuffer(weights_bytes, dtype=np.float64).tolist()
    size = len(values)
    before = size // 2  # size1 in SciPy
    after = size - before - 1  # size2
    kind = fold_kind(values)
    if kind:
        # centre, then the pairs (jj, -jj) for jj = -size1 .. -1, each with the weight at jj
        lags = [0] + [lag for jj in range(-before, 0) for lag in (jj, -jj)]
        tap_weights = [values[before]] + [values[before + jj] for jj in range(-before, 0) for _ in (0, 1)]
        combine = COMBINE_FOLD_SYMMETRIC if kind > 0 else COMBINE_FOLD_ANTISYMMETRIC
    else:  # the last tap first, then the others from the first on
        lags = [after] + list(range(-before, after))
        tap_weights = [values[before + after]] + [values[before + jj] for jj in range(-before, after)]
        combine = COMBINE_SUM_FROM_FIRST
    lags_array = np.array(lags, dtype=np.int64) - origin
    weights_array = np.array(tap_weights, dtype=np.float64)
    lags_array.flags.writeable = weights_array.flags.writeable = False  # shared by the cache
    return lags_array, weights_array, combine


def ndimage_correlate1d(input: np.ndarray, weights: np.ndarray, axis: int, output: np.ndarray, mode: int,
                        cval: float, origin: int) -> None:
    """NI_Correlate1D along `axis` (non-negative): weights float64 1-D, origin valid."""
    lags, tap_weights, combine = _correlate1d_plan(np.ascontiguousarray(weights, dtype=np.float64).tobytes(),
                                                   int(origin))
    offsets = np.zeros((len(lags), input.ndim), dtype=np.int64)
    offsets[:, axis] = lags
    correlate_taps(input, output, offsets, tap_weights, mode, cval, combine=combine)


def ndimage_uniform1d(input: np.ndarray, size: int, axis: int, output: np.ndarray, mode: int, cval: float,
                      origin: int) -> None:
    """NI_UniformFilter1D along `axis` (non-negative); size >= 1 and origin valid."""
    shape = input.shape
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1:])
    _core.scipy_uniform(input.reshape(outer, shape[axis], inner), output.reshape(outer, shape[axis], inner),
                        int(size), int(size) // 2 + int(origin), mode, float(cval), _threads(4 * input.size))


# ---- scipy.signal -------------------------------------------------------------------------------

def signal_correlate_nd(padded: np.ndarray, kernel: np.ndarray, out_shape: Sequence[int], mode: str) -> np.ndarray:
    """_sigtools._correlateND(padded, kernel, out, mode) for float arrays of one dtype: out[i] is
    sum_j padded[i + start - (kernel.shape - 1) + j] * kernel[j] over j in C order, in that dtype,
    from 0, positions outside `padded` read as 0 (start: valid kernel.shape - 1, same
    (kernel.shape - 1) // 2, full 0)."""
    dtype = padded.dtype
    output = np.empty(tuple(out_shape), dtype)
    k = np.array(kernel.shape, dtype=np.int64)
    if mode == "valid":
        start = k - 1
    elif mode == "same":
        start = (k - 1) // 2
    else:
        start = np.zeros_like(k)
    taps = np.argwhere(np.ones(kernel.shape, dtype=bool))
    correlate_taps(np.ascontiguousarray(padded), output, np.ascontiguousarray(taps, dtype=np.int64),
                   kernel.reshape(-1).astype(np.float64),
                   MODE_CODES["constant"], 0.0, shift=start - (k - 1), single_precision=dtype == np.float32)
    return output


def signal_convolve2d(in1: np.ndarray, in2: np.ndarray, flip: bool, mode: str, boundary: int,
                      fillvalue: float) -> np.ndarray:
    """_sigtools._convolve2d (pylab_convolve_2d) for two float arrays of one dtype: per output
    element, kernel row by row, the taps of a row summed four at a time before joining the sum."""
    rows, columns = in2.shape
    if mode == "full":
        out_shape = (in1.shape[0] + rows - 1, in1.shape[1] + columns - 1)
        shift = (0, 0) if flip else (-(rows - 1), -(columns - 1))
    elif mode == "same":
        out_shape = in1.shape
        shift = ((rows - 1) >> 1, (columns - 1) >> 1) if flip else (-((rows - 1) >> 1), -((columns - 1) >> 1))
    else:
        out_shape = (in1.shape[0] - rows + 1, in1.shape[1] - columns + 1)
        shift = (rows - 1, columns - 1) if flip else (0, 0)
    sign = -1 if flip else 1
    j, k = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    offsets = np.stack([sign * j.reshape(-1), sign * k.reshape(-1)], axis=1)
    groups = ([4] * (columns // 4) + [1] * (columns % 4)) * rows
    output = np.empty(out_shape, in1.dtype)
    correlate_taps(_kernel_ready(in1), output, np.ascontiguousarray(offsets, dtype=np.int64),
                   in2.reshape(-1).astype(np.float64), boundary,
                   fillvalue, shift=shift, group_sizes=groups, single_precision=in1.dtype == np.float32)
    return output
