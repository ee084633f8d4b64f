"""fastconv.scipy: SciPy's results for random arguments over every function and option, on the
fast path and on the calls handed to SciPy."""

import numpy as np
import pytest

scipy_ndimage = pytest.importorskip("scipy.ndimage")
scipy_signal = pytest.importorskip("scipy.signal")
from fastconv.scipy import ndimage, signal  # noqa: E402

MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-mirror", "grid-constant", "grid-wrap"]


def _close(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    tol = 1e-5 if expected.dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def _image(rng, dtype=None):
    dtype = dtype or rng.choice([np.float32, np.float64])
    return rng.standard_normal(tuple(int(v) for v in rng.integers(1, 16, 2))).astype(dtype)


@pytest.mark.parametrize("name", ["correlate", "convolve"])
@pytest.mark.parametrize("seed", range(30))
def test_correlate_convolve(name, seed):
    rng = np.random.default_rng(seed)
    image = _image(rng)
    weights = rng.standard_normal(tuple(int(v) for v in rng.integers(1, 6, 2)))
    origin = [int(rng.integers(-(k // 2), (k - 1) // 2 + 1)) for k in weights.shape] if seed % 3 else 0
    kwargs = dict(mode=MODES[seed % len(MODES)], cval=float(rng.standard_normal()), origin=origin)
    _close(getattr(ndimage, name)(image, weights, **kwargs), getattr(scipy_ndimage, name)(image, weights, **kwargs))


@pytest.mark.parametrize("name", ["correlate1d", "convolve1d"])
@pytest.mark.parametrize("seed", range(20))
def test_one_dimensional(name, seed):
    rng = np.random.default_rng(100 + seed)
    image = _image(rng)
    weights = rng.standard_normal(int(rng.integers(1, 7)))
    kwargs = dict(axis=[0, 1, -1, -2][seed % 4], mode=MODES[seed % 5], cval=1.5,
                  origin=int(rng.integers(-(weights.size // 2), (weights.size - 1) // 2 + 1)))
    _close(getattr(ndimage, name)(image, weights, **kwargs), getattr(scipy_ndimage, name)(image, weights, **kwargs))


@pytest.mark.parametrize("seed", range(20))
def test_smoothing_and_derivatives(seed):
    rng = np.random.default_rng(200 + seed)
    image = _image(rng)
    mode = MODES[seed % 5]
    size = [int(rng.integers(1, 6)), (int(rng.integers(1, 5)), int(rng.integers(1, 5)))][seed % 2]
    _close(ndimage.uniform_filter(image, size, mode=mode), scipy_ndimage.uniform_filter(image, size, mode=mode))
    sigma = [float(rng.uniform(0.3, 2.5)), (float(rng.uniform(0.3, 2)), float(rng.uniform(0.3, 2)))][seed % 2]
    _close(ndimage.gaussian_filter(image, sigma, mode=mode, truncate=3.0),
           scipy_ndimage.gaussian_filter(image, sigma, mode=mode, truncate=3.0))
    for name in ("sobel", "prewitt"):
        for axis in (0, 1, -1):
            _close(getattr(ndimage, name)(image, axis, mode=mode), getattr(scipy_ndimage, name)(image, axis, mode=mode))
    _close(ndimage.laplace(image, mode=mode), scipy_ndimage.laplace(image, mode=mode))
    _close(ndimage.maximum_filter(image, 3, mode=mode), scipy_ndimage.maximum_filter(image, 3, mode=mode))
    _close(ndimage.minimum_filter(image, (2, 3), mode=mode), scipy_ndimage.minimum_filter(image, (2, 3), mode=mode))


def test_output_argument_semantics():
    rng = np.random.default_rng(1)
    image = rng.standard_normal((9, 8))
    weights = rng.standard_normal((3, 2))
    out = np.empty((9, 8), np.float32)
    result = ndimage.correlate(image, weights, output=out)
    assert result is out
    _close(out, scipy_ndimage.correlate(image, weights, output=np.float32))
    _close(ndimage.correlate(image, weights, output=np.float32), scipy_ndimage.correlate(image, weights,
                                                                                         output=np.float32))
    # integer results, other ranks, axes, bad origins and shapes: SciPy's own behaviour and errors
    ints = (image * 10).astype(np.int16)
    np.testing.assert_array_equal(ndimage.correlate(ints, weights), scipy_ndimage.correlate(ints, weights))
    np.testing.assert_array_equal(ndimage.correlate(image, weights, output=np.int32),
                                  scipy_ndimage.correlate(image, weights, output=np.int32))
    volume = rng.standard_normal((4, 5, 6))
    _close(ndimage.correlate(volume, np.ones((2, 2, 2))), scipy_ndimage.correlate(volume, np.ones((2, 2, 2))))
    _close(ndimage.gaussian_filter(volume, 1.0, axes=(0, 2)), scipy_ndimage.gaussian_filter(volume, 1.0, axes=(0, 2)))
    _close(ndimage.gaussian_filter(image, 1.0, order=1), scipy_ndimage.gaussian_filter(image, 1.0, order=1))
    for call in (lambda m: m.correlate(image, weights, origin=5), lambda m: m.correlate(image, weights,
                                                                                        output=np.empty((2, 2)))):
        with pytest.raises((ValueError, RuntimeError)) as ours:
            call(ndimage)
        with pytest.raises(type(ours.value)) as theirs:
            call(scipy_ndimage)
        assert str(ours.value) == str(theirs.value)
    _close(ndimage.correlate(image.tolist(), weights), scipy_ndimage.correlate(image.tolist(), weights))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # SciPy's own, mixed dtypes
@pytest.mark.parametrize("seed", range(24))
def test_signal(seed):
    rng = np.random.default_rng(300 + seed)
    in1 = _image(rng)
    in2 = rng.standard_normal(tuple(int(v) for v in rng.integers(1, 5, 2))).astype(rng.choice([np.float32,
                                                                                                np.float64]))
    mode = ["full", "valid", "same"][seed % 3]
    boundary = ["fill", "symm", "wrap"][seed % 3 if seed % 2 else 0]
    if mode == "valid" and (in2.shape[0] > in1.shape[0] or in2.shape[1] > in1.shape[1]):
        in2 = in2[: in1.shape[0], : in1.shape[1]]
    for name in ("correlate2d", "convolve2d"):
        kwargs = dict(mode=mode, boundary=boundary, fillvalue=float(rng.standard_normal()))
        _close(getattr(signal, name)(in1, in2, **kwargs), getattr(scipy_signal, name)(in1, in2, **kwargs))
    for name in ("correlate", "convolve"):
        _close(getattr(signal, name)(in1, in2, mode=mode), getattr(scipy_signal, name)(in1, in2, mode=mode))
