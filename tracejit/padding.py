"""`tj.pad`: constant, reflect and symmetric padding, with TensorFlow's checks.

Composite: constant padding is the zero-padding `pad` primitive, with the padded border
selected to `constant_values` by an iota mask when that is not zero; mirror padding
concatenates reversed slices of each axis, one axis after the other (so corners mirror
twice, as in TensorFlow and NumPy). Gradients, batching and lowering come from those
primitives; `constant_values` gets no gradient, as in TensorFlow.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrayops import static_ints
from .convert import _operands, _user_error, convert_to_tensor
from .exports import export
from .ir.core import bind
from .ir.errors import ShapeError
from .shapes import concat
from .tensor import Tensor, TensorInput

MODES = ("CONSTANT", "REFLECT", "SYMMETRIC")


def _paddings(x: Tensor, paddings: Any) -> list[tuple[int, int]]:
    p = static_ints("pad", "paddings", paddings)
    if p.ndim != 2 or p.shape != (x.ndim, 2):
        raise _user_error(ShapeError(
            f"pad: paddings must have shape [{x.ndim}, 2] (the rank of the input, shape "
            f"{x.shape}), got shape {list(p.shape)}"))
    if (p < 0).any():
        bad = p[(p < 0).any(axis=1)][0]
        raise _user_error(ValueError(f"pad: paddings must be non-negative, got "
                                     f"{int(bad[0])} {int(bad[1])}"))
    return [(int(a), int(b)) for a, b in p]


def _axis_slice(x: Tensor, axis: int, start: int, stop: int) -> Tensor:
    starts = tuple(start if i == axis else 0 for i in range(x.ndim))
    limits = tuple(stop if i == axis else d for i, d in enumerate(x.shape))
    return bind("slice", x, starts=starts, limits=limits, strides=(1,) * x.ndim)


def _mirror(x: Tensor, axis: int, lo: int, hi: int, reflect: bool) -> Tensor:
    d = x.shape[axis]
    e = 1 if reflect else 0                 # REFLECT leaves out the edge element
    parts = []
    if lo:
        parts.append(bind("rev", _axis_slice(x, axis, e, e + lo), axes=(axis,)))
    parts.append(x)
    if hi:
        parts.append(bind("rev", _axis_slice(x, axis, d - e - hi, d - e), axes=(axis,)))
    return concat(parts, axis)


def _inside(x: Tensor, pads: list[tuple[int, int]], shape: tuple[int, ...]) -> Tensor:
    """A bool mask of `shape`: True where the padded tensor holds an element of `x`."""
    from .ops import logical_and
    mask = None
    for ax, ((lo, _), d) in enumerate(zip(pads, x.shape)):
        if lo == 0 and d == shape[ax]:
            continue
        i = bind("iota", shape=shape, dimension=ax, dtype=np.dtype(np.int64))
        lo_c = bind("constant", value=np.asarray(lo, np.int64))
        hi_c = bind("constant", value=np.asarray(lo + d, np.int64))
        m = logical_and(bind("ge", i, lo_c), bind("lt", i, hi_c))
        mask = m if mask is None else logical_and(mask, m)
    assert mask is not None
    return mask


@export("pad")
def pad(tensor: TensorInput, paddings: Any, mode: str = "CONSTANT", constant_values: Any = 0,
        name: str | None = None) -> Tensor:
    """`tensor` padded by `paddings[i] = [before, after]` elements along axis i: with
    `constant_values` (mode "CONSTANT"), or mirrored without the edge element ("REFLECT",
    needs before, after < the dimension) or with it ("SYMMETRIC", needs <= the dimension).
    The mode is case-insensitive, as in TensorFlow.

    >>> tj.pad(tj.constant([[1, 2, 3]]), [[0, 0], [2, 1]], "REFLECT").numpy()
    array([[3, 2, 1, 2, 3, 2]], dtype=int32)
    """
    x = convert_to_tensor(tensor)
    pads = _paddings(x, paddings)
    m = str(mode).upper()
    if m not in MODES:
        raise _user_error(ValueError(f'pad: mode must be one of "CONSTANT", "REFLECT" or '
                                     f'"SYMMETRIC", got {mode!r}'))
    if all(p == (0, 0) for p in pads):
        return bind("identity", x)
    if m == "CONSTANT":
        out = bind("pad", x, lo=tuple(a for a, _ in pads), hi=tuple(b for _, b in pads),
                   interior=(0,) * x.ndim)
        c = convert_to_tensor(constant_values) if not isinstance(
            constant_values, (int, float, bool)) else None
        if c is None:
            if constant_values == 0:
                return out
            _, c = _operands("pad", x, constant_values)
        elif c.dtype != x.dtype:
            raise _user_error(TypeError(f"pad: constant_values is {c.dtype} but the tensor "
                                        f"is {x.dtype}"))
        if c.ndim:
            raise _user_error(ShapeError(f"pad: constant_values must be a scalar, got shape "
                                         f"{c.shape}"))
        return bind("select", _inside(x, pads, out.shape), out,
                    bind("stop_gradient", c))
    reflect = m == "REFLECT"
    for ax, ((lo, hi), d) in enumerate(zip(pads, x.shape)):
        if reflect and not (lo < d and hi < d):
            raise _user_error(ValueError(
                f"pad: REFLECT paddings must be less than the dimension size: {lo}, {hi} not "
                f"less than {d} (axis {ax} of shape {x.shape})"))
        if not reflect and not (lo <= d and hi <= d):
            raise _user_error(ValueError(
                f"pad: SYMMETRIC paddings must be no greater than the dimension size: {lo}, "
                f"{hi} greater than {d} (axis {ax} of shape {x.shape})"))
    out = x
    for ax, (lo, hi) in enumerate(pads):
        if lo or hi:
            out = _mirror(out, ax, lo, hi, reflect)
    return out
