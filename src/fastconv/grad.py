"""Gradients of conv2d and the pools, for training (``fastconv.nn`` layers call these).

The input gradient of a convolution is a convolution itself and runs on the backends' kernels:
the transposed convolution (the output gradient, dilated by the stride, convolved with the
flipped, channel-swapped filters). The weight gradient is one GEMM per group in NumPy's BLAS
over im2col columns (as a convolution it would have a huge kernel and a tiny output, which
convolution kernels run badly). The pools scatter the output gradient back with NumPy.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _validate
from .conv import conv2d

IntPair = Union[int, Tuple[int, int]]


def _nchw(array: np.ndarray, layout: str) -> np.ndarray:
    return array if layout == "NCHW" else array.transpose(0, 3, 1, 2)


def _from_nchw(array: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(array if layout == "NCHW" else array.transpose(0, 2, 3, 1))


def _fold_padding(grad_padded: np.ndarray, size: Tuple[int, int], sides: Tuple[int, int, int, int],
                  padding_mode: str) -> np.ndarray:
    """The gradient of padding: every padded cell's gradient goes to the input cell it copies."""
    top, bottom, left, right = sides
    height, width = size
    result = np.zeros((*grad_padded.shape[:2], height, width), dtype=grad_padded.dtype)
    if padding_mode == "zeros":
        result[...] = grad_padded[:, :, top:top + height, left:left + width]
        return result
    mode = _validate.NUMPY_PAD_MODE[padding_mode]
    rows = np.pad(np.arange(height), (top, bottom), mode=mode)
    cols = np.pad(np.arange(width), (left, right), mode=mode)
    by_rows = np.zeros((*grad_padded.shape[:2], height, grad_padded.shape[3]), dtype=grad_padded.dtype)
    np.add.at(by_rows, (slice(None), slice(None), rows), grad_padded[:, :, : len(rows)])
    np.add.at(result, (slice(None), slice(None), slice(None), cols), by_rows[:, :, :, : len(cols)])
    return result


def conv2d_backward(grad_output: np.ndarray, input: np.ndarray, weight: np.ndarray, stride: IntPair = 1,
                    padding: Union[str, int, Tuple[int, ...]] = 0, dilation: IntPair = 1, groups: int = 1,
                    padding_mode: str = "zeros", *, layout: str = "NCHW",
                    needs: Sequence[str] = ("input", "weight", "bias"),
                    backend: Optional[str] = None) -> Tuple[Optional[np.ndarray], ...]:
    """Gradients of ``conv2d(input, weight, bias, ...)`` given the gradient of its output.

    Parameters
    ----------
    grad_output : ndarray
        Gradient of the loss with respect to conv2d's result (its shape and layout).
    input, weight, stride, padding, dilation, groups, padding_mode, layout
        The forward call's arguments.
    needs : sequence of {'input', 'weight', 'bias'}
        Which gradients to compute; the others are returned as None.
    backend : str, optional, keyword-only
        The backend that runs the convolutions.

    Returns
    -------
    (grad_input, grad_weight, grad_bias)
        Shaped like ``input``, ``weight`` and ``(C_out,)``, in the input's dtype.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    >>> gi, gw, gb = fastconv.conv2d_backward(np.ones((1, 1, 2, 2)), x, w)
    >>> gi[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> gw[0, 0], gb
    (array([[4., 4.],
           [4., 4.]]), array([4.]))
    """
    function = "conv2d_backward"
    forward = _validate.conv2d_call(input, weight, None, stride, padding, dilation, groups, "zeros", layout, None,
                                    None)
    unknown = set(needs) - {"input", "weight", "bias"}
    if unknown:
        msg = f"{function}: `needs` may hold 'input', 'weight', 'bias', got {sorted(unknown)}"
        raise ValueError(msg)
    padding_mode = _validate.choice(padding_mode, "padding_mode", _validate.PADDING_MODES, function)
    dtype = forward.input.dtype
    x = _nchw(forward.input, forward.layout)  # batched
    w = forward.weight
    g = np.asarray(grad_output, dtype=dtype)
    out_shape = _nchw(forward.output.array, forward.layout).shape
    g = g[np.newaxis] if g.ndim == 3 else g
    g = _nchw(g, forward.layout)
    if g.shape != out_shape:
        shown = forward.output.result.shape
        msg = f"{function}: `grad_output` must have the forward output's shape {shown}, got {np.shape(grad_output)}"
        raise ValueError(msg)
    (sh, sw), (dh, dw) = forward.stride, forward.dilation
    top, bottom, left, right = forward.padding
    n, c_in, height, width = x.shape
    c_out, c_per_group, kh, kw = w.shape
    out_per_group = c_out // groups
    unbatched = np.ndim(input) == 3

    grad_input = grad_weight = grad_bias = None
    if "bias" in needs:
        grad_bias = g.sum(axis=(0, 2, 3), dtype=np.float64).astype(dtype)
    if "input" in needs:
        # a full convolution of the output gradient with the filters flipped, input and output
        # channels swapped within each group
        reach = ((kh - 1) * dh, (kw - 1) * dw)
        flipped = np.ascontiguousarray(w.reshape(groups, out_per_group, c_per_group, kh, kw).transpose(0, 2, 1, 3, 4)
                                       .reshape(groups * c_per_group, out_per_group, kh, kw)[:, :, ::-1, ::-1])
        if (sh, sw) == (1, 1) and padding_mode == "zeros" and max(top, bottom) <= reach[0] and \
                max(left, right) <= reach[1]:
            # stride 1, zero padding: cut to the input's own rows and columns by its padding,
            # straight into the result (no dilated, padded or folded copies: four
            # activation-sized passes fewer)
            sides = (reach[0] - top, reach[0] - bottom, reach[1] - left, reach[1] - right)
            grad_nchw = conv2d(np.ascontiguousarray(g), flipped, None, 1, sides, (dh, dw), groups, backend=backend)
        else:
            # the output gradient spread back to stride positions first, the result folded back
            # over the padding
            dilated = np.zeros((n, c_out, (out_shape[2] - 1) * sh + 1, (out_shape[3] - 1) * sw + 1), dtype=dtype)
            dilated[:, :, ::sh, ::sw] = g
            grad_read = conv2d(dilated, flipped, None, 1, (reach[0], reach[1]), (dh, dw), groups, backend=backend)
            padded_size = (height + top + bottom, width + left + right)
            grad_padded = np.zeros((n, c_in, *padded_size), dtype=dtype)
            grad_padded[:, :, : grad_read.shape[2], : grad_read.shape[3]] = grad_read  # rows no output read: 0
            grad_nchw = _fold_padding(grad_padded, (height, width), (top, bottom, left, right), padding_mode)
        grad_input = _from_nchw(grad_nchw, forward.layout)
        if unbatched:
            grad_input = grad_input[0]
    if "weight" in needs:
        mode = _validate.NUMPY_PAD_MODE[padding_mode]
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        x_padded = np.pad(x, widths, mode=mode)
        grad_weight = _weight_gradient(x_padded, g, w.shape, groups, (sh, sw), (dh, dw))
    return grad_input, grad_weight, grad_bias


_COLUMNS_BYTES = 64 << 20  # im2col columns per GEMM; the batch is split to stay below


def _weight_gradient(x_padded: np.ndarray, g: np.ndarray, weight_shape: Tuple[int, ...], groups: int,
                     stride: Tuple[int, int], dilation: Tuple[int, int]) -> np.ndarray:
    """grad_w[o, c, p, q] = sum over n, i, j of g[n, o, i, j] * x_padded[n, c, i*sh + p*dh, j*sw + q*dw]:
    per group one GEMM, (C_out/g x N*OH*OW) times the transposed im2col columns (a strided view
    copied in batch chunks), in NumPy's BLAS at fastconv's thread count."""
    from . import _dispatch

    c_out, c_per_group, kh, kw = weight_shape
    n, c_in = x_padded.shape[:2]
    out_h, out_w = g.shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    out_per_group = c_out // groups
    s_n, s_c, s_h, s_w = x_padded.strides
    per_image = c_in * kh * kw * out_h * out_w * x_padded.itemsize
    chunk = max(1, min(n, _COLUMNS_BYTES // max(1, per_image)))
    grad_weight = np.zeros((groups, out_per_group, c_per_group * kh * kw), dtype=np.float64 if
                           x_padded.dtype == np.float64 else np.float32)
    with _dispatch.blas_threads(_dispatch.get_num_threads()):
        for first in range(0, n, chunk):
            images = x_padded[first:first + chunk]
            count = images.shape[0]
            view = np.lib.stride_tricks.as_strided(
                images, shape=(c_in, kh, kw, count, out_h, out_w),
                strides=(s_c, s_h * dh, s_w * dw, s_n, s_h * sh, s_w * sw), writeable=False)
            columns = view.reshape(groups, c_per_group * kh * kw, count * out_h * out_w)  # the copy
            grads = g[first:first + count].transpose(1, 0, 2, 3).reshape(groups, out_per_group, -1)
            grad_weight += np.matmul(grads, columns.transpose(0, 2, 1))
    return grad_weight.reshape(weight_shape).astype(x_padded.dtype, copy=False)


def max_pool2d_backward(grad_output: np.ndarray, indices: np.ndarray, input_shape: Sequence[int], *,
                        layout: str = "NCHW") -> np.ndarray:
    """Gradient of ``max_pool2d``: each output's gradient goes to the input cell that won
    (``indices`` from ``max_pool2d(..., return_indices=True)``), summed where windows overlap.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[1., 5., 2.], [3., 4., 9.], [0., 1., 2.]]])
    >>> values, indices = fastconv.max_pool2d(x, 2, stride=1, return_indices=True)
    >>> fastconv.max_pool2d_backward(np.ones_like(values), indices, x.shape)
    array([[[0., 1., 0.],
            [0., 1., 2.],
            [0., 0., 0.]]])
    """
    function = "max_pool2d_backward"
    layout = _validate.layout_of(layout, function)
    grad = np.asarray(grad_output)
    indices = np.asarray(indices)
    if grad.shape != indices.shape or grad.ndim not in (3, 4):
        msg = f"{function}: `grad_output` {grad.shape} and `indices` {indices.shape} must be the same 3-D or 4-D shape"
        raise ValueError(msg)
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != grad.ndim:
        msg = f"{function}: `input_shape` {input_shape} must have as many dimensions as `grad_output` {grad.shape}"
        raise ValueError(msg)
    unbatched = grad.ndim == 3
    g4 = _nchw(grad[np.newaxis] if unbatched else grad, layout)
    i4 = _nchw(indices[np.newaxis] if unbatched else indices, layout)
    shape4 = (1, *input_shape) if unbatched else input_shape
    n, c, height, width = shape4 if layout == "NCHW" else (shape4[0], shape4[3], shape4[1], shape4[2])
    if g4.shape[:2] != (n, c):
        msg = f"{function}: `grad_output` {grad.shape} does not fit `input_shape` {input_shape} ({layout})"
        raise ValueError(msg)
    flat_indices = i4.reshape(n * c, -1)
    inside = (flat_indices >= 0) & (flat_indices < height * width)  # all-padding windows point nowhere
    # each plane's indices offset into one long axis, then one bincount sums the overlaps
    cells = (flat_indices + (np.arange(n * c) * (height * width))[:, None])[inside]
    planes = np.bincount(cells, weights=g4.reshape(n * c, -1)[inside], minlength=n * c * height * width)
    result = _from_nchw(planes.astype(g4.dtype, copy=False).reshape(n, c, height, width), layout)
    return result[0] if unbatched else result


def avg_pool2d_backward(grad_output: np.ndarray, input_shape: Sequence[int], kernel_size: IntPair,
                        stride: Optional[IntPair] = None, padding: IntPair = 0, ceil_mode: bool = False,
                        count_include_pad: bool = True, divisor_override: Optional[int] = None, *,
                        layout: str = "NCHW") -> np.ndarray:
    """Gradient of ``avg_pool2d``: each output's gradient, divided by its window's divisor, goes
    to every input cell of the window.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.avg_pool2d_backward(np.ones((1, 1, 1)), (1, 2, 2), 2)
    array([[[0.25, 0.25],
            [0.25, 0.25]]])
    """
    function = "avg_pool2d_backward"
    probe = np.zeros(tuple(int(v) for v in input_shape), dtype=np.asarray(grad_output).dtype
                     if np.asarray(grad_output).dtype in _validate.FLOAT_DTYPES else np.float64)
    call = _validate.pool2d_call(function, probe, kernel_size, stride, padding, 1, ceil_mode, layout,
                                 count_include_pad=count_include_pad, divisor_override=divisor_override)
    grad = np.asarray(grad_output, dtype=probe.dtype)
    if grad.shape != call.output.result.shape:
        msg = f"{function}: `grad_output` must have shape {call.output.result.shape}, got {grad.shape}"
        raise ValueError(msg)
    unbatched = probe.ndim == 3
    g = _nchw(grad[np.newaxis] if unbatched else grad, call.layout)
    n, c, height, width = _nchw(call.input, call.layout).shape
    (kh, kw), (sh, sw), (ph, pw) = call.kernel_size, call.stride, call.padding
    out_h, out_w = g.shape[2:]

    def extent(out_size, step, pad, kernel, size):
        start = np.arange(out_size) * step - pad
        end = np.minimum(start + kernel, size + pad)
        return end - start, np.minimum(end, size) - np.maximum(start, 0)

    padded_h, inside_h = extent(out_h, sh, ph, kh, height)
    padded_w, inside_w = extent(out_w, sw, pw, kw, width)
    if call.divisor_override is not None:
        divisor = np.full((out_h, out_w), float(call.divisor_override))
    elif call.count_include_pad:
        divisor = np.outer(padded_h, padded_w).astype(np.float64)
    else:
        divisor = np.outer(inside_h, inside_w).astype(np.float64)
    share = np.where(divisor != 0, g / np.where(divisor == 0, 1, divisor), 0).astype(g.dtype)
    rows_needed = max(height + 2 * ph, (out_h - 1) * sh + kh)
    cols_needed = max(width + 2 * pw, (out_w - 1) * sw + kw)
    accumulated = np.zeros((n, c, rows_needed, cols_needed), dtype=np.float64)
    for p in range(kh):
        for q in range(kw):
            accumulated[:, :, p:p + (out_h - 1) * sh + 1:sh, q:q + (out_w - 1) * sw + 1:sw] += share
    result = _from_nchw(accumulated[:, :, ph:ph + height, pw:pw + width].astype(g.dtype), call.layout)
    return result[0] if unbatched else result


__all__ = ["avg_pool2d_backward", "conv2d_backward", "max_pool2d_backward"]
