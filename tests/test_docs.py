"""The Examples in the public docstrings run and give what they show (on the installed package)."""

import doctest
import importlib

import pytest

MODULES = ["fastconv.conv", "fastconv.pool", "fastconv._shapes", "fastconv._dispatch", "fastconv.nn",
           "fastconv.nn.module", "fastconv.nn.normalization", "fastconv.nn.container", "fastconv.models",
           "fastconv.models.alexnet", "fastconv.models.resnet", "fastconv.models.mobilenet", "fastconv.kernels",
           "fastconv.filters", "fastconv.torch", "fastconv.scipy", "fastconv.scipy.ndimage", "fastconv.scipy.signal"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "fastconv.torch":
        pytest.importorskip("torch")
    if name.startswith("fastconv.scipy"):
        pytest.importorskip("scipy")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_public_api_is_documented():
    import fastconv

    for name in fastconv.__all__:
        if not name.startswith("__"):
            assert getattr(fastconv, name).__doc__, f"fastconv.{name} has no docstring"
