"""The reference backend: the specification every other backend is tested against.

Float64 throughout, NumPy slicing, written to be checked by eye rather than to be fast. The
input is turned to NCHW here (the other backends run NHWC natively).
"""

from __future__ import annotations

import numpy as np

from .._validate import Conv2dCall, Filter2dCall, Pool2dCall
from . import _image


def _to_nchw(array: np.ndarray, layout: str) -> np.ndarray:
    return array if layout == "NCHW" else array.transpose(0, 3, 1, 2)


def _write(target: np.ndarray, nchw: np.ndarray, layout: str) -> None:
    target[...] = nchw if layout == "NCHW" else nchw.transpose(0, 2, 3, 1)


def conv2d(call: Conv2dCall, num_threads: int) -> None:
    """out[n, o, i, j] = bias[o] + sum_{c, p, q} x_padded[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw] * w[o, c, p, q]"""
    x = _to_nchw(call.input, call.layout).astype(np.float64)
    weight = call.weight.astype(np.float64)
    top, bottom, left, right = call.padding
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))  # zeros
    n, c_in, _, _ = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    groups = call.groups
    out_nchw_shape = _to_nchw(call.output.array, call.layout).shape
    oh, ow = out_nchw_shape[2], out_nchw_shape[3]
    (sh, sw), (dh, dw) = call.stride, call.dilation

    x_groups = x.reshape(n, groups, c_per_group, *x.shape[2:])
    w_groups = weight.reshape(groups, c_out // groups, c_per_group, kh, kw)
    result = np.zeros((n, groups, c_out // groups, oh, ow))
    for p in range(kh):
        for q in range(kw):
            rows = slice(p * dh, p * dh + (oh - 1) * sh + 1, sh)
            cols = slice(q * dw, q * dw + (ow - 1) * sw + 1, sw)
            window = x_groups[:, :, :, rows, cols]                 # (N, G, Cg, OH, OW)
            result += np.einsum("ngchw,goc->ngohw", window, w_groups[:, :, :, p, q])
    result = result.reshape(n, c_out, oh, ow)
    if call.bias is not None:
        result += call.bias.astype(np.float64)[None, :, None, None]
    if call.relu:
        result = np.where(result < 0, 0.0, result)  # keeps NaN, like torch.relu
    _write(call.output.array, result, call.layout)


def _window_cells(start: int, kernel: int, dilation: int, size: int) -> list:
    """Input positions a window starting at ``start`` covers inside [0, size)."""
    return [start + k * dilation for k in range(kernel) if 0 <= start + k * dilation < size]


def _first_position(start: int, dilation: int) -> int:
    """A window's first position, moved forward by whole dilation steps until it is >= 0."""
    while start < 0:
        start += dilation
    return start


def max_pool2d(call: Pool2dCall, num_threads: int) -> None:
    """Max over each window's input cells; NaN wins (the last NaN's index); ties keep the first index.

    A window with no input cell (possible with dilation) gives -inf and the index of its first
    position moved forward by whole dilation steps, as torch does.
    """
    x = _to_nchw(call.input, call.layout).astype(np.float64)
    n, c, h, w = x.shape
    out_shape = _to_nchw(call.output.array, call.layout).shape
    values = np.empty(out_shape)
    indices = np.empty(out_shape, dtype=np.int64)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = call.kernel_size, call.stride, call.padding, call.dilation
    for i in range(out_shape[2]):
        rows = _window_cells(i * sh - ph, kh, dh, h)
        for j in range(out_shape[3]):
            cols = _window_cells(j * sw - pw, kw, dw, w)
            first_row = _first_position(i * sh - ph, dh)
            first_col = _first_position(j * sw - pw, dw)
            best = np.full((n, c), -np.inf)
            best_index = np.full((n, c), first_row * w + first_col, dtype=np.int64)
            for r in rows:  # row-major scan, the order torch uses
                for s in cols:
                    v = x[:, :, r, s]
                    take = (v > best) | np.isnan(v)
                    best = np.where(take, v, best)
                    best_index = np.where(take, r * w + s, best_index)
            values[:, :, i, j] = best
            indices[:, :, i, j] = best_index
    _write(call.output.array, values, call.layout)
    if call.indices is not None:
        _write(call.indices.array, indices, call.layout)


def avg_pool2d(call: Pool2dCall, num_threads: int) -> None:
    """Mean over each window, with torch's divisor.

    The window is clipped to the padded input (that area is the divisor with
    count_include_pad), then to the input (the divisor without it); ``divisor_override``
    replaces either. A window with no input cell gives 0.
    """
    x = _to_nchw(call.input, call.layout).astype(np.float64)
    _, _, h, w = x.shape
    out_shape = _to_nchw(call.output.array, call.layout).shape
    result = np.zeros(out_shape)
    (kh, kw), (sh, sw), (ph, pw) = call.kernel_size, call.stride, call.padding
    for i in range(out_shape[2]):
        r0 = i * sh - ph
        r1 = min(r0 + kh, h + ph)
        for j in range(out_shape[3]):
            c0 = j * sw - pw
            c1 = min(c0 + kw, w + pw)
            padded_area = (r1 - r0) * (c1 - c0)
            rows = slice(max(r0, 0), min(r1, h))
            cols = slice(max(c0, 0), min(c1, w))
            cells = x[:, :, rows, cols]
            if cells.shape[2] == 0 or cells.shape[3] == 0:
                continue
            if call.divisor_override is not None:
                divisor = call.divisor_override
            elif call.count_include_pad:
                divisor = padded_area
            else:
                divisor = cells.shape[2] * cells.shape[3]
            result[:, :, i, j] = cells.sum(axis=(2, 3)) / divisor
    _write(call.output.array, result, call.layout)


def filter2d(call: Filter2dCall, num_threads: int) -> None:
    """out[p, i, j, c] = sum_{r, q} kernel[r, q] * x_padded[p, i + r, j + q, c], in float64 (the
    separable taps, when given, are not used: the spec sums the whole kernel)."""
    x = _image.padded_image(call, np.dtype(np.float64))
    _, oh, ow, _ = call.output.shape
    total = np.zeros(call.output.shape)
    for r in range(call.kernel.shape[0]):
        for q in range(call.kernel.shape[1]):
            total += call.kernel[r, q] * x[:, r:r + oh, q:q + ow, :]
    _image.store(call.output, total)
