"""Drop-in for ``scipy.signal``'s correlation and convolution: same signatures, errors and results.

By default the results are SciPy's, bit for bit (``fastconv.scipy.exact``). ``correlate2d`` /
``convolve2d`` on float32/float64 arrays, every mode and boundary, run on kernels that sum as
SciPy's ``_convolve2d`` does (kernel row by row, four products at a time, in the arrays' common
dtype: float32 arithmetic for two float32 arrays). ``correlate`` / ``convolve`` follow SciPy's
own choice of method: where SciPy picks its FFT method (``method="auto"`` on large inputs, or
``"fft"``) the call is handed to SciPy, so the bits stay SciPy's; SciPy's direct method for
n-D float arrays (its ``_correlateND``: taps in C order, summed from 0 in the common dtype) runs
here; 1-D direct calls that SciPy sends to ``numpy.correlate`` go to SciPy too.

Every other call is handed to SciPy itself: integer or complex data, arrays with fewer than
``fastconv.scipy.ndimage.SMALL_CALL_ELEMENTS`` elements, arguments SciPy rejects.
``fastconv.scipy.exact(False)`` switches to fastconv's faster arithmetic (2-D ``full`` /
``valid`` calls through ``fastconv.filter2d``, not SciPy's last bits).

Examples
--------
>>> import numpy as np
>>> from fastconv.scipy import signal
>>> signal.convolve2d(np.eye(3), np.ones((2, 2)), mode="valid")
array([[2., 1.],
       [1., 2.]])
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..filters import filter2d
from . import _exact, _settings
from . import ndimage as _ndimage
from ._exact import FLOATS, MODE_CODES
from ._originals import Originals

_BOUNDARIES = {"fill": "constant", "pad": "constant", "symm": "reflect", "symmetric": "reflect",
               "wrap": "wrap", "circular": "wrap"}
_MODES = ("valid", "same", "full")


def _scipy():
    """SciPy's own functions (see ``fastconv.scipy._originals``)."""
    return _ORIGINALS.capture()


# ---- SciPy's arithmetic (the default) ---------------------------------------------------------

def _float_arrays(in1: Any, in2: Any) -> Optional[tuple]:
    """Both inputs as arrays when the exact kernels serve them (float32/float64, non-empty, of
    one rank, not both tiny), else None."""
    if not _exact.available():
        return None
    a1, a2 = np.asarray(in1), np.asarray(in2)
    if (a1.dtype not in FLOATS or a2.dtype not in FLOATS or a1.ndim != a2.ndim or a1.ndim == 0 or a1.size == 0
            or a2.size == 0 or max(a1.size, a2.size) < max(1, _ndimage.SMALL_CALL_ELEMENTS)):
        return None
    return a1, a2


def _swap_needed(mode: str, shape1: tuple, shape2: tuple) -> Optional[bool]:
    """``_inputs_swap_needed``, or None where SciPy raises."""
    if mode != "valid" or not shape1:
        return False
    ok1 = all(s1 >= s2 for s1, s2 in zip(shape1, shape2))
    ok2 = all(s2 >= s1 for s1, s2 in zip(shape1, shape2))
    if not (ok1 or ok2):
        return None
    return not ok1


def _reversed(array: np.ndarray) -> np.ndarray:
    """``_reverse_and_conj`` of a real array."""
    return array[(slice(None, None, -1),) * array.ndim]


def _np_conv_ok(volume: np.ndarray, kernel: np.ndarray, mode: str) -> bool:
    """SciPy sends these 1-D direct calls to numpy.convolve / numpy.correlate."""
    if volume.ndim == kernel.ndim == 1:
        return mode in ("full", "valid") or volume.size >= kernel.size
    return False


def _exact_2d(in1, in2, mode, boundary, fillvalue, flip: bool):
    """_sigtools._convolve2d (flip) or correlate2d's use of it."""
    arrays = _float_arrays(in1, in2)
    fill = _exact.real_scalar(fillvalue)
    if (arrays is None or arrays[0].ndim != 2 or not isinstance(mode, str) or mode not in _MODES
            or not isinstance(boundary, str) or boundary not in _BOUNDARIES or fill is None):
        return None
    a1, a2 = arrays
    swapped = _swap_needed(mode, a1.shape, a2.shape)
    if swapped is None:
        return None
    if swapped:
        a1, a2 = a2, a1
    dtype = np.result_type(a1.dtype, a2.dtype)
    result = _exact.signal_convolve2d(a1.astype(dtype, copy=False), a2.astype(dtype, copy=False), flip, mode,
                                      MODE_CODES[_BOUNDARIES[boundary]], fill)
    if swapped and not flip:  # correlate2d undoes the swap
        result = result[::-1, ::-1]
    return result


def _exact_correlate_direct(a1: np.ndarray, a2: np.ndarray, mode: str):
    """correlate(..., method="direct") past its numpy.correlate fast path: _correlateND."""
    if _np_conv_ok(a1, a2, mode):
        return None
    swapped = _swap_needed(mode, a1.shape, a2.shape)
    if swapped is None:
        return None
    swapped = (mode == "full" and a2.size > a1.size) or swapped
    if swapped:
        a1, a2 = a2, a1
    dtype = np.result_type(a1.dtype, a2.dtype)
    if mode == "valid":
        out_shape = [i - j + 1 for i, j in zip(a1.shape, a2.shape)]
    elif mode == "full":
        out_shape = [i + j - 1 for i, j in zip(a1.shape, a2.shape)]
    else:
        out_shape = list(a1.shape)
    result = _exact.signal_correlate_nd(a1.astype(dtype, copy=False), a2.astype(dtype, copy=False), out_shape, mode)
    return _reversed(result) if swapped else result


def _exact_convolve(a1: np.ndarray, a2: np.ndarray, mode: str, method: str):
    """convolve's choice of method; None (SciPy's own call) for the FFT."""
    swapped = _swap_needed(mode, a1.shape, a2.shape)
    if swapped is None:
        return None
    volume, kernel = (a2, a1) if swapped else (a1, a2)
    if method == "auto":
        method = _choose_conv_method(volume, kernel, mode=mode)
    if method != "direct" or _np_conv_ok(volume, kernel, mode):
        return None
    return _exact_correlate_direct(volume, _reversed(kernel), mode)


def _choose_conv_method(volume, kernel, mode):
    from scipy.signal._signaltools import choose_conv_method  # SciPy's own rule, never ours
    return choose_conv_method(volume, kernel, mode=mode)


def _exact_nd(in1, in2, mode, method, convolution: bool):
    arrays = _float_arrays(in1, in2)
    if arrays is None or not isinstance(mode, str) or mode not in _MODES or not isinstance(method, str) \
            or method not in ("auto", "direct", "fft"):
        return None
    a1, a2 = arrays
    if convolution:
        return _exact_convolve(a1, a2, mode, method)
    if method in ("fft", "auto"):  # SciPy: convolve with the reversed kernel
        return _exact_convolve(a1, _reversed(a2), mode, method)
    return _exact_correlate_direct(a1, a2, mode)


# ---- fastconv's faster arithmetic (fastconv.scipy.exact(False)) ---------------------------------

def _served(in1, in2, mode) -> bool:
    return (isinstance(in1, np.ndarray) and isinstance(in2, np.ndarray) and in1.ndim == 2 and in2.ndim == 2
            and in1.dtype in FLOATS and in2.dtype in FLOATS and mode in ("full", "valid")
            and 0 not in in1.shape and 0 not in in2.shape
            and in2.shape[0] <= in1.shape[0] and in2.shape[1] <= in1.shape[1])


def _run(in1, in2, mode, boundary, fillvalue, flip):
    dtype = np.result_type(in1, in2)
    result = filter2d(in1.astype(dtype, copy=False), in2.astype(np.float64), mode=mode,
                      border=_BOUNDARIES[boundary], cval=float(fillvalue), flip=flip)
    return result.astype(dtype, copy=False)


def _fast_2d(in1, in2, mode, boundary, fillvalue, flip: bool):
    if not _served(in1, in2, mode) or boundary not in _BOUNDARIES or np.iscomplexobj(fillvalue):
        return None
    return _run(in1, in2, mode, boundary, fillvalue, flip)


def _fast_nd(in1, in2, mode, method, convolution: bool):
    if not _served(in1, in2, mode) or method not in ("auto", "direct", "fft"):
        return None
    return _run(in1, in2, mode, "fill", 0, flip=convolution)


# ---- the public functions -----------------------------------------------------------------------

def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.correlate2d``."""
    served = (_exact_2d if _settings.exact else _fast_2d)(in1, in2, mode, boundary, fillvalue, False)
    if served is not None:
        return served
    return _scipy().correlate2d(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.convolve2d``."""
    served = (_exact_2d if _settings.exact else _fast_2d)(in1, in2, mode, boundary, fillvalue, True)
    if served is not None:
        return served
    return _scipy().convolve2d(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)


def correlate(in1, in2, mode="full", method="auto"):
    """``scipy.signal.correlate`` (SciPy's FFT method and numpy's 1-D fast path stay SciPy's)."""
    served = (_exact_nd if _settings.exact else _fast_nd)(in1, in2, mode, method, False)
    if served is not None:
        return served
    return _scipy().correlate(in1, in2, mode=mode, method=method)


def convolve(in1, in2, mode="full", method="auto"):
    """``scipy.signal.convolve`` (SciPy's FFT method and numpy's 1-D fast path stay SciPy's)."""
    served = (_exact_nd if _settings.exact else _fast_nd)(in1, in2, mode, method, True)
    if served is not None:
        return served
    return _scipy().convolve(in1, in2, mode=mode, method=method)


__all__ = ["convolve", "convolve2d", "correlate", "correlate2d"]


_ORIGINALS = Originals("scipy.signal", "scipy.signal._signaltools", __all__)
try:  # capture SciPy's public functions now, before anyone replaces them with ours
    _scipy()
except NotImplementedError:  # no SciPy: the calls it would serve raise when made
    pass
