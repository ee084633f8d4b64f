import numpy as np
import pytest

import fastconv
from _cases import require_slow

BACKENDS = fastconv.backends()
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=BACKENDS, ids=str)
def backend(request):
    return request.param


@pytest.fixture(params=[b for b in BACKENDS if b != "reference"], ids=str)
def fast_backend(request):
    """The backends that are compared with the reference."""
    return request.param


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def restore_threads():
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


@pytest.fixture
def slow_only(request):
    """Skips unless the slow tests were selected (`pytest -m slow`): CI runs `pytest` as it is."""
    require_slow(request)
