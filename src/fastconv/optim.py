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
            d = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                state = self.state.setdefault(id(p), {})
                buffer = state.get("buffer")
                if buffer is None:
                    buffer = state["buffer"] = np.array(d, dtype=p.data.dtype, copy=True)
                else:  # in place: the buffers of a large model are hundreds of MB
                    buffer *= self.momentum
                    buffer += (1 - self.dampening) * d if self.dampening else d
                d = d + self.momentum * buffer if self.nesterov else buffer
            p.data -= self.lr * d if d.dtype == p.data.dtype else (self.lr * d).astype(p.data.dtype)


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
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            state = self.state.setdefault(id(p), {"step": np.zeros(()), "m": np.zeros_like(p.data),
                                                  "v": np.zeros_like(p.data)})
            state["step"] += 1
            t = float(state["step"])
            state["m"] = beta1 * state["m"] + (1 - beta1) * g
            state["v"] = beta2 * state["v"] + (1 - beta2) * g * g
            m_hat = state["m"] / (1 - beta1**t)
            v_hat = state["v"] / (1 - beta2**t)
            p.data -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.data.dtype, copy=False)


__all__ = ["Adam", "SGD"]
