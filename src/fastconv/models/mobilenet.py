"""MobileNetV2 with torchvision's module tree and state-dict keys."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from .. import nn
from ._init import Seed, generator, kaiming_normal_fan_out

# t (expansion), c (output channels), n (blocks), s (stride of the first block): the paper's table 2
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                             (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(value: float, divisor: int, min_value: Optional[int] = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, default
    ``divisor``), but never more than 10% below it: torchvision's (and TensorFlow's) rule for
    the widths under a width multiplier."""
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class Conv2dNormActivation(nn.Sequential):
    """Conv2d (no bias, padding (k - 1) // 2) - BatchNorm2d - ReLU6, as torchvision's block of
    that name: children ``0``, ``1``, ``2``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                 *, dtype=np.float32, rng: Seed = None) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups,
                      bias=False, dtype=dtype, rng=rng),
            nn.BatchNorm2d(out_channels, dtype=dtype),
            nn.ReLU6(inplace=True))
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """MobileNetV2's block: a 1x1 expansion to ``inp * expand_ratio`` channels (left out when the
    ratio is 1), a depthwise 3x3 (``groups`` = channels, carrying the stride), each with
    BatchNorm and ReLU6, then a linear 1x1 projection to ``oup`` with BatchNorm; the input is
    added back when the stride is 1 and ``inp == oup``. Its layers are ``conv.0``, ``conv.1``, ...
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: float, *, dtype=np.float32,
                 rng: Seed = None) -> None:
        super().__init__()
        if stride not in (1, 2):
            msg = f"InvertedResidual: `stride` must be 1 or 2, got {stride}"
            raise ValueError(msg)
        rng = generator(rng)
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: List[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1, dtype=dtype, rng=rng))  # pointwise
        layers += [Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim, dtype=dtype,
                                        rng=rng),  # depthwise
                   nn.Conv2d(hidden_dim, oup, 1, bias=False, dtype=dtype, rng=rng),  # pointwise, linear
                   nn.BatchNorm2d(oup, dtype=dtype)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.conv(x)
        if self.use_res_connect:
            out += x  # the last BatchNorm's fresh output
        return out

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        grad = self.conv.backward(grad_output, need_input=need_input)
        if self.use_res_connect and need_input:
            grad += grad_output
        return grad


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2: ``features`` (a stride-2 3x3 stem, 17 inverted residual blocks, a
    1x1 to ``last_channel``), a global average, ``classifier`` (Dropout, Linear).

    Initialised as torchvision: convolutions Kaiming-normal (fan_out), BatchNorm weight 1 and bias
    0, the Linear normal with std 0.01 and bias 0.

    Parameters
    ----------
    num_classes : int
        Outputs of the classifier.
    width_mult : float
        Multiplies every width, rounded by ``_make_divisible`` to multiples of ``round_nearest``
        (the last 1280 channels only grow, never shrink).
    inverted_residual_setting : sequence of (t, c, n, s), optional
        The blocks; default the paper's.
    round_nearest : int
        The multiple widths are rounded to (1 turns rounding off).
    dropout : float
        Dropout probability before the Linear.
    dtype : float32 or float64, keyword-only
        Of every parameter and buffer.
    rng : None, int or numpy.random.Generator, keyword-only
        Seeds the initial weights and the dropout masks.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 inverted_residual_setting: Optional[Sequence[Sequence[int]]] = None, round_nearest: int = 8,
                 dropout: float = 0.2, *, dtype=np.float32, rng: Seed = None) -> None:
        super().__init__()
        setting = INVERTED_RESIDUAL_SETTING if inverted_residual_setting is None else inverted_residual_setting
        if len(setting) == 0 or any(len(row) != 4 for row in setting):
            msg = f"MobileNetV2: `inverted_residual_setting` must be non-empty rows of (t, c, n, s), got {setting}"
            raise ValueError(msg)
        if not width_mult > 0:
            msg = f"MobileNetV2: `width_mult` must be positive, got {width_mult}"
            raise ValueError(msg)
        rng = generator(rng)
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features: List[nn.Module] = [Conv2dNormActivation(3, input_channel, stride=2, dtype=dtype, rng=rng)]
        for t, c, n, s in setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, expand_ratio=t,
                                                 dtype=dtype, rng=rng))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1, dtype=dtype, rng=rng))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng),
                                        nn.Linear(self.last_channel, num_classes, dtype=dtype, rng=rng))
        for _, module in self.named_modules():
            if isinstance(module, nn.Conv2d):
                kaiming_normal_fan_out(module, rng)
            elif isinstance(module, nn.Linear):
                module.weight.data = rng.normal(0.0, 0.01, module.weight.shape).astype(module.weight.data.dtype)
                module.bias.data = np.zeros_like(module.bias.data)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.features(x)
        # torchvision's functional adaptive_avg_pool2d to 1x1 (no module in its tree): the mean
        pooled = x.mean(axis=(2, 3), dtype=np.float64).astype(x.dtype, copy=False)
        self._save(_features_shape=x.shape)
        return self.classifier(pooled)

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        shape = self._saved("_features_shape")
        grad_pooled = self.classifier.backward(grad_output)
        grad = np.empty(shape, grad_pooled.dtype)
        grad[...] = (grad_pooled / (shape[2] * shape[3]))[:, :, None, None]
        return self.features.backward(grad, need_input=need_input)


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, **kwargs) -> MobileNetV2:
    """MobileNetV2 with random weights (torchvision's initialisation); nothing is downloaded.

    Keyword arguments go to ``MobileNetV2`` (``inverted_residual_setting``, ``round_nearest``,
    ``dropout``, ``dtype``, ``rng``).

    Examples
    --------
    >>> from fastconv import models
    >>> model = models.mobilenet_v2(rng=0)
    >>> sum(p.data.size for p in model.parameters())
    3504872
    >>> list(model.state_dict())[:3]
    ['features.0.0.weight', 'features.0.1.weight', 'features.0.1.bias']
    >>> model.features[2].conv[1][0].weight.shape  # the depthwise 3x3 of 16 * 6 channels
    (96, 1, 3, 3)
    >>> models.mobilenet_v2(width_mult=0.5).features[18][0].out_channels
    1280
    """
    return MobileNetV2(num_classes=num_classes, width_mult=width_mult, **kwargs)
