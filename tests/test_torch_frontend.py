"""fastconv.torch: torch's signatures and results on CPU tensors, zero-copy, and patched()."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import fastconv.torch as ft  # noqa: E402
from _cases import random_conv_case, random_pool_case  # noqa: E402

F = torch.nn.functional


@pytest.mark.parametrize("seed", range(20))
def test_conv2d_matches_torch(seed, dtype):
    case = random_conv_case(np.random.default_rng(500 + seed), dtype)
    kw = case.kwargs
    if isinstance(kw["padding"], tuple) and len(kw["padding"]) == 4:  # torch's conv2d takes (ph, pw) only
        kw["padding"] = (kw["padding"][0], kw["padding"][2])
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    w = torch.from_numpy(case.weight)
    b = None if "bias" not in kw else torch.from_numpy(kw["bias"])
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    expected = F.conv2d(x, w, b, *args)
    actual = ft.conv2d(x, w, b, *args)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    tol = 2e-5 if dtype == np.float32 else 1e-11
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * float(expected.abs().max().clamp(min=1)))
    # channels-last in, channels-last out
    actual_cl = ft.conv2d(x.contiguous(memory_format=torch.channels_last), w, b, *args)
    torch.testing.assert_close(actual_cl, expected, rtol=tol, atol=tol * float(expected.abs().max().clamp(min=1)))


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(15))
def test_pools_match_torch(kind, seed):
    case = random_pool_case(np.random.default_rng(700 + seed), np.float32, kind)
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    kw = {k: v for k, v in case.kwargs.items() if k != "layout"}
    if kind == "max":
        kw["return_indices"] = True
        expected, expected_indices = F.max_pool2d(x, **kw)
        actual, indices = ft.max_pool2d(x, **kw)
        torch.testing.assert_close(indices, expected_indices, rtol=0, atol=0)
    else:
        expected = F.avg_pool2d(x, **kw)
        actual = ft.avg_pool2d(x, **kw)
    torch.testing.assert_close(actual, expected, rtol=2e-5, atol=2e-5, equal_nan=True)


def test_fallbacks():
    x = torch.randn(1, 2, 6, 6)
    w = torch.randn(3, 2, 3, 3)
    xg = x.clone().requires_grad_()
    y = ft.conv2d(xg, w)  # needs grad: torch's own conv2d, so autograd works
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert xg.grad is not None
    with torch.no_grad():
        assert not ft.conv2d(xg, w).requires_grad  # served by fastconv under no_grad
    assert ft.conv2d(x.half(), w.half()).dtype == torch.float16  # unsupported dtype: torch's
    with pytest.raises(RuntimeError):
        ft.conv2d(x, w.double())  # mixed dtypes: torch's own error


def test_patched_model_gives_the_same_outputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(8, 8, 3, stride=2, groups=2), torch.nn.AvgPool2d(2, ceil_mode=True),
                                torch.nn.Flatten(), torch.nn.Linear(8 * 2 * 2, 5)).eval()
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        expected = model(x)
        original = F.conv2d
        with ft.patched():
            assert F.conv2d is ft.conv2d
            actual = model(x)
        assert F.conv2d is original
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_patched_restores_after_an_exception():
    original = (F.conv2d, F.max_pool2d, F.avg_pool2d)
    with pytest.raises(ZeroDivisionError):
        with ft.patched():
            1 / 0
    assert (F.conv2d, F.max_pool2d, F.avg_pool2d) == original
