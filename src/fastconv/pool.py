"""Max and average pooling over each channel's spatial plane."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _dispatch, _validate

IntPair = Union[int, Tuple[int, int]]


def max_pool2d(input: np.ndarray, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False, *,
               layout: str = "NCHW", out: Optional[np.ndarray] = None,
               backend: Optional[str] = None) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """2-D max pooling, per channel, with ``torch.nn.functional.max_pool2d``'s semantics.

    Parameters
    ----------
    input : ndarray, float32 or float64
        ``(N, C, H, W)`` or ``(C, H, W)``; ``(N, H, W, C)`` / ``(H, W, C)`` with ``layout="NHWC"``.
    kernel_size : int or (int, int)
        Window size.
    stride : int or (int, int), optional
        Defaults to ``kernel_size`` (non-overlapping windows).
    padding : int or (int, int), default 0
        Implicit padding on both sides, at most ``kernel_size // 2``; padded cells never win.
    dilation : int or (int, int), default 1
    ceil_mode : bool, default False
        Keep a partial window at the bottom/right border: a 5x5 map pooled 2x2 / stride 2 gives
        3x3 instead of 2x2. A window never starts entirely in the right padding.
    return_indices : bool, default False
        Also return, per output cell, the flat index ``row * W + col`` of the winner in its
        input plane (int64), as torch does.
    layout : {'NCHW', 'NHWC'}, keyword-only
    out : ndarray, optional, keyword-only
        Array of the result's shape and dtype to write the values into.
    backend : str, optional, keyword-only

    Returns
    -------
    ndarray or (ndarray, ndarray)
        The pooled values in the input's dtype (and the int64 indices). A NaN in a window gives
        NaN, as in torch.

    See Also
    --------
    pool_output_size, avg_pool2d

    Examples
    --------
    The lecture's 5x5 feature map, pooled 2x2 with stride 2, keeping the partial border windows:

    >>> import numpy as np, fastconv
    >>> feature_map = np.array([[0, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 0, 0, 2, 1],
    ...                         [1, 4, 2, 1, 0], [0, 0, 1, 2, 1]], dtype=float)
    >>> fastconv.max_pool2d(feature_map[None], 2, ceil_mode=True)[0].astype(int)
    array([[1, 1, 0],
           [4, 2, 1],
           [0, 2, 1]])
    """
    chosen = _dispatch.resolve(backend, "max_pool2d")
    call = _validate.pool2d_call("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, layout,
                                 return_indices=_validate.flag(return_indices, "return_indices", "max_pool2d"),
                                 out=out)
    if call.input.size:
        threads = _dispatch.get_num_threads()
        _dispatch.run(lambda: chosen.max_pool2d(call, threads), _pool_work(call))
    values = call.output.finish()
    return (values, call.indices.finish()) if call.indices is not None else values


def avg_pool2d(input: np.ndarray, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Optional[int] = None,
               *, layout: str = "NCHW", out: Optional[np.ndarray] = None,
               backend: Optional[str] = None) -> np.ndarray:
    """2-D average pooling, per channel, with ``torch.nn.functional.avg_pool2d``'s semantics.

    Parameters
    ----------
    input : ndarray, float32 or float64
        ``(N, C, H, W)`` or ``(C, H, W)``; ``(N, H, W, C)`` / ``(H, W, C)`` with ``layout="NHWC"``.
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0
        Zero padding on both sides, at most half the window.
    ceil_mode : bool, default False
        Keep a partial window at the bottom/right border (see ``max_pool2d``).
    count_include_pad : bool, default True
        Divide by the window's area including padded cells (the part of a ceil-mode window
        beyond the padding never counts); False divides by the input cells only.
    divisor_override : int, optional
        Divide every window's sum by this (non-zero) number instead.
    layout : {'NCHW', 'NHWC'}, keyword-only
    out : ndarray, optional, keyword-only
    backend : str, optional, keyword-only

    Returns
    -------
    ndarray
        The pooled means, in the input's dtype.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.avg_pool2d(np.arange(16.0).reshape(1, 4, 4), 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    chosen = _dispatch.resolve(backend, "avg_pool2d")
    call = _validate.pool2d_call("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode, layout,
                                 count_include_pad=count_include_pad, divisor_override=divisor_override, out=out)
    if call.input.size:
        threads = _dispatch.get_num_threads()
        _dispatch.run(lambda: chosen.avg_pool2d(call, threads), _pool_work(call))
    return call.output.finish()


def _pool_work(call: _validate.Pool2dCall) -> float:
    return float(call.output.array.size) * call.kernel_size[0] * call.kernel_size[1]

