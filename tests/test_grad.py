"""Gradients: conv2d_backward and the pools' backward against torch autograd on random cases
over every option, and against float64 finite differences; every layer's backward too."""

import numpy as np
import pytest

import fastconv
from fastconv import nn, optim
from _cases import assert_close, assert_twin_gradients


def _torch():
    return pytest.importorskip("torch")


def _conv_case(seed):
    r = np.random.default_rng(seed)
    groups = int(r.choice([1, 2, 3]))
    c_in, c_out = groups * int(r.integers(1, 3)), groups * int(r.integers(1, 3))
    kernel = tuple(int(v) for v in r.integers(1, 4, 2))
    kwargs = dict(stride=tuple(int(v) for v in r.integers(1, 3, 2)), dilation=tuple(int(v) for v in r.integers(1, 3, 2)),
                  padding=tuple(int(v) for v in r.integers(0, 3, 2)), groups=groups,
                  padding_mode=str(r.choice(["zeros", "reflect", "replicate", "circular"])))
    size = tuple(int(v) for v in r.integers(6, 12, 2))
    return r, c_in, c_out, kernel, size, kwargs


@pytest.mark.parametrize("seed", range(30))
def test_conv2d_backward_matches_torch(backend, dtype, seed):
    torch = _torch()
    r, c_in, c_out, kernel, size, kwargs = _conv_case(seed)
    x = r.standard_normal((2, c_in, *size)).astype(dtype)
    layer = torch.nn.Conv2d(c_in, c_out, kernel, bias=True, dtype=torch.float64, **kwargs)
    w = layer.weight.detach().numpy().astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    y = layer(tx)
    g = r.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    layout = "NHWC" if seed % 3 == 0 else "NCHW"
    xin, gin = (x, g) if layout == "NCHW" else (x.transpose(0, 2, 3, 1).copy(), g.transpose(0, 2, 3, 1).copy())
    gi, gw, gb = fastconv.conv2d_backward(gin.astype(dtype), xin, w, layout=layout, backend=backend, **kwargs)
    expected_gi = tx.grad.numpy() if layout == "NCHW" else tx.grad.numpy().transpose(0, 2, 3, 1)
    assert_close(gi, expected_gi, dtype)
    assert_close(gw, layer.weight.grad.numpy(), dtype, scale=max(1.0, np.abs(layer.weight.grad.numpy()).max()))
    assert_close(gb, layer.bias.grad.numpy(), dtype, scale=max(1.0, np.abs(layer.bias.grad.numpy()).max()))
    none = fastconv.conv2d_backward(gin.astype(dtype), xin, w, layout=layout, needs=("bias",), **kwargs)
    assert none[0] is None and none[1] is None


def test_conv2d_backward_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((4, 1, 3, 2))
    kwargs = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    g = rng.standard_normal(fastconv.conv2d(x, w, **kwargs).shape)
    gi, gw, _ = fastconv.conv2d_backward(g, x, w, **kwargs)
    eps = 1e-6
    for array, grad in ((x, gi), (w, gw)):
        for index in [tuple(rng.integers(0, s) for s in array.shape) for _ in range(6)]:
            saved = array[index]
            array[index] = saved + eps
            up = (fastconv.conv2d(x, w, **kwargs) * g).sum()
            array[index] = saved - eps
            down = (fastconv.conv2d(x, w, **kwargs) * g).sum()
            array[index] = saved
            assert (up - down) / (2 * eps) == pytest.approx(grad[index], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("seed", range(20))
def test_pool_backward_matches_torch(seed):
    torch = _torch()
    r = np.random.default_rng(seed)
    kernel = tuple(int(v) for v in r.integers(1, 4, 2))
    stride = tuple(int(v) for v in r.integers(1, 3, 2))
    padding = tuple(int(r.integers(0, k // 2 + 1)) for k in kernel)
    ceil_mode = bool(seed % 2)
    x = r.integers(-3, 3, (2, 3, 9, 8)).astype(np.float64)  # ties
    tx = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.max_pool2d(tx, kernel, stride, padding, 1, ceil_mode)
    g = r.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    _, indices = fastconv.max_pool2d(x, kernel, stride, padding, 1, ceil_mode, return_indices=True)
    np.testing.assert_allclose(fastconv.max_pool2d_backward(g, indices, x.shape), tx.grad.numpy(), atol=1e-12)
    tx.grad = None
    options = dict(count_include_pad=bool(seed % 3), divisor_override=[None, 3][seed % 2])
    y = torch.nn.functional.avg_pool2d(tx, kernel, stride, padding, ceil_mode, **options)
    g = r.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    actual = fastconv.avg_pool2d_backward(g, x.shape, kernel, stride, padding, ceil_mode, **options)
    np.testing.assert_allclose(actual, tx.grad.numpy(), atol=1e-12)


def test_layer_backward_matches_torch_autograd():
    torch = _torch()
    tnn = torch.nn
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64, rng=0), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect", dtype=np.float64, rng=1),
                          nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
                          nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(), nn.Linear(36, 8, dtype=np.float64, rng=2),
                          nn.Softmax(dim=1), nn.Linear(8, 5, dtype=np.float64, rng=3), nn.LogSoftmax(dim=1))
    twin = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                          tnn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"), tnn.ReLU(),
                          tnn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), tnn.AdaptiveAvgPool2d((3, 2)),
                          tnn.Flatten(), tnn.Linear(36, 8), tnn.Softmax(dim=1), tnn.Linear(8, 5),
                          tnn.LogSoftmax(dim=1)).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((3, 2, 13, 11))
    labels = np.array([0, 4, 2])
    assert_twin_gradients(torch, model, twin, x, labels, (1e-10, 1e-12), (1e-9, 1e-12))


def test_dropout_backward_uses_the_same_mask():
    layer = nn.Dropout(0.5, rng=0)
    y = layer(np.ones(100))
    np.testing.assert_array_equal(layer.backward(np.ones(100)), y)


def test_backward_without_forward_is_a_clear_error():
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="no forward pass in training mode"):
        layer.backward(np.ones((1, 2)))
    layer.eval()
    layer(np.ones((1, 3), np.float32))
    with pytest.raises(RuntimeError, match="training mode"):
        layer.backward(np.ones((1, 2)))


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
                                          ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                          ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, weight_decay=0.1))])
def test_optimizers_match_torch(name, kwargs):
    torch = _torch()
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    ours = nn.Parameter(start.copy())
    theirs = torch.nn.Parameter(torch.tensor(start.copy()))
    optimizer = getattr(optim, name)([ours], **kwargs)
    torch_optimizer = getattr(torch.optim, name)([theirs], **kwargs)
    for step in range(5):
        grad = rng.standard_normal((3, 4))
        ours.grad = grad.copy()
        theirs.grad = torch.tensor(grad.copy())
        optimizer.step()
        torch_optimizer.step()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_train_digits_learns(capsys):
    pytest.importorskip("sklearn")
    from fastconv._train import train_digits

    history = train_digits(epochs=3, seed=0)
    assert history["accuracy"] > 0.85  # three epochs; the full run's 20 reach >= 97%
    assert history["losses"][-1] < history["losses"][0]
    assert "test accuracy" in capsys.readouterr().out


def test_need_input_false_spares_only_the_input_gradient():
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, rng=0, dtype=np.float64), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 2, rng=1, dtype=np.float64))
    x = rng.standard_normal((2, 2, 9, 9))
    g = rng.standard_normal((2, 2))
    model(x)
    full = model.backward(g)
    grads = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model(x)
    assert model.backward(g, need_input=False) is None and full.shape == x.shape
    for before, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(before, p.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
                                          ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1)),
                                          ("Adam", dict(lr=0.01, weight_decay=0.1))])
def test_optimizers_update_in_pieces(monkeypatch, name, kwargs, dtype):
    """Updates over flat pieces (forced small here: 7 elements, a last piece shorter) match
    torch, also for a parameter whose data is a transposed (non-contiguous) view and a float64
    gradient of a float32 parameter."""
    torch = _torch()
    monkeypatch.setattr(optim, "_PIECE", 7)
    rng = np.random.default_rng(5)
    starts = [rng.standard_normal((5, 6)).astype(dtype), rng.standard_normal((4, 9)).astype(dtype)]
    ours = [nn.Parameter(start.copy()) for start in starts]
    ours[1].data = ours[1].data.T.copy().T  # same values, Fortran order
    theirs = [torch.nn.Parameter(torch.tensor(start.copy())) for start in starts]
    optimizer = getattr(optim, name)(ours, **kwargs)
    torch_optimizer = getattr(torch.optim, name)(theirs, **kwargs)
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    for step in range(4):
        for mine, twin in zip(ours, theirs):
            grad = rng.standard_normal(mine.shape)
            mine.grad = grad.copy()  # float64, also for float32 parameters
            twin.grad = torch.tensor(grad.astype(dtype))
        optimizer.step()
        torch_optimizer.step()
        for mine, twin in zip(ours, theirs):
            assert mine.data.dtype == dtype
            np.testing.assert_allclose(mine.data, twin.detach().numpy(), rtol=tolerance, atol=tolerance)
