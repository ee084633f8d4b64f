"""conv2d: the convolution layer's forward computation."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _dispatch, _validate

IntPair = Union[int, Tuple[int, int]]


def conv2d(input: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride: IntPair = 1,
           padding: Union[str, int, Tuple[int, int], Tuple[int, int, int, int]] = 0, dilation: IntPair = 1,
           groups: int = 1, padding_mode: str = "zeros", *, layout: str = "NCHW",
           activation: Optional[str] = None, out: Optional[np.ndarray] = None, algorithm: str = "auto",
           backend: Optional[str] = None) -> np.ndarray:
    """2-D convolution (cross-correlation) of a batch of images with a bank of filters.

    Follows ``torch.nn.functional.conv2d``: each output channel ``o`` is
    ``bias[o] + sum over c, p, q of x[c, i*sh + p*dh - pad_top, j*sw + q*dw - pad_left] * weight[o, c, p, q]``
    with ``c`` running over the channels of ``o``'s group. The kernel is not flipped, as in CNNs.

    Parameters
    ----------
    input : ndarray, float32 or float64
        ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``; ``(N, H, W, C_in)`` / ``(H, W, C_in)``
        with ``layout="NHWC"``.
    weight : ndarray
        ``(C_out, C_in / groups, KH, KW)`` in either layout; cast to the input's dtype.
    bias : ndarray, optional
        ``(C_out,)``, one per filter; cast to the input's dtype.
    stride, dilation : int or (int, int), default 1
    padding : int, (int, int), (top, bottom, left, right), 'valid' or 'same', default 0
        'same' keeps H and W (stride 1 only); when the total padding is odd, the extra row and
        column go to the bottom and right, as in torch and TensorFlow.
    groups : int, default 1
        Splits the channels into ``groups`` independent convolutions (``groups == C_in``:
        depthwise).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, default 'zeros'
        What the padding holds, as ``torch.nn.Conv2d``: ``reflect`` mirrors without repeating
        the edge (``cb|abcd|cb``), ``replicate`` repeats the edge, ``circular`` wraps around.
    layout : {'NCHW', 'NHWC'}, keyword-only
        Memory layout of ``input`` and of the result.
    activation : {None, 'relu'}, keyword-only
        Apply ReLU to the result in the same pass (NaN stays NaN).
    out : ndarray, optional, keyword-only
        Array of the result's shape and dtype to write into; returned.
    algorithm : {'auto', 'igemm', 'direct'}, keyword-only
        The ``cpp`` backend's kernel (the other backends have one and ignore it). ``igemm``:
        implicit GEMM, register-blocked SIMD microkernels over the input split into its stride
        phases (stride-1 unpadded inputs are read in place); ``direct``: plain loops the compiler
        vectorises, kept as a second opinion. ``auto`` picks (today: ``igemm``).
    backend : {'cpp', 'numba', 'reference'}, optional, keyword-only
        Defaults to the one chosen by ``use_backend`` / FASTCONV_BACKEND, else the fastest.

    Returns
    -------
    ndarray
        ``(N, C_out, OH, OW)`` (or the unbatched / NHWC equivalent) in the input's dtype, with
        ``OH = floor((H + pad_top + pad_bottom - dh * (KH - 1) - 1) / sh) + 1`` (see
        ``conv_output_size``).

    Raises
    ------
    TypeError
        A dtype other than float32/float64, or an argument of the wrong type.
    ValueError
        Shapes that do not fit together (the message names the argument and both shapes),
        non-positive stride/dilation/groups, negative padding, an empty output, and so on.

    See Also
    --------
    conv_output_size, conv_param_count, max_pool2d

    Examples
    --------
    The lecture's worked example: a 7x7 image and a 3x3 feature detector give a 5x5 feature map.

    >>> import numpy as np, fastconv
    >>> image = np.zeros((7, 7)); image[1, 1] = image[1, 5] = image[3, 3] = image[4, 1] = image[4, 5] = 1
    >>> image[5, 2:5] = 1
    >>> detector = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=float)
    >>> fastconv.conv2d(image[None], detector[None, None])[0].astype(int)
    array([[0, 1, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [1, 0, 0, 2, 1],
           [1, 4, 2, 1, 0],
           [0, 0, 1, 2, 1]])
    """
    chosen = _dispatch.resolve(backend, "conv2d")
    call = _validate.conv2d_call(input, weight, bias, stride, padding, dilation, groups, padding_mode, layout,
                                 activation, out, algorithm)
    if call.input.shape[0]:  # an empty batch gives an empty result without a kernel call
        chosen.conv2d(call, _dispatch.get_num_threads())
    return call.output.finish()
