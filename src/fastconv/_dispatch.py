"""The backend registry: which backends exist, which one runs a call, and with how many threads.

Backends are modules in ``fastconv._backends`` with the same four functions,
``conv2d(call, num_threads)``, ``max_pool2d(call, num_threads)``, ``avg_pool2d(call, num_threads)``
and ``filter2d(call, num_threads)``, each taking an already-validated call from ``_validate`` and
writing into its output arrays (filter2d's FFT path is backend-independent: ``_fft_filter``).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
import os
import threading
from types import ModuleType
from typing import Callable, Dict, List, Optional

BACKEND_NAMES = ("cpp", "numba", "reference")  # fastest first
_MODULES = {"cpp": "fastconv._backends.cpp", "numba": "fastconv._backends.numba_",
            "reference": "fastconv._backends.reference"}

_loaded: Dict[str, ModuleType] = {}
_unavailable: Dict[str, str] = {}
_lock = threading.Lock()
_selected: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("fastconv_backend", default=None)
_num_threads: Optional[int] = None
# a count for the calls made in one thread / async context (fastconv.dask's tasks), over _num_threads
_context_threads: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("fastconv_threads", default=None)


def _try_load(name: str) -> Optional[ModuleType]:
    module = _loaded.get(name)  # loaded modules stay loaded: no lock on the per-call path
    if module is not None:
        return module
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name in _unavailable:
            return None
        if name == "numba" and importlib.util.find_spec("numba") is None:
            _unavailable[name] = "numba is not installed (pip install numba)"
            return None
        try:
            module = importlib.import_module(_MODULES[name])
        except Exception as error:  # a broken or missing build must not break the package
            _unavailable[name] = f"{type(error).__name__}: {error}"
            return None
        _loaded[name] = module
        return module


def backends() -> List[str]:
    """Names of the backends that work here, fastest first.

    Examples
    --------
    >>> "reference" in backends()
    True
    """
    return [name for name in BACKEND_NAMES if _try_load(name) is not None]


def unavailable_backends() -> Dict[str, str]:
    """Backends that could not be loaded, with the reason."""
    backends()
    return dict(_unavailable)


def _check_name(name: object, what: str) -> str:
    if name not in BACKEND_NAMES:
        msg = f"{what} must be one of {', '.join(map(repr, BACKEND_NAMES))}, got {name!r}"
        raise ValueError(msg)
    if _try_load(name) is None:  # type: ignore[arg-type]
        msg = f"{what}: backend {name!r} is not available here: {_unavailable[name]}"  # type: ignore[index]
        raise ValueError(msg)
    return name  # type: ignore[return-value]


def default_backend() -> str:
    """The backend used when a call names none: ``use_backend``, else FASTCONV_BACKEND, else the fastest."""
    global _process_default
    selected = _selected.get()
    if selected is not None:
        return selected
    if _process_default is not None:
        return _process_default
    from_env = os.environ.get("FASTCONV_BACKEND")
    if from_env:
        chosen = _check_name(from_env, "environment variable FASTCONV_BACKEND")
    else:
        # the first that loads: the later ones (numba's import is slow) are not touched
        chosen = next((name for name in BACKEND_NAMES if _try_load(name) is not None), None)
        if chosen is None:
            raise RuntimeError("no fastconv backend could be loaded")  # the reference backend always loads
    # the environment is read once, on first use, as for the thread count: every call asks
    _process_default = chosen
    return chosen


_process_default: Optional[str] = None


def resolve(name: Optional[str], function: str) -> ModuleType:
    """The backend module for an explicit ``backend=`` argument of ``function``, or the default."""
    chosen = default_backend() if name is None else _check_name(name, f"{function}: `backend`")
    return _loaded[chosen]


class use_backend:
    """Select the backend for the calls that follow, in this thread / async context.

    Used as a context manager the previous choice comes back on exit; called plainly it stays
    in effect for the current context.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> with fastconv.use_backend("reference"):
    ...     fastconv.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))).shape
    (1, 1, 2, 2)
    """

    def __init__(self, name: str) -> None:
        self.name = _check_name(name, "use_backend")
        self._token = _selected.set(self.name)

    def __enter__(self) -> "use_backend":
        return self

    def __exit__(self, *exc_info: object) -> None:
        _selected.reset(self._token)


def _default_threads() -> int:
    for variable in ("FASTCONV_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_num_threads(n: int) -> None:
    """Set how many threads each kernel call uses (all backends, every Python thread).

    Parameters
    ----------
    n : int
        A positive count. The default comes from FASTCONV_NUM_THREADS, else OMP_NUM_THREADS,
        else the CPUs this process may run on.
    """
    from ._validate import positive_int

    global _num_threads
    _num_threads = positive_int(n, "n", "set_num_threads")


_environment_threads: Optional[int] = None


def get_num_threads() -> int:
    """The number of threads a kernel call uses."""
    global _environment_threads
    in_context = _context_threads.get()
    if in_context is not None:
        return in_context
    if _num_threads is not None:
        return _num_threads
    if _environment_threads is None:  # the environment is read once, on first use
        _environment_threads = _default_threads()
    return _environment_threads


@contextlib.contextmanager
def threads_in_context(n: int):
    """Run the calls in this thread / async context on ``n`` threads each, leaving the process-wide
    count (``set_num_threads``) alone: a task scheduler's worker threads each run their own calls."""
    from ._validate import positive_int

    token = _context_threads.set(positive_int(n, "n", "threads_in_context"))
    try:
        yield
    finally:
        _context_threads.reset(token)


def blas_threads(n: int):
    """A context that holds NumPy's BLAS to `n` threads (its libraries are looked up once).

    BLAS thread pools spin for a while after each call: left at their default they compete with
    the kernels' OpenMP threads that run next. Each library's count is read, and set (then put
    back) only where it differs: threadpoolctl's own limit() costs ~0.1 ms per use.
    """
    global _blas_libraries
    if _blas_libraries is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # NumPy's BLAS then uses its own thread count
            _blas_libraries = []
        else:
            _blas_libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _BlasThreads(n) if _blas_libraries else contextlib.nullcontext()


_blas_libraries: Optional[list] = None


class _BlasThreads:
    def __init__(self, n: int) -> None:
        self.n = n
        self.changed: list = []

    def __enter__(self) -> None:
        for library in _blas_libraries or ():
            before = library.get_num_threads()
            if before != self.n:
                library.set_num_threads(self.n)
                self.changed.append((library, before))

    def __exit__(self, *exc_info: object) -> None:
        for library, before in self.changed:
            library.set_num_threads(before)


# Calls of at least this much work (multiply-adds, or window cells for the pools: ~0.1 s and
# more) are run so that Ctrl-C reaches the caller at once.
INTERRUPTIBLE_WORK = 2e9


def run(kernel: Callable[[], object], work: float) -> None:
    """Run a kernel call; a long one (``work`` >= INTERRUPTIBLE_WORK) from the main thread runs on
    a helper thread while the main thread waits, so that Ctrl-C raises KeyboardInterrupt in the
    caller within a fraction of a second: a kernel holds no GIL, but Python handles signals only
    between bytecodes of the main thread. The interrupted kernel finishes in the background (it
    cannot be stopped midway; it keeps its arrays alive meanwhile, and writes an ``out=`` array
    after the exception), and the interpreter waits for it before exiting."""
    if work < INTERRUPTIBLE_WORK or threading.current_thread() is not threading.main_thread():
        kernel()
        return
    failure: List[BaseException] = []

    def target() -> None:
        try:
            kernel()
        except BaseException as error:  # noqa: BLE001 (re-raised in the caller)
            failure.append(error)

    worker = threading.Thread(target=target, name="fastconv kernel")
    worker.start()
    worker.join()  # interruptible: Ctrl-C raises KeyboardInterrupt here
    if failure:
        raise failure[0]
