"""Where ``fastconv.torch`` hands small calls back to torch: per-op size thresholds, measured.

A call through fastconv pays its Python layer (argument checks, tensor <-> array, an output
allocation: ~15 us) before the kernel runs; torch's own small calls cost a few microseconds. So
each op has a size below which torch's function is the faster one, and the drop-in calls it
there. The size is a cheap estimate of the work, read from the tensors' shapes only:

- pools: input elements times window cells (``input.numel() * kh * kw``);
- conv2d: multiply-adds at stride 1, ``input.numel() / C_in * weight.numel()`` (grouped layers
  included, as the weight holds C_in / groups per output channel); depthwise layers (one input
  channel per group) have their own threshold, torch's small depthwise calls being slower.

``calibrate()`` measures the cross-overs on this machine (both implementations on a ladder of
sizes, warm, interleaved, at the current thread counts) and can store them in
``$XDG_CACHE_HOME/fastconv/torch_thresholds.json`` (``~/.cache/...``), which is read at import;
``FASTCONV_TORCH_THRESHOLDS`` names another file, or ``off`` to serve every call with fastconv.
``fastconv calibrate-torch [--store]`` runs it from the command line.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, Optional

# Measured by calibrate() on 2026-12-02 on an AMD EPYC Zen 4 guest (family 25, model 17, 32 MiB
# L3), 2 threads, torch 2.13.0, three runs on a quiet machine; where they differed, the value
# two of them gave (conv2d float64: 147,456 twice, 294,912 once).
DEFAULTS: Dict[str, Dict[str, float]] = {
    "conv2d": {"float32": 147456.0, "float64": 147456.0},
    "conv2d_depthwise": {"float32": 1350.0, "float64": 1350.0},
    "max_pool2d": {"float32": 18432.0, "float64": 18432.0},
    "avg_pool2d": {"float32": 18432.0, "float64": 36864.0},
}
OPS = tuple(DEFAULTS)
DTYPES = ("float32", "float64")
ENVIRONMENT_VARIABLE = "FASTCONV_TORCH_THRESHOLDS"


def stored_path() -> str:
    """Where calibrate(store=True) writes and import reads the thresholds."""
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if chosen and chosen.lower() != "off":
        return chosen
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "fastconv", "torch_thresholds.json")


def load() -> Dict[str, Dict[str, float]]:
    """The thresholds in force: DEFAULTS, updated from the stored file when there is one; all 0
    with FASTCONV_TORCH_THRESHOLDS=off."""
    thresholds = {op: dict(by_dtype) for op, by_dtype in DEFAULTS.items()}
    if os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() == "off":
        return {op: {dtype: 0.0 for dtype in DTYPES} for op in OPS}
    try:
        with open(stored_path()) as handle:
            stored = json.load(handle).get("thresholds", {})
    except (OSError, ValueError, AttributeError):
        return thresholds
    for op in OPS:
        for dtype in DTYPES:
            value = stored.get(op, {}).get(dtype) if isinstance(stored.get(op), dict) else None
            if isinstance(value, (int, float)) and value >= 0:
                thresholds[op][dtype] = float(value)
    return thresholds


def _best_of(function: Callable[[], object], seconds: float = 0.02) -> float:
    """Seconds per call: the best of five runs of calls adding up to about `seconds` each."""
    function()
    start = time.perf_counter()
    function()
    calls = max(1, int(seconds / max(time.perf_counter() - start, 1e-7)))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def _ladder(op: str, dtype, torch) -> list:
    """(work, torch's call, fastconv's call) from tiny to clearly large."""
    from . import torch as front

    F = torch.nn.functional
    rungs = []
    for batch, channels, size in [(1, 1, 4), (2, 3, 5), (1, 4, 8), (1, 8, 8), (1, 8, 12), (1, 8, 16), (2, 8, 16),
                                  (1, 16, 24), (2, 16, 24), (2, 16, 32), (4, 16, 32), (4, 32, 32), (8, 32, 48)]:
        x = torch.randn(batch, channels, size, size, dtype=dtype)
        if op in ("conv2d", "conv2d_depthwise"):
            groups = channels if op == "conv2d_depthwise" else 1
            weight = torch.randn(channels, channels // groups, 3, 3, dtype=dtype)
            rungs.append((front._conv_work(x, weight), lambda x=x, w=weight, g=groups: F.conv2d(x, w, padding=1, groups=g),
                          lambda x=x, w=weight, g=groups: front._serve_conv2d(x, w, None, 1, 1, 1, g)))
        elif op == "max_pool2d":
            rungs.append((front._pool_work(x, 3), lambda x=x: F.max_pool2d(x, 3, 1, 1),
                          lambda x=x: front._serve_max_pool2d(x, 3, 1, 1, 1, False, False)))
        else:
            rungs.append((front._pool_work(x, 3), lambda x=x: F.avg_pool2d(x, 3, 1, 1),
                          lambda x=x: front._serve_avg_pool2d(x, 3, 1, 1, False, True, None)))
    return rungs


def crossover(rungs: list, time_call: Callable[[Callable[[], object]], float] = _best_of) -> float:
    """The smallest work from which fastconv is the faster: the first rung that fastconv wins
    and from which it wins at least four in five rungs (so that one noisy rung of a shared
    machine moves nothing). 0 when that is the first rung; the largest rung's work doubled when
    there is none. Each rung's two calls are timed back to back."""
    faster = [time_call(ours) < time_call(theirs) for _, theirs, ours in rungs]
    for index, (work, _, _) in enumerate(rungs):
        rest = faster[index:]
        if faster[index] and 5 * sum(rest) >= 4 * len(rest):
            return 0.0 if index == 0 else float(work)
    return 2.0 * rungs[-1][0]


def calibrate(store: bool = False, write: Optional[Callable[[str], None]] = print) -> Dict[str, Dict[str, float]]:
    """Measure each op's threshold on this machine (about 20 s); with `store`, save them where
    import reads them (stored_path()). Returns {op: {dtype: work}}."""
    import torch

    from . import _cpu, _dispatch

    thresholds: Dict[str, Dict[str, float]] = {}
    for op in OPS:
        thresholds[op] = {}
        for dtype in DTYPES:
            thresholds[op][dtype] = crossover(_ladder(op, getattr(torch, dtype), torch))
            if write:
                write(f"{op:11s} {dtype:8s} fastconv from work {thresholds[op][dtype]:,.0f}")
    if store:
        path = stored_path()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        document = {"cpu": _cpu.cpu_model(), "threads": _dispatch.get_num_threads(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "date": time.strftime("%Y-%m-%d"), "thresholds": thresholds}
        with open(path, "w") as handle:
            json.dump(document, handle, indent=1)
        if write:
            write(f"wrote {path}")
    return thresholds
