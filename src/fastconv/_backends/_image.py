"""Helpers the backends share for filter2d: the border as np.pad spells it, and the result's
conversion (integer results rounded half to even and saturated, as the C++ kernels do)."""

from __future__ import annotations

import numpy as np

from .._validate import Filter2dCall

# scipy.ndimage border name -> np.pad mode
NUMPY_PAD_MODE = {"constant": "constant", "reflect": "symmetric", "nearest": "edge", "mirror": "reflect",
                  "wrap": "wrap"}


def padded_image(call: Filter2dCall, dtype: np.dtype) -> np.ndarray:
    """The (planes, H, W, channels) image in ``dtype``, extended by the call's border and padding."""
    image = call.image.astype(dtype, copy=False)
    (top, bottom), (left, right) = call.padding
    if not (top or bottom or left or right):
        return image
    extra = {"constant_values": call.cval} if call.border == "constant" else {}
    return np.pad(image, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=NUMPY_PAD_MODE[call.border], **extra)


def store(output: np.ndarray, values: np.ndarray) -> None:
    """Write computed sums into the result: float as they are; integer rounded half to even,
    saturated, NaN as 0."""
    if output.dtype.kind == "f":
        output[...] = values
        return
    info = np.iinfo(output.dtype)
    output[...] = np.clip(np.rint(np.nan_to_num(values, nan=0.0, posinf=info.max, neginf=info.min)),
                          info.min, info.max)
