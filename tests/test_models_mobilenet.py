"""models.mobilenet_v2: torchvision's module tree, parameter count, widths under a width
multiplier and state-dict keys (both ways), and a torch twin with the same weights giving the
same outputs in eval and training mode (with our dropout masks) and the same gradients, running
statistics and updated parameters after one SGD step."""

import numpy as np
import pytest

from fastconv import models
from fastconv.models.mobilenet import _make_divisible
from _model_twins import (assert_same_state, assert_same_tree, check_training_step, randomise_batchnorm,
                          single_threaded, torch_mobilenet_v2)


def test_make_divisible_is_torchvisions():
    assert [_make_divisible(v, 8) for v in (32, 16 * 0.5, 24 * 0.35, 3.0, 1280 * 1.4, 96 * 0.75, 20)] == \
        [32, 8, 8, 8, 1792, 72, 24]
    assert _make_divisible(10, 8) == 16  # 8 would be 20% below: one multiple up


def test_mobilenet_v2_layout():
    model = models.mobilenet_v2(rng=0)
    assert sum(p.data.size for p in model.parameters()) == 3_504_872
    keys = list(model.state_dict())
    assert len(keys) == 314 and keys[-2:] == ["classifier.1.weight", "classifier.1.bias"]
    assert "features.1.conv.0.0.weight" in keys and "features.1.conv.2.running_var" in keys  # expand ratio 1
    assert "features.2.conv.3.num_batches_tracked" in keys  # expand ratio 6: one more layer
    depthwise = model.features[2].conv[1][0]
    assert depthwise.groups == depthwise.in_channels == 96 and depthwise.weight.shape == (96, 1, 3, 3)
    assert [block.use_res_connect for block in model.features[1:18]].count(True) == 10
    assert model.classifier[0].p == 0.2 and model.last_channel == 1280


@pytest.mark.parametrize("width_mult, first, last, parameters", [(0.5, 16, 1280, 1_968_680),
                                                                  (1.4, 48, 1792, 6_108_776)])
def test_mobilenet_v2_width_multiplier(width_mult, first, last, parameters):
    model = models.mobilenet_v2(width_mult=width_mult, rng=0)
    assert model.features[0][0].out_channels == first and model.features[18][0].out_channels == last
    assert sum(p.data.size for p in model.parameters()) == parameters


def test_mobilenet_v2_initialisation_follows_torchvision():
    model = models.mobilenet_v2(rng=0, dtype=np.float64)
    weight = model.features[18][0].weight.data  # kaiming normal, fan_out = 1280 * 1 * 1
    assert weight.std() == pytest.approx(np.sqrt(2 / 1280), rel=0.01) and weight.dtype == np.float64
    depthwise = model.features[5].conv[1][0].weight.data  # fan_out = 192 * 3 * 3, not divided by groups
    assert depthwise.std() == pytest.approx(np.sqrt(2 / (192 * 9)), rel=0.05)
    linear = model.classifier[1]
    assert linear.weight.data.std() == pytest.approx(0.01, rel=0.01) and np.all(linear.bias.data == 0)
    assert np.all(model.features[3].conv[3].weight.data == 1) and np.all(model.features[3].conv[3].bias.data == 0)


@pytest.mark.parametrize("width_mult", [1.0, 0.5])
def test_mobilenet_v2_state_dict_both_ways(width_mult):
    torch = pytest.importorskip("torch")
    with single_threaded(torch):
        model = randomise_batchnorm(models.mobilenet_v2(num_classes=10, width_mult=width_mult, rng=0),
                                    np.random.default_rng(1))
        twin = torch_mobilenet_v2(torch, num_classes=10, width_mult=width_mult)
        assert_same_tree(model, twin)
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        assert_same_state(model, twin, 0)
        back = models.mobilenet_v2(num_classes=10, width_mult=width_mult, rng=5)
        back.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})  # the spelling
        assert_same_state(back, twin, 0)


def test_mobilenet_v2_matches_torch_twin(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    model = randomise_batchnorm(models.mobilenet_v2(num_classes=10, dtype=dtype, rng=0), rng)

    class OurDropoutMask(torch.nn.Module):
        """The twin's dropout: the mask our Dropout drew in the same training forward."""

        def __init__(self, dropout):
            super().__init__()
            self.ours = dropout

        def forward(self, x):
            return x * torch.from_numpy(self.ours._scale) if self.training else x

    def make_twin(tdtype):
        twin = torch_mobilenet_v2(torch, num_classes=10).to(tdtype)
        twin.classifier[0] = OurDropoutMask(model.classifier[0])
        return twin

    inputs = (rng.standard_normal((2, 3, 40, 40)).astype(dtype) for _ in range(4))
    check_training_step(torch, model, make_twin, inputs, np.array([3, 7]), dtype)
