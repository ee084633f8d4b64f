"""AlexNet inference (batch 1 and 8) and one training step: fastconv against the same-weights
PyTorch model (built by hand with torchvision's layout)."""

import numpy as np
import pytest

from fastconv import models, nn, optim

try:
    import torch
except ImportError:  # PyTorch is an optional peer
    torch = None

IMPLS = ["fastconv"] + (["torch"] if torch is not None else [])


def _twin(model, num_classes=1000):
    """The same-weights PyTorch AlexNet (the tests' hand-written torchvision layout)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_models import _torch_alexnet

    twin = _torch_alexnet(torch, num_classes)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return twin


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("impl", IMPLS)
def test_alexnet_inference(benchmark, impl, batch):
    model = models.alexnet(rng=0).eval()
    x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    benchmark.group = f"alexnet inference b{batch}"
    if impl == "fastconv":
        result = benchmark(model, x)
    else:
        twin = _twin(model).eval()
        tx = torch.from_numpy(x)

        def run():
            with torch.no_grad():
                return twin(tx).numpy()

        result = benchmark(run)
    expected = model(x)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_alexnet_training_step(benchmark, impl):
    model = models.alexnet(num_classes=10, rng=0, dropout=0.0)
    x = np.random.default_rng(1).standard_normal((8, 3, 224, 224)).astype(np.float32)
    labels = np.arange(8) % 10
    benchmark.group = "alexnet training step b8"
    if impl == "fastconv":
        criterion, optimizer = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step():
            optimizer.zero_grad()
            loss = criterion(model(x), labels)
            model.backward(criterion.backward(), need_input=False)  # as torch: x needs no grad
            optimizer.step()
            return loss
    else:
        twin = _twin(model, num_classes=10)
        torch_optimizer = torch.optim.SGD(twin.parameters(), lr=1e-3, momentum=0.9)
        tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)

        def step():
            torch_optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(twin(tx), tlabels)
            loss.backward()
            torch_optimizer.step()
            return loss.item()
    loss = benchmark(step)
    assert np.isfinite(loss)
