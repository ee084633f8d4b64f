"""torchvision's weight initialisation, drawn from a NumPy Generator (``torch.nn.init``'s rules)."""

from __future__ import annotations

import math
from typing import Union

import numpy as np

from .. import nn

Seed = Union[None, int, np.random.Generator]


def generator(rng: Seed) -> np.random.Generator:
    """``rng`` itself when it is a Generator, else a new one seeded with it."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def kaiming_normal_fan_out(conv: nn.Conv2d, rng: np.random.Generator) -> None:
    """``kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")``: normal with std
    sqrt(2 / fan_out), fan_out = out_channels * kh * kw (torch does not divide by groups);
    a bias, if any, set to zero."""
    weight = conv.weight.data
    fan_out = weight.shape[0] * weight.shape[2] * weight.shape[3]
    conv.weight.data = rng.normal(0.0, math.sqrt(2.0 / fan_out), weight.shape).astype(weight.dtype)
    if conv.bias is not None:
        conv.bias.data = np.zeros_like(conv.bias.data)
