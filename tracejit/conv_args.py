"""Argument handling shared by `tj.nn`'s convolutions and pools (`tracejit.conv`,
`tracejit.pooling`): TensorFlow's forms of strides, dilations, window sizes, padding and
data formats, turned into one entry per spatial axis, with TensorFlow's errors.

Invariants: every function returns plain tuples of Python ints; every error is a
`ShapeError` / `DTypeError` / `ValueError` raised at the user's line, naming the argument
and the shapes involved.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .convert import _user_error, convert_to_tensor
from .ir.dims import is_dim
from .ir.errors import DTypeError, ShapeError
from .ir.prims.conv import dilated
from .tensor import Tensor, TensorInput

CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
CHANNELS_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def fail(e: BaseException) -> BaseException:
    return _user_error(e)


def float_input(op: str, x: TensorInput, rank: int | tuple[int, ...], what: str = "input"
                ) -> Tensor:
    """`x` as a float Tensor of rank `rank` (one of them)."""
    t = convert_to_tensor(x)
    ranks = (rank,) if isinstance(rank, int) else rank
    if t.ndim not in ranks:
        want = " or ".join(map(str, ranks))
        raise fail(ShapeError(f"{op}: {what} must have rank {want}, got shape "
                              f"{list(t.shape)}"))
    if t.dtype.kind != "f":
        raise fail(DTypeError(f"{op}: {what} must be float32 or float64, got "
                              f"{t.dtype.name}"))
    return t


def channels_first(op: str, data_format: str | None, nsp: int) -> bool:
    """Whether `data_format` is channels-first (NCHW and kin), checking it is known."""
    if data_format is None or data_format == CHANNELS_LAST[nsp]:
        return False
    if data_format == CHANNELS_FIRST[nsp]:
        return True
    raise fail(ValueError(f"{op}: data_format must be {CHANNELS_LAST[nsp]!r} or "
                          f"{CHANNELS_FIRST[nsp]!r}, got {data_format!r}"))


def per_axis(op: str, name: str, value: Any, nsp: int, first: bool, default: int = 1
             ) -> tuple[int, ...]:
    """TensorFlow's int / list of 1, nsp or nsp + 2 ints as one int per spatial axis; the
    batch and channel entries of the long form must be 1."""
    if value is None:
        return (default,) * nsp
    if isinstance(value, int):
        vals = [value]
    else:
        vals = [int(v) for v in value]
    if len(vals) == 1:
        out = tuple(vals) * nsp
    elif len(vals) == nsp:
        out = tuple(vals)
    elif len(vals) == nsp + 2:
        outer = (vals[0], vals[1]) if first else (vals[0], vals[-1])
        if outer != (1, 1):
            raise fail(ValueError(f"{op}: {name}={vals} must be 1 in the batch and channel "
                                  "dimensions (TensorFlow does not support them there)"))
        out = tuple(vals[2:]) if first else tuple(vals[1:-1])
    else:
        raise fail(ValueError(f"{op}: {name} should be of length 1, {nsp} or {nsp + 2}. "
                              f"Received: {name}={vals} of length {len(vals)}"))
    if min(out) < 1:
        raise fail(ValueError(f"{op}: {name}={vals} must be positive"))
    return out


def padding_of(op: str, padding: Any, sizes: Sequence[int], window: Sequence[int],
               strides: Sequence[int], dilations: Sequence[int], first: bool,
               explicit: bool = True) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pad_lo, pad_hi) per spatial axis for 'SAME' / 'VALID' / an explicit list of
    [before, after] pairs (one per dimension of the input; batch and channels 0).
    SAME pads to `ceil(size / stride)` outputs, the odd element at the end (TensorFlow)."""
    nsp = len(sizes)
    if any(is_dim(s) for s in sizes):
        raise fail(ShapeError(
            f"{op}: the spatial sizes of the input must be known, got "
            f"{[None if is_dim(s) else s for s in sizes]}; only the batch dimension may be "
            "None in an input_signature for convolutions and pooling"))
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return (0,) * nsp, (0,) * nsp
        if mode == "SAME":
            lo, hi = [], []
            for s, k, st, d in zip(sizes, window, strides, dilations):
                total = max((-(-s // st) - 1) * st + dilated(k, d) - s, 0)
                lo.append(total // 2)
                hi.append(total - total // 2)
            return tuple(lo), tuple(hi)
        raise fail(ValueError(f"{op}: padding must be 'SAME', 'VALID'"
                              + (" or a list of [before, after] pairs" if explicit else "")
                              + f", got {padding!r}"))
    if not explicit:
        raise fail(TypeError(f"{op}: padding must be 'SAME' or 'VALID' (TensorFlow takes no "
                             f"explicit padding here), got {padding!r}"))
    try:
        pairs = [(int(a), int(b)) for a, b in padding]
    except (TypeError, ValueError):
        raise fail(ValueError(f"{op}: explicit padding must be a list of [before, after] "
                              f"pairs, got {padding!r}")) from None
    if len(pairs) != nsp + 2:
        raise fail(ValueError(f"{op}: explicit padding needs {nsp + 2} [before, after] pairs "
                              f"(one per input dimension), got {len(pairs)}"))
    outer = [pairs[0], pairs[1]] if first else [pairs[0], pairs[-1]]
    if any(outer[0]) or any(outer[1]):
        raise fail(ValueError(f"{op}: nonzero explicit padding in the batch or channel "
                              f"dimensions is not supported, got {padding!r}"))
    inner = pairs[2:] if first else pairs[1:-1]
    if any(a < 0 or b < 0 for a, b in inner):
        raise fail(ValueError(f"{op}: explicit padding must be non-negative, got {padding!r}"))
    return tuple(a for a, _ in inner), tuple(b for _, b in inner)


def check_output(op: str, sizes: Sequence[int], window: Sequence[int], dilations: Sequence[int],
                 lo: Sequence[int], hi: Sequence[int], shape: Sequence[int]) -> None:
    """TensorFlow's error for a window longer than the padded input."""
    for s, k, d, a, b in zip(sizes, window, dilations, lo, hi):
        if s + a + b < dilated(k, d):
            raise fail(ShapeError(f"{op}: computed output size would be negative: input of "
                                  f"shape {list(shape)} has spatial size {s} (padded "
                                  f"{s + a + b}), the window {dilated(k, d)}"))


def to_last(x: Any, first: bool) -> Any:
    """A channels-first tensor as channels-last (a transpose), else `x`."""
    from . import ops
    return ops.transpose(x, [0] + list(range(2, x.ndim)) + [1]) if first else x


def to_first(y: Any, first: bool) -> Any:
    from . import ops
    return ops.transpose(y, [0, y.ndim - 1] + list(range(1, y.ndim - 1))) if first else y
