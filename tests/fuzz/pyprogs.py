"""Random *Python* programs for `tj.compile`, each called several times and checked call by
call against eager execution (`tj.config.run_functions_eagerly(True)`).

`python_case()` draws one program as the source text of a self-contained module (so a
failure is saved as a `.py` file that can be read, edited and replayed as it is):

- `make(world, compile)` defines the function (or, in a share of programs, a method of a
  plain dataclass, so `self` is an unhashable static argument) with `@compile`;
- its parameters: tensors (passed as NumPy arrays or `tj.constant`s), static arguments of
  every kind (Python ints, floats with -0.0, NaN and infinities, bools, None, strings,
  tuples, lists, dicts, NumPy scalars, enums, frozen dataclasses, plain unhashable
  dataclasses, plain objects with attributes, objects with `__eq__` but no `__hash__`) and
  Variables, in a random order, some keyword-only;
- its body reads Variables (captured by the closure, or passed as arguments, sometimes the
  same Variable both ways), assigns them (`assign`, `assign_add`, `assign_sub`, in program
  order, read again afterwards), computes with tensors and static values (arithmetic,
  vector math, reductions, `where`, Python control flow on static values, a
  `GradientTape` inside), and returns tensors and Variables directly or inside
  tuples, lists and dicts;
- `call(f, world, k)` is the k-th call: every static object is built afresh in the call
  expression (so it dies right after the call, and a cache keyed by `id()` would see its
  address reused), values repeat or change from call to call, keyword arguments come in a
  different order each time, and Variable parameters get different Variables;
- `outside(world, k)` changes Variables from outside before call k.

`check_python(source, report)` runs the program in two worlds of fresh Variables, one
compiled and one eager, and compares after every call the results (structure, dtypes,
values) and every Variable's value. Results must be bit-identical; if not, the difference
is judged like `checks.compare` does, against noisy eager runs (`NoisyEager`: the same
per-operation noise as `checks.NoisyInterpreter`, which bounds vector math, fused
multiply-adds and reordered sums), with the sign of a zero required to match wherever no
noisy run changes it. An exception must be of the same type in both modes.
"""
from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tracejit as tj
from hypothesis import strategies as st
from tracejit.context import EagerInterpreter, active_tapes
from tracejit.ir import interpreting
from tracejit.trees import flatten
from tracejit.tensor import Tensor
from tracejit.variable import Variable

from tests.fuzz import checks
from tests.fuzz.checks import (K_ARITH, K_MATH, MATH, ARITH, NOISY_INPUTS, N_CONFIRM, N_NOISY,
                               UNDERFLOW, NoisyInterpreter, Report, compare)

# ------------------------------------------------------------------------- drawing

#: Numbers as source expressions (zeros of both signs often: they share a hash and `==`).
NUMBERS = ["0", "1", "2", "-3", "0.0", "-0.0", "0.0", "-0.0", "1.5", "-2.25", "0.5",
           "float('nan')", "nan", "inf", "-inf", "True", "False", "np.float64(-0.0)",
           "np.float64(0.0)", "np.float64(0.5)", "np.float32(1.5)", "np.float32(-0.0)",
           "np.int64(3)", "1e300", "5e-324"]
#: Fields of static objects: mostly ordinary numbers, so a stale value shows in the result.
FIELD_NUMBERS = ["1", "2", "-3", "0.0", "-0.0", "1.5", "-2.25", "0.5", "0.75", "4.0", "-1.25",
                 "np.float64(-0.0)", "np.float64(0.25)", "np.float32(1.5)", "inf", "True"]
COUNTS = ["0", "1", "2", "3", "np.int64(2)", "True"]
FLAGS = ["True", "False", "np.bool_(True)", "np.bool_(False)", "0", "1"]
MODES = ['"relu"', '"tanh"', '"neg"', '"negate"', '"id"', '""']
ENUMS = ["Mode.A", "Mode.B", "Mode.C"]
#: Static parameter kinds (the ones whose keys can collide listed twice: drawn more often).
KINDS = ("num", "num", "count", "flag", "opt", "mode", "tuple", "list", "dict", "frozen",
         "frozen", "plain", "plain", "obj", "eqobj", "eqobj", "enum")
CONTAINERS = {"tuple": "({a}, ({b},))", "list": "[{a}, {b}]", "dict": '{{"a": {a}, "b": {b}}}',
              "frozen": "Frozen({a}, {b})", "plain": "Plain({a}, {b})", "obj": "Obj({a}, {b})",
              "eqobj": "EqObj({a}, b={b})"}
FIELDS = {"tuple": ("{s}[0]", "{s}[1][0]"), "list": ("{s}[0]", "{s}[1]"),
          "dict": ('{s}["a"]', '{s}["b"]')}
SHAPES = [(), (1,), (3,), (5,), (2, 3), (4, 1), (103,), (130,)]

PRELUDE = '''\
import dataclasses
import enum

import numpy as np
import tracejit as tj

nan = float("nan")
inf = float("inf")


def _a(values, dtype, shape):
    return np.array(values, dtype=dtype).reshape(shape)


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: object
    b: object


@dataclasses.dataclass
class Plain:
    a: object
    b: object


class Obj:
    def __init__(self, a, b):
        self.a = a
        self.b = b


class EqObj:
    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __eq__(self, other):
        return isinstance(other, EqObj) and (self.a, self.b) == (other.a, other.b)


class Mode(enum.Enum):
    A = 0.5
    B = 2
    C = -3
'''


def _array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, special: bool
           ) -> str:
    a = np.asarray(rng.standard_normal(shape) * rng.choice([1.0, 3.0]))
    if special and a.size:
        pool = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30])
        idx = rng.random(shape) < 0.15
        a[idx] = pool[rng.integers(0, len(pool), int(idx.sum()))]
    a = a.astype(dtype)
    vals = ", ".join(repr(float(v)) for v in a.ravel())
    return f'_a([{vals}], "{dtype}", {shape!r})'


class _Gen:
    """The state of one program being drawn."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]):
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.dtype = self.pick(["float32", "float64"])
        self.shape: tuple[int, ...] = self.pick(SHAPES)
        self.special = self.chance(0.5)
        self.lines: list[str] = []
        self.yshape = self.shape
        self.saved: list[str] = []

    def pick(self, xs: Sequence[Any]) -> Any:
        return xs[int(self.rng.integers(len(xs)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def shuffled(self, xs: Sequence[Any]) -> list[Any]:
        return [xs[i] for i in self.rng.permutation(len(xs))]

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def number_use(self, e: str, reveal: bool = False) -> None:
        """A statement that makes `y` depend on the number `e` (its sign of zero too, for
        sure if `reveal`)."""
        if reveal:
            self.emit(self.pick([f"y = y / {e}", f"y = 1.0 / (y * {e})", f"y = y * {e}"]))
            return
        self.emit(self.pick([f"y = y * {e}", f"y = y + {e}", f"y = y / {e}", f"y = y / {e}",
                             f"y = 1.0 / (y * {e})", f"y = tj.maximum(y, {e})",
                             f"y = {e} - y", f"y = tj.where(y > {e}, y, -y)"]))


def _static_value(g: _Gen, kind: str) -> str:
    """A fresh value of a static parameter of `kind`, as an expression."""
    if kind == "num":
        return g.pick(NUMBERS)
    if kind == "count":
        return g.pick(COUNTS)
    if kind == "flag":
        return g.pick(FLAGS)
    if kind == "opt":
        return g.pick(["None", "None", *NUMBERS])
    if kind == "mode":
        return g.pick(MODES)
    if kind == "enum":
        return g.pick(ENUMS)
    return CONTAINERS[kind].format(a=g.pick(FIELD_NUMBERS), b=g.pick(FIELD_NUMBERS))


EQUAL_PAIRS = [("0.0", "-0.0"), ("np.float64(0.0)", "np.float64(-0.0)"), ("0", "-0.0"),
               ("1", "1.0"), ("True", "1"), ("False", "-0.0"), ("1.5", "np.float32(1.5)")]


def _value_pool(g: _Gen, kind: str) -> list[str]:
    """Two or three values for a static parameter of `kind`, as expressions."""
    if kind in ("num", "opt") and g.chance(0.5):
        return list(g.pick(EQUAL_PAIRS))
    if kind == "opt":
        return ["None", g.pick(NUMBERS)]
    if kind in CONTAINERS and g.chance(0.3):
        a, b = g.pick(EQUAL_PAIRS), g.pick(FIELD_NUMBERS)
        return [CONTAINERS[kind].format(a=x, b=b) for x in a]
    return [_static_value(g, kind) for _ in range(g.integer(2, 3))]


def _collide_pool(g: _Gen, kind: str) -> list[str]:
    """Two values for the parameter the program focuses on: ones a wrong cache key would
    confuse (zeros of both signs, two unhashable objects that may share an address)."""
    zeros = g.pick([("0.0", "-0.0"), ("-0.0", "0.0"), ("np.float64(0.0)", "np.float64(-0.0)")])
    if kind in ("num", "opt"):
        return list(zeros)
    if kind in ("tuple", "list", "dict", "frozen"):
        b = g.pick(FIELD_NUMBERS)
        return [CONTAINERS[kind].format(a=z, b=b) for z in zeros]
    if kind in ("plain", "obj", "eqobj"):
        a1, a2 = g.shuffled(["1.5", "-2.25", "4.0", "0.5", "-3"])[:2]
        b = g.pick(FIELD_NUMBERS)
        return [CONTAINERS[kind].format(a=a1, b=b), CONTAINERS[kind].format(a=a2, b=b)]
    return g.shuffled({"count": ["1", "3"], "flag": ["True", "False"],
                       "mode": ['"relu"', '"neg"'], "enum": ["Mode.A", "Mode.C"]}[kind])


def _static_use(g: _Gen, kind: str, s: str, reveal: bool = False) -> None:
    if kind == "num":
        g.number_use(s, reveal)
    elif kind == "count":
        if g.chance(0.5):
            g.emit(f"for _ in range({s}):")
            g.emit("    y = y * 0.5 + 1.0")
        else:   # a static trip count of a compiled loop
            g.emit(f"y = tj.fori_loop(0, {s}, lambda i, u: u * 0.5 + 1.0, y)")
    elif kind == "flag":
        g.emit(f"y = y + 1.0 if {s} else y * -2.0")
    elif kind == "opt":
        g.emit(f"if {s} is not None:")
        g.emit(f"    y = y / {s} + 1.0")
    elif kind == "mode":
        g.emit(f'if {s} == "relu":\n    y = tj.nn.relu(y)\nelif {s} == "tanh":\n'
               f'    y = tj.tanh(y)\nelif {s}.startswith("neg"):\n    y = -y\nelse:\n'
               f'    y = y * 2.0')
    elif kind == "enum":
        if g.chance(0.5):
            g.number_use(f"{s}.value")
        else:
            g.emit(f"if {s} is Mode.A:\n    y = y + 1.0\nelif {s} == Mode.B:\n"
                   f"    y = tj.tanh(y)\nelse:\n    y = y * {s}.value")
    else:
        fa, fb = FIELDS.get(kind, ("{s}.a", "{s}.b"))
        if reveal:
            g.number_use(fa.format(s=s), reveal)
        for f in g.shuffled([fa, fb])[:g.integer(0 if reveal else 1, 2)]:
            g.number_use(f.format(s=s))


def _tensor_op(g: _Gen, xs: list[str]) -> None:
    ops = ["y = tj.tanh(y)", "y = tj.sin(y) * 2.0", "y = tj.exp(tj.tanh(y))",
           "y = tj.abs(y)", "y = tj.sqrt(tj.abs(y))", "y = y * y", "y = tj.nn.relu(y)",
           "y = tj.where(y > 0.0, y, y * 0.25)", "y = y - tj.reduce_mean(y)",
           "y = tj.nn.sigmoid(y)", "y = tj.reduce_sum(y)", "y = tj.reduce_max(y)",
           *[f"y = y + {x}" for x in xs], *[f"y = y * {x}" for x in xs], *CONTROL_OPS]
    op = g.pick(ops)
    g.emit(op)
    if "reduce_sum(y)" in op or "reduce_max(y)" in op:
        g.yshape = ()
    elif "+ x" in op or "* x" in op:
        g.yshape = g.shape


#: Control flow on `y` (keeping its shape): branches, fixed and data-dependent loops.
CONTROL_OPS = [
    "y = tj.cond(tj.reduce_sum(y) > 0.0, lambda: y * 2.0, lambda: tj.tanh(y) - 1.0)",
    "y = tj.fori_loop(0, 3, lambda i, u: u * 0.5 + tj.cast(i, u.dtype), y)",
    "y = tj.while_loop(lambda u, n: tj.reduce_sum(u) < 10.0, lambda u, n: (u + 1.5, n + 1), "
    "(y, 0), maximum_iterations=4)[0]",
    "y = tj.switch_case(tj.cast(tj.reduce_sum(y) > 1.0, tj.int32) + 1, "
    "[lambda: y, lambda: -y, lambda: y * y])",
]


def _value_of_shape(g: _Gen, v: str, vshape: tuple[int, ...]) -> str:
    """An expression of `v`'s shape (and dtype) computed from `y` and `v`."""
    options = [f"{v} * 0.5 + 1.0", "1.5", "-0.0"]
    if g.yshape == vshape:
        options += ["y", "y * 0.5", "tj.tanh(y)"]
    elif vshape == ():
        options += ["tj.reduce_sum(y) * 0.25", "tj.reduce_mean(y)"]
    else:
        options += [f"{v} * 0.5 + y"]
    return g.pick(options)


def _variable_op(g: _Gen, v: str, vshape: tuple[int, ...]) -> None:
    what = g.pick(["read", "read", "assign", "assign_add", "assign_sub", "assign_then_use"])
    if what == "read":
        reads = [f"y = y + {v}", f"y = y * {v}", f"y = tj.maximum(y, {v}.value())",
                 f"y = y - {v}.read_value()"]
        if g.yshape == vshape or not vshape:   # read inside a loop body and a branch
            reads += [f"y = tj.fori_loop(0, 2, lambda i, u: u * 0.5 + {v}, y)",
                      f"y = tj.cond(tj.reduce_sum(y) > 0.0, lambda: y * {v}, lambda: y)"]
        g.emit(g.pick(reads))
        g.yshape = g.shape if vshape or g.yshape else ()
    elif what == "assign_then_use":
        g.emit(f"y = y + {v}.assign_add({_value_of_shape(g, v, vshape)})")
        g.yshape = g.shape if vshape or g.yshape else ()
    else:
        g.emit(f"{v}.{what}({_value_of_shape(g, v, vshape)})")


def _gradient(g: _Gen, vars_: list[tuple[str, tuple[int, ...]]]) -> None:
    """A tape inside the function: the gradient of a smooth function of `y` (and of a
    Variable), added to `y`."""
    g.emit("with tj.GradientTape() as tape:")
    g.emit("    tape.watch(y)")
    if vars_ and g.chance(0.5):
        v, _ = g.pick(vars_)
        g.emit(f"    w = tj.reduce_sum(tj.tanh(y) * {v})")
        g.emit(f"dy, dv = tape.gradient(w, [y, {v}])")
        g.emit("y = y + dy + tj.reduce_sum(dv)")
    else:
        g.emit(g.pick(["    w = tj.reduce_sum(tj.sin(y) * y)",
                       "    w = tj.reduce_sum(tj.fori_loop(0, 2, lambda i, u: tj.sin(u) * u, y))",
                       "    w = tj.reduce_sum(tj.cond(tj.reduce_sum(y) > 0.0, lambda: y * y, "
                       "lambda: tj.sin(y)))"]))
        g.emit("y = y + tape.gradient(w, y)")


@st.composite
def python_case(draw: Callable[[st.SearchStrategy[Any]], Any], max_calls: int = 7) -> str:
    """The source text of one random program and its calls (module docstring)."""
    g = _Gen(draw)
    dt, shape = g.dtype, g.shape
    method = g.chance(0.2)
    self_kind = g.pick(["plain", "frozen", "obj", "eqobj"]) if method else None
    n_x = g.integer(1, 2)
    statics = [(f"s{i}", g.pick(KINDS)) for i in range(g.integer(1, 4))]
    # Variables: captured ones (v0, v1, ...) and parameters (p0, ...); each has a shape.
    n_cap = g.integer(0, 2)
    n_par = g.integer(0 if n_cap else 1, 2)
    vshape = {f"v{i}": g.pick([shape, ()]) for i in range(n_cap)}
    vshape.update({f"p{i}": g.pick([shape, ()]) for i in range(n_par)})
    params = [f"x{i}" for i in range(1, n_x)] + [s for s, _ in statics] + \
        [v for v in vshape if v.startswith("p")]
    params = ["x0"] + list(g.shuffled(params))
    n_kwonly = g.integer(0, len(params) - 1)
    n_pos = len(params) - n_kwonly

    # The parameter the calls alternate (see the configurations below).
    focus = g.pick([s for s, _ in statics] + (["self"] if self_kind else []) +
                   [v for v in vshape if v.startswith("p")])

    # The body.
    g.emit("y = x0")
    # Some Variables are only returned (or only passed in), never read in the body.
    steps = [("static", s, k) for s, k in statics]
    steps += [("var", v, None) for v in vshape if g.chance(0.75)]
    steps += [("tensor", None, None)] * g.integer(1, 4)
    steps += [("var", v, None) for v in vshape if g.chance(0.6)]
    if self_kind:
        steps += [("static", "self", self_kind)]
    steps = list(g.shuffled(steps))
    if g.chance(0.15):
        steps.insert(g.integer(0, len(steps)), ("grad", None, None))
    for kind, name, sk in steps:
        if kind == "static":
            _static_use(g, sk, name, reveal=name == focus)
        elif kind == "var":
            _variable_op(g, name, vshape[name])
        elif kind == "tensor":
            _tensor_op(g, [f"x{i}" for i in range(1, n_x)])
        else:
            _gradient(g, [(v, s) for v, s in vshape.items()])
        if g.chance(0.2):
            g.saved.append(f"z{len(g.saved)}")
            g.emit(f"{g.saved[-1]} = y")
    leaves = ["y", *g.saved, *vshape, *vshape]
    if not g.chance(0.15):
        leaves = [x for x in leaves if x != "x0"]
    pick = lambda: g.pick(leaves)  # noqa: E731
    ret = g.pick(["{0}", "{0}, {1}", '{{"y": {0}, "v": {1}}}', "[{0}, ({1}, {{\"w\": {2}}})]",
                  '{{"b": {1}, "a": {0}}}', "({1},)"])
    g.emit("return " + ret.format(pick(), pick(), pick()))

    # The module: world, function, calls.
    out = [PRELUDE, "", "def new_world():", "    return {"]
    var_names = list(vshape)
    for v in var_names:
        for suffix in ("", "_alt"):
            out.append(f'        "{v}{suffix}": tj.Variable('
                       f'{_array(g.rng, vshape[v], dt, g.special)}, name="{v}{suffix}"),')
    out.append("    }")
    out += ["", "", "def make(world, compile):"]
    out += [f'    {v} = world["{v}"]' for v in var_names if v.startswith("v")]
    sig = ", ".join(params[:n_pos] + (["*"] + params[n_pos:] if n_kwonly else []))
    body = "\n".join("        " + ln for text in g.lines for ln in text.split("\n"))
    if self_kind:
        deco = {"plain": "@dataclasses.dataclass", "frozen": "@dataclasses.dataclass(frozen="
                "True)"}.get(self_kind)
        base = {"obj": "(Obj)", "eqobj": "(EqObj)"}.get(self_kind, "")
        out += [f"    {deco}" if deco else "", f"    class Model{base}:"]
        if deco:
            out += ["        a: object", "        b: object"]
        out += ["", "        @compile", f"        def run(self, {sig}):",
                "    " + body.replace("\n", "\n    "), "", "    return Model"]
    else:
        out += ["    @compile", f"    def f({sig}):", body, "", "    return f"]
    n_calls = g.integer(3, max_calls)
    out += ["", "", f"N_CALLS = {n_calls}", "", "", "def call(f, world, k):"]
    pools = {v: [f'world["{v}"]', f'world["{v}_alt"]'] +
             [f'world["{c}"]' for c in vshape if c.startswith("v") and vshape[c] == vshape[v]]
             for v in vshape}
    # A few argument configurations, each differing from the first in one static value (or
    # Variable, or `self`): calls cycle through them, so a configuration's trace is reused
    # by a later call with new objects, and two configurations whose keys may collide
    # (0.0 and -0.0, two objects at one address) alternate. Each static parameter's values
    # come from a small pool, sometimes two values that compare equal.
    choices = {s: _collide_pool(g, kind) if s == focus else _value_pool(g, kind)
               for s, kind in statics}
    choices.update({p: pools[p] for p in params if p.startswith("p")})
    if self_kind:
        choices["self"] = [x.split("(", 1)[1][:-1] for x in _collide_pool(g, self_kind)] \
            if focus == "self" else [f"{g.pick(FIELD_NUMBERS)}, {g.pick(FIELD_NUMBERS)}"
                                     for _ in range(3)]
    first = {p: g.pick(vs) for p, vs in choices.items()}
    second = dict(first)
    second[focus] = g.pick([v for v in choices[focus] if v != first[focus]] or
                           choices[focus])
    configs = [first, second]
    if g.chance(0.3):
        other = dict(g.pick(configs))
        p = g.pick(list(choices))
        other[p] = g.pick(choices[p])
        configs.append(other)
    for k in range(n_calls):
        config = g.pick(configs)
        args: dict[str, str] = {}
        for p in params:
            if p.startswith("x"):
                a = _array(g.rng, shape, dt, g.special)
                args[p] = f"tj.constant({a})" if g.chance(0.3) else a
            else:
                args[p] = config[p]
        cut = g.integer(1, n_pos)
        kw = list(g.shuffled(params[cut:]))
        call_args = ", ".join([args[p] for p in params[:cut]] + [f"{p}={args[p]}" for p in kw])
        target = "f"
        if self_kind:
            target = f"f({config['self']}).run"
        out += [f"    if k == {k}:", f"        return {target}({call_args})"]
    out += ["", "", "def outside(world, k):"]
    changes = []
    for k in range(1, n_calls):
        for v in var_names:
            if g.chance(0.4):
                what = g.pick(["assign", "assign_add"])
                changes += [f"    if k == {k}:", f'        world["{v}"].{what}('
                            f"{_array(g.rng, vshape[v], dt, g.special and what == 'assign')})"]
    out += changes or ["    pass"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------- checking


class NoisyEager(EagerInterpreter):
    """Eager execution with `checks.NoisyInterpreter`'s noise: every inexact float result
    (and, where no tape is recording, the inputs of sums, products and matmuls) is perturbed
    by a few ulp. Results are perturbed in place, so tapes still link them."""

    def __init__(self, rng: np.random.Generator):
        self.noise = NoisyInterpreter(rng)

    def apply(self, prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
        if prim.name in NOISY_INPUTS and not active_tapes.get():
            args = [Tensor._wrap(np.asarray(self.noise.jitter(a._data, K_ARITH)))
                    if isinstance(a, Tensor) and a._data is not None else a for a in args]
        out = super().apply(prim, args, params)
        k = K_MATH if prim.name in MATH else K_ARITH if prim.name in ARITH else 0.0
        if k:
            for t in out if isinstance(out, tuple) else (out,):
                t._data = np.asarray(self.noise.jitter(t._data, k, prim.name in UNDERFLOW))
        return out


Outcome = tuple[Any, ...]   # ("ok", tree, leaves) or ("raise", type name, message)


def _leaf(x: Any) -> Any:
    if isinstance(x, (Variable, Tensor)):
        return np.array(x.numpy(), copy=True)
    if isinstance(x, np.ndarray):
        return np.array(x, copy=True)
    return ("python", type(x).__name__, repr(x))


def _outcome(thunk: Callable[[], Any], eager: bool, interp: Any = None) -> Outcome:
    """Run `thunk` compiled or eagerly (under `interp`) and snapshot what it returned."""
    prev = tj.config.functions_run_eagerly()
    tj.config.run_functions_eagerly(eager)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if interp is None:
                out = thunk()
            else:
                with interpreting(interp):
                    out = thunk()
            leaves, tree = flatten(out)
            return ("ok", tree, [_leaf(x) for x in leaves])
    except Exception as e:  # noqa: BLE001  (compared with the other mode's)
        return ("raise", type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")
    finally:
        tj.config.run_functions_eagerly(prev)


def _state(world: dict[str, Variable]) -> list[np.ndarray]:
    return [np.array(world[n].numpy(), copy=True) for n in sorted(world)]


def _zero_signs(got: np.ndarray, ref: np.ndarray, noisy: Sequence[np.ndarray]) -> str | None:
    """Where the reference and every noisy run give a zero of one sign, `got` must too."""
    if ref.dtype.kind != "f" or ref.size == 0:
        return None
    runs = np.stack([ref] + list(noisy))
    signs = np.signbit(runs)
    fixed = (runs == 0).all(axis=0) & (signs.all(axis=0) | ~signs.any(axis=0))
    bad = fixed & ~((got == 0) & (np.signbit(got) == np.signbit(ref)))
    if not bad.any():
        return None
    j = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {bad.size} elements differ; first at {j}: got {got[j]!r}, "
            f"reference {ref[j]!r} (the sign of zero)")


def _judge(got: Outcome, gstate: list[np.ndarray], ref: Outcome, rstate: list[np.ndarray],
           noisy: list[tuple[Outcome, list[np.ndarray]]] | None, names: list[str]
           ) -> str | None:
    """None if `got` matches `ref`: bit for bit when `noisy` is None, else within the span
    of the noisy runs (`checks.compare`) with zero signs kept."""
    if got[1] != ref[1] or len(got[2]) != len(ref[2]):
        return f"the result's structure differs: {got[1]} vs {ref[1]}"
    runs = [n for n in noisy or [] if n[0][1] == ref[1] and len(n[0][2]) == len(ref[2])]
    pairs = [(f"result leaf {i}", g, r, [n[0][2][i] for n in runs])
             for i, (g, r) in enumerate(zip(got[2], ref[2]))]
    pairs += [(f"Variable {names[i]} after the call", g, r, [n[1][i] for n in runs])
              for i, (g, r) in enumerate(zip(gstate, rstate))]
    for what, g, r, ns in pairs:
        if isinstance(r, tuple) or isinstance(g, tuple):
            err = None if g == r else f"got {g}, expected {r}"
        elif noisy is None:
            err = None if checks._same(g, r) else "not bit-identical"
        elif g.shape != r.shape or g.dtype != r.dtype:
            err = f"got {g.dtype}{list(g.shape)}, expected {r.dtype}{list(r.shape)}"
        else:
            err = compare(g, r, ns) or _zero_signs(g, r, ns)
        if err:
            return f"{what}: {err}"
    return None


def _noisy_runs(ns: dict[str, Any], before: list[np.ndarray], k: int, n: int, seed: int
                ) -> list[tuple[Outcome, list[np.ndarray]]]:
    """`n` noisy eager runs of call `k` from the Variable values `before`."""
    runs = []
    for r in range(n):
        w = ns["new_world"]()
        for name, value in zip(sorted(w), before):
            w[name].assign(value)
        f = ns["make"](w, tj.compile)
        o = _outcome(lambda: ns["call"](f, w, k), True,  # noqa: B023  (called in this iteration)
                     NoisyEager(np.random.default_rng([seed, k, r])))
        if o[0] == "ok":
            runs.append((o, _state(w)))
    return runs


def check_python(source: str, report: Report, seed: int = 0,
                 compile: Callable[..., Any] | None = None) -> None:
    """Run the program `source` (drawn by `python_case`) compiled (with `compile`, default
    `tj.compile`) and eagerly, call by call, and compare results and Variables (module
    docstring)."""
    report.programs += 1
    report.py_programs += 1
    # A registered module: dataclasses look their module up in `sys.modules`.
    module = types.ModuleType("tracejit_fuzz_program")
    sys.modules[module.__name__] = module
    try:
        _check_module(source, module.__dict__, report, seed, compile or tj.compile)
    finally:
        del sys.modules[module.__name__]


def _check_module(source: str, ns: dict[str, Any], report: Report, seed: int,
                  compile_fn: Callable[..., Any]) -> None:
    try:
        exec(compile(source, "<fuzz program>", "exec"), ns)  # noqa: S102  (our own text)
        wc, we = ns["new_world"](), ns["new_world"]()
        fc, fe = ns["make"](wc, compile_fn), ns["make"](we, tj.compile)
    except Exception:  # noqa: BLE001  (any exception is a finding)
        report.crashed("py-setup", source, [])
        return
    names = sorted(we)
    # All eager calls first, then all compiled ones: nothing runs between two compiled
    # calls, as in a user's loop (so a freed static object's address is reused).
    eager: list[tuple[list[np.ndarray], Outcome, list[np.ndarray]]] = []
    for k in range(ns["N_CALLS"]):
        ns["outside"](we, k)
        before = _state(we)
        ref = _outcome(lambda: ns["call"](fe, we, k), True)  # noqa: B023  (called in this iteration)
        eager.append((before, ref, _state(we)))
        if ref[0] == "raise":
            break
    for k, (before, ref, rstate) in enumerate(eager):
        ns["outside"](wc, k)
        got = _outcome(lambda: ns["call"](fc, wc, k), False)  # noqa: B023  (called in this iteration)
        report.checks += 1
        if ref[0] == "raise" or got[0] == "raise":
            if ref[:2] != got[:2]:
                report.fail("py-raise", f"call {k}: eagerly {_show(ref)}; compiled "
                            f"{_show(got)}", source, [])
            return  # the two worlds may differ from here on
        gstate = _state(wc)
        err = _judge(got, gstate, ref, rstate, None, names)
        if err is None:
            continue
        noisy = _noisy_runs(ns, before, k, N_NOISY, seed)
        if _judge(got, gstate, ref, rstate, noisy, names) is None:
            for name, value in zip(names, rstate):  # rounded differently, within
                wc[name].assign(value)              # tolerance: go on in step
            continue
        noisy += _noisy_runs(ns, before, k, N_CONFIRM, seed + 1)
        err = _judge(got, gstate, ref, rstate, noisy, names)
        if err is None:
            report.too_unstable("py-result", f"call {k}: rounding-sensitive", source, [])
        else:
            report.fail("py-result", f"call {k}: {err}", source, [])
        return


def _show(o: Outcome) -> str:
    return f"raised {o[1]}: {o[2]}" if o[0] == "raise" else "returned normally"
