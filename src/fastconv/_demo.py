"""`fastconv demo`: the lecture's convolutional network, step by step, computed by fastconv."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from . import _dispatch
from ._shapes import conv_output_size, conv_param_count, pool_output_size
from .conv import conv2d
from .pool import max_pool2d

# The lecture's 7x7 binary input image (a smiley) and its 3x3 feature detector.
LECTURE_IMAGE = np.array([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 0, 1, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
], dtype=np.float32)
LECTURE_DETECTOR = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=np.float32)
# What the lecture's slides show (with the slide's typo at row 3, column 3 corrected: it is 0).
LECTURE_FEATURE_MAP = np.array([
    [0, 1, 0, 0, 0],
    [0, 1, 1, 1, 0],
    [1, 0, 0, 2, 1],
    [1, 4, 2, 1, 0],
    [0, 0, 1, 2, 1],
], dtype=np.float32)
LECTURE_POOLED = np.array([[1, 1, 0], [4, 2, 1], [0, 2, 1]], dtype=np.float32)


def _matrix(array: np.ndarray, indent: str = "    ") -> str:
    return "\n".join(indent + " ".join(f"{int(v):2d}" for v in row) for row in array)


def run_demo(backend: Optional[str] = None, write: Callable[[str], None] = print) -> bool:
    """Walk through the lecture's example; returns True when every step matches the lecture."""
    name = backend or _dispatch.default_backend()
    ok = True

    def check(matches: bool) -> str:
        nonlocal ok
        ok = ok and matches
        return "matches the lecture" if matches else "DOES NOT MATCH the lecture"

    write(f"fastconv demo: the lecture's CNN example, computed with the {name!r} backend\n")
    write("1. Input image, 7x7:")
    write(_matrix(LECTURE_IMAGE))
    write("\n2. Feature detector (filter), 3x3:")
    write(_matrix(LECTURE_DETECTOR))

    feature_map = conv2d(LECTURE_IMAGE[None, None], LECTURE_DETECTOR[None, None], backend=name)[0, 0]
    write("\n3. Feature map = conv2d(image, detector): slide the filter with stride 1, multiply and")
    write("   add (cross-correlation, no kernel flip); 7x7 -> 5x5:")
    write(_matrix(feature_map))
    write(f"   {check(np.array_equal(feature_map, LECTURE_FEATURE_MAP))} (the slides print 1 at row 3, "
          "column 3; the sum there is 0)")

    pooled = max_pool2d(feature_map[None], 2, stride=2, ceil_mode=True, backend=name)[0]
    write("\n4. Max pooling 2x2, stride 2, keeping the partial border windows (ceil_mode=True); 5x5 -> 3x3:")
    write(_matrix(pooled))
    write(f"   {check(np.array_equal(pooled, LECTURE_POOLED))}")

    flat = pooled.reshape(-1)
    write(f"\n5. Flattening: the pooled map becomes a vector of {flat.size} features for the fully "
          "connected layers:")
    write("    [" + ", ".join(str(int(v)) for v in flat) + "]")

    write("\n6. Shapes and parameters of the lecture's layer (3x3 filters, depth 64, stride 1) on 256x256x3:")
    params = conv_param_count(3, 64, 3)
    write(f"   parameters: (3*3*3 + 1) * 64 = {params:,}   [{check(params == 1792)}]")
    side = conv_output_size(256, 3)
    rng = np.random.default_rng(0)
    image = rng.standard_normal((3, 256, 256), dtype=np.float32)
    filters = rng.standard_normal((64, 3, 3, 3), dtype=np.float32)
    bias = rng.standard_normal(64, dtype=np.float32)
    valid = conv2d(image, filters, bias, layout="NCHW", backend=name)
    write(f"   no padding:   {side}x{side}x64 (conv2d gives {_hwc(valid.shape)})   "
          f"[{check(side == 254 and valid.shape == (64, 254, 254))}]")
    padded_side = conv_output_size(256, 3, padding=1)
    padded = conv2d(image, filters, bias, padding=1, activation="relu", backend=name)
    write(f"   padding 1:    {padded_side}x{padded_side}x64 (conv2d gives {_hwc(padded.shape)})   "
          f"[{check(padded_side == 256 and padded.shape == (64, 256, 256))}]")
    pooled_side = pool_output_size(256, 2, stride=2)
    pooled_map = max_pool2d(padded, 2, backend=name)
    write(f"   after 2x2 max pooling, stride 2: {pooled_side}x{pooled_side}x64 "
          f"(max_pool2d gives {_hwc(pooled_map.shape)})   "
          f"[{check(pooled_side == 128 and pooled_map.shape == (64, 128, 128))}]")
    features = np.zeros((5, 7, 7), dtype=np.float32).reshape(-1).size
    write(f"   flattening a 7x7x5 map: {features} features   [{check(features == 245)}]")
    write("\nAll steps match the lecture." if ok else "\nSome steps do not match the lecture.")
    return ok


def _hwc(chw: tuple) -> str:
    c, h, w = chw
    return f"{h}x{w}x{c}"
