"""filter2d against scipy.ndimage.correlate/convolve and scipy.signal.correlate2d/convolve2d on
random images over every mode, border, dtype, channel layout and kernel shape; and the kernels."""

import numpy as np
import pytest

import fastconv
from fastconv import _validate, filters, kernels
from _cases import assert_close, run_in_threads

ndimage = pytest.importorskip("scipy.ndimage")
signal = pytest.importorskip("scipy.signal")

BORDERS = ["constant", "reflect", "nearest", "mirror", "wrap"]
INPUTS = [np.uint8, np.uint16, np.int16, np.float32, np.float64]
FLOATS = [np.float32, np.float64]


def _image(rng, dtype, shape):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 3000) + 1, size=shape).astype(dtype)


def _expected_dtype_check(actual, expected64, input_dtype):
    if np.dtype(input_dtype).kind == "f":
        assert actual.dtype == input_dtype
        assert_close(actual, expected64, input_dtype if input_dtype == np.float64 else np.float32)
    else:
        assert actual.dtype == np.float32
        np.testing.assert_allclose(actual, expected64, rtol=1e-6, atol=1e-6 * max(1, np.abs(expected64).max()))


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_same_matches_scipy_ndimage(backend, border, flip, seed):
    rng = np.random.default_rng(seed)
    dtype = INPUTS[seed % len(INPUTS)]
    image = _image(rng, dtype, tuple(int(v) for v in rng.integers(1, 14, 2)))
    kernel = rng.standard_normal(tuple(int(v) for v in rng.integers(1, 6, 2)))  # even sizes too
    cval = float(rng.standard_normal())
    reference = ndimage.convolve if flip else ndimage.correlate
    expected = reference(image.astype(np.float64), kernel, mode=border, cval=cval)
    actual = fastconv.filter2d(image, kernel, border=border, cval=cval, flip=flip, backend=backend)
    _expected_dtype_check(actual, expected, dtype)


@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_valid_and_full_match_scipy_signal(backend, mode, flip, seed):
    rng = np.random.default_rng(100 + seed)
    dtype = INPUTS[seed % len(INPUTS)]
    image = _image(rng, dtype, tuple(int(v) for v in rng.integers(6, 15, 2)))
    kernel = rng.standard_normal(tuple(int(v) for v in rng.integers(1, 6, 2)))
    reference = signal.convolve2d if flip else signal.correlate2d
    expected = reference(image.astype(np.float64), kernel, mode=mode)
    _expected_dtype_check(fastconv.filter2d(image, kernel, mode=mode, flip=flip, backend=backend), expected, dtype)


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_channels_are_filtered_separately(axis):
    rng = np.random.default_rng(7)
    image = rng.standard_normal((5, 9, 3) if axis in (2, -1) else (3, 9, 5)).astype(np.float32)
    kernel = kernels.gaussian(1.0)
    actual = fastconv.filter2d(image, kernel, border="mirror", channel_axis=axis)
    moved = np.moveaxis(image, axis, 0)
    expected = np.stack([ndimage.correlate(plane.astype(np.float64), kernel, mode="mirror") for plane in moved])
    assert_close(actual, np.moveaxis(expected, 0, axis), np.float32)


@pytest.mark.parametrize("out", [np.uint8, np.uint16, np.int16])
def test_integer_output_rounds_and_saturates(out):
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (12, 10)).astype(np.uint8)
    kernel = kernels.sharpen() * 1.25  # products and sums exact in float64: ties are real ties
    exact = ndimage.correlate(image.astype(np.float64), kernel, mode="reflect")
    info = np.iinfo(out)
    expected = np.clip(np.rint(exact), info.min, info.max).astype(out)
    np.testing.assert_array_equal(fastconv.filter2d(image, kernel, border="reflect", dtype=out), expected)


ALGORITHMS = ["direct", "separable", "fft"]


def _random_filter_case(rng):
    """A random image (dtype, channel layout, strides) and call options, with a rank-1 kernel so
    that every algorithm applies, sometimes larger than the image (borders read periodically)."""
    in_dtype = INPUTS[int(rng.integers(len(INPUTS)))]
    height, width = (int(v) for v in rng.integers(1, 23, 2))
    kh, kw = (int(v) for v in rng.integers(1, 8, 2))
    channel_axis = [None, 0, 1, 2, -1][int(rng.integers(5))]
    shape = (height, width)
    if channel_axis is not None:
        shape = list(shape)
        shape.insert(channel_axis % 3, int(rng.integers(1, 5)))
    image = _image(rng, in_dtype, tuple(shape))
    if rng.integers(3) == 0:  # a strided view, reversed along one axis
        image = np.repeat(image, 2, axis=0)[::-2]
    kernel = np.outer(rng.standard_normal(kh), rng.standard_normal(kw))
    mode = ["same", "same", "valid", "full"][int(rng.integers(4))]
    if mode == "valid" and (kh > image.shape[0] or kw > image.shape[1] or channel_axis is not None):
        mode = "full"
    out_dtype = [None, None, np.uint8, np.int16, np.uint16, np.float64, np.float32][int(rng.integers(7))]
    options = dict(mode=mode, border=BORDERS[int(rng.integers(len(BORDERS)))], flip=bool(rng.integers(2)),
                   cval=float(rng.integers(-3, 300)) if rng.integers(2) else 0.0, channel_axis=channel_axis,
                   dtype=out_dtype)
    return image, kernel, options


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(40))
def test_every_algorithm_matches_the_reference(fast_backend, algorithm, seed):
    image, kernel, options = _random_filter_case(np.random.default_rng(500 + seed))
    expected = fastconv.filter2d(image, kernel, **options, backend="reference")
    actual = fastconv.filter2d(image, kernel, **options, algorithm=algorithm, backend=fast_backend)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if expected.dtype.kind == "f":
        precise = image.dtype == np.float64 or expected.dtype == np.float64
        assert_close(actual, expected, np.float64 if precise and algorithm != "fft" else np.float32)
    else:
        # integer results: the correctly rounded sum, whatever the path
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kernel", [np.full((1, 5), 0.1), np.full((3, 3), 1 / 9), np.full((2, 2), 0.25),
                                    np.array([[0.5, 0.5]])])
@pytest.mark.parametrize("image_dtype", [np.uint8, np.float64])
def test_integer_rounding_of_near_ties(fast_backend, algorithm, kernel, image_dtype):
    """Sums exactly at or within float32's (or float64's) error of x.5 round as the reference's do."""
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (40, 70)).astype(image_dtype)
    expected = fastconv.filter2d(image, kernel, border="nearest", dtype=np.uint8, backend="reference")
    actual = fastconv.filter2d(image, kernel, border="nearest", dtype=np.uint8, algorithm=algorithm,
                               backend=fast_backend)
    np.testing.assert_array_equal(actual, expected)


def test_integer_nan_and_saturation(fast_backend):
    image = np.array([[np.nan, 1e6, -1e6, 2.5, 3.5, -0.5]], dtype=np.float32)
    actual = fastconv.filter2d(image, np.ones((1, 1)), dtype=np.uint8, backend=fast_backend)
    np.testing.assert_array_equal(actual, [[0, 255, 0, 2, 4, 0]])
    actual = fastconv.filter2d(image, np.ones((1, 1)), dtype=np.int16, backend=fast_backend)
    np.testing.assert_array_equal(actual, [[0, 32767, -32768, 2, 4, 0]])


def test_separable_needs_a_rank_one_kernel():
    with pytest.raises(ValueError, match="rank 1"):
        fastconv.filter2d(np.ones((5, 5)), np.eye(3), algorithm="separable")
    with pytest.raises(ValueError, match="algorithm"):
        fastconv.filter2d(np.ones((5, 5)), np.eye(3), algorithm="winograd")


def _gaussian_taps(size, sigma):
    axis = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(axis**2) / (2 * sigma**2))
    return taps / taps.sum()


_G7, _G15 = _gaussian_taps(7, 1.3), _gaussian_taps(15, 2.6)
_G15_CAST = np.outer(_G15, _G15).astype(np.float32)
_SOBEL5 = np.outer([1, 4, 6, 4, 1], [-1, -2, 0, 2, 1])
# name: (kernel, whether it is of rank 1 in float64 too, not only up to its dtype's rounding)
RANK_ONE_KERNELS = {
    "gaussian7-f32": (np.outer(_G7.astype(np.float32), _G7.astype(np.float32)), False),  # as users build them
    "gaussian15-f32": (np.outer(_G15.astype(np.float32), _G15.astype(np.float32)), False),
    "gaussian15-f32-cast": (_G15_CAST, False),
    "gaussian15-f32-renormalised": (_G15_CAST / _G15_CAST.sum(), False),
    "gaussian7x15-f64": (np.outer(_G7, _G15), True),
    "box5-f32": (np.full((5, 5), 1 / 25, np.float32), True),
    "box7-f32": (np.outer(np.full(7, 1 / 7, np.float32), np.full(7, 1 / 7, np.float32)), True),
    "sobel3-int": (kernels.sobel_x().astype(np.int64), True),
    "sobel5-f32": (_SOBEL5.astype(np.float32), True),
    "sobel5-f64-scaled": (-_SOBEL5 / 60.0, True),
}


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("image_dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", RANK_ONE_KERNELS)
def test_kernels_of_rank_one_up_to_rounding_are_split(fast_backend, name, image_dtype, border):
    """A kernel of rank 1 up to its dtype's rounding (a float32 Gaussian built as an outer
    product) is split on float32 images, within float32's accuracy. On float64 images only one
    of rank 1 in float64 is: the reference sums a float32 kernel's values as they are."""
    kernel, exact = RANK_ONE_KERNELS[name]
    rng = np.random.default_rng(len(name) + 5 * BORDERS.index(border))
    image = rng.standard_normal((41, 57)).astype(image_dtype)
    cval = float(rng.standard_normal())
    expected = fastconv.filter2d(image, kernel, border=border, cval=cval, backend="reference")
    call = _validate.filter2d_call(image, kernel, "same", border, cval, False, None, None, "auto")
    splits = exact or image.dtype == np.float32
    chosen = filters._choose_algorithm(call, fast_backend).algorithm
    assert chosen == ("separable" if splits and kernel.size >= filters._SEPARABLE_MIN_TAPS else "direct")
    if splits:
        actual = fastconv.filter2d(image, kernel, border=border, cval=cval, algorithm="separable",
                                   backend=fast_backend)
        assert_close(actual, expected, image_dtype)
    else:
        with pytest.raises(ValueError, match="rank 1"):
            fastconv.filter2d(image, kernel, border=border, cval=cval, algorithm="separable", backend=fast_backend)
    assert_close(fastconv.filter2d(image, kernel, border=border, cval=cval, backend=fast_backend), expected,
                 image_dtype)


@pytest.mark.parametrize("name", ["gaussian15-f32", "box5-f32", "sobel5-f32"])
@pytest.mark.parametrize("image_dtype", [np.uint8, np.uint16])
def test_split_kernels_round_integer_results_as_the_reference(fast_backend, name, image_dtype):
    """Integer results are the reference's correctly rounded sums, also from an inexact split."""
    kernel = RANK_ONE_KERNELS[name][0]
    image = _image(np.random.default_rng(14), image_dtype, (45, 38))
    for border in BORDERS:
        expected = fastconv.filter2d(image, kernel, border=border, dtype=image_dtype, backend="reference")
        actual = fastconv.filter2d(image, kernel, border=border, dtype=image_dtype, backend=fast_backend)
        np.testing.assert_array_equal(actual, expected)


def _perturbed(kernel, relative, seed):
    noise = np.random.default_rng(seed).standard_normal(kernel.shape)
    return (kernel + relative * np.abs(kernel).max() * noise).astype(kernel.dtype)


# rank 2 (sums of two outer products), and rank-1 kernels perturbed far beyond their rounding
NOT_RANK_ONE_KERNELS = {
    "two-outer-products-f32": (np.outer(_G7, _G7) + 0.05 * np.outer([-1, -2, -3, 0, 3, 2, 1], [1, 2, 3, 4, 3, 2, 1])
                               ).astype(np.float32),
    "difference-of-gaussians-f64": np.outer(_G15, _G15) - np.outer(_gaussian_taps(15, 1.5), _gaussian_taps(15, 1.5)),
    "box-plus-impulse-f32": (np.ones((5, 5)) + np.pad([[1.0]], 2)).astype(np.float32),
    "gaussian15-f32-perturbed-1e-3": _perturbed(RANK_ONE_KERNELS["gaussian15-f32"][0], 1e-3, 1),
    "gaussian15-f32-perturbed-1e-5": _perturbed(RANK_ONE_KERNELS["gaussian15-f32"][0], 1e-5, 2),
    "sobel5-f64-perturbed-1e-9": _perturbed(_SOBEL5.astype(np.float64), 1e-9, 3),
}


@pytest.mark.parametrize("image_dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NOT_RANK_ONE_KERNELS)
def test_kernels_not_of_rank_one_are_not_split(fast_backend, name, image_dtype):
    kernel = NOT_RANK_ONE_KERNELS[name]
    image = np.random.default_rng(15).standard_normal((33, 47)).astype(image_dtype)
    with pytest.raises(ValueError, match="rank 1"):
        fastconv.filter2d(image, kernel, algorithm="separable", backend=fast_backend)
    call = _validate.filter2d_call(image, kernel, "same", "mirror", 0.0, False, None, None, "auto")
    assert filters._choose_algorithm(call, fast_backend).algorithm == "direct"
    for border in BORDERS:
        expected = fastconv.filter2d(image, kernel, border=border, backend="reference")
        assert_close(fastconv.filter2d(image, kernel, border=border, backend=fast_backend), expected, image_dtype)


def test_separable_factors():
    """The split at the largest entry when it is exact, the SVD's leading pair when only that
    one is within the tolerance (8 epsilons times the kernel's Frobenius norm), else None."""
    eps32, eps64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)
    sobel = kernels.sobel_x()
    column, row = _validate.separable_factors(sobel, eps64)
    np.testing.assert_array_equal(np.outer(column, row), sobel)  # small integers split exactly
    # ones + noise of Frobenius norm 5 epsilons: the SVD is within it, the largest-entry split
    # (which roughly doubles such noise) not
    ones = np.ones((15, 15))
    noise = np.random.default_rng(16).standard_normal(ones.shape)
    for sign in (1, -1):
        kernel = sign * (ones + 5 * eps32 * np.linalg.norm(ones) * noise / np.linalg.norm(noise))
        i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
        pivot_split = np.outer(kernel[:, j] / kernel[i, j], kernel[i, :])
        assert np.linalg.norm(kernel - pivot_split) > 8 * eps32 * np.linalg.norm(kernel)
        column, row = _validate.separable_factors(kernel, eps32)
        assert np.linalg.norm(kernel - np.outer(column, row)) <= 8 * eps32 * np.linalg.norm(kernel)
        # sqrt(s0) = sqrt(15) times the unit vectors +-1/sqrt(15); the sign goes to the row taps
        assert column[np.argmax(np.abs(column))] > 0 and np.allclose(column, 1, rtol=1e-5)
        assert np.allclose(row, sign, rtol=1e-5)
        assert _validate.separable_factors(kernel, eps64) is None  # too far off for float64
    assert _validate.separable_factors(ones + 12 * eps32 * np.linalg.norm(ones) * noise / np.linalg.norm(noise),
                                       eps32) is None
    assert _validate.separable_factors(np.zeros((3, 3)), eps32) is None
    assert _validate.separable_factors(np.full((3, 3), np.nan), eps32) is None


def test_large_images_run_in_bands_and_threads(fast_backend, restore_threads):
    rng = np.random.default_rng(12)
    image = rng.standard_normal((300, 257, 3)).astype(np.float32)
    kernel = rng.standard_normal((5, 4))
    expected = fastconv.filter2d(image, kernel, border="wrap", channel_axis=-1, backend="reference")
    for threads in (1, 2, 3):
        fastconv.set_num_threads(threads)
        assert_close(fastconv.filter2d(image, kernel, border="wrap", channel_axis=-1, backend=fast_backend),
                     expected, np.float32)


def test_aliases():
    rng = np.random.default_rng(9)
    image = rng.standard_normal((8, 7))
    kernel = rng.standard_normal((3, 3))
    for alias, name in [("zeros", "constant"), ("replicate", "nearest"), ("circular", "wrap"),
                        ("BORDER_REFLECT_101", "mirror"), ("BORDER_REFLECT", "reflect"), (4, "mirror"),
                        ("BORDER_REPLICATE", "nearest"), ("BORDER_WRAP", "wrap")]:
        np.testing.assert_array_equal(fastconv.filter2d(image, kernel, border=alias),
                                      fastconv.filter2d(image, kernel, border=name))


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(image=np.ones((4, 4), np.int64)), TypeError, ["image", "int64"]),
    (dict(image=np.ones((4, 4, 3))), ValueError, ["2-D", "(4, 4, 3)"]),
    (dict(kernel=np.ones((3,))), ValueError, ["kernel", "(3,)"]),
    (dict(border="reflect101"), ValueError, ["border", "reflect101"]),
    (dict(mode="circular"), ValueError, ["mode"]),
    (dict(mode="valid", kernel=np.ones((5, 2))), ValueError, ["valid", "(5, 2)", "(4, 4)"]),
    (dict(channel_axis=3, image=np.ones((4, 4, 2))), ValueError, ["channel_axis"]),
    (dict(dtype=np.int64), TypeError, ["dtype", "int64"]),
])
def test_errors(kwargs, error, words):
    args = dict(image=np.ones((4, 4)), kernel=np.ones((3, 3)))
    args.update(kwargs)
    with pytest.raises(error) as info:
        fastconv.filter2d(args.pop("image"), args.pop("kernel"), **args)
    for word in words:
        assert word in str(info.value)


def test_kernels():
    assert kernels.names()[0] == "sharpen" and len(kernels.names()) == 12
    for name in kernels.names():
        k = getattr(kernels, name)(1.0) if name == "gaussian" else getattr(kernels, name)()
        assert k.ndim == 2 and k.dtype == np.float64
    np.testing.assert_array_equal(kernels.sobel_y(), kernels.sobel_x().T)
    assert kernels.edge_detect(8).sum() == 0 and kernels.edge_detect().sum() == 0
    assert kernels.box_blur(5).sum() == pytest.approx(1.0) and kernels.gaussian(2.0).shape == (13, 13)
    g = kernels.gaussian(1.5, size=5)
    assert g.shape == (5, 5) and g.sum() == pytest.approx(1.0) and g[2, 2] == g.max()
    with pytest.raises(ValueError):
        kernels.edge_detect(6)
    with pytest.raises(ValueError):
        kernels.gaussian(0)


@pytest.mark.parametrize("border, cv2_border", [("mirror", "BORDER_REFLECT_101"), ("reflect", "BORDER_REFLECT"),
                                                ("nearest", "BORDER_REPLICATE"), ("constant", "BORDER_CONSTANT")])
@pytest.mark.parametrize("seed", range(4))
def test_matches_opencv_filter2d(fast_backend, border, cv2_border, seed):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(900 + seed)
    channels = [None, 3][seed % 2]
    shape = (int(rng.integers(8, 60)), int(rng.integers(8, 60))) + ((channels,) if channels else ())
    kernel = rng.standard_normal((int(rng.integers(1, 8)), int(rng.integers(1, 8)))).astype(np.float32)
    image = rng.standard_normal(shape).astype(np.float32)
    expected = cv2.filter2D(image, -1, kernel, borderType=getattr(cv2, cv2_border))
    actual = fastconv.filter2d(image, kernel, border=cv2_border, channel_axis=-1 if channels else None,
                               backend=fast_backend)
    assert_close(actual, expected, np.float32)
    image8 = rng.integers(0, 256, shape).astype(np.uint8)
    expected8 = cv2.filter2D(image8, -1, kernel, borderType=getattr(cv2, cv2_border))
    actual8 = fastconv.filter2d(image8, kernel, border=border, channel_axis=-1 if channels else None, dtype=np.uint8,
                                backend=fast_backend)
    assert np.abs(actual8.astype(int) - expected8).max() <= 1  # OpenCV rounds float32 sums


def test_concurrent_calls_from_python_threads(fast_backend):
    """Several Python threads filtering at once (the kernels release the GIL, scratch is per job)."""
    rng = np.random.default_rng(13)
    images = [rng.integers(0, 256, (64 + 7 * i, 90, 3)).astype(np.uint8) for i in range(6)]
    kernel = kernels.gaussian(1.2, 7)
    expected = [fastconv.filter2d(im, kernel, channel_axis=-1, dtype=np.uint8, backend="reference")
                for im in images]

    def work(i):
        for algorithm in ("direct", "separable", "auto"):
            result = fastconv.filter2d(images[i], kernel, channel_axis=-1, dtype=np.uint8, algorithm=algorithm,
                                       backend=fast_backend)
            np.testing.assert_array_equal(result, expected[i])

    run_in_threads(work, len(images))


def test_scipy_is_imported_only_when_an_fft_filter_runs():
    import subprocess
    import sys

    code = ("import sys, numpy as np, fastconv; before = 'scipy' in sys.modules; "
            "fastconv.filter2d(np.ones((40, 40)), np.ones((15, 15)), algorithm='fft'); "
            "print(before, 'scipy.fft' in sys.modules or 'numpy.fft' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_an_inexact_split_widens_the_integer_round_margin():
    """Integer results: the near-tie margin grows by what the split may move a sum, so that sums
    it moves across x.5 are still summed again in double (an exact split leaves it as it is)."""
    image = _image(np.random.default_rng(17), np.uint8, (20, 20))
    inexact = _validate.filter2d_call(image, RANK_ONE_KERNELS["gaussian15-f32"][0], "same", "mirror", 0.0, False,
                                      None, np.uint8, "auto")
    split = _validate.separable_call(inexact)
    moved = 2 * np.abs(inexact.kernel - np.outer(split.column_taps, split.row_taps)).sum() * 255
    assert moved > 0 and split.round_margin == pytest.approx(inexact.round_margin + moved)
    exact = _validate.filter2d_call(image, kernels.box_blur(5), "same", "mirror", 0.0, False, None, np.uint8, "auto")
    assert _validate.separable_call(exact).round_margin == exact.round_margin
