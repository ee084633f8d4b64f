"""`fastconv bench models`: whole networks, fastconv against a PyTorch twin with the same weights.

AlexNet, ResNet-18 and MobileNetV2 (``fastconv.models``, torchvision's layouts), each at batch 1
and 8, in two modes: inference (``model.eval()``, the logits of a float32 batch; torch under
``torch.inference_mode()``) and one training step (``model.train()``: forward, cross-entropy,
backward, SGD with momentum 0.9; dropout 0 in both, so that both compute the same step). The
twin is ``fastconv.models._torch_twins.torch_twin``: torchvision's module tree written in
``torch.nn``, loaded with the fastconv model's state dict.

Each case runs fastconv and torch in one interleaved run: every round calls each once, the
order alternating from round to round (others may be using the machine: a slow spell hits both),
each call timed alone after the thread pools went idle (``_bench.settle``); reported as the
minimum and median of the rounds, and images per second at the median. Before the rounds, one
untimed call of each is compared with a float64 torch twin on the same (float32) weights and
input, as the conv suite compares with a float64 reference: the outputs (inference), or the
training-mode logits and every parameter's gradient after the first step (training; a layer's
gradients on the scale of the largest of them). Both implementations get an error, so that
float32's own losses show: in training mode an activation within rounding of a ReLU / ReLU6 kink
passes its gradient in one run and not in another, which at small maps moves a channel's
gradient by percents, in torch's float32 as in ours. Weights and running statistics are
reloaded before each case, and each training case starts a fresh optimizer.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _bench, _cpu, _dispatch, models, nn, optim
from ._bench_cli import _progress, _set_threads, thread_counts, write_report
from ._config import config

NETWORKS: Dict[str, Callable[..., Any]] = {
    "alexnet": lambda: models.alexnet(dropout=0.0, rng=0),
    "resnet18": lambda: models.resnet18(rng=0),
    "mobilenet_v2": lambda: models.mobilenet_v2(dropout=0.0, rng=0),
}
BATCHES = (1, 8)
MODES = ("infer", "train")
SIZES = {"quick": 128, "full": 224}  # input height = width
ROUNDS = {"quick": 3, "full": 7}
LEARNING_RATE, MOMENTUM = 1e-3, 0.9
CLASSES = 1000


def case_name(network: str, batch: int, mode: str) -> str:
    """``alexnet-b8-train``: the name printed in the table and accepted by ``--cases``."""
    return f"{network}-b{batch}-{mode}"


def relative_error(actual: Any, expected: Any, scale: Optional[float] = None) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    difference = float(np.abs(actual - expected).max()) if expected.size else 0.0
    scale = float(np.abs(expected).max()) if scale is None and expected.size else (scale or 0.0)
    return difference / scale if scale > 0 else difference


def _gradient_error(grads: Dict[str, np.ndarray], truth: Dict[str, np.ndarray]) -> float:
    """The largest error of a parameter's gradient against the float64 twin's, each layer's on
    the scale of the largest of its gradients (a BatchNorm bias whose shift the next BatchNorm
    removes has a gradient of 0 up to rounding)."""
    layers: Dict[str, List[str]] = {}
    for name in truth:
        layers.setdefault(name.rpartition(".")[0], []).append(name)
    worst = 0.0
    for names in layers.values():
        scale = max(float(np.abs(truth[name]).max()) for name in names)
        worst = max([worst] + [relative_error(grads[name], truth[name], scale) for name in names])
    return worst


def float64_truth(torch: Any, twin64: Any, torch_state: Dict[str, Any], x: np.ndarray, labels: np.ndarray,
                   kind: str) -> Tuple[np.ndarray, Optional[Dict[str, np.ndarray]]]:
    """The float64 twin's outputs (and parameter gradients, training) on the same float32
    weights and input: the reference both implementations' errors are measured against."""
    twin64.load_state_dict(torch_state)  # float32 values, exactly representable in float64
    tx = torch.from_numpy(x.astype(np.float64))
    if kind == "infer":
        with torch.inference_mode():
            return twin64.eval()(tx).numpy(), None
    twin64.train().zero_grad()
    logits = twin64(tx)
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).backward()
    return logits.detach().numpy(), {name: p.grad.numpy() for name, p in twin64.named_parameters()}


def fastconv_call(model: Any, backend: str, x: np.ndarray, labels: np.ndarray, mode: str
                    ) -> Callable[[], np.ndarray]:
    if mode == "infer":
        model.eval()

        def infer() -> np.ndarray:
            with _dispatch.use_backend(backend):
                return model(x)

        return infer
    model.train()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)

    def step() -> np.ndarray:
        with _dispatch.use_backend(backend):
            optimizer.zero_grad()
            logits = model(x)
            criterion(logits, labels)
            model.backward(criterion.backward(), need_input=False)  # as torch: x needs no gradient
            optimizer.step()
        return logits

    return step


def torch_call(torch: Any, twin: Any, x: np.ndarray, labels: np.ndarray, mode: str) -> Callable[[], np.ndarray]:
    tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)
    if mode == "infer":
        twin.eval()

        def infer() -> np.ndarray:
            with torch.inference_mode():
                return twin(tx).numpy()

        return infer
    twin.train()
    optimizer = torch.optim.SGD(twin.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)

    def step() -> np.ndarray:
        optimizer.zero_grad()
        logits = twin(tx)
        torch.nn.functional.cross_entropy(logits, tlabels).backward()
        optimizer.step()
        return logits.detach().numpy()

    return step


def _interleaved(calls: Dict[str, Callable[[], Any]], rounds: int) -> Tuple[Dict[str, List[float]],
                                                                           Dict[str, Optional[float]]]:
    """Seconds of each call per round (each once per round, the order reversed every other
    round, the thread pools idle before each) and minor page faults per call (None where not
    counted)."""
    times: Dict[str, List[float]] = {impl: [] for impl in calls}
    faults: Dict[str, List[Optional[int]]] = {impl: [] for impl in calls}
    order = list(calls)
    for index in range(rounds):
        for impl in (order if index % 2 == 0 else order[::-1]):
            _bench.settle()
            before = _bench.minor_faults()
            start = time.perf_counter()
            calls[impl]()
            times[impl].append(time.perf_counter() - start)
            after = _bench.minor_faults()
            faults[impl].append(None if before is None or after is None else after - before)
    per_call = {impl: None if any(f is None for f in counts) else sum(counts) / len(counts)  # type: ignore[misc]
                for impl, counts in faults.items()}
    return times, per_call


def _optional_torch(peers: Sequence[str]) -> Any:
    if "torch" not in peers:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(quick: bool = False, threads: Union[None, int, str, Sequence[int]] = None,
        backends: Optional[Sequence[str]] = None, peers: Sequence[str] = ("torch",),
        cases: Optional[Sequence[str]] = None, rounds: Optional[int] = None, size: Optional[int] = None,
        write: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run the cases and return the report (the ``--json`` document).

    `threads`: one count or several (each case then runs at each count in turn; fastconv and
    torch both set to it). `backends`: fastconv backends to run the models on (default: the
    fastest available). `cases`: only these names (``alexnet-b1-infer``, ``resnet18-b8-train``,
    ...). `rounds`, `size` (input height and width) override the mode's (7 rounds at 224x224;
    quick: 3 at 128x128).
    """
    mode = "quick" if quick else "full"
    rounds = rounds or ROUNDS[mode]
    size = size or SIZES[mode]
    counts = thread_counts(threads)
    available = _dispatch.backends()
    backends = list(backends or [_dispatch.default_backend()])
    missing = [b for b in backends if b not in available]
    if missing:
        msg = f"bench models: backend(s) {missing} not available here (available: {', '.join(available)})"
        raise ValueError(msg)
    specs = [(network, batch, kind) for network in NETWORKS for batch in BATCHES for kind in MODES]
    if cases is not None:
        names = {case_name(*spec) for spec in specs}
        unknown = [name for name in cases if name not in names]
        if unknown:
            msg = f"bench models: no case named {unknown} (names: {', '.join(case_name(*s) for s in specs)})"
            raise ValueError(msg)
        specs = [spec for spec in specs if case_name(*spec) in cases]
    if rounds < 1 or size < 64:  # at 64x64 ResNet-18's last maps are 2x2 (BatchNorm at batch 1 needs > 1 value)
        msg = f"bench models: rounds must be >= 1 and the image size >= 64, got {rounds} and {size}"
        raise ValueError(msg)
    torch = _optional_torch(peers)
    found = {"torch": torch} if torch is not None else {}
    before = _dispatch.get_num_threads()
    torch_threads = torch.get_num_threads() if torch is not None else None
    results: List[Dict[str, Any]] = []
    per_threads = []
    done = 0
    total = len(specs) * len(counts)
    try:
        for count in counts:
            _set_threads(count, found)
            peak, probe_name = _bench.gemm_peak_gflops(count)
            per_threads.append({"threads": count, "fp32_peak_gflops": peak})
        for network in NETWORKS:
            chosen = [spec for spec in specs if spec[0] == network]
            if not chosen:
                continue
            built = {backend: NETWORKS[network]() for backend in backends}
            state = built[backends[0]].state_dict()
            for model in list(built.values())[1:]:
                model.load_state_dict(state)
            twin = twin64 = None
            if torch is not None:
                from .models._torch_twins import torch_twin

                twin = torch_twin(built[backends[0]], torch)
                twin64 = torch_twin(built[backends[0]], torch).double()
                torch_state = {key: torch.from_numpy(value) for key, value in state.items()}
            for _, batch, kind in chosen:
                rng = np.random.default_rng(batch)
                x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
                labels = rng.integers(0, CLASSES, batch)
                for count in counts:
                    _progress(done, total, f"{case_name(network, batch, kind)} at {count} thr")
                    _set_threads(count, found)
                    calls: Dict[str, Callable[[], Any]] = {}
                    for backend, model in built.items():
                        model.load_state_dict(state)
                        calls[backend] = fastconv_call(model, backend, x, labels, kind)
                    if twin is not None:
                        twin.load_state_dict(torch_state)
                        calls["torch"] = torch_call(torch, twin, x, labels, kind)
                    outputs = {impl: call() for impl, call in calls.items()}  # untimed: checked, warms up
                    errors: Dict[str, Optional[float]] = dict.fromkeys(calls)
                    if twin64 is not None:
                        truth, grads = float64_truth(torch, twin64, torch_state, x, labels, kind)
                        for impl, output in outputs.items():
                            errors[impl] = relative_error(output, truth)
                            if grads is not None:
                                found_grads = ({n: p.grad for n, p in built[impl].named_parameters()} if impl in built
                                               else {n: p.grad.numpy() for n, p in twin.named_parameters()})
                                errors[impl] = max(errors[impl], _gradient_error(found_grads, grads))
                        del truth, grads
                    del outputs
                    times, faults = _interleaved(calls, rounds)
                    results += _rows(network, batch, kind, size, count, times, faults, errors, backends)
                    done += 1
            del built, twin, twin64
        _progress(total, total, "done")
    finally:
        _dispatch.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_threads)
    info = config()
    versions = {"fastconv": info["fastconv"], "numpy": np.__version__, "python": info["python"]}
    if torch is not None:
        versions["torch"] = torch.__version__
    caches = _cpu.cache_sizes()
    top = max(counts)
    machine = {"cpu": _cpu.cpu_model(), "simd": info.get("cpp", {}).get("simd_level", "none"), "threads": top,
               "fp32_peak_gflops": next(p["fp32_peak_gflops"] for p in per_threads if p["threads"] == top),
               "peak_probe": probe_name.rsplit(", ", 1)[0], "bandwidth_gbs": None, "versions": versions,
               "peers_missing": [] if torch is not None or "torch" not in peers else ["torch"],
               "date": time.strftime("%Y-%m-%d"),
               "thread_counts": counts, "per_threads": per_threads,
               "cache_sizes": {"l1d": caches.l1d, "l2": caches.l2, "l3": caches.l3, "source": dict(caches.source)},
               "mode": mode, "rounds": rounds, "image_size": size, "dtype": "float32", "num_classes": CLASSES,
               "optimizer": {"name": "SGD", "lr": LEARNING_RATE, "momentum": MOMENTUM}, "dropout": 0.0,
               "backends": backends}
    report = {"machine": machine, "results": results}
    write(format_report(report))
    return report


def _rows(network: str, batch: int, kind: str, size: int, threads: int, times: Dict[str, List[float]],
          faults: Dict[str, Optional[float]], errors: Dict[str, Optional[float]], backends: Sequence[str]
          ) -> List[Dict[str, Any]]:
    peer = times.get("torch")
    rows = []
    for impl, samples in times.items():
        median, fastest = statistics.median(samples), min(samples)
        ours = impl in backends
        rows.append({"suite": "models", "case": case_name(network, batch, kind), "network": network, "batch": batch,
                     "mode": "inference" if kind == "infer" else "train_step", "image_size": size, "impl": impl,
                     "threads": threads, "median_ms": 1e3 * median, "min_ms": 1e3 * fastest,
                     "throughput": batch / median, "unit": "images/s", "fraction_of_limit": None,
                     "speedup_vs_best_peer": statistics.median(peer) / median if ours and peer else None,
                     "min_speedup_vs_best_peer": min(peer) / fastest if ours and peer else None,
                     "max_rel_error": errors[impl],
                     "error_of": None if errors[impl] is None else
                     "outputs" if kind == "infer" else "train-mode outputs and parameter gradients after one step",
                     "page_faults_per_call": faults[impl], "samples": len(samples),
                     "samples_ms": [1e3 * t for t in samples]})
    return rows


def format_report(report: Dict[str, Any]) -> str:
    m = report["machine"]
    caches = m["cache_sizes"]
    counts = m["thread_counts"]
    peaks = " / ".join(f"{p['fp32_peak_gflops']:.0f}" for p in m["per_threads"])
    lines = [f"{m['cpu']} | L3 {_cpu.format_size(caches['l3'])} ({caches['source'].get('l3', '?')}) | "
             f"SIMD {m['simd']} | {'/'.join(map(str, counts))} thread{'s' if counts != [1] else ''} | "
             f"FP32 peak {peaks} GFLOP/s "
             f"({m['peak_probe']}) | {m['date']}",
             f"{m['image_size']}x{m['image_size']} float32 images, {m['num_classes']} classes; train = forward, "
             f"cross-entropy, backward, SGD (lr {m['optimizer']['lr']}, momentum {m['optimizer']['momentum']}), "
             f"dropout 0; {m['rounds']} interleaved rounds (order alternating), min / median; "
             f"vs torch: torch's time / ours",
             "versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
             + (f" | not installed: {', '.join(m['peers_missing'])}" if m["peers_missing"] else "")]
    rows = report["results"]
    if not rows:
        return "\n".join(lines)
    width = max(18, *(len(r["case"]) for r in rows))
    header = (f"{'case':{width}s} {'thr':>3s} {'impl':7s} {'min ms':>9s} {'median ms':>10s} {'images/s':>9s} "
              f"{'vs torch min/median':>19s} {'faults/call':>11s} {'max rel err':>11s}")
    lines += ["", header, "-" * len(header)]
    for r in rows:
        speedup = (f"{r['min_speedup_vs_best_peer']:.2f}x / {r['speedup_vs_best_peer']:.2f}x"
                   if r["speedup_vs_best_peer"] else "-")
        faults = "-" if r["page_faults_per_call"] is None else f"{r['page_faults_per_call']:.0f}"
        error = "-" if r["max_rel_error"] is None else f"{r['max_rel_error']:.1e}"
        lines.append(f"{r['case']:{width}s} {r['threads']:3d} {r['impl']:7s} {r['min_ms']:9.1f} {r['median_ms']:10.1f} "
                     f"{r['throughput']:9.1f} {speedup:>19s} {faults:>11s} {error:>11s}")
    for count in counts:
        summary = []
        for mode, label in (("inference", "inference"), ("train_step", "training step")):
            at = [r for r in rows if r["threads"] == count and r["mode"] == mode and r["speedup_vs_best_peer"]]
            for impl in dict.fromkeys(r["impl"] for r in at):
                ratios = [r["speedup_vs_best_peer"] for r in at if r["impl"] == impl]
                summary.append(f"{label} {impl} {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x "
                               f"(lowest {min(ratios):.2f}x, {len(ratios)} cases)")
        if summary:
            lines.append(f"geo-mean vs torch (medians), {count} thread{'s' if count > 1 else ''}: "
                         + "; ".join(summary))
    if any(r["max_rel_error"] is not None for r in rows):
        lines.append("max rel err: against a float64 torch twin on the same weights and input (inference: the "
                     "outputs; train: the training-mode outputs and every parameter's gradient after the first step, "
                     "per layer on its largest gradient)")
    return "\n".join(lines)


def plot(report: Dict[str, Any], path: str) -> None:
    """Bars of images/s per case, one per implementation (and the speed-up over torch in the label)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["results"]
    several = len({r["threads"] for r in rows}) > 1
    keys = list(dict.fromkeys((r["case"], r["threads"]) for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    by = {(r["case"], r["threads"], r["impl"]): r for r in rows}
    height = 0.8 / len(impls)
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(keys) * max(1, len(impls) / 2) + 1.5))
    for index, impl in enumerate(impls):
        values = [by[(case, count, impl)]["throughput"] if (case, count, impl) in by else 0.0 for case, count in keys]
        axes.barh([k + index * height for k in range(len(keys))], values, height, label=impl)
    labels = []
    for case, count in keys:
        speedups = [by[(case, count, impl)]["speedup_vs_best_peer"] for impl in impls
                    if (case, count, impl) in by and by[(case, count, impl)]["speedup_vs_best_peer"]]
        label = f"{case}{f', {count} thr' if several else ''}"
        labels.append(label + (f" ({speedups[0]:.2f}x torch)" if speedups else ""))
    axes.set_yticks([k + height * (len(impls) - 1) / 2 for k in range(len(keys))], labels, fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("images/s (median of the rounds; log scale)")
    axes.invert_yaxis()
    axes.legend()
    m = report["machine"]
    axes.set_title(f"{m['cpu']}, {'/'.join(map(str, m['thread_counts']))} threads, "
                   f"{m['image_size']}x{m['image_size']}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def main(quick: bool, threads: Union[None, int, str], backends: Optional[str], peers: str,
         json_path: Optional[str], plot_path: Optional[str], cases: Optional[str] = None) -> int:
    try:
        report = run(quick=quick, threads=threads, backends=backends.split(",") if backends else None,
                     peers=peers.split(","), cases=cases.split(",") if cases else None)
    except ValueError as error:
        print(f"fastconv {error}", file=sys.stderr)
        return 2
    return write_report(report, json_path, plot_path, plot)
