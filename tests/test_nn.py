"""fastconv.nn layers: forward passes against torch.nn with the same weights, state dicts both
ways, the lecture's summary answers, and the errors between layers."""

import numpy as np
import pytest

from fastconv import nn
from _cases import assert_close


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("seed", range(6))
def test_conv2d_layer_matches_torch(dtype, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    groups = [1, 2][seed % 2]
    kwargs = dict(stride=[1, 2][seed % 2], padding=[0, 1, "same"][seed % 3] if seed % 2 == 0 else 1,
                  dilation=1 + seed % 2, groups=groups, bias=seed % 3 != 1,
                  padding_mode=["zeros", "reflect", "replicate", "circular"][seed % 4])
    layer = nn.Conv2d(4, 6, 3, dtype=dtype, rng=seed, **kwargs)
    twin = torch.nn.Conv2d(4, 6, 3, dtype=torch.float32 if dtype == np.float32 else torch.float64, **kwargs)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = rng.standard_normal((2, 4, 11, 9)).astype(dtype)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    assert_close(layer(x), expected, dtype)


def test_initialisation_follows_torch():
    layer = nn.Conv2d(16, 32, 3, rng=0)
    bound = 1 / np.sqrt(16 * 9)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.9 * bound
    assert np.abs(layer.bias.data).max() <= bound
    linear = nn.Linear(100, 10, rng=0)
    assert np.abs(linear.weight.data).max() <= 0.1 and linear.weight.data.dtype == np.float32


def test_pooling_relu_flatten_linear_softmax_match_torch():
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    t = torch.from_numpy(x)
    with torch.no_grad():
        np.testing.assert_array_equal(nn.ReLU()(x), F.relu(t).numpy())
        np.testing.assert_array_equal(nn.MaxPool2d(2, ceil_mode=True)(x), F.max_pool2d(t, 2, ceil_mode=True).numpy())
        assert_close(nn.AvgPool2d(3, 2, 1)(x), F.avg_pool2d(t, 3, 2, 1).numpy(), np.float32)
        for size in [(6, 6), (4, 5), (9, 11), (1, 1), (5, 3)]:
            assert_close(nn.AdaptiveAvgPool2d(size)(x), F.adaptive_avg_pool2d(t, size).numpy(), np.float32)
        assert nn.Flatten()(x).shape == (2, 297)
        linear = nn.Linear(297, 7, rng=2)
        twin = torch.nn.Linear(297, 7)
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in linear.state_dict().items()})
        flat = nn.Flatten()(x)
        assert_close(linear(flat), twin(torch.from_numpy(flat)).numpy(), np.float32)
        logits = rng.standard_normal((4, 10)).astype(np.float32) * 30
        assert_close(nn.Softmax(dim=1)(logits), F.softmax(torch.from_numpy(logits), dim=1).numpy(), np.float32)
        assert_close(nn.LogSoftmax(dim=1)(logits), F.log_softmax(torch.from_numpy(logits), dim=1).numpy(),
                     np.float32, scale=100.0)
        labels = np.array([0, 3, 9, 2])
        expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
        assert nn.CrossEntropyLoss()(logits, labels) == pytest.approx(expected, rel=1e-5)


def test_dropout_train_and_eval():
    x = np.ones((1000,), np.float32)
    layer = nn.Dropout(0.25, rng=0)
    y = layer(x)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < np.mean(y == 0) < 0.3
    layer.eval()
    assert layer(x) is x or np.array_equal(layer(x), x)


def test_lecture_summary():
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2))
    table = nn.summary(model, (3, 256, 256))
    assert "(64, 254, 254)" in table and "1,792" in table and "(64, 127, 127)" in table
    padded = nn.summary(nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.MaxPool2d(2, 2)), (3, 256, 256))
    assert "(64, 256, 256)" in padded and "(64, 128, 128)" in padded
    assert "(245,)" in nn.summary(nn.Sequential(nn.Flatten()), (5, 7, 7))
    assert model.training  # summary leaves the mode as it was


def test_module_bookkeeping():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Linear(4, 3))
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "2.weight", "2.bias"]
    assert len(model.parameters()) == 3 and len(model) == 3 and isinstance(model[1], nn.ReLU)
    model.eval()
    assert not model[0].training
    model.train()
    assert model[2].training
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert "Conv2d(1, 2" in repr(model)


def test_state_dict_errors():
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(KeyError, match="missing keys"):
        model.load_state_dict({"0.weight": np.zeros((3, 4))})
    with pytest.raises(ValueError, match=r"0.weight.*\(3, 5\).*\(3, 4\)"):
        model.load_state_dict({"0.weight": np.zeros((3, 5)), "0.bias": np.zeros(3)})


def test_bad_shapes_between_layers_name_the_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(100, 2))
    with pytest.raises(ValueError, match=r"layer 2 \(Linear\) given input of shape \(1, 512\)"):
        model(np.zeros((1, 3, 10, 10), np.float32))
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2d\) given input of shape \(1, 4, 10, 10\).*channels"):
        model(np.zeros((1, 4, 10, 10), np.float32))
    with pytest.raises(TypeError, match="Sequential: item 1"):
        nn.Sequential(nn.ReLU(), "relu")


def test_relu6_matches_torch(dtype):
    torch = _torch()
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((2, 3, 5, 4)) * 5 + 3).astype(dtype)
    x.flat[:8] = [np.nan, -np.inf, np.inf, 0.0, 6.0, -0.0, 5.999, 1e-30]  # NaN and the edges, as torch
    grad = rng.standard_normal(x.shape).astype(dtype)
    layer = nn.ReLU6()
    y = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.ReLU6()(tx)
    (expected_grad,) = torch.autograd.grad(ty, tx, torch.from_numpy(grad))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    assert y.dtype == dtype and np.isnan(y.flat[0])
    grad_input = layer.backward(grad)
    assert grad_input.flat[0] == 0  # at NaN: torch's vectorised kernel gives 0, its scalar tail loop 1
    np.testing.assert_array_equal(grad_input.flat[1:], expected_grad.numpy().flat[1:])
    layer.eval()
    np.testing.assert_array_equal(layer(x), y)


def test_identity_passes_through():
    x = np.random.default_rng(6).standard_normal((2, 3))
    layer = nn.Identity(54, unused_argument=0.1)  # arguments ignored, as torch's
    assert layer(x) is x and layer.backward(x) is x and layer.backward(x, need_input=False) is None
    assert repr(layer) == "Identity()" and layer.parameters() == [] and not layer.state_dict()


def test_to_converts_parameters_and_gradients():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Flatten(), nn.Linear(2, 3, rng=1))
    before = model.state_dict()
    model(np.ones((1, 1, 3, 3), np.float32))
    model.backward(np.ones((1, 3), np.float32))
    assert model.to("float64") is model
    for name, p in model.named_parameters():
        assert p.data.dtype == np.float64 and p.grad.dtype == np.float64, name
        np.testing.assert_array_equal(p.data, before[name])
    assert model(np.ones((1, 1, 3, 3))).dtype == np.float64
    assert model.float() is model and all(p.data.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="float32 or float64, got float16"):
        model.to(np.float16)


def test_load_state_dict_copies():
    torch = _torch()
    twin = torch.nn.Linear(4, 3)
    layer = nn.Linear(4, 3)
    layer.load_state_dict(twin.state_dict())
    source = {k: v.numpy() for k, v in twin.state_dict().items()}
    other = nn.Linear(4, 3)
    other.load_state_dict(source)
    expected = twin.weight.detach().numpy().copy()
    layer.weight.data -= 1.0  # what an optimiser step does
    other.weight.data -= 1.0
    np.testing.assert_array_equal(twin.weight.detach().numpy(), expected)
    np.testing.assert_array_equal(source["weight"], expected)
