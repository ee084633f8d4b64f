"""Drop-in front ends for SciPy code: ``fastconv.scipy.ndimage`` and ``fastconv.scipy.signal``."""

from . import ndimage, signal

__all__ = ["ndimage", "signal"]
