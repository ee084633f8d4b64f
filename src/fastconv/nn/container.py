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


class Residual(Module):
    """A residual connection: ``body(x) + shortcut(x)``, the shortcut the identity when None.

    The gradient for ``x`` is the sum of the two branches' gradients. A ReLU after the sum (as
    in a ResNet block) is a separate layer: ``Sequential(Residual(body, shortcut), ReLU())``.

    Parameters
    ----------
    body : Module
        The residual branch, e.g. conv-BN-ReLU-conv-BN.
    shortcut : Module or None
        The projection when the body changes the shape (a strided 1x1 conv + BN); None for
        the identity.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import nn
    >>> block = nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, rng=0), nn.ReLU()))
    >>> x = np.ones((1, 8, 5, 5), np.float32)
    >>> bool(np.allclose(block(x), block.body(x) + x))
    True
    >>> list(block.state_dict())
    ['body.0.weight', 'body.0.bias']
    """

    def __init__(self, body: Module, shortcut: Optional[Module] = None) -> None:
        super().__init__()
        for name, module in (("body", body), ("shortcut", shortcut)):
            if module is not None and not isinstance(module, Module):
                msg = f"Residual: `{name}` is a {type(module).__name__}, not a Module"
                raise TypeError(msg)
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: np.ndarray) -> np.ndarray:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.body(x)
        if np.shape(out) != np.shape(identity):
            msg = (f"Residual: the body gives shape {np.shape(out)}, the shortcut {np.shape(identity)}; "
                   f"give a shortcut that maps the input to the body's shape")
            raise ValueError(msg)
        if isinstance(out, np.ndarray) and out.flags.writeable and not np.may_share_memory(out, x):
            out += identity  # the body's fresh output: no second activation-sized array
            return out
        return np.add(out, identity)  # never write into the caller's input

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        grad_body = self.body.backward(grad_output, need_input=need_input)
        if self.shortcut is None:
            return grad_body + grad_output if need_input else None
        grad_shortcut = self.shortcut.backward(grad_output, need_input=need_input)
        return grad_body + grad_shortcut if need_input else None
