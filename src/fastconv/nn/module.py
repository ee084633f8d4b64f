"""The base of every layer: ``Parameter``, ``Module`` (parameters, sub-modules, modes, state
dicts), the helpers the layers share, and ``summary``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

IntPair = Union[int, Tuple[int, int]]


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
