"""`fastconv bench`: every backend against every installed peer (PyTorch, OpenCV, SciPy) on the
same inputs, at the same thread count(s), in one interleaved run per case.

Cold by default: each call is timed alone with its inputs in no cache and its result freshly
allocated, as a network's layer meets them (see `_bench.measure_cold`); ``warm=True``
(``--warm``) times repeated calls on the same input instead (`_bench.measure_interleaved`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _bench, _cpu, _dispatch, kernels
from ._config import config
from .conv import conv2d
from .filters import filter2d
from .pool import avg_pool2d, max_pool2d

SUITES = ("conv", "pool", "filter")
PEERS = ("torch", "cv2", "scipy")
FLOAT64_LAYER = "resnet-128@28"  # the conv suite's float64 case (full runs)
# Cold runs: the most timed calls per implementation (fewer, not below 5, where a case's calls
# would take longer than the budget in seconds, per thread count); warm runs: samples per implementation.
COLD_CALLS = {"quick": 11, "full": 31}
COLD_BUDGET_SECONDS = {"quick": 1.5, "full": 4.0}
WARM_SAMPLES = {"quick": 5, "full": 15}


@dataclass
class Case:
    suite: str
    name: str
    run: Dict[str, Callable[[], Any]] = field(default_factory=dict)  # impl -> call (its data closed over)
    reference: Callable[[], np.ndarray] = None  # type: ignore[assignment]
    work: float = 0.0  # FLOPs (conv), bytes (pool), pixels (filter)
    traffic: float = 0.0  # bytes read and written, for the bandwidth fraction
    # impl -> function of `inputs` returning the call: cold runs bind the calls to copies of the
    # inputs and rotate over them when they are large (cases with only `run` calls are flushed)
    bind: Dict[str, Callable[..., Callable[[], Any]]] = field(default_factory=dict)
    inputs: Tuple[np.ndarray, ...] = ()

    def binders(self) -> Tuple[Dict[str, Callable[..., Callable[[], Any]]], Tuple[np.ndarray, ...]]:
        """impl -> function of the inputs returning the call, and the inputs (none when any
        implementation is a `run` call, which reads its own data)."""
        binders: Dict[str, Callable[..., Callable[[], Any]]] = dict(self.bind)
        if self.run:
            binders = {impl: (lambda bind=bind: bind(*self.inputs)) for impl, bind in binders.items()}
            binders.update({impl: (lambda function=function: function) for impl, function in self.run.items()})
            return binders, ()
        return binders, self.inputs


def memory_bandwidth_gbs(megabytes: int = 128, threads: int = 1) -> float:
    """Copy bandwidth (bytes read + written per second) in GB/s: NumPy copies of equal slices of
    `megabytes`, one per thread (NumPy releases the GIL while it copies), the best of five. Cold
    when `megabytes` is several times the L3 (the run below takes 4x the L3, 64 MiB at least)."""
    from concurrent.futures import ThreadPoolExecutor

    source = np.ones(megabytes * (1 << 20) // 8)
    target = np.empty_like(source)
    np.copyto(target, source)  # fault the pages in
    bounds = np.linspace(0, source.size, threads + 1).astype(int)
    parts = [(target[a:b], source[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    times = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(5):
            start = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(*pair), parts))
            times.append(time.perf_counter() - start)
    return 2 * source.nbytes / min(times) / 1e9


def _copy_megabytes(l3: int) -> int:
    """The bandwidth probe's array size: 4x the L3, at least 64 MiB, at most 1 GiB."""
    return max(64, min(1024, 4 * l3 >> 20))


def _peers(requested: Sequence[str]) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for name in requested:
        try:
            if name == "torch":
                import torch as module
            elif name == "cv2":
                import cv2 as module
            elif name == "scipy":
                import scipy.ndimage as module
            else:
                continue
        except ImportError:
            continue
        found[name] = module
    return found

def _torch_conv(torch: Any, x: np.ndarray, w: np.ndarray, kwargs: dict) -> Callable[[], np.ndarray]:
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)

    def run() -> np.ndarray:
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tw, None, **kwargs).numpy()

    return run


def _conv_cases(quick: bool, backends: Sequence[str], peers: Dict[str, Any]) -> List[Case]:
    layers = dict(_bench.CONV_LAYERS)
    layers["lecture-7x7"] = ((1, 1, 7, 7), (1, 1, 3, 3), {})  # the seed's 7x7 image and 3x3 kernel
    names = ("lecture-7x7",) + (_bench.QUICK_LAYERS if quick else tuple(_bench.CONV_LAYERS))
    specs = [(name, name, np.float32) for name in names]
    if not quick:
        specs.append((f"{FLOAT64_LAYER}-f64", FLOAT64_LAYER, np.float64))
    cases = []
    for name, layer, dtype in specs:
        input_shape, weight_shape, kwargs = layers[layer]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(input_shape).astype(dtype)
        w = rng.standard_normal(weight_shape).astype(dtype)
        case = Case("conv", name, inputs=(x, w))
        for b in backends:
            case.bind[b] = lambda x, w, b=b, kw=kwargs: lambda: conv2d(x, w, **kw, backend=b)
        if "torch" in peers:
            case.bind["torch"] = lambda x, w, kw=kwargs, torch=peers["torch"]: _torch_conv(torch, x, w, kw)
        case.reference = lambda x=x, w=w, kw=kwargs: conv2d(x.astype(np.float64), w.astype(np.float64), **kw,
                                                            backend="reference")
        out_shape = conv2d(x, w, **kwargs).shape
        case.work = _bench.conv_flops(input_shape, weight_shape, out_shape)
        cases.append(case)
    return cases


def _pool_cases(quick: bool, backends: Sequence[str], peers: Dict[str, Any]) -> List[Case]:
    batch = 2 if quick else 8
    f32, f64 = np.float32, np.float64
    shapes = [("lecture-5x5-ceil", (1, 1, 5, 5), dict(kernel_size=2, ceil_mode=True), f32),
              ("alexnet-pool1", (1, 64, 55, 55), dict(kernel_size=3, stride=2), f32),
              ("2x2s2-64@112-b8", (8, 64, 112, 112), dict(kernel_size=2, stride=2), f32),  # issue 16's shape
              (f"resnet-stem-b{batch}", (batch, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1), f32),
              ("googlenet-pool1-ceil", (1, 64, 112, 112), dict(kernel_size=3, stride=2, ceil_mode=True), f32),
              ("alexnet-pool1-nhwc", (1, 55, 55, 64), dict(kernel_size=3, stride=2, layout="NHWC"), f32),
              (f"resnet-stem-b{batch}-nhwc", (batch, 112, 112, 64),
               dict(kernel_size=3, stride=2, padding=1, layout="NHWC"), f32),
              (f"resnet-stem-b{batch}-f64", (batch, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1), f64)]
    cases = []
    for kind, function in (("max", max_pool2d), ("avg", avg_pool2d)):
        for name, shape, kwargs, dtype in shapes:
            x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
            case = Case("pool", f"{kind}-{name}", inputs=(x,))
            for b in backends:
                case.bind[b] = lambda x, b=b, kw=kwargs, f=function: lambda: f(x, **kw, backend=b)
            if "cpp" in backends:  # into one preallocated result: the kernel's own bandwidth, no page faults
                target = function(x, **kwargs)
                case.bind["cpp+out"] = lambda x, kw=kwargs, f=function, t=target: lambda: f(x, **kw, out=t,
                                                                                              backend="cpp")
            if "torch" in peers:
                case.bind["torch"] = lambda x, kind=kind, kw=kwargs: _bench.torch_pool(kind, x, kw)
            case.reference = lambda x=x, kw=kwargs, f=function: f(x.astype(np.float64), **kw, backend="reference")
            out = function(x, **kwargs)
            case.work = case.traffic = float(x.nbytes + out.nbytes)
            cases.append(case)
    return cases


def opencv_gaussian_taps(size: int) -> np.ndarray:
    """The 1-D Gaussian cv2.getGaussianKernel(size, 0) gives for size > 7, in float64 (OpenCV's
    sigma rule; up to 7 taps OpenCV reads a table of binary fractions instead)."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    taps = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    return taps / taps.sum()


def dense_gaussian_f32(size: int) -> np.ndarray:
    """A size x size float32 Gaussian as users pass one: the 1-D kernel's outer product, cast to
    float32, so of rank 1 only up to float32's rounding."""
    return np.outer(opencv_gaussian_taps(size), opencv_gaussian_taps(size)).astype(np.float32)


def _sep_taps(kernel: np.ndarray) -> np.ndarray:
    """The 1-D kernel of a symmetric separable kernel normalised to sum 1, for cv2.sepFilter2D."""
    return (kernel.sum(axis=1) / np.sqrt(kernel.sum())).astype(np.float32)


def _filter_cases(quick: bool, backends: Sequence[str], peers: Dict[str, Any]) -> List[Case]:
    side = 512 if quick else 2048
    rng = np.random.default_rng(2)
    image = rng.standard_normal((side, side)).astype(np.float32)
    colour = rng.standard_normal((side, side, 3)).astype(np.float32)
    image8 = rng.integers(0, 256, (side, side)).astype(np.uint8)
    # (name, image, kernel, channel axis, the 1-D kernel for cv2.sepFilter2D or None)
    specs = [(f"{side}^2 f32 3x3 sharpen", image, kernels.sharpen(), None, None),
             (f"{side}^2 f32 5x5 box", image, kernels.box_blur(5), None, None),
             (f"{side}^2 f32 11x11 gaussian", image, kernels.gaussian(1.7, 11), None,
              _sep_taps(kernels.gaussian(1.7, 11))),
             (f"{side}^2x3 f32 3x3 sharpen", colour, kernels.sharpen(), -1, None),
             (f"{side}^2 u8 3x3 sharpen", image8, kernels.sharpen(), None, None),
             (f"{side}^2 f32 15x15 gaussian", image, kernels.gaussian(2.3, 15), None,
              _sep_taps(kernels.gaussian(2.3, 15))),
             # dense float32 Gaussians, of rank 1 only up to float32's rounding
             (f"{side}^2 f32 7x7 gaussian (dense f32)", image, dense_gaussian_f32(7), None,
              opencv_gaussian_taps(7).astype(np.float32)),
             (f"{side}^2 f32 15x15 gaussian (dense f32)", image, dense_gaussian_f32(15), None,
              opencv_gaussian_taps(15).astype(np.float32))]
    cases = []
    for name, picture, kernel, axis, taps in specs:
        out_dtype = picture.dtype
        case = Case("filter", name)
        for b in backends:
            case.run[b] = lambda b=b, p=picture, k=kernel, d=out_dtype, a=axis: filter2d(
                p, k, border="mirror", dtype=d, channel_axis=a, backend=b)
        if "cv2" in peers:
            cv2 = peers["cv2"]
            case.run["cv2"] = lambda p=picture, k=kernel.astype(np.float32), cv2=cv2: cv2.filter2D(
                p, -1, k, borderType=cv2.BORDER_REFLECT_101)
            if taps is not None:  # OpenCV's separable filter, given the two 1-D kernels
                case.run["cv2-sep"] = lambda p=picture, t=taps, cv2=cv2: cv2.sepFilter2D(
                    p, -1, t, t, borderType=cv2.BORDER_REFLECT_101)
        if "scipy" in peers and picture.dtype.kind == "f" and axis is None:
            ndimage = peers["scipy"]
            case.run["scipy"] = lambda p=picture, k=kernel.astype(np.float32), nd=ndimage: nd.correlate(
                p, k, mode="mirror")
        # float images against float64 arithmetic; integer images against the correctly rounded value
        source = picture if picture.dtype.kind != "f" else picture.astype(np.float64)
        case.reference = lambda p=source, k=kernel, d=out_dtype if out_dtype.kind != "f" else None, a=axis: filter2d(
            p, k, border="mirror", dtype=d, channel_axis=a, backend="reference")
        case.work = float(picture.size)
        case.traffic = float(2 * picture.nbytes)
        cases.append(case)
    return cases


def _progress(done: int, total: int, label: str) -> None:
    if not sys.stderr.isatty():
        return
    bar = "#" * (30 * done // max(1, total))
    sys.stderr.write(f"\r[{bar:30s}] {done}/{total} {label[:40]:40s}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def thread_counts(threads: Union[None, int, str, Sequence[int]]) -> List[int]:
    """``None`` -> [fastconv's thread count]; ``2`` -> [2]; ``"1,2"`` or ``(1, 2)`` -> [1, 2]."""
    if threads is None:
        return [_dispatch.get_num_threads()]
    items = threads.split(",") if isinstance(threads, str) else [threads] if isinstance(threads, int) else threads
    try:
        counts = [int(item) for item in items]
    except (TypeError, ValueError):
        counts = []
    if not counts or min(counts) < 1:
        msg = f"bench: --threads must be a positive count or a comma list such as 1,2, got {threads!r}"
        raise ValueError(msg)
    return list(dict.fromkeys(counts))


def _set_threads(count: int, peers: Dict[str, Any]) -> None:
    _dispatch.set_num_threads(count)
    if "torch" in peers:
        peers["torch"].set_num_threads(count)
    if "cv2" in peers:
        peers["cv2"].setNumThreads(count)


def run(suites: Sequence[str] = ("all",), quick: bool = False, threads: Union[None, int, str, Sequence[int]] = None,
        backends: Optional[Sequence[str]] = None, peers: Sequence[str] = PEERS, rounds: Optional[int] = None,
        write: Callable[[str], None] = print, cold: bool = True, cases: Optional[Sequence[str]] = None,
        ) -> Dict[str, Any]:
    """Run the suites and return the report (the ``--json`` document).

    `threads`: one count or several (each case then runs at each count in turn, rows carrying
    their ``threads``). `cold` (default): each call timed alone, its inputs out of cache (see
    `_bench.measure_cold`); else warm, repeated calls on the same input. `rounds`: timed calls
    (cold) or samples (warm) per implementation, instead of the defaults (COLD_CALLS, under a
    time budget, or WARM_SAMPLES). `cases`: only the cases of these names.
    """
    chosen = list(SUITES) if "all" in suites else list(suites)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        msg = f"bench: unknown suite(s) {unknown}; choose from {', '.join(SUITES)}, all"
        raise ValueError(msg)
    counts = thread_counts(threads)
    available = _dispatch.backends()
    backends = [b for b in (backends or [b for b in available if b != "reference"]) if b]
    missing = [b for b in backends if b not in available]
    if missing:
        msg = f"bench: backend(s) {missing} not available here (available: {', '.join(available)})"
        raise ValueError(msg)
    found = _peers(peers)
    builders = {"conv": _conv_cases, "pool": _pool_cases, "filter": _filter_cases}
    selected = [c for suite in chosen for c in builders[suite](quick, backends, found)]
    if cases is not None:
        unknown = [name for name in cases if name not in {c.name for c in selected}]
        if unknown:
            msg = f"bench: no case named {unknown} in {', '.join(chosen)} (names: {', '.join(c.name for c in selected)})"
            raise ValueError(msg)
        selected = [c for c in selected if c.name in cases]
    mode = "quick" if quick else "full"
    caches = _cpu.cache_sizes()
    flush_bytes = _bench.COLD_FLUSH_FACTOR * caches.l3
    before = _dispatch.get_num_threads()
    torch_threads = found["torch"].get_num_threads() if "torch" in found else None
    cv2_threads = found["cv2"].getNumThreads() if "cv2" in found else None
    flusher = None
    try:
        limits = {}
        for count in counts:
            _set_threads(count, found)
            peak, probe_name = _bench.gemm_peak_gflops(count)
            limits[count] = {"threads": count, "fp32_peak_gflops": peak,
                             "bandwidth_gbs": memory_bandwidth_gbs(_copy_megabytes(caches.l3), count)}
        info = config()
        versions = {"fastconv": info["fastconv"], "numpy": np.__version__, "python": info["python"]}
        for name, module in found.items():
            top = sys.modules[module.__name__.split(".")[0]]
            versions[name] = getattr(top, "__version__", "?")
        top_count = max(counts)
        machine = {"cpu": _cpu.cpu_model(), "simd": info.get("cpp", {}).get("simd_level", "none"),
                   "threads": top_count, "fp32_peak_gflops": limits[top_count]["fp32_peak_gflops"],
                   "peak_probe": probe_name, "bandwidth_gbs": limits[top_count]["bandwidth_gbs"],
                   "versions": versions, "peers_missing": [p for p in peers if p not in found],
                   "date": time.strftime("%Y-%m-%d"), "thread_counts": counts, "per_threads": list(limits.values()),
                   "cold": cold, "cache_sizes": {"l1d": caches.l1d, "l2": caches.l2, "l3": caches.l3,
                                                 "source": dict(caches.source)},
                   "bandwidth_copy_bytes": _copy_megabytes(caches.l3) << 20,
                   "cold_rotation_bytes": _bench.COLD_ROTATION_FACTOR * caches.l3 if cold else None,
                   "cold_max_copies": _bench.COLD_MAX_COPIES if cold else None,
                   "cold_flush_bytes": flush_bytes if cold else None,
                   "cold_flush_threads": top_count if cold else None,
                   "calls_per_impl": (rounds or COLD_CALLS[mode]) if cold else None,
                   "warm_samples_per_impl": None if cold else (rounds or WARM_SAMPLES[mode])}
        if cold:
            flusher = _bench.CacheFlusher(flush_bytes, top_count)
        results = []
        for index, case in enumerate(selected, 1):
            _progress(index - 1, len(selected), f"{case.suite} {case.name}")
            reference = case.reference()
            binders, inputs = case.binders()
            plan = _bench.cold_plan(sum(a.nbytes for a in inputs), caches.l3) if cold else None
            for count in counts:
                _set_threads(count, found)
                probe = _bench.gemm_probe(count, _bench.PEAK_PROBE_SIZE)[0] if case.suite == "conv" else None
                probes = {"peak": probe} if probe else None
                if cold:
                    measured = _bench.measure_cold(binders, inputs, reference, plan, flusher,
                                                   rounds or COLD_CALLS[mode],
                                                   None if rounds else COLD_BUDGET_SECONDS[mode], probes=probes)
                else:
                    calls = {impl: bind(*inputs) for impl, bind in binders.items()}
                    measured = _bench.measure_interleaved(calls, reference, rounds or WARM_SAMPLES[mode], probes)
                results += _rows(case, measured, limits[count], backends, count, plan)
        _progress(len(selected), len(selected), "done")
    finally:
        if flusher is not None:
            flusher.close()
        _dispatch.set_num_threads(before)
        if torch_threads is not None:
            found["torch"].set_num_threads(torch_threads)
        if cv2_threads is not None:
            found["cv2"].setNumThreads(cv2_threads)
    report = {"machine": machine, "results": results}
    write(format_report(report))
    return report


def _rows(case: Case, measured: _bench.Interleaved, limits: Dict[str, float], backends: Sequence[str],
          threads: int, plan: Optional[_bench.ColdPlan]) -> List[Dict[str, Any]]:
    """A case's result rows at one thread count; a conv case's GEMM probe, timed in the same
    rounds, gives its peak (else the run's figure at that count)."""
    peak = measured.probe_gflops.get("peak", limits["fp32_peak_gflops"])
    bandwidth = limits["bandwidth_gbs"]
    medians, errors = measured.median_seconds, measured.max_rel_error
    ours = {impl for impl in medians if impl.split("+")[0] in backends}  # "cpp+out": cpp with out=
    peer_times = [t for impl, t in medians.items() if impl not in ours]
    best_peer = min(peer_times) if peer_times else None
    rows = []
    for impl, seconds in medians.items():
        traffic_gbs = case.traffic / seconds / 1e9 if case.traffic else None
        if case.suite == "conv":
            throughput, unit = case.work / seconds / 1e9, "GFLOP/s"
            fraction = throughput / peak
        elif case.suite == "pool":
            throughput, unit = case.work / seconds / 1e9, "GB/s"
            fraction = throughput / bandwidth
        else:
            throughput, unit = case.work / seconds / 1e6, "MPix/s"
            fraction = case.traffic / seconds / 1e9 / bandwidth
        rows.append({"suite": case.suite, "case": case.name, "impl": impl, "median_ms": 1e3 * seconds,
                     "throughput": throughput, "unit": unit, "fraction_of_limit": fraction,
                     "speedup_vs_best_peer": (best_peer / seconds) if (best_peer and impl in ours) else None,
                     "max_rel_error": errors[impl], "threads": threads, "cold": plan is not None,
                     "page_faults_per_call": measured.page_faults_per_call.get(impl), "traffic_gbs": traffic_gbs,
                     "cold_method": plan.method if plan else None, "cold_copies": plan.copies if plan else None,
                     "samples": measured.samples})
    return rows


def _at_counts(values: Sequence[float], counts: Sequence[int], spec: str, unit: str) -> str:
    text = " / ".join(format(v, spec) for v in values) + f" {unit}"
    return text if len(counts) == 1 else f"{text} at {' / '.join(map(str, counts))} threads"


def format_report(report: Dict[str, Any]) -> str:
    m = report["machine"]
    size = _bench.PEAK_PROBE_SIZE
    limits = m.get("per_threads") or [{"threads": m["threads"], "fp32_peak_gflops": m["fp32_peak_gflops"],
                                       "bandwidth_gbs": m["bandwidth_gbs"]}]
    counts = [limit["threads"] for limit in limits]
    caches = m.get("cache_sizes")
    l3 = f"L3 {_cpu.format_size(caches['l3'])} ({caches['source'].get('l3', '?')})" if caches else "L3 ?"
    cold = m.get("cold", False)
    copy = f"cold copy of {_cpu.format_size(m['bandwidth_copy_bytes'])}" if m.get("bandwidth_copy_bytes") else "copy"
    probe = m["peak_probe"] if len(counts) == 1 else m["peak_probe"].rsplit(", ", 1)[0]  # drop "N threads"
    lines = [f"{m['cpu']} | {l3} | {'cold' if cold else 'warm'} | SIMD {m['simd']} | "
             f"{'/'.join(map(str, counts))} threads | FP32 peak "
             f"{_at_counts([limit['fp32_peak_gflops'] for limit in limits], counts, '.0f', 'GFLOP/s')} "
             f"({probe}; conv % limit: a {size}x{size} GEMM timed in each case's rounds) | "
             f"copy bandwidth {_at_counts([limit['bandwidth_gbs'] for limit in limits], counts, '.1f', 'GB/s')} "
             f"({copy}; pool and filter % limit) | {m['date']}"]
    if cold:
        lines.append(f"cold: each call timed alone, none of its inputs in cache: rotated over copies adding up to "
                     f">= {_cpu.format_size(m['cold_rotation_bytes'])} (4x L3) where {m['cold_max_copies']} "
                     f"or fewer do ('cold' column: rot xN), else a {_cpu.format_size(m['cold_flush_bytes'])} "
                     f"buffer read and written by {m['cold_flush_threads']} thread(s) before the call (flush); "
                     f"then a wait for idle thread pools; results freshly allocated (cpp+out: into one preallocated array); median of up to "
                     f"{m['calls_per_impl']} calls")
    elif "warm_samples_per_impl" in m:
        lines.append(f"warm: repeated calls on the same input (samples of >= 5 ms after >= 10 ms of untimed "
                     f"calls), median of {m['warm_samples_per_impl']} samples")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
                 + (f" | not installed: {', '.join(m['peers_missing'])}" if m["peers_missing"] else ""))
    for suite in SUITES:
        rows = [r for r in report["results"] if r["suite"] == suite]
        if not rows:
            continue
        traffic = suite == "filter"
        width = max(30, *(len(r["case"]) for r in rows))
        header = (f"{'case':{width}s} {'thr':>3s} {'impl':9s} {'median ms':>10s} {'throughput':>16s} "
                  + (f"{'GB/s':>7s} " if traffic else "")
                  + f"{'% limit':>8s} {'faults/call':>11s} {'cold':>6s} {'vs best peer':>12s} {'max rel err':>11s}")
        lines += ["", f"[{suite}]", header, "-" * len(header)]
        for r in rows:
            speedup = f"{r['speedup_vs_best_peer']:.2f}x" if r["speedup_vs_best_peer"] else "-"
            faults = "-" if r.get("page_faults_per_call") is None else f"{r['page_faults_per_call']:.1f}"
            method = r.get("cold_method")
            how = "-" if not method else "flush" if method == "flush" else f"rot x{r['cold_copies']}"
            gbs = f"{r['traffic_gbs']:7.1f} " if traffic and r.get("traffic_gbs") else (f"{'-':>7s} " if traffic else "")
            lines.append(f"{r['case']:{width}s} {r.get('threads', m['threads']):3d} {r['impl']:9s} {r['median_ms']:10.3f} "
                         f"{r['throughput']:9.1f} {r['unit']:6s} {gbs}{100 * r['fraction_of_limit']:7.1f}% "
                         f"{faults:>11s} {how:>6s} {speedup:>12s} "
                         f"{r['max_rel_error']:11.1e}")
        for count in counts:
            summary = []
            at_count = [r for r in rows if r.get("threads", m["threads"]) == count and r["speedup_vs_best_peer"]]
            for impl in dict.fromkeys(r["impl"] for r in at_count):
                ratios = [r["speedup_vs_best_peer"] for r in at_count if r["impl"] == impl]
                summary.append(f"{impl} {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x (lowest "
                               f"{min(ratios):.2f}x, {len(ratios)} cases)")
            if summary:
                lines.append(f"geo-mean vs best peer, {count} thread{'s' if count > 1 else ''}: " + "; ".join(summary))
    return "\n".join(lines)


def plot(report: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r["speedup_vs_best_peer"]]
    several = len({r.get("threads") for r in rows}) > 1
    labels = [f"{r['suite']}: {r['case']} ({r['impl']}{', %d thr' % r['threads'] if several else ''})" for r in rows]
    figure, axes = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.5))
    axes.barh(range(len(rows)), [r["speedup_vs_best_peer"] for r in rows])
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), labels, fontsize=7)
    axes.set_xlabel("speed-up over the best installed peer" + (" (cold)" if report["machine"].get("cold") else ""))
    axes.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path)


def main(suites: Sequence[str], quick: bool, threads: Union[None, int, str], backends: Optional[str], peers: str,
         json_path: Optional[str], plot_path: Optional[str], warm: bool = False, cases: Optional[str] = None) -> int:
    if "dask" in suites:  # fastconv.dask against in-memory fastconv: its own cases and report
        if list(suites) != ["dask"]:
            print("fastconv bench: the dask suite runs on its own (fastconv bench dask)", file=sys.stderr)
            return 2
        try:
            from .dask._bench import main as dask_main
        except ImportError:
            print('fastconv bench dask: needs dask and distributed (pip install "fastconv[dask]")', file=sys.stderr)
            return 1
        return dask_main(quick, threads, json_path)
    if "models" in suites:  # whole networks against their torch twins: its own cases and report
        if list(suites) != ["models"]:
            print("fastconv bench: the models suite runs on its own (fastconv bench models)", file=sys.stderr)
            return 2
        from ._bench_models import main as models_main

        return models_main(quick, threads, backends, peers, json_path, plot_path, cases)
    try:
        report = run(suites, quick=quick, threads=threads,
                     backends=backends.split(",") if backends else None, peers=peers.split(","), cold=not warm,
                     cases=cases.split(",") if cases else None)
    except ValueError as error:
        print(f"fastconv {error}", file=sys.stderr)
        return 2
    return write_report(report, json_path, plot_path, plot)


def write_report(report: dict, json_path: Optional[str], plot_path: Optional[str],
                 draw: Callable[[dict, str], None]) -> int:
    """Write a suite's report as JSON (NaN as null) and its plot, as asked; the exit status."""
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(report, handle, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)
        print(f"wrote {json_path}")
    if plot_path:
        try:
            draw(report, plot_path)
        except ImportError:
            print("fastconv bench: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
            return 1
        print(f"wrote {plot_path}")
    return 0
