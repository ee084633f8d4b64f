"""Random cases over every option, and the tolerance rules, shared by the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

import numpy as np
import pytest

import fastconv
from fastconv import _shapes

TOLERANCE = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-11}


def assert_close(actual, expected, dtype, scale=None):
    """Relative error within the dtype's tolerance, measured against the result's magnitude
    (an element near zero after cancellation is judged by the scale of the whole output)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    rtol = TOLERANCE[np.dtype(dtype)]
    finite = expected[np.isfinite(expected)]
    if scale is None:
        scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, equal_nan=True)


def random_array(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


class _Case:
    input: np.ndarray
    kwargs: Dict[str, Any]

    @property
    def layout(self):
        return self.kwargs.get("layout", "NCHW")

    def nchw_input(self):
        """The input as batched NCHW (what torch takes)."""
        x = self.input if self.input.ndim == 4 else self.input[None]
        return x if self.layout == "NCHW" else x.transpose(0, 3, 1, 2)


@dataclass
class ConvCase(_Case):
    input: np.ndarray
    weight: np.ndarray
    kwargs: Dict[str, Any] = field(default_factory=dict)


def random_conv_case(rng, dtype) -> ConvCase:
    """A conv2d call over the whole option space whose output is not empty."""
    while True:
        groups = int(rng.choice([1, 1, 2, 3]))
        c_in = groups * int(rng.integers(1, 4))
        c_out = groups * int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        kind = rng.choice(["int", "pair", "four", "same", "valid"])
        padding: Any
        if kind == "int":
            padding = int(rng.integers(0, 3))
        elif kind == "pair":
            padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
        elif kind == "four":
            padding = tuple(int(v) for v in rng.integers(0, 4, size=4))
        elif kind == "same":
            padding, stride = "same", (1, 1)
        else:
            padding = "valid"
        padding_mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
        sides = _shapes.conv_padding(padding, (kh, kw), dilation, stride)
        top, bottom, left, right = sides
        if padding_mode == "reflect" and max(top, bottom) >= h or padding_mode == "reflect" and max(left, right) >= w:
            continue
        if padding_mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
            continue
        if _shapes.conv_extent(h, kh, stride[0], top, bottom, dilation[0]) < 1:
            continue
        if _shapes.conv_extent(w, kw, stride[1], left, right, dilation[1]) < 1:
            continue
        break
    layout = str(rng.choice(["NCHW", "NHWC"]))
    batched = rng.random() < 0.8
    n = int(rng.integers(1, 4))
    shape = (n, c_in, h, w) if layout == "NCHW" else (n, h, w, c_in)
    x = random_array(rng, shape if batched else shape[1:], dtype)
    weight = random_array(rng, (c_out, c_in // groups, kh, kw), dtype)
    stride_argument = stride[0] if stride[0] == stride[1] and rng.random() < 0.5 else stride
    kwargs: Dict[str, Any] = dict(stride=stride_argument, padding=padding, dilation=dilation, groups=groups,
                                  padding_mode=padding_mode, layout=layout)
    if rng.random() < 0.7:
        kwargs["bias"] = random_array(rng, (c_out,), dtype)
    if rng.random() < 0.4:
        kwargs["activation"] = "relu"
    return ConvCase(x, weight, kwargs)


@dataclass
class PoolCase(_Case):
    input: np.ndarray
    kwargs: Dict[str, Any]


def random_pool_case(rng, dtype, kind: str) -> PoolCase:
    """A max_pool2d or avg_pool2d call over the whole option space, with ties and NaNs sometimes."""
    while True:
        kernel = tuple(int(v) for v in rng.integers(1, 5, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, size=2)) if kind == "max" else (1, 1)
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        ceil_mode = bool(rng.random() < 0.5)
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        oh = _shapes.pool_extent(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
        ow = _shapes.pool_extent(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
        if oh >= 1 and ow >= 1:
            break
    layout = str(rng.choice(["NCHW", "NHWC"]))
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 5))
    shape = (n, c, h, w) if layout == "NCHW" else (n, h, w, c)
    if rng.random() < 0.3:  # small integers: many ties, which decide the max-pool indices
        x = rng.integers(-3, 3, size=shape).astype(dtype)
    else:
        x = random_array(rng, shape, dtype)
    if rng.random() < 0.2:
        x.flat[rng.integers(0, x.size, size=max(1, x.size // 10))] = np.nan
    if rng.random() < 0.1:
        x.flat[rng.integers(0, x.size, size=max(1, x.size // 10))] = -np.inf
    kwargs: Dict[str, Any] = dict(kernel_size=kernel, stride=None if rng.random() < 0.2 else stride,
                                  padding=padding, ceil_mode=ceil_mode, layout=layout)
    if kind == "max":
        kwargs["dilation"] = dilation
        kwargs["return_indices"] = bool(rng.random() < 0.7)
    else:
        kwargs["count_include_pad"] = bool(rng.random() < 0.5)
        if rng.random() < 0.25:
            kwargs["divisor_override"] = int(rng.choice([-3, 1, 2, 5]))
    if rng.random() < 0.2:
        x = x[0]
    return PoolCase(x, kwargs)


def reference(function, case, **extra):
    return getattr(fastconv, function)(case.input, *([case.weight] if hasattr(case, "weight") else []),
                                       **case.kwargs, **extra, backend="reference")


def run_in_threads(work, count):
    """Run work(0) ... work(count - 1) at once on Python threads; re-raise the first error."""
    import threading

    errors = []

    def guarded(i):
        try:
            work(i)
        except BaseException as error:  # surfaced in the calling thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def assert_twin_gradients(torch, model, twin, x, labels, input_tolerance, parameter_tolerance):
    """One cross-entropy step through our model and its torch twin on the same batch: the same
    loss (1e-12 relative), input gradient and parameter gradients, each within its
    (rtol, atol)."""
    from fastconv import nn

    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), labels)
    grad_input = model.backward(criterion.backward())
    tx = torch.tensor(x, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(twin(tx), torch.tensor(labels))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    np.testing.assert_allclose(grad_input, tx.grad.numpy(), *input_tolerance)
    theirs = dict(twin.named_parameters())
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad, theirs[name].grad.numpy(), *parameter_tolerance, err_msg=name)


def require_slow(request):
    """Skips unless the slow tests were selected (`pytest -m slow`): CI runs `pytest` as it is."""
    expression = request.config.getoption("markexpr") or ""
    if "slow" not in expression or "not slow" in expression:
        pytest.skip("slow: run with -m slow")
