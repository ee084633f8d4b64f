"""`fastconv bench`: runs with and without peers, writes the documented JSON keys, and refuses
unknown suites and backends with a one-line error."""

import json

import pytest

from fastconv import _bench_cli
from fastconv.cli import main

MACHINE_KEYS = {"cpu", "simd", "threads", "fp32_peak_gflops", "bandwidth_gbs", "versions"}
RESULT_KEYS = {"suite", "case", "impl", "median_ms", "throughput", "unit", "fraction_of_limit",
               "speedup_vs_best_peer", "max_rel_error"}


def test_pool_suite_without_peers_writes_the_documented_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "pool", "--quick", "--peers", "none", "--threads", "1", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert MACHINE_KEYS <= set(report["machine"]) and report["machine"]["threads"] == 1
    assert report["results"] and all(RESULT_KEYS <= set(r) for r in report["results"])
    assert all(r["suite"] == "pool" and r["unit"] == "GB/s" for r in report["results"])
    assert all(r["speedup_vs_best_peer"] is None for r in report["results"])  # no peer to compare with
    assert all(r["max_rel_error"] < 1e-5 for r in report["results"])
    assert "[pool]" in capsys.readouterr().out


def test_filter_suite_with_scipy_peer():
    pytest.importorskip("scipy")
    report = _bench_cli.run(["filter"], quick=True, peers=["scipy", "cv2"], rounds=1, write=lambda text: None)
    fast = [r for r in report["results"] if r["impl"] in ("cpp", "numba") and r["case"].endswith("3x3 sharpen")
            and "f32" in r["case"]]
    assert fast and all(r["speedup_vs_best_peer"] > 0 for r in fast)
    assert "cv2" in report["machine"]["peers_missing"] or "cv2" in report["machine"]["versions"]


def test_errors(capsys):
    assert main(["bench", "gpu", "--quick"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["bench", "pool", "--quick", "--backends", "cuda"]) == 2
    assert "not available" in capsys.readouterr().err
