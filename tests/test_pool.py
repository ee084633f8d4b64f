"""max_pool2d / avg_pool2d: every backend against the reference and torch on random cases over
every option (ceil mode, padding, dilation, indices, NaN, ties, divisors), and the edge cases."""

import numpy as np
import pytest

import fastconv
from _cases import assert_close, random_array, random_pool_case

SEEDS = range(40)


def _run(kind, case, backend):
    return getattr(fastconv, f"{kind}_pool2d")(case.input, **case.kwargs, backend=backend)


def _compare(kind, actual, expected, case, dtype):
    if kind == "max":  # exact: a max is one of the inputs, and the index must be torch's
        if case.kwargs.get("return_indices"):
            np.testing.assert_array_equal(actual[1], expected[1])
            actual, expected = actual[0], expected[0]
        assert actual.dtype == dtype
        np.testing.assert_array_equal(actual, expected)
    else:
        assert actual.dtype == dtype
        assert_close(actual, expected, dtype)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", SEEDS)
def test_matches_reference(backend, dtype, kind, seed):
    case = random_pool_case(np.random.default_rng(seed), dtype, kind)
    _compare(kind, _run(kind, case, backend), _run(kind, case, "reference"), case, dtype)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(100, 140))
def test_matches_torch(backend, dtype, kind, seed):
    torch_ops = pytest.importorskip("_torch")
    case = random_pool_case(np.random.default_rng(seed), dtype, kind)
    expected = getattr(torch_ops, f"{kind}_pool2d")(case)
    _compare(kind, _run(kind, case, backend), expected, case, dtype)


def test_lecture_pooling(backend):
    from fastconv._demo import LECTURE_FEATURE_MAP, LECTURE_POOLED

    pooled = fastconv.max_pool2d(LECTURE_FEATURE_MAP[None, None], 2, stride=2, ceil_mode=True, backend=backend)
    np.testing.assert_array_equal(pooled[0, 0], LECTURE_POOLED)
    assert fastconv.max_pool2d(LECTURE_FEATURE_MAP[None], 2, backend=backend).shape == (1, 2, 2)


def test_max_pool_indices_nan_and_ties(backend, dtype):
    x = np.array([[[[1, 3, 3, 0],
                    [2, np.nan, 1, 3],
                    [5, 5, -np.inf, -np.inf],
                    [np.nan, 0, -np.inf, -np.inf]]]], dtype=dtype)
    values, indices = fastconv.max_pool2d(x, 2, return_indices=True, backend=backend)
    np.testing.assert_array_equal(values[0, 0], np.array([[np.nan, 3], [np.nan, -np.inf]], dtype=dtype))
    # NaN wins; a tie keeps the first cell; an all -inf window points at its first cell
    np.testing.assert_array_equal(indices[0, 0], [[5, 2], [12, 10]])
    # values alone take another path in the compiled backend (NaN found, then the row redone)
    np.testing.assert_array_equal(fastconv.max_pool2d(x, 2, backend=backend), values)
    np.testing.assert_array_equal(fastconv.max_pool2d(x, 3, 1, 1, backend=backend)[0, 0, 3],
                                  np.array([np.nan, np.nan, 5, -np.inf], dtype=dtype))


def test_padded_cells_never_win(backend):
    x = -np.ones((1, 1, 3, 3))
    values = fastconv.max_pool2d(x, 3, stride=1, padding=1, backend=backend)
    assert (values == -1).all()


def test_avg_pool_divisors(backend):
    x = np.ones((1, 1, 4, 4))
    with_pad = fastconv.avg_pool2d(x, 3, stride=2, padding=1, backend=backend)
    np.testing.assert_allclose(with_pad[0, 0], [[4 / 9, 6 / 9], [6 / 9, 9 / 9]])
    without = fastconv.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False, backend=backend)
    np.testing.assert_allclose(without[0, 0], np.ones((2, 2)))
    override = fastconv.avg_pool2d(x, 3, stride=2, padding=1, divisor_override=2, backend=backend)
    np.testing.assert_allclose(override[0, 0], [[2, 3], [3, 4.5]])


@pytest.mark.parametrize("channels", [5, 64, 70, 131])  # the compiled NHWC loops block 64 channels
def test_nhwc_matches_nchw(backend, dtype, channels):
    rng = np.random.default_rng(11)
    x = random_array(rng, (2, channels, 11, 9), dtype)
    x.flat[rng.integers(0, x.size, 5)] = np.nan  # NaN wins wherever it lies in the window
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    a, ia = fastconv.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True, backend=backend)
    b, ib = fastconv.max_pool2d(nhwc, 3, 2, 1, ceil_mode=True, return_indices=True, layout="NHWC",
                                backend=backend)
    np.testing.assert_array_equal(a, b.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ia, ib.transpose(0, 3, 1, 2))
    values = fastconv.max_pool2d(nhwc, 3, 2, 1, ceil_mode=True, layout="NHWC", backend=backend)
    np.testing.assert_array_equal(values, b)
    c = fastconv.avg_pool2d(x, 3, 2, 1, ceil_mode=True, backend=backend)
    d = fastconv.avg_pool2d(nhwc, 3, 2, 1, ceil_mode=True, layout="NHWC", backend=backend)
    assert_close(c, d.transpose(0, 3, 1, 2), dtype)


def test_out_argument_and_empty_batch(backend):
    x = np.arange(32.0).reshape(2, 4, 4)
    out = np.empty((2, 2, 2))
    assert fastconv.max_pool2d(x, 2, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, x.reshape(2, 2, 2, 2, 2).max(axis=(2, 4)))
    empty = fastconv.avg_pool2d(np.zeros((0, 3, 4, 4), np.float32), 2, backend=backend)
    assert empty.shape == (0, 3, 2, 2) and empty.dtype == np.float32


def test_large_map_runs_every_thread(fast_backend):
    backend = fast_backend
    rng = np.random.default_rng(12)
    x = random_array(rng, (3, 16, 33, 35), np.float32)
    for layout, xin in (("NCHW", x), ("NHWC", np.ascontiguousarray(x.transpose(0, 2, 3, 1)))):
        for kind, kwargs in (("max", dict(dilation=2, return_indices=True)), ("avg", dict(count_include_pad=False))):
            args = (xin, 3, 2, 1)
            actual = getattr(fastconv, f"{kind}_pool2d")(*args, ceil_mode=True, layout=layout, **kwargs,
                                                        backend=backend)
            expected = getattr(fastconv, f"{kind}_pool2d")(*args, ceil_mode=True, layout=layout, **kwargs,
                                                          backend="reference")
            if kind == "max":
                np.testing.assert_array_equal(actual[0], expected[0])
                np.testing.assert_array_equal(actual[1], expected[1])
            else:
                assert_close(actual, expected, np.float32)


@pytest.mark.parametrize("seed", range(40))
def test_max_pool_signs_and_nans_as_torch(seed, backend):
    """Maps of -0, +0, negatives and NaN through every window option: every backend's max pool gives
    torch's bits, the sign of a zero and the places of NaN included (rows holding a -0 or a NaN
    are taken in torch's tap order)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    k, s = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    p, d, ceil = int(rng.integers(0, k // 2 + 1)), int(rng.integers(1, 3)), bool(rng.integers(0, 2))
    h, w = int(rng.integers(k * d, 20)), int(rng.integers(k * d, 40))
    dtype = np.float32 if seed % 2 else np.float64
    values = np.array([-0.0, 0.0, -1.0, np.nan if seed % 4 == 0 else -2.0], dtype=dtype)
    x = rng.choice(values, size=(2, 3, h, w))
    try:
        expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil_mode=ceil).numpy()
    except RuntimeError:
        pytest.skip("torch refuses these options")
    actual = fastconv.max_pool2d(x, k, stride=s, padding=p, dilation=d, ceil_mode=ceil, backend=backend)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(np.nan_to_num(actual), np.nan_to_num(expected))
    np.testing.assert_array_equal(np.signbit(np.nan_to_num(actual)), np.signbit(np.nan_to_num(expected)))
