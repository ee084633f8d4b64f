"""Shape math: output sizes, padding resolution and parameter counts.

Pure integer arithmetic on already-validated values; the public wrappers at the bottom validate
their own arguments because users call them directly.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

from . import _arguments

Padding = Union[int, str, Tuple[int, int], Tuple[int, int, int, int]]


def conv_extent(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    """Output length of a convolution along one axis (floor division, may be <= 0)."""
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    return -1 if span < 0 else span // stride + 1


def pool_extent(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a pooling along one axis, PyTorch's rule (may be <= 0).

    With ``ceil_mode`` the last window may start inside the input or the left padding, never
    entirely in the right padding.
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1  # floor division, also for a negative span (torch's div_rtn)
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def same_padding(kernel: int, dilation: int) -> Tuple[int, int]:
    """'same' padding (before, after) for stride 1: the extra cell goes after (bottom/right)."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def filter_padding(kernel_shape: Tuple[int, int], mode: str, flip: bool) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """filter2d's padding ((top, bottom), (left, right)) for ``mode``: none for 'valid', k - 1 on
    each side for 'full', and for 'same' scipy.ndimage's anchor, k // 2 before for a correlation
    and one less for a convolution's flipped kernel of even size (origin 0 in both)."""
    if mode == "valid":
        return ((0, 0), (0, 0))
    if mode == "full":
        return tuple((k - 1, k - 1) for k in kernel_shape)  # type: ignore[return-value]
    before = [k // 2 - (1 if flip and k % 2 == 0 else 0) for k in kernel_shape]
    return tuple((b, k - 1 - b) for b, k in zip(before, kernel_shape))  # type: ignore[return-value]


def conv_padding(padding: Padding, kernel_size: Tuple[int, int], dilation: Tuple[int, int],
                 stride: Tuple[int, int], *, function: str = "conv2d") -> Tuple[int, int, int, int]:
    """Resolve conv2d's ``padding`` into explicit (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                msg = f"{function}: padding='same' needs stride 1, got stride={stride} (as in torch)"
                raise ValueError(msg)
            top, bottom = same_padding(kernel_size[0], dilation[0])
            left, right = same_padding(kernel_size[1], dilation[1])
            return (top, bottom, left, right)
        msg = f"{function}: `padding` must be an int, a pair, a 4-tuple, 'same' or 'valid', got {padding!r}"
        raise ValueError(msg)
    return _arguments.padding_sides(padding, "padding", function)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: Union[int, str, Tuple[int, int]] = 0,
                     dilation: int = 1) -> int:
    """Length of a convolution's output along one axis.

    Parameters
    ----------
    size : int
        Input length (height or width).
    kernel_size : int
        Filter length along that axis.
    stride : int, default 1
    padding : int, (before, after), 'same' or 'valid', default 0
        An int pads both ends by that much. 'same' is only defined for stride 1.
    dilation : int, default 1

    Returns
    -------
    int
        ``floor((size + pad_before + pad_after - dilation * (kernel_size - 1) - 1) / stride) + 1``.

    Raises
    ------
    ValueError
        If an argument is out of range or the (dilated) kernel does not fit the padded input.

    Examples
    --------
    The lecture's layer: a 3x3 filter, stride 1, on a 256-pixel side.

    >>> conv_output_size(256, 3)
    254
    >>> conv_output_size(256, 3, padding=1)
    256
    >>> conv_output_size(227, 11, stride=4)  # AlexNet's conv1
    55
    """
    function = "conv_output_size"
    size = _arguments.positive_int(size, "size", function)
    kernel = _arguments.positive_int(kernel_size, "kernel_size", function)
    stride = _arguments.positive_int(stride, "stride", function)
    dilation = _arguments.positive_int(dilation, "dilation", function)
    if isinstance(padding, str):
        if padding == "same" and stride != 1:
            msg = f"{function}: padding='same' needs stride 1, got stride={stride}"
            raise ValueError(msg)
        if padding not in ("same", "valid"):
            msg = f"{function}: `padding` must be an int, a pair, 'same' or 'valid', got {padding!r}"
            raise ValueError(msg)
        before, after = same_padding(kernel, dilation) if padding == "same" else (0, 0)
    else:
        before, after = _arguments.nonnegative_pair(padding, "padding", function)
    out = conv_extent(size, kernel, stride, before, after, dilation)
    if out < 1:
        msg = (f"{function}: the dilated kernel ({dilation * (kernel - 1) + 1}) is larger than the padded "
               f"input ({size + before + after})")
        raise ValueError(msg)
    return out


def pool_output_size(size: int, kernel_size: int, stride: Optional[int] = None, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Length of a pooling's output along one axis (PyTorch's rule).

    Parameters
    ----------
    size : int
        Input length.
    kernel_size : int
        Window length.
    stride : int, optional
        Defaults to ``kernel_size``.
    padding : int, default 0
        Implicit padding on both ends; at most ``kernel_size // 2`` (torch's rule).
    dilation : int, default 1
    ceil_mode : bool, default False
        Round up, so a partial window at the end counts, as long as it starts inside the input
        or the left padding.

    Returns
    -------
    int

    Examples
    --------
    >>> pool_output_size(256, 2)
    128
    >>> pool_output_size(5, 2, ceil_mode=True)   # the lecture's 5x5 map pooled 2x2 / stride 2
    3
    >>> pool_output_size(5, 2)
    2
    """
    function = "pool_output_size"
    size = _arguments.positive_int(size, "size", function)
    kernel = _arguments.positive_int(kernel_size, "kernel_size", function)
    stride = kernel if stride is None else _arguments.positive_int(stride, "stride", function)
    dilation = _arguments.positive_int(dilation, "dilation", function)
    pad = _arguments.nonnegative_int(padding, "padding", function)
    ceil_mode = _arguments.flag(ceil_mode, "ceil_mode", function)
    _arguments.pool_padding_fits((pad, pad), (kernel, kernel), function)
    out = pool_extent(size, kernel, stride, pad, dilation, ceil_mode)
    if out < 1:
        msg = (f"{function}: the window ({dilation * (kernel - 1) + 1}) is larger than the padded input "
               f"({size + 2 * pad}); the output would be empty")
        raise ValueError(msg)
    return out


def conv_param_count(in_channels: int, out_channels: int, kernel_size: Union[int, Tuple[int, int]],
                     bias: bool = True, groups: int = 1) -> int:
    """Number of learnable parameters of a conv layer: weights plus one bias per filter.

    Parameters
    ----------
    in_channels, out_channels : int
        Input depth and number of filters (the layer's depth).
    kernel_size : int or (int, int)
    bias : bool, default True
    groups : int, default 1
        Each filter sees ``in_channels / groups`` channels.

    Returns
    -------
    int
        ``out_channels * (in_channels / groups * kh * kw + bias)``.

    Examples
    --------
    The lecture's layer, 64 filters of 3x3 over an RGB input:

    >>> conv_param_count(3, 64, 3)
    1792
    """
    function = "conv_param_count"
    in_channels = _arguments.positive_int(in_channels, "in_channels", function)
    out_channels = _arguments.positive_int(out_channels, "out_channels", function)
    kh, kw = _arguments.positive_pair(kernel_size, "kernel_size", function)
    bias = _arguments.flag(bias, "bias", function)
    groups = _arguments.positive_int(groups, "groups", function)
    _arguments.groups_divide(in_channels, out_channels, groups, function)
    return out_channels * (in_channels // groups * kh * kw + int(bias))
