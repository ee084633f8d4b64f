"""fastconv.scipy: SciPy's results bit for bit, for random arguments over every function and option
(the served calls on fastconv's kernels at every SIMD level, and the calls handed to SciPy), and
the faster arithmetic behind ``fastconv.scipy.exact(False)``."""

import collections

import numpy as np
import pytest

scipy_ndimage = pytest.importorskip("scipy.ndimage")
scipy_signal = pytest.importorskip("scipy.signal")
import fastconv.scipy  # noqa: E402
from fastconv.scipy import _exact, _settings, ndimage, signal  # noqa: E402

MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-mirror", "grid-constant", "grid-wrap"]
FLOATS = [np.float32, np.float64]
SERVED = _exact.available()


@pytest.fixture(autouse=True)
def kernel_calls(monkeypatch):
    """Serve arrays of every size on the kernels (SciPy's own take the small ones otherwise), count
    the kernel calls, and keep the default (SciPy's) arithmetic."""
    monkeypatch.setattr(ndimage, "SMALL_CALL_ELEMENTS", 0)
    monkeypatch.setattr(_settings, "exact", True)
    calls = collections.Counter()
    if SERVED:
        real = _exact._core

        class Counting:
            def __getattr__(self, name):
                function = getattr(real, name)

                def counted(*args, **kwargs):
                    calls[name] += 1
                    return function(*args, **kwargs)
                return counted

        monkeypatch.setattr(_exact, "_core", Counting())
    return calls


@pytest.fixture(params=["default"] + (_exact._core.simd_levels() if SERVED else []))
def simd_level(request):
    """Every SIMD level this CPU runs (and the one chosen by default)."""
    if request.param == "default":
        yield request.param
        return
    before = _exact._core.simd_level()
    _exact._core._set_simd(request.param)
    yield request.param
    _exact._core._set_simd(before)


def assert_same_bits(actual, expected):
    """The same dtype, shape and bits (NaN payloads aside: no test makes a NaN)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(np.ascontiguousarray(actual).view(np.uint8),
                                  np.ascontiguousarray(expected).view(np.uint8))


def assert_served(calls, expected=True):
    if SERVED:
        assert (sum(calls.values()) > 0) == expected, dict(calls)


def random_array(rng, dtype, ndim=None, low=1, high=14):
    """Normal random values (never zeros), a random shape of 1 to 3 axes."""
    ndim = ndim or int(rng.integers(1, 4))
    return rng.standard_normal(tuple(int(v) for v in rng.integers(low, high, ndim))).astype(dtype)


def random_weights(rng, shape, kind):
    """symmetric / antisymmetric / general weights (kinds folded by correlate1d's test)."""
    weights = rng.standard_normal(shape)
    flipped = weights[(slice(None, None, -1),) * weights.ndim]
    if kind == "symmetric":
        return weights + flipped
    if kind == "antisymmetric":
        return weights - flipped
    return weights


def random_origin(rng, length):
    return int(rng.integers(-(length // 2), (length - 1) // 2 + 1))


def both(name, *args, module="ndimage", **kwargs):
    ours = getattr(ndimage if module == "ndimage" else signal, name)(*args, **kwargs)
    theirs = getattr(scipy_ndimage if module == "ndimage" else scipy_signal, name)(*args, **kwargs)
    return ours, theirs


# ---- scipy.ndimage ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["correlate", "convolve"])
@pytest.mark.parametrize("kind", ["general", "symmetric"])
@pytest.mark.parametrize("seed", range(3))
def test_correlate_convolve(kernel_calls, name, mode, dtype, kind, seed):
    rng = np.random.default_rng(seed)
    image = random_array(rng, dtype)
    weights = random_weights(rng, tuple(int(v) for v in rng.integers(1, 6, image.ndim)), kind)
    origin = [random_origin(rng, k) for k in weights.shape] if seed % 2 else random_origin(rng, min(weights.shape))
    ours, theirs = both(name, image, weights, mode=mode, cval=float(rng.standard_normal()), origin=origin)
    assert_same_bits(ours, theirs)
    assert_served(kernel_calls)


@pytest.mark.parametrize("name", ["correlate", "convolve"])
@pytest.mark.parametrize("seed", range(8))
def test_correlate_axes_outputs_and_weights(kernel_calls, name, seed):
    """axes (weights over some axes only), an output dtype or array, tiny weights SciPy drops, a
    kernel wider than the image."""
    rng = np.random.default_rng(50 + seed)
    image = random_array(rng, FLOATS[seed % 2], ndim=3)
    axes = [(0, 2), (1,), (-1, 0), (2, 1, 0)][seed % 4]
    weights = rng.standard_normal(tuple(int(v) for v in rng.integers(1, 8, len(axes))))
    weights[(0,) * weights.ndim] = 1e-17  # below DBL_EPSILON: not a tap for SciPy
    output = [None, np.float32, np.float64, "float64"][seed % 4]
    # SciPy spreads the weights' axes over `axes` in increasing order, the origins in the given order
    # (and with every axis named, both in the image's order)
    normalized = [a % image.ndim for a in axes]
    extents = weights.shape if len(axes) == image.ndim else [weights.shape[sorted(normalized).index(a)]
                                                             for a in normalized]
    ours, theirs = both(name, image, weights, output=output, mode=MODES[seed], axes=axes, cval=2.5,
                        origin=[random_origin(rng, k) for k in extents])
    assert_same_bits(ours, theirs)
    target = np.empty(image.shape, FLOATS[(seed + 1) % 2])
    result = getattr(ndimage, name)(image, weights, output=target, axes=axes)
    assert result is target
    assert_same_bits(target, getattr(scipy_ndimage, name)(image, weights, output=target.dtype, axes=axes))
    assert_served(kernel_calls)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["correlate1d", "convolve1d"])
@pytest.mark.parametrize("kind", ["general", "symmetric", "antisymmetric"])
@pytest.mark.parametrize("seed", range(3))
def test_correlate1d_convolve1d(kernel_calls, name, mode, dtype, kind, seed):
    rng = np.random.default_rng(100 + seed)
    image = random_array(rng, dtype, high=40)
    length = int(rng.integers(1, 10)) | (1 if kind != "general" else 0)  # folding needs odd lengths
    weights = random_weights(rng, length, kind)
    axis = int(rng.integers(-image.ndim, image.ndim))
    ours, theirs = both(name, image, weights, axis=axis, mode=mode, cval=1.5, origin=random_origin(rng, length))
    assert_same_bits(ours, theirs)
    assert_served(kernel_calls)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(4))
def test_gaussian_filter(kernel_calls, mode, dtype, seed):
    rng = np.random.default_rng(200 + seed)
    image = random_array(rng, dtype, high=30)
    n = image.ndim
    sigma = [float(rng.uniform(0.3, 3.0)), list(rng.uniform(0.3, 2.0, n))][seed % 2]
    order = [0, list(int(v) for v in rng.integers(0, 3, n)), 1, 2][seed]
    kwargs = dict(order=order, mode=mode, cval=0.25, truncate=[4.0, 3.0, 2.5, 4.0][seed])
    if seed == 3:
        kwargs["radius"] = [int(v) for v in rng.integers(0, 5, n)]
    ours, theirs = both("gaussian_filter", image, sigma, **kwargs)
    assert_same_bits(ours, theirs)
    ours, theirs = both("gaussian_filter1d", image, float(rng.uniform(0.5, 2.0)), axis=-1, order=seed % 3,
                        mode=mode)
    assert_same_bits(ours, theirs)
    assert_served(kernel_calls)


@pytest.mark.parametrize("seed", range(6))
def test_per_axis_parameters_and_lists_of_modes(kernel_calls, seed):
    """Lists of modes, per-axis sigmas / sizes / origins, axes, a sigma that skips an axis."""
    rng = np.random.default_rng(300 + seed)
    image = random_array(rng, FLOATS[seed % 2], ndim=3, low=4, high=20)
    modes = [str(m) for m in rng.choice(MODES, 3)]
    ours, theirs = both("gaussian_filter", image, [1.0, 0.0, 0.7], mode=modes, order=[0, 0, 1])
    assert_same_bits(ours, theirs)
    ours, theirs = both("gaussian_filter", image, [1.3, 0.5], axes=(2, 0), mode=modes[:2])
    assert_same_bits(ours, theirs)
    sizes = [int(v) for v in rng.integers(1, 6, 3)]
    origins = [random_origin(rng, s) for s in sizes]
    ours, theirs = both("uniform_filter", image, sizes, mode=modes, origin=origins, cval=-0.5)
    assert_same_bits(ours, theirs)
    for name in ("sobel", "prewitt"):
        ours, theirs = both(name, image, axis=seed % 3 - 1, mode=modes)
        assert_same_bits(ours, theirs)
    ours, theirs = both("laplace", image, mode=modes[:2], axes=(0, 2))
    assert_same_bits(ours, theirs)
    assert_served(kernel_calls)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(3))
def test_uniform_sobel_prewitt_laplace(kernel_calls, mode, dtype, seed):
    rng = np.random.default_rng(400 + seed)
    image = random_array(rng, dtype, high=40)
    size = [int(rng.integers(1, 8)), [int(v) for v in rng.integers(1, 6, image.ndim)]][seed % 2]
    ours, theirs = both("uniform_filter", image, size, mode=mode, cval=0.5)
    assert_same_bits(ours, theirs)
    length = int(rng.integers(1, 9))
    ours, theirs = both("uniform_filter1d", image, length, axis=int(rng.integers(-image.ndim, image.ndim)),
                        mode=mode, origin=random_origin(rng, length))
    assert_same_bits(ours, theirs)
    for name in ("sobel", "prewitt"):
        ours, theirs = both(name, image, axis=int(rng.integers(-image.ndim, image.ndim)), mode=mode, cval=1.0)
        assert_same_bits(ours, theirs)
    ours, theirs = both("laplace", image, mode=mode, cval=-1.0)
    assert_same_bits(ours, theirs)
    assert_served(kernel_calls)


@pytest.mark.parametrize("seed", range(4))
def test_every_simd_level_and_thread_count(kernel_calls, simd_level, restore_threads, seed):
    """Large enough for the vector loops, the column chunks and two threads."""
    fastconv.set_num_threads(1 + seed % 2)
    rng = np.random.default_rng(500 + seed)
    dtype = FLOATS[seed % 2]
    image = rng.standard_normal([(67, 301), (3, 1100), (2000,), (9, 40, 37)][seed]).astype(dtype)
    weights = rng.standard_normal((5,) * image.ndim)
    assert_same_bits(*both("correlate", image, weights, mode=MODES[seed]))
    assert_same_bits(*both("gaussian_filter", image, 2.0, mode=MODES[seed + 4]))
    assert_same_bits(*both("uniform_filter", image, 4, mode=MODES[seed + 1]))
    assert_same_bits(*both("sobel", image, mode=MODES[seed + 2]))
    assert_same_bits(*both("correlate1d", image, rng.standard_normal(4), axis=0))
    assert_served(kernel_calls)


def test_special_values_propagate_as_in_scipy(kernel_calls):
    """Infinities and signed zeros give SciPy's NaNs and zeros (x * 0 and 0 + -0 as SciPy sums)."""
    rng = np.random.default_rng(7)
    image = rng.standard_normal((30, 31))
    image[3, 4], image[10, 10], image[20, 5] = np.inf, -np.inf, -0.0
    for name, args in (("correlate", (np.array([[0.0, 1.0], [-1.0, 2.0]]),)), ("sobel", ()),
                       ("gaussian_filter", (1.0,)), ("uniform_filter", (3,)), ("laplace", ())):
        ours, theirs = both(name, image, *args)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        finite = ~np.isnan(theirs)
        assert_same_bits(ours[finite], theirs[finite])
    assert_served(kernel_calls)


def test_calls_handed_to_scipy(kernel_calls, monkeypatch):
    """Integer data or results, complex data, an output sharing the input's memory, rank filters,
    small arrays under the threshold: SciPy's own results and errors."""
    rng = np.random.default_rng(1)
    image = rng.standard_normal((9, 8))
    weights = rng.standard_normal((3, 2))
    ints = (image * 10).astype(np.int16)
    assert_same_bits(*both("correlate", ints, weights))
    assert_same_bits(*both("correlate", image, weights, output=np.int32))
    assert_same_bits(*both("gaussian_filter", image + 1j * image, 1.0))
    assert_same_bits(*both("maximum_filter", image, 3))
    assert_same_bits(*both("minimum_filter", image, (2, 3)))
    ours, theirs = image.copy(), image.copy()  # SciPy's in-place laplace reads its own first pass
    assert ndimage.laplace(ours, output=ours) is ours
    assert_same_bits(ours, scipy_ndimage.laplace(theirs, output=theirs))
    assert_served(kernel_calls, expected=False)
    for call in (lambda m: m.correlate(image, weights, origin=5),
                 lambda m: m.correlate(image, weights, output=np.empty((2, 2))),
                 lambda m: m.correlate(image, weights, mode=["reflect", "wrap"]),
                 lambda m: m.correlate1d(image, [], axis=0),
                 lambda m: m.uniform_filter(image, 3, origin=2),
                 lambda m: m.gaussian_filter(image, 1.0, order=-1),
                 lambda m: m.sobel(image, axis=2),
                 lambda m: m.gaussian_filter(image, 1.0, mode="bogus")):
        with pytest.raises(Exception) as ours:
            call(ndimage)
        with pytest.raises(type(ours.value)) as theirs:
            call(scipy_ndimage)
        assert str(ours.value) == str(theirs.value)
    monkeypatch.setattr(ndimage, "SMALL_CALL_ELEMENTS", 1000)
    assert_same_bits(*both("gaussian_filter", image, 1.0))
    assert_served(kernel_calls, expected=False)
    assert_same_bits(*both("correlate", image.tolist(), weights))


def test_output_array_semantics(kernel_calls):
    rng = np.random.default_rng(2)
    image = rng.standard_normal((19, 18))
    strided = np.empty((19, 36))[:, ::2]
    assert ndimage.gaussian_filter(image, 1.5, output=strided) is strided
    assert_same_bits(strided, scipy_ndimage.gaussian_filter(image, 1.5))
    out = np.empty((19, 18), np.float32)
    assert ndimage.sobel(image, output=out) is out
    assert_same_bits(out, scipy_ndimage.sobel(image, output=np.float32))
    transposed = np.asfortranarray(image.astype(np.float32))
    assert_same_bits(*both("uniform_filter", transposed, 4))
    assert_served(kernel_calls)


# ---- scipy.signal ------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # SciPy's, mixed dtypes
@pytest.mark.parametrize("dtypes", [(np.float32, np.float32), (np.float64, np.float64), (np.float32, np.float64)],
                         ids=["f32", "f64", "mixed"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["fill", "symm", "wrap"])
@pytest.mark.parametrize("seed", range(3))
def test_correlate2d_convolve2d(kernel_calls, dtypes, mode, boundary, seed):
    rng = np.random.default_rng(600 + seed)
    in1 = random_array(rng, dtypes[0], ndim=2, high=30)
    in2 = random_array(rng, dtypes[1], ndim=2, high=[9, 12, 40][seed])  # seed 2: in2 may be the larger
    for name in ("correlate2d", "convolve2d"):
        kwargs = dict(mode=mode, boundary=boundary, fillvalue=float(rng.standard_normal()))
        try:
            theirs = getattr(scipy_signal, name)(in1, in2, **kwargs)
        except ValueError:  # 'valid' with neither array the larger on both axes
            continue
        assert_same_bits(getattr(signal, name)(in1, in2, **kwargs), theirs)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("dtypes", [(np.float32, np.float32), (np.float64, np.float64), (np.float64, np.float32)],
                         ids=["f32", "f64", "mixed"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("method", ["direct", "auto", "fft"])
@pytest.mark.parametrize("seed", range(3))
def test_correlate_convolve_methods(kernel_calls, dtypes, mode, method, seed):
    rng = np.random.default_rng(700 + seed)
    ndim = [2, 3, 1][seed]
    in1 = random_array(rng, dtypes[0], ndim=ndim, high=25)
    in2 = random_array(rng, dtypes[1], ndim=ndim, high=8)
    for name in ("correlate", "convolve"):
        try:
            theirs = getattr(scipy_signal, name)(in1, in2, mode=mode, method=method)
        except ValueError:
            continue
        assert_same_bits(getattr(signal, name)(in1, in2, mode=mode, method=method), theirs)


def test_signal_fft_choice_stays_scipys(kernel_calls):
    """Where SciPy's 'auto' picks the FFT, the call is SciPy's; its direct method is ours."""
    rng = np.random.default_rng(3)
    image, kernel = rng.standard_normal((300, 300)), rng.standard_normal((40, 40))
    assert scipy_signal.choose_conv_method(image, kernel) == "fft"
    assert_same_bits(*both("convolve", image, kernel, module="signal"))
    assert_served(kernel_calls, expected=False)
    assert_same_bits(*both("correlate", image[:60, :60], kernel[:5, :5], module="signal", method="direct"))
    assert_served(kernel_calls)


# ---- the faster arithmetic, opt-in ------------------------------------------------------------

def test_exact_switch(kernel_calls):
    rng = np.random.default_rng(4)
    image = rng.standard_normal((40, 50)).astype(np.float32)
    assert fastconv.scipy.is_exact()
    with fastconv.scipy.exact(False):
        assert not fastconv.scipy.is_exact()
        fast = ndimage.gaussian_filter(image, 2.0)
        fast_signal = signal.correlate2d(image, image[:3, :3], mode="valid")
    assert fastconv.scipy.is_exact()
    expected = scipy_ndimage.gaussian_filter(image, 2.0)
    np.testing.assert_allclose(fast, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast_signal, scipy_signal.correlate2d(image, image[:3, :3], mode="valid"), rtol=1e-4,
                               atol=1e-4)
    assert_served(kernel_calls, expected=False)  # filter2d, not the exact kernels
    previous = fastconv.scipy.exact(False)  # a plain call switches until switched back
    try:
        assert not fastconv.scipy.is_exact()
    finally:
        fastconv.scipy.exact(True)
    assert previous is not None and fastconv.scipy.is_exact()
    assert_same_bits(ndimage.gaussian_filter(image, 2.0), expected)


@pytest.mark.parametrize("value, exact", [("", True), ("1", True), ("0", False), ("off", False), ("False", False),
                                          ("yes", True)])
def test_exact_from_environment(monkeypatch, value, exact):
    monkeypatch.setenv("FASTCONV_SCIPY_EXACT", value)
    assert _settings._from_environment() is exact


@pytest.mark.parametrize("seed", range(10))
def test_fast_arithmetic_stays_close(kernel_calls, seed):
    """exact(False): the filter2d path, within rounding of SciPy's results."""
    rng = np.random.default_rng(800 + seed)
    image = random_array(rng, FLOATS[seed % 2], ndim=2, high=30)
    weights = rng.standard_normal((3, 4))
    tolerance = 1e-5 if image.dtype == np.float32 else 1e-12
    with fastconv.scipy.exact(False):
        results = {name: getattr(ndimage, name)(image, *args, mode=MODES[seed % 5]) for name, args in
                   (("correlate", (weights,)), ("convolve", (weights,)), ("gaussian_filter", (1.2,)),
                    ("uniform_filter", (3,)), ("sobel", ()), ("prewitt", ()), ("laplace", ()),
                    ("correlate1d", ([1.0, 2.0, -0.5],)), ("convolve1d", ([1.0, 2.0, -0.5],)))}
    for name, result in results.items():
        args = {"correlate": (weights,), "convolve": (weights,), "gaussian_filter": (1.2,), "uniform_filter": (3,),
                "correlate1d": ([1.0, 2.0, -0.5],), "convolve1d": ([1.0, 2.0, -0.5],)}.get(name, ())
        expected = getattr(scipy_ndimage, name)(image, *args, mode=MODES[seed % 5])
        assert result.dtype == expected.dtype
        np.testing.assert_allclose(result, expected, rtol=tolerance, atol=tolerance * max(1.0, np.abs(expected).max()))

