"""``Conv2d``: a convolution layer on fastconv's kernels, its backward through ``conv2d_backward``."""

from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

from .. import _validate
from ..conv import conv2d
from ..grad import conv2d_backward
from .module import IntPair, Module, Parameter, _accumulate, _rng, _uniform


class Conv2d(Module):
    """A convolution layer: ``out_channels`` filters of ``kernel_size`` over ``in_channels``.

    Arguments and defaults as ``torch.nn.Conv2d``; weights initialised as torch does
    (uniform in +-1/sqrt(fan_in), fan_in = in_channels / groups * kh * kw), from ``rng``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: Union[str, IntPair] = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, dtype=np.float32, layout: str = "NCHW",
                 rng: Union[None, int, np.random.Generator] = None) -> None:
        super().__init__()
        name = "Conv2d"
        self.in_channels = _validate.positive_int(in_channels, "in_channels", name)
        self.out_channels = _validate.positive_int(out_channels, "out_channels", name)
        self.kernel_size = _validate.positive_pair(kernel_size, "kernel_size", name)
        self.groups = _validate.positive_int(groups, "groups", name)
        _validate.groups_divide(self.in_channels, self.out_channels, self.groups, name)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.padding_mode, self.layout = padding_mode, layout
        generator = _rng(rng)
        fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = Parameter(_uniform(generator, bound, (self.out_channels, self.in_channels // self.groups,
                                                            *self.kernel_size), dtype))
        self.bias = Parameter(_uniform(generator, bound, (self.out_channels,), dtype)) if bias else None
        if not bias:
            self._parameters["bias"] = None

    def forward(self, x: np.ndarray, activation: Optional[str] = None) -> np.ndarray:
        self._save(_input=x)
        return self.apply(x, self.weight.data, None if self.bias is None else self.bias.data, activation)

    def apply(self, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
              activation: Optional[str] = None) -> np.ndarray:
        """This layer's convolution (stride, padding, dilation, groups, layout) with the given
        weight and bias in place of its own; nothing is kept for backward."""
        return conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups, self.padding_mode,
                      layout=self.layout, activation=activation)

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        x = self._saved("_input")
        needs = (("input",) if need_input else ()) + ("weight",) + (("bias",) if self.bias is not None else ())
        grad_input, grad_weight, grad_bias = conv2d_backward(grad_output, x, self.weight.data, self.stride,
                                                             self.padding, self.dilation, self.groups,
                                                             self.padding_mode, layout=self.layout, needs=needs)
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}" + (f", groups={self.groups}" if self.groups != 1 else "")
                + (", bias=False" if self.bias is None else ""))
