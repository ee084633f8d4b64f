"""filter2d: the image-processing view of a 2-D correlation (scipy.ndimage / OpenCV semantics)."""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

from . import _validate
from .conv import conv2d

INPUT_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64))
OUTPUT_DTYPES = INPUT_DTYPES
MODES = ("same", "valid", "full")
# scipy.ndimage name -> np.pad mode
_BORDERS = {"constant": "constant", "reflect": "symmetric", "nearest": "edge", "mirror": "reflect", "wrap": "wrap"}
# aliases that do not clash with scipy's names (torch's "reflect" is scipy's "mirror": not an alias)
_ALIASES = {"zeros": "constant", "replicate": "nearest", "circular": "wrap",
            "BORDER_CONSTANT": "constant", "BORDER_REPLICATE": "nearest", "BORDER_REFLECT": "reflect",
            "BORDER_REFLECT_101": "mirror", "BORDER_REFLECT101": "mirror", "BORDER_DEFAULT": "mirror",
            "BORDER_WRAP": "wrap", 0: "constant", 1: "nearest", 2: "reflect", 3: "wrap", 4: "mirror"}


def _border_name(border: Any) -> str:
    if isinstance(border, str) and border in _BORDERS:
        return border
    if isinstance(border, (str, int)) and not isinstance(border, bool) and border in _ALIASES:
        return _ALIASES[border]
    msg = (f"filter2d: `border` must be one of {', '.join(map(repr, _BORDERS))} (or a torch / OpenCV alias: "
           f"'zeros', 'replicate', 'circular', 'BORDER_*'), got {border!r}")
    raise ValueError(msg)


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
    function = "filter2d"
    array = np.asarray(image)
    if array.dtype not in INPUT_DTYPES:
        msg = f"{function}: `image` must be uint8, uint16, int16, float32 or float64, got dtype {array.dtype}"
        raise TypeError(msg)
    weights = _validate.float_array(kernel, "kernel", function, dtype=np.dtype(np.float64))
    if weights.ndim != 2 or weights.size == 0:
        msg = f"{function}: `kernel` must be a non-empty 2-D array, got shape {weights.shape}"
        raise ValueError(msg)
    mode = _validate.choice(mode, "mode", MODES, function)
    border = _border_name(border)
    flip = _validate.flag(flip, "flip", function)
    if channel_axis is None:
        if array.ndim != 2:
            msg = f"{function}: `image` must be 2-D (H, W) without `channel_axis`, got shape {array.shape}"
            raise ValueError(msg)
        planes = array[np.newaxis]
    else:
        axis = _validate.integer(channel_axis, "channel_axis", function)
        if array.ndim != 3 or not -3 <= axis < 3:
            msg = f"{function}: with `channel_axis`={channel_axis} `image` must be 3-D, got shape {array.shape}"
            raise ValueError(msg)
        planes = np.moveaxis(array, axis, 0)
    out_dtype = _output_dtype(array.dtype, dtype, function)
    if min(array.shape) == 0:
        msg = f"{function}: `image` of shape {array.shape} is empty"
        raise ValueError(msg)
    kh, kw = weights.shape
    height, width = planes.shape[1:]
    if flip:
        weights = weights[::-1, ::-1]
    if mode == "valid":
        if kh > height or kw > width:
            msg = f"{function}: mode='valid' needs the kernel {weights.shape} to fit in the image ({height}, {width})"
            raise ValueError(msg)
        pads: Tuple[Tuple[int, int], Tuple[int, int]] = ((0, 0), (0, 0))
    elif mode == "full":
        pads = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    else:  # scipy.ndimage's anchor: k // 2 for correlate; convolve's flipped kernel one before for even k
        before = [k // 2 - (1 if flip and k % 2 == 0 else 0) for k in (kh, kw)]
        pads = ((before[0], kh - 1 - before[0]), (before[1], kw - 1 - before[1]))
    # integer images are computed in float64, so rounding and saturation see the exact sums
    compute = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
    padded = planes.astype(compute, copy=False)
    if any(p for pair in pads for p in pair):
        extra = {"constant_values": cval} if border == "constant" else {}
        padded = np.pad(padded, ((0, 0), *pads), mode=_BORDERS[border], **extra)
    result = conv2d(padded[:, np.newaxis], np.ascontiguousarray(weights, dtype=compute)[np.newaxis, np.newaxis],
                    backend=backend)[:, 0]
    if channel_axis is not None:
        result = np.moveaxis(result, 0, channel_axis)
    else:
        result = result[0]
    return _cast(result, out_dtype)


def _output_dtype(input_dtype: np.dtype, requested: Any, function: str) -> np.dtype:
    if requested is None:
        return input_dtype if input_dtype.kind == "f" else np.dtype(np.float32)
    try:
        chosen = np.dtype(requested)
    except TypeError as error:
        msg = f"{function}: `dtype` {requested!r} is not a NumPy dtype"
        raise TypeError(msg) from error
    if chosen not in OUTPUT_DTYPES:
        msg = f"{function}: `dtype` must be uint8, uint16, int16, float32 or float64, got {chosen}"
        raise TypeError(msg)
    return chosen


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)
