"""The backend registry, backend selection, the thread count and show_config()."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastconv
from fastconv import _dispatch


def test_backends_are_listed_fastest_first():
    names = fastconv.backends()
    assert "reference" in names
    assert names == [n for n in _dispatch.BACKEND_NAMES if n in names]


def test_use_backend_context_and_restore():
    before = _dispatch.default_backend()
    with fastconv.use_backend("reference") as chosen:
        assert chosen.name == "reference"
        assert _dispatch.default_backend() == "reference"
    assert _dispatch.default_backend() == before


def test_use_backend_is_per_thread():
    seen = {}
    with fastconv.use_backend("reference"):
        thread = threading.Thread(target=lambda: seen.update(other=_dispatch.default_backend()))
        thread.start()
        thread.join()
    assert seen["other"] == fastconv.backends()[0]


def test_unknown_backend():
    with pytest.raises(ValueError, match="use_backend.*'tpu'"):
        fastconv.use_backend("tpu")


def _run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FASTCONV_")}
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                            timeout=300)
    return result


def test_environment_selects_backend():
    result = _run_python("from fastconv import _dispatch; print(_dispatch.default_backend())",
                         FASTCONV_BACKEND="reference")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reference"
    bad = _run_python("import numpy as np, fastconv; fastconv.conv2d(np.ones((1,1,2,2)), np.ones((1,1,1,1)))",
                      FASTCONV_BACKEND="nope")
    assert bad.returncode != 0 and "FASTCONV_BACKEND" in bad.stderr


def test_thread_count(restore_threads):
    fastconv.set_num_threads(3)
    assert fastconv.get_num_threads() == 3
    with pytest.raises(ValueError, match="set_num_threads"):
        fastconv.set_num_threads(0)
    with pytest.raises(TypeError, match="set_num_threads"):
        fastconv.set_num_threads(2.0)


def test_default_thread_count_follows_the_environment():
    result = _run_python("import fastconv; print(fastconv.get_num_threads())", OMP_NUM_THREADS="1")
    assert result.stdout.strip() == "1"
    result = _run_python("import fastconv; print(fastconv.get_num_threads())", FASTCONV_NUM_THREADS="3")
    assert result.stdout.strip() == "3"


def test_show_config(capsys):
    info = fastconv.show_config()
    printed = capsys.readouterr().out
    assert info["fastconv"] == fastconv.__version__ in printed
    assert info["backends"] == fastconv.backends()
    assert f"threads:         {fastconv.get_num_threads()}" in printed
    if "cpp" in info["backends"]:
        assert info["cpp"]["simd_level"] in info["cpp"]["simd_levels"]
        assert f"cpp SIMD level:  {info['cpp']['simd_level']}" in printed


def test_backends_agree_on_a_mixed_workload():
    """Switching backends between calls in one process keeps each call's answer."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 9, 9))
    weight = rng.standard_normal((3, 2, 3, 3))
    results = [fastconv.conv2d(x, weight, padding=1, backend=name) for name in fastconv.backends()]
    for result in results[1:]:
        np.testing.assert_allclose(result, results[0], rtol=1e-12, atol=1e-12)


def test_blas_threads_holds_numpys_blas_then_puts_it_back():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    libraries = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    if not libraries:
        pytest.skip("NumPy's BLAS is not one threadpoolctl knows")
    before = [library.get_num_threads() for library in libraries]
    with fastconv._dispatch.blas_threads(1):
        assert [library.get_num_threads() for library in libraries] == [1] * len(libraries)
        a = np.random.default_rng(0).standard_normal((64, 64))
        np.testing.assert_allclose(a @ a.T, (a @ a.T).T)
    assert [library.get_num_threads() for library in libraries] == before
