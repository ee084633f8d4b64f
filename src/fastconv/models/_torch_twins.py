"""torchvision's AlexNet, ResNet (BasicBlock) and MobileNetV2 written out in PyTorch, for
comparing ``fastconv.models`` with torch on the same weights (the tests' twins and
``fastconv bench models``). torchvision itself is not needed (its wheels pull a CUDA torch):
these are its module trees and state-dict keys, built from ``torch.nn`` alone.

Every builder takes the ``torch`` module first, so that importing this file never imports
torch; ``torch_twin(model)`` builds the twin of a fastconv model and loads its weights.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence


def _torch(torch: Optional[Any]) -> Any:
    if torch is None:
        import torch as module

        return module
    return torch


def torch_alexnet(torch: Any = None, num_classes: int = 1000, dropout: float = 0.5) -> Any:
    """torchvision.models.alexnet.AlexNet."""
    torch = _torch(torch)
    tnn = torch.nn

    class AlexNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(inplace=True), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(inplace=True), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(inplace=True),
                tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(inplace=True),
                tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(inplace=True), tnn.MaxPool2d(3, 2))
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
            self.classifier = tnn.Sequential(
                tnn.Dropout(dropout), tnn.Linear(9216, 4096), tnn.ReLU(inplace=True),
                tnn.Dropout(dropout), tnn.Linear(4096, 4096), tnn.ReLU(inplace=True), tnn.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    return AlexNet()


def torch_resnet(torch: Any = None, layers: Sequence[int] = (2, 2, 2, 2), num_classes: int = 1000) -> Any:
    """torchvision.models.resnet.ResNet with BasicBlock (resnet18: layers (2, 2, 2, 2),
    resnet34: (3, 4, 6, 3))."""
    torch = _torch(torch)
    tnn = torch.nn

    def conv3x3(inp, out, stride=1):
        return tnn.Conv2d(inp, out, 3, stride, 1, bias=False)

    class BasicBlock(tnn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += x if self.downsample is None else self.downsample(x)
            return self.relu(out)

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.inplanes = 64
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU(inplace=True)
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make_layer(64, layers[0], 1)
            self.layer2 = self._make_layer(128, layers[1], 2)
            self.layer3 = self._make_layer(256, layers[2], 2)
            self.layer4 = self._make_layer(512, layers[3], 2)
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512, num_classes)

        def _make_layer(self, planes, blocks, stride):
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = tnn.Sequential(tnn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                            tnn.BatchNorm2d(planes))
            modules = [BasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            modules += [BasicBlock(planes, planes) for _ in range(1, blocks)]
            return tnn.Sequential(*modules)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """torchvision's rounding of widths (written out again: the twin is torch's side)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def torch_mobilenet_v2(torch: Any = None, num_classes: int = 1000, width_mult: float = 1.0,
                       dropout: float = 0.2) -> Any:
    """torchvision.models.mobilenetv2.MobileNetV2 (with ops.misc.Conv2dNormActivation)."""
    torch = _torch(torch)
    tnn = torch.nn

    class Conv2dNormActivation(tnn.Sequential):
        def __init__(self, inp, out, kernel_size=3, stride=1, groups=1):
            super().__init__(tnn.Conv2d(inp, out, kernel_size, stride, (kernel_size - 1) // 2, groups=groups,
                                        bias=False),
                             tnn.BatchNorm2d(out), tnn.ReLU6(inplace=True))

    class InvertedResidual(tnn.Module):
        def __init__(self, inp, oup, stride, expand_ratio):
            super().__init__()
            hidden = int(round(inp * expand_ratio))
            self.use_res_connect = stride == 1 and inp == oup
            layers = [Conv2dNormActivation(inp, hidden, kernel_size=1)] if expand_ratio != 1 else []
            layers += [Conv2dNormActivation(hidden, hidden, stride=stride, groups=hidden),
                       tnn.Conv2d(hidden, oup, 1, 1, 0, bias=False), tnn.BatchNorm2d(oup)]
            self.conv = tnn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(tnn.Module):
        def __init__(self):
            super().__init__()
            setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                       [6, 320, 1, 1]]
            inp = _make_divisible(32 * width_mult, 8)
            self.last_channel = _make_divisible(1280 * max(1.0, width_mult), 8)
            features = [Conv2dNormActivation(3, inp, stride=2)]
            for t, c, n, s in setting:
                out = _make_divisible(c * width_mult, 8)
                for i in range(n):
                    features.append(InvertedResidual(inp, out, s if i == 0 else 1, t))
                    inp = out
            features.append(Conv2dNormActivation(inp, self.last_channel, kernel_size=1))
            self.features = tnn.Sequential(*features)
            self.classifier = tnn.Sequential(tnn.Dropout(dropout), tnn.Linear(self.last_channel, num_classes))

        def forward(self, x):
            x = torch.nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    return MobileNetV2()


def torch_twin(model: Any, torch: Any = None, width_mult: float = 1.0) -> Any:
    """The torch twin of a ``fastconv.models`` AlexNet, ResNet or MobileNetV2 (the default
    inverted-residual setting; ``width_mult`` as the model was built with), with its weights,
    running statistics and dropout probabilities, in its dtype and training mode.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from fastconv import models
    >>> model = models.resnet18(num_classes=10, rng=0).eval()
    >>> twin = torch_twin(model)
    >>> x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    >>> with torch.no_grad():
    ...     bool(np.allclose(twin(torch.from_numpy(x)).numpy(), model(x), rtol=1e-4, atol=1e-4))
    True
    """
    from . import AlexNet, MobileNetV2, ResNet

    torch = _torch(torch)
    if isinstance(model, AlexNet):
        twin = torch_alexnet(torch, model.classifier[6].out_features, model.classifier[0].p)
    elif isinstance(model, ResNet):
        layers = [len(stage) for stage in (model.layer1, model.layer2, model.layer3, model.layer4)]
        twin = torch_resnet(torch, layers, model.fc.out_features)
    elif isinstance(model, MobileNetV2):
        twin = torch_mobilenet_v2(torch, model.classifier[1].out_features, width_mult, model.classifier[0].p)
    else:
        msg = (f"torch_twin: `model` must be a fastconv.models AlexNet, ResNet or MobileNetV2, "
               f"got {type(model).__name__}")
        raise TypeError(msg)
    state = model.state_dict()
    dtype = next(iter(state.values())).dtype
    twin = twin.to(torch.float64 if dtype == "float64" else torch.float32)
    twin.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    return twin.train(model.training)
