"""conv2d: the convolution layer's forward computation."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _dispatch, _shapes, _validate

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
    algorithm : {'auto', 'igemm', 'igemm_channels', 'depthwise', 'winograd', 'direct'}, keyword-only
        The ``cpp`` backend's kernel (the other backends have one and ignore it). ``igemm``:
        implicit GEMM, register-blocked SIMD microkernels over the input split into its stride
        phases (stride-1 unpadded inputs are read in place; a 1x1 stride-1 unpadded NHWC layer is
        one GEMM over the input as it is), output positions in the vector lanes.
        ``igemm_channels``: the same packed input with the output channels in the vector lanes
        and a run of one output row's positions per tile (no padding positions computed; the
        weights transposed chunk by chunk). ``depthwise``: one filter per
        channel (groups == C_in == C_out only, else ValueError): whole output rows in
        registers from a packed copy of each channel, or, for NHWC and for NCHW planes whose
        rows fit a vector, a vector of channels per position. ``winograd``: F(2x2, 3x3), for 3x3
        kernels with stride 1, dilation 1 and groups 1 only (else ValueError); 2.25x fewer
        multiplications, float32 error a few times the direct one (well within 1e-4 relative).
        ``direct``: plain loops the compiler vectorises, kept as a second opinion. ``auto``
        runs depthwise where it applies; with AVX-512 and float32, igemm_channels for ungrouped,
        undilated multi-tap layers with C_in * KH * KW >= 512 whose C_out fills its 32-channel
        blocks (at most 15% padding), and for such 1x1 NCHW layers on planes of <= 256
        positions; below AVX-512 (AVX2, SSE2, NEON), winograd for 3x3 / stride-1 / ungrouped
        layers with C_in and C_out >= 64 on output planes of >= 196 positions whose transforms
        need <= 32 MiB of scratch (0.52-0.84x igemm's time, measured on an AVX2 EPYC Zen 1);
        else igemm.
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
        threads = _dispatch.get_num_threads()
        _dispatch.run(lambda: chosen.conv2d(call, threads), float(call.output.array.size) * call.weight[0].size)
    return call.output.finish()


class Conv2dPlan:
    """A convolution prepared once for a fixed weight, run on many inputs.

    Validates and converts the weight, bias and options once (as an FFTW plan or a oneDNN
    primitive is made once); each call then only checks the input. The plan keeps its own
    copy of the weight and bias, taken when it is made or by ``set_weight``: changing the
    caller's arrays afterwards does not change the plan's results (call ``set_weight`` to do that).
    The ``cpp`` kernels read the weight in place (``igemm_channels`` transposes each chunk of it
    inside its jobs, while the chunk is in cache), so the plan keeps no packed copy.

    Parameters
    ----------
    weight, bias, stride, padding, dilation, groups, padding_mode
        As in ``conv2d``.
    dtype : {numpy.float32, numpy.float64}, default float32
        The dtype of the inputs the plan takes (and of its results).
    layout, activation, algorithm, backend : keyword-only
        As in ``conv2d``.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> plan = fastconv.Conv2dPlan(np.ones((4, 3, 3, 3)), padding=1, dtype=np.float64)
    >>> plan(np.ones((2, 3, 8, 8))).shape
    (2, 4, 8, 8)
    """

    def __init__(self, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride: IntPair = 1,
                 padding: Union[str, int, Tuple[int, int], Tuple[int, int, int, int]] = 0, dilation: IntPair = 1,
                 groups: int = 1, padding_mode: str = "zeros", *, dtype=np.float32, layout: str = "NCHW",
                 activation: Optional[str] = None, algorithm: str = "auto", backend: Optional[str] = None) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in _validate.FLOAT_DTYPES:
            msg = f"Conv2dPlan: `dtype` must be float32 or float64, got {self.dtype}"
            raise TypeError(msg)
        self._options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                             padding_mode=padding_mode, layout=layout, activation=activation, algorithm=algorithm)
        self._backend = backend
        _dispatch.resolve(backend, "Conv2dPlan")
        self.set_weight(weight, bias)

    def set_weight(self, weight: np.ndarray, bias: Optional[np.ndarray] = None) -> None:
        """Replace the plan's weight (and bias), validated against its options."""
        weight = np.array(_validate.float_array(weight, "weight", "Conv2dPlan", dtype=self.dtype), order="C")
        bias = None if bias is None else np.array(_validate.float_array(bias, "bias", "Conv2dPlan", dtype=self.dtype))
        probe_shape = self._probe_input_shape(weight)
        # a throw-away call on the smallest input the weight accepts checks every option now
        _validate.conv2d_call(np.zeros(probe_shape, self.dtype), weight, bias, out=None, **self._options)
        weight.flags.writeable = False
        if bias is not None:
            bias.flags.writeable = False
        self.weight, self.bias = weight, bias

    def _probe_input_shape(self, weight: np.ndarray) -> tuple:
        if weight.ndim != 4:
            msg = f"Conv2dPlan: `weight` must be 4-D (C_out, C_in/groups, KH, KW), got shape {weight.shape}"
            raise ValueError(msg)
        groups = _validate.positive_int(self._options["groups"], "groups", "Conv2dPlan")
        kh, kw = weight.shape[2:]
        stride = _validate.positive_pair(self._options["stride"], "stride", "Conv2dPlan")
        dilation = _validate.positive_pair(self._options["dilation"], "dilation", "Conv2dPlan")
        top, bottom, left, right = _shapes.conv_padding(self._options["padding"], (kh, kw), dilation, stride,
                                                        function="Conv2dPlan")
        # big enough for the dilated kernel and for any padding mode's rule
        size = (dilation[0] * (kh - 1) + 1 + stride[0] + max(top, bottom),
                dilation[1] * (kw - 1) + 1 + stride[1] + max(left, right))
        c = weight.shape[1] * groups
        layout = _validate.layout_of(self._options["layout"], "Conv2dPlan")
        return (1, c, *size) if layout == "NCHW" else (1, *size, c)

    def __call__(self, input: np.ndarray, *, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Convolve ``input`` (of the plan's dtype) with the plan's weight; see ``conv2d``."""
        array = np.asarray(input)
        if array.dtype != self.dtype:
            msg = f"Conv2dPlan: `input` must have the plan's dtype {self.dtype}, got {array.dtype}"
            raise TypeError(msg)
        return conv2d(array, self.weight, self.bias, **self._options, out=out, backend=self._backend)
