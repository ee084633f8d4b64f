"""models.resnet18: torchvision's module tree, parameter count and state-dict keys (running
statistics and num_batches_tracked included, both ways), and a torch twin with the same weights
giving the same outputs in eval and training mode and the same gradients, running statistics and
updated parameters after one SGD step."""

import numpy as np
import pytest

from fastconv import models, nn
from _model_twins import (assert_same_state, assert_same_tree, check_training_step, randomise_batchnorm,
                          single_threaded, torch_resnet)


def test_resnet18_layout():
    model = models.resnet18(rng=0)
    assert sum(p.data.size for p in model.parameters()) == 11_689_512
    keys = list(model.state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked"]
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert len(keys) == 122 and model.state_dict()["bn1.num_batches_tracked"].dtype == np.int64
    assert [name for name, m in model.named_modules() if isinstance(m, models.BasicBlock)] == \
        [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert model.layer1[0].downsample is None and model.layer2[0].downsample[0].stride == 2
    assert models.resnet18(num_classes=10, rng=0).fc.weight.shape == (10, 512)


def test_resnet18_initialisation_follows_torchvision():
    model = models.resnet18(rng=0, dtype=np.float64)
    weight = model.layer3[0].conv2.weight.data  # kaiming normal, fan_out = 256 * 3 * 3
    assert weight.std() == pytest.approx(np.sqrt(2 / (256 * 9)), rel=0.01) and abs(weight.mean()) < 1e-3
    assert weight.dtype == np.float64 and model.bn1.running_var.dtype == np.float64
    assert np.all(model.layer1[1].bn2.weight.data == 1) and np.all(model.layer1[1].bn2.bias.data == 0)
    assert np.abs(model.fc.weight.data).max() <= 1 / np.sqrt(512)  # torch.nn.Linear's default
    assert np.all(models.resnet18(zero_init_residual=True, rng=0).layer4[1].bn2.weight.data == 0)
    again = models.resnet18(rng=0, dtype=np.float64).state_dict()
    assert all(np.array_equal(value, again[key]) for key, value in model.state_dict().items())


def test_resnet18_state_dict_both_ways():
    torch = pytest.importorskip("torch")
    with single_threaded(torch):
        model = randomise_batchnorm(models.resnet18(num_classes=10, rng=0), np.random.default_rng(1))
        twin = torch_resnet(torch, num_classes=10)
        assert_same_tree(model, twin)
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        assert_same_state(model, twin, 0)
        back = models.resnet18(num_classes=10, rng=5)
        back.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})  # the spelling
        assert_same_state(back, twin, 0)


def test_resnet18_matches_torch_twin(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    model = randomise_batchnorm(models.resnet18(num_classes=10, dtype=dtype, rng=0), rng)
    inputs = (rng.standard_normal((2, 3, 40, 40)).astype(dtype) for _ in range(4))
    check_training_step(torch, model, lambda tdtype: torch_resnet(torch, num_classes=10).to(tdtype), inputs,
                        np.array([3, 7]), dtype)


def test_basic_block_backward_without_input_gradient():
    rng = np.random.default_rng(4)
    block = models.BasicBlock(4, 8, stride=2, downsample=nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False,
                                                                                 rng=1), nn.BatchNorm2d(8)), rng=0)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    grad = rng.standard_normal((2, 8, 3, 3)).astype(np.float32)
    block(x)
    full = block.backward(grad)
    grads = [p.grad.copy() for p in block.parameters()]
    block.zero_grad()
    block(x)
    assert block.backward(grad, need_input=False) is None and full.shape == x.shape
    for before, p in zip(grads, block.parameters()):
        np.testing.assert_array_equal(before, p.grad)
