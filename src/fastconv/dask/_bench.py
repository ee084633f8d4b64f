"""`fastconv bench dask`: fastconv.dask against single-process fastconv on the same data.

Two cases: a large float32 image filtered with a 5x5 kernel in square chunks, and a batch
through AlexNet's conv stack (``models.alexnet().features``) in chunks of images. Each is run
in memory by fastconv on all the threads, by fastconv.dask on the threaded scheduler, and by
fastconv.dask on a dask.distributed LocalCluster of worker processes (one thread each), the
three interleaved round by round (others may be using the machine: a slow spell hits all of
them), and reported as the minimum and median of the rounds.

On the cluster the inputs are made and kept on the workers before the timing (as the chunks of
a large image or data set live there, read from storage), and the filter's result stays there
(``persist``); the conv stack's result, small, is gathered. The timings include scheduling and
the halo or weight transfers between processes: the price of distribution.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .. import _cpu, _dispatch, models
from .._config import config
from ..filters import filter2d as in_memory_filter2d
from . import apply, filter2d

# (image side, chunk side), (batch, chunk of images, image side)
SIZES = {"quick": {"filter": (4096, 1024), "conv": (16, 4, 224)},
         "full": {"filter": (16384, 2048), "conv": (256, 16, 224)}}
ROUNDS = {"quick": 3, "full": 5}


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _interleaved(calls: Dict[str, Callable[[], Any]], rounds: int) -> Dict[str, List[float]]:
    times: Dict[str, List[float]] = {impl: [] for impl in calls}
    for _ in range(rounds):
        for impl, call in calls.items():
            times[impl].append(_timed(call))
    return times


def run(quick: bool = False, threads: Optional[int] = None, rounds: Optional[int] = None,
        write: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run both cases and return the report (the ``--json`` document)."""
    import dask
    import dask.array as da
    import distributed

    mode = "quick" if quick else "full"
    rounds = rounds or ROUNDS[mode]
    cores = threads or _dispatch.get_num_threads()
    before = _dispatch.get_num_threads()
    _dispatch.set_num_threads(cores)
    results = []
    try:
        with distributed.LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=40) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            layout = {"in_memory": f"1 process, {cores} fastconv threads",
                      "dask-threads": f"threaded scheduler, {cores} threads x 1 fastconv thread per task",
                      "dask-distributed": f"LocalCluster, {cores} worker processes x 1 thread x 1 fastconv thread"}
            workers = {"in_memory": (1, cores, cores), "dask-threads": (1, cores, 1), "dask-distributed": (cores, 1, 1)}

            # -- the chunked filter
            side, chunk = SIZES[mode]["filter"]
            kernel = np.random.default_rng(5).standard_normal((5, 5))
            made = da.random.default_rng(19).standard_normal((side, side), chunks=chunk, dtype=np.float32)
            on_workers = client.persist(made)
            image = client.compute(on_workers).result()
            expected = in_memory_filter2d(image, kernel, border="mirror")
            stored = np.empty_like(expected)
            chunked = da.from_array(image, chunks=chunk)  # (from_array copies the image: once, here)

            def dask_threads():
                da.store(filter2d(chunked, kernel, border="mirror"), stored, lock=False, scheduler="threads",
                         num_workers=cores)

            def dask_distributed():
                result = client.persist(filter2d(on_workers, kernel, border="mirror"))
                # every chunk done, the result left on the workers (this client is not the default)
                for _ in distributed.as_completed(distributed.futures_of(result), loop=client.loop):
                    pass
                return result

            dask_threads()
            equal = {"in_memory": True, "dask-threads": bool(np.array_equal(stored, expected)),
                     "dask-distributed": bool(np.array_equal(client.compute(dask_distributed()).result(), expected))}
            del expected
            times = _interleaved({"in_memory": lambda: in_memory_filter2d(image, kernel, border="mirror"),
                                  "dask-threads": dask_threads, "dask-distributed": dask_distributed}, rounds)
            results += _rows(f"filter2d {side}^2 f32 5x5 mirror", times, side * side / 1e6, "MPix/s",
                             {"chunks": [chunk, chunk]}, equal, layout, workers)
            del image, stored, on_workers, chunked

            # -- AlexNet's conv stack
            batch, per_task, size = SIZES[mode]["conv"]
            features = models.alexnet(rng=0).eval().features
            made = da.random.default_rng(20).standard_normal((batch, 3, size, size), chunks=(per_task, 3, size, size),
                                                             dtype=np.float32)
            on_workers = client.persist(made)
            images = client.compute(on_workers).result()
            expected = features(images)
            batch_chunks = da.from_array(images, chunks=(per_task, 3, size, size))

            def conv_threads():
                return apply(features, batch_chunks).compute(scheduler="threads", num_workers=cores)

            def conv_distributed():
                with client.as_current():  # apply scatters the model to this client's workers
                    return client.compute(apply(features, on_workers)).result()

            equal = {"in_memory": True, "dask-threads": bool(np.array_equal(conv_threads(), expected)),
                     "dask-distributed": bool(np.array_equal(conv_distributed(), expected))}
            times = _interleaved({"in_memory": lambda: features(images), "dask-threads": conv_threads,
                                  "dask-distributed": conv_distributed}, rounds)
            results += _rows(f"alexnet features {batch}x3x{size}^2 f32", times, batch, "images/s",
                             {"chunks": [per_task, 3, size, size]}, equal, layout, workers)
    finally:
        _dispatch.set_num_threads(before)
    info = config()
    versions = {"fastconv": info["fastconv"], "numpy": np.__version__, "python": info["python"],
                "dask": dask.__version__, "distributed": distributed.__version__}
    machine = {"cpu": _cpu.cpu_model(), "simd": info.get("cpp", {}).get("simd_level", "none"), "threads": cores,
               "versions": versions, "date": time.strftime("%Y-%m-%d"), "rounds": rounds, "mode": mode}
    report = {"machine": machine, "results": results}
    write(format_report(report))
    return report


def _rows(case: str, times: Dict[str, List[float]], work: float, unit: str, extra: Dict[str, Any],
          equal: Dict[str, bool], layout: Dict[str, str], workers: Dict[str, tuple]) -> List[Dict[str, Any]]:
    reference = statistics.median(times["in_memory"])
    reference_min = min(times["in_memory"])
    rows = []
    for impl, samples in times.items():
        median = statistics.median(samples)
        processes, threads_per_process, threads_per_task = workers[impl]
        rows.append({"suite": "dask", "case": case, "impl": impl, "median_ms": 1e3 * median,
                     "min_ms": 1e3 * min(samples), "throughput": work / median, "unit": unit,
                     "fraction_of_limit": None, "speedup_vs_best_peer": None,
                     "max_rel_error": 0.0 if equal[impl] else math.nan, "equal_to_in_memory": equal[impl],
                     "time_vs_in_memory": median / reference, "min_time_vs_in_memory": min(samples) / reference_min,
                     "samples_ms": [1e3 * t for t in samples], "layout": layout[impl], "worker_processes": processes,
                     "threads_per_worker": threads_per_process, "threads_per_task": threads_per_task, **extra})
    return rows


def format_report(report: Dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"{m['cpu']} | SIMD {m['simd']} | {m['threads']} threads | {m['date']} | "
             f"{m['rounds']} interleaved rounds, min / median",
             "versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())]
    width = max(len(r["case"]) for r in report["results"])
    header = (f"{'case':{width}s} {'impl':16s} {'min ms':>9s} {'median ms':>10s} {'throughput':>17s} "
              f"{'time / in-memory':>16s} {'equal':>5s}  layout")
    lines += ["", header, "-" * len(header)]
    for r in report["results"]:
        lines.append(f"{r['case']:{width}s} {r['impl']:16s} {r['min_ms']:9.1f} {r['median_ms']:10.1f} "
                     f"{r['throughput']:9.1f} {r['unit']:8s} {r['min_time_vs_in_memory']:7.2f} /{r['time_vs_in_memory']:6.2f} "
                     f"{'yes' if r['equal_to_in_memory'] else 'NO':>5s}  {r['layout']} (chunks {r['chunks']})")
    return "\n".join(lines)


def main(quick: bool, threads: Optional[str], json_path: Optional[str]) -> int:
    import json

    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        print('fastconv bench dask: needs dask and distributed (pip install "fastconv[dask]")', file=sys.stderr)
        return 1
    count = None
    if threads is not None:
        if not threads.isdigit() or int(threads) < 1:
            print(f"fastconv bench dask: --threads must be one positive count, got {threads!r}", file=sys.stderr)
            return 2
        count = int(threads)
    report = run(quick=quick, threads=count)
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(report, handle, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)
        print(f"wrote {json_path}")
    return 0
