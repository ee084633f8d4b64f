"""fastconv.nn.BatchNorm2d against torch.nn.BatchNorm2d with the same parameters and running
statistics: outputs, running statistics and gradients over training steps and in eval mode,
state dicts both ways, dtype conversion, buffers, and the errors."""

import numpy as np
import pytest

from fastconv import nn
from _cases import assert_close, assert_twin_gradients

CONFIGS = {
    "default": {},
    "momentum-None": dict(momentum=None),
    "momentum-eps": dict(momentum=0.3, eps=1e-3),
    "no-affine": dict(affine=False),
    "no-bias": dict(bias=False),
    "no-running-stats": dict(track_running_stats=False),
}


def _torch():
    return pytest.importorskip("torch")


def _torch_dtype(torch, dtype):
    return torch.float32 if np.dtype(dtype) == np.float32 else torch.float64


def _randomised(layer, rng, batches_tracked=3):
    """Random (never default) parameters and running statistics."""
    if layer.weight is not None:
        layer.weight.data[...] = rng.uniform(0.5, 2.0, layer.num_features)
    if layer.bias is not None:
        layer.bias.data[...] = rng.standard_normal(layer.num_features)
    if layer.running_mean is not None:
        layer.running_mean[...] = rng.standard_normal(layer.num_features)
        layer.running_var[...] = rng.uniform(0.5, 2.0, layer.num_features)
        layer.num_batches_tracked[...] = batches_tracked
    return layer


def _step(torch, layer, twin, x, grad):
    """One forward and backward of both; returns ours and torch's (output, input grad, weight
    grad, bias grad), None where the layer has no such parameter."""
    layer.zero_grad()
    y = layer(x)
    grad_input = layer.backward(grad)
    tx = torch.tensor(x, requires_grad=True)
    ty = twin(tx)
    params = [p for p in (twin.weight, twin.bias) if p is not None]
    grads = list(torch.autograd.grad(ty, [tx] + params, torch.from_numpy(grad)))
    theirs = [ty.detach().numpy(), grads.pop(0).numpy()]
    theirs += [None if p is None else grads.pop(0).numpy() for p in (twin.weight, twin.bias)]
    ours = [y, grad_input] + [None if p is None else p.grad for p in (layer.weight, layer.bias)]
    return ours, theirs


def _assert_same(ours, theirs, dtype, what):
    for name, a, b in zip(("output", "grad_input", "grad_weight", "grad_bias"), ours, theirs):
        assert (a is None) == (b is None), (what, name)
        if a is not None:
            assert a.dtype == np.dtype(dtype), (what, name, a.dtype)
            try:
                assert_close(a, b, dtype)
            except AssertionError as error:
                raise AssertionError(f"{what}: {name}") from error


def _assert_same_state(layer, twin):
    theirs = twin.state_dict()
    ours = layer.state_dict()
    assert list(ours) == list(theirs)
    for key, value in ours.items():
        expected = theirs[key].numpy()
        assert value.shape == expected.shape and value.dtype == expected.dtype, key
        assert_close(value, expected, value.dtype if value.dtype.kind == "f" else np.float64)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_batchnorm2d_matches_torch_train_then_eval(dtype, config):
    torch = _torch()
    kwargs = CONFIGS[config]
    rng = np.random.default_rng(sorted(CONFIGS).index(config))
    layer = _randomised(nn.BatchNorm2d(5, dtype=dtype, **kwargs), rng)
    twin = torch.nn.BatchNorm2d(5, dtype=_torch_dtype(torch, dtype), **kwargs)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    if layer.weight is None:  # nothing random in the state: the running statistics
        assert layer.running_mean is None or not np.array_equal(layer.running_mean, 0)
    for step in range(4):
        x = (rng.standard_normal((3, 5, 6, 7)) * rng.uniform(0.5, 3.0, (1, 5, 1, 1))
             + rng.uniform(-2.0, 2.0, (1, 5, 1, 1))).astype(dtype)
        grad = rng.standard_normal(x.shape).astype(dtype)
        _assert_same(*_step(torch, layer, twin, x, grad), dtype, f"training step {step}")
        _assert_same_state(layer, twin)
    if layer.running_mean is not None:
        assert int(layer.num_batches_tracked) == 3 + 4 and layer.num_batches_tracked.dtype == np.int64
    layer.eval()
    twin.eval()
    for step in range(2):
        x = (rng.standard_normal((2, 5, 4, 3)) * 2 + 1).astype(dtype)
        with torch.no_grad():
            expected = twin(torch.from_numpy(x)).numpy()
        assert_close(layer(x), expected, dtype)
        with pytest.raises(RuntimeError, match="no forward pass in training mode"):
            layer.backward(np.ones_like(x))  # inference keeps nothing for a backward pass
    _assert_same_state(layer, twin)  # eval mode leaves the running statistics


def test_batchnorm2d_state_dict_round_trips():
    torch = _torch()
    rng = np.random.default_rng(1)
    twin = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        twin.weight.uniform_(0.5, 2.0)
        twin.bias.normal_()
    for _ in range(2):
        twin(torch.randn(3, 4, 5, 5) * 2 + 1)  # real running statistics, num_batches_tracked 2
    ours = nn.BatchNorm2d(4)
    ours.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})  # torch -> ours
    _assert_same_state(ours, twin)
    assert int(ours.num_batches_tracked) == 2 and ours.num_batches_tracked.shape == ()
    also = nn.BatchNorm2d(4)
    also.load_state_dict(twin.state_dict())  # torch tensors directly
    _assert_same_state(also, twin)
    # our training does not write into the arrays we loaded from (torch's buffers here)
    before = {k: v.clone() for k, v in twin.state_dict().items()}
    ours(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    ours.weight.data += 1
    for key, value in twin.state_dict().items():
        assert torch.equal(value, before[key]), key
    back = torch.nn.BatchNorm2d(4)
    back.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})  # ours -> torch
    _assert_same_state(ours, back)
    assert int(back.num_batches_tracked) == 3


def test_buffers_are_state_not_parameters():
    torch = _torch()
    model = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU6(),
                          nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3, affine=False)))
    twin = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3), torch.nn.ReLU6(),
                               torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3, affine=False)))
    assert list(model.state_dict()) == list(twin.state_dict())  # torch's keys, in torch's order
    assert [name for name, _ in model.named_parameters()] == [name for name, _ in twin.named_parameters()]
    assert [name for name, _ in model.named_buffers()] == [name for name, _ in twin.named_buffers()]
    assert len(model.parameters()) == 5 and len(model.buffers()) == 6
    assert not any(b is p.data for b in model.buffers() for p in model.parameters())
    untracked = nn.BatchNorm2d(3, track_running_stats=False)
    assert list(untracked.state_dict()) == ["weight", "bias"] and untracked.buffers() == []
    layer = nn.BatchNorm2d(3)
    layer.running_mean = np.full(3, 2.0, np.float32)  # assigning replaces the buffer
    assert layer.state_dict()["running_mean"].tolist() == [2.0, 2.0, 2.0]
    state = layer.state_dict()
    state["running_mean"][0] = 7.0  # a copy
    assert layer.running_mean[0] == 2.0


def test_to_double_float_convert_parameters_and_buffers():
    torch = _torch()
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.ReLU6(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2, rng=1))
    _randomised(model[1], rng)
    model(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    model.backward(np.ones((2, 2), np.float32))
    assert model.double() is model
    for name, p in model.named_parameters():
        assert p.data.dtype == np.float64 and p.grad.dtype == np.float64, name
    assert model[1].running_mean.dtype == np.float64 and model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert all(v.dtype == np.float64 for k, v in model.state_dict().items() if k != "1.num_batches_tracked")
    twin = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU6(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2)).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((2, 3, 5, 5))
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(twin, mode)()
        with torch.no_grad():
            expected = twin(torch.from_numpy(x)).numpy()
        actual = model(x)
        assert actual.dtype == np.float64
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)
    assert model.to(np.float32) is model and model.float() is model
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    assert model[1].running_var.dtype == np.float32 and model[1].num_batches_tracked.dtype == np.int64
    with pytest.raises(TypeError, match="Module.to: `dtype` must be float32 or float64, got int32"):
        model.to(np.int32)


def test_training_step_with_batchnorm_matches_torch():
    """Gradients of every parameter of a small Conv-BN-ReLU6 network (float64) after one step."""
    torch = _torch()
    tnn = torch.nn
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False, dtype=np.float64, rng=0), nn.BatchNorm2d(4),
                          nn.ReLU6(), nn.Conv2d(4, 4, 3, stride=2, groups=4, bias=False, dtype=np.float64, rng=1),
                          nn.BatchNorm2d(4, momentum=None), nn.Identity(), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3, dtype=np.float64, rng=2)).double()
    _randomised(model[1], rng)
    _randomised(model[4], rng)
    twin = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1, bias=False), tnn.BatchNorm2d(4), tnn.ReLU6(),
                          tnn.Conv2d(4, 4, 3, stride=2, groups=4, bias=False), tnn.BatchNorm2d(4, momentum=None),
                          tnn.Identity(), tnn.ReLU(), tnn.AdaptiveAvgPool2d(1), tnn.Flatten(),
                          tnn.Linear(4, 3)).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((4, 2, 9, 9)) * 3
    labels = np.array([0, 2, 1, 2])
    assert_twin_gradients(torch, model, twin, x, labels, (1e-10, 1e-13), (1e-10, 1e-13))
    _assert_same_state(model, twin)


def test_batchnorm2d_empty_batch_as_torch():
    torch = _torch()
    layer = _randomised(nn.BatchNorm2d(3), np.random.default_rng(4))
    twin = torch.nn.BatchNorm2d(3)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.zeros((0, 3, 4, 4), np.float32)
    y = layer(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert twin(torch.from_numpy(x)).shape == x.shape
    _assert_same_state(layer, twin)  # the statistics stay, num_batches_tracked counts the batch
    assert layer.backward(np.zeros_like(x)).shape == x.shape


def test_batchnorm2d_errors():
    layer = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: `input` must be 4-D \(N, C, H, W\), got shape \(3, 4, 4\)"):
        layer(np.ones((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="has 4 channels, the layer expects num_features=3"):
        layer(np.ones((2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        layer(np.ones((1, 3, 1, 1), np.float32))
    assert int(layer.num_batches_tracked) == 0
    assert layer.eval()(np.ones((1, 3, 1, 1), np.float32)).shape == (1, 3, 1, 1)  # running statistics: fine
    with pytest.raises(TypeError, match="`input` must be a float32 or float64 array"):
        layer(np.ones((2, 3, 2, 2), np.int64))
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm2d(0)
    with pytest.raises(RuntimeError, match="no forward pass"):
        nn.BatchNorm2d(3).backward(np.ones((2, 3, 2, 2)))
    layer.train()(np.ones((2, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"`grad_output` has shape \(1, 3, 2, 2\)"):
        layer.backward(np.ones((1, 3, 2, 2), np.float32))


def _folding_case(rng, dtype, conv_bias, activation, in_channels=6, size=9):
    conv = nn.Conv2d(in_channels, 5, 3, padding=1, bias=conv_bias, dtype=dtype, rng=rng)
    norm = _randomised(nn.BatchNorm2d(5, dtype=dtype), rng)
    layers = [conv, norm] + ([activation] if activation is not None else [])
    x = rng.standard_normal((2, in_channels, size, size)).astype(dtype)
    return nn.Sequential(*layers), conv, norm, x


def _unfolded(conv, norm, activation, x):
    """The layers one after the other, in float64 (the spec for the folded convolution)."""
    conv64 = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=conv.bias is not None,
                       dtype=np.float64)
    conv64.weight.data[...] = conv.weight.data
    if conv.bias is not None:
        conv64.bias.data[...] = conv.bias.data
    scale, shift = norm.running_affine()
    y = conv64(x.astype(np.float64)) * scale[:, None, None] + shift[:, None, None]
    if isinstance(activation, nn.ReLU6):
        return np.clip(y, 0, 6)
    return np.maximum(y, 0) if isinstance(activation, nn.ReLU) else y


@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
@pytest.mark.parametrize("conv_bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eval_folds_batchnorm_into_the_convolution(dtype, conv_bias, activation):
    """Eval mode: Conv2d -> BatchNorm2d (-> ReLU / ReLU6) in a Sequential runs as one folded
    convolution with the layers' results; weights changed in place are used at the next call
    (the fold is made per call, never cached); training mode is untouched."""
    rng = np.random.default_rng(7)
    act = {None: None, "relu": nn.ReLU(), "relu6": nn.ReLU6(inplace=True)}[activation]
    model, conv, norm, x = _folding_case(rng, dtype, conv_bias, act)
    model.eval()
    x *= 4  # values past ReLU6's upper bound too
    weights_used = []
    plain_apply = conv.apply
    conv.apply = lambda x, weight, *rest, **kwargs: weights_used.append(weight) or plain_apply(x, weight, *rest, **kwargs)
    assert_close(model(x), _unfolded(conv, norm, act, x), dtype)
    assert len(weights_used) == 1 and weights_used[0] is not conv.weight.data  # the folded copy ran
    conv.weight.data *= -0.5  # in place, as an optimizer step
    norm.running_var[...] = rng.random(5) + 0.5
    assert_close(model(x), _unfolded(conv, norm, act, x), dtype)
    model.train()
    y = model(x)  # batch statistics: not the folded map
    model.backward(np.ones_like(y))
    assert conv.weight.grad is not None and np.isfinite(conv.weight.grad).all()


def test_fold_only_where_it_saves_passes():
    """The fold remakes the weights per call: it is taken when the weights are no larger than the
    input; otherwise, and for NHWC, 3-D input or a subclass, the layers run one after the other
    (the same bits as calling them in turn)."""
    rng = np.random.default_rng(3)
    model, conv, norm, x = _folding_case(rng, np.float32, True, nn.ReLU(), in_channels=64, size=3)
    model.eval()
    assert conv.weight.data.size > x.size
    expected = np.maximum(norm(conv(x)), 0)
    np.testing.assert_array_equal(model(x), expected)
    small = x[:, :, :2, :2]
    assert nn.conv_norm_activation(small, conv, norm).shape == (2, 5, 2, 2)
    with pytest.raises(ValueError, match="4-D"):
        model(x[0])  # unbatched: BatchNorm2d's own error, not a silent fold


def test_folded_resnet_block_matches_layer_by_layer():
    """A ResNet block in eval mode (its conv-BN pairs folded, the ReLU in the kernel, the
    downsample Sequential folded) against its layers called one by one."""
    from fastconv import models
    rng = np.random.default_rng(0)
    model = models.resnet18(num_classes=10, rng=0)
    for _, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            _randomised(module, rng)
    model.eval()
    block = model.layer2[0]  # stride 2, with a downsample (1x1 conv + BN)
    x = rng.standard_normal((8, 64, 32, 32)).astype(np.float32)  # large enough for every fold
    hidden = np.maximum(block.bn1(block.conv1(x)), 0)
    shortcut = block.downsample[1](block.downsample[0](x))
    expected = np.maximum(block.bn2(block.conv2(hidden)) + shortcut, 0)
    assert_close(block(x), expected, np.float32)
