"""filter2d by FFT, for kernels too large for the direct sums: the padded image and the kernel
transformed with scipy.fft when SciPy is installed (threads, fast lengths), else numpy.fft.
Sums are made in float64; integer results whose FFT value lies too near x.5 to round safely are
summed again directly."""

from __future__ import annotations

import numpy as np

from ._backends import _image
from ._validate import Filter2dCall

_UNLOADED = object()
_fft_module = _UNLOADED  # scipy.fft, or None without SciPy (numpy.fft: no threads, every length)


def _scipy_fft():
    """scipy.fft, imported on first use: importing it at `import fastconv` took 270 ms of 430
    and started SciPy's own OpenBLAS thread pool for every user, FFT or not."""
    global _fft_module
    if _fft_module is _UNLOADED:
        try:
            import scipy.fft as module
        except ImportError:
            module = None
        _fft_module = module
    return _fft_module


def _transform_lengths(shape):
    fft = _scipy_fft()
    if fft is None:
        return list(shape)
    return [fft.next_fast_len(int(n), real=True) for n in shape]


def filter2d(call: Filter2dCall, num_threads: int) -> None:
    padded = _image.padded_image(call, np.dtype(np.float64))  # (planes, Hp, Wp, channels)
    kh, kw = call.kernel.shape
    _, out_height, out_width, _ = call.output.shape
    lengths = _transform_lengths(padded.shape[1:3])
    # circular convolution with the flipped kernel over lengths >= the padded image: the output
    # rows and columns (from kh - 1 and kw - 1 on) are untouched by the wrap-around
    fft = _scipy_fft()
    if fft is not None:
        forward = fft.rfftn(padded, lengths, axes=(1, 2), workers=num_threads)
        spectrum = fft.rfftn(call.kernel[::-1, ::-1], lengths, workers=num_threads)
        full = fft.irfftn(forward * spectrum[np.newaxis, :, :, np.newaxis], lengths, axes=(1, 2),
                                  workers=num_threads)
    else:
        forward = np.fft.rfftn(padded, lengths, axes=(1, 2))
        spectrum = np.fft.rfftn(call.kernel[::-1, ::-1], lengths)
        full = np.fft.irfftn(forward * spectrum[np.newaxis, :, :, np.newaxis], lengths, axes=(1, 2))
    values = full[:, kh - 1:kh - 1 + out_height, kw - 1:kw - 1 + out_width, :]
    if call.output_dtype.kind != "f":
        _round_safely(values, padded, call.kernel)
    _image.store(call.output, values)


def _round_safely(values: np.ndarray, padded: np.ndarray, kernel: np.ndarray) -> None:
    """Sum again directly, in place, the values whose FFT error could change their rounding:
    tap by tap in the reference backend's order, vectorised over those values."""
    error_bound = 1e-9 * float(np.abs(kernel).sum()) * max(1.0, float(np.abs(padded).max()))
    distance = np.abs(values - np.rint(values))
    p, i, j, c = np.nonzero(np.abs(distance - 0.5) <= error_bound)
    if not p.size:
        return
    total = np.zeros(p.size)
    for r in range(kernel.shape[0]):
        for q in range(kernel.shape[1]):
            total += kernel[r, q] * padded[p, i + r, j + q, c]
    values[p, i, j, c] = total
