"""`einsum`: Einstein summation for any TensorFlow/NumPy subscript string, planned into
existing primitives, so its gradient (to any order) and its native code come from theirs.

The plan, in the order it runs:

1. parse: one label per axis; `...` stands for the broadcast axes, which get labels of
   their own (right-aligned across operands, as NumPy broadcasts); with no `->` the output
   is the broadcast axes followed by the labels seen once, in alphabetical order (NumPy's
   implicit mode);
2. per operand: a label repeated in one operand takes the diagonal, as one strided `slice`
   of the operand with those axes flattened (O(n), no mask); a broadcast axis of size 1
   where the label is longer elsewhere is dropped (multiplying by it broadcasts); a label
   seen in no other operand and not in the output is summed right away;
3. operands combine pairwise (greedily, the pair with the smallest result first): labels
   in both that are still needed are batch axes, labels in both that are not are
   contracted. A contraction of float operands is one `matmul` on reshaped operands, with
   `transpose_a`/`transpose_b` instead of a transpose where the layout allows, so it reaches
   the GEMM kernels; without contracted labels (an outer or elementwise product), or when
   both free sides are empty (a dot product) or for integer dtypes, it is a broadcasting
   `mul` and a `reduce_sum`, which fuse into one loop;
4. the remaining labels not in the output are summed and the rest transposed to the output.

Invariants: after step 2 each operand's labels are distinct and each label has one size
among the operands that still hold it; every intermediate is a Tensor whose axes are its
label list in order.
"""
from __future__ import annotations

import string
from typing import Any

import numpy as np

from .convert import _operands, _user_error, bool_
from .elementwise import multiply
from .exports import export
from .ir.core import bind
from .reductions import reduce_sum
from .shapes import reshape, transpose
from .tensor import Tensor, TensorInput

LETTERS = frozenset(string.ascii_letters)
Term = tuple[Tensor, list[str]]


def _error(equation: str, shapes: list[tuple[int, ...]], msg: str) -> BaseException:
    shown = ", ".join(str(s) for s in shapes)
    return _user_error(ValueError(f"einsum {equation!r} of shapes {shown}: {msg}"))


def parse(equation: str, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """The label list of each operand and of the output of `equation` for operands of
    `ranks`. Broadcast axes (`...`) are labelled by characters that are not letters,
    `chr(0x100 + k)` for the k-th broadcast axis from the left.

    >>> parse("...ij,jk", [3, 2])
    ([['Ā', 'i', 'j'], ['j', 'k']], ['Ā', 'i', 'k'])
    """
    eq = "".join(equation.split())
    if eq.count("->") > 1:
        raise ValueError("more than one '->'")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"{len(terms)} input subscript(s) for {len(ranks)} operand(s)")
    n_ell = 0
    for term, rank in zip(terms, ranks):
        named = term.replace("...", "")
        if "." in named:
            raise ValueError(f"'.' is only allowed as '...', in {term!r}")
        if bad := [c for c in named if c not in LETTERS]:
            raise ValueError(f"subscripts must be letters, got {bad[0]!r} in {term!r}")
        if term.count("...") > 1:
            raise ValueError(f"more than one '...' in {term!r}")
        if "..." in term:
            n_ell = max(n_ell, rank - len(named))
            if rank < len(named):
                raise ValueError(f"{term!r} names {len(named)} axes of a rank-{rank} operand")
        elif len(term) != rank:
            raise ValueError(f"{term!r} names {len(term)} axes of a rank-{rank} operand")
    ell = [chr(0x100 + k) for k in range(n_ell)]

    def expand(term: str, rank: int) -> list[str]:
        head, dots, tail = term.partition("...")
        if not dots:
            return list(term)
        k = rank - len(head) - len(tail)
        return list(head) + ell[n_ell - k:] + list(tail)

    ins = [expand(t, r) for t, r in zip(terms, ranks)]
    if not arrow:
        counts: dict[str, int] = {}
        for labels in ins:
            for c in labels:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and c in LETTERS)
        return ins, out
    if "." in rhs.replace("...", "") or rhs.count("...") > 1:
        raise ValueError(f"bad output subscripts {rhs!r}")
    if bad := [c for c in rhs.replace("...", "") if c not in LETTERS]:
        raise ValueError(f"subscripts must be letters, got {bad[0]!r} in {rhs!r}")
    if n_ell and "..." not in rhs:
        raise ValueError(f"the operands have {n_ell} broadcast axes ('...') but the output "
                         f"subscripts {rhs!r} have no '...'")
    out = expand(rhs, len(rhs) - 3 + n_ell) if "..." in rhs else list(rhs)
    seen = {c for labels in ins for c in labels}
    for c in out:
        if out.count(c) > 1:
            raise ValueError(f"output subscript {c!r} appears more than once")
        if c not in seen:
            raise ValueError(f"output subscript {c!r} names no input axis")
    return ins, out


def _label_sizes(terms: list[Term], equation: str, shapes: list[tuple[int, ...]]
                 ) -> dict[str, int]:
    """The size of every label; a named label must have one size everywhere (TensorFlow),
    a broadcast axis may be 1 where it is longer elsewhere (NumPy broadcasting)."""
    sizes: dict[str, int] = {}
    for x, labels in terms:
        for c, d in zip(labels, x.shape):
            old = sizes.get(c)
            if old is None or old == d:
                sizes[c] = d
            elif c not in LETTERS and 1 in (old, d):
                sizes[c] = max(old, d)
            else:
                what = f"subscript {c!r}" if c in LETTERS else "broadcast axis ('...')"
                raise _error(equation, shapes, f"{what} has sizes {old} and {d}")
    return sizes


def _diagonal(x: Tensor, labels: list[str]) -> Term:
    """`x` with each repeated label taken along its diagonal (one axis, last)."""
    for c in dict.fromkeys(labels):
        pos = [i for i, lab in enumerate(labels) if lab == c]
        if len(pos) == 1:
            continue
        rest = [i for i in range(len(labels)) if labels[i] != c]
        n = x.shape[pos[0]]
        m = len(pos)
        x = transpose(x, rest + pos)
        lead = [x.shape[i] for i in range(len(rest))]
        flat = reshape(x, lead + [n ** m])
        stride = sum(n ** k for k in range(m))     # the step from (i,..,i) to (i+1,..,i+1)
        x = bind("slice", flat, starts=(0,) * flat.ndim, limits=tuple(flat.shape),
                 strides=(1,) * len(lead) + (stride,))
        labels = [labels[i] for i in rest] + [c]
    return x, labels


def _drop_broadcast(x: Tensor, labels: list[str], sizes: dict[str, int]) -> Term:
    """`x` without its broadcast axes of size 1 whose label is longer in another operand
    (multiplying by such an axis broadcasts it; the label lives on in the other)."""
    ones = [i for i, c in enumerate(labels) if x.shape[i] == 1 and sizes[c] != 1]
    if not ones:
        return x, labels
    return (reshape(x, [d for i, d in enumerate(x.shape) if i not in ones]),
            [c for i, c in enumerate(labels) if i not in ones])


def _sum_out(x: Tensor, labels: list[str], drop: set[str]) -> Term:
    axes = [i for i, c in enumerate(labels) if c in drop]
    if not axes:
        return x, labels
    return reduce_sum(x, axes), [c for c in labels if c not in drop]


def _arrange(x: Tensor, labels: list[str], order: list[str]) -> Tensor:
    """`x` (axes `labels`) with its axes in `order` (a permutation of `labels`)."""
    return transpose(x, [labels.index(c) for c in order]) if order != labels else x


def _size(sizes: dict[str, int], labels: list[str]) -> int:
    return int(np.prod([sizes[c] for c in labels], dtype=np.int64))


def _product(a: Term, b: Term, keep: set[str], sizes: dict[str, int]) -> Term:
    """The product of two terms summed over their shared labels not in `keep`."""
    (x, la), (y, lb) = a, b
    batch = [c for c in la if c in lb and c in keep]
    contr = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    if contr and x.dtype.kind == "f" and (fa or fb):
        return _matmul(a, b, batch, contr, fa, fb, sizes)
    # broadcasting product over la + fb, then the sum over the contracted labels
    order = la + fb
    yt = _arrange(y, lb, [c for c in order if c in lb])
    ys = reshape(yt, [sizes[c] if c in lb else 1 for c in order])
    xs = reshape(x, list(x.shape) + [1] * len(fb))
    return _sum_out(multiply(xs, ys), order, set(contr))


def _layout(labels: list[str], batch: list[str], free: list[str], contr: list[str],
            contr_last: bool) -> bool | None:
    """Whether `labels` already is batch + free + contr (False: no transpose flag), or
    batch + contr + free (True), for the given group orders; None: neither."""
    if labels == batch + (free + contr if contr_last else contr + free):
        return False
    if labels == batch + (contr + free if contr_last else free + contr):
        return True
    return None


def _matmul(a: Term, b: Term, batch: list[str], contr: list[str], fa: list[str],
            fb: list[str], sizes: dict[str, int]) -> Term:
    """`a` times `b` as one matmul of shape batch + (M, K) @ batch + (K, N)."""
    (x, la), (y, lb) = a, b
    best: tuple[int, list[str], list[str], bool | None, bool | None] | None = None
    for bo in ([c for c in la if c in batch], [c for c in lb if c in batch]):
        for co in ([c for c in la if c in contr], [c for c in lb if c in contr]):
            ta = _layout(la, bo, fa, co, contr_last=True)
            tb = _layout(lb, bo, fb, co, contr_last=False)
            cost = (ta is None) + (tb is None)
            if best is None or cost < best[0]:
                best = (cost, bo, co, ta, tb)
    assert best is not None
    _, bo, co, ta, tb = best
    if ta is None:
        x, ta = _arrange(x, la, bo + fa + co), False
    if tb is None:
        y, tb = _arrange(y, lb, bo + co + fb), False
    bshape = [sizes[c] for c in bo]
    m, k, n = _size(sizes, fa), _size(sizes, co), _size(sizes, fb)
    x = reshape(x, bshape + ([k, m] if ta else [m, k]))
    y = reshape(y, bshape + ([n, k] if tb else [k, n]))
    out = bind("matmul", x, y, transpose_a=ta, transpose_b=tb)
    labels = bo + fa + fb
    return reshape(out, [sizes[c] for c in labels]), labels


def _pick_pair(terms: list[Term], out: list[str], sizes: dict[str, int]) -> tuple[int, int]:
    """The pair whose product (over the labels still needed) is smallest; ties: leftmost."""
    best: tuple[int, int, int] | None = None
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            keep = _keep(terms, out, (i, j))
            union = list(dict.fromkeys(terms[i][1] + terms[j][1]))
            size = _size(sizes, [c for c in union if c in keep])
            if best is None or size < best[0]:
                best = (size, i, j)
    assert best is not None
    return best[1], best[2]


def _keep(terms: list[Term], out: list[str], skip: tuple[int, ...]) -> set[str]:
    """The labels of the output and of every term not in `skip`."""
    keep = set(out)
    for k, (_, labels) in enumerate(terms):
        if k not in skip:
            keep.update(labels)
    return keep


@export("einsum", "linalg.einsum")
def einsum(equation: str, *inputs: TensorInput, **kwargs: Any) -> Tensor:
    """Einstein summation: multiply the operands along their labelled axes and sum the
    labels absent from the output. Labels are letters; `...` stands for broadcast axes; a
    label repeated in one operand takes its diagonal; with no `->` the output is `...`
    followed by the labels seen once, in alphabetical order (NumPy's rule). Contractions run
    as `matmul` (the GEMM kernels), the rest as fused loops; the gradient is theirs.

    >>> a, b = tj.constant([[1., 2.], [3., 4.]]), tj.constant([[1., 0.], [0., 1.]])
    >>> tj.einsum("ij,jk->ik", a, b).numpy()
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    >>> float(tj.einsum("ii", a)), tj.einsum("ij->ji", a).numpy()[0]
    (5.0, array([1., 3.], dtype=float32))
    """
    unknown = set(kwargs) - {"name", "optimize"}
    if unknown:
        raise _user_error(TypeError(f"einsum: unexpected keyword argument(s) {sorted(unknown)}"))
    if not isinstance(equation, str):
        raise _user_error(TypeError(f"einsum: the equation must be a string, got "
                                    f"{type(equation).__name__}"))
    if not inputs:
        raise _user_error(ValueError("einsum needs at least one operand"))
    xs = _operands("einsum", *inputs)
    shapes = [tuple(x.shape) for x in xs]
    if xs[0].dtype == bool_:
        raise _error(equation, shapes, "needs numeric operands, got bool")
    try:
        ins, out = parse(equation, [x.ndim for x in xs])
    except ValueError as e:
        raise _error(equation, shapes, str(e)) from None
    terms: list[Term] = [(x, labels) for x, labels in zip(xs, ins)]
    sizes = _label_sizes(terms, equation, shapes)
    terms = [_drop_broadcast(*_diagonal(x, labels), sizes) for x, labels in terms]
    terms = [_sum_out(x, labels, set(labels) - _keep(terms, out, (k,)))
             for k, (x, labels) in enumerate(terms)]
    while len(terms) > 1:
        i, j = _pick_pair(terms, out, sizes)
        prod = _product(terms[i], terms[j], _keep(terms, out, (i, j)), sizes)
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [prod]
    x, labels = terms[0]
    x, labels = _sum_out(x, labels, set(labels) - set(out))
    return _arrange(x, labels, out)
