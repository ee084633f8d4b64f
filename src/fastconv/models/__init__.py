"""Networks built from ``fastconv.nn`` with torchvision's module trees and state-dict keys.

``alexnet``, ``resnet18`` / ``resnet34`` and ``mobilenet_v2`` build the torchvision models of
those names with random weights (torchvision's initialisation, seeded by ``rng``); nothing is
downloaded. Their ``state_dict()`` keys and shapes are torchvision's, running statistics and
``num_batches_tracked`` included, so weights move both ways:
``model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})`` and
``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})``.

Examples
--------
>>> import numpy as np
>>> from fastconv import models
>>> model = models.resnet18(num_classes=10, rng=0).eval()
>>> model(np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)).shape
(1, 10)
>>> type(model.layer1[0]).__name__, list(model.state_dict())[:3]
('BasicBlock', ['conv1.weight', 'bn1.weight', 'bn1.bias'])
"""

from .alexnet import AlexNet, alexnet
from .mobilenet import Conv2dNormActivation, InvertedResidual, MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, ResNet, resnet18, resnet34

__all__ = ["AlexNet", "BasicBlock", "Conv2dNormActivation", "InvertedResidual", "MobileNetV2", "ResNet", "alexnet",
           "mobilenet_v2", "resnet18", "resnet34"]
