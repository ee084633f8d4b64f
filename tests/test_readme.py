"""The README's examples run as written (a block that imports an optional package runs when it
is installed)."""

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
OPTIONAL = ("torch", "scipy", "sklearn", "cv2", "PIL", "dask")


def test_readme_examples_run():
    if not README.exists():
        pytest.skip("README.md is not beside the tests")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    ran = 0
    for block in blocks:
        needed = [name for name in OPTIONAL if re.search(rf"^\s*import {name}\b|^\s*from {name}\b", block, re.M)]
        if any(importlib.util.find_spec(name) is None for name in needed):
            continue
        exec(compile(block, str(README), "exec"), {})
        ran += 1
    assert ran >= 2
