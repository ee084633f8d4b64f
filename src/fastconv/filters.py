"""filter2d: the image-processing view of a 2-D correlation (scipy.ndimage / OpenCV semantics)."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from . import _validate
from .conv import conv2d

# scipy.ndimage border name -> np.pad mode
_NUMPY_PAD_MODE = {"constant": "constant", "reflect": "symmetric", "nearest": "edge", "mirror": "reflect",
                   "wrap": "wrap"}


def filter2d(image: np.ndarray, kernel: np.ndarray, *, mode: str = "same", border: Union[str, int] = "constant",
             cval: float = 0.0, flip: bool = False, channel_axis: Optional[int] = None, dtype=None,
             backend: Optional[str] = None) -> np.ndarray:
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
        integer dtype rounds to nearest (half to even) and saturates.
    backend : str, optional

    Returns
    -------
    ndarray

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
    call = _validate.filter2d_call(image, kernel, mode, border, cval, flip, channel_axis, dtype)
    planes = call.planes.astype(call.compute_dtype, copy=False)
    if any(p for pair in call.padding for p in pair):
        extra = {"constant_values": call.cval} if call.border == "constant" else {}
        planes = np.pad(planes, ((0, 0), *call.padding), mode=_NUMPY_PAD_MODE[call.border], **extra)
    weights = np.ascontiguousarray(call.kernel, dtype=call.compute_dtype)[np.newaxis, np.newaxis]
    result = conv2d(planes[:, np.newaxis], weights, backend=backend)[:, 0]
    result = result[0] if call.channel_axis is None else np.moveaxis(result, 0, call.channel_axis)
    return _cast(result, call.output_dtype)


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results as they are; integer ones rounded half to even and saturated."""
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)
