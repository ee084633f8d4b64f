"""The same calls through torch 2.13.0 (CPU), for the tests that compare with it when installed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

_TORCH_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _back(y, case):
    """torch's NCHW result -> the case's layout and batching, as a NumPy array."""
    y = y.detach().numpy()
    if case.layout == "NHWC":
        y = y.transpose(0, 2, 3, 1)
    return y if case.input.ndim == 4 else y[0]


def conv2d(case):
    kw = case.kwargs
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    weight = torch.from_numpy(case.weight)
    bias = kw.get("bias")
    bias = None if bias is None else torch.from_numpy(bias)
    stride, dilation, groups = kw["stride"], kw["dilation"], kw["groups"]
    padding, mode = kw["padding"], kw["padding_mode"]
    with torch.no_grad():
        if isinstance(padding, tuple) and len(padding) == 4:
            top, bottom, left, right = padding
            x = F.pad(x, (left, right, top, bottom), mode=_TORCH_PAD_MODE[mode])
            y = F.conv2d(x, weight, bias, stride, 0, dilation, groups)
        else:  # nn.Conv2d is where torch implements padding_mode
            c_out, _, kh, kwd = case.weight.shape
            layer = torch.nn.Conv2d(x.shape[1], c_out, (kh, kwd), stride, padding, dilation, groups,
                                    bias=bias is not None, padding_mode=mode, dtype=x.dtype)
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
            y = layer(x)
        if kw.get("activation") == "relu":
            y = torch.relu(y)
    return _back(y, case)


def max_pool2d(case):
    kw = dict(case.kwargs)
    kw.pop("layout")
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    result = F.max_pool2d(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["ceil_mode"],
                          return_indices=True)
    values, indices = (_back(r, case) for r in result)
    return (values, indices) if kw.get("return_indices") else values


def avg_pool2d(case):
    kw = case.kwargs
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    y = F.avg_pool2d(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"],
                     kw.get("count_include_pad", True), kw.get("divisor_override"))
    return _back(y, case)
