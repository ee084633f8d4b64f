"""The Numba backend: the fallback when the compiled module is missing, also selectable.

Kernels are compiled on first use for the dtype they meet (float32 or float64), in two
versions: ``parallel=True`` with ``prange``, and serial. Numba's default threading layer
(workqueue) aborts the process when two Python threads enter parallel code at once, so a
second concurrent caller runs the serial version instead. fastmath stays off (NaN must
propagate); set FASTCONV_NUMBA_CACHE=1 to cache compiled kernels on disk.

NCHW kernels run natively; NHWC calls are transposed to NCHW and back here. Convolutions with
several output channels per group run as im2col (Numba) + a GEMM in NumPy's BLAS over chunks of
output rows, the chunks spread over a pool of Python threads (both steps release the GIL) with
BLAS held to one thread: Numba's and BLAS's own thread pools, run back to back, spin against each
other. One output channel per group (depthwise) runs the direct loops.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .. import _dispatch
from .._validate import Conv2dCall, Filter2dCall, Pool2dCall
from . import _image

_CACHE = os.environ.get("FASTCONV_NUMBA_CACHE", "") == "1"


def _conv2d_nchw(x, weight, bias, out, sh, sw, pad_top, pad_left, dh, dw, groups, relu):
    """Few output channels per group (depthwise): one job per (image, output channel); each input
    channel of its group is copied into a zero-padded plane, split into its `sw` column phases
    (phase f holds padded columns f, f + sw, ...), so that every tap of every output row is a
    unit-stride multiply-add over a phase row that LLVM vectorises, whatever the stride."""
    n_batch, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    oh, ow = out.shape[2], out.shape[3]
    out_per_group = c_out // groups
    hp = (oh - 1) * sh + (kh - 1) * dh + 1
    wp = (ow - 1) * sw + (kw - 1) * dw + 1
    wq = (wp + sw - 1) // sw  # columns per phase
    # the input rows and columns that land in the padded plane
    row_first = max(0, pad_top)
    row_last = min(hp, pad_top + h)
    col_first = max(0, pad_left)
    col_last = min(wp, pad_left + w)
    for job in numba.prange(n_batch * c_out):
        n = job // c_out
        oc = job % c_out
        first_channel = (oc // out_per_group) * c_per_group
        padded = np.zeros((hp, wp), dtype=x.dtype)
        phases = np.empty((sw if sw > 1 else 0, hp, wq), dtype=x.dtype)
        acc = np.zeros((oh, ow), dtype=x.dtype)
        for c in range(c_per_group):
            if col_first < col_last:
                for r in range(row_first, row_last):
                    padded[r, col_first:col_last] = x[n, first_channel + c, r - pad_top,
                                                      col_first - pad_left:col_last - pad_left]
            if sw > 1:
                for f in range(sw):
                    count = (wp - f + sw - 1) // sw
                    for r in range(hp):
                        phases[f, r, :count] = padded[r, f::sw]
            for i in range(oh):
                line = acc[i]
                for p in range(kh):
                    r = i * sh + p * dh
                    for q in range(kw):
                        value = weight[oc, c, p, q]
                        base = q * dw
                        if sw == 1:
                            segment = padded[r, base:base + ow]
                        else:
                            start = base // sw
                            segment = phases[base % sw, r, start:start + ow]
                        for j in range(ow):
                            line[j] += value * segment[j]
        for i in range(oh):
            for j in range(ow):
                v = acc[i, j] + bias[oc]
                out[n, oc, i, j] = 0 if relu and v < 0 else v
    return out


def _im2col(x, cols, first_channel, channels, kh, kw, sh, sw, pad_top, pad_left, dh, dw, row0, rows, ow):
    """cols[(c, p, q), (i - row0) * ow + j] = x[first_channel + c, i*sh - pad_top + p*dh, j*sw - pad_left + q*dw]
    (zero outside the input) for output rows i in [row0, row0 + rows)."""
    h, w = x.shape[1], x.shape[2]
    for k in range(channels * kh * kw):
        c = k // (kh * kw)
        p = (k // kw) % kh
        q = k % kw
        offset = q * dw - pad_left  # input column = j * sw + offset
        lo = 0 if offset >= 0 else (-offset + sw - 1) // sw
        hi = 0 if w - 1 - offset < 0 else min(ow, (w - 1 - offset) // sw + 1)
        lo = min(lo, hi)
        for i in range(rows):
            row = (row0 + i) * sh - pad_top + p * dh
            base = i * ow
            if row < 0 or row >= h:
                for j in range(ow):
                    cols[k, base + j] = 0
                continue
            for j in range(lo):
                cols[k, base + j] = 0
            for j in range(lo, hi):
                cols[k, base + j] = x[first_channel + c, row, j * sw + offset]
            for j in range(hi, ow):
                cols[k, base + j] = 0
    return cols


def _max_pool2d_nchw(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    n_batch, channels, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for plane in numba.prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for i in range(oh):
            r0 = i * sh - ph
            r1 = min(r0 + (kh - 1) * dh + 1, h)
            while r0 < 0:
                r0 += dh
            for j in range(ow):
                c0 = j * sw - pw
                c1 = min(c0 + (kw - 1) * dw + 1, w)
                while c0 < 0:
                    c0 += dw
                best = -np.inf
                best_index = r0 * w + c0
                for r in range(r0, r1, dh):
                    for s in range(c0, c1, dw):
                        v = x[n, c, r, s]
                        if v > best or np.isnan(v):
                            best = v
                            best_index = r * w + s
                out[n, c, i, j] = best
                indices[n, c, i, j] = best_index
    return out


def _avg_pool2d_nchw(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    n_batch, channels, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for plane in numba.prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for i in range(oh):
            r0 = i * sh - ph
            r1 = min(r0 + kh, h + ph)
            for j in range(ow):
                c0 = j * sw - pw
                c1 = min(c0 + kw, w + pw)
                padded_area = (r1 - r0) * (c1 - c0)
                ra, rb, ca, cb = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
                if ra >= rb or ca >= cb:
                    out[n, c, i, j] = 0
                    continue
                total = 0.0  # float64 accumulation, rounded once on store
                for r in range(ra, rb):
                    for s in range(ca, cb):
                        total += x[n, c, r, s]
                if divisor_override != 0:
                    divisor = divisor_override
                elif count_include_pad:
                    divisor = padded_area
                else:
                    divisor = (rb - ra) * (cb - ca)
                out[n, c, i, j] = total / divisor
    return out


def _correlate_rows(padded, taps, out, step):
    """out[p, i, j] = sum_{r, q} taps[r, q] * padded[p, i + r, j + q * step] (channels interleaved
    in a row are `step` apart); one job per output row, unit-stride inner loops."""
    planes, out_height, n = out.shape
    kh, kw = taps.shape
    for job in numba.prange(planes * out_height):
        p = job // out_height
        i = job - p * out_height
        row = out[p, i]
        row[:] = 0
        for r in range(kh):
            source = padded[p, i + r]
            for q in range(kw):
                weight = taps[r, q]
                offset = q * step
                for j in range(n):
                    row[j] += weight * source[j + offset]
    return out


class _Kernel:
    """A kernel compiled twice: parallel for the first caller, serial for concurrent ones."""

    def __init__(self, function) -> None:
        self.parallel = numba.njit(parallel=True, nogil=True, cache=_CACHE)(function)
        self.serial = numba.njit(parallel=False, nogil=True, cache=_CACHE)(function)
        self.busy = threading.Lock()

    def __call__(self, num_threads: int, *args) -> None:
        if num_threads > 1 and self.busy.acquire(blocking=False):
            try:
                numba.set_num_threads(min(num_threads, numba.config.NUMBA_NUM_THREADS))
                self.parallel(*args)
            finally:
                self.busy.release()
        else:
            self.serial(*args)


_conv2d = _Kernel(_conv2d_nchw)
# serial only: it runs on the pool's Python threads, never in Numba's own thread pool
_im2col_serial = numba.njit(nogil=True, cache=_CACHE)(_im2col)
_COLUMNS_BUDGET = 1 << 21  # elements of im2col per GEMM: a few MB, the output rows are chunked to fit
_correlate = _Kernel(_correlate_rows)
_max_pool2d = _Kernel(_max_pool2d_nchw)
_avg_pool2d = _Kernel(_avg_pool2d_nchw)


def _nchw(array: np.ndarray, layout: str) -> np.ndarray:
    if layout != "NCHW":
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    # Numba compiles a kernel anew (~15 s) for each array type; read-only and unaligned arrays are
    # types of their own, so they are copied into the one type the kernels are compiled for.
    return array if array.flags.writeable and array.flags.aligned else array.copy()


def _scratch(target: np.ndarray, layout: str) -> np.ndarray:
    """The NCHW array to compute into: the target itself, or a buffer for an NHWC target."""
    if layout == "NCHW":
        return target
    n, h, w, c = target.shape
    return np.empty((n, c, h, w), dtype=target.dtype)


def _store(target: np.ndarray, computed: np.ndarray, layout: str) -> None:
    if layout == "NHWC":
        target[...] = computed.transpose(0, 2, 3, 1)


_pool = None
_pool_lock = threading.Lock()


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastconv-numba")
        return _pool


def _conv2d_gemm(call: Conv2dCall, x: np.ndarray, out: np.ndarray, num_threads: int) -> None:
    c_out, c_per_group, kh, kw = call.weight.shape
    groups = call.groups
    out_per_group = c_out // groups
    n_batch, oh, ow = x.shape[0], out.shape[2], out.shape[3]
    reduction = c_per_group * kh * kw
    per_job = -(-oh * n_batch * groups // num_threads)  # at least one chunk per thread
    rows_per_chunk = max(1, min(oh, per_job, _COLUMNS_BUDGET // max(1, reduction * ow)))
    weight = call.weight.reshape(groups, out_per_group, reduction)
    (sh, sw), (dh, dw) = call.stride, call.dilation
    top, _, left, _ = call.padding
    flat = out.reshape(n_batch, groups, out_per_group, oh * ow)
    local = threading.local()

    def job(n: int, g: int, row0: int) -> None:
        rows = min(rows_per_chunk, oh - row0)
        cols = getattr(local, "cols", None)
        if cols is None:
            cols = local.cols = np.empty((reduction, rows_per_chunk * ow), dtype=x.dtype)
        columns = cols[:, : rows * ow]
        _im2col_serial(x[n], columns, g * c_per_group, c_per_group, kh, kw, sh, sw, top, left, dh, dw,
                       row0, rows, ow)
        np.matmul(weight[g], columns, out=flat[n, g, :, row0 * ow:(row0 + rows) * ow])

    jobs = [(n, g, row0) for n in range(n_batch) for g in range(groups) for row0 in range(0, oh, rows_per_chunk)]
    with _dispatch.blas_threads(1):
        if num_threads == 1 or len(jobs) == 1:
            for args in jobs:
                job(*args)
        else:
            for future in [_thread_pool(num_threads).submit(job, *args) for args in jobs]:
                future.result()
    if call.bias is not None:
        out += call.bias[None, :, None, None]
    if call.relu:
        np.maximum(out, 0, out=out, where=~np.isnan(out))  # NaN stays NaN


def conv2d(call: Conv2dCall, num_threads: int) -> None:
    x = _nchw(call.input, call.layout)
    out = _scratch(call.output.array, call.layout)
    if call.weight.shape[0] // call.groups >= 4:
        _conv2d_gemm(call, x, out, num_threads)
    else:
        bias = call.bias if call.bias is not None else np.zeros(call.weight.shape[0], dtype=x.dtype)
        top, _, left, _ = call.padding
        _conv2d(num_threads, x, call.weight, bias, out, call.stride[0], call.stride[1], top, left,
                call.dilation[0], call.dilation[1], call.groups, call.relu)
    _store(call.output.array, out, call.layout)


def max_pool2d(call: Pool2dCall, num_threads: int) -> None:
    x = _nchw(call.input, call.layout)
    out = _scratch(call.output.array, call.layout)
    indices = (np.empty(out.shape, dtype=np.int64) if call.indices is None
               else _scratch(call.indices.array, call.layout))
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = call.kernel_size, call.stride, call.padding, call.dilation
    _max_pool2d(num_threads, x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw)
    _store(call.output.array, out, call.layout)
    if call.indices is not None:
        _store(call.indices.array, indices, call.layout)


def avg_pool2d(call: Pool2dCall, num_threads: int) -> None:
    x = _nchw(call.input, call.layout)
    out = _scratch(call.output.array, call.layout)
    (kh, kw), (sh, sw), (ph, pw) = call.kernel_size, call.stride, call.padding
    _avg_pool2d(num_threads, x, out, kh, kw, sh, sw, ph, pw, call.count_include_pad,
                call.divisor_override or 0)
    _store(call.output.array, out, call.layout)


def filter2d(call: Filter2dCall, num_threads: int) -> None:
    # integer results: float64 sums in the reference's order (no FMA contraction in Numba), so
    # that the rounding agrees with it to the last bit; the separable passes would change the order
    integer_result = call.output_dtype.kind != "f"
    dtype = np.dtype(np.float64) if integer_result else call.compute_dtype
    padded = _image.padded_image(call, dtype)
    planes, height, width, channels = padded.shape
    _, out_height, out_width, _ = call.output.shape
    rows = np.ascontiguousarray(padded).reshape(planes, height, width * channels)
    out = np.empty((planes, out_height, out_width * channels), dtype=dtype)
    if call.algorithm == "separable" and not integer_result:
        across = np.empty((planes, height, out_width * channels), dtype=dtype)
        _correlate(num_threads, rows, call.row_taps[np.newaxis, :].astype(dtype), across, channels)
        _correlate(num_threads, across, call.column_taps[:, np.newaxis].astype(dtype), out, 1)
    else:
        _correlate(num_threads, rows, call.kernel.astype(dtype), out, channels)
    _image.store(call.output, out.reshape(call.output.shape))
