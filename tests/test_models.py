"""models.alexnet: torchvision's layout, parameter count and state-dict keys, and the same
outputs as a PyTorch twin (fastconv.models._torch_twins) with the same weights."""

import numpy as np
import pytest

from fastconv import models
from fastconv.models._torch_twins import torch_alexnet


def test_alexnet_layout():
    model = models.alexnet()
    assert sum(p.data.size for p in model.parameters()) == 61_100_840
    keys = list(model.state_dict())
    assert keys == [f"features.{i}.{k}" for i in (0, 3, 6, 8, 10) for k in ("weight", "bias")] + \
        [f"classifier.{i}.{k}" for i in (1, 4, 6) for k in ("weight", "bias")]
    assert models.alexnet(num_classes=10).classifier[6].weight.shape == (10, 4096)


@pytest.mark.parametrize("size", [224, 256])
def test_alexnet_matches_torch_twin(size):
    torch = pytest.importorskip("torch")
    model = models.alexnet(rng=0).eval()
    twin = torch_alexnet(torch).eval()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})  # ours -> torch
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    actual = model(x)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    back = models.alexnet(rng=5)
    back.load_state_dict(twin.state_dict())  # torch tensors -> ours
    np.testing.assert_allclose(back.eval()(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
def test_alexnet_training_step_matches_torch_twin(dtype, slow_only):
    """One SGD step (with our dropout masks in the twin) against torch; slow: 57M parameters
    in a float64 twin, the float32 check runs a float32 and a float64 twin."""
    torch = pytest.importorskip("torch")
    from _model_twins import check_training_step

    rng = np.random.default_rng(2)
    model = models.alexnet(num_classes=10, dtype=dtype, rng=0)

    class OurDropoutMask(torch.nn.Module):
        def __init__(self, dropout):
            super().__init__()
            self.ours = dropout

        def forward(self, x):
            return x * torch.from_numpy(self.ours._scale) if self.training else x

    def make_twin(tdtype):
        twin = torch_alexnet(torch, num_classes=10).to(tdtype)
        for index in (0, 3):
            twin.classifier[index] = OurDropoutMask(model.classifier[index])
        return twin

    inputs = (rng.standard_normal((2, 3, 96, 96)).astype(dtype) for _ in range(4))
    check_training_step(torch, model, make_twin, inputs, np.array([3, 7]), dtype)
