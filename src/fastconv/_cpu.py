"""The CPU this process runs on: model name and cache sizes, read once.

The compiled kernels size their blocks, image passes and bands from these numbers (pushed into
``fastconv._core`` when the cpp backend loads), and the cold benchmarks size their working sets
from the last-level cache. ``FASTCONV_CACHE_L2`` / ``FASTCONV_CACHE_L3`` override what the
machine reports (``"16M"``, ``"16MiB"``, ``"512K"``, ``"1048576"``), so that a developer on a
large-cache machine can reproduce the decisions taken on a small-cache one.

Linux reports the caches in ``/sys/devices/system/cpu/cpu0/cache``; that is read rather than
``getconf``/``sysconf``, which on some virtual machines report the host's L3 (a 32 MiB EPYC
guest was seen to claim 320 MiB there). Where nothing can be read the defaults are a typical
small desktop part's (32 KiB / 512 KiB / 8 MiB), so that unknown machines err on the small side.
This module imports nothing from fastconv.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import dataclass, field
from typing import Dict, Optional

DEFAULT_SIZES = {"l1d": 32 << 10, "l2": 512 << 10, "l3": 8 << 20}
OVERRIDE_VARIABLES = {"l2": "FASTCONV_CACHE_L2", "l3": "FASTCONV_CACHE_L3"}
_SYSFS_CACHE = "/sys/devices/system/cpu/cpu0/cache"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


@dataclass(frozen=True)
class CacheSizes:
    """Data cache sizes in bytes: L1 data and L2 per core, L3 as seen by one core (shared).

    ``source`` says where each came from: ``"sysfs"``, ``"sysctl"``, ``"env"`` or ``"default"``.
    """

    l1d: int
    l2: int
    l3: int
    source: Dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """``"L1d 32 KiB (sysfs), L2 1 MiB (sysfs), L3 32 MiB (sysfs)"``."""
        return ", ".join(f"{name.upper()} {format_size(getattr(self, name))} ({self.source.get(name, '?')})"
                         for name in ("l1d", "l2", "l3"))


def parse_size(text: str, name: str = "size") -> int:
    """Bytes from ``"16M"``, ``"16 MiB"``, ``"512K"`` or ``"1048576"``; ValueError naming `name`."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS or int(match.group(1)) <= 0:
        msg = f"{name}={text!r} is not a positive size such as '16M', '512K' or '1048576' (bytes)"
        raise ValueError(msg)
    return int(match.group(1)) * _UNITS[unit]


def format_size(size: int) -> str:
    """``33554432`` -> ``"32 MiB"`` (KiB or MiB, whole when exact)."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def _read_sysfs() -> Dict[str, int]:
    sizes: Dict[str, int] = {}
    try:
        entries = sorted(os.listdir(_SYSFS_CACHE))
    except OSError:
        return sizes
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            with open(os.path.join(_SYSFS_CACHE, entry, "level")) as f:
                level = int(f.read())
            with open(os.path.join(_SYSFS_CACHE, entry, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(_SYSFS_CACHE, entry, "size")) as f:
                size = parse_size(f.read())
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        name = {1: "l1d", 2: "l2", 3: "l3"}.get(level)
        if name:
            sizes[name] = max(size, sizes.get(name, 0))
    return sizes


def _read_sysctl() -> Dict[str, int]:
    """macOS (Intel and Apple silicon)."""
    if platform.system() != "Darwin":
        return {}
    import subprocess

    sizes: Dict[str, int] = {}
    for name, key in (("l1d", "hw.l1dcachesize"), ("l2", "hw.l2cachesize"), ("l3", "hw.l3cachesize")):
        try:
            value = int(subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2).stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            continue
        if value > 0:
            sizes[name] = value
    return sizes


@functools.lru_cache(maxsize=None)
def _detected() -> CacheSizes:
    sizes, source = dict(DEFAULT_SIZES), {name: "default" for name in DEFAULT_SIZES}
    for reader, label in ((_read_sysfs, "sysfs"), (_read_sysctl, "sysctl")):
        found = reader()
        for name, size in found.items():
            sizes[name], source[name] = size, label
        if found:
            break
    if source["l3"] == "default" and source["l2"] != "default":
        # no L3 reported (some ARM parts): the L2 is the last level
        sizes["l3"], source["l3"] = sizes["l2"], source["l2"]
    return CacheSizes(sizes["l1d"], sizes["l2"], sizes["l3"], source)


def cache_sizes(environ: Optional[Dict[str, str]] = None) -> CacheSizes:
    """The cache sizes in force: the machine's, with ``FASTCONV_CACHE_L2`` / ``_L3`` applied."""
    environ = os.environ if environ is None else environ
    detected = _detected()
    sizes = {"l1d": detected.l1d, "l2": detected.l2, "l3": detected.l3}
    source = dict(detected.source)
    for name, variable in OVERRIDE_VARIABLES.items():
        text = environ.get(variable, "").strip()
        if text:
            sizes[name], source[name] = parse_size(text, variable), "env"
    return CacheSizes(sizes["l1d"], sizes["l2"], sizes["l3"], source)


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if not line.strip():
                    break  # the first processor's block is enough
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if not re.search(r"\d", name) and "cpu family" in fields:
        # a virtual machine's generic "AMD EPYC": the family and model tell the generation
        # (AMD family 23 = Zen 1/2, 25 = Zen 3/4, 26 = Zen 5)
        name += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    return name
