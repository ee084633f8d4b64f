"""AlexNet (torchvision's layer layout and state-dict keys)."""

from __future__ import annotations

from typing import Union

import numpy as np

from .. import nn


class AlexNet(nn.Module):
    """AlexNet as torchvision builds it (``features``, ``avgpool``, ``classifier``), so a
    torchvision state dict loads with ``load_state_dict`` and ``state_dict()`` loads into it."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, *, dtype=np.float32,
                 rng: Union[None, int, np.random.Generator] = None) -> None:
        super().__init__()
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        conv = dict(dtype=dtype, rng=generator)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2, **conv), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2, **conv), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1, **conv), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, **conv), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1, **conv), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout, rng=generator), nn.Linear(256 * 6 * 6, 4096, **conv), nn.ReLU(),
            nn.Dropout(dropout, rng=generator), nn.Linear(4096, 4096, **conv), nn.ReLU(),
            nn.Linear(4096, num_classes, **conv),
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.avgpool(self.features(x))
        object.__setattr__(self, "_pooled_shape", x.shape)
        return self.classifier(x.reshape(x.shape[0], -1))

    def backward(self, grad_output: np.ndarray, need_input: bool = True):
        grad = self.classifier.backward(grad_output).reshape(self._pooled_shape)
        return self.features.backward(self.avgpool.backward(grad), need_input=need_input)


def alexnet(num_classes: int = 1000, **kwargs) -> AlexNet:
    """AlexNet with random weights (torch's initialisation); nothing is downloaded.

    Examples
    --------
    >>> from fastconv import models
    >>> model = models.alexnet()
    >>> sum(p.data.size for p in model.parameters())
    61100840
    >>> list(model.state_dict())[:2]
    ['features.0.weight', 'features.0.bias']
    """
    return AlexNet(num_classes=num_classes, **kwargs)
