"""SciPy's own functions, captured once, for the calls the front ends hand over to SciPy.

Code that replaced ``scipy.ndimage``'s (or ``scipy.signal``'s) attributes with the front ends
must not have those calls come back to the front ends: a function that is already ours is
taken from SciPy's implementation module instead.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Optional, Sequence


class Originals:
    def __init__(self, public: str, implementation: str, names: Sequence[str]) -> None:
        self._where = (public, implementation)
        self._names = tuple(names)
        self._functions: Optional[SimpleNamespace] = None

    def capture(self) -> SimpleNamespace:
        if self._functions is None:
            public_name, implementation_name = self._where
            try:
                public = importlib.import_module(public_name)
                implementation = importlib.import_module(implementation_name)
            except ImportError as error:
                msg = f"fastconv.{public_name}: this call needs SciPy itself (pip install scipy)"
                raise NotImplementedError(msg) from error
            functions = {}
            for name in self._names:
                function = getattr(public, name)
                if getattr(function, "__module__", "").startswith("fastconv"):
                    function = getattr(implementation, name)
                functions[name] = function
            self._functions = SimpleNamespace(**functions)
        return self._functions
