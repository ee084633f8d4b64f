"""``Sequential``: modules applied in order (a Conv2d followed by a ReLU runs as one fused kernel, and in
eval mode a Conv2d followed by a BatchNorm2d as one folded convolution)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .activation import ReLU, ReLU6
from .conv import Conv2d
from .module import Module
from .normalization import BatchNorm2d


def conv_norm_activation(x: np.ndarray, conv: Module, norm: Module,
                         activation: Optional[Module] = None) -> np.ndarray:
    """``activation(norm(conv(x)))`` (``activation`` may be None), with, in eval mode, a
    ``BatchNorm2d``'s running statistics folded into the convolution's weights and bias and a
    ``ReLU`` (or ``ReLU6``'s lower bound) applied by the kernel: one pass over the output
    instead of three to five.

    The folded weights are made on every call (weights changed in place are never stale), so the
    fold is taken where that costs less than the passes it saves: the weights no larger than the
    input. Otherwise, in training mode, for subclasses and for NHWC layers, the layers run one
    after the other. Float32 results differ from the unfolded ones by rounding (~1e-7 relative).
    """
    if not _foldable(conv, norm, x):
        y = norm(conv(x))
        return y if activation is None else activation(y)
    scale, shift = norm.running_affine()
    weight = conv.weight.data
    folded = weight * scale.astype(weight.dtype)[:, None, None, None]
    bias = shift if conv.bias is None else conv.bias.data.astype(np.float64) * scale + shift
    relu = type(activation) in (ReLU, ReLU6) and "forward" not in activation.__dict__
    conv._save(_input=None)
    norm._save(_cache=None)
    y = conv.apply(x, folded, bias.astype(weight.dtype), activation="relu" if relu else None)
    if activation is None:
        return y
    if not relu:
        return activation(y)
    if type(activation) is ReLU6:
        # the upper bound after the kernel's max(x, 0); np.clip is one SIMD pass (np.minimum with a
        # scalar took twice its time), NaN stays NaN
        np.clip(y, np.zeros((), y.dtype), np.full((), 6, y.dtype), out=y)
        activation._save(_passes=None)
    else:
        activation._save(_positive=None)
    return y


def _foldable(conv: Module, norm: Module, x: np.ndarray) -> bool:
    """Whether `conv` -> `norm` runs as one folded convolution on `x` (norm in eval mode with
    running statistics, so that ``norm.running_affine()`` gives its map)."""
    return (type(conv) is Conv2d and type(norm) is BatchNorm2d and "forward" not in conv.__dict__
            and "forward" not in norm.__dict__ and not conv.training and not norm.training
            and norm.running_mean is not None and conv.layout == "NCHW"
            and conv.out_channels == norm.num_features and isinstance(x, np.ndarray) and x.ndim == 4
            and conv.weight.data.size <= x.size)


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
        skip = 0
        for index, (name, module) in enumerate(items):
            if skip:  # a BatchNorm / ReLU already applied by the Conv2d before it
                skip -= 1
                continue
            shape = np.shape(x)
            following = items[index + 1][1] if index + 1 < len(items) else None
            try:
                after = items[index + 2][1] if index + 2 < len(items) else None
                if _foldable(module, following, x):
                    # eval mode: conv + BatchNorm (+ ReLU / ReLU6) as one folded convolution
                    fused = type(after) in (ReLU, ReLU6)
                    x = conv_norm_activation(x, module, following, after if fused else None)
                    skip = 2 if fused else 1
                elif type(module) is Conv2d and type(following) is ReLU and "forward" not in module.__dict__:
                    # conv + ReLU in one pass of the kernel; the ReLU keeps its mask for backward
                    x = module.forward(x, activation="relu")
                    following._save(_positive=x > 0 if following.training else None)
                    skip = 1
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
