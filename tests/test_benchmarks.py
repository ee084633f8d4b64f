"""The benchmark suite works: each quick benchmark runs once, as a test, and checks its result."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_benchmarks_run():
    pytest.importorskip("pytest_benchmark")
    if not BENCHMARKS.exists():
        pytest.skip("benchmarks/ is not beside the tests")
    result = subprocess.run([sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark-disable", "-m", "not slow",
                             "-q", "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=600,
                            cwd=BENCHMARKS.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
