"""Which arithmetic ``fastconv.scipy`` uses: SciPy's own (bit-identical results, the default) or
fastconv's faster one (``fastconv.scipy.exact(False)``; ``FASTCONV_SCIPY_EXACT=0`` at start-up)."""

from __future__ import annotations

import os


def _from_environment() -> bool:
    return os.environ.get("FASTCONV_SCIPY_EXACT", "").strip().lower() not in ("0", "false", "no", "off")


exact: bool = _from_environment()
