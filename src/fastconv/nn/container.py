"""``Sequential``: modules applied in order (a Conv2d followed by a ReLU runs as one fused kernel)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .activation import ReLU
from .conv import Conv2d
from .module import Module


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
