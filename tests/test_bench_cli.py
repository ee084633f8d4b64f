"""`fastconv bench`: runs with and without peers, cold (default) and warm, at one or several
thread counts; writes the documented JSON keys; takes each cold call's inputs out of cache by
rotating copies or flushing (checked through the calls' inputs and the flush count, not by
timing); refuses unknown suites, backends, cases and thread counts with a one-line error."""

import json

import numpy as np
import pytest

import fastconv
from fastconv import _bench, _bench_cli, _cpu
from fastconv.cli import main

MACHINE_KEYS = {"cpu", "simd", "threads", "fp32_peak_gflops", "bandwidth_gbs", "versions"}
RESULT_KEYS = {"suite", "case", "impl", "median_ms", "throughput", "unit", "fraction_of_limit",
               "speedup_vs_best_peer", "max_rel_error"}
COLD_MACHINE_KEYS = {"cold", "cache_sizes", "thread_counts", "per_threads", "cold_rotation_bytes",
                     "cold_flush_bytes", "cold_max_copies", "bandwidth_copy_bytes"}
NEW_RESULT_KEYS = {"threads", "cold", "page_faults_per_call", "traffic_gbs", "cold_method", "cold_copies", "samples"}
SMALL = "max-lecture-5x5-ceil"  # flushed: far smaller than any L3
LARGE = "max-2x2s2-64@112-b8"  # 25.7 MB: rotated over copies with a 1 MiB L3


@pytest.fixture
def small_l3(monkeypatch):
    """A 1 MiB L3 for the bench: 2 MiB flushes, copies adding up to 4 MiB (the kernels loaded
    their cache sizes at import and do not see this)."""
    monkeypatch.setenv("FASTCONV_CACHE_L3", "1M")


@pytest.fixture
def flushes(monkeypatch):
    """Every CacheFlusher run() makes, to count their flushes."""
    made = []

    class Counted(_bench.CacheFlusher):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(_bench, "CacheFlusher", Counted)
    return made


def test_cold_pool_suite_writes_the_documented_json(tmp_path, capsys, small_l3, flushes):
    path = tmp_path / "bench.json"
    assert main(["bench", "pool", "--quick", "--peers", "none", "--threads", "1", "--backends", "cpp",
                 "--cases", f"{SMALL},{LARGE}", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    machine = report["machine"]
    assert MACHINE_KEYS | COLD_MACHINE_KEYS <= set(machine) and machine["threads"] == 1
    assert machine["cold"] is True and machine["cpu"] == _cpu.cpu_model() and machine["thread_counts"] == [1]
    assert set(machine["cache_sizes"]) == {"l1d", "l2", "l3", "source"}
    assert machine["cache_sizes"]["l3"] == 1 << 20 and machine["cache_sizes"]["source"]["l3"] == "env"
    assert machine["cold_flush_bytes"] == 2 << 20 and machine["cold_rotation_bytes"] == 4 << 20
    assert machine["bandwidth_copy_bytes"] >= 4 << 20
    rows = report["results"]
    assert {r["case"] for r in rows} == {SMALL, LARGE} and {r["impl"] for r in rows} == {"cpp", "cpp+out"}
    for r in rows:
        assert RESULT_KEYS | NEW_RESULT_KEYS <= set(r)
        assert r["suite"] == "pool" and r["unit"] == "GB/s" and r["max_rel_error"] < 1e-5
        assert r["speedup_vs_best_peer"] is None  # no peer to compare with
        assert r["threads"] == 1 and r["cold"] is True and isinstance(r["samples"], int) and r["samples"] >= 5
        assert r["page_faults_per_call"] is None or (isinstance(r["page_faults_per_call"], float)
                                                     and r["page_faults_per_call"] >= 0)
        assert isinstance(r["traffic_gbs"], float) and r["traffic_gbs"] == pytest.approx(r["throughput"])
    small = [r for r in rows if r["case"] == SMALL]
    large = [r for r in rows if r["case"] == LARGE]
    assert all(r["cold_method"] == "flush" and r["cold_copies"] == 1 for r in small)
    assert all(r["cold_method"] == "rotate" and r["cold_copies"] == 2 for r in large)  # 2 x 25.7 MB >= 4 MiB
    # one flush before each timed call of the flushed case, none for the rotated one
    (flusher,) = flushes
    assert flusher.size == 2 << 20 and flusher.calls == sum(r["samples"] for r in small)
    out = capsys.readouterr().out
    assert "[pool]" in out and machine["cpu"] in out and "L3 1 MiB (env) | cold" in out and "faults/call" in out


def test_warm_mode_and_cold_mode_both_run(small_l3, flushes):
    tables = []
    options = dict(quick=True, threads=1, backends=["cpp"], peers=[], rounds=2, cases=[SMALL], write=tables.append)
    warm = _bench_cli.run(["pool"], cold=False, **options)
    assert not flushes  # warm: nothing flushed
    assert warm["machine"]["cold"] is False and warm["machine"]["cold_flush_bytes"] is None
    assert all(r["cold"] is False and r["cold_method"] is None and r["samples"] == 2 for r in warm["results"])
    cold = _bench_cli.run(["pool"], **options)
    assert cold["machine"]["cold"] is True
    assert all(r["cold"] is True and r["cold_method"] == "flush" and r["samples"] == 2 for r in cold["results"])
    assert flushes[0].calls == 2 * len(cold["results"])  # 2 rounds, one flush per timed call
    assert "| warm |" in tables[0] and "| cold |" in tables[1]


def test_thread_list_runs_every_case_at_each_count(tmp_path, capsys, small_l3, restore_threads):
    peers = "torch" if _bench_cli._peers(["torch"]) else "none"
    fastconv.set_num_threads(1)
    path = tmp_path / "bench.json"
    assert main(["bench", "pool", "--quick", "--peers", peers, "--threads", "1,2", "--backends", "cpp",
                 "--cases", "max-alexnet-pool1", "--json", str(path)]) == 0
    assert fastconv.get_num_threads() == 1  # put back
    report = json.loads(path.read_text())
    assert report["machine"]["thread_counts"] == [1, 2] and report["machine"]["threads"] == 2
    assert [limit["threads"] for limit in report["machine"]["per_threads"]] == [1, 2]
    impls = {"cpp", "cpp+out"} | ({"torch"} if peers == "torch" else set())
    assert {(r["impl"], r["threads"]) for r in report["results"]} == {(i, t) for i in impls for t in (1, 2)}
    out = capsys.readouterr().out
    if peers == "torch":  # one geo-mean per thread count
        assert "geo-mean vs best peer, 1 thread:" in out and "geo-mean vs best peer, 2 threads:" in out


def test_rotation_gives_each_call_another_copy():
    seen = []

    def bind(x):
        def call():
            seen.append(x.ctypes.data)
            return x.copy()
        return call

    x = np.arange(1000.0)
    plan = _bench.ColdPlan("rotate", 3)
    measured = _bench.measure_cold({"a": bind, "b": bind}, (x,), x, plan, None, rounds=4)
    assert measured.samples == 4 and set(measured.median_seconds) == {"a", "b"}
    assert measured.max_rel_error == {"a": 0.0, "b": 0.0}
    checks, timed = seen[:2], seen[2:]
    assert checks == [x.ctypes.data] * 2  # the untimed checks read the caller's array
    assert len(timed) == 8 and len(set(timed)) == 3  # the timed calls cycle through 3 copies
    assert all(a != b for a, b in zip(timed, timed[1:]))  # never the same copy twice in a row
    assert timed[0] != x.ctypes.data  # nor the one the checks just read


def test_flush_runs_before_each_timed_call():
    order = []

    def bind(x):
        return lambda: order.append("call") or x

    x = np.ones(10)
    assert _bench.cold_plan(x.nbytes, 1 << 20) == _bench.ColdPlan("flush", 1)
    measured = _bench.measure_cold({"a": bind, "b": bind}, (x,), x, _bench.ColdPlan("flush", 1),
                                   lambda: order.append("flush"), rounds=3, settle=lambda: order.append("settle"))
    assert measured.samples == 3
    # two untimed checks, then before each timed call the flush and the wait for idle thread pools
    assert order == ["call"] * 2 + ["flush", "settle", "call"] * 6
    with pytest.raises(ValueError, match="flush"):
        _bench.measure_cold({"a": bind}, (x,), x, _bench.ColdPlan("flush", 1), None, rounds=1)


def test_cold_plan_and_flusher():
    l3 = 32 << 20
    assert _bench.cold_plan(8 * 64 * 112 * 112 * 4, l3) == _bench.ColdPlan("rotate", 6)  # 6 x 25.7 MB >= 128 MiB
    assert _bench.cold_plan(512 << 20, l3) == _bench.ColdPlan("rotate", 2)  # at least two copies
    assert _bench.cold_plan(1 << 20, l3).method == "flush"  # 128 copies: not a handful
    flusher = _bench.CacheFlusher(1 << 20, threads=2)
    try:
        before = flusher._buffer.sum()
        flusher()
        flusher()
        assert flusher.calls == 2 and flusher._buffer.sum() == before + 2 * flusher._buffer.size  # read and written
    finally:
        flusher.close()


def test_filter_suite_with_scipy_peer(small_l3):
    pytest.importorskip("scipy")
    report = _bench_cli.run(["filter"], quick=True, backends=fastconv.backends()[:1], peers=["scipy", "cv2"],
                            rounds=1, write=lambda text: None)
    fast = [r for r in report["results"] if r["impl"] in ("cpp", "numba") and r["case"].endswith("3x3 sharpen")
            and "f32" in r["case"]]
    assert fast and all(r["speedup_vs_best_peer"] > 0 for r in fast)
    assert all(r["traffic_gbs"] > 0 and r["cold_method"] == "flush" for r in report["results"])
    assert "cv2" in report["machine"]["peers_missing"] or "cv2" in report["machine"]["versions"]


def test_errors(capsys):
    assert main(["bench", "gpu", "--quick"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["bench", "pool", "--quick", "--backends", "cuda"]) == 2
    assert "not available" in capsys.readouterr().err
    for threads in ("0", "1,x", ""):
        assert main(["bench", "pool", "--quick", "--threads", threads]) == 2
        assert "--threads" in capsys.readouterr().err
    assert main(["bench", "pool", "--quick", "--cases", "max-nothing"]) == 2
    assert "no case named" in capsys.readouterr().err
