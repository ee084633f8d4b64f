"""ResNet-18 and ResNet-34 (BasicBlock) with torchvision's module tree and state-dict keys."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from .. import nn
from ._init import Seed, generator, kaiming_normal_fan_out


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, *, dtype=np.float32,
            rng: Seed = None) -> nn.Conv2d:
    """A 3x3 convolution with padding 1 and no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False, dtype=dtype, rng=rng)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, *, dtype=np.float32,
            rng: Seed = None) -> nn.Conv2d:
    """A 1x1 convolution without bias (the downsampling shortcut's projection)."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False, dtype=dtype, rng=rng)


class BasicBlock(nn.Module):
    """ResNet's two-convolution block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The shortcut is ``downsample`` (1x1 conv + BatchNorm, when the stride or the width changes)
    or the identity. Children and state-dict keys are torchvision's: ``conv1``, ``bn1``,
    ``relu``, ``conv2``, ``bn2``, ``downsample`` (``downsample.0``, ``downsample.1``).

    Notes
    -----
    As in torchvision the one ``relu`` is applied twice; the block keeps the first call's mask
    for its backward.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None, *,
                 dtype=np.float32, rng: Seed = None) -> None:
        super().__init__()
        rng = generator(rng)
        self.conv1 = conv3x3(inplanes, planes, stride, dtype=dtype, rng=rng)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, dtype=dtype, rng=rng)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = nn.conv_norm_activation(x, self.conv1, self.bn1, self.relu)
        # the mask of the relu's first call (its second call, below, keeps only its own)
        self._save(_hidden_positive=out > 0 if self.training else None)
        out = nn.conv_norm_activation(out, self.conv2, self.bn2)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        grad_sum = self.relu.backward(grad_output)  # its last call: the block's output
        grad = self.conv2.backward(self.bn2.backward(grad_sum))
        grad = np.where(self._saved("_hidden_positive"), grad, np.zeros((), grad.dtype))  # its first call
        grad = self.conv1.backward(self.bn1.backward(grad), need_input=need_input)
        if self.downsample is None:
            return grad + grad_sum if need_input else None
        grad_shortcut = self.downsample.backward(grad_sum, need_input=need_input)
        return grad + grad_shortcut if need_input else None


class ResNet(nn.Module):
    """torchvision's ResNet for BasicBlock layers (ResNet-18, ResNet-34).

    ``conv1`` (7x7 / 2) - ``bn1`` - ``relu`` - ``maxpool`` (3x3 / 2) - ``layer1`` .. ``layer4``
    (64, 128, 256, 512 channels; the last three halve the size) - ``avgpool`` (adaptive, 1x1) -
    ``fc``. Initialised as torchvision: convolutions Kaiming-normal (fan_out, ReLU gain),
    BatchNorm weight 1 and bias 0, ``fc`` as ``torch.nn.Linear``.

    Parameters
    ----------
    layers : sequence of 4 ints
        Blocks per stage: (2, 2, 2, 2) is ResNet-18, (3, 4, 6, 3) ResNet-34.
    num_classes : int
        Outputs of ``fc``.
    zero_init_residual : bool
        Start each block's ``bn2.weight`` at zero (each block then starts as the identity).
    dtype : float32 or float64, keyword-only
        Of every parameter and buffer.
    rng : None, int or numpy.random.Generator, keyword-only
        Seeds the initial weights.
    """

    def __init__(self, layers: Sequence[int], num_classes: int = 1000, zero_init_residual: bool = False, *,
                 dtype=np.float32, rng: Seed = None) -> None:
        super().__init__()
        if len(layers) != 4:
            msg = f"ResNet: `layers` must give the blocks of 4 stages, got {list(layers)}"
            raise ValueError(msg)
        rng = generator(rng)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False, dtype=dtype, rng=rng)
        self.bn1 = nn.BatchNorm2d(64, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0], 1, dtype, rng)
        self.layer2 = self._make_layer(128, layers[1], 2, dtype, rng)
        self.layer3 = self._make_layer(256, layers[2], 2, dtype, rng)
        self.layer4 = self._make_layer(512, layers[3], 2, dtype, rng)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes, dtype=dtype, rng=rng)
        for _, module in self.named_modules():
            if isinstance(module, nn.Conv2d):
                kaiming_normal_fan_out(module, rng)
        if zero_init_residual:
            for _, module in self.named_modules():
                if isinstance(module, BasicBlock):
                    module.bn2.weight.data[...] = 0

    def _make_layer(self, planes: int, blocks: int, stride: int, dtype, rng: np.random.Generator) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * BasicBlock.expansion, stride, dtype=dtype,
                                               rng=rng),
                                       nn.BatchNorm2d(planes * BasicBlock.expansion, dtype=dtype))
        layers: List[nn.Module] = [BasicBlock(self.inplanes, planes, stride, downsample, dtype=dtype, rng=rng)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes, dtype=dtype, rng=rng) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.maxpool(nn.conv_norm_activation(x, self.conv1, self.bn1, self.relu))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        self._save(_pooled_shape=x.shape)
        return self.fc(x.reshape(x.shape[0], -1))

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        grad = self.fc.backward(grad_output).reshape(self._saved("_pooled_shape"))
        grad = self.avgpool.backward(grad)
        for stage in (self.layer4, self.layer3, self.layer2, self.layer1):
            grad = stage.backward(grad)
        grad = self.bn1.backward(self.relu.backward(self.maxpool.backward(grad)))
        return self.conv1.backward(grad, need_input=need_input)


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18 with random weights (torchvision's initialisation); nothing is downloaded.

    Keyword arguments go to ``ResNet`` (``zero_init_residual``, ``dtype``, ``rng``).

    Examples
    --------
    >>> from fastconv import models
    >>> model = models.resnet18(rng=0)
    >>> sum(p.data.size for p in model.parameters())
    11689512
    >>> [k for k in model.state_dict() if k.startswith("layer2.0.downsample")]  # doctest: +NORMALIZE_WHITESPACE
    ['layer2.0.downsample.0.weight', 'layer2.0.downsample.1.weight', 'layer2.0.downsample.1.bias',
     'layer2.0.downsample.1.running_mean', 'layer2.0.downsample.1.running_var',
     'layer2.0.downsample.1.num_batches_tracked']
    """
    return ResNet((2, 2, 2, 2), num_classes=num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34 with random weights (torchvision's initialisation); nothing is downloaded.

    Examples
    --------
    >>> from fastconv import models
    >>> sum(p.data.size for p in models.resnet34(rng=0).parameters())
    21797672
    """
    return ResNet((3, 4, 6, 3), num_classes=num_classes, **kwargs)
