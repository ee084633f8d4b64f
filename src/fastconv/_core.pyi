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
def simd_level() -> str: ...
def simd_levels() -> List[str]: ...
def _set_simd(level: str) -> None: ...
def kernels() -> List[str]: ...
def cpu_features() -> Dict[str, bool]: ...
def max_threads() -> int: ...
