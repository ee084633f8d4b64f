"""fastconv._cpu: cache sizes (sysfs, overrides) and the kernel block sizes derived from them."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import _cpu


@pytest.mark.parametrize("text, size", [("16M", 16 << 20), ("16 MiB", 16 << 20), ("512K", 512 << 10),
                                        ("512kb", 512 << 10), ("1048576", 1 << 20), ("1G", 1 << 30)])
def test_parse_size(text, size):
    assert _cpu.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1M", "16Q", "M", "1.5M"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="FASTCONV_CACHE_L3="):
        _cpu.parse_size(text, "FASTCONV_CACHE_L3")


def test_format_size():
    assert _cpu.format_size(32 << 20) == "32 MiB"
    assert _cpu.format_size(48 << 10) == "48 KiB"
    assert _cpu.format_size(1536 << 10) == "1.5 MiB"


def test_sysfs_reader(tmp_path, monkeypatch):
    # a fake /sys/devices/system/cpu/cpu0/cache: L1d, L1i (ignored), L2, L3
    for index, (level, kind, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "32K"),
                                                 (2, "Unified", "2048K"), (3, "Unified", "16384K")]):
        entry = tmp_path / f"index{index}"
        entry.mkdir()
        (entry / "level").write_text(f"{level}\n")
        (entry / "type").write_text(f"{kind}\n")
        (entry / "size").write_text(f"{size}\n")
    monkeypatch.setattr(_cpu, "_SYSFS_CACHE", str(tmp_path))
    _cpu._detected.cache_clear()
    try:
        sizes = _cpu.cache_sizes(environ={})
        assert (sizes.l1d, sizes.l2, sizes.l3) == (48 << 10, 2 << 20, 16 << 20)
        assert sizes.source == {"l1d": "sysfs", "l2": "sysfs", "l3": "sysfs"}
    finally:
        _cpu._detected.cache_clear()


def test_no_sysfs_gives_the_small_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(_cpu, "_SYSFS_CACHE", str(tmp_path / "missing"))
    monkeypatch.setattr(_cpu, "_read_sysctl", dict)
    _cpu._detected.cache_clear()
    try:
        sizes = _cpu.cache_sizes(environ={})
        assert (sizes.l1d, sizes.l2, sizes.l3) == tuple(_cpu.DEFAULT_SIZES[k] for k in ("l1d", "l2", "l3"))
        assert set(sizes.source.values()) == {"default"}
    finally:
        _cpu._detected.cache_clear()


def test_environment_overrides():
    sizes = _cpu.cache_sizes(environ={"FASTCONV_CACHE_L2": "256K", "FASTCONV_CACHE_L3": "16M"})
    assert (sizes.l2, sizes.l3) == (256 << 10, 16 << 20)
    assert sizes.source["l2"] == sizes.source["l3"] == "env"
    assert sizes.l1d == _cpu.cache_sizes(environ={}).l1d


def test_cpu_model_is_named():
    assert _cpu.cpu_model().strip()


def _cpp():
    pytest.importorskip("fastconv._core")
    from fastconv._backends import cpp

    return cpp


def test_override_reaches_the_kernels_and_info():
    _cpp()
    code = ("import fastconv, fastconv._core as c; fastconv.show_config(); "
            "print(c.cache_sizes()['l3'], c.tuning()['conv2d_image_pass_bytes'])")
    env = dict(os.environ, FASTCONV_CACHE_L2="256K", FASTCONV_CACHE_L3="16M")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "L3 16 MiB (env)" in out and "L2 256 KiB (env)" in out
    assert "igemm_channels image passes <= 256 KiB" in out
    assert out.split()[-2:] == [str(16 << 20), str(256 << 10)]


def test_malformed_override_warns_and_keeps_the_backend():
    _cpp()
    code = "import fastconv; print(fastconv.backends()[0])"
    env = dict(os.environ, FASTCONV_CACHE_L3="lots")
    run = subprocess.run([sys.executable, "-W", "default", "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "cpp"
    assert "FASTCONV_CACHE_L3='lots'" in run.stderr


@pytest.fixture
def cache_sizes_restored():
    cpp = _cpp()
    yield cpp
    cpp.apply_cache_sizes()


# Layers whose cpp setup reads the cache-derived sizes: igemm_channels image passes (small planes,
# batch), NHWC depthwise bands, grouped igemm packing per job.
CACHE_SENSITIVE = [
    ((6, 64, 7, 7), (64, 64, 3, 3), dict(padding=1), "NCHW"),
    ((5, 40, 10, 9), (40, 1, 3, 3), dict(padding=1, groups=40), "NHWC"),
    ((2, 24, 30, 31), (24, 1, 5, 5), dict(stride=2, padding=2, groups=24), "NHWC"),
    ((2, 32, 12, 12), (32, 4, 3, 3), dict(padding=1, groups=8), "NCHW"),
]


@pytest.mark.parametrize("l2, l3", [(4 << 10, 4 << 10), (256 << 10, 8 << 20), (64 << 20, 1 << 30)],
                         ids=["4K-4K", "256K-8M", "64M-1G"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_results_hold_for_any_cache_size(cache_sizes_restored, l2, l3, dtype):
    cache_sizes_restored.apply_cache_sizes(_cpu.CacheSizes(32 << 10, l2, l3))
    from fastconv import _core

    assert _core.cache_sizes()["l2"] == l2
    rng = np.random.default_rng(l2 % 997)
    for input_shape, weight_shape, kwargs, layout in CACHE_SENSITIVE:
        x = rng.standard_normal(input_shape)
        w = rng.standard_normal(weight_shape)
        if layout == "NHWC":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        expected = fastconv.conv2d(x, w, **kwargs, layout=layout, backend="reference")
        got = fastconv.conv2d(x.astype(dtype), w.astype(dtype), **kwargs, layout=layout, backend="cpp")
        tolerance = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())
