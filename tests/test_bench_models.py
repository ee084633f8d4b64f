"""`fastconv bench models` on a tiny run (64x64 images, one round, ResNet-18 at batch 1, the GEMM
probe stubbed): the documented JSON keys, both modes against the torch twin, the errors
measured against a float64 twin, the table, and the one-line refusals."""

import json

import pytest

from fastconv import _bench, _bench_models, _cpu
from fastconv.cli import main

RESULT_KEYS = {"suite", "case", "impl", "median_ms", "throughput", "unit", "fraction_of_limit",
               "speedup_vs_best_peer", "max_rel_error", "threads", "min_ms", "samples", "samples_ms", "network",
               "batch", "mode", "image_size", "min_speedup_vs_best_peer", "error_of", "page_faults_per_call"}
MACHINE_KEYS = {"cpu", "simd", "threads", "fp32_peak_gflops", "bandwidth_gbs", "versions", "cache_sizes",
                "thread_counts", "per_threads", "rounds", "image_size", "mode", "date", "peers_missing", "backends"}
CASES = "resnet18-b1-infer,resnet18-b1-train"


@pytest.fixture
def tiny(monkeypatch):
    """--quick as 64x64 images and one round; no 2048^2 GEMM probe."""
    monkeypatch.setitem(_bench_models.SIZES, "quick", 64)
    monkeypatch.setitem(_bench_models.ROUNDS, "quick", 1)
    monkeypatch.setattr(_bench, "gemm_peak_gflops", lambda threads: (1.0, f"stub, {threads} threads"))


def test_models_suite_against_torch_writes_the_json(tmp_path, capsys, tiny):
    torch = pytest.importorskip("torch")
    path = tmp_path / "models.json"
    assert main(["bench", "models", "--quick", "--threads", "1", "--cases", CASES, "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    machine = report["machine"]
    assert MACHINE_KEYS <= set(machine) and machine["cpu"] == _cpu.cpu_model()
    assert machine["threads"] == 1 and machine["thread_counts"] == [1] and machine["image_size"] == 64
    assert machine["versions"]["torch"] == torch.__version__ and machine["peers_missing"] == []
    rows = report["results"]
    assert [(r["case"], r["impl"]) for r in rows] == [(case, impl) for case in CASES.split(",")
                                                      for impl in (machine["backends"][0], "torch")]
    for r in rows:
        assert RESULT_KEYS <= set(r) and r["suite"] == "models" and r["unit"] == "images/s"
        assert r["network"] == "resnet18" and r["batch"] == 1 and r["threads"] == 1 and r["samples"] == 1
        assert 0 < r["min_ms"] <= r["median_ms"] and r["throughput"] == pytest.approx(1e3 / r["median_ms"])
        assert r["mode"] == ("inference" if r["case"].endswith("infer") else "train_step")
        assert r["max_rel_error"] < 1e-3  # against the float64 twin, torch's float32 as ours
        ours = r["impl"] != "torch"
        assert (r["speedup_vs_best_peer"] is not None) == ours and (r["min_speedup_vs_best_peer"] is not None) == ours
    out = capsys.readouterr().out
    assert "resnet18-b1-train" in out and "L3 " in out and "vs torch" in out and "geo-mean vs torch" in out


def test_models_suite_without_peers_and_plot(tmp_path, capsys, tiny):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "models.png"
    assert main(["bench", "models", "--quick", "--threads", "1", "--peers", "none", "--cases",
                 "resnet18-b1-infer", "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("resnet18-b1-infer")]
    assert "torch" not in out.split("versions:")[1].split("\n")[0] and row.split()[-1] == "-"  # no error: no twin


@pytest.mark.parametrize("argv, message", [
    (["bench", "models", "--cases", "resnet50-b1-infer"], "no case named ['resnet50-b1-infer']"),
    (["bench", "models", "conv"], "runs on its own"),
    (["bench", "models", "--threads", "0"], "--threads must be a positive count"),
])
def test_models_suite_refusals(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
