"""CNN layers on NumPy arrays, with PyTorch's names, defaults, initialisation and state-dict keys.

The lecture's network is built from these: ``Conv2d`` (filters, stride, depth, zero padding, a
bias per filter), ``ReLU``, ``MaxPool2d``, ``Flatten``, ``Linear`` and ``Softmax``, chained by
``Sequential``; ``summary`` answers the lecture's shape and parameter questions. Forward passes
run on fastconv's kernels. There is no tape: in training mode each layer keeps what its
``backward(grad_output)`` needs, which returns the gradient for its input and adds to its
parameters' ``.grad``; ``fastconv.optim`` then updates them.

Examples
--------
>>> import numpy as np
>>> from fastconv import nn
>>> model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
...                       nn.Linear(64 * 15 * 15, 10), nn.Softmax(dim=1))
>>> model(np.zeros((1, 3, 32, 32), np.float32)).shape
(1, 10)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _dispatch, _validate
from .conv import conv2d
from .grad import avg_pool2d_backward, conv2d_backward, max_pool2d_backward
from .pool import avg_pool2d, max_pool2d

IntPair = Union[int, Tuple[int, int]]

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "Linear", "LogSoftmax",
    "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "Softmax", "summary",
]


class Parameter:
    """A learnable array: ``data`` (ndarray) and ``grad`` (ndarray or None)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.ascontiguousarray(data)
        self.grad: Optional[np.ndarray] = None

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base of every layer: holds parameters and sub-modules in the order they are assigned."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - every layer defines it
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        """The gradient for the last training-mode forward's input (None when ``need_input`` is
        False, which spares the first layer's input gradient); adds to parameters' ``.grad``."""
        msg = f"{type(self).__name__}.backward: this layer has no backward pass"
        raise NotImplementedError(msg)

    def _saved(self, name: str) -> Any:
        value = self.__dict__.get(name)
        if value is None:
            msg = (f"{type(self).__name__}.backward: no forward pass in training mode to take the gradient of "
                   f"(call model.train() and run forward first)")
            raise RuntimeError(msg)
        return value

    def _save(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value if self.training else None)

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, Parameter]]:
        for name, parameter in self._parameters.items():
            if parameter is not None:
                yield prefix + name, parameter
        for name, module in self._modules.items():
            yield from module.named_parameters(prefix + name + ".")

    def parameters(self) -> List[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[Tuple[str, "Module"]]:
        yield prefix.rstrip("."), self
        for name, module in self._modules.items():
            yield from module.named_modules(prefix + name + ".")

    def train(self, mode: bool = True) -> "Module":
        for _, module in self.named_modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for parameter in self.parameters():
            parameter.grad = None

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter under PyTorch's key names (``features.0.weight``, ...)."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Load arrays (or CPU tensors) by key; shapes must match, and with ``strict`` the keys too.

        Values are converted to each parameter's dtype.
        """
        own = dict(self.named_parameters())
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                msg = f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                raise KeyError(msg)
        for name, value in state.items():
            if name not in own:
                continue
            if hasattr(value, "detach"):  # a torch tensor
                value = value.detach().cpu().numpy()
            array = np.asarray(value)
            target = own[name]
            if array.shape != target.data.shape:
                msg = f"load_state_dict: {name!r} has shape {array.shape}, the model expects {target.data.shape}"
                raise ValueError(msg)
            target.data = np.ascontiguousarray(array, dtype=target.data.dtype)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, module in self._modules.items():
            lines += [f"  ({name}): " + repr(module).replace("\n", "\n  ")]
        return "\n".join(lines + [")"])


def _accumulate(parameter: Optional[Parameter], grad: Optional[np.ndarray]) -> None:
    if parameter is None or grad is None:
        return
    grad = grad.astype(parameter.data.dtype, copy=False)
    parameter.grad = grad.copy() if parameter.grad is None else parameter.grad + grad


def _uniform(rng: np.random.Generator, bound: float, shape: Sequence[int], dtype) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _rng(seed: Union[None, int, np.random.Generator]) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


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
        return conv2d(x, self.weight.data, None if self.bias is None else self.bias.data, self.stride, self.padding,
                      self.dilation, self.groups, self.padding_mode, layout=self.layout, activation=activation)

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


class ReLU(Module):
    """max(x, 0) elementwise (NaN stays NaN)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.maximum(x, np.zeros((), np.asarray(x).dtype))  # NaN stays NaN
        self._save(_positive=y > 0 if self.training else None)
        return y

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> np.ndarray:
        return np.where(self._saved("_positive"), grad_output, np.zeros((), np.asarray(grad_output).dtype))


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
        return y + self.bias.data if self.bias is not None else y

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
    the identity in eval mode."""

    def __init__(self, p: float = 0.5, *, rng: Union[None, int, np.random.Generator] = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            msg = f"Dropout: `p` must be in [0, 1], got {p}"
            raise ValueError(msg)
        self.p = float(p)
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


class Sequential(Module):
    """Modules applied in order, named "0", "1", ... (PyTorch's state-dict keys). A shape error
    inside names the layer and the shape it was given."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                msg = f"Sequential: item {index} is a {type(module).__name__}, not a Module"
                raise TypeError(msg)
            setattr(self, str(index), module)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x: np.ndarray) -> np.ndarray:
        items = list(self._modules.items())
        skip = False
        for index, (name, module) in enumerate(items):
            if skip:  # a ReLU already applied by the Conv2d before it
                skip = False
                continue
            shape = np.shape(x)
            following = items[index + 1][1] if index + 1 < len(items) else None
            try:
                if type(module) is Conv2d and type(following) is ReLU and "forward" not in module.__dict__:
                    # conv + ReLU in one pass of the kernel; the ReLU keeps its mask for backward
                    x = module.forward(x, activation="relu")
                    following._save(_positive=x > 0 if following.training else None)
                    skip = True
                else:
                    x = module(x)
            except (ValueError, TypeError) as error:
                msg = f"layer {name} ({type(module).__name__}) given input of shape {shape}: {error}"
                raise type(error)(msg) from error
        return x

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        modules = list(self._modules.values())
        for index in range(len(modules) - 1, -1, -1):
            grad_output = modules[index].backward(grad_output, need_input=need_input or index > 0)
        return grad_output


class CrossEntropyLoss(Module):
    """Mean of -log softmax(logits)[label] over the batch, as ``torch.nn.CrossEntropyLoss``.

    ``loss = criterion(logits, labels)`` returns a float; ``criterion.backward()`` the gradient
    for the logits.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray = None) -> float:  # type: ignore[override]
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            msg = f"CrossEntropyLoss: logits must be (N, classes) and labels (N,), got {logits.shape} and {labels.shape}"
            raise ValueError(msg)
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            msg = f"CrossEntropyLoss: labels must be in [0, {logits.shape[1]}), got {labels.min()}..{labels.max()}"
            raise ValueError(msg)
        log_probabilities = LogSoftmax(dim=1).eval()(logits.astype(np.float64))
        object.__setattr__(self, "_probabilities", np.exp(log_probabilities))
        object.__setattr__(self, "_labels", labels)
        object.__setattr__(self, "_dtype", logits.dtype)
        return float(-log_probabilities[np.arange(len(labels)), labels].mean())

    def __call__(self, logits: np.ndarray, labels: np.ndarray) -> float:  # type: ignore[override]
        return self.forward(logits, labels)

    def backward(self, grad_output: Optional[np.ndarray] = None) -> np.ndarray:  # type: ignore[override]
        """d loss / d logits = (softmax(logits) - one_hot(labels)) / N."""
        probabilities = self._saved("_probabilities")
        labels = self._labels
        grad = probabilities.copy()
        grad[np.arange(len(labels)), labels] -= 1.0
        grad /= max(1, len(labels))
        if grad_output is not None:
            grad *= float(np.asarray(grad_output))
        return grad.astype(self._dtype)


def summary(model: Module, input_shape: Sequence[int], dtype=np.float32) -> str:
    """A table of the model's layers: output shape and parameter count of each, and the totals.

    ``input_shape`` is one sample's shape, e.g. ``(3, 256, 256)``; a batch of one zero sample is
    run through the model to find the shapes.

    Examples
    --------
    The lecture's layer: 64 filters of 3x3 over a 256x256 RGB image, then 2x2 max pooling.

    >>> from fastconv import nn
    >>> print(nn.summary(nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.MaxPool2d(2)), (3, 256, 256)))
    layer        output shape           parameters
    0 Conv2d     (64, 254, 254)              1,792
    1 ReLU       (64, 254, 254)                  0
    2 MaxPool2d  (64, 127, 127)                  0
    total                                    1,792
    """
    x = np.zeros((1, *input_shape), dtype=dtype)
    rows: List[Tuple[str, Tuple[int, ...], int]] = []
    leaves = [(name, module) for name, module in model.named_modules() if not module._modules]
    if leaves == [("", model)]:
        leaves = [(type(model).__name__, model)]
    originals = {}
    modes = {id(module): module.training for _, module in model.named_modules()}
    for name, module in leaves:
        def traced(x, module=module, name=name):
            out = type(module).forward(module, x)
            rows.append((f"{name} {type(module).__name__}", np.shape(out)[1:],
                         sum(p.data.size for p in module.parameters())))
            return out
        originals[id(module)] = module.__dict__.get("forward")
        object.__setattr__(module, "forward", traced)
    try:
        model.eval()
        model(x)
    finally:
        for _, module in leaves:
            if originals[id(module)] is None:
                object.__delattr__(module, "forward")
            else:
                object.__setattr__(module, "forward", originals[id(module)])
        for _, module in model.named_modules():
            object.__setattr__(module, "training", modes[id(module)])
    total = sum(p.data.size for p in model.parameters())
    width = max([len("layer")] + [len(name) for name, _, _ in rows]) + 2
    lines = [f"{'layer':{width}s}{'output shape':22s} {'parameters':>10s}"]
    lines += [f"{name:{width}s}{str(tuple(shape)):22s} {count:>10,}" for name, shape, count in rows]
    lines.append(f"{'total':{width}s}{'':22s} {total:>10,}")
    return "\n".join(lines)
