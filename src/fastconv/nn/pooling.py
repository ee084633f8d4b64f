"""Pooling layers: ``MaxPool2d``, ``AvgPool2d`` (fastconv's kernels) and ``AdaptiveAvgPool2d``."""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from .. import _validate
from ..grad import avg_pool2d_backward, max_pool2d_backward
from ..pool import avg_pool2d, max_pool2d
from .module import IntPair, Module


class MaxPool2d(Module):
    """``torch.nn.MaxPool2d``: max over each window of each channel."""

    def __init__(self, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
                 dilation: IntPair = 1, ceil_mode: bool = False, *, layout: str = "NCHW") -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode, self.layout = dilation, ceil_mode, layout

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training:
            return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              layout=self.layout)
        values, indices = max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                                     return_indices=True, layout=self.layout)
        self._save(_indices=indices, _input_shape=np.shape(x))
        return values

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        return max_pool2d_backward(grad_output, self._saved("_indices"), self._saved("_input_shape"),
                                   layout=self.layout)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(Module):
    """``torch.nn.AvgPool2d``: mean over each window of each channel."""

    def __init__(self, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Optional[int] = None,
                 *, layout: str = "NCHW") -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override, self.layout = count_include_pad, divisor_override, layout

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._save(_input_shape=np.shape(x))
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override, layout=self.layout)

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        return avg_pool2d_backward(grad_output, self._saved("_input_shape"), self.kernel_size, self.stride,
                                   self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override,
                                   layout=self.layout)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """``torch.nn.AdaptiveAvgPool2d`` (NCHW): output cell i averages input rows
    floor(i * H / out) to ceil((i + 1) * H / out), and likewise for columns."""

    def __init__(self, output_size: IntPair) -> None:
        super().__init__()
        self.output_size = _validate.positive_pair(output_size, "output_size", "AdaptiveAvgPool2d")

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim not in (3, 4):
            msg = f"AdaptiveAvgPool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}"
            raise ValueError(msg)
        self._save(_input_shape=x.shape)
        rows, cols = self._windows(x.shape)
        out = np.empty((*x.shape[:-2], len(rows), len(cols)), dtype=x.dtype)
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                out[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1), dtype=np.float64)
        return out

    def _windows(self, shape: Tuple[int, ...]) -> Tuple[List[Tuple[int, int]], List[Tuple[int, int]]]:
        height, width = shape[-2:]
        out_h, out_w = self.output_size
        rows = [(i * height // out_h, -(-(i + 1) * height // out_h)) for i in range(out_h)]
        cols = [(j * width // out_w, -(-(j + 1) * width // out_w)) for j in range(out_w)]
        return rows, cols

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        shape = self._saved("_input_shape")
        grad = np.asarray(grad_output)
        rows, cols = self._windows(shape)
        grad_input = np.zeros(shape, dtype=grad.dtype)
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                grad_input[..., r0:r1, c0:c1] += grad[..., i, j, None, None] / ((r1 - r0) * (c1 - c0))
        return grad_input

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
