"""The base of every layer: ``Parameter``, ``Module`` (parameters, buffers, sub-modules, modes,
state dicts, dtype conversion), the helpers the layers share, and ``summary``."""

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
    """Base of every layer: holds parameters, buffers and sub-modules in the order they are assigned.

    Buffers are arrays that are state but not learnt (``BatchNorm2d``'s running statistics):
    declared with ``register_buffer``, they are in ``state_dict()`` and converted by ``to()``, but
    not in ``parameters()``. Assigning to a buffer's attribute replaces the buffer.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffers", ()):  # (attributes set before Module.__init__ still work)
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array: Optional[np.ndarray]) -> None:
        """Declare ``name`` a buffer holding ``array`` (None: declared, but left out of the state
        dict until an array is assigned, as torch's buffers of None)."""
        self._buffers[name] = None if array is None else np.asarray(array)
        object.__setattr__(self, name, self._buffers[name])

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

    def named_buffers(self, prefix: str = "") -> Iterator[Tuple[str, np.ndarray]]:
        for name, buffer in self._buffers.items():
            if buffer is not None:
                yield prefix + name, buffer
        for name, module in self._modules.items():
            yield from module.named_buffers(prefix + name + ".")

    def buffers(self) -> List[np.ndarray]:
        return [b for _, b in self.named_buffers()]

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

    def to(self, dtype: Any) -> "Module":
        """Convert every floating parameter (and its ``.grad``) and buffer to ``dtype``, float32 or
        float64, as torch's ``Module.to(dtype)``: integer buffers (``num_batches_tracked``) keep
        theirs. Returns the module itself.
        """
        target = np.dtype(dtype)
        if target not in (np.dtype(np.float32), np.dtype(np.float64)):
            msg = f"Module.to: `dtype` must be float32 or float64, got {target}"
            raise TypeError(msg)
        for _, module in self.named_modules():
            for parameter in module._parameters.values():
                if parameter is not None:
                    parameter.data = parameter.data.astype(target, copy=False)
                    if parameter.grad is not None:
                        parameter.grad = parameter.grad.astype(target, copy=False)
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.dtype.kind == "f":
                    setattr(module, name, buffer.astype(target, copy=False))
        return self

    def float(self) -> "Module":
        """``to(np.float32)``."""
        return self.to(np.float32)

    def double(self) -> "Module":
        """``to(np.float64)``."""
        return self.to(np.float64)

    def _state(self, prefix: str = "") -> Iterator[Tuple[str, "Module", str, np.ndarray]]:
        """(key, owner, attribute, array) of every parameter and buffer, in torch's state-dict
        order: a module's parameters, then its buffers, then its sub-modules'."""
        for name, parameter in self._parameters.items():
            if parameter is not None:
                yield prefix + name, self, name, parameter.data
        for name, buffer in self._buffers.items():
            if buffer is not None:
                yield prefix + name, self, name, buffer
        for name, module in self._modules.items():
            yield from module._state(prefix + name + ".")

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer under PyTorch's key names (``features.0.weight``,
        ``bn1.running_mean``, ...)."""
        return OrderedDict((key, array.copy()) for key, _, _, array in self._state())

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Load arrays (or CPU tensors) by key; shapes must match, and with ``strict`` the keys too.

        Values are copied (the model never shares memory with ``state``) and converted to each
        parameter's or buffer's dtype.
        """
        own = {key: (owner, name, array) for key, owner, name, array in self._state()}
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                msg = f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                raise KeyError(msg)
        for key, value in state.items():
            if key not in own:
                continue
            if hasattr(value, "detach"):  # a torch tensor
                value = value.detach().cpu().numpy()
            array = np.asarray(value)
            owner, name, current = own[key]
            if array.shape != current.shape:
                msg = f"load_state_dict: {key!r} has shape {array.shape}, the model expects {current.shape}"
                raise ValueError(msg)
            copy = np.array(array, dtype=current.dtype, order="C", copy=True)
            if name in owner._parameters:
                owner._parameters[name].data = copy
            else:
                setattr(owner, name, copy)

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
    """Add a gradient the layer just computed (a fresh array it hands over: kept, not copied) to
    the parameter's; a second backward adds into the first's array in place, as torch does."""
    if parameter is None or grad is None:
        return
    grad = grad.astype(parameter.data.dtype, copy=False)
    current = parameter.grad
    if current is None:
        parameter.grad = grad
    elif current.shape == grad.shape and current.dtype == grad.dtype and current.flags.writeable:
        current += grad
    else:
        parameter.grad = current + grad


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
