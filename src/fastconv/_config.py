"""show_config(): what this installation runs with."""

from __future__ import annotations

import platform
import sys
from typing import Any, Dict

import numpy as np

from . import _cpu, _dispatch


def config() -> Dict[str, Any]:
    """The configuration as a dict (what ``show_config`` prints)."""
    from . import __version__

    info: Dict[str, Any] = {
        "fastconv": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "backends": _dispatch.backends(),
        "unavailable": _dispatch.unavailable_backends(),
        "default_backend": _dispatch.default_backend(),
        "threads": _dispatch.get_num_threads(),
        "cpu": _cpu.cpu_model(),
    }
    try:
        caches = _cpu.cache_sizes()
    except ValueError:  # a malformed override: the cpp backend warned and uses the machine's
        caches = _cpu.cache_sizes(environ={})
    info["caches"] = {"l1d": caches.l1d, "l2": caches.l2, "l3": caches.l3, "source": dict(caches.source)}
    if "cpp" in info["backends"]:
        from . import _core

        info["cpp"] = {
            "simd_level": _core.simd_level(),
            "simd_levels": _core.simd_levels(),
            "cpu_features": [name for name, present in _core.cpu_features().items() if present],
            "openmp": bool(_core.openmp),
            "kernels": [k for k in _core.kernels() if k.endswith("_" + _core.simd_level())],
            "tuning": _core.tuning(),
            "conv2d_algorithms": {"auto": "depthwise where it applies; with AVX-512, igemm_channels for "
                                          "float32 layers with C_in*KH*KW >= 512 and C_out a near multiple "
                                          "of 32 (1x1 on small planes only); below AVX-512, winograd for "
                                          "3x3 stride-1 layers of >= 64 channels on planes of >= 14x14 "
                                          "(scratch <= 32 MiB); else igemm",
                                  "igemm": "implicit GEMM, register-blocked SIMD microkernel",
                                  "igemm_channels": "implicit GEMM, output channels in the vector lanes",
                                  "depthwise": "one filter per channel: rows in registers, channels in "
                                               "the lanes on small planes",
                                  "winograd": "F(2x2, 3x3), 3x3 stride 1 only",
                                  "direct": "plain loops, compiler-vectorised"},
        }
    if "numba" in info["backends"]:
        import numba

        info["numba"] = {"version": numba.__version__, "threading_layer": numba.config.THREADING_LAYER,
                         "conv2d": "im2col + NumPy BLAS GEMM (direct loops for one output channel per group)"}
    return info


def show_config() -> Dict[str, Any]:
    """Print and return the version, the backends, the SIMD level, the kernels and the threads.

    Returns
    -------
    dict
        The same information, for programs (keys: fastconv, python, numpy, platform, backends,
        unavailable, default_backend, threads, and ``cpp`` / ``numba`` details when available).
    """
    info = config()
    lines = [
        f"fastconv {info['fastconv']} (Python {info['python']}, NumPy {info['numpy']}, {info['platform']})",
        f"backends:        {', '.join(info['backends'])} (default: {info['default_backend']})",
    ]
    for name, reason in info["unavailable"].items():
        lines.append(f"  unavailable:   {name}: {reason}")
    lines.append(f"threads:         {info['threads']}")
    caches = _cpu.CacheSizes(**{name: info["caches"][name] for name in ("l1d", "l2", "l3")},
                             source=info["caches"]["source"])
    lines.append(f"cpu:             {info['cpu']}; {caches.describe()} "
                 f"(override: {_cpu.OVERRIDE_VARIABLES['l2']}, {_cpu.OVERRIDE_VARIABLES['l3']})")
    if "cpp" in info:
        cpp = info["cpp"]
        tuning = cpp["tuning"]
        lines += [
            f"cpp SIMD level:  {cpp['simd_level']} (supported here: {', '.join(cpp['simd_levels'])})",
            f"cpp CPU features: {', '.join(cpp['cpu_features']) or 'none detected'}",
            f"cpp OpenMP:      {'yes' if cpp['openmp'] else 'no (kernels run on one thread)'}",
            f"cpp kernels:     {', '.join(cpp['kernels'])}",
            f"cpp cache-derived sizes: conv2d grouped packs <= {_cpu.format_size(tuning['conv2d_group_pack_bytes'])}, "
            f"igemm_channels image passes <= {_cpu.format_size(tuning['conv2d_image_pass_bytes'])}, "
            f"NHWC depthwise bands ~{_cpu.format_size(tuning['conv2d_lane_band_bytes'])}",
            f"cpp conv2d:      algorithm='auto' runs {cpp['conv2d_algorithms']['auto']}; "
            f"also 'igemm', 'winograd', 'direct'",
        ]
    if "numba" in info:
        lines.append(f"numba:           {info['numba']['version']} "
                     f"(threading layer: {info['numba']['threading_layer']}); conv2d: {info['numba']['conv2d']}")
    print("\n".join(lines))
    return info
