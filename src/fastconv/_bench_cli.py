"""`fastconv bench`: every backend against every installed peer (PyTorch, OpenCV, SciPy) on the
same inputs, at the same thread count, in one interleaved run per case."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import _bench, _dispatch, kernels
from ._config import config
from .conv import conv2d
from .filters import filter2d
from .pool import avg_pool2d, max_pool2d

SUITES = ("conv", "pool", "filter")
PEERS = ("torch", "cv2", "scipy")


@dataclass
class Case:
    suite: str
    name: str
    run: Dict[str, Callable[[], Any]] = field(default_factory=dict)  # impl -> call
    reference: Callable[[], np.ndarray] = None  # type: ignore[assignment]
    work: float = 0.0  # FLOPs (conv), bytes (pool), pixels (filter)
    traffic: float = 0.0  # bytes read and written, for the bandwidth fraction


def memory_bandwidth_gbs(megabytes: int = 128, threads: int = 1) -> float:
    """Copy bandwidth (bytes read + written per second) in GB/s: NumPy copies of equal slices of
    `megabytes`, one per thread (NumPy releases the GIL while it copies), the best of five."""
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


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def _conv_cases(quick: bool, backends: Sequence[str], peers: Dict[str, Any]) -> List[Case]:
    layers = dict(_bench.CONV_LAYERS)
    layers["lecture-7x7"] = ((1, 1, 7, 7), (1, 1, 3, 3), {})
    names = ("lecture-7x7",) + (_bench.QUICK_LAYERS if quick else tuple(_bench.CONV_LAYERS))
    cases = []
    for name in names:
        input_shape, weight_shape, kwargs = layers[name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(input_shape).astype(np.float32)
        w = rng.standard_normal(weight_shape).astype(np.float32)
        case = Case("conv", name)
        for b in backends:
            case.run[b] = lambda b=b, x=x, w=w, kw=kwargs: conv2d(x, w, **kw, backend=b)
        if "torch" in peers:
            torch = peers["torch"]
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)

            def run_torch(tx=tx, tw=tw, kw=kwargs, torch=torch):
                with torch.no_grad():
                    return torch.nn.functional.conv2d(tx, tw, None, **kw).numpy()

            case.run["torch"] = run_torch
        case.reference = lambda x=x, w=w, kw=kwargs: conv2d(x.astype(np.float64), w.astype(np.float64), **kw,
                                                            backend="reference")
        out_shape = conv2d(x, w, **kwargs).shape
        case.work = _bench.conv_flops(input_shape, weight_shape, out_shape)
        cases.append(case)
    return cases


def _pool_cases(quick: bool, backends: Sequence[str], peers: Dict[str, Any]) -> List[Case]:
    batch = 2 if quick else 8
    shapes = [("lecture-5x5-ceil", (1, 1, 5, 5), dict(kernel_size=2, ceil_mode=True)),
              ("alexnet-pool1", (1, 64, 55, 55), dict(kernel_size=3, stride=2)),
              (f"resnet-stem-b{batch}", (batch, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),
              ("alexnet-pool1-nhwc", (1, 55, 55, 64), dict(kernel_size=3, stride=2, layout="NHWC")),
              (f"resnet-stem-b{batch}-nhwc", (batch, 112, 112, 64),
               dict(kernel_size=3, stride=2, padding=1, layout="NHWC"))]
    cases = []
    for kind, function in (("max", max_pool2d), ("avg", avg_pool2d)):
        for name, shape, kwargs in shapes:
            x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
            case = Case("pool", f"{kind}-{name}")
            for b in backends:
                case.run[b] = lambda b=b, x=x, kw=kwargs, f=function: f(x, **kw, backend=b)
            if "cpp" in backends:  # without the page faults of a fresh result: the kernel's own bandwidth
                target = function(x, **kwargs)
                case.run["cpp+out"] = lambda x=x, kw=kwargs, f=function, t=target: f(x, **kw, out=t, backend="cpp")
            if "torch" in peers:
                case.run["torch"] = _bench.torch_pool(kind, x, kwargs)
            case.reference = lambda x=x, kw=kwargs, f=function: f(x.astype(np.float64), **kw, backend="reference")
            out = function(x, **kwargs)
            case.work = case.traffic = float(x.nbytes + out.nbytes)
            cases.append(case)
    return cases


def _filter_cases(quick: bool, backends: Sequence[str], peers: Dict[str, Any]) -> List[Case]:
    side = 512 if quick else 2048
    rng = np.random.default_rng(2)
    image = rng.standard_normal((side, side)).astype(np.float32)
    colour = rng.standard_normal((side, side, 3)).astype(np.float32)
    image8 = rng.integers(0, 256, (side, side)).astype(np.uint8)
    # (name, image, kernel, channel axis)
    specs = [(f"{side}^2 f32 3x3 sharpen", image, kernels.sharpen(), None),
             (f"{side}^2 f32 5x5 box", image, kernels.box_blur(5), None),
             (f"{side}^2 f32 11x11 gaussian", image, kernels.gaussian(1.7, 11), None),
             (f"{side}^2x3 f32 3x3 sharpen", colour, kernels.sharpen(), -1),
             (f"{side}^2 u8 3x3 sharpen", image8, kernels.sharpen(), None),
             (f"{side}^2 f32 15x15 gaussian", image, kernels.gaussian(2.3, 15), None)]
    cases = []
    for name, picture, kernel, axis in specs:
        out_dtype = picture.dtype
        case = Case("filter", name)
        for b in backends:
            case.run[b] = lambda b=b, p=picture, k=kernel, d=out_dtype, a=axis: filter2d(
                p, k, border="mirror", dtype=d, channel_axis=a, backend=b)
        if "cv2" in peers:
            cv2 = peers["cv2"]
            case.run["cv2"] = lambda p=picture, k=kernel.astype(np.float32), cv2=cv2: cv2.filter2D(
                p, -1, k, borderType=cv2.BORDER_REFLECT_101)
            if "gaussian" in name:  # OpenCV's separable filter, given the two 1-D kernels
                taps = (kernel.sum(axis=1) / np.sqrt(kernel.sum())).astype(np.float32)
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


def run(suites: Sequence[str] = ("all",), quick: bool = False, threads: Optional[int] = None,
        backends: Optional[Sequence[str]] = None, peers: Sequence[str] = PEERS, rounds: Optional[int] = None,
        write: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run the suites and return the report (the ``--json`` document)."""
    chosen = list(SUITES) if "all" in suites else list(suites)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        msg = f"bench: unknown suite(s) {unknown}; choose from {', '.join(SUITES)}, all"
        raise ValueError(msg)
    threads = threads or _dispatch.get_num_threads()
    available = _dispatch.backends()
    backends = [b for b in (backends or [b for b in available if b != "reference"]) if b]
    missing = [b for b in backends if b not in available]
    if missing:
        msg = f"bench: backend(s) {missing} not available here (available: {', '.join(available)})"
        raise ValueError(msg)
    found = _peers(peers)
    rounds = rounds or (5 if quick else 15)
    before = _dispatch.get_num_threads()
    _dispatch.set_num_threads(threads)
    if "torch" in found:
        torch_threads = found["torch"].get_num_threads()
        found["torch"].set_num_threads(threads)
    if "cv2" in found:
        found["cv2"].setNumThreads(threads)
    try:
        peak, probe = _bench.gemm_peak_gflops(threads)
        bandwidth = memory_bandwidth_gbs(64 if quick else 256, threads)
        info = config()
        versions = {"fastconv": info["fastconv"], "numpy": np.__version__, "python": info["python"]}
        for name, module in found.items():
            top = sys.modules[module.__name__.split(".")[0]]
            versions[name] = getattr(top, "__version__", "?")
        machine = {"cpu": _cpu_model(), "simd": info.get("cpp", {}).get("simd_level", "none"), "threads": threads,
                   "fp32_peak_gflops": peak, "peak_probe": probe, "bandwidth_gbs": bandwidth, "versions": versions,
                   "peers_missing": [p for p in peers if p not in found], "date": time.strftime("%Y-%m-%d")}
        builders = {"conv": _conv_cases, "pool": _pool_cases, "filter": _filter_cases}
        cases = [c for suite in chosen for c in builders[suite](quick, backends, found)]
        results = []
        for index, case in enumerate(cases, 1):
            _progress(index - 1, len(cases), f"{case.suite} {case.name}")
            probe = _bench.gemm_probe(threads, _bench.PEAK_PROBE_SIZE)[0] if case.suite == "conv" else None
            results += _measure(case, rounds, peak, bandwidth, backends, probe)
        _progress(len(cases), len(cases), "done")
    finally:
        _dispatch.set_num_threads(before)
        if "torch" in found:
            found["torch"].set_num_threads(torch_threads)
    report = {"machine": machine, "results": results}
    write(format_report(report))
    return report


def _measure(case: Case, rounds: int, peak: float, bandwidth: float, backends: Sequence[str],
             probe: Optional[Callable[[], Any]] = None) -> List[Dict[str, Any]]:
    """Time a case's implementations in turns (_bench.measure_interleaved); `probe` (conv cases):
    a GEMM timed in the same rounds, whose throughput is then the case's peak."""
    measured = _bench.measure_interleaved(case.run, case.reference(), rounds, {"peak": probe} if probe else None)
    peak = measured.probe_gflops.get("peak", peak)
    medians, errors = measured.median_seconds, measured.max_rel_error
    ours = {impl for impl in medians if impl.split("+")[0] in backends}  # "cpp+out": cpp with out=
    peer_times = [t for impl, t in medians.items() if impl not in ours]
    best_peer = min(peer_times) if peer_times else None
    rows = []
    for impl, seconds in medians.items():
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
                     "max_rel_error": errors[impl]})
    return rows


def format_report(report: Dict[str, Any]) -> str:
    m = report["machine"]
    size = _bench.PEAK_PROBE_SIZE
    lines = [f"{m['cpu']} | SIMD {m['simd']} | {m['threads']} threads | FP32 peak {m['fp32_peak_gflops']:.0f} "
             f"GFLOP/s ({m['peak_probe']}; conv % limit: a {size}x{size} GEMM timed in each case's "
             f"rounds) | copy bandwidth {m['bandwidth_gbs']:.1f} GB/s | {m['date']}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
             + (f" | not installed: {', '.join(m['peers_missing'])}" if m["peers_missing"] else "")]
    for suite in SUITES:
        rows = [r for r in report["results"] if r["suite"] == suite]
        if not rows:
            continue
        header = (f"{'case':30s} {'impl':9s} {'median ms':>10s} {'throughput':>16s} {'% limit':>8s} "
                  f"{'vs best peer':>12s} {'max rel err':>11s}")
        lines += ["", f"[{suite}]", header, "-" * len(header)]
        for r in rows:
            speedup = f"{r['speedup_vs_best_peer']:.2f}x" if r["speedup_vs_best_peer"] else "-"
            lines.append(f"{r['case']:30s} {r['impl']:9s} {r['median_ms']:10.3f} {r['throughput']:9.1f} "
                         f"{r['unit']:6s} {100 * r['fraction_of_limit']:7.1f}% {speedup:>12s} {r['max_rel_error']:11.1e}")
        summary = []
        for impl in dict.fromkeys(r["impl"] for r in rows if r["speedup_vs_best_peer"]):
            ratios = [r["speedup_vs_best_peer"] for r in rows if r["impl"] == impl and r["speedup_vs_best_peer"]]
            summary.append(f"{impl} {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x (lowest "
                           f"{min(ratios):.2f}x, {len(ratios)} cases)")
        if summary:
            lines.append("geo-mean vs best peer: " + "; ".join(summary))
    return "\n".join(lines)


def plot(report: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r["speedup_vs_best_peer"]]
    labels = [f"{r['suite']}: {r['case']} ({r['impl']})" for r in rows]
    figure, axes = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.5))
    axes.barh(range(len(rows)), [r["speedup_vs_best_peer"] for r in rows])
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), labels, fontsize=7)
    axes.set_xlabel("speed-up over the best installed peer")
    axes.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path)


def main(suites: Sequence[str], quick: bool, threads: Optional[int], backends: Optional[str], peers: str,
         json_path: Optional[str], plot_path: Optional[str]) -> int:
    try:
        report = run(suites, quick=quick, threads=threads,
                     backends=backends.split(",") if backends else None, peers=peers.split(","))
    except ValueError as error:
        print(f"fastconv {error}", file=sys.stderr)
        return 2
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(report, handle, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)
        print(f"wrote {json_path}")
    if plot_path:
        try:
            plot(report, plot_path)
        except ImportError:
            print("fastconv bench: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
            return 1
        print(f"wrote {plot_path}")
    return 0
