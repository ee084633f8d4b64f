"""`fastconv filter`: apply the lecture's image kernels to image files (Pillow, an optional extra)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from . import kernels
from .filters import filter2d


def kernel_by_name(name: str, size: Optional[int], sigma: Optional[float]) -> np.ndarray:
    if name == "box_blur":
        return kernels.box_blur(size or 3)
    if name == "gaussian":
        return kernels.gaussian(sigma or 1.0, size)
    if name == "edge_detect8":
        return kernels.edge_detect(8)
    return getattr(kernels, name)()


KERNEL_NAMES = kernels.names() + ["edge_detect8", "sobel"]


def list_kernels() -> str:
    lines = []
    for name in KERNEL_NAMES:
        if name == "sobel":
            lines.append("sobel: gradient magnitude sqrt(sobel_x^2 + sobel_y^2)\n")
            continue
        matrix = kernel_by_name(name, None, None)
        rows = "\n".join("    " + " ".join(f"{v:7.3g}" for v in row) for row in matrix)
        lines.append(f"{name}:\n{rows}\n")
    return "\n".join(lines)


def filter_array(pixels: np.ndarray, name: str, border: str, size: Optional[int], sigma: Optional[float]) -> np.ndarray:
    """Filter an 8/16-bit image array (H, W) or (H, W, C); alpha (the 2nd or 4th channel) is kept."""
    dtype = pixels.dtype
    colour = pixels[..., :3] if pixels.ndim == 3 and pixels.shape[2] in (3, 4) else \
        pixels[..., :1] if pixels.ndim == 3 else pixels
    channel_axis = -1 if colour.ndim == 3 else None
    if name == "sobel":
        gx = filter2d(colour, kernels.sobel_x(), border=border, channel_axis=channel_axis, dtype=np.float64)
        gy = filter2d(colour, kernels.sobel_y(), border=border, channel_axis=channel_axis, dtype=np.float64)
        info = np.iinfo(dtype)
        filtered = np.clip(np.rint(np.hypot(gx, gy)), info.min, info.max).astype(dtype)
    else:
        kernel = kernel_by_name(name, size, sigma)
        filtered = filter2d(colour, kernel, border=border, channel_axis=channel_axis, dtype=dtype)
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):  # put the alpha channel back, untouched
        filtered = np.concatenate([filtered, pixels[..., -1:]], axis=-1)
    return filtered


def _progress(done: int, total: int, name: str) -> None:
    if total > 1 and sys.stderr.isatty():
        bar = "#" * (30 * done // total)
        sys.stderr.write(f"\r[{bar:30s}] {done}/{total} {name[:40]:40s}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def main(inputs: List[str], kernel: Optional[str], output: Optional[str], border: str, size: Optional[int],
         sigma: Optional[float], show_list: bool) -> int:
    def fail(message: str, code: int = 1) -> int:
        print(f"fastconv filter: {message}", file=sys.stderr)
        return code

    if show_list:
        print(list_kernels())
        return 0
    if kernel is None:
        return fail("choose a kernel with -k (see --list)", 2)
    if kernel not in KERNEL_NAMES:
        return fail(f"unknown kernel {kernel!r}; known: {', '.join(KERNEL_NAMES)}", 2)
    if not inputs:
        return fail("give at least one image file", 2)
    try:
        from PIL import Image
    except ImportError:
        return fail("reading and writing images needs Pillow: pip install 'fastconv[image]'")
    for path in inputs:
        if not Path(path).is_file():
            return fail(f"no such file: {path}")
    if len(inputs) > 1 and output is None:
        return fail("several inputs need -o FOLDER", 2)
    target = Path(output) if output else None
    if len(inputs) > 1:
        target.mkdir(parents=True, exist_ok=True)
    for done, path in enumerate(inputs, 1):
        source = Path(path)
        try:
            with Image.open(source) as opened:
                opened.load()
                picture = opened if opened.mode in ("L", "LA", "RGB", "RGBA", "I;16") else opened.convert(
                    "RGBA" if "A" in opened.getbands() or "transparency" in opened.info else "RGB")
                pixels = np.asarray(picture)
                mode = picture.mode
        except (OSError, ValueError) as error:
            return fail(f"cannot read image {path}: {error}")
        try:
            filtered = filter_array(pixels, kernel, border, size, sigma)
        except (ValueError, TypeError) as error:
            return fail(str(error), 2)
        if len(inputs) > 1:
            destination = target / source.name
        else:
            destination = target or source.with_name(f"{source.stem}_{kernel}{source.suffix}")
        try:
            Image.fromarray(filtered, mode=mode if mode != "I;16" else None).save(destination)
        except (OSError, ValueError, KeyError) as error:
            return fail(f"cannot write {destination}: {error}")
        _progress(done, len(inputs), source.name)
        if len(inputs) == 1:
            print(f"wrote {destination}")
    if len(inputs) > 1:
        print(f"wrote {len(inputs)} images to {target}")
    return 0
