"""Sliding-window operations on chunked arrays, seams invisible.

Along one axis an operation's output cell ``o`` reads the input cells
``[o * stride - reach, o * stride - reach + window)`` (a filter: stride 1, ``reach`` its
padding before; a pool: its stride, padding and dilated window), cells outside the input being
supplied by the operation's own border rule. Each chunk ``[a, b)`` (``a`` a multiple of the
stride) then owns the outputs ``[a / stride, b / stride)`` -- the first chunk from 0, the last up
to the whole output's extent -- and reads them from its block: the chunk with ``before`` cells
of its left neighbour and ``after`` of its right one (``before`` a multiple of the stride, so that
the block's windows fall where the whole array's do). The operation runs on the block as it
would on the whole array and the block's outputs that are the chunk's are kept.

At the array's true edges a block has no halo: the operation applies its border rule there
itself, the same code on the same cells as in one call on the whole array, so every output cell
is the same arithmetic as in memory. Only a wrap-around border needs cells from the far edge:
the edge chunks then get a symmetric halo from the other side (a periodic boundary).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class AxisPlan:
    """How one axis is chunked, overlapped and cut back."""

    chunks: Tuple[int, ...]       # input chunks: internal boundaries multiples of the stride
    out_chunks: Tuple[int, ...]   # output chunks, one per input chunk (some may be empty)
    before: int                   # halo cells taken from the left neighbour (0 with one chunk)
    after: int                    # halo cells taken from the right neighbour
    periodic: bool                # the halo at the true edges wraps around (else there is none)
    stride: int

    def halo_before(self, index: int) -> int:
        """Cells before chunk ``index``'s first cell in its block."""
        return self.before if (index > 0 or self.periodic) else 0

    def block_start(self, index: int) -> int:
        """The input position of chunk ``index``'s block's first cell (negative: wrapped)."""
        return sum(self.chunks[:index]) - self.halo_before(index)

    def kept(self, index: int) -> slice:
        """The block's outputs that are chunk ``index``'s."""
        first = self.halo_before(index) // self.stride
        return slice(first, first + self.out_chunks[index])


def _aligned_chunks(chunks: Sequence[int], stride: int, minimum: int) -> Tuple[int, ...]:
    """``chunks`` with every internal boundary moved down to a multiple of ``stride`` and
    merged until every chunk has ``minimum`` cells (one chunk if the axis is shorter)."""
    size = sum(chunks)
    if size <= minimum:
        return (size,)
    boundaries = []
    position = 0
    for extent in chunks[:-1]:
        position += extent
        aligned = position - position % stride
        if aligned - (boundaries[-1] if boundaries else 0) >= minimum:
            boundaries.append(aligned)
    while boundaries and size - boundaries[-1] < minimum:
        boundaries.pop()
    edges = [0, *boundaries, size]
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:]))


def plan_axis(chunks: Sequence[int], *, stride: int, reach: int, window: int, out_extent: int,
              periodic: bool = False, reach_after: int = 0) -> AxisPlan:
    """Plan one axis of an operation whose output ``o`` reads input
    ``[o * stride - reach, o * stride - reach + window)`` and which has ``out_extent`` outputs.

    ``periodic``: the border wraps around (stride 1 only); ``reach_after`` is then how far past
    the last input cell the last output reads (the operation's padding after).
    """
    before = math.ceil(reach / stride) * stride
    after = max(0, window - stride - reach)
    if periodic:
        before = after = max(before, after, reach_after)
    minimum = max(before, after, window, stride, 1)
    aligned = _aligned_chunks(chunks, stride, minimum)
    if len(aligned) == 1:
        return AxisPlan(aligned, (out_extent,), 0, 0, False, stride)
    starts = np.cumsum((0,) + aligned[:-1])
    owned = [int(a) // stride for a in starts[1:]]
    edges = [0, *owned, out_extent]
    out_chunks = tuple(max(0, b - a) for a, b in zip(edges[:-1], edges[1:]))
    if sum(out_chunks) != out_extent:  # chunks' outputs would overlap: an output shorter than its chunks
        return AxisPlan((sum(aligned),), (out_extent,), 0, 0, False, stride)
    return AxisPlan(aligned, out_chunks, before, after, periodic, stride)


def run_blocks(x, plans: Dict[int, AxisPlan], operation: Callable[..., np.ndarray], *, dtype, name: str,
               chunks=None, extra_args: tuple = ()):
    """Apply ``operation(block, *extra_args, origin=...)`` to every overlapped block of the dask
    array ``x`` and keep each chunk's outputs.

    ``plans``: axis -> AxisPlan for the windowed axes; the other axes keep their chunks unless
    ``chunks`` (axis -> output chunks) says otherwise. ``origin`` gives the input position of
    the block's first cell along each windowed axis (for indices into the whole array).
    """
    import dask.array as da

    x = x.rechunk({axis: plan.chunks for axis, plan in plans.items()})
    for axis, plan in plans.items():
        if plan.periodic:
            x = _wrapped(x, axis, plan.before)
    depth = {axis: (plan.before, plan.after) for axis, plan in plans.items() if plan.before or plan.after}
    if depth:
        x = da.overlap.overlap(x, depth=depth, boundary="none", allow_rechunk=False)
    out_chunks = list(x.chunks)
    for axis, plan in plans.items():
        out_chunks[axis] = plan.out_chunks
    for axis, extents in (chunks or {}).items():
        out_chunks[axis] = extents
    # the plans ride in a partial, opaque to dask (which looks for keys inside plain arguments)
    run = functools.partial(_run_block, operation=operation, plans=plans)
    return da.map_blocks(run, x, *extra_args, chunks=tuple(out_chunks), dtype=dtype, token=name,
                         meta=np.empty((0,) * x.ndim, dtype=dtype))


def _wrapped(x, axis: int, depth: int):
    """``x`` with its last ``depth`` cells along ``axis`` put before its first and its first after
    its last, each merged into the edge chunk (dask's periodic boundary keeps them as chunks of
    their own, which doubles the graph and has the threaded scheduler read most tiles early)."""
    import dask.array as da

    def cells(part: slice):
        index = [slice(None)] * x.ndim
        index[axis] = part
        return x[tuple(index)]

    padded = da.concatenate([cells(slice(-depth, None)), x, cells(slice(0, depth))], axis=axis)
    extents = padded.chunks[axis]
    chunks = list(padded.chunks)
    chunks[axis] = (extents[0] + extents[1], *extents[2:-2], extents[-2] + extents[-1])
    return padded.rechunk(tuple(chunks))


def _run_block(block: np.ndarray, *extra_args, operation: Callable[..., np.ndarray], plans: Dict[int, AxisPlan],
               block_info=None) -> np.ndarray:
    location = block_info[None]["chunk-location"]
    origin = {axis: plan.block_start(location[axis]) for axis, plan in plans.items()}
    result = operation(block, *extra_args, origin=origin)
    kept = [slice(None)] * result.ndim
    for axis, plan in plans.items():
        kept[axis] = plan.kept(location[axis])
    return result[tuple(kept)]
