"""``Linear`` (on NumPy's BLAS) and the layers that only reshape, mask or pass on: ``Flatten``,
``Dropout``, ``Identity``."""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np

from .. import _dispatch, _validate
from .module import Module, Parameter, _accumulate, _rng, _uniform


class Flatten(Module):
    """Joins dimensions ``start_dim`` .. ``end_dim`` into one (a 7x7x5 map -> 245 features)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self._save(_input_shape=x.shape)
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:])

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        return np.asarray(grad_output).reshape(self._saved("_input_shape"))


class Linear(Module):
    """A fully connected layer, y = x W^T + b, as ``torch.nn.Linear`` (same initialisation)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype=np.float32,
                 rng: Union[None, int, np.random.Generator] = None) -> None:
        super().__init__()
        self.in_features = _validate.positive_int(in_features, "in_features", "Linear")
        self.out_features = _validate.positive_int(out_features, "out_features", "Linear")
        generator = _rng(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(_uniform(generator, bound, (self.out_features, self.in_features), dtype))
        self.bias = Parameter(_uniform(generator, bound, (self.out_features,), dtype)) if bias else None
        if not bias:
            self._parameters["bias"] = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            msg = f"Linear: input of shape {x.shape} must end in in_features={self.in_features}"
            raise ValueError(msg)
        self._save(_input=x)
        rows = int(np.prod(x.shape[:-1]))
        if rows <= 8:
            # Measured with OpenBLAS: a few rows run faster as W x^T than as x W^T, and on one
            # thread, whose pool then does not spin against the convolutions' threads afterwards.
            with _dispatch.blas_threads(1):
                y = np.ascontiguousarray((self.weight.data @ x.reshape(rows, -1).T).T).reshape(*x.shape[:-1], -1)
        else:
            with _dispatch.blas_threads(_dispatch.get_num_threads()):
                y = x @ self.weight.data.T
        if self.bias is None:
            return y
        if np.result_type(y, self.bias.data) == y.dtype:  # y is this call's own array: add in place
            y += self.bias.data
            return y
        return y + self.bias.data

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        x = self._saved("_input")
        grad = np.asarray(grad_output)
        flat_grad = grad.reshape(-1, self.out_features)
        with _dispatch.blas_threads(_dispatch.get_num_threads()):
            _accumulate(self.weight, flat_grad.T @ x.reshape(-1, self.in_features))
            if self.bias is not None:
                _accumulate(self.bias, flat_grad.sum(axis=0))
            return grad @ self.weight.data if need_input else None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Dropout(Module):
    """Zeroes each element with probability ``p`` while training (scaling the rest by 1/(1-p));
    the identity in eval mode. ``inplace`` is accepted for torch's signature; the masked
    result is always a new array (the mask is drawn at the input's size anyway)."""

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 rng: Union[None, int, np.random.Generator] = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            msg = f"Dropout: `p` must be in [0, 1], got {p}"
            raise ValueError(msg)
        self.p = float(p)
        self.inplace = bool(inplace)
        self._rng = _rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not self.training or self.p == 0.0:
            self._save(_scale=None)
            return x
        scale = np.zeros(x.shape, x.dtype) if self.p == 1.0 else \
            (self._rng.random(x.shape) >= self.p).astype(x.dtype) / np.asarray(1.0 - self.p, x.dtype)
        self._save(_scale=scale)
        return x * scale

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        scale = self.__dict__.get("_scale")
        return np.asarray(grad_output) if scale is None else np.asarray(grad_output) * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Identity(Module):
    """Returns its input unchanged, as ``torch.nn.Identity`` (a placeholder, e.g. for a skipped
    layer; any arguments are ignored)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        return grad_output if need_input else None
