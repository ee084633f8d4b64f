"""Layer timings in one interleaved run: fastconv backends against PyTorch, with GFLOP/s and the
fraction of the machine's FP32 peak (measured with a GEMM probe). ``benchmarks/conv_layers.py``
prints the table; the ``fastconv bench`` command builds on these functions, and times cold
(measure_cold: each call alone, its inputs out of cache) unless asked for warm timings
(measure_interleaved: repeated calls on the same input).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

try:
    import resource
except ImportError:  # not on Windows: page faults are then not counted
    resource = None  # type: ignore[assignment]

from . import _dispatch
from .conv import conv2d

# name: (input shape, weight shape, conv2d keywords) -- the layer families people run
CONV_LAYERS: Dict[str, tuple] = {
    "alexnet-conv1": ((1, 3, 224, 224), (64, 3, 11, 11), {"stride": 4, "padding": 2}),
    "alexnet-conv2": ((1, 64, 27, 27), (192, 64, 5, 5), {"padding": 2}),
    "alexnet-conv3": ((1, 192, 13, 13), (384, 192, 3, 3), {"padding": 1}),
    "alexnet-conv4": ((1, 384, 13, 13), (256, 384, 3, 3), {"padding": 1}),
    "alexnet-conv5": ((1, 256, 13, 13), (256, 256, 3, 3), {"padding": 1}),
    "lecture-3to64@256": ((1, 3, 256, 256), (64, 3, 3, 3), {"padding": 1}),
    "resnet-64@56": ((1, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),
    "resnet-128@28": ((1, 128, 28, 28), (128, 128, 3, 3), {"padding": 1}),
    "resnet-256@14": ((1, 256, 14, 14), (256, 256, 3, 3), {"padding": 1}),
    "resnet-64to128@56-s2": ((1, 64, 56, 56), (128, 64, 3, 3), {"stride": 2, "padding": 1}),
    "resnet-64@56-b8": ((8, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),
    "resnet-128@28-b8": ((8, 128, 28, 28), (128, 128, 3, 3), {"padding": 1}),
    "pointwise-256to64@56": ((1, 256, 56, 56), (64, 256, 1, 1), {}),
    "pointwise-64to256@56": ((1, 64, 56, 56), (256, 64, 1, 1), {}),
    "depthwise-3x3@56": ((1, 64, 56, 56), (64, 1, 3, 3), {"padding": 1, "groups": 64}),
    "depthwise-3x3@56-s2": ((1, 64, 56, 56), (64, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 64}),
    "depthwise-5x5@56": ((1, 64, 56, 56), (64, 1, 5, 5), {"padding": 2, "groups": 64}),
    "depthwise-5x5@56-s2": ((1, 64, 56, 56), (64, 1, 5, 5), {"stride": 2, "padding": 2, "groups": 64}),
    "resnet-128@28-s2": ((1, 128, 28, 28), (128, 128, 3, 3), {"stride": 2, "padding": 1}),
    "depthwise-3x3-256@56": ((1, 256, 56, 56), (256, 1, 3, 3), {"padding": 1, "groups": 256}),
    "depthwise-5x5-96@112-s2": ((1, 96, 112, 112), (96, 1, 5, 5), {"stride": 2, "padding": 2, "groups": 96}),
}
QUICK_LAYERS = ("lecture-3to64@256", "resnet-64@56", "pointwise-256to64@56", "depthwise-3x3@56")


def _layer(batch: int, c_in: int, size: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0,
           groups: int = 1) -> tuple:
    keywords = {name: value for name, value, default in (("stride", stride, 1), ("padding", padding, 0),
                                                         ("groups", groups, 1)) if value != default}
    return (batch, c_in, size, size), (c_out, c_in // groups, kernel, kernel), keywords


# More of the same families (`conv_layers.py --families`), for checking that what holds on
# CONV_LAYERS holds around it: every ResNet-18/50 stage (3x3, 1x1, stride-2 shortcuts, 7x7
# planes, batch 4 and 8), VGG's large planes, the 7x7 stem, MobileNetV2's depthwise layers from
# 112x112 to 7x7, a ResNeXt grouped layer, small CIFAR-sized layers.
FAMILY_LAYERS: Dict[str, tuple] = {
    "stem-7x7-s2@224": _layer(1, 3, 224, 64, 7, 2, 3),
    "vgg-64@112": _layer(1, 64, 112, 64, 3, 1, 1),
    "vgg-128@112": _layer(1, 128, 112, 128, 3, 1, 1),
    "resnet-128to256@28-s2": _layer(1, 128, 28, 256, 3, 2, 1),
    "resnet-256to512@14-s2": _layer(1, 256, 14, 512, 3, 2, 1),
    "resnet-512@7": _layer(1, 512, 7, 512, 3, 1, 1),
    "resnet-64@56-b4": _layer(4, 64, 56, 64, 3, 1, 1),
    "resnet-256@14-b8": _layer(8, 256, 14, 256, 3, 1, 1),
    "resnet-512@7-b8": _layer(8, 512, 7, 512, 3, 1, 1),
    "resnet-256to512@14-s2-b8": _layer(8, 256, 14, 512, 3, 2, 1),
    "pointwise-128to512@28": _layer(1, 128, 28, 512, 1),
    "pointwise-512to128@28": _layer(1, 512, 28, 128, 1),
    "pointwise-1024to256@14": _layer(1, 1024, 14, 256, 1),
    "pointwise-256to1024@14": _layer(1, 256, 14, 1024, 1),
    "pointwise-2048to512@7": _layer(1, 2048, 7, 512, 1),
    "pointwise-512to2048@7": _layer(1, 512, 7, 2048, 1),
    "shortcut-256to512@56-s2": _layer(1, 256, 56, 512, 1, 2),
    "shortcut-512to1024@28-s2": _layer(1, 512, 28, 1024, 1, 2),
    "shortcut-1024to2048@14-s2": _layer(1, 1024, 14, 2048, 1, 2),
    "depthwise-3x3-32@112": _layer(1, 32, 112, 32, 3, 1, 1, 32),
    "depthwise-3x3-96@112-s2": _layer(1, 96, 112, 96, 3, 2, 1, 96),
    "depthwise-3x3-144@56": _layer(1, 144, 56, 144, 3, 1, 1, 144),
    "depthwise-3x3-192@28": _layer(1, 192, 28, 192, 3, 1, 1, 192),
    "depthwise-3x3-384@14": _layer(1, 384, 14, 384, 3, 1, 1, 384),
    "depthwise-3x3-576@14-s2": _layer(1, 576, 14, 576, 3, 2, 1, 576),
    "depthwise-3x3-960@7": _layer(1, 960, 7, 960, 3, 1, 1, 960),
    "depthwise-5x5-672@14": _layer(1, 672, 14, 672, 5, 1, 2, 672),
    "depthwise-5x5-960@7": _layer(1, 960, 7, 960, 5, 1, 2, 960),
    "depthwise-3x3-64@56-b8": _layer(8, 64, 56, 64, 3, 1, 1, 64),
    "grouped-128@28-g32": _layer(1, 128, 28, 128, 3, 1, 1, 32),
    "cifar-16@32": _layer(1, 16, 32, 16, 3, 1, 1),
    "cifar-3to16@32-b32": _layer(32, 3, 32, 16, 3, 1, 1),
}


def conv_flops(input_shape: Sequence[int], weight_shape: Sequence[int], output_shape: Sequence[int]) -> float:
    """Multiply-adds x 2 of a convolution (per output element: C_in/groups * KH * KW of each)."""
    return 2.0 * math.prod(output_shape) * math.prod(weight_shape[1:])


def gemm_probe(threads: int, size: int = 2048) -> tuple:
    """A square FP32 GEMM at `threads` threads: (function running one product, what it runs).

    PyTorch's GEMM when installed (its thread count is set for each call), else NumPy's BLAS held
    to `threads` (threadpoolctl, when installed). The product is written into one preallocated
    array: a fresh 16 MB result per call would add page faults to what should time the
    arithmetic (torch.mm 2048x2048 read 7-22% lower that way here).
    """
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    c = np.empty((size, size), dtype=np.float32)
    try:
        import torch
    except ImportError:
        def run_numpy() -> None:
            with _dispatch.blas_threads(threads):
                np.matmul(a, b, out=c)

        try:
            import threadpoolctl  # noqa: F401  (what blas_threads holds the BLAS with)
        except ImportError:
            return run_numpy, f"numpy matmul {size}x{size}, BLAS default threads"
        return run_numpy, f"numpy matmul {size}x{size}, {threads} threads"
    ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)

    def run_torch() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            torch.mm(ta, tb, out=tc)
        finally:
            torch.set_num_threads(before)

    return run_torch, f"torch.mm {size}x{size}, {threads} threads"


# The GEMM timed in the rounds of each conv case (run_conv_layers, fastconv bench): torch.mm at
# 1024^2 measured within 2-3% of its 2048^2 throughput here, in an eighth of the time.
PEAK_PROBE_SIZE = 1024


def gemm_peak_gflops(threads: int, size: int = 2048) -> tuple:
    """FP32 GEMM throughput at `threads` threads: (GFLOP/s, what measured it); see gemm_probe."""
    function, probe = gemm_probe(threads, size)
    return 2 * size**3 / _median_time(function, min_time=0.5) / 1e9, probe


def _median_time(function: Callable[[], object], min_time: float = 0.2, max_repeats: int = 200) -> float:
    function()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < max_repeats):
        t0 = time.perf_counter()
        function()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class LayerResult:
    layer: str
    flops: float
    median_ms: Dict[str, float] = field(default_factory=dict)
    max_rel_error: Dict[str, float] = field(default_factory=dict)
    peak_gflops: Optional[float] = None  # the GEMM probe, timed in the same rounds as the layer


def _torch_conv(x: np.ndarray, weight: np.ndarray, kwargs: dict) -> Optional[Callable[[], object]]:
    try:
        import torch
    except ImportError:
        return None
    tx, tw = torch.from_numpy(x), torch.from_numpy(weight)

    def run():
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tw, None, **kwargs)

    return run


def torch_pool(kind: str, x: np.ndarray, kwargs: dict) -> Callable[[], np.ndarray]:
    """torch.nn.functional.{kind}_pool2d on `x` with fastconv's pool keywords, as a call that
    returns a NumPy array: layout='NHWC' runs on a channels-last view of the same memory (torch's
    own layout for such data), the result viewed back as NHWC."""
    import torch

    nhwc = kwargs.get("layout", "NCHW") == "NHWC"
    options = {k: v for k, v in kwargs.items() if k != "layout"}
    peer = getattr(torch.nn.functional, f"{kind}_pool2d")
    tx = torch.from_numpy(x).permute(0, 3, 1, 2) if nhwc else torch.from_numpy(x)

    def run() -> np.ndarray:
        result = peer(tx, **options)
        return (result.permute(0, 2, 3, 1) if nhwc else result).numpy()

    return run


def sample_repeats(seconds_per_call: float, sample_seconds: float = 5e-3) -> int:
    """Calls per timed sample: runs of at least ~5 ms, so that the timer's noise weighs little."""
    return max(1, min(200, round(sample_seconds / max(seconds_per_call, 1e-6))))


# Untimed calls before each sample last at least this long (one call at least).
WARMUP_SECONDS = 0.01


def minor_faults() -> Optional[int]:
    """Minor page faults of this process so far (all its threads), None where not counted."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _faults_between(before: Optional[int], after: Optional[int]) -> Optional[int]:
    return None if before is None or after is None else after - before


def timed_sample(function: Callable[[], object], repeats: int, warmup: float = WARMUP_SECONDS) -> float:
    """Seconds per call of `function` over `repeats` calls, after untimed calls adding up to
    `warmup` seconds (one at least): the first calls after another implementation ran pay for
    what that one left behind (its dirty cache lines, cores gone idle, its thread pool asleep, and
    this call's data evicted from the last-level cache meanwhile), which every implementation,
    measured in turns, would otherwise be charged for, the more so the longer the other one ran;
    a network runs one library's layers back to back. Measured on a 32 MB max pool after 40 ms
    of other work: 2.0, 1.8, 1.5, 1.4, 1.3, 1.2 ms for six calls in a row, 0.96 ms steady."""
    return timed_run(function, repeats, warmup)[0]


def timed_run(function: Callable[[], object], repeats: int, warmup: float = WARMUP_SECONDS) -> tuple:
    """timed_sample's (seconds per call, minor page faults of the timed calls or None)."""
    start = time.perf_counter()
    function()
    while time.perf_counter() - start < warmup:
        function()
    faults = minor_faults()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    seconds = (time.perf_counter() - start) / repeats
    return seconds, _faults_between(faults, minor_faults())


@dataclass
class Interleaved:
    """What measure_interleaved / measure_cold found: median seconds per call and max relative
    error (against the reference, scaled by its largest magnitude) per implementation, the
    probe's GFLOP/s, minor page faults per timed call (None where not counted) and the number
    of timed samples (warm) or calls (cold) per implementation."""

    median_seconds: Dict[str, float]
    max_rel_error: Dict[str, float]
    probe_gflops: Dict[str, float] = field(default_factory=dict)
    page_faults_per_call: Dict[str, Optional[float]] = field(default_factory=dict)
    samples: int = 0


def _check(implementations: Dict[str, Callable[[], object]], reference: np.ndarray) -> Dict[str, float]:
    """Each implementation's max relative error against `reference` (one untimed call each)."""
    reference = np.asarray(reference, dtype=np.float64)
    scale = max(1.0, float(np.abs(reference).max()))
    return {impl: float(np.abs(np.asarray(function(), dtype=np.float64) - reference).max() / scale)
            for impl, function in implementations.items()}


def _per_call(faults: List[Optional[int]], calls: int) -> Optional[float]:
    return None if not faults or any(f is None for f in faults) else sum(faults) / calls  # type: ignore[misc]


def measure_interleaved(implementations: Dict[str, Callable[[], object]], reference: np.ndarray, rounds: int,
                        probes: Optional[Dict[str, Callable[[], object]]] = None) -> Interleaved:
    """Time the implementations in turns, each once per round (timed_sample), after one call each
    that checks its result against `reference` and sizes its samples. `probes` (gemm_probe at
    PEAK_PROBE_SIZE, by name) join every round, so that a fraction of their throughput compares
    timings taken in the same seconds (on this shared VM a core's throughput drifts by a third in
    minutes).
    """
    errors = _check(implementations, reference)
    repeats: Dict[str, int] = {}
    for impl, function in implementations.items():
        start = time.perf_counter()
        function()
        repeats[impl] = sample_repeats(time.perf_counter() - start)
    probes = probes or {}
    times: Dict[str, List[float]] = {impl: [] for impl in implementations}
    faults: Dict[str, List[Optional[int]]] = {impl: [] for impl in implementations}
    probe_times: Dict[str, List[float]] = {name: [] for name in probes}
    for _ in range(rounds):
        for impl, function in implementations.items():
            seconds, sample_faults = timed_run(function, repeats[impl])
            times[impl].append(seconds)
            faults[impl].append(sample_faults)
        for name, probe in probes.items():
            probe_times[name].append(timed_sample(probe, 1))
    probe_gflops = {name: 2 * PEAK_PROBE_SIZE**3 / statistics.median(t) / 1e9 for name, t in probe_times.items()}
    return Interleaved({impl: statistics.median(t) for impl, t in times.items()}, errors, probe_gflops,
                       {impl: _per_call(faults[impl], rounds * repeats[impl]) for impl in implementations}, rounds)


# Cold timings (``fastconv bench`` by default): before each timed call, what it reads is in no
# cache. Inputs of at least L3 * COLD_ROTATION_FACTOR / COLD_MAX_COPIES bytes are rotated: the
# calls cycle through copies adding up to COLD_ROTATION_FACTOR times the L3, so that a copy
# comes back after at least ~3x the L3 of other data. Smaller inputs stay put, and a buffer of
# COLD_FLUSH_FACTOR times the L3 is read and written before each call (CacheFlusher).
COLD_ROTATION_FACTOR = 4
COLD_FLUSH_FACTOR = 2
COLD_MAX_COPIES = 8


@dataclass(frozen=True)
class ColdPlan:
    """How a case's timed calls find their inputs out of cache: ``"rotate"`` over `copies`
    copies of them, or ``"flush"`` (one copy, CacheFlusher before each call)."""

    method: str
    copies: int


def cold_plan(input_bytes: int, l3: int) -> ColdPlan:
    """Rotation when COLD_MAX_COPIES copies or fewer add up to COLD_ROTATION_FACTOR x `l3`."""
    if input_bytes <= 0:
        return ColdPlan("flush", 1)
    copies = max(2, -(-COLD_ROTATION_FACTOR * l3 // input_bytes))
    return ColdPlan("rotate", copies) if copies <= COLD_MAX_COPIES else ColdPlan("flush", 1)


def _stream(part: np.ndarray) -> None:
    np.add(part, 1.0, out=part)  # each cache line read and written (NumPy releases the GIL)


class CacheFlusher:
    """Reads and writes a preallocated buffer of `size` bytes, in `threads` equal parts run by as
    many threads (so that the private L2 of each core that ran a multi-threaded call is swept
    too), evicting whatever else the caches held. ``calls`` counts the flushes.

    One read-modify-write pass over 2x the L3 measured as cold as rotating over 8x the L3 here
    (a 0.25-4 MiB array summed after either, EPYC Zen 4 with 32 MiB L3); a plain write may use
    non-temporal stores (memset does for large sizes) and then evicts nothing.
    """

    def __init__(self, size: int, threads: int = 1) -> None:
        self.size = size
        self.threads = max(1, threads)
        self.calls = 0
        self._buffer = np.ones(max(1, size // 8))  # ones, not zeros: every page faulted in now
        self._parts = np.array_split(self._buffer, self.threads)
        self._pool = None
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.threads)

    def __call__(self) -> None:
        if self._pool is None:
            _stream(self._buffer)
        else:
            list(self._pool.map(_stream, self._parts))
        self.calls += 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def settle(quiet: float = 2e-3, limit: float = 0.05) -> float:
    """Wait until no thread of this process has used the CPU for `quiet` seconds (at most `limit`
    seconds); returns the seconds waited. OpenMP runtimes (fastconv's, PyTorch's, Numba's) keep
    their workers spinning for some milliseconds after a parallel region: measured here, 4-8 ms
    of CPU in the 50 ms after a 2-thread pool of each, which on a 2-core machine would slow
    whichever implementation is timed next. After this every implementation starts with the
    thread pools asleep, its own included."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        cpu = time.process_time()
        time.sleep(quiet)
        if time.process_time() - cpu < 0.1 * quiet:
            break
    return time.perf_counter() - start


def measure_cold(binders: Dict[str, Callable[..., Callable[[], object]]], inputs: Sequence[np.ndarray],
                 reference: np.ndarray, plan: ColdPlan, flush: Optional[Callable[[], None]], rounds: int,
                 budget: Optional[float] = None, min_rounds: int = 5,
                 probes: Optional[Dict[str, Callable[[], object]]] = None,
                 settle: Callable[[], object] = settle) -> Interleaved:
    """Time each implementation one call at a time, cold, in turns: every round calls each once.

    `binders`: implementation -> function of the `inputs` returning the call (run on
    ``plan.copies`` copies of the inputs, built here). Before each timed call, untimed: with
    plan "rotate" the next copy is taken (one counter for all implementations, so consecutive
    calls never share a copy); with "flush", `flush()` runs; then `settle()` (default: `settle`)
    waits for the thread pools to go idle. Results are whatever the calls allocate. Minor page
    faults are counted around each timed call. `rounds` is the most rounds;
    with `budget` (seconds), fewer (not below `min_rounds`) when the first round says that
    `rounds` of them would take longer. `probes` as in measure_interleaved (run warm).
    """
    if plan.method == "flush" and flush is None:
        msg = "measure_cold: plan 'flush' needs a flush function"
        raise ValueError(msg)
    copies = [tuple(inputs)] + [tuple(np.array(a, copy=True) for a in inputs) for _ in range(plan.copies - 1)]
    calls = [{impl: bind(*arrays) for impl, bind in binders.items()} for arrays in copies]
    errors = _check(calls[0], reference)
    probes = probes or {}
    times: Dict[str, List[float]] = {impl: [] for impl in binders}
    faults: Dict[str, List[Optional[int]]] = {impl: [] for impl in binders}
    probe_times: Dict[str, List[float]] = {name: [] for name in probes}
    turn = 1  # copy 0 ran the checks just now
    done, planned = 0, max(1, rounds)
    while done < planned:
        round_start = time.perf_counter()
        for impl in binders:
            if plan.method == "rotate":
                function = calls[turn % len(calls)][impl]
                turn += 1
            else:
                function = calls[0][impl]
                flush()  # type: ignore[misc]
            settle()
            before = minor_faults()
            start = time.perf_counter()
            function()
            seconds = time.perf_counter() - start
            faults[impl].append(_faults_between(before, minor_faults()))
            times[impl].append(seconds)
        for name, probe in probes.items():
            probe_times[name].append(timed_sample(probe, 1))
        done += 1
        if done == 1 and budget is not None:
            fits = int(budget / max(time.perf_counter() - round_start, 1e-9))
            planned = max(min(min_rounds, planned), min(planned, fits))
    probe_gflops = {name: 2 * PEAK_PROBE_SIZE**3 / statistics.median(t) / 1e9 for name, t in probe_times.items()}
    return Interleaved({impl: statistics.median(t) for impl, t in times.items()}, errors, probe_gflops,
                       {impl: _per_call(faults[impl], done) for impl in binders}, done)


def _optional_torch(wanted: bool):
    """The torch module when `wanted` and installed, else None."""
    if not wanted:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def _layer_case(name: str, dtype=np.float32) -> tuple:
    """A layer of CONV_LAYERS or FAMILY_LAYERS as (input, weight, conv2d keywords, float64
    reference result)."""
    input_shape, weight_shape, kwargs = CONV_LAYERS[name] if name in CONV_LAYERS else FAMILY_LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(input_shape).astype(dtype)
    weight = rng.standard_normal(weight_shape).astype(dtype)
    reference = conv2d(x.astype(np.float64), weight.astype(np.float64), **kwargs, backend="reference")
    return x, weight, kwargs, reference


def run_conv_layers(layers: Sequence[str] = tuple(CONV_LAYERS), threads: Optional[int] = None,
                    backends: Sequence[str] = ("cpp",), with_torch: bool = True, rounds: int = 15,
                    dtype=np.float32, peak_probe: bool = False) -> List[LayerResult]:
    """Time every layer with every implementation, interleaved: each round calls each one once.

    `peak_probe`: a GEMM joins every round (see measure_interleaved) and gives the layer's
    `peak_gflops`.
    """
    threads = threads or _dispatch.get_num_threads()
    before = _dispatch.get_num_threads()
    _dispatch.set_num_threads(threads)
    torch = _optional_torch(with_torch)
    if torch is not None:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    results = []
    probe = gemm_probe(threads, PEAK_PROBE_SIZE)[0] if peak_probe else None
    try:
        for name in layers:
            x, weight, kwargs, reference = _layer_case(name, dtype)
            implementations: Dict[str, Callable[[], object]] = {
                b: (lambda b=b: conv2d(x, weight, **kwargs, backend=b)) for b in backends}
            peer = _torch_conv(x, weight, kwargs) if torch is not None else None
            if peer is not None:
                implementations["torch"] = peer
            measured = measure_interleaved(implementations, reference, rounds, {"peak": probe} if probe else None)
            results.append(LayerResult(name, conv_flops(x.shape, weight.shape, reference.shape),
                                       {impl: 1e3 * t for impl, t in measured.median_seconds.items()},
                                       measured.max_rel_error, measured.probe_gflops.get("peak")))
    finally:
        _dispatch.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_threads)
    return results


BATCH_LAYERS = ("resnet-64@56-b8", "resnet-128@28-b8")


@dataclass
class ScalingResult:
    """A layer timed at several thread counts in one interleaved run: median ms per
    implementation, keyed "<impl>@<threads>", and the GEMM probe's GFLOP/s at each count."""

    layer: str
    median_ms: Dict[str, float]
    max_rel_error: Dict[str, float]
    probe_gflops: Dict[int, float]


def run_thread_scaling(layers: Sequence[str] = BATCH_LAYERS, thread_counts: Sequence[int] = (1, 2),
                       backend: str = "cpp", with_torch: bool = True, rounds: int = 15) -> List[ScalingResult]:
    """Time each layer at every thread count in the same rounds, with torch and a GEMM probe at
    the same counts: the speed-up from more threads as a ratio of timings taken in the same
    seconds (two tables taken minutes apart on this VM differed by 1.8x in the probe alone).
    """
    before = _dispatch.get_num_threads()
    torch = _optional_torch(with_torch)
    torch_threads = torch.get_num_threads() if torch is not None else None
    results = []
    try:
        probes = {str(count): gemm_probe(count, PEAK_PROBE_SIZE)[0] for count in thread_counts}
        for name in layers:
            x, weight, kwargs, reference = _layer_case(name)
            implementations: Dict[str, Callable[[], object]] = {}
            for count in thread_counts:
                def ours(count: int = count) -> np.ndarray:
                    _dispatch.set_num_threads(count)
                    return conv2d(x, weight, **kwargs, backend=backend)

                implementations[f"{backend}@{count}"] = ours
                if torch is not None:
                    peer = _torch_conv(x, weight, kwargs)

                    def theirs(count: int = count, peer: Callable[[], object] = peer) -> object:
                        torch.set_num_threads(count)
                        return peer()

                    implementations[f"torch@{count}"] = theirs
            measured = measure_interleaved(implementations, reference, rounds, probes)
            results.append(ScalingResult(name, {impl: 1e3 * t for impl, t in measured.median_seconds.items()},
                                         measured.max_rel_error,
                                         {int(count): g for count, g in measured.probe_gflops.items()}))
    finally:
        _dispatch.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_threads)
    return results


def format_scaling_table(results: Sequence[ScalingResult], backend: str = "cpp") -> str:
    """A table: layer, then per thread count each implementation's ms, then the speed-up of the
    largest count over the smallest for each implementation and for the GEMM probe."""
    counts = sorted(results[0].probe_gflops) if results else []
    low, high = (counts[0], counts[-1]) if counts else (1, 1)
    impls = [backend] + (["torch"] if any(f"torch@{low}" in r.median_ms for r in results) else [])
    columns = [f"{impl}@{count} ms" for impl in impls for count in counts]
    ratios = [f"{impl} x{high}/{low}" for impl in impls] + [f"gemm x{high}/{low}"]
    header = f"{'layer':20s} " + " ".join(f"{c:>11s}" for c in columns + ratios)
    lines = [header, "-" * len(header)]
    for r in results:
        cells = [f"{r.median_ms[f'{impl}@{count}']:11.3f}" for impl in impls for count in counts]
        cells += [f"{r.median_ms[f'{impl}@{low}'] / r.median_ms[f'{impl}@{high}']:11.2f}" for impl in impls]
        cells.append(f"{r.probe_gflops[high] / r.probe_gflops[low]:11.2f}")
        lines.append(f"{r.layer:20s} " + " ".join(cells))
    return "\n".join(lines)


def format_conv_table(results: Sequence[LayerResult], peak_gflops: float, backend: str = "cpp") -> str:
    """A table: layer, torch ms, fastconv ms, speed-up, GFLOP/s, % of peak, max relative error.

    % of peak: against the layer's own probe when it was timed with one, else `peak_gflops`."""
    has_torch = any("torch" in r.median_ms for r in results)
    header = (f"{'layer':24s} {'torch ms':>9s} {backend + ' ms':>9s} {'speed-up':>8s} {'GFLOP/s':>8s} "
              f"{'peak':>6s} {'% peak':>7s} {'max rel err':>11s}")
    lines = [header, "-" * len(header)]
    speedups = []
    for r in results:
        ours = r.median_ms[backend]
        gflops = r.flops / (ours * 1e-3) / 1e9
        peak = r.peak_gflops or peak_gflops
        torch_ms = r.median_ms.get("torch")
        speedup = torch_ms / ours if torch_ms else None
        if speedup:
            speedups.append(speedup)
        lines.append(f"{r.layer:24s} {torch_ms if torch_ms else float('nan'):9.3f} {ours:9.3f} "
                     f"{speedup if speedup else float('nan'):8.2f} {gflops:8.1f} {peak:6.0f} {100 * gflops / peak:6.1f}% "
                     f"{r.max_rel_error[backend]:11.1e}")
    if has_torch and speedups:
        lines.append(f"geo-mean speed-up over torch: {math.exp(sum(map(math.log, speedups)) / len(speedups)):.2f}"
                     f" (lowest {min(speedups):.2f})")
    return "\n".join(lines)
