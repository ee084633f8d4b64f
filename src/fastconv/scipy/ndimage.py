"""Drop-in for ``scipy.ndimage``'s linear filters: same signatures, defaults, errors and results.

By default the results are SciPy's, bit for bit (``fastconv.scipy.exact``): float32 and float64
arrays of any rank with a float32 or float64 result run on kernels that compute each output
element as SciPy's C code does: the same taps in the same order (correlate1d's symmetric and
antisymmetric pair folding, and so gaussian_filter, sobel, prewitt, laplace; correlate's taps in C
order; uniform_filter's running sum), every product rounded before it is added, in double, the
same border rules and origins, lists of modes and per-axis parameters, ``axes``, and each pass of
a separable filter rounded to the output dtype as SciPy rounds it. The threads split the output
lines (``fastconv.set_num_threads``).

Every other call is handed to SciPy itself, so swapping the import loses nothing: integer or
complex data or results, arrays with fewer than ``SMALL_CALL_ELEMENTS`` elements (SciPy is faster
there), an ``output`` that shares memory with the input, arguments SciPy rejects (it raises its
own error), the rank filters. Without SciPy those calls raise NotImplementedError.

``fastconv.scipy.exact(False)`` (or ``FASTCONV_SCIPY_EXACT=0``) switches to fastconv's faster
arithmetic instead: 2-D images through ``fastconv.filter2d`` (other tap orders, float32 summed in
float32 with fused multiply-adds), results within rounding of SciPy's but not its last bits.

Examples
--------
>>> import numpy as np
>>> from fastconv.scipy import ndimage
>>> image = np.arange(25, dtype=np.float64).reshape(5, 5)
>>> float(ndimage.correlate(image, np.ones((3, 3)) / 9)[2, 2])
12.0
"""

from __future__ import annotations

import functools
import numbers
import operator
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..filters import filter2d
from . import _exact, _settings
from ._exact import FLOATS, MODE_CODES
from ._originals import Originals

#: Arrays with fewer elements go to SciPy, whose own call is as fast or faster there: measured on
#: an AMD EPYC Zen 3 (2 cores, shared and busy) with 2-D float32/float64 arrays, the front ends
#: overtook SciPy between 4,096 and 9,216 elements for correlate, gaussian_filter, uniform_filter
#: and sobel, between 9,216 and 16,384 for a 3-tap correlate1d. Set it to 0 to serve every call.
SMALL_CALL_ELEMENTS = 8192

_MODES = {"reflect": "reflect", "grid-mirror": "reflect", "mirror": "mirror", "nearest": "nearest",
          "wrap": "wrap", "grid-wrap": "wrap", "constant": "constant", "grid-constant": "constant"}


def _scipy():
    """SciPy's own functions (see ``fastconv.scipy._originals``)."""
    return _ORIGINALS.capture()


# ---- SciPy's arithmetic (the default) ---------------------------------------------------------

def _served_array(input: Any) -> Optional[np.ndarray]:
    """The input as an array when the exact kernels serve it, else None."""
    if not _exact.available():
        return None
    array = np.asarray(input)
    if array.dtype not in FLOATS or array.ndim == 0 or array.size < max(1, SMALL_CALL_ELEMENTS):
        return None
    return array


def _served_input(input: Any, cval: Any) -> Optional[Tuple[np.ndarray, float]]:
    """The input array and cval as a float when the exact kernels serve them, else None."""
    array = _served_array(input)
    cval = _exact.real_scalar(cval)
    return None if array is None or cval is None else (array, cval)


def _output_array(output: Any, array: np.ndarray) -> Optional[np.ndarray]:
    """The array SciPy writes the result into (``_ni_support._get_output``) when it is a float32 or
    float64 array that does not share memory with the input, else None."""
    if output is None:
        return np.empty(array.shape, array.dtype)
    if isinstance(output, (type, np.dtype, str)):
        try:
            dtype = np.dtype(output)
        except TypeError:
            return None
        return np.empty(array.shape, dtype) if dtype in FLOATS else None
    if (isinstance(output, np.ndarray) and output.shape == array.shape and output.dtype in FLOATS
            and output.flags.writeable and not np.may_share_memory(output, array)):
        return output
    return None


def _axes(axes: Any, ndim: int) -> Optional[tuple]:
    """``_ni_support._check_axes``, or None where SciPy raises."""
    if axes is None:
        return tuple(range(ndim))
    try:
        axes = (operator.index(axes),) if np.isscalar(axes) else tuple(operator.index(a) for a in axes)
    except TypeError:
        return None
    if any(a < -ndim or a > ndim - 1 for a in axes):
        return None
    axes = tuple(a % ndim for a in axes)
    return axes if len(set(axes)) == len(axes) else None


def _sequence(value: Any, rank: int) -> Optional[list]:
    """``_ni_support._normalize_sequence``, or None where SciPy raises."""
    if not isinstance(value, str) and np.iterable(value):
        values = list(value)
        return values if len(values) == rank else None
    return [value] * rank


def _mode_codes(modes: Sequence[Any]) -> Optional[list]:
    codes = [MODE_CODES.get(m) if isinstance(m, str) else None for m in modes]
    return None if any(c is None for c in codes) else codes


def _axis(axis: Any, ndim: int) -> Optional[int]:
    """``normalize_axis_index``, or None where SciPy raises."""
    axis = _exact.integer(axis)
    return None if axis is None or not -ndim <= axis < ndim else axis % ndim


def _valid_origin(origin: int, size: int) -> bool:
    return -(size // 2) <= origin <= (size - 1) // 2


def _exact_correlate(input, weights, output, mode, cval, origin, axes, convolution: bool):
    array = _served_array(input)
    cval = _exact.real_scalar(cval)
    if array is None or cval is None or not isinstance(mode, str) or mode not in MODE_CODES:
        return None
    weights = np.asarray(weights)
    axes = _axes(axes, array.ndim)
    if weights.dtype.kind not in "biuf" or axes is None or weights.ndim != len(axes) or 0 in weights.shape:
        return None
    weights = weights.astype(np.float64)
    if len(axes) < array.ndim:  # size-1 axes where the weights do not reach
        weights = np.expand_dims(weights, tuple(a for a in range(array.ndim) if a not in axes))
    origins = _sequence(origin, len(axes))
    origins = None if origins is None else [_exact.integer(o) for o in origins]
    if origins is None or any(o is None for o in origins):
        return None
    if len(axes) < array.ndim:
        expanded = [0] * array.ndim
        for o, a in zip(origins, axes):
            expanded[a] = o
        origins = expanded
    if convolution:  # SciPy: flip the weights, mirror the origins
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        origins = [-o - (1 - w % 2) for o, w in zip(origins, weights.shape)]
    if not all(_valid_origin(o, w) for o, w in zip(origins, weights.shape)):
        return None
    code = MODE_CODES[mode]
    # NI_InitFilterOffsets reads outside the array for reflect offsets 4 lengths or more out
    if code == MODE_CODES["reflect"] and any(w // 2 + o >= 4 * n for w, o, n in zip(weights.shape, origins,
                                                                                     array.shape)):
        return None
    target = _output_array(output, array)
    if target is None:
        return None

    def step(source, destination):
        _exact.ndimage_correlate(source, np.ascontiguousarray(weights), origins, destination, code, cval)

    _exact.run_passes(array, target, [_exact.Step(step)])
    return target


def _correlate1d_step(weights: np.ndarray, axis: int, ndim: int, code: int, cval: float, origin: int) -> _exact.Step:
    def step(source, destination):
        _exact.ndimage_correlate1d(source, weights, axis, destination, code, cval, origin)
    return _exact.Step(step, in_place=axis == ndim - 1)


def _exact_correlate1d(input, weights, axis, output, mode, cval, origin, convolution: bool):
    array = _served_array(input)
    cval = _exact.real_scalar(cval)
    weights = np.asarray(weights)
    origin = _exact.integer(origin)
    if (array is None or cval is None or origin is None or not isinstance(mode, str) or mode not in MODE_CODES
            or weights.dtype.kind not in "biuf" or weights.ndim != 1 or weights.size < 1):
        return None
    axis = _axis(axis, array.ndim)
    if axis is None:
        return None
    weights = weights.astype(np.float64)
    if convolution:  # SciPy's convolve1d: reverse the weights, mirror the origin
        weights = weights[::-1]
        origin = -origin - (1 - weights.size % 2)
    if not _valid_origin(origin, weights.size):
        return None
    target = _output_array(output, array)
    if target is None:
        return None
    _exact.run_passes(array, target, [_correlate1d_step(np.ascontiguousarray(weights), axis, array.ndim,
                                                        MODE_CODES[mode], cval, origin)])
    return target


def _gaussian_kernel1d(sigma, order, radius):
    """SciPy's ``scipy.ndimage._filters._gaussian_kernel1d``, line for line (the same NumPy
    operations on the same values give the same weights)."""
    if order < 0:
        raise ValueError('order must be non-negative')
    exponent_range = np.arange(order + 1)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi_x = np.exp(-0.5 / sigma2 * x ** 2)
    phi_x = phi_x / phi_x.sum()
    if order == 0:
        return phi_x
    q = np.zeros(order + 1)
    q[0] = 1
    D = np.diag(exponent_range[1:], 1)  # D @ q(x) = q'(x)
    P = np.diag(np.ones(order) / -sigma2, -1)  # P @ q(x) = q(x) * p'(x)
    Q_deriv = D + P
    for _ in range(order):
        q = Q_deriv.dot(q)
    q = (x[:, None] ** exponent_range).dot(q)
    return q * phi_x


@functools.lru_cache(maxsize=128)
def _cached_gaussian_weights(sigma_type: type, sigma: Any, order: int, radius: int) -> np.ndarray:
    weights = np.ascontiguousarray(_gaussian_kernel1d(sigma, order, radius)[::-1], dtype=np.float64)
    weights.flags.writeable = False  # shared by the cache
    return weights


def _gaussian_weights(sigma, order, truncate, radius) -> Optional[np.ndarray]:
    """gaussian_filter1d's weights (reversed, as SciPy correlates them), or None where SciPy raises."""
    try:
        sd = float(sigma)
        lw = int(truncate * sd + 0.5)
    except (TypeError, ValueError, OverflowError):
        return None
    if radius is not None:
        lw = radius
    if not isinstance(lw, numbers.Integral) or lw < 0 or _exact.integer(order) is None or order < 0:
        return None
    if type(sigma) in (float, int, np.float64, np.float32) and type(lw) in (int, np.int64):
        return _cached_gaussian_weights(type(sigma), sigma, int(order), lw)  # the same values, computed once
    weights = _gaussian_kernel1d(sigma, int(order), lw)[::-1]
    if weights.dtype.kind not in "biuf":
        return None
    return np.ascontiguousarray(weights, dtype=np.float64)


def _exact_gaussian_filter(input, sigma, order, output, mode, cval, truncate, radius, axes):
    served = _served_input(input, cval)
    if served is None:
        return None
    array, cval = served
    axes = _axes(axes, array.ndim)
    if axes is None:
        return None
    n = len(axes)
    orders, sigmas, modes, radiuses = (_sequence(v, n) for v in (order, sigma, mode, radius))
    if orders is None or sigmas is None or modes is None or radiuses is None:
        return None
    codes = _mode_codes(modes)
    if codes is None:
        return None
    steps = []
    try:
        chosen = [i for i in range(n) if sigmas[i] > 1e-15]
    except TypeError:
        return None
    for i in chosen:
        weights = _gaussian_weights(sigmas[i], orders[i], truncate, radiuses[i])
        if weights is None:
            return None
        steps.append(_correlate1d_step(weights, axes[i], array.ndim, codes[i], cval, 0))
    target = _output_array(output, array)
    if target is None:
        return None
    _exact.run_passes(array, target, steps)
    return target


def _exact_gaussian_filter1d(input, sigma, axis, order, output, mode, cval, truncate, radius):
    array = _served_array(input)
    cval = _exact.real_scalar(cval)
    if array is None or cval is None or not isinstance(mode, str) or mode not in MODE_CODES:
        return None
    axis = _axis(axis, array.ndim)
    weights = None if axis is None else _gaussian_weights(sigma, order, truncate, radius)
    target = None if weights is None else _output_array(output, array)
    if target is None:
        return None
    _exact.run_passes(array, target, [_correlate1d_step(weights, axis, array.ndim, MODE_CODES[mode], cval, 0)])
    return target


def _uniform_step(size: int, axis: int, ndim: int, code: int, cval: float, origin: int) -> _exact.Step:
    def step(source, destination):
        _exact.ndimage_uniform1d(source, size, axis, destination, code, cval, origin)
    return _exact.Step(step, in_place=axis == ndim - 1)


def _uniform_origin_ok(size: int, origin: Optional[int]) -> bool:
    return origin is not None and 0 <= size // 2 + origin < size


def _exact_uniform_filter(input, size, output, mode, cval, origin, axes):
    served = _served_input(input, cval)
    if served is None:
        return None
    array, cval = served
    axes = _axes(axes, array.ndim)
    if axes is None:
        return None
    n = len(axes)
    sizes, origins, modes = (_sequence(v, n) for v in (size, origin, mode))
    if sizes is None or origins is None or modes is None:
        return None
    codes = _mode_codes(modes)
    if codes is None:
        return None
    steps = []
    for i in range(n):
        length = _exact.integer(sizes[i])
        if length is None:
            return None
        if length <= 1:  # SciPy skips such axes (and sizes < 1 raise only in uniform_filter1d)
            continue
        o = _exact.integer(origins[i])
        if not _uniform_origin_ok(length, o):
            return None
        steps.append(_uniform_step(length, axes[i], array.ndim, codes[i], cval, o))
    target = _output_array(output, array)
    if target is None:
        return None
    _exact.run_passes(array, target, steps)
    return target


def _exact_uniform_filter1d(input, size, axis, output, mode, cval, origin):
    array = _served_array(input)
    cval = _exact.real_scalar(cval)
    size = _exact.integer(size)
    origin = _exact.integer(origin)
    if (array is None or cval is None or size is None or size < 1 or not _uniform_origin_ok(size, origin)
            or not isinstance(mode, str) or mode not in MODE_CODES):
        return None
    axis = _axis(axis, array.ndim)
    target = None if axis is None else _output_array(output, array)
    if target is None:
        return None
    _exact.run_passes(array, target, [_uniform_step(size, axis, array.ndim, MODE_CODES[mode], cval, origin)])
    return target


def _exact_derivative(input, axis, output, mode, cval, smoothing: Sequence[float]):
    """sobel / prewitt: [-1, 0, 1] along `axis`, then `smoothing` along every other axis in order,
    each into the output (SciPy's passes)."""
    served = _served_input(input, cval)
    if served is None:
        return None
    array, cval = served
    axis = _axis(axis, array.ndim)
    modes = _sequence(mode, array.ndim)
    codes = None if modes is None else _mode_codes(modes)
    if axis is None or codes is None:
        return None
    steps = [_correlate1d_step(np.array([-1.0, 0.0, 1.0]), axis, array.ndim, codes[axis], cval, 0)]
    steps += [_correlate1d_step(np.array(smoothing, dtype=np.float64), other, array.ndim, codes[other], cval, 0)
              for other in range(array.ndim) if other != axis]
    target = _output_array(output, array)
    if target is None:
        return None
    _exact.run_passes(array, target, steps)
    return target


def _exact_laplace(input, output, mode, cval, axes):
    """generic_laplace with [1, -2, 1]: the first axis into the output, each other axis into a new
    array of the output's dtype added to it (NumPy's +=, as SciPy)."""
    served = _served_input(input, cval)
    if served is None:
        return None
    array, cval = served
    axes = _axes(axes, array.ndim)
    modes = None if axes is None else _sequence(mode, len(axes))
    codes = None if modes is None else _mode_codes(modes)
    target = None if codes is None else _output_array(output, array)
    if target is None:
        return None
    second_difference = np.array([1.0, -2.0, 1.0])
    if not axes:
        target[...] = array
        return target
    _exact.run_passes(array, target, [_correlate1d_step(second_difference, axes[0], array.ndim, codes[0], cval, 0)])
    for axis, code in zip(axes[1:], codes[1:]):
        term = np.empty(array.shape, target.dtype)
        _exact.run_passes(array, term, [_correlate1d_step(second_difference, axis, array.ndim, code, cval, 0)])
        target += term
    return target


# ---- fastconv's faster arithmetic (fastconv.scipy.exact(False)) ---------------------------------

def _pair(value: Any) -> Optional[tuple]:
    if np.ndim(value) == 0:
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    return value if len(value) == 2 else None


def _fast(input: Any, output: Any, mode: Any) -> Optional[np.dtype]:
    """The result dtype when the fast path serves the call, else None."""
    if not isinstance(input, np.ndarray) or input.ndim != 2 or input.dtype not in FLOATS or 0 in input.shape:
        return None
    if not isinstance(mode, str) or mode not in _MODES:
        return None
    if output is None:
        return input.dtype
    if isinstance(output, np.ndarray):
        return output.dtype if output.dtype in FLOATS and output.shape == input.shape else None
    try:
        dtype = np.dtype(output)
    except TypeError:
        return None
    return dtype if dtype in FLOATS else None


def _origin_fits(kernel_shape: tuple, origin: Optional[tuple]) -> bool:
    """SciPy's rule, -(k // 2) <= origin <= (k - 1) // 2; outside it SciPy raises its own error."""
    return origin is not None and all(-(k // 2) <= o <= (k - 1) // 2 for k, o in zip(kernel_shape, origin))


def _correlate(input: np.ndarray, kernel: np.ndarray, output: Any, mode: str, cval: float, origin: tuple,
               dtype: np.dtype) -> np.ndarray:
    """scipy.ndimage.correlate's result for a 2-D image: the kernel anchored at k // 2 + origin."""
    kh, kw = kernel.shape
    anchors = (kh // 2 + origin[0], kw // 2 + origin[1])
    # shift the kernel inside a larger one so that its anchor lands at the centre filter2d uses
    size = (2 * max(anchors[0], kh - 1 - anchors[0]) + 1, 2 * max(anchors[1], kw - 1 - anchors[1]) + 1)
    placed = np.zeros(size)
    top, left = size[0] // 2 - anchors[0], size[1] // 2 - anchors[1]
    placed[top:top + kh, left:left + kw] = kernel
    result = filter2d(input.astype(np.float64, copy=False), placed, border=_MODES[mode], cval=cval)
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result.astype(dtype, copy=False)


def _fast_nd(input, weights, output, mode, origin, axes, rank: int):
    """(result dtype, weights as float64, origins) when the fast path serves a correlate/convolve
    call with `rank`-D weights on a 2-D image, else None."""
    weights_array = np.asarray(weights)
    dtype = _fast(input, output, mode)
    origins = _pair(origin) if rank == 2 else ((int(origin),) if np.ndim(origin) == 0 else None)
    if (dtype is None or axes is not None or weights_array.ndim != rank or weights_array.dtype.kind not in "biuf"
            or 0 in weights_array.shape or not _origin_fits(weights_array.shape, origins)):
        return None
    return dtype, weights_array.astype(np.float64), origins


def _fast_correlate(input, weights, output, mode, cval, origin, axes, convolution: bool):
    fast = _fast_nd(input, weights, output, mode, origin, axes, 2)
    if fast is None:
        return None
    dtype, kernel, origins = fast
    if convolution:
        origins = tuple(-o - (1 - k % 2) for o, k in zip(origins, kernel.shape))
        kernel = kernel[::-1, ::-1]
    return _correlate(input, kernel, output, mode, cval, origins, dtype)


def _along(weights: np.ndarray, axis: int) -> np.ndarray:
    return weights[:, None] if axis == 0 else weights[None, :]


def _fast_correlate1d(input, weights, axis, output, mode, cval, origin, convolution: bool):
    weights_array = np.asarray(weights)
    dtype = _fast(input, output, mode)
    if dtype is None or weights_array.ndim != 1 or weights_array.size == 0 or np.ndim(origin) != 0 \
            or weights_array.dtype.kind not in "biuf" or not -2 <= int(axis) < 2 \
            or not _origin_fits((weights_array.size,), (int(origin),)):
        return None
    origin = int(origin)
    if convolution:
        weights_array = weights_array[::-1]
        origin = -origin - (1 - weights_array.size % 2)
        if not _origin_fits((weights_array.size,), (origin,)):
            return None
    axis = int(axis) % 2
    origins = (origin, 0) if axis == 0 else (0, origin)
    return _correlate(input, _along(weights_array.astype(np.float64), axis), output, mode, cval, origins, dtype)


def _separable(input, kernels_by_axis: Sequence[np.ndarray], output, mode, cval, dtype):
    """A 2-D filter made of one 1-D kernel per axis, one axis after the other, each result rounded
    to the output dtype."""
    result = input
    for axis, weights in enumerate(kernels_by_axis):
        result = _fast_correlate1d(result, weights, axis, None, mode, cval, 0, False).astype(dtype, copy=False)
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result


def _fast_uniform_filter(input, size, output, mode, cval, origin, axes):
    dtype = _fast(input, output, mode)
    sizes = _pair(size) if np.ndim(size) <= 1 else None
    if dtype is None or axes is not None or sizes is None or min(sizes) < 1 or np.ndim(origin) != 0 or origin != 0:
        return None
    return _separable(input, [np.full(s, 1.0 / s) for s in sizes], output, mode, cval, dtype)


def _fast_gaussian_filter(input, sigma, order, output, mode, cval, truncate, radius, axes):
    dtype = _fast(input, output, mode)
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (2,)) if np.ndim(sigma) <= 1 and np.size(sigma) in (
        1, 2) else None
    if dtype is None or axes is not None or radius is not None or np.any(order) or sigmas is None \
            or np.any(sigmas <= 0):
        return None
    weights = []
    for s in sigmas:
        r = int(float(truncate) * float(s) + 0.5)
        x = np.arange(-r, r + 1)
        phi = np.exp(-0.5 / float(s) ** 2 * x**2)
        weights.append(phi / phi.sum())
    return _separable(input, weights, output, mode, cval, dtype)


def _fast_derivative(input, axis, output, mode, cval, smoothing):
    dtype = _fast(input, output, mode)
    if dtype is None or not -2 <= int(axis) < 2:
        return None
    axis = int(axis) % 2
    # SciPy: the derivative along `axis` first, then the smoothing along the other axis
    result = _fast_correlate1d(input, [-1.0, 0.0, 1.0], axis, None, mode, cval, 0, False).astype(dtype, copy=False)
    result = _fast_correlate1d(result, smoothing, 1 - axis, None, mode, cval, 0, False).astype(dtype, copy=False)
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result


def _fast_laplace(input, output, mode, cval, axes):
    dtype = _fast(input, output, mode)
    if dtype is None or axes is not None:
        return None
    # SciPy adds the per-axis results in the output dtype
    first = _fast_correlate1d(input, [1.0, -2.0, 1.0], 0, None, mode, cval, 0, False).astype(dtype, copy=False)
    second = _fast_correlate1d(input, [1.0, -2.0, 1.0], 1, None, mode, cval, 0, False).astype(dtype, copy=False)
    result = first + second
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result


# ---- the public functions -----------------------------------------------------------------------

def _axes_keyword(axes):
    return {} if axes is None else {"axes": axes}


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.correlate``."""
    served = (_exact_correlate if _settings.exact else _fast_correlate)(input, weights, output, mode, cval, origin,
                                                                        axes, False)
    if served is not None:
        return served
    return _scipy().correlate(input, weights, output=output, mode=mode, cval=cval, origin=origin,
                              **_axes_keyword(axes))


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.convolve``: correlate with the flipped kernel, origin mirrored as SciPy does."""
    served = (_exact_correlate if _settings.exact else _fast_correlate)(input, weights, output, mode, cval, origin,
                                                                        axes, True)
    if served is not None:
        return served
    return _scipy().convolve(input, weights, output=output, mode=mode, cval=cval, origin=origin,
                             **_axes_keyword(axes))


def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.correlate1d``."""
    served = (_exact_correlate1d if _settings.exact else _fast_correlate1d)(input, weights, axis, output, mode, cval,
                                                                            origin, False)
    if served is not None:
        return served
    return _scipy().correlate1d(input, weights, axis=axis, output=output, mode=mode, cval=cval, origin=origin)


def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.convolve1d``: correlate1d with the reversed kernel, origin mirrored as SciPy does."""
    served = (_exact_correlate1d if _settings.exact else _fast_correlate1d)(input, weights, axis, output, mode, cval,
                                                                            origin, True)
    if served is not None:
        return served
    return _scipy().convolve1d(input, weights, axis=axis, output=output, mode=mode, cval=cval, origin=origin)


def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.uniform_filter``."""
    served = (_exact_uniform_filter if _settings.exact else _fast_uniform_filter)(input, size, output, mode, cval,
                                                                                  origin, axes)
    if served is not None:
        return served
    return _scipy().uniform_filter(input, size=size, output=output, mode=mode, cval=cval, origin=origin,
                                   **_axes_keyword(axes))


def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.uniform_filter1d`` (SciPy's arithmetic only: the faster one has no 1-D path)."""
    served = _exact_uniform_filter1d(input, size, axis, output, mode, cval, origin) if _settings.exact else None
    if served is not None:
        return served
    return _scipy().uniform_filter1d(input, size, axis=axis, output=output, mode=mode, cval=cval, origin=origin)


def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *, radius=None,
                    axes=None):
    """``scipy.ndimage.gaussian_filter``."""
    served = (_exact_gaussian_filter if _settings.exact else _fast_gaussian_filter)(
        input, sigma, order, output, mode, cval, truncate, radius, axes)
    if served is not None:
        return served
    return _scipy().gaussian_filter(input, sigma, order=order, output=output, mode=mode, cval=cval,
                                    truncate=truncate, **({} if radius is None else {"radius": radius}),
                                    **_axes_keyword(axes))


def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
                      radius=None):
    """``scipy.ndimage.gaussian_filter1d`` (SciPy's arithmetic only: the faster one has no 1-D path)."""
    served = _exact_gaussian_filter1d(input, sigma, axis, order, output, mode, cval, truncate,
                                      radius) if _settings.exact else None
    if served is not None:
        return served
    return _scipy().gaussian_filter1d(input, sigma, axis=axis, order=order, output=output, mode=mode, cval=cval,
                                      truncate=truncate, **({} if radius is None else {"radius": radius}))


def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """``scipy.ndimage.sobel``."""
    served = (_exact_derivative if _settings.exact else _fast_derivative)(input, axis, output, mode, cval,
                                                                          [1.0, 2.0, 1.0])
    if served is not None:
        return served
    return _scipy().sobel(input, axis=axis, output=output, mode=mode, cval=cval)


def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """``scipy.ndimage.prewitt``."""
    served = (_exact_derivative if _settings.exact else _fast_derivative)(input, axis, output, mode, cval,
                                                                          [1.0, 1.0, 1.0])
    if served is not None:
        return served
    return _scipy().prewitt(input, axis=axis, output=output, mode=mode, cval=cval)


def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """``scipy.ndimage.laplace``: the sum of the second differences [1, -2, 1] along each axis."""
    served = (_exact_laplace if _settings.exact else _fast_laplace)(input, output, mode, cval, axes)
    if served is not None:
        return served
    return _scipy().laplace(input, output=output, mode=mode, cval=cval, **_axes_keyword(axes))


def maximum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *,
                   axes=None):
    """``scipy.ndimage.maximum_filter`` (a rank filter: SciPy runs it)."""
    return _scipy().maximum_filter(input, size=size, footprint=footprint, output=output, mode=mode, cval=cval,
                                   origin=origin, **_axes_keyword(axes))


def minimum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *,
                   axes=None):
    """``scipy.ndimage.minimum_filter`` (a rank filter: SciPy runs it)."""
    return _scipy().minimum_filter(input, size=size, footprint=footprint, output=output, mode=mode, cval=cval,
                                   origin=origin, **_axes_keyword(axes))


__all__ = ["convolve", "convolve1d", "correlate", "correlate1d", "gaussian_filter", "gaussian_filter1d", "laplace",
           "maximum_filter", "minimum_filter", "prewitt", "sobel", "uniform_filter", "uniform_filter1d"]


_ORIGINALS = Originals("scipy.ndimage", "scipy.ndimage._filters", __all__)
try:  # capture SciPy's public functions now, before anyone replaces them with ours
    _scipy()
except NotImplementedError:  # no SciPy: the calls it would serve raise when made
    pass
