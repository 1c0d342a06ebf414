"""Convolutions of `tj.nn`: `conv1d`, `conv2d`, `depthwise_conv2d`, `conv2d_transpose`
(TensorFlow's names, argument orders and errors).

All are the one primitive `conv` (`ir/prims/conv.py`: NHWC input, HWIO filter, feature
groups, input and filter dilation), so their gradients are convolutions again, to any
order, and compiled code runs im2col + GEMM or direct loops (`codegen/lower_conv.py`):
- `conv2d` infers feature groups from the channel counts as TensorFlow does (input
  channels a multiple of the filter's), takes 'SAME' (the odd padding element at the
  bottom/right), 'VALID' or explicit `[[0, 0], [top, bottom], [left, right], [0, 0]]`;
- `depthwise_conv2d` is a conv with one group per input channel, the filter
  `(H, W, C, M)` viewed as `(H, W, 1, C * M)` (output channel `c * M + m`, TensorFlow's);
- `conv2d_transpose` is the gradient of `conv2d` with respect to its input: the
  convolution that `lhs_transpose` builds, for the `output_shape` the user gives (checked
  against the forward convolution, as TensorFlow does).
Channels-first data formats (NCHW, NCW) are transposed to channels-last and back.
"""
from __future__ import annotations

from typing import Any

from . import conv_args as ca
from .exports import export
from .ir.errors import ShapeError
from .ir.prims import conv as pconv
from .tensor import Tensor, TensorInput


def _conv(op: str, x: Tensor, w: Tensor, strides: tuple[int, ...], padding: Any,
          dilations: tuple[int, ...], first: bool, explicit: bool = True) -> Tensor:
    """The convolution of channels-last x with HWIO w; groups from the channel counts."""
    nsp = x.ndim - 2
    if x.dtype != w.dtype:
        raise ca.fail(ca.DTypeError(f"{op}: input and filters must have one dtype, got "
                                    f"{x.dtype.name} and {w.dtype.name}"))
    c, (ci, o) = x.shape[-1], w.shape[-2:]
    if ci == 0 or c % ci:
        raise ca.fail(ShapeError(f"{op}: input depth must be evenly divisible by filter "
                                 f"depth: {c} vs {ci} (input {list(x.shape)}, filters "
                                 f"{list(w.shape)})"))
    groups = c // ci
    if o % groups:
        raise ca.fail(ShapeError(f"{op}: output depth must be evenly divisible by number of "
                                 f"groups: {o} vs {groups} (input {list(x.shape)}, filters "
                                 f"{list(w.shape)})"))
    sizes, window = tuple(x.shape[1:-1]), tuple(w.shape[:nsp])
    lo, hi = ca.padding_of(op, padding, sizes, window, strides, dilations, first, explicit)
    ca.check_output(op, sizes, window, dilations, lo, hi, x.shape)
    return pconv.conv(x, w, strides=strides, pad_lo=lo, pad_hi=hi, lhs_dilation=(1,) * nsp,
                      rhs_dilation=dilations, groups=groups)


@export("nn.conv2d")
def conv2d(input: TensorInput, filters: TensorInput, strides: Any, padding: Any,
           data_format: str = "NHWC", dilations: Any = None, name: str | None = None
           ) -> Tensor:
    """2-D convolution (cross-correlation) of `input` `[batch, height, width, in_channels]`
    with `filters` `[height, width, in_channels / groups, out_channels]`.

    `strides` and `dilations`: an int, 2 ints, or 4 (batch and channel entries 1).
    `padding`: 'SAME', 'VALID' or explicit `[[0, 0], [top, bottom], [left, right], [0, 0]]`.

    >>> x = tj.reshape(tj.range(16.), [1, 4, 4, 1])
    >>> tj.nn.conv2d(x, tj.ones([2, 2, 1, 1]), strides=2, padding="VALID").numpy().ravel()
    array([10., 18., 42., 50.], dtype=float32)
    """
    op = "conv2d"
    first = ca.channels_first(op, data_format, 2)
    x = ca.to_last(ca.float_input(op, input, 4), first)
    w = ca.float_input(op, filters, 4, "filters")
    s = ca.per_axis(op, "strides", strides, 2, first)
    d = ca.per_axis(op, "dilations", dilations, 2, first)
    return ca.to_first(_conv(op, x, w, s, padding, d, first), first)


@export("nn.conv1d")
def conv1d(input: TensorInput, filters: TensorInput, stride: Any, padding: Any,
           data_format: str = "NWC", dilations: Any = None, name: str | None = None
           ) -> Tensor:
    """1-D convolution of `input` `[batch, width, in_channels]` with `filters`
    `[width, in_channels / groups, out_channels]`; `padding` 'SAME' or 'VALID'.

    >>> x = tj.reshape(tj.range(5.), [1, 5, 1])
    >>> tj.nn.conv1d(x, tj.ones([3, 1, 1]), 1, "SAME").numpy().ravel()
    array([1., 3., 6., 9., 7.], dtype=float32)
    """
    op = "conv1d"
    first = ca.channels_first(op, data_format, 1)
    x = ca.to_last(ca.float_input(op, input, 3), first)
    w = ca.float_input(op, filters, 3, "filters")
    s = ca.per_axis(op, "stride", stride, 1, first)
    d = ca.per_axis(op, "dilations", dilations, 1, first)
    return ca.to_first(_conv(op, x, w, s, padding, d, first, explicit=False), first)


@export("nn.depthwise_conv2d")
def depthwise_conv2d(input: TensorInput, filter: TensorInput, strides: Any, padding: Any,
                     data_format: str | None = None, dilations: Any = None,
                     name: str | None = None) -> Tensor:
    """Depthwise 2-D convolution: each input channel `c` is convolved with its own
    `filter[:, :, c, :]` (`[height, width, in_channels, channel_multiplier]`), giving
    `in_channels * channel_multiplier` output channels (channel `c * M + m`).
    `strides` must have 4 entries `[1, sh, sw, 1]`; `dilations` 2 (the rate).

    >>> x = tj.reshape(tj.range(18.), [1, 3, 3, 2])
    >>> tj.nn.depthwise_conv2d(x, tj.ones([3, 3, 2, 1]), [1, 1, 1, 1], "VALID").numpy()
    array([[[[72., 81.]]]], dtype=float32)
    """
    op = "depthwise_conv2d"
    first = ca.channels_first(op, data_format, 2)
    x = ca.to_last(ca.float_input(op, input, 4), first)
    w = ca.float_input(op, filter, 4, "filter")
    if isinstance(strides, int) or len(list(strides)) != 4:
        raise ca.fail(ValueError(f"{op}: sliding window strides field must specify 4 "
                                 f"dimensions, got strides={strides!r}"))
    s = ca.per_axis(op, "strides", strides, 2, first)
    d = ca.per_axis(op, "dilations", dilations, 2, first)
    if max(d) > 1 and max(s) > 1:
        # TensorFlow warns and computes through space-to-batch something that is not the
        # strided dilated convolution; refuse instead.
        raise ca.fail(ValueError(f"{op}: when dilation rate is greater than 1, then all "
                                 f"values of strides must be 1; got strides {list(s)}, "
                                 f"dilations {list(d)}"))
    c = x.shape[-1]
    if w.shape[2] != c:
        raise ca.fail(ShapeError(f"{op}: input depth {c} must equal the filter's in_channels "
                                 f"{w.shape[2]} (input {list(x.shape)}, filter "
                                 f"{list(w.shape)})"))
    from . import ops
    w = ops.reshape(w, [w.shape[0], w.shape[1], 1, c * w.shape[3]])
    return ca.to_first(_conv(op, x, w, s, padding, d, first), first)


@export("nn.conv2d_transpose")
def conv2d_transpose(input: TensorInput, filters: TensorInput, output_shape: Any,
                     strides: Any, padding: Any = "SAME", data_format: str = "NHWC",
                     dilations: Any = None, name: str | None = None) -> Tensor:
    """The transpose (gradient with respect to its input) of `conv2d`: maps `input`
    `[batch, h, w, filters.shape[3]]` to `output_shape` `[batch, H, W, filters.shape[2]]`,
    where `conv2d` of an `output_shape` tensor with `filters`, `strides`, `padding` and
    `dilations` has `input`'s shape.

    >>> x = tj.reshape(tj.range(1., 5.), [1, 2, 2, 1])
    >>> y = tj.nn.conv2d_transpose(x, tj.ones([2, 2, 1, 1]), [1, 4, 4, 1], strides=2,
    ...                            padding="VALID")
    >>> y.numpy()[0, :, :, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]], dtype=float32)
    """
    op = "conv2d_transpose"
    first = ca.channels_first(op, data_format, 2)
    g = ca.to_last(ca.float_input(op, input, 4), first)
    w = ca.float_input(op, filters, 4, "filters")
    if g.dtype != w.dtype:
        raise ca.fail(ca.DTypeError(f"{op}: input and filters must have one dtype, got "
                                    f"{g.dtype.name} and {w.dtype.name}"))
    shape = [int(v) for v in (output_shape.numpy() if hasattr(output_shape, "numpy")
                              else output_shape)]
    if len(shape) != 4:
        raise ca.fail(ShapeError(f"{op}: output_shape must have 4 entries, got {shape}"))
    if first:
        shape = [shape[0], shape[2], shape[3], shape[1]]
    s = ca.per_axis(op, "strides", strides, 2, first)
    d = ca.per_axis(op, "dilations", dilations, 2, first)
    sizes, window = tuple(shape[1:3]), tuple(w.shape[:2])
    lo, hi = ca.padding_of(op, padding, sizes, window, s, d, first)
    ca.check_output(op, sizes, window, d, lo, hi, shape)
    fwd = tuple(pconv.out_size(*a) for a in zip(sizes, window, s, lo, hi, (1, 1), d))
    want = (shape[0],) + fwd + (w.shape[3],)
    if tuple(g.shape) != want or shape[3] != w.shape[2]:
        raise ca.fail(ShapeError(
            f"{op}: conv2d of output_shape {shape} with filters {list(w.shape)} (strides "
            f"{list(s)}, padding {padding!r}) has shape {list(want[:3]) + [w.shape[3]]} and "
            f"takes {w.shape[2]} channels; input has shape {list(g.shape)}"))
    y = pconv.lhs_transpose(g, w, tuple(shape), strides=s, pad_lo=lo, pad_hi=hi,
                            lhs_dilation=(1, 1), rhs_dilation=d, groups=1)
    return ca.to_first(y, first)
