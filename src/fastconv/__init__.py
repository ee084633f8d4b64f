"""fastconv: fast CPU convolution and pooling for NumPy arrays.

Same call signatures and results as ``torch.nn.functional.conv2d`` / ``max_pool2d`` /
``avg_pool2d``, NumPy in and NumPy out, run by one of three backends: ``cpp`` (compiled C++ with
runtime SIMD dispatch and OpenMP), ``numba`` (the fallback) and ``reference`` (the plain NumPy
specification the others are tested against).
"""

from ._config import show_config
from ._dispatch import backends, get_num_threads, set_num_threads, use_backend
from ._shapes import conv_output_size, conv_param_count, pool_output_size
from .conv import Conv2dPlan, conv2d
from .pool import avg_pool2d, max_pool2d
from .filters import filter2d
from .grad import avg_pool2d_backward, conv2d_backward, max_pool2d_backward
from . import kernels, models, nn, optim  # noqa: E402  (they build on the functions above)

__version__ = "0.1.0"

__all__ = [
    "Conv2dPlan",
    "__version__",
    "avg_pool2d",
    "avg_pool2d_backward",
    "backends",
    "conv2d",
    "conv2d_backward",
    "conv_output_size",
    "conv_param_count",
    "filter2d",
    "get_num_threads",
    "kernels",
    "max_pool2d",
    "max_pool2d_backward",
    "models",
    "nn",
    "optim",
    "pool_output_size",
    "set_num_threads",
    "show_config",
    "use_backend",
]
