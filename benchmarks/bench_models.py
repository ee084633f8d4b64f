"""Whole networks, the cases of `fastconv bench models`: AlexNet, ResNet-18 and MobileNetV2 at
batch 1 and 8 on 224x224 images, inference and one SGD training step (dropout 0), fastconv
against the same-weights PyTorch twin (fastconv.models._torch_twins). The calls are
`fastconv bench models`' own; each benchmark first checks its outputs against a float64 twin.
All slow (`-m slow`): `fastconv bench models` times the same cases interleaved."""

import numpy as np
import pytest

from fastconv import _bench_models

try:
    import torch
except ImportError:  # PyTorch is an optional peer
    torch = None

IMPLS = ["fastconv"] + (["torch"] if torch is not None else [])
SIZE = _bench_models.SIZES["full"]
_built = {}


def _network(name):
    """(fastconv model, its state dict, torch twin, float64 twin), built once per network."""
    if name not in _built:
        _built.clear()  # one network in memory at a time (AlexNet's twins and gradients: ~2 GB)
        model = _bench_models.NETWORKS[name]()
        twins = (None, None)
        if torch is not None:
            from fastconv.models._torch_twins import torch_twin

            twins = (torch_twin(model, torch), torch_twin(model, torch).double())
        _built[name] = (model, model.state_dict(), *twins)
    return _built[name]


@pytest.mark.slow
@pytest.mark.parametrize("mode", _bench_models.MODES)
@pytest.mark.parametrize("batch", _bench_models.BATCHES)
@pytest.mark.parametrize("network", list(_bench_models.NETWORKS))
@pytest.mark.parametrize("impl", IMPLS)
def test_model(benchmark, impl, network, batch, mode):
    model, state, twin, twin64 = _network(network)
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)
    labels = rng.integers(0, _bench_models.CLASSES, batch)
    benchmark.group = f"{_bench_models.case_name(network, batch, mode)} ({SIZE}x{SIZE})"
    if impl == "fastconv":
        model.load_state_dict(state)
        call = _bench_models.fastconv_call(model, _bench_models._dispatch.default_backend(), x, labels, mode)
    else:
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        call = _bench_models.torch_call(torch, twin, x, labels, mode)
    first = call()  # the first call (a training step: with the loaded weights) is checked
    if twin64 is not None:
        truth, _ = _bench_models.float64_truth(torch, twin64, {k: torch.from_numpy(v) for k, v in state.items()},
                                                x, labels, mode)
        assert _bench_models.relative_error(first, truth) < 1e-4
    benchmark(call)
