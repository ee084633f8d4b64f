"""filter2d: the image-processing view of a 2-D correlation (scipy.ndimage / OpenCV semantics)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np

from . import _dispatch, _fft_filter, _validate


# Measured rules for algorithm="auto" (cpp backend, `python benchmarks/filter_rules.py`): the
# separable passes from this many taps on, the FFT from this many taps on for other kernels.
_SEPARABLE_MIN_TAPS = 16
_FFT_MIN_TAPS = 2100


def filter2d(image: np.ndarray, kernel: np.ndarray, *, mode: str = "same", border: Union[str, int] = "constant",
             cval: float = 0.0, flip: bool = False, channel_axis: Optional[int] = None, dtype=None,
             algorithm: str = "auto", backend: Optional[str] = None) -> np.ndarray:
    """Correlate (or, with ``flip``, convolve) an image with a 2-D kernel.

    Parameters
    ----------
    image : ndarray, uint8, uint16, int16, float32 or float64
        (H, W), or with ``channel_axis`` an image whose channels are filtered separately.
    kernel : ndarray
        A 2-D kernel (see ``fastconv.kernels``).
    mode : {'same', 'valid', 'full'}
        ``same``: the image's size, the kernel anchored at index k // 2 as
        ``scipy.ndimage.correlate`` with origin 0 (``convolve`` with ``flip``); ``valid`` and
        ``full``: ``scipy.signal.correlate2d`` / ``convolve2d``.
    border : {'constant', 'reflect', 'nearest', 'mirror', 'wrap'} or an alias
        What lies beyond the edge (scipy.ndimage's names): constant = ``cval``, reflect =
        ``ba|abcd|dc``, nearest = ``aa|abcd|dd``, mirror = ``cb|abcd|cb``, wrap = ``cd|abcd|ab``.
        Aliases: torch ``zeros``/``replicate``/``circular``; OpenCV ``"BORDER_CONSTANT"``,
        ``"BORDER_REPLICATE"``, ``"BORDER_REFLECT"``, ``"BORDER_REFLECT_101"`` (OpenCV's default),
        ``"BORDER_WRAP"`` and their integer constants. Unused by ``valid``.
    cval : float
        The constant border's value.
    flip : bool
        True convolution (the kernel flipped), as ``scipy.ndimage.convolve``.
    channel_axis : int, optional
        The axis of a multi-channel image's channels.
    dtype : optional
        The result's dtype. Default: the input's for float input, float32 for integer input. An
        integer dtype rounds to nearest (half to even) and saturates; NaN gives 0.
    algorithm : {'auto', 'direct', 'separable', 'fft'}
        ``direct``: every tap of every pixel, the border read row by row (no padded copy of the
        image); ``separable``: for a kernel of rank 1 up to its dtype's rounding (box, Gaussian,
        Sobel, ...; a float32 Gaussian built as an outer product counts, see Notes), a
        horizontal and a vertical 1-D pass, KH + KW taps a pixel instead of KH * KW; ``fft``:
        the padded image and the kernel multiplied in Fourier space
        (scipy.fft, else numpy.fft; float64). ``auto`` picks by measured rules: separable
        whenever the kernel allows it, FFT for large other kernels (the reference backend
        always sums directly).
    backend : str, optional

    Returns
    -------
    ndarray
        float32 and integer images are summed in float32 (integer results that land within the
        float32 error of x.5 are summed again in double), float64 ones in float64.

    Notes
    -----
    A kernel is split when a factorisation reproduces it within 8 machine epsilons of its dtype
    times its Frobenius norm (integer kernels: float64's): rounding a rank-1 kernel to float32
    moves it less than that. The sums' dtype caps the epsilon, so on a float64 image a float32
    kernel is split only if of rank 1 in float64 (the reference sums its values as they are).
    What the split changes in a result is at most that residual times the window's norm, within
    the dense float32 sums' own rounding bound; measured on float32 Gaussians (7x7 to 31x31) it
    stays below 7e-8 of the output's largest value, under the float32 sums' own error.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> from fastconv import kernels
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> fastconv.filter2d(image, kernels.sharpen(), border="nearest", dtype=np.uint8)
    array([[ 0,  0,  0,  0],
           [ 3,  5,  6,  8],
           [ 7,  9, 10, 12],
           [15, 17, 18, 20]], dtype=uint8)
    """
    call = _validate.filter2d_call(image, kernel, mode, border, cval, flip, channel_axis, dtype, algorithm)
    module = _dispatch.resolve(backend, "filter2d")
    call = _choose_algorithm(call, module.__name__.rsplit(".", 1)[-1])
    threads = _dispatch.get_num_threads()
    run = _fft_filter.filter2d if call.algorithm == "fft" else module.filter2d
    _dispatch.run(lambda: run(call, threads), float(call.output.size) * call.kernel.size)
    return call.result


def _choose_algorithm(call: _validate.Filter2dCall, backend: str) -> _validate.Filter2dCall:
    """The call with algorithm="auto" resolved (and the separable taps found, if used)."""
    if call.algorithm != "auto":
        return call
    taps = call.kernel.size
    if backend == "reference":
        return dataclasses.replace(call, algorithm="direct")
    if taps >= _SEPARABLE_MIN_TAPS:
        separable = _validate.separable_call(call)
        if separable is not None:
            return separable
    return dataclasses.replace(call, algorithm="fft" if taps >= _FFT_MIN_TAPS else "direct")
