"""Type stubs for the compiled module fastconv._core (private: use the fastconv functions)."""

from typing import Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

_Float = npt.NDArray[np.float32] | npt.NDArray[np.float64]

openmp: bool

def conv2d(input: _Float, weight: _Float, bias: Optional[_Float], output: _Float, stride: Tuple[int, int],
           padding: Tuple[int, int, int, int], dilation: Tuple[int, int], groups: int, relu: bool, nhwc: bool,
           num_threads: int, algorithm: str = "auto") -> None: ...
def max_pool2d(input: _Float, output: _Float, indices: Optional[npt.NDArray[np.int64]], kernel_size: Tuple[int, int],
               stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int], nhwc: bool,
               num_threads: int) -> None: ...
def avg_pool2d(input: _Float, output: _Float, kernel_size: Tuple[int, int], stride: Tuple[int, int],
               padding: Tuple[int, int], count_include_pad: bool, divisor_override: int, nhwc: bool,
               num_threads: int) -> None: ...
def filter2d(input: npt.NDArray[np.generic], output: npt.NDArray[np.generic], kernel: npt.NDArray[np.float64],
             row_taps: Optional[npt.NDArray[np.float64]], column_taps: Optional[npt.NDArray[np.float64]],
             pad_top_left: Tuple[int, int], border: int, cval: float, double_precision: bool, round_margin: float,
             num_threads: int) -> None:
    """input (planes, H, W, channels), any strides, uint8/uint16/int16/float32/float64; output
    C-contiguous (planes, out_H, out_W, channels) of one of those dtypes; border codes: constant 0,
    reflect 1, nearest 2, mirror 3, wrap 4."""
def scipy_correlate(input: _Float, output: _Float, shift: List[int], tap_offsets: npt.NDArray[np.int64],
                    weights: npt.NDArray[np.float64], group_sizes: List[int], combine: int, mode: int, cval: float,
                    single_precision: bool, in_place: bool, num_threads: int) -> None:
    """SciPy's correlation arithmetic (fastconv.scipy._exact). input and output C-contiguous with
    ndim + 1 axes, the last one the cell; tap_offsets (taps, ndim) in SciPy's order; combine: sum 0,
    sum_from_first 1, fold_symmetric 2, fold_antisymmetric 3; mode: SciPy's codes nearest 0, wrap 1,
    reflect 2, mirror 3, constant 4; sums in float when single_precision, else double."""
def scipy_uniform(input: _Float, output: _Float, size: int, before: int, mode: int, cval: float,
                  num_threads: int) -> None:
    """scipy.ndimage.uniform_filter1d's running sum along axis 1 of (outer, length, inner) arrays."""
def simd_level() -> str: ...
def thread_pool_lost_to_fork() -> bool: ...
def simd_levels() -> List[str]: ...
def _set_simd(level: str) -> None: ...
def _set_cache_sizes(l1d: int, l2: int, l3: int) -> None: ...
def cache_sizes() -> Dict[str, int]: ...
def tuning() -> Dict[str, int]: ...
def kernels() -> List[str]: ...
def cpu_features() -> Dict[str, bool]: ...
def max_threads() -> int: ...
