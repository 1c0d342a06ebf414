"""TensorFlow's explicit ordering API, for code written for graphs: `control_dependencies`,
`group`, `no_op`, `identity_n`.

tracejit runs every operation in program order, eagerly and in compiled code (a Variable
update happens where it is written; nothing with an effect is pruned), so these order
nothing: `control_dependencies` is a context that changes nothing, `group` and `no_op`
return None (as TensorFlow's do eagerly), `identity_n` returns its inputs as tensors.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from .convert import convert_to_tensor
from .errors import at_user_line
from .exports import export
from .tensor import Tensor, TensorInput


@export("control_dependencies")
@contextlib.contextmanager
def control_dependencies(control_inputs: Iterable[Any] | None) -> Iterator[None]:
    """A context in which operations run after `control_inputs`, as TensorFlow's: in
    tracejit everything runs in program order already, so it changes nothing.
    `control_inputs` is None or an iterable (of tensors, operations or None).

    >>> x = tj.Variable(1.)
    >>> with tj.control_dependencies([x.assign(2.)]):
    ...     y = x * 3.
    >>> y.numpy()
    array(6., dtype=float32)
    """
    if control_inputs is not None:
        try:
            iter(control_inputs)
        except TypeError:
            raise at_user_line(TypeError(
                f"control_dependencies: control_inputs must be None or an iterable, got "
                f"{type(control_inputs).__name__}")) from None
    yield


@export("group")
def group(*inputs: Any, **kwargs: Any) -> None:
    """TensorFlow's grouping of operations to run together: everything has run already, so
    it returns None (as TensorFlow's does eagerly); only `name` is accepted as a keyword.

    >>> tj.group(tj.constant(1.), tj.constant(2.)) is None
    True
    """
    extra = set(kwargs) - {"name"}
    if extra:
        raise at_user_line(TypeError(f"group: unexpected keyword argument(s) "
                                     f"{', '.join(sorted(extra))}"))


@export("no_op")
def no_op(name: str | None = None) -> None:
    """An operation that does nothing; returns None, as TensorFlow's does eagerly.

    >>> tj.no_op() is None
    True
    """


@export("identity_n")
def identity_n(input: list[TensorInput], name: str | None = None) -> list[Tensor]:  # noqa: A002
    """Each of `input` as a tensor (TensorFlow's `identity` of several tensors at once);
    gradients pass through.

    >>> [t.numpy() for t in tj.identity_n([1., [2, 3]])]
    [array(1., dtype=float32), array([2, 3], dtype=int32)]
    """
    from .ops import identity
    return [identity(convert_to_tensor(t)) for t in input]
