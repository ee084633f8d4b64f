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

from .activation import LogSoftmax, ReLU, ReLU6, Softmax
from .container import Residual, Sequential, conv_norm_activation
from .conv import Conv2d
from .linear import Dropout, Flatten, Identity, Linear
from .loss import CrossEntropyLoss
from .module import Module, Parameter, summary
from .normalization import BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity",
    "Linear", "LogSoftmax", "MaxPool2d", "Module", "Parameter", "ReLU", "ReLU6", "Residual", "Sequential", "Softmax",
    "conv_norm_activation", "summary",
]
