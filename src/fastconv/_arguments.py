"""Scalar and small-sequence arguments: ints, flags, pairs, 4-sided padding, choices.

The leaf of the Python layer (it imports nothing from fastconv): `_shapes` checks the arguments
of the public shape functions with it, `_validate` those of every kernel call.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any, Sequence, Tuple

import numpy as np

# Kernels index with signed 64-bit integers: keep every array (in bytes) and every padded extent
# below this so that no index arithmetic can overflow.
MAX_BYTES = np.iinfo(np.int64).max // 2


# -- scalars ----------------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    if type(value) is int:  # the common case, without the abstract-class check
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def integer(value: Any, name: str, function: str) -> int:
    if type(value) is int and -MAX_BYTES <= value <= MAX_BYTES:  # the common case, in one test
        return value
    if not _is_int(value):
        msg = f"{function}: `{name}` must be an int, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    value = operator.index(value)
    if abs(value) > MAX_BYTES:
        msg = f"{function}: `{name}`={value} is too large to index with 64-bit integers"
        raise ValueError(msg)
    return value


def positive_int(value: Any, name: str, function: str) -> int:
    if type(value) is int and 1 <= value <= MAX_BYTES:
        return value
    value = integer(value, name, function)
    if value < 1:
        msg = f"{function}: `{name}` must be positive, got {value}"
        raise ValueError(msg)
    return value


def nonnegative_int(value: Any, name: str, function: str) -> int:
    if type(value) is int and 0 <= value <= MAX_BYTES:
        return value
    value = integer(value, name, function)
    if value < 0:
        msg = f"{function}: `{name}` must be non-negative, got {value}"
        raise ValueError(msg)
    return value


def flag(value: Any, name: str, function: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if _is_int(value) and value in (0, 1):
        return bool(value)
    msg = f"{function}: `{name}` must be a bool, got {type(value).__name__} {value!r}"
    raise TypeError(msg)


def _sequence(value: Any, length: int, name: str, function: str, what: str) -> Sequence[Any]:
    if isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        if len(value) == length:
            return value
        msg = f"{function}: `{name}` must be {what}, got a sequence of length {len(value)}: {tuple(value)!r}"
        raise ValueError(msg)
    msg = f"{function}: `{name}` must be {what}, got {type(value).__name__} {value!r}"
    raise TypeError(msg)


def _pair(value: Any, name: str, function: str, check) -> Tuple[int, int]:
    if _is_int(value):  # first: a plain int is the commonest argument
        value = check(value, name, function)
        return (value, value)
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return (check(value[0], name, function), check(value[1], name, function))
    items = _sequence(value, 2, name, function, "an int or a pair of ints")
    return (check(items[0], name, function), check(items[1], name, function))


def positive_pair(value: Any, name: str, function: str) -> Tuple[int, int]:
    return _pair(value, name, function, positive_int)


def nonnegative_pair(value: Any, name: str, function: str) -> Tuple[int, int]:
    return _pair(value, name, function, nonnegative_int)


def padding_sides(value: Any, name: str, function: str) -> Tuple[int, int, int, int]:
    """int -> all four sides; (ph, pw) -> (ph, ph, pw, pw); a 4-tuple is (top, bottom, left, right)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return tuple(nonnegative_int(v, name, function) for v in value)  # type: ignore[return-value]
    if isinstance(value, (tuple, list)) and len(value) not in (2, 4):
        msg = (f"{function}: `{name}` must be an int, a pair, a 4-tuple (top, bottom, left, right), "
               f"'same' or 'valid', got {tuple(value)!r}")
        raise ValueError(msg)
    ph, pw = nonnegative_pair(value, name, function)
    return (ph, ph, pw, pw)


def groups_divide(in_channels: int, out_channels: int, groups: int, function: str) -> None:
    if in_channels % groups or out_channels % groups:
        msg = (f"{function}: `groups`={groups} must divide both the input channels ({in_channels}) "
               f"and the output channels ({out_channels})")
        raise ValueError(msg)


def pool_padding_fits(padding: Tuple[int, int], kernel_size: Tuple[int, int], function: str) -> None:
    """torch's rule: padding at most half the window (kernel_size // 2, dilation not counted)."""
    for pad, kernel in zip(padding, kernel_size):
        if pad > kernel // 2:
            msg = (f"{function}: `padding`={padding} must be at most half the window `kernel_size`={kernel_size} "
                   f"(at most {kernel // 2} along that axis), as in torch")
            raise ValueError(msg)


def choice(value: Any, name: str, options: Sequence[str], function: str) -> str:
    if not isinstance(value, str) or value not in options:
        msg = f"{function}: `{name}` must be one of {', '.join(map(repr, options))}, got {value!r}"
        raise ValueError(msg)
    return value
