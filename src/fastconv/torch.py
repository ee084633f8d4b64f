"""Drop-in for PyTorch users: ``conv2d``, ``max_pool2d`` and ``avg_pool2d`` on CPU tensors with
torch's signatures and results, and ``patched()`` to route ``torch.nn.functional`` through them.

Inputs are shared with NumPy without copies (a channels-last tensor runs fastconv's NHWC path),
results come back as tensors over fastconv's arrays. Whatever fastconv does not serve goes to
torch's own function unchanged: tensors that need gradients while grad mode is on, non-CPU
tensors, dtypes other than float32/float64, mixed dtypes, and calls too small for fastconv to
be the faster (per-op thresholds measured by ``fastconv._torch_thresholds.calibrate()``; see
``thresholds()`` / ``set_thresholds()``).

Examples
--------
>>> import torch, fastconv.torch
>>> x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
>>> torch.allclose(fastconv.torch.conv2d(x, w, padding=1), torch.nn.functional.conv2d(x, w, padding=1), atol=1e-5)
True
>>> with fastconv.torch.patched():
...     y = torch.nn.Conv2d(3, 4, 3).eval()(x)
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, Optional

import numpy as np
import torch as _torch

from . import _torch_thresholds as _thresholds_module
from .conv import conv2d as _conv2d
from .pool import avg_pool2d as _avg_pool2d
from .pool import max_pool2d as _max_pool2d

_F = _torch.nn.functional
_ORIGINALS: Dict[str, Callable[..., Any]] = {"conv2d": _F.conv2d, "max_pool2d": _F.max_pool2d,
                                              "avg_pool2d": _F.avg_pool2d}
_FLOATS = (_torch.float32, _torch.float64)
_STRIDED = _torch.strided
_TENSOR = _torch.Tensor
_INFINITY = float("inf")
# What torch.nn.functional.max_pool2d calls once its Python wrapper has checked for
# __torch_function__ overrides and defaulted the stride: the routed small calls skip the wrapper
# (a third of a tiny call's time) where that check would find nothing.
_has_torch_function_unary = _torch.overrides.has_torch_function_unary
_TORCH_MAX_POOL2D = _torch.max_pool2d
_THRESHOLDS: Dict[str, Dict[str, float]] = _thresholds_module.load()


def _served(*tensors: Optional[_torch.Tensor]) -> bool:
    """fastconv runs the call: strided CPU float32/float64 tensors of one dtype, no gradient needed."""
    dtype = None
    for t in tensors:
        if t is None:
            continue
        if not isinstance(t, _torch.Tensor) or not t.is_cpu or t.layout is not _STRIDED:
            return False
        if dtype is None:
            if t.dtype not in _FLOATS or t.dim() not in (3, 4):
                return False
            dtype = t.dtype
        elif t.dtype is not dtype:
            return False
        if t.requires_grad and _torch.is_grad_enabled():
            return False
    return dtype is not None


def _as_numpy(t: _torch.Tensor) -> tuple:
    """The tensor's data as a NumPy array (no copy) and its layout: channels-last 4-D tensors as NHWC."""
    if t.requires_grad:
        t = t.detach()
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=_torch.channels_last):
        return t.permute(0, 2, 3, 1).numpy(), "NHWC"
    return t.numpy(), "NCHW"


def _as_tensor(array: np.ndarray, layout: str) -> _torch.Tensor:
    result = _torch.from_numpy(array)
    return result.permute(0, 3, 1, 2) if layout == "NHWC" else result


def _array(t: Optional[_torch.Tensor]) -> Optional[np.ndarray]:
    if t is None:
        return None
    return t.detach().numpy() if t.requires_grad else t.numpy()


def conv2d(input: _torch.Tensor, weight: _torch.Tensor, bias: Optional[_torch.Tensor] = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> _torch.Tensor:
    """``torch.nn.functional.conv2d``, run by fastconv when it serves the call and it is large
    enough for fastconv to be the faster (see fastconv._torch_thresholds)."""
    if _small_conv(input, weight, groups) or not _served(input, weight, bias):
        return _ORIGINALS["conv2d"](input, weight, bias, stride, padding, dilation, groups)
    return _serve_conv2d(input, weight, bias, stride, padding, dilation, groups)


def max_pool2d(input: _torch.Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """``torch.nn.functional.max_pool2d``, run by fastconv when it serves the call and it is
    large enough for fastconv to be the faster."""
    if type(input) is _TENSOR and type(kernel_size) is int:
        # the usual call, its size test written out (one Python frame for a small call)
        if input.numel() * kernel_size * kernel_size < _LIMITS["max_pool2d"].get(input.dtype, _INFINITY):
            if return_indices or _has_torch_function_unary(input):
                return _ORIGINALS["max_pool2d"](input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                                                return_indices=return_indices)
            return _TORCH_MAX_POOL2D(input, kernel_size, [] if stride is None else stride, padding, dilation,
                                     ceil_mode)
        if not _served(input):
            return _ORIGINALS["max_pool2d"](input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                                            return_indices=return_indices)
        return _serve_max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if _small_pool("max_pool2d", input, kernel_size) or not _served(input):
        return _ORIGINALS["max_pool2d"](input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                                        return_indices=return_indices)
    return _serve_max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool2d(input: _torch.Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> _torch.Tensor:
    """``torch.nn.functional.avg_pool2d``, run by fastconv when it serves the call and it is
    large enough for fastconv to be the faster."""
    if type(input) is _TENSOR and type(kernel_size) is int:
        # the usual call, its size test written out (one Python frame for a small call)
        if (input.numel() * kernel_size * kernel_size < _LIMITS["avg_pool2d"].get(input.dtype, _INFINITY)
                or not _served(input)):
            return _ORIGINALS["avg_pool2d"](input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                            divisor_override)
        return _serve_avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    if _small_pool("avg_pool2d", input, kernel_size) or not _served(input):
        return _ORIGINALS["avg_pool2d"](input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                        divisor_override)
    return _serve_avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _serve_conv2d(input: _torch.Tensor, weight: _torch.Tensor, bias: Optional[_torch.Tensor], stride: Any,
                  padding: Any, dilation: Any, groups: int) -> _torch.Tensor:
    x, layout = _as_numpy(input)
    if input.dim() == 3:
        layout = "NCHW"
    out = _conv2d(x, _array(weight), _array(bias), _pair(stride),
                  _padding(padding), _pair(dilation), groups, layout=layout)
    return _as_tensor(out, layout)


def _serve_max_pool2d(input: _torch.Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                      ceil_mode: bool, return_indices: bool) -> Any:
    x, layout = _as_numpy(input)
    if input.dim() == 3:
        layout = "NCHW"
    result = _max_pool2d(x, _pair(kernel_size), _stride(stride), _pair(padding), _pair(dilation), ceil_mode,
                         return_indices, layout=layout)
    if return_indices:
        return _as_tensor(result[0], layout), _as_tensor(result[1], layout)
    return _as_tensor(result, layout)


def _serve_avg_pool2d(input: _torch.Tensor, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
                      count_include_pad: bool, divisor_override: Optional[int]) -> _torch.Tensor:
    x, layout = _as_numpy(input)
    if input.dim() == 3:
        layout = "NCHW"
    out = _avg_pool2d(x, _pair(kernel_size), _stride(stride), _pair(padding), ceil_mode, count_include_pad,
                      divisor_override, layout=layout)
    return _as_tensor(out, layout)


# The size test runs first, before _served: whatever it sends to torch's own function is right
# to send there (an argument fastconv would not serve included), and a small call pays little
# more than torch's own cost. Anything but a float32/float64 tensor of 3 or 4 dimensions counts
# as small, and so goes to torch.
_DTYPES = {"float32": _torch.float32, "float64": _torch.float64}


def _threshold(op: str, input: _torch.Tensor) -> float:
    return _LIMITS[op].get(input.dtype, _INFINITY)


def _limits_by_dtype(thresholds: Dict[str, Dict[str, float]]) -> Dict[str, Dict[Any, float]]:
    """The thresholds keyed by torch dtype, as the size tests read them (other dtypes: infinite)."""
    return {op: {_DTYPES[name]: work for name, work in by_dtype.items()} for op, by_dtype in thresholds.items()}


_LIMITS = _limits_by_dtype(_THRESHOLDS)


def _small_conv(input: Any, weight: Any, groups: Any) -> bool:
    """Whether torch's own conv2d takes the call by its size (see above)."""
    if not (isinstance(input, _torch.Tensor) and isinstance(weight, _torch.Tensor) and input.dim() in (3, 4)):
        return True
    depthwise = weight.dim() == 4 and weight.shape[1] == 1 and groups == input.shape[-3] and groups != 1
    return _conv_work(input, weight) < _threshold("conv2d_depthwise" if depthwise else "conv2d", input)


def _small_pool(op: str, input: Any, kernel_size: Any) -> bool:
    """Whether torch's own `op` takes the call by its size (see above)."""
    return not isinstance(input, _torch.Tensor) or _pool_work(input, kernel_size) < _threshold(op, input)


def _conv_work(input: _torch.Tensor, weight: _torch.Tensor) -> float:
    """Multiply-adds at stride 1: positions x output channels x (C_in / groups) x taps."""
    return input.numel() / max(input.shape[-3], 1) * weight.numel()


def _pool_work(input: _torch.Tensor, kernel_size: Any) -> float:
    """Input elements x window cells (a malformed kernel_size counts as 1: validation reports it)."""
    try:
        if isinstance(kernel_size, (list, tuple)):
            cells = int(kernel_size[0]) * int(kernel_size[-1])
        else:
            cells = int(kernel_size) ** 2
    except (TypeError, ValueError, IndexError):
        cells = 1
    return float(input.numel() * max(cells, 1))


def thresholds() -> Dict[str, Dict[str, float]]:
    """The work below which each op goes to torch's own function, by dtype (a copy)."""
    return {op: dict(by_dtype) for op, by_dtype in _THRESHOLDS.items()}


def set_thresholds(values: Optional[Dict[str, Dict[str, float]]] = None) -> None:
    """Replace the thresholds ({op: {dtype: work}}, ops and dtypes as in thresholds()); None
    reloads the stored or default ones. 0 serves every size with fastconv."""
    global _THRESHOLDS, _LIMITS
    if values is None:
        _THRESHOLDS = _thresholds_module.load()
        _LIMITS = _limits_by_dtype(_THRESHOLDS)
        return
    updated = thresholds()
    for op, by_dtype in values.items():
        if op not in updated:
            msg = f"set_thresholds: unknown op {op!r}; choose from {', '.join(updated)}"
            raise ValueError(msg)
        for dtype, work in by_dtype.items():
            if dtype not in updated[op] or not isinstance(work, (int, float)) or work < 0:
                msg = f"set_thresholds: {op}[{dtype!r}] must be a non-negative number for float32/float64, got {work!r}"
                raise ValueError(msg)
            updated[op][dtype] = float(work)
    _THRESHOLDS = updated
    _LIMITS = _limits_by_dtype(updated)


def _pair(value: Any) -> Any:
    """torch accepts one-element sequences for pairs."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return (value[0], value[0])
    return tuple(value) if isinstance(value, list) else value


def _stride(value: Any) -> Any:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    return _pair(value)


def _padding(value: Any) -> Any:
    return value if isinstance(value, str) else _pair(value)


_patch_lock = threading.Lock()
_patch_depth = 0


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """Route ``torch.nn.functional.conv2d`` / ``max_pool2d`` / ``avg_pool2d`` (and so
    ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d``) through fastconv inside the block; the
    originals come back on exit, also after an exception. Calls fastconv does not serve reach
    torch's own functions unchanged."""
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            _F.conv2d, _F.max_pool2d, _F.avg_pool2d = conv2d, max_pool2d, avg_pool2d
        _patch_depth += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                _F.conv2d = _ORIGINALS["conv2d"]
                _F.max_pool2d = _ORIGINALS["max_pool2d"]
                _F.avg_pool2d = _ORIGINALS["avg_pool2d"]


__all__ = ["avg_pool2d", "conv2d", "max_pool2d", "patched", "set_thresholds", "thresholds"]
