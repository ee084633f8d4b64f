"""fastconv.nn.Residual against a torch twin (outputs, input and parameter gradients, with and
without a projection shortcut), and the in-place activations: the same values and gradients as
out of place, written into the input only where torch would."""

import numpy as np
import pytest

from fastconv import nn
from _cases import assert_close


def _block(dtype, projection):
    body = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2 if projection else 1, padding=1, bias=False, dtype=dtype,
                                   rng=0),
                         nn.BatchNorm2d(6, dtype=dtype), nn.ReLU(inplace=True),
                         nn.Conv2d(6, 6 if projection else 4, 3, padding=1, dtype=dtype, rng=1))
    shortcut = nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False, dtype=dtype, rng=2),
                             nn.BatchNorm2d(6, dtype=dtype)) if projection else None
    return nn.Sequential(nn.Residual(body, shortcut), nn.ReLU(), nn.Flatten(),
                         nn.Linear(6 * 4 * 4 if projection else 4 * 8 * 8, 3, dtype=dtype, rng=3))


def _torch_block(torch, projection):
    tnn = torch.nn

    class Residual(tnn.Module):
        def __init__(self, body, shortcut=None):
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    body = tnn.Sequential(tnn.Conv2d(4, 6, 3, 2 if projection else 1, 1, bias=False), tnn.BatchNorm2d(6),
                          tnn.ReLU(inplace=True), tnn.Conv2d(6, 6 if projection else 4, 3, padding=1))
    shortcut = tnn.Sequential(tnn.Conv2d(4, 6, 1, 2, bias=False), tnn.BatchNorm2d(6)) if projection else None
    return tnn.Sequential(Residual(body, shortcut), tnn.ReLU(), tnn.Flatten(),
                          tnn.Linear(6 * 4 * 4 if projection else 4 * 8 * 8, 3))


@pytest.mark.parametrize("projection", [False, True], ids=["identity", "projection"])
def test_residual_matches_torch(dtype, projection):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    model = _block(dtype, projection)
    twin = _torch_block(torch, projection).to(torch.float32 if dtype == np.float32 else torch.float64)
    assert list(model.state_dict()) == list(twin.state_dict())
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((3, 4, 8, 8)).astype(dtype)
    grad = rng.standard_normal((3, 3)).astype(dtype)
    y = model(x)
    grad_input = model.backward(grad)
    tx = torch.tensor(x, requires_grad=True)
    ty = twin(tx)
    ty.backward(torch.from_numpy(grad))
    assert_close(y, ty.detach().numpy(), dtype)
    assert_close(grad_input, tx.grad.numpy(), dtype)
    theirs = dict(twin.named_parameters())
    for name, parameter in model.named_parameters():
        assert_close(parameter.grad, theirs[name].grad.numpy(), dtype)
    assert model[0].backward(np.ones_like(y, shape=(3, 6, 4, 4) if projection else x.shape), need_input=False) \
        is None


def test_residual_never_writes_into_its_input():
    x = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    before = x.copy()
    y = nn.Residual(nn.Identity())(x)
    np.testing.assert_array_equal(y, 2 * before)
    np.testing.assert_array_equal(x, before)


def test_residual_errors():
    with pytest.raises(TypeError, match="`body` is a int"):
        nn.Residual(3)
    with pytest.raises(ValueError, match=r"the body gives shape \(1, 3, 2, 2\), the shortcut \(1, 2, 2, 2\)"):
        nn.Residual(nn.Conv2d(2, 3, 1, rng=0))(np.ones((1, 2, 2, 2), np.float32))


@pytest.mark.parametrize("layer", [nn.ReLU, nn.ReLU6])
def test_inplace_activations(dtype, layer):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 3, 4, 5)) * 5).astype(dtype)
    grad = rng.standard_normal(x.shape).astype(dtype)
    out_of_place = layer()
    expected = out_of_place(x)
    expected_grad = out_of_place.backward(grad)
    inplace = layer(inplace=True)
    copy = x.copy()
    y = inplace(copy)
    assert y is copy and "inplace=True" in repr(inplace)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(inplace.backward(grad), expected_grad)
    readonly = x.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(inplace(readonly), expected)  # a new array where it cannot write
    np.testing.assert_array_equal(readonly, x)
    np.testing.assert_array_equal(inplace([[-1.0, 7.0]]), layer()(np.array([[-1.0, 7.0]])))


def test_dropout_accepts_torchs_inplace():
    x = np.ones((4, 100))
    layer = nn.Dropout(0.5, True, rng=0)
    assert layer.inplace and layer(x).std() > 0 and np.all(x == 1)


def test_resnet_small_learns_digits(capsys, restore_threads):
    """`fastconv train-digits --model resnet-small`: residual blocks with BatchNorm learn the
    digits (one epoch; the full run's 20 reach 99.4%)."""
    pytest.importorskip("sklearn")
    import re

    import fastconv
    from fastconv._train import digits_resnet
    from fastconv.cli import main

    model = digits_resnet(0)
    assert sum(isinstance(m, nn.Residual) for _, m in model.named_modules()) == 2
    assert [type(m).__name__ for m in model][-3:] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    fastconv.set_num_threads(1)  # tiny layers: a second thread only spins on a busy machine
    assert main(["train-digits", "--epochs", "1", "--model", "resnet-small"]) == 0
    accuracy = float(re.search(r"test accuracy ([\d.]+)% on 360 held-out digits", capsys.readouterr().out).group(1))
    assert accuracy > 85
