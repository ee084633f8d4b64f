"""Drop-in for ``scipy.signal``'s 2-D correlation and convolution: same signatures and results.

Two float32/float64 2-D arrays in ``full`` or ``valid`` mode (the second no larger than the
first) run on fastconv's kernels; every other call goes to SciPy itself.

Examples
--------
>>> import numpy as np
>>> from fastconv.scipy import signal
>>> signal.convolve2d(np.eye(3), np.ones((2, 2)), mode="valid")
array([[2., 1.],
       [1., 2.]])
"""

from __future__ import annotations

import numpy as np

from ..filters import filter2d
from ._originals import Originals

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_BOUNDARIES = {"fill": "constant", "pad": "constant", "symm": "reflect", "symmetric": "reflect",
               "wrap": "wrap", "circular": "wrap"}


def _scipy():
    """SciPy's own functions (see ``fastconv.scipy._originals``)."""
    return _ORIGINALS.capture()


def _served(in1, in2, mode) -> bool:
    return (isinstance(in1, np.ndarray) and isinstance(in2, np.ndarray) and in1.ndim == 2 and in2.ndim == 2
            and in1.dtype in _FLOATS and in2.dtype in _FLOATS and mode in ("full", "valid")
            and 0 not in in1.shape and 0 not in in2.shape
            and in2.shape[0] <= in1.shape[0] and in2.shape[1] <= in1.shape[1])


def _run(in1, in2, mode, boundary, fillvalue, flip):
    dtype = np.result_type(in1, in2)
    result = filter2d(in1.astype(dtype, copy=False), in2.astype(np.float64), mode=mode,
                      border=_BOUNDARIES[boundary], cval=float(fillvalue), flip=flip)
    return result.astype(dtype, copy=False)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.correlate2d``."""
    if not _served(in1, in2, mode) or boundary not in _BOUNDARIES or np.iscomplexobj(fillvalue):
        return _scipy().correlate2d(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    return _run(in1, in2, mode, boundary, fillvalue, flip=False)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.convolve2d``."""
    if not _served(in1, in2, mode) or boundary not in _BOUNDARIES or np.iscomplexobj(fillvalue):
        return _scipy().convolve2d(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    return _run(in1, in2, mode, boundary, fillvalue, flip=True)


def correlate(in1, in2, mode="full", method="auto"):
    """``scipy.signal.correlate`` (2-D float full/valid on fastconv; everything else SciPy)."""
    if not _served(in1, in2, mode) or method not in ("auto", "direct", "fft"):
        return _scipy().correlate(in1, in2, mode=mode, method=method)
    return _run(in1, in2, mode, "fill", 0, flip=False)


def convolve(in1, in2, mode="full", method="auto"):
    """``scipy.signal.convolve`` (2-D float full/valid on fastconv; everything else SciPy)."""
    if not _served(in1, in2, mode) or method not in ("auto", "direct", "fft"):
        return _scipy().convolve(in1, in2, mode=mode, method=method)
    return _run(in1, in2, mode, "fill", 0, flip=True)


__all__ = ["convolve", "convolve2d", "correlate", "correlate2d"]


_ORIGINALS = Originals("scipy.signal", "scipy.signal._signaltools", __all__)
try:  # capture SciPy's public functions now, before anyone replaces them with ours
    _scipy()
except NotImplementedError:  # no SciPy: the calls it would serve raise when made
    pass
