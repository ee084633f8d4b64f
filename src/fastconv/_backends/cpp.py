"""Thin adapter over the compiled module ``fastconv._core``: no checks, the call is validated."""

from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np

from .. import _cpu
from .. import _core  # ImportError here marks the backend unavailable (see _dispatch)
from .._validate import Conv2dCall, Filter2dCall, Pool2dCall


def _apply_simd_override() -> None:
    """FASTCONV_SIMD=avx2|scalar|... lowers the kernel level chosen from the CPU; it never raises it."""
    requested = os.environ.get("FASTCONV_SIMD", "").strip().lower()
    if not requested:
        return
    if requested == "baseline":
        requested = "scalar"
    supported = _core.simd_levels()
    if requested not in supported:
        warnings.warn(f"FASTCONV_SIMD={requested!r} is not one of the levels this CPU supports "
                      f"({', '.join(supported)}); using {_core.simd_level()!r}", RuntimeWarning, stacklevel=2)
        return
    if supported.index(requested) < supported.index(_core.simd_level()):
        _core._set_simd(requested)


_apply_simd_override()


def apply_cache_sizes(sizes: Optional[_cpu.CacheSizes] = None) -> None:
    """Give the kernels the cache sizes their block sizes derive from (default: the machine's,
    with FASTCONV_CACHE_L2 / FASTCONV_CACHE_L3 applied)."""
    if sizes is None:
        try:
            sizes = _cpu.cache_sizes()
        except ValueError as error:  # a malformed override must not disable the backend
            warnings.warn(f"{error}; using the machine's cache sizes", RuntimeWarning, stacklevel=2)
            sizes = _cpu.cache_sizes(environ={})
    _core._set_cache_sizes(sizes.l1d, sizes.l2, sizes.l3)


apply_cache_sizes()


def conv2d(call: Conv2dCall, num_threads: int) -> None:
    _core.conv2d(call.input, call.weight, call.bias, call.output.array, call.stride, call.padding,
                 call.dilation, call.groups, call.relu, call.layout == "NHWC", num_threads, call.algorithm)


def max_pool2d(call: Pool2dCall, num_threads: int) -> None:
    indices = None if call.indices is None else call.indices.array
    _core.max_pool2d(call.input, call.output.array, indices, call.kernel_size, call.stride, call.padding,
                     call.dilation, call.layout == "NHWC", num_threads)


def avg_pool2d(call: Pool2dCall, num_threads: int) -> None:
    _core.avg_pool2d(call.input, call.output.array, call.kernel_size, call.stride, call.padding,
                     call.count_include_pad, call.divisor_override or 0, call.layout == "NHWC", num_threads)


_BORDER_CODES = {"constant": 0, "reflect": 1, "nearest": 2, "mirror": 3, "wrap": 4}  # cpp/common/params.hpp


def filter2d(call: Filter2dCall, num_threads: int) -> None:
    (top, _), (left, _) = call.padding  # the taps are set when, and only when, the separable path was chosen
    _core.filter2d(call.image, call.output, call.kernel, call.row_taps, call.column_taps, (top, left),
                   _BORDER_CODES[call.border], call.cval, call.compute_dtype == np.float64, call.round_margin,
                   num_threads)
