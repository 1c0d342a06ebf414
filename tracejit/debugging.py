"""Run-time checks of `tj.debugging` (TensorFlow's `tf.debugging`) and `tj.ensure_shape`.

Shape checks (`ensure_shape`, `assert_rank*`, `assert_shapes`) read only static shapes, so
they run the same eagerly and while tracing: a shape that breaks them raises at once
(inside a compiled function, at trace time). A dimension a trace knows only at run time
(`input_signature` with None) is not checked against a number: shapes are never refined.

Value checks (`assert_equal`, `assert_less`, ..., `assert_near`) compare their operands'
values when those exist: eagerly, or inside a compiled function for operands that are
Python or NumPy values, with TensorFlow's message. For a traced operand they trace an
`assert` (`context.run_time_check`) that compiled code checks when it runs, inside loops
and branches too; its failure names the condition, the index of the first element where
it fails and the user's line. Either raises `tj.errors.InvalidArgumentError` (a
ValueError); every check returns None, as TensorFlow's do eagerly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arrayops import static_ints
from .context import run_time_check
from .convert import _operands, _user_error, convert_to_tensor, known_value
from .errors import InvalidArgumentError
from .exports import export
from .regions import tracing
from .ir import dims
from .ir import ops as irops
from .ir.errors import DTypeError, ShapeError
from .tensor import Tensor, TensorInput


def _prefix(message: Any) -> str:
    return f"{message}\n" if message else ""


def _shape_text(shape: tuple[Any, ...]) -> str:
    return "[" + ",".join("?" if dims.is_dim(d) else str(d) for d in shape) + "]"


@export("ensure_shape")
def ensure_shape(x: TensorInput, shape: Any, name: str | None = None) -> Tensor:
    """`x`, after checking that its shape is compatible with `shape` (a list with None for
    a size left open, or None for any shape); InvalidArgumentError (a ValueError) if not.
    The gradient passes through. A size known only at run time is not checked.

    >>> tj.ensure_shape(tj.constant([[1., 2.]]), [None, 2]).numpy()
    array([[1., 2.]], dtype=float32)
    """
    from .elementwise import identity
    from .tensorshape import as_shape
    t = convert_to_tensor(x)
    want = as_shape(shape)
    if want.rank is not None:
        wanted = tuple(want.as_list())
        ok = len(wanted) == t.ndim and all(
            w is None or dims.is_dim(d) or d == w for d, w in zip(t.shape, wanted))
        if not ok:
            raise _user_error(InvalidArgumentError(
                f"Shape of tensor input {_shape_text(t.shape)} is not compatible with "
                f"expected shape [{','.join('?' if w is None else str(w) for w in wanted)}]."))
    return identity(x)


def _static_rank(op: str, rank: Any) -> int:
    if isinstance(rank, Tensor) and rank.dtype.kind != "i":
        raise _user_error(DTypeError(f"{op}: rank must be an integer, got {rank.dtype}"))
    return int(static_ints(op, "rank", rank))


def _received(t: Tensor) -> str:
    return f"Received rank {t.ndim}, shape {dims.as_none(t.shape)}"


@export("assert_rank", "debugging.assert_rank")
def assert_rank(x: TensorInput, rank: Any, message: Any = None, name: str | None = None
                ) -> None:
    """ValueError unless `x` has rank `rank` (checked statically, also while tracing).

    >>> tj.debugging.assert_rank(tj.zeros([2, 3]), 2)
    """
    t = convert_to_tensor(x)
    r = _static_rank("assert_rank", rank)
    if t.ndim != r:
        raise _user_error(ValueError(f"{_prefix(message)}Tensor must have rank {r}. "
                                     f"{_received(t)}"))


@export("debugging.assert_rank_at_least")
def assert_rank_at_least(x: TensorInput, rank: Any, message: Any = None,
                         name: str | None = None) -> None:
    """ValueError unless `x` has rank `rank` or more (checked statically).

    >>> tj.debugging.assert_rank_at_least(tj.zeros([2, 3]), 1)
    """
    t = convert_to_tensor(x)
    r = _static_rank("assert_rank_at_least", rank)
    if t.ndim < r:
        raise _user_error(ValueError(f"{_prefix(message)}Tensor must have rank at least "
                                     f"{r}. {_received(t)}"))


@export("debugging.assert_rank_in")
def assert_rank_in(x: TensorInput, ranks: Any, message: Any = None, name: str | None = None
                   ) -> None:
    """ValueError unless the rank of `x` is one of `ranks` (checked statically).

    >>> tj.debugging.assert_rank_in(tj.zeros([2, 3]), [1, 2])
    """
    t = convert_to_tensor(x)
    rs = tuple(_static_rank("assert_rank_in", r) for r in ranks)
    if t.ndim not in rs:
        raise _user_error(ValueError(f"{_prefix(message)}Tensor must have rank in {rs}. "
                                     f"{_received(t)}"))


@export("debugging.assert_shapes")
def assert_shapes(shapes: Any, data: Any = None, summarize: Any = None, message: Any = None,
                  name: str | None = None) -> None:
    """ValueError unless every tensor has its shape spec: a list of `(tensor, spec)` pairs
    (or a dict from tensors to specs), each spec a sequence (or string) of sizes: an int,
    a name that must be the same size wherever it appears, None or `"."` for any size,
    and a leading `"..."` for any number of leading dimensions. Checked statically.

    >>> x, y = tj.zeros([4, 2, 3]), tj.zeros([2])
    >>> tj.debugging.assert_shapes([(x, ("...", "N", "D")), (y, ("N",))])
    """
    pairs = list(shapes.items()) if isinstance(shapes, dict) else list(shapes)
    sizes: dict[str, tuple[Any, str]] = {}
    for x, spec in pairs:
        t = convert_to_tensor(x)
        spec = list(spec)
        lead = bool(spec) and spec[0] == "..."
        if lead:
            spec = spec[1:]
        if t.ndim < len(spec) if lead else t.ndim != len(spec):
            raise _user_error(ValueError(
                f"{_prefix(message)}Tensor of shape {dims.as_none(t.shape)} must have rank "
                f"{'at least ' if lead else ''}{len(spec)}. Received rank {t.ndim}"))
        got = t.shape[t.ndim - len(spec):]
        for i, (d, s) in enumerate(zip(got, spec)):
            axis = t.ndim - len(spec) + i
            if s is None or s == "." or dims.is_dim(d):
                continue
            if isinstance(s, str):
                if s not in sizes:
                    sizes[s] = (d, f"tensor of shape {dims.as_none(t.shape)} dimension {axis}")
                    continue
                want, where = sizes[s]
                if dims.is_dim(want):
                    continue
            else:
                want, where = int(s), "the spec"
            if d != want:
                raise _user_error(ValueError(
                    f"{_prefix(message)}Specified by {where}: tensor of shape "
                    f"{dims.as_none(t.shape)} dimension {axis} must have size {want}. "
                    f"Received size {d}"))


def _value(raw: Any, t: Tensor) -> np.ndarray | None:
    """`known_value` of operand `raw`, in the dtype it was converted to (`t`'s)."""
    v = known_value(raw, t)
    return None if v is None else v.astype(t.dtype)


def _values_check(op: str, cond: str, test: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  traced: Callable[[Tensor, Tensor], Tensor], x: TensorInput,
                  y: TensorInput, summarize: Any, message: Any, kinds: str = "iufb") -> None:
    """The shared body of the comparison asserts: operands converted as an operator's,
    their shapes broadcast (checked also while tracing), and where both have values, the
    elements where `test` fails reported in TensorFlow's format; otherwise (a traced
    operand) an `assert` of `traced(x, y)` that compiled code checks at run time."""
    tx, ty = _operands(op, x, y)
    if tx.dtype.kind not in kinds:
        raise _user_error(DTypeError(f"{op}: operands must be numeric, got {tx.dtype}"))
    try:
        np.broadcast_shapes(tx.shape, ty.shape)
    except ValueError:
        raise _user_error(ShapeError(
            f"{op}: incompatible shapes {tx.shape} and {ty.shape}")) from None
    except TypeError:
        pass                                    # a size known only at run time: traced
    head = _prefix(message)

    def explain(values: list[np.ndarray]) -> str | None:
        return _comparison_failure(head, cond, test, values[0], values[1], summarize)

    _check([(x, tx), (y, ty)], explain, lambda: traced(tx, ty),
           f"{head}Condition x {cond} y did not hold")


def _check(operands: list[tuple[Any, Tensor]],
           explain: Callable[[list[np.ndarray]], str | None], traced: Callable[[], Tensor],
           message: str) -> None:
    """The shared end of the value checks. Where every operand (the argument as given,
    and its tensor) has a value: InvalidArgumentError with `explain`'s text for those
    values, if it gives one. Otherwise, inside a trace: an `assert` of `traced()` that
    compiled code checks when it runs, failing with `message` (or, the call replayed,
    `explain`'s text)."""
    values = [_value(raw, t) for raw, t in operands]
    if any(v is None for v in values):
        st = tracing()
        if st is not None:
            run_time_check(st, traced(), message,
                           explain=(explain, [t for _, t in operands]))
        return
    text = explain(values)  # type: ignore[arg-type]
    if text is not None:
        raise _user_error(InvalidArgumentError(text))


def _comparison_failure(head: str, cond: str,
                        test: Callable[[np.ndarray, np.ndarray], np.ndarray], va: np.ndarray,
                        vb: np.ndarray, summarize: Any) -> str | None:
    """TensorFlow's message for the elements of `va` and `vb` (broadcast) where `test`
    fails, or None when it holds everywhere."""
    shape = np.broadcast_shapes(va.shape, vb.shape)
    a = np.broadcast_to(va, shape)
    b = np.broadcast_to(vb, shape)
    with np.errstate(invalid="ignore"):
        bad = ~test(a, b)
    if not bad.any():
        return None
    n = 3 if summarize is None else int(summarize)
    where = np.argwhere(bad)[:n]
    picked = tuple(where.T)
    indices = "" if not shape else (      # TensorFlow names no index of scalars
        f"Indices of first {len(where)} different values:\n{where}\n"
        f"Corresponding x values:\n{a[picked]}\nCorresponding y values:\n{b[picked]}\n")
    return (f"{head}Condition x {cond} y did not hold.\n{indices}"
            f"First {min(n, a.size)} elements of x:\n{a.reshape(-1)[:n]}\n"
            f"First {min(n, b.size)} elements of y:\n{b.reshape(-1)[:n]}")


def _comparison(path: str, aliases: tuple[str, ...], cond: str,
                test: Callable[[np.ndarray, np.ndarray], np.ndarray], kinds: str,
                doc: str) -> Callable[..., None]:
    op = path.rpartition(".")[2]

    def traced(a: Tensor, b: Tensor) -> Tensor:
        from . import elementwise
        return getattr(elementwise, _TRACED[cond])(a, b)  # type: ignore[no-any-return]

    def check(x: TensorInput, y: TensorInput, message: Any = None, summarize: Any = None,
              name: str | None = None) -> None:
        _values_check(op, cond, test, traced, x, y, summarize, message, kinds)

    from .exports import named
    return named(check, path, *aliases, doc=doc)


# The traced comparison of each condition, by its name in `elementwise` (imported at use:
# it imports this module's siblings).
_TRACED = {"==": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal",
           ">": "greater", ">=": "greater_equal"}

_DOC = """InvalidArgumentError (a ValueError) unless `x {cond} y` holds for every element
    (the operands broadcast against each other); the message names the first elements
    where it fails (inside a compiled function, for traced operands, the index of the
    first: compiled code checks them when it runs).

    >>> tj.debugging.{op}(tj.constant([1, 2]), {example})
    """

assert_equal = _comparison(
    "debugging.assert_equal", ("assert_equal",), "==", np.equal, "iufb",
    _DOC.format(cond="==", op="assert_equal", example="[1, 2]"))
assert_none_equal = _comparison(
    "debugging.assert_none_equal", (), "!=", np.not_equal, "iufb",
    _DOC.format(cond="!=", op="assert_none_equal", example="[2, 1]"))
assert_less = _comparison(
    "debugging.assert_less", ("assert_less",), "<", np.less, "iuf",
    _DOC.format(cond="<", op="assert_less", example="[2, 3]"))
assert_less_equal = _comparison(
    "debugging.assert_less_equal", (), "<=", np.less_equal, "iuf",
    _DOC.format(cond="<=", op="assert_less_equal", example="[1, 3]"))
assert_greater = _comparison(
    "debugging.assert_greater", ("assert_greater",), ">", np.greater, "iuf",
    _DOC.format(cond=">", op="assert_greater", example="[0, 1]"))
assert_greater_equal = _comparison(
    "debugging.assert_greater_equal", (), ">=", np.greater_equal, "iuf",
    _DOC.format(cond=">=", op="assert_greater_equal", example="[1, 1]"))


@export("debugging.assert_near")
def assert_near(x: TensorInput, y: TensorInput, rtol: Any = None, atol: Any = None,
                message: Any = None, summarize: Any = None, name: str | None = None) -> None:
    """InvalidArgumentError (a ValueError) unless `|x - y| <= atol + rtol * |y|` for every
    element of the float tensors `x` and `y` (broadcast); `rtol` and `atol` default to 10
    times the dtype's machine epsilon, as TensorFlow's. NaN is never near anything.
    Inside a compiled function, traced operands are not checked.

    >>> tj.debugging.assert_near(tj.constant([1., 2.]), [1.000001, 2.])
    """
    tx, ty = _operands("assert_near", x, y)
    if tx.dtype.kind != "f":
        raise _user_error(DTypeError(f"assert_near: x and y must be float tensors, got "
                                     f"{tx.dtype}"))
    eps = 10 * np.finfo(tx.dtype).eps
    rt = tx.dtype.type(eps if rtol is None else rtol)
    at = tx.dtype.type(eps if atol is None else atol)

    def near(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a - b) <= at + rt * np.abs(b)

    def traced(a: Tensor, b: Tensor) -> Tensor:
        from .elementwise import less_equal
        return less_equal(abs(a - b), at + rt * abs(b))

    _values_check("assert_near", f"~= (rtol={rt}, atol={at})", near, traced, tx, ty,
                  summarize, message, "f")


def _summary(a: np.ndarray, n: int) -> str:
    items = [str(v) for v in a.reshape(-1)[:n]]
    return str(items + ["..."] if a.size > n else items)


def _sign_check(path: str, cond: str, test: Callable[[np.ndarray], np.ndarray],
                traced: str, doc: str) -> Callable[..., None]:
    """`assert_positive` and kin: `x cond 0` for every element, TensorFlow's message."""
    op = path.rpartition(".")[2]

    def check(x: TensorInput, message: Any = None, summarize: Any = None,
              name: str | None = None) -> None:
        t = convert_to_tensor(x)
        if t.dtype.kind not in "iuf":
            raise _user_error(DTypeError(f"{op}: x must be numeric, got {t.dtype}"))
        head = f"{message}.  \n" if message else "\n"
        n = 3 if summarize is None else int(summarize)

        def explain(values: list[np.ndarray]) -> str | None:
            v = values[0]
            with np.errstate(invalid="ignore"):
                ok = test(v)
            if np.all(ok):
                return None
            return (f"{head}Condition x {cond} 0 did not hold element-wise:\nx (shape="
                    f"{v.shape} dtype={v.dtype}) = \n{_summary(v, n)}")

        def against_zero() -> Tensor:
            from . import elementwise
            return getattr(elementwise, traced)(t, irops.const(0, t.dtype))  # type: ignore[no-any-return]

        _check([(x, t)], explain, against_zero,
               f"{head}Condition x {cond} 0 did not hold element-wise")

    from .exports import named
    return named(check, path, doc=doc)


_SIGN_DOC = """InvalidArgumentError (a ValueError) unless `x {cond} 0` for every element
    (NaN fails); inside a compiled function a traced `x` is checked when the code runs.

    >>> tj.debugging.{op}(tj.constant([{example}]))
    """

assert_positive = _sign_check("debugging.assert_positive", ">", lambda v: v > 0, "greater",
                              _SIGN_DOC.format(cond=">", op="assert_positive",
                                               example="1., 2."))
assert_negative = _sign_check("debugging.assert_negative", "<", lambda v: v < 0, "less",
                              _SIGN_DOC.format(cond="<", op="assert_negative",
                                               example="-1., -2."))
assert_non_negative = _sign_check("debugging.assert_non_negative", ">=", lambda v: v >= 0,
                                  "greater_equal", _SIGN_DOC.format(
                                      cond=">=", op="assert_non_negative", example="0., 2."))
assert_non_positive = _sign_check("debugging.assert_non_positive", "<=", lambda v: v <= 0,
                                  "less_equal", _SIGN_DOC.format(
                                      cond="<=", op="assert_non_positive", example="0., -2."))


def _numerics_failure(message: Any, v: np.ndarray) -> str | None:
    """TensorFlow's CheckNumerics message for `v`, or None when it is all finite."""
    inf, nan = bool(np.isinf(v).any()), bool(np.isnan(v).any())
    if not (inf or nan):
        return None
    what = "Inf and NaN" if inf and nan else "Inf" if inf else "NaN"
    return f"{message} : Tensor had {what} values"


@export("debugging.check_numerics")
def check_numerics(tensor: TensorInput, message: Any, name: str | None = None) -> Tensor:
    """`tensor`, after checking that it has no NaN and no infinity (InvalidArgumentError
    "message : Tensor had NaN values", "Inf values" or "Inf and NaN values" if it does);
    float tensors only. Inside a compiled function a traced tensor is checked when the
    code runs. The gradient passes through.

    >>> tj.debugging.check_numerics(tj.constant([1., 2.]), "loss").numpy()
    array([1., 2.], dtype=float32)
    """
    from .elementwise import identity
    from .mathops import is_finite
    t = convert_to_tensor(tensor)
    if t.dtype.kind != "f":
        raise _user_error(DTypeError(f"check_numerics: tensor must be a float tensor, got "
                                     f"{t.dtype}"))
    _check([(tensor, t)], lambda vals: _numerics_failure(message, vals[0]),
           lambda: is_finite(t), f"{message} : Tensor had Inf or NaN values")
    return identity(t)


@export("debugging.assert_all_finite")
def assert_all_finite(x: TensorInput, message: Any, name: str | None = None) -> Tensor:
    """`check_numerics(x, message)`: `x` after checking it has no NaN and no infinity.

    >>> tj.debugging.assert_all_finite(tj.constant([1., 2.]), "ok").numpy()
    array([1., 2.], dtype=float32)
    """
    return check_numerics(x, message)


def _tensor_text(v: np.ndarray) -> str:
    """An eager tensor's repr for a value: `tj.Tensor(False, shape=(), dtype=bool)`."""
    return f"tj.Tensor({v}, shape={v.shape}, dtype={v.dtype})"


@export("debugging.Assert")
def Assert(condition: TensorInput, data: Any, summarize: Any = None,  # noqa: N802
           name: str | None = None) -> None:
    """InvalidArgumentError unless the bool scalar `condition` is true, naming the first
    `summarize` (default 3) values of each tensor in the list `data` (strings as bytes),
    as TensorFlow's message does; inside a compiled function a traced condition is
    checked when the code runs. Returns None, as TensorFlow's does eagerly.

    >>> tj.debugging.Assert(tj.constant(True), [tj.constant([1., 2.])])
    """
    c = convert_to_tensor(condition)
    if c.dtype != np.bool_ or c.ndim != 0:
        raise _user_error(DTypeError(f"Assert: condition must be a bool scalar, got {c.dtype} "
                                     f"of shape {c.shape}"))
    if not isinstance(data, (list, tuple)):
        raise _user_error(TypeError("Assert: data must be a list of tensors or strings, got "
                                    f"{type(data).__name__}"))
    n = 3 if summarize is None else int(summarize)
    texts = [repr(it.encode()) if isinstance(it, str) else None for it in data]
    tensors = [convert_to_tensor(it) for it in data if not isinstance(it, str)]

    def explain(values: list[np.ndarray]) -> str:
        it = iter(values[1:])
        shown = []
        for text in texts:
            if text is None:
                iv = next(it)
                text = ", ".join(str(e) for e in iv.reshape(-1)[:n]) + (
                    ", ..." if iv.size > n else "")
            shown.append(text)
        return (f"Expected '{_tensor_text(values[0])}' to be true. Summarized data: "
                + "\n".join(shown))

    v = _value(condition, c)
    if v is None:
        st = tracing()
        if st is not None:
            run_time_check(st, c, "Assert: the condition is false",
                           explain=(explain, [c, *tensors]))
        return
    if not bool(v):
        values = [_value(it, t) for it, t in zip([i for i in data if not isinstance(i, str)],
                                                  tensors)]
        if any(x is None for x in values):
            raise _user_error(InvalidArgumentError("Assert: the condition is false"))
        raise _user_error(InvalidArgumentError(explain([v, *values])))  # type: ignore[list-item]
