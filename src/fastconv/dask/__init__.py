"""fastconv on Dask: filters, pools and convolutions of arrays larger than memory.

The functions take dask arrays (or anything ``dask.array.asarray`` takes) and return dask arrays;
nothing runs until ``compute()``, ``store()`` or ``persist()``. Each chunk is computed by the
fastconv function of the same name, and the results equal that function's on the whole array
in memory, bit for bit (the one exception: ``filter2d`` with ``algorithm="fft"``, which ``auto``
picks for kernels of 2100 taps and more, agrees only to the FFT's rounding).

- ``filter2d``, ``max_pool2d`` and ``avg_pool2d`` work on chunked images: each chunk is extended
  by the window's halo from its neighbours (``dask.array.overlap``), the fastconv function runs
  on that block and the chunk's part of its result is kept. At the image's true edges a block
  has no halo and fastconv applies the border rule itself, as it does on the whole image; only
  ``border="wrap"`` takes its halo from the far edge (dask's periodic boundary). Pools move
  chunk boundaries to multiples of the stride (a rechunk, when they are not), so every chunk
  owns whole windows; ``ceil_mode``'s partial windows and the padding occur at the true edges only.
- ``conv2d`` and ``apply`` (a ``fastconv.nn`` model) work on batches chunked along N: one task
  per chunk of images, the weights put into the graph once, as one key every task reads (a
  literal of the graph; or, when a dask.distributed client is the default, scattered to every
  worker beforehand, the graph carrying only the key), never pickled per task.

Threads. Dask runs several tasks at once: the threaded scheduler one per core, a
dask.distributed cluster ``threads_per_worker`` per worker. Each task's fastconv calls run on
``threads_per_task`` threads (default 1, the process-wide ``set_num_threads`` is left alone), so
keep ``threads_per_task x`` (the tasks that run at once on a machine) ``<=`` its cores: the
default fits dask's defaults (the threaded scheduler's one thread per core; a LocalCluster's
workers x threads = cores). For a few large tasks, fewer dask threads and more fastconv threads
per task, e.g. one worker per machine with one thread and ``threads_per_task`` = its cores.

Examples
--------
>>> import numpy as np, dask.array as da
>>> import fastconv, fastconv.dask
>>> image = np.random.default_rng(0).standard_normal((300, 400)).astype(np.float32)
>>> chunked = da.from_array(image, chunks=(128, 150))
>>> blurred = fastconv.dask.filter2d(chunked, fastconv.kernels.gaussian(1.5), border="mirror")
>>> bool((blurred.compute(scheduler="threads") == fastconv.filter2d(image, fastconv.kernels.gaussian(1.5),
...                                                                   border="mirror")).all())
True
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Optional, Tuple, Union

import numpy as np

from .. import _dispatch, _validate
from ..conv import conv2d as _conv2d
from ..filters import filter2d as _filter2d
from ..pool import avg_pool2d as _avg_pool2d, max_pool2d as _max_pool2d
from ._windows import plan_axis, run_blocks

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - the extra is not installed
    msg = 'fastconv.dask needs dask: pip install "fastconv[dask]" (dask[array], and distributed for clusters)'
    raise ImportError(msg) from error

IntPair = Union[int, Tuple[int, int]]

__all__ = ["apply", "avg_pool2d", "conv2d", "filter2d", "max_pool2d"]


def _as_dask(value: Any) -> "da.Array":
    return value if isinstance(value, da.Array) else da.asarray(value)


def _threads(threads_per_task: Any, function: str) -> int:
    return _validate.positive_int(threads_per_task, "threads_per_task", function)


def _stand_in(shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` that costs no memory, for validating a call on the
    whole array: an empty batch for 4-D shapes, one zero-strided cell otherwise."""
    if len(shape) == 4:
        return np.empty((0, *shape[1:]), dtype=dtype)
    return np.broadcast_to(np.ones((), dtype=dtype), shape)


# -- filter2d -----------------------------------------------------------------------------------

def filter2d(image: Any, kernel: np.ndarray, *, mode: str = "same", border: Union[str, int] = "constant",
             cval: float = 0.0, flip: bool = False, channel_axis: Optional[int] = None, dtype=None,
             algorithm: str = "auto", backend: Optional[str] = None, threads_per_task: int = 1) -> "da.Array":
    """``fastconv.filter2d`` on a chunked image: the same arguments and the same result, seams
    invisible.

    Parameters
    ----------
    image : dask.array.Array (or array-like), uint8, uint16, int16, float32 or float64
        (H, W), or with ``channel_axis`` (H, W, C), (C, H, W), ... chunked in any way along
        every axis.
    kernel, mode, border, cval, flip, channel_axis, dtype, algorithm, backend
        As in ``fastconv.filter2d``.
    threads_per_task : int, default 1
        fastconv threads in each task (see the module's notes on threads).

    Returns
    -------
    dask.array.Array
        The filtered image, chunked as ``image`` (chunks smaller than the kernel merged with a
        neighbour), equal to ``fastconv.filter2d`` on the whole image in memory.

    Notes
    -----
    Each task reads its chunk plus the kernel's halo from the neighbouring chunks (``kh - 1``
    rows and ``kw - 1`` columns in all, split as the mode's padding is). The task's memory is
    that block, its result and fastconv's working rows: independent of the image's size.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastconv, fastconv.dask
    >>> image = da.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), chunks=4)
    >>> fastconv.dask.filter2d(image, fastconv.kernels.box_blur(3), border="nearest").compute()[0]
    array([3.       , 3.6666667, 4.666667 , 5.666667 , 6.666667 , 7.666667 ,
           8.666667 , 9.333333 ], dtype=float32)
    """
    function = "filter2d"
    x = _as_dask(image)
    threads = _threads(threads_per_task, function)
    _dispatch.resolve(backend, function)
    kernel = np.asarray(kernel)
    # validate on a small stand-in with the image's dtype and rank (as large as the kernel, so
    # that mode='valid' fits or fails as it does on the image)
    reach = max(kernel.shape) if kernel.ndim else 1
    probe_shape = tuple(min(extent, reach) for extent in x.shape)
    call = _validate.filter2d_call(_stand_in(probe_shape, x.dtype), kernel, mode, border, cval, flip,
                                   channel_axis, dtype, algorithm)
    if channel_axis is None:
        axes = (0, 1)
    else:
        channels = int(channel_axis) % 3
        axes = tuple(axis for axis in range(3) if axis != channels)
    plans = {}
    for axis, (before, after), window in zip(axes, call.padding, call.kernel.shape):
        extent = x.shape[axis] + before + after - window + 1
        plans[axis] = plan_axis(x.chunks[axis], stride=1, reach=before, window=window, out_extent=extent,
                                periodic=call.border == "wrap" and mode != "valid", reach_after=after)
    operation = functools.partial(
        _filter_block, kernel=kernel, threads=threads,
        options=dict(mode=mode, border=call.border, cval=call.cval, flip=flip, channel_axis=channel_axis,
                     dtype=call.output_dtype, algorithm=algorithm, backend=backend))
    return run_blocks(x, plans, operation, dtype=call.output_dtype, name="fastconv-filter2d")


def _filter_block(block: np.ndarray, *, origin, kernel: np.ndarray, threads: int, options: dict) -> np.ndarray:
    with _dispatch.threads_in_context(threads):
        return _filter2d(block, kernel, **options)


# -- pools --------------------------------------------------------------------------------------

def _pool(function: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any,
          layout: Any, backend: Optional[str], threads_per_task: Any, return_indices: bool = False,
          **averaging: Any) -> "da.Array":
    x = _as_dask(input)
    threads = _threads(threads_per_task, function)
    _dispatch.resolve(backend, function)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[np.newaxis]
    call = _validate.pool2d_call(function, _stand_in(x.shape, x.dtype), kernel_size, stride, padding, dilation,
                                 ceil_mode, layout, return_indices=return_indices, **averaging)
    axes = (2, 3) if call.layout == "NCHW" else (1, 2)
    out_shape = call.output.array.shape
    plans = {}
    for i, axis in enumerate(axes):
        window = call.dilation[i] * (call.kernel_size[i] - 1) + 1
        plans[axis] = plan_axis(x.chunks[axis], stride=call.stride[i], reach=call.padding[i], window=window,
                                out_extent=out_shape[axis])
    options = dict(kernel_size=call.kernel_size, stride=call.stride, padding=call.padding, ceil_mode=ceil_mode,
                   layout=call.layout, backend=backend)
    if function == "max_pool2d":
        options.update(dilation=call.dilation, return_indices=return_indices)
        pool = _max_pool2d
    else:
        options.update(count_include_pad=call.count_include_pad, divisor_override=call.divisor_override)
        pool = _avg_pool2d
    dtype = x.dtype
    if return_indices:
        dtype = np.dtype([("values", x.dtype), ("indices", np.int64)])
    operation = functools.partial(_pool_block, pool=pool, options=options, threads=threads,
                                  plane_axes=axes if return_indices else None, width=x.shape[axes[1]])
    result = run_blocks(x, plans, operation, dtype=dtype, name=f"fastconv-{function}")
    if return_indices:
        values, indices = result["values"], result["indices"]
        return (values[0], indices[0]) if unbatched else (values, indices)
    return result[0] if unbatched else result


def _pool_block(block: np.ndarray, *, origin, pool, options: dict, threads: int, plane_axes, width: int) -> np.ndarray:
    with _dispatch.threads_in_context(threads):
        result = pool(block, **options)
    if plane_axes is None:
        return result
    values, indices = result
    # the kernel's flat index into the block's plane, made the whole plane's
    rows, columns = np.divmod(indices, block.shape[plane_axes[1]])
    both = np.empty(values.shape, dtype=[("values", values.dtype), ("indices", np.int64)])
    both["values"] = values
    both["indices"] = (rows + origin[plane_axes[0]]) * width + columns + origin[plane_axes[1]]
    return both


def max_pool2d(input: Any, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False, *, layout: str = "NCHW",
               backend: Optional[str] = None, threads_per_task: int = 1):
    """``fastconv.max_pool2d`` on a chunked array: the same arguments and the same result.

    Parameters
    ----------
    input : dask.array.Array (or array-like), float32 or float64
        (N, C, H, W) or (C, H, W) (NHWC: (N, H, W, C) or (H, W, C)), chunked in any way: chunk
        boundaries along H and W move to multiples of the stride (and chunks too small for a
        window merge with a neighbour).
    kernel_size, stride, padding, dilation, ceil_mode, layout, backend
        As in ``fastconv.max_pool2d``.
    return_indices : bool, default False
        Also return the winners' flat indices into the whole H x W plane (as in memory).
    threads_per_task : int, default 1
        fastconv threads in each task (see the module's notes on threads).

    Returns
    -------
    dask.array.Array or (dask.array.Array, dask.array.Array)

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastconv, fastconv.dask
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 37, 41)).astype(np.float32)
    >>> pooled = fastconv.dask.max_pool2d(da.from_array(x, chunks=(1, 3, 10, 16)), 3, 2, ceil_mode=True)
    >>> pooled.chunks[2:]  # chunk by chunk: the windows that start in (10, 10, 10, 7) rows, (16, 16, 9) columns
    ((5, 5, 5, 3), (8, 8, 4))
    >>> bool((pooled.compute() == fastconv.max_pool2d(x, 3, 2, ceil_mode=True)).all())
    True
    """
    return _pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, layout, backend,
                 threads_per_task, return_indices=_validate.flag(return_indices, "return_indices", "max_pool2d"))


def avg_pool2d(input: Any, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Optional[int] = None, *,
               layout: str = "NCHW", backend: Optional[str] = None, threads_per_task: int = 1) -> "da.Array":
    """``fastconv.avg_pool2d`` on a chunked array: the same arguments and the same result.

    Parameters
    ----------
    input : dask.array.Array (or array-like), float32 or float64
        As in ``max_pool2d``.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, layout, backend
        As in ``fastconv.avg_pool2d``.
    threads_per_task : int, default 1

    Returns
    -------
    dask.array.Array

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastconv, fastconv.dask
    >>> x = np.random.default_rng(0).standard_normal((4, 50, 50))
    >>> pooled = fastconv.dask.avg_pool2d(da.from_array(x, chunks=(4, 15, 15)), 2, padding=1)
    >>> bool((pooled.compute() == fastconv.avg_pool2d(x, 2, padding=1)).all())
    True
    """
    return _pool("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode, layout, backend, threads_per_task,
                 count_include_pad=count_include_pad, divisor_override=divisor_override)


# -- batches ------------------------------------------------------------------------------------

def _batched(input: Any, function: str) -> Tuple["da.Array", bool]:
    """A 4-D dask array chunked along N only, and whether the input was unbatched (3-D)."""
    x = _as_dask(input)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[np.newaxis]
    if x.ndim == 4:
        x = x.rechunk({1: -1, 2: -1, 3: -1})
    return x, unbatched


def _default_client():
    """The dask.distributed client in use (``Client.as_current()``, else the default), if any."""
    distributed = sys.modules.get("distributed")  # never imported here: a program using it has
    if distributed is None:
        return None
    try:
        return distributed.Client.current()
    except ValueError:  # no client
        return None


class _Held:
    """A value as one literal of a graph (a model is callable: dask.delayed would make it a task)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _in_graph(value: Any):
    """``value`` as one key every task reads: scattered to every worker when a dask.distributed
    client is the default (the graph then carries only its key), else a dask.delayed literal
    (the graph carries it once)."""
    if value is None:
        return None
    client = _default_client()
    if client is not None:
        return client.scatter(_Held(value), broadcast=True, hash=False)
    return dask.delayed(_Held(value), pure=False)


def conv2d(input: Any, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride: IntPair = 1,
           padding: Union[str, int, Tuple[int, int], Tuple[int, int, int, int]] = 0, dilation: IntPair = 1,
           groups: int = 1, padding_mode: str = "zeros", *, layout: str = "NCHW", activation: Optional[str] = None,
           algorithm: str = "auto", backend: Optional[str] = None, threads_per_task: int = 1) -> "da.Array":
    """``fastconv.conv2d`` on a batch chunked along N: one task per chunk of images.

    Parameters
    ----------
    input : dask.array.Array (or array-like), float32 or float64
        (N, C_in, H, W) (NHWC: (N, H, W, C_in)), chunked along N (the other axes are made one
        chunk); an unbatched (C_in, H, W) image is one task.
    weight, bias
        NumPy arrays, as in ``fastconv.conv2d``; cast to the input's dtype once and put into the
        graph once, as one key each.
    stride, padding, dilation, groups, padding_mode, layout, activation, algorithm, backend
        As in ``fastconv.conv2d``.
    threads_per_task : int, default 1

    Returns
    -------
    dask.array.Array
        (N, C_out, OH, OW) (or NHWC / unbatched), chunked along N as the input.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastconv, fastconv.dask
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((10, 3, 16, 16)).astype(np.float32)
    >>> w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    >>> y = fastconv.dask.conv2d(da.from_array(x, chunks=(4, 3, 16, 16)), w, padding=1, activation="relu")
    >>> y.chunks[0], bool((y.compute() == fastconv.conv2d(x, w, padding=1, activation="relu")).all())
    ((4, 4, 2), True)
    """
    function = "conv2d"
    threads = _threads(threads_per_task, function)
    _dispatch.resolve(backend, function)
    x, unbatched = _batched(input, function)
    call = _validate.conv2d_call(_stand_in(x.shape, x.dtype), weight, bias, stride, padding, dilation, groups,
                                 padding_mode, layout, activation, None, algorithm)
    out_shape = call.output.array.shape
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode,
                   layout=layout, activation=activation, algorithm=algorithm, backend=backend)
    operation = functools.partial(_conv_block, options=options, threads=threads)
    result = da.map_blocks(operation, x, _in_graph(call.weight), _in_graph(call.bias),
                           chunks=(x.chunks[0], *((extent,) for extent in out_shape[1:])), dtype=x.dtype,
                           token="fastconv-conv2d", meta=np.empty((0, 0, 0, 0), dtype=x.dtype))
    return result[0] if unbatched else result


def _conv_block(block: np.ndarray, weight: _Held, bias: Optional[_Held], *, options: dict,
                threads: int) -> np.ndarray:
    with _dispatch.threads_in_context(threads):
        return _conv2d(block, weight.value, None if bias is None else bias.value, **options)


def apply(model: Any, input: Any, *, threads_per_task: int = 1) -> "da.Array":
    """Run a ``fastconv.nn`` model (any callable of a batch, in eval mode) on a batch chunked
    along N: one task per chunk of images, the model put into the graph once.

    Parameters
    ----------
    model : fastconv.nn.Module
        In eval mode (``model.eval()``): in training mode layers keep their inputs for the
        backward pass and batch statistics would be per chunk, so it is refused.
    input : dask.array.Array (or array-like)
        (N, ...) chunked along N (the other axes are made one chunk).
    threads_per_task : int, default 1

    Returns
    -------
    dask.array.Array
        The model's output for each image, chunked along N as the input; equal to
        ``model(input)`` in memory (run once on one image to find its shape and dtype).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from fastconv import nn
    >>> import fastconv.dask
    >>> model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2)).eval()
    >>> x = np.random.default_rng(0).standard_normal((6, 3, 32, 32)).astype(np.float32)
    >>> features = fastconv.dask.apply(model, da.from_array(x, chunks=(2, 3, 32, 32)))
    >>> features.shape, features.chunks[0], bool((features.compute() == model(x)).all())
    ((6, 8, 16, 16), (2, 2, 2), True)
    """
    function = "apply"
    threads = _threads(threads_per_task, function)
    if getattr(model, "training", False):
        msg = f"{function}: `model` must be in eval mode (call model.eval()), got a model in training mode"
        raise ValueError(msg)
    x = _as_dask(input)
    if x.ndim < 1 or x.shape[0] < 1:
        msg = f"{function}: `input` must be a batch (N, ...) with N >= 1, got shape {x.shape}"
        raise ValueError(msg)
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    with _dispatch.threads_in_context(threads):
        probe = np.asarray(model(np.ones((1, *x.shape[1:]), dtype=x.dtype)))
    return da.map_blocks(functools.partial(_apply_block, threads=threads), x, _in_graph(model),
                         chunks=(x.chunks[0], *((extent,) for extent in probe.shape[1:])), dtype=probe.dtype,
                         token="fastconv-apply", meta=np.empty((0,) * probe.ndim, dtype=probe.dtype))


def _apply_block(block: np.ndarray, model: _Held, *, threads: int) -> np.ndarray:
    with _dispatch.threads_in_context(threads):
        return np.asarray(model.value(block))
