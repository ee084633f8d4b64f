"""Shape math: the lecture's answers, agreement with the kernels, and torch's pooling rule."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _shapes


def test_lecture_numbers():
    assert fastconv.conv_param_count(3, 64, 3) == 1792
    assert fastconv.conv_param_count(3, 64, (3, 3), bias=False) == 1728
    assert fastconv.conv_output_size(256, 3) == 254
    assert fastconv.conv_output_size(256, 3, padding=1) == 256
    assert fastconv.conv_output_size(256, 3, padding="same") == 256
    assert fastconv.pool_output_size(256, 2, stride=2) == 128
    assert fastconv.pool_output_size(5, 2, ceil_mode=True) == 3
    assert fastconv.pool_output_size(5, 2) == 2


def test_alexnet_sizes():
    assert fastconv.conv_output_size(224, 11, stride=4, padding=2) == 55
    assert fastconv.pool_output_size(55, 3, stride=2) == 27
    assert fastconv.conv_param_count(3, 64, 11) == 23296
    assert fastconv.conv_param_count(64, 64, 3, groups=64) == 640


def test_ceil_mode_never_starts_a_window_in_the_right_padding():
    # torch: 4 + 2*1 padding, window 2, stride 2 -> 3 windows; a 4th would start in the padding
    assert _shapes.pool_extent(4, 2, 2, 1, 1, True) == 3
    assert fastconv.pool_output_size(4, 2, 2, 1, ceil_mode=True) == 3
    assert fastconv.pool_output_size(6, 3, 2, 1, ceil_mode=True) == 4


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="larger than the padded input"):
        fastconv.conv_output_size(2, 5)
    with pytest.raises(ValueError, match="stride"):
        fastconv.conv_output_size(5, 3, stride=0)
    with pytest.raises(ValueError, match="same.*stride"):
        fastconv.conv_output_size(5, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        fastconv.pool_output_size(5, 2, padding=2)
    with pytest.raises(ValueError, match="groups"):
        fastconv.conv_param_count(3, 64, 3, groups=2)
    with pytest.raises(TypeError, match="kernel_size"):
        fastconv.conv_output_size(5, 2.5)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 6), stride=st.integers(1, 4), dilation=st.integers(1, 3),
       before=st.integers(0, 4), after=st.integers(0, 4))
def test_conv_output_size_is_what_conv2d_gives(size, kernel, stride, dilation, before, after):
    expected = _shapes.conv_extent(size, kernel, stride, before, after, dilation)
    x = np.ones((1, 1, size, 2), np.float64)
    weight = np.ones((1, 1, kernel, 1), np.float64)
    if expected < 1:
        with pytest.raises(ValueError):
            fastconv.conv_output_size(size, kernel, stride, (before, after), dilation)
        return
    assert fastconv.conv_output_size(size, kernel, stride, (before, after), dilation) == expected
    out = fastconv.conv2d(x, weight, stride=(stride, 1), padding=(before, after, 0, 0), dilation=(dilation, 1),
                          backend="reference")
    assert out.shape[2] == expected


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 6), stride=st.integers(1, 4), dilation=st.integers(1, 3),
       pad=st.integers(0, 3), ceil_mode=st.booleans())
def test_pool_output_size_matches_torch(size, kernel, stride, dilation, pad, ceil_mode):
    torch = pytest.importorskip("torch")
    if pad > kernel // 2:
        with pytest.raises(ValueError):
            fastconv.pool_output_size(size, kernel, stride, pad, dilation, ceil_mode)
        return
    try:
        expected = torch.nn.functional.max_pool2d(torch.ones(1, 1, size, 1), (kernel, 1), (stride, 1), (pad, 0),
                                                  (dilation, 1), ceil_mode).shape[2]
    except RuntimeError:  # torch: output size too small
        with pytest.raises(ValueError):
            fastconv.pool_output_size(size, kernel, stride, pad, dilation, ceil_mode)
        return
    assert fastconv.pool_output_size(size, kernel, stride, pad, dilation, ceil_mode) == expected
