"""Drop-in for ``scipy.ndimage``'s linear filters: same signatures, defaults and results.

2-D float32/float64 images with a float result run on fastconv's kernels (in double precision,
rounded once to the result's dtype, as SciPy does); every other call
(other ranks, integer images or results, ``axes``, complex data, ...) is handed to SciPy
itself, so swapping the import loses nothing. Without SciPy those calls raise
NotImplementedError.

Examples
--------
>>> import numpy as np
>>> from fastconv.scipy import ndimage
>>> image = np.arange(25, dtype=np.float64).reshape(5, 5)
>>> float(ndimage.correlate(image, np.ones((3, 3)) / 9)[2, 2])
12.0
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..filters import filter2d
from ._originals import Originals

_MODES = {"reflect": "reflect", "grid-mirror": "reflect", "mirror": "mirror", "nearest": "nearest",
          "wrap": "wrap", "grid-wrap": "wrap", "constant": "constant", "grid-constant": "constant"}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _scipy():
    """SciPy's own functions (see ``fastconv.scipy._originals``)."""
    return _ORIGINALS.capture()


def _pair(value: Any) -> Optional[tuple]:
    if np.ndim(value) == 0:
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    return value if len(value) == 2 else None


def _fast(input: Any, output: Any, mode: Any) -> Optional[np.dtype]:
    """The result dtype when fastconv serves the call, else None."""
    if not isinstance(input, np.ndarray) or input.ndim != 2 or input.dtype not in _FLOATS or 0 in input.shape:
        return None
    if not isinstance(mode, str) or mode not in _MODES:
        return None
    if output is None:
        return input.dtype
    if isinstance(output, np.ndarray):
        return output.dtype if output.dtype in _FLOATS and output.shape == input.shape else None
    try:
        dtype = np.dtype(output)
    except TypeError:
        return None
    return dtype if dtype in _FLOATS else None


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
    # SciPy computes in double and rounds once to the output dtype: so does this front end
    result = filter2d(input.astype(np.float64, copy=False), placed, border=_MODES[mode], cval=cval)
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result.astype(dtype, copy=False)


def _fast_nd(input, weights, output, mode, origin, axes, rank: int):
    """(result dtype, weights as float64, origins) when fastconv serves a correlate/convolve call
    with `rank`-D weights on a 2-D image, else None."""
    weights_array = np.asarray(weights)
    dtype = _fast(input, output, mode)
    origins = _pair(origin) if rank == 2 else ((int(origin),) if np.ndim(origin) == 0 else None)
    if (dtype is None or axes is not None or weights_array.ndim != rank or weights_array.dtype.kind not in "biuf"
            or 0 in weights_array.shape or not _origin_fits(weights_array.shape, origins)):
        return None
    return dtype, weights_array.astype(np.float64), origins


def _axes_keyword(axes):
    return {} if axes is None else {"axes": axes}


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.correlate``."""
    fast = _fast_nd(input, weights, output, mode, origin, axes, 2)
    if fast is None:
        return _scipy().correlate(input, weights, output=output, mode=mode, cval=cval, origin=origin,
                                  **_axes_keyword(axes))
    dtype, kernel, origins = fast
    return _correlate(input, kernel, output, mode, cval, origins, dtype)


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.convolve``: correlate with the flipped kernel, origin mirrored as SciPy does."""
    fast = _fast_nd(input, weights, output, mode, origin, axes, 2)
    if fast is None:
        return _scipy().convolve(input, weights, output=output, mode=mode, cval=cval, origin=origin,
                                 **_axes_keyword(axes))
    dtype, kernel, origins = fast
    mirrored = tuple(-o - (1 - k % 2) for o, k in zip(origins, kernel.shape))
    return _correlate(input, kernel[::-1, ::-1], output, mode, cval, mirrored, dtype)


def _along(weights: np.ndarray, axis: int) -> np.ndarray:
    return weights[:, None] if axis == 0 else weights[None, :]


def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.correlate1d``."""
    weights_array = np.asarray(weights)
    dtype = _fast(input, output, mode)
    if dtype is None or weights_array.ndim != 1 or weights_array.size == 0 or np.ndim(origin) != 0 \
            or weights_array.dtype.kind not in "biuf" or not -2 <= int(axis) < 2 \
            or not _origin_fits((weights_array.size,), (int(origin),)):
        return _scipy().correlate1d(input, weights, axis=axis, output=output, mode=mode, cval=cval, origin=origin)
    axis = int(axis) % 2
    origins = (int(origin), 0) if axis == 0 else (0, int(origin))
    return _correlate(input, _along(weights_array.astype(np.float64), axis), output, mode, cval, origins, dtype)


def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.convolve1d``: correlate1d with the reversed kernel, origin mirrored as SciPy does."""
    weights_array = np.asarray(weights)
    fast = (_fast(input, output, mode) is not None and weights_array.ndim == 1 and weights_array.size > 0
            and np.ndim(origin) == 0 and weights_array.dtype.kind in "biuf" and -2 <= int(axis) < 2
            and _origin_fits((weights_array.size,), (int(origin),)))
    if not fast:  # SciPy's convolve1d (its correlate1d would conjugate a complex kernel)
        return _scipy().convolve1d(input, weights, axis=axis, output=output, mode=mode, cval=cval, origin=origin)
    mirrored = -int(origin) - (1 - weights_array.size % 2)
    return correlate1d(input, weights_array[::-1], axis, output, mode, cval, mirrored)


def _separable(input, kernels_by_axis: Sequence[np.ndarray], output, mode, cval, dtype):
    """A 2-D filter made of one 1-D kernel per axis, as SciPy applies them (one axis after the other,
    each result rounded to the output dtype)."""
    result = input
    for axis, weights in enumerate(kernels_by_axis):
        # each pass into the output dtype, as SciPy (a float32 image with a float64 output keeps
        # its first pass in float64)
        result = correlate1d(result, weights, axis, dtype, mode, cval, 0)
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result


def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.uniform_filter``."""
    dtype = _fast(input, output, mode)
    sizes = _pair(size) if np.ndim(size) <= 1 else None
    if dtype is None or axes is not None or sizes is None or min(sizes) < 1 or np.ndim(origin) != 0 or origin != 0:
        return _scipy().uniform_filter(input, size=size, output=output, mode=mode, cval=cval, origin=origin,
                                       **_axes_keyword(axes))
    return _separable(input, [np.full(s, 1.0 / s) for s in sizes], output, mode, cval, dtype)


def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *, radius=None,
                    axes=None):
    """``scipy.ndimage.gaussian_filter`` (order 0 runs on fastconv; derivatives go to SciPy)."""
    dtype = _fast(input, output, mode)
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (2,)) if np.ndim(sigma) <= 1 and np.size(sigma) in (
        1, 2) else None
    if dtype is None or axes is not None or radius is not None or np.any(order) or sigmas is None:
        return _scipy().gaussian_filter(input, sigma, order=order, output=output, mode=mode, cval=cval,
                                        truncate=truncate, **({} if radius is None else {"radius": radius}),
                                        **_axes_keyword(axes))
    if np.any(sigmas <= 0):  # SciPy leaves axes with sigma 0 alone; hand such calls over
        return _scipy().gaussian_filter(input, sigma, order=order, output=output, mode=mode, cval=cval,
                                        truncate=truncate)
    weights = []
    for s in sigmas:
        r = int(float(truncate) * float(s) + 0.5)
        x = np.arange(-r, r + 1)
        phi = np.exp(-0.5 / float(s) ** 2 * x**2)
        weights.append(phi / phi.sum())
    return _separable(input, weights, output, mode, cval, dtype)


def _derivative(name, input, axis, output, mode, cval, derivative, smoothing):
    dtype = _fast(input, output, mode)
    if dtype is None or not -2 <= int(axis) < 2:
        return getattr(_scipy(), name)(input, axis=axis, output=output, mode=mode, cval=cval)
    axis = int(axis) % 2
    # SciPy: the derivative along `axis` first, then the smoothing along the other axis
    result = correlate1d(input, derivative, axis, dtype, mode, cval)
    result = correlate1d(result, smoothing, 1 - axis, dtype, mode, cval)
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result


def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """``scipy.ndimage.sobel``."""
    return _derivative("sobel", input, axis, output, mode, cval, [-1.0, 0.0, 1.0], [1.0, 2.0, 1.0])


def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """``scipy.ndimage.prewitt``."""
    return _derivative("prewitt", input, axis, output, mode, cval, [-1.0, 0.0, 1.0], [1.0, 1.0, 1.0])


def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """``scipy.ndimage.laplace``: the sum of the second differences [1, -2, 1] along each axis."""
    dtype = _fast(input, output, mode)
    if dtype is None or axes is not None:
        return _scipy().laplace(input, output=output, mode=mode, cval=cval,
                                **_axes_keyword(axes))
    # SciPy adds the per-axis results in the output dtype
    first = correlate1d(input, [1.0, -2.0, 1.0], 0, dtype, mode, cval)
    second = correlate1d(input, [1.0, -2.0, 1.0], 1, dtype, mode, cval)
    result = first + second
    if isinstance(output, np.ndarray):
        output[...] = result
        return output
    return result


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


__all__ = ["convolve", "convolve1d", "correlate", "correlate1d", "gaussian_filter", "laplace", "maximum_filter",
           "minimum_filter", "prewitt", "sobel", "uniform_filter"]


_ORIGINALS = Originals("scipy.ndimage", "scipy.ndimage._filters", __all__)
try:  # capture SciPy's public functions now, before anyone replaces them with ours
    _scipy()
except NotImplementedError:  # no SciPy: the calls it would serve raise when made
    pass
