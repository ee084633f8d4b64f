"""The lecture's image kernels by name, as float64 arrays (apply them with ``fastconv.filter2d``).

=================  =====================================================================
name               matrix
=================  =====================================================================
sharpen()          0 -1 0 / -1 5 -1 / 0 -1 0 (the lecture prints it with a ring of zeros)
box_blur(n=3)      an n x n matrix of 1/n^2
edge_enhance()     0 0 0 / -1 1 0 / 0 0 0
edge_detect()      Laplacian, 4-neighbour: 0 1 0 / 1 -4 1 / 0 1 0 (8-neighbour: 1 1 1 / 1 -8 1 / 1 1 1)
emboss()           -2 -1 0 / -1 1 1 / 0 1 2
sobel_x()          -1 0 1 / -2 0 2 / -1 0 1; sobel_y() its transpose
prewitt_x()        -1 0 1 / -1 0 1 / -1 0 1; prewitt_y() its transpose
scharr_x()         -3 0 3 / -10 0 10 / -3 0 3; scharr_y() its transpose
gaussian(sigma)    exp(-(x^2 + y^2) / (2 sigma^2)), normalised to sum 1; size odd, about 6 sigma + 1
=================  =====================================================================

Examples
--------
>>> from fastconv import kernels
>>> kernels.sharpen()
array([[ 0., -1.,  0.],
       [-1.,  5., -1.],
       [ 0., -1.,  0.]])
>>> kernels.box_blur(2)
array([[0.25, 0.25],
       [0.25, 0.25]])
>>> round(float(kernels.gaussian(1.0).sum()), 12), kernels.gaussian(1.0).shape
(1.0, (7, 7))
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from . import _validate


def sharpen() -> np.ndarray:
    """0 -1 0 / -1 5 -1 / 0 -1 0: the pixel minus its 4 neighbours' Laplacian."""
    return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64)


def box_blur(n: int = 3) -> np.ndarray:
    """An n x n matrix of 1/n^2: the mean of the window."""
    n = _validate.positive_int(n, "n", "box_blur")
    return np.full((n, n), 1.0 / (n * n))


def edge_enhance() -> np.ndarray:
    """0 0 0 / -1 1 0 / 0 0 0: the pixel minus its left neighbour."""
    return np.array([[0, 0, 0], [-1, 1, 0], [0, 0, 0]], dtype=np.float64)


def edge_detect(neighbours: int = 4) -> np.ndarray:
    """The Laplacian: 0 1 0 / 1 -4 1 / 0 1 0 (``neighbours=4``) or 1 1 1 / 1 -8 1 / 1 1 1 (8)."""
    if neighbours == 4:
        return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    if neighbours == 8:
        return np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], dtype=np.float64)
    msg = f"edge_detect: `neighbours` must be 4 or 8, got {neighbours!r}"
    raise ValueError(msg)


def emboss() -> np.ndarray:
    """-2 -1 0 / -1 1 1 / 0 1 2."""
    return np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)


def sobel_x() -> np.ndarray:
    """-1 0 1 / -2 0 2 / -1 0 1: horizontal gradient (responds to vertical edges)."""
    return np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)


def sobel_y() -> np.ndarray:
    """The transpose of ``sobel_x``: vertical gradient."""
    return sobel_x().T.copy()


def prewitt_x() -> np.ndarray:
    """-1 0 1 / -1 0 1 / -1 0 1."""
    return np.array([[-1, 0, 1]] * 3, dtype=np.float64)


def prewitt_y() -> np.ndarray:
    """The transpose of ``prewitt_x``."""
    return prewitt_x().T.copy()


def scharr_x() -> np.ndarray:
    """-3 0 3 / -10 0 10 / -3 0 3."""
    return np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], dtype=np.float64)


def scharr_y() -> np.ndarray:
    """The transpose of ``scharr_x``."""
    return scharr_x().T.copy()


def gaussian(sigma: float, size: Optional[int] = None) -> np.ndarray:
    """A size x size Gaussian, normalised to sum 1; ``size`` defaults to the odd 2*ceil(3 sigma) + 1."""
    if not (isinstance(sigma, (int, float, np.floating, np.integer)) and not isinstance(sigma, bool)) or sigma <= 0:
        msg = f"gaussian: `sigma` must be a positive number, got {sigma!r}"
        raise ValueError(msg)
    size = 2 * int(np.ceil(3 * sigma)) + 1 if size is None else _validate.positive_int(size, "size", "gaussian")
    axis = np.arange(size) - (size - 1) / 2
    one = np.exp(-(axis**2) / (2.0 * float(sigma) ** 2))
    two = np.outer(one, one)
    return two / two.sum()


_NAMES = ["sharpen", "box_blur", "edge_enhance", "edge_detect", "emboss", "sobel_x", "sobel_y", "prewitt_x",
          "prewitt_y", "scharr_x", "scharr_y", "gaussian"]


def names() -> List[str]:
    """The kernels' names, in the lecture's order first."""
    return list(_NAMES)
