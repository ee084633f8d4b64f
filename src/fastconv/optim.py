"""Optimisers with PyTorch's update rules: ``SGD`` (momentum, dampening, weight decay,
Nesterov) and ``Adam``. They update ``Parameter.data`` in place from ``Parameter.grad``."""

from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

import numpy as np

from .nn import Parameter


class Optimizer:
    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params: List[Parameter] = list(params)
        if not self.params:
            msg = f"{type(self).__name__}: got an empty parameter list"
            raise ValueError(msg)
        if not lr > 0:
            msg = f"{type(self).__name__}: `lr` must be positive, got {lr}"
            raise ValueError(msg)
        self.lr = float(lr)
        self.state: Dict[int, Dict[str, np.ndarray]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class SGD(Optimizer):
    """p -= lr * d, with d = grad + weight_decay * p, through momentum (and Nesterov) as torch."""

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            msg = "SGD: Nesterov momentum needs momentum > 0 and dampening 0"
            raise ValueError(msg)
        self.momentum, self.dampening, self.weight_decay, self.nesterov = momentum, dampening, weight_decay, nesterov

    def step(self) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            state = self.state.setdefault(id(p), {}) if self.momentum else {}
            first = self.momentum and "buffer" not in state
            if first:
                state["buffer"] = np.empty(p.data.shape, p.data.dtype)  # C order: its flat pieces are views
            buffer = state.get("buffer")
            for data, grad, buf, scratch in _pieces(p, buffer):
                d = grad
                if self.weight_decay:  # d = grad + weight_decay * p
                    d = np.multiply(data, self.weight_decay, out=scratch[0])
                    d += grad
                if self.momentum:
                    if first:
                        buf[...] = d
                    else:
                        buf *= self.momentum
                        buf += np.multiply(d, 1 - self.dampening, out=scratch[1]) if self.dampening else d
                    if self.nesterov:  # d + momentum * buf
                        nesterov = np.multiply(buf, self.momentum, out=scratch[1])
                        nesterov += d
                        d = nesterov
                    else:
                        d = buf
                data -= np.multiply(d, self.lr, out=scratch[2])


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction and L2 weight decay."""

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def step(self) -> None:
        beta1, beta2 = self.betas
        for p in self.params:
            if p.grad is None:
                continue
            state = self.state.setdefault(id(p), {"step": np.zeros(()), "m": np.zeros(p.data.shape, p.data.dtype),
                                                  "v": np.zeros(p.data.shape, p.data.dtype)})
            state["step"] += 1
            t = float(state["step"])
            for data, grad, (m, v), scratch in _pieces(p, state["m"], state["v"]):
                g = grad
                if self.weight_decay:
                    g = np.multiply(data, self.weight_decay, out=scratch[0])
                    g += grad
                m *= beta1
                m += np.multiply(g, 1 - beta1, out=scratch[1])
                v *= beta2
                square = np.multiply(g, g, out=scratch[1])
                v += np.multiply(square, 1 - beta2, out=square)
                # p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
                denominator = np.divide(v, 1 - beta2**t, out=scratch[1])
                np.sqrt(denominator, out=denominator)
                denominator += self.eps
                update = np.divide(m, 1 - beta1**t, out=scratch[2])
                update *= self.lr
                update /= denominator
                data -= update


# Updates run over flat pieces of this many elements, their temporaries in three small scratch
# arrays: a whole-array expression would allocate (and page-fault) parameter-sized temporaries
# on every step, hundreds of MB for AlexNet's classifier.
_PIECE = 1 << 16


def _pieces(p: Parameter, *states: np.ndarray):
    """(data, grad, state(s), scratch) over flat pieces of a parameter: views that write through.

    ``states``: arrays shaped like the parameter (None for none); one is yielded as such, several
    as a tuple. The gradient is read in the parameter's dtype.
    """
    data = p.data
    if not data.flags.c_contiguous:  # a flat view would be a copy: update a contiguous copy, then write back
        proxy = Parameter(data)  # a contiguous copy
        proxy.grad = p.grad
        yield from _pieces(proxy, *states)
        data[...] = proxy.data
        return
    flat = data.reshape(-1)
    grad = np.ascontiguousarray(p.grad, dtype=data.dtype).reshape(-1)
    flat_states = [None if s is None else s.reshape(-1) for s in states]
    size = flat.size
    scratch = [np.empty(min(size, _PIECE), data.dtype) for _ in range(3)]
    for start in range(0, size, _PIECE):
        end = min(start + _PIECE, size)
        parts = [None if s is None else s[start:end] for s in flat_states]
        yield (flat[start:end], grad[start:end], parts[0] if len(parts) == 1 else tuple(parts),
               [part[: end - start] for part in scratch])


__all__ = ["Adam", "SGD"]
