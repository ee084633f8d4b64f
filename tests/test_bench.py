"""The layer benchmark's functions: they run, measure what they say and format a table (no timing
is asserted)."""

import numpy as np

from fastconv import _bench


def test_flop_count():
    # the lecture's layer: 256x256x64 outputs, each 3*3*3 multiply-adds
    assert _bench.conv_flops((1, 3, 256, 256), (64, 3, 3, 3), (1, 64, 256, 256)) == 2 * 64 * 256 * 256 * 27


def test_every_layer_is_a_valid_call():
    import fastconv

    assert not set(_bench.CONV_LAYERS) & set(_bench.FAMILY_LAYERS)
    for name, (input_shape, weight_shape, kwargs) in {**_bench.CONV_LAYERS, **_bench.FAMILY_LAYERS}.items():
        out_h = fastconv.conv_output_size(input_shape[2], weight_shape[2], kwargs.get("stride", 1),
                                          kwargs.get("padding", 0))
        assert out_h >= 1, name
        assert input_shape[1] == weight_shape[1] * kwargs.get("groups", 1), name


def test_run_and_format():
    import fastconv

    backend = fastconv.backends()[0]
    results = _bench.run_conv_layers(("lecture-3to64@256",), threads=1, backends=(backend,), rounds=1)
    (result,) = results
    assert result.layer == "lecture-3to64@256" and result.median_ms[backend] > 0
    assert result.max_rel_error[backend] < 1e-5
    table = _bench.format_conv_table(results, peak_gflops=100.0, backend=backend)
    assert "lecture-3to64@256" in table and "% peak" in table


def test_peak_probe_joins_the_rounds():
    import fastconv

    backend = fastconv.backends()[0]
    (result,) = _bench.run_conv_layers(("depthwise-3x3@56",), threads=1, backends=(backend,), rounds=2,
                                       peak_probe=True)
    assert result.peak_gflops is not None and result.peak_gflops > 0
    assert "gemm-peak" not in result.median_ms
    table = _bench.format_conv_table([result], peak_gflops=1e9, backend=backend)
    # the layer's own probe, not the (absurd) table-wide figure, gives its fraction of the peak
    gflops = result.flops / (result.median_ms[backend] * 1e-3) / 1e9
    assert f"{100 * gflops / result.peak_gflops:6.1f}%" in table


def test_thread_scaling_times_every_count_in_the_same_run():
    import fastconv

    backend = fastconv.backends()[0]
    before = fastconv.get_num_threads()
    results = _bench.run_thread_scaling(("depthwise-3x3@56",), (1, 2), backend=backend, with_torch=False, rounds=2)
    assert fastconv.get_num_threads() == before  # the caller's thread count is put back
    (result,) = results
    assert set(result.median_ms) == {f"{backend}@1", f"{backend}@2"}
    assert all(error < 1e-5 for error in result.max_rel_error.values())
    assert set(result.probe_gflops) == {1, 2} and min(result.probe_gflops.values()) > 0
    table = _bench.format_scaling_table(results, backend=backend)
    ratio = result.median_ms[f"{backend}@1"] / result.median_ms[f"{backend}@2"]
    assert f"{ratio:11.2f}" in table and "gemm x2/1" in table


def test_page_faults_are_counted_per_call():
    import pytest

    if _bench.minor_faults() is None:
        pytest.skip("no getrusage here")
    x = np.zeros(8 << 20)  # 64 MiB: a fresh array of this size is mapped anew, each page faulted on first touch

    def fresh(x):
        return lambda: np.ones(x.size)

    def reuse(x):
        return lambda: np.copyto(x, 1.0) or x

    binders = {"fresh": fresh, "reuse": reuse}
    cold = _bench.measure_cold(binders, (x,), np.ones(x.size), _bench.ColdPlan("flush", 1), lambda: None, rounds=2)
    warm = _bench.measure_interleaved({impl: bind(x) for impl, bind in binders.items()}, np.ones(x.size), 1)
    for measured in (cold, warm):
        faults = measured.page_faults_per_call
        assert faults["fresh"] >= 1 and faults["reuse"] < faults["fresh"]
