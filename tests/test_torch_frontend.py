"""fastconv.torch: torch's signatures and results on CPU tensors, zero-copy, and patched()."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import fastconv.torch as ft  # noqa: E402
from _cases import random_conv_case, random_pool_case  # noqa: E402

F = torch.nn.functional


@pytest.fixture(autouse=True)
def every_size_on_fastconv():
    """The result tests compare fastconv with torch: no call may be handed to torch for its size
    (the routing itself is tested below, with its own thresholds)."""
    ft.set_thresholds({op: {"float32": 0, "float64": 0} for op in ft.thresholds()})
    yield
    ft.set_thresholds(None)


@pytest.mark.parametrize("seed", range(20))
def test_conv2d_matches_torch(seed, dtype):
    case = random_conv_case(np.random.default_rng(500 + seed), dtype)
    kw = case.kwargs
    if isinstance(kw["padding"], tuple) and len(kw["padding"]) == 4:  # torch's conv2d takes (ph, pw) only
        kw["padding"] = (kw["padding"][0], kw["padding"][2])
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    w = torch.from_numpy(case.weight)
    b = None if "bias" not in kw else torch.from_numpy(kw["bias"])
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    expected = F.conv2d(x, w, b, *args)
    actual = ft.conv2d(x, w, b, *args)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    tol = 2e-5 if dtype == np.float32 else 1e-11
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * float(expected.abs().max().clamp(min=1)))
    # channels-last in, channels-last out
    actual_cl = ft.conv2d(x.contiguous(memory_format=torch.channels_last), w, b, *args)
    torch.testing.assert_close(actual_cl, expected, rtol=tol, atol=tol * float(expected.abs().max().clamp(min=1)))


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(15))
def test_pools_match_torch(kind, seed):
    case = random_pool_case(np.random.default_rng(700 + seed), np.float32, kind)
    x = torch.from_numpy(np.ascontiguousarray(case.nchw_input()))
    kw = {k: v for k, v in case.kwargs.items() if k != "layout"}
    if kind == "max":
        kw["return_indices"] = True
        expected, expected_indices = F.max_pool2d(x, **kw)
        actual, indices = ft.max_pool2d(x, **kw)
        torch.testing.assert_close(indices, expected_indices, rtol=0, atol=0)
    else:
        expected = F.avg_pool2d(x, **kw)
        actual = ft.avg_pool2d(x, **kw)
    torch.testing.assert_close(actual, expected, rtol=2e-5, atol=2e-5, equal_nan=True)


def test_fallbacks():
    x = torch.randn(1, 2, 6, 6)
    w = torch.randn(3, 2, 3, 3)
    xg = x.clone().requires_grad_()
    y = ft.conv2d(xg, w)  # needs grad: torch's own conv2d, so autograd works
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert xg.grad is not None
    with torch.no_grad():
        assert not ft.conv2d(xg, w).requires_grad  # served by fastconv under no_grad
    assert ft.conv2d(x.half(), w.half()).dtype == torch.float16  # unsupported dtype: torch's
    with pytest.raises(RuntimeError):
        ft.conv2d(x, w.double())  # mixed dtypes: torch's own error


def test_patched_model_gives_the_same_outputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(8, 8, 3, stride=2, groups=2), torch.nn.AvgPool2d(2, ceil_mode=True),
                                torch.nn.Flatten(), torch.nn.Linear(8 * 2 * 2, 5)).eval()
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        expected = model(x)
        original = F.conv2d
        with ft.patched():
            assert F.conv2d is ft.conv2d
            actual = model(x)
        assert F.conv2d is original
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_patched_restores_after_an_exception():
    original = (F.conv2d, F.max_pool2d, F.avg_pool2d)
    with pytest.raises(ZeroDivisionError):
        with ft.patched():
            1 / 0
    assert (F.conv2d, F.max_pool2d, F.avg_pool2d) == original


class _Recorder:
    """Stands in for torch's original function and records that it was called."""

    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


@pytest.mark.parametrize("op", ["conv2d", "conv2d_depthwise", "max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_small_calls_go_to_torch(monkeypatch, op, dtype):
    small, large = torch.randn(1, 4, 6, 6, dtype=dtype), torch.randn(2, 4, 12, 12, dtype=dtype)
    groups = 4 if op == "conv2d_depthwise" else 1
    weight = torch.randn(4, 4 // groups, 3, 3, dtype=dtype)
    original = "conv2d" if op.startswith("conv2d") else op
    calls = {"conv2d": lambda x: ft.conv2d(x, weight, None, 1, 1, 1, groups),
             "max_pool2d": lambda x: ft.max_pool2d(x, 3, 1, 1),
             "avg_pool2d": lambda x: ft.avg_pool2d(x, 3, 1, 1)}[original]
    work = {"conv2d": ft._conv_work, "max_pool2d": lambda x: ft._pool_work(x, 3),
            "avg_pool2d": lambda x: ft._pool_work(x, 3)}[original]
    name = "float32" if dtype == torch.float32 else "float64"
    ft.set_thresholds({op: {name: (work(small, weight) if original == "conv2d" else work(small)) + 1}})
    recorder = _Recorder(ft._ORIGINALS[original])
    monkeypatch.setitem(ft._ORIGINALS, original, recorder)
    # max_pool2d's small calls on plain tensors go to the operator behind F.max_pool2d's wrapper
    operator = _Recorder(ft._TORCH_MAX_POOL2D)
    monkeypatch.setattr(ft, "_TORCH_MAX_POOL2D", operator)
    expected = {"conv2d": lambda x: F.conv2d(x, weight, None, 1, 1, 1, groups),
                "max_pool2d": lambda x: F.max_pool2d(x, 3, 1, 1),
                "avg_pool2d": lambda x: F.avg_pool2d(x, 3, 1, 1)}[original]
    torch.testing.assert_close(calls(small), expected(small))
    assert recorder.calls + operator.calls == 1  # below the threshold: torch's own function
    torch.testing.assert_close(calls(large), expected(large))
    assert recorder.calls + operator.calls == 1  # above it: fastconv


def test_small_max_pool_skips_only_what_torch_would_skip():
    """The routed small max_pool2d calls torch's operator directly only where
    F.max_pool2d's wrapper would: no __torch_function__ override (a subclass goes through the
    wrapper), no return_indices; stride None becomes torch's []; every result is torch's."""
    x = torch.randn(1, 2, 5, 5)
    ft.set_thresholds({"max_pool2d": {"float32": 1e9}})  # every call here is small (the fixture restores)

    class Logged(torch.Tensor):
        seen = []

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            cls.seen.append(func)
            return super().__torch_function__(func, types, args, kwargs or {})

    for kwargs in ({}, {"stride": 2}, {"stride": None, "padding": 1, "ceil_mode": True}, {"return_indices": True}):
        expected, actual = F.max_pool2d(x, 3, **kwargs), ft.max_pool2d(x, 3, **kwargs)
        for e, a in zip(expected if isinstance(expected, tuple) else (expected,),
                        actual if isinstance(actual, tuple) else (actual,)):
            torch.testing.assert_close(a, e, rtol=0, atol=0)
    logged = x.as_subclass(Logged)
    F.max_pool2d(logged, 3)
    dispatched = Logged.seen[0]  # what torch's wrapper hands to __torch_function__
    Logged.seen.clear()
    ft.max_pool2d(logged, 3)
    assert dispatched in Logged.seen  # the override saw the same call through fastconv.torch


def test_set_thresholds_validates_and_reloads():
    with pytest.raises(ValueError, match="unknown op 'conv3d'"):
        ft.set_thresholds({"conv3d": {"float32": 1}})
    with pytest.raises(ValueError, match="max_pool2d"):
        ft.set_thresholds({"max_pool2d": {"float32": -1}})
    with pytest.raises(ValueError, match="float16"):
        ft.set_thresholds({"max_pool2d": {"float16": 5}})
    ft.set_thresholds({"max_pool2d": {"float32": 123}})
    assert ft.thresholds()["max_pool2d"]["float32"] == 123
    ft.set_thresholds(None)
    from fastconv import _torch_thresholds

    assert ft.thresholds() == _torch_thresholds.load()


def test_stored_thresholds_are_read(tmp_path, monkeypatch):
    from fastconv import _torch_thresholds

    path = tmp_path / "thresholds.json"
    monkeypatch.setenv("FASTCONV_TORCH_THRESHOLDS", str(path))
    assert _torch_thresholds.load() == _torch_thresholds.DEFAULTS  # no file yet
    path.write_text('{"thresholds": {"avg_pool2d": {"float64": 77}, "conv2d": {"float32": -5}}}')
    loaded = _torch_thresholds.load()
    assert loaded["avg_pool2d"]["float64"] == 77
    assert loaded["conv2d"]["float32"] == _torch_thresholds.DEFAULTS["conv2d"]["float32"]  # invalid: ignored
    path.write_text("not json")
    assert _torch_thresholds.load() == _torch_thresholds.DEFAULTS
    monkeypatch.setenv("FASTCONV_TORCH_THRESHOLDS", "off")
    assert all(v == 0 for by_dtype in _torch_thresholds.load().values() for v in by_dtype.values())


@pytest.mark.parametrize("wins, expected", [
    ([True, True, True, True, True], 0.0),
    ([False, False, True, True, True], 30.0),
    ([False, True, False, True, True, True, True, True, True], 20.0),  # one noisy rung: ignored
    ([False, True, False, False, True], 50.0),
    ([False, False, False, False, False], 100.0),
])
def test_crossover(wins, expected):
    from fastconv import _torch_thresholds

    rungs = [(10.0 * (i + 1), ("torch", i), ("fastconv", i)) for i in range(len(wins))]
    def time_call(call):  # fastconv 1 s where it wins, else 3 s; torch 2 s
        who, i = call
        return 2.0 if who == "torch" else (1.0 if wins[i] else 3.0)
    assert _torch_thresholds.crossover(rungs, time_call) == (expected if expected != 100.0 else 2 * rungs[-1][0])


def test_calibrate_stores(tmp_path, monkeypatch):
    from fastconv import _torch_thresholds

    path = tmp_path / "t.json"
    monkeypatch.setenv("FASTCONV_TORCH_THRESHOLDS", str(path))
    monkeypatch.setattr(_torch_thresholds, "_ladder", lambda op, dtype, torch: [])  # no timing in a test
    monkeypatch.setattr(_torch_thresholds, "crossover", lambda rungs: 4096.0)
    lines = []
    measured = _torch_thresholds.calibrate(store=True, write=lines.append)
    assert measured == {op: {"float32": 4096.0, "float64": 4096.0} for op in _torch_thresholds.OPS}
    assert _torch_thresholds.load() == measured
    assert str(path) in lines[-1]


@pytest.mark.parametrize("op", ["conv2d", "conv2d_depthwise", "max_pool2d", "avg_pool2d"])
def test_calibration_ladder_times_equal_calls(op):
    """calibrate() compares torch's call with fastconv's on each rung: the two give one result."""
    from fastconv import _torch_thresholds

    rungs = _torch_thresholds._ladder(op, torch.float64, torch)
    works = [work for work, _, _ in rungs]
    assert works == sorted(works) and works[0] > 0
    for _, theirs, ours in rungs[:4]:
        torch.testing.assert_close(ours(), theirs())
