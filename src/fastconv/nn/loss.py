"""``CrossEntropyLoss``: the loss and its gradient for the logits."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .activation import LogSoftmax
from .module import Module


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
