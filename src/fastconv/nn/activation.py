"""Elementwise and normalising activations: ``ReLU``, ``ReLU6``, ``Softmax``, ``LogSoftmax``."""

from __future__ import annotations

import numpy as np

from .module import Module


class ReLU(Module):
    """max(x, 0) elementwise (NaN stays NaN)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.maximum(x, np.zeros((), np.asarray(x).dtype))  # NaN stays NaN
        self._save(_positive=y > 0 if self.training else None)
        return y

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        return np.where(self._saved("_positive"), grad_output, np.zeros((), np.asarray(grad_output).dtype))


class ReLU6(Module):
    """min(max(x, 0), 6) elementwise, as ``torch.nn.ReLU6`` (MobileNetV2's activation).

    NaN stays NaN; the gradient passes where 0 < x < 6, so not at NaN (torch's vectorised kernel
    gives 0 there too, its scalar loop over a tensor's last elements passes the gradient).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        dtype = np.asarray(x).dtype
        y = np.minimum(np.maximum(x, np.zeros((), dtype)), np.full((), 6, dtype))  # NaN stays NaN
        self._save(_passes=(y > 0) & (y < 6) if self.training else None)
        return y

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        return np.where(self._saved("_passes"), grad_output, np.zeros((), np.asarray(grad_output).dtype))


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        shifted = np.exp(x - x.max(axis=self.dim, keepdims=True))
        y = shifted / shifted.sum(axis=self.dim, keepdims=True)
        self._save(_output=y)
        return y

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        y = self._saved("_output")
        grad = np.asarray(grad_output)
        return y * (grad - (grad * y).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        shifted = x - x.max(axis=self.dim, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=self.dim, keepdims=True))
        self._save(_output=y)
        return y

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        y = self._saved("_output")
        grad = np.asarray(grad_output)
        return grad - np.exp(y) * grad.sum(axis=self.dim, keepdims=True)
