"""Drop-in front ends for SciPy code: ``fastconv.scipy.ndimage`` and ``fastconv.scipy.signal``.

By default their results are SciPy's, bit for bit: the kernels compute every output element as
SciPy's C code does (the same taps in the same order, each product rounded before it is added,
the same accumulator type, borders and rounding to the output dtype). ``exact(False)`` switches
to fastconv's faster arithmetic (``filter2d``: float32 images summed in float32 with fused
multiply-adds, other tap orders), whose results differ from SciPy's in the last bits.

Examples
--------
>>> import numpy as np
>>> import fastconv.scipy
>>> from fastconv.scipy import ndimage
>>> fastconv.scipy.is_exact()
True
>>> with fastconv.scipy.exact(False):  # faster, not SciPy's last bits
...     smooth = ndimage.gaussian_filter(np.ones((64, 64), np.float32), 2.0)
>>> fastconv.scipy.is_exact()
True
"""

from __future__ import annotations

from typing import Any

from . import _settings


class exact:
    """Choose SciPy's own arithmetic (``True``, the default) or fastconv's faster one (``False``).

    Call it to switch for the whole process (``fastconv.scipy.exact(False)``), or use it in a
    ``with`` block to switch for the block only, as ``torch.set_grad_enabled`` works. The start-up
    value comes from the environment variable ``FASTCONV_SCIPY_EXACT`` (``0``, ``false``, ``no`` or
    ``off`` selects the faster arithmetic). The setting is global, not per thread.

    Parameters
    ----------
    enabled : bool
        True: results bit-identical to SciPy's. False: fastconv's arithmetic (float32 images
        summed in float32 with fused multiply-adds, other tap orders): faster, and different
        from SciPy's results in the last bits.
    """

    def __init__(self, enabled: bool = True) -> None:
        self._previous = _settings.exact
        _settings.exact = bool(enabled)

    def __enter__(self) -> "exact":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _settings.exact = self._previous


def is_exact() -> bool:
    """Whether ``fastconv.scipy`` computes SciPy's bits (see `exact`)."""
    return _settings.exact


from . import ndimage, signal  # noqa: E402  (after exact: they read _settings at call time)

__all__ = ["exact", "is_exact", "ndimage", "signal"]
