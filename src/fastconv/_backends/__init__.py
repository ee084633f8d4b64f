"""Backends (private package: ``fastconv.backends()`` is the public function that lists them):
``reference`` (the spec), ``numba`` (fallback), ``cpp`` (compiled ``fastconv._core``).

Each takes an already-validated call from ``fastconv._validate`` and writes its output arrays.
"""
