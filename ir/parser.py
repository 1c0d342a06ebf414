"""Parse the IR's text form (see `printer`) back into Functions.

Invariants:
- `parse(print_function(f)) == f` (structurally) and `print_function(parse(t)) == t` for
  every printed text `t`.
- Every parsed Function is well typed: each instruction's output types are re-inferred
  with `Primitive.infer` and must equal the printed ones; params are made canonical
  (`Primitive.canonical_params`, so omitted params take their defaults).
- Every error is an `IRError` naming the line number and quoting the offending line.
- A tokenizer plus recursive descent; nothing is ever `eval`-ed.

Grammar (`//` starts a comment that runs to the end of the line; FUNC is a function label,
`@name` or `@"any name"`, with a `#k` suffix for a later different function of that name):

    module   := function*
    function := 'func' FUNC '(' [VALUE ':' type {',' VALUE ':' type}] ')' '->' types
                '{' instr* 'return' [VALUE {',' VALUE}] '}'
    instr    := [VALUE {',' VALUE} '='] IDENT '(' [VALUE {',' VALUE}] ')'
                ['{' [IDENT '=' param {',' IDENT '=' param}] '}'] ':' types function*
                (the trailing functions are a region instruction's, used in its params)
    types    := type | '(' [type {',' type}] ')'
    type     := DTYPE '[' [INT {',' INT}] ']'
    param    := INT | FLOAT | 'True' | 'False' | 'None' | STRING | DTYPE | FUNC
                | '(' ')' | '(' param ',' ')' | '(' param {',' param} ')'
                | 'dense' '<' dense [':' type] '>'
    dense    := scalar | '[' [dense {',' dense}] ']'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dims
from .core import DTYPES, Function, Instr, TensorType, Value
from .lexer import Token, TokenStream
from .prims import get_primitive
from .printer import IDENTIFIER
from .printer import format_types as _types

_ARG_NAME = re.compile(r"arg[0-9]+\Z")
_LABEL = re.compile(r"@(.*?)(#[0-9]+)?")


@dataclass
class _Dense:
    """A `dense<...>` literal before its type is known (it may come from the instruction)."""

    data: Any           # nested lists of Python scalars
    type: TensorType | None
    token: Token


@dataclass
class _Label:
    """A function label used before its definition (a region's Functions follow it)."""

    key: str
    token: Token


class _Parser(TokenStream):
    """Recursive descent over the grammar of the module docstring, on the token cursor
    of `TokenStream`; `module` holds the functions parsed so far by label."""

    def __init__(self, text: str):
        super().__init__(text)
        self.module: dict[str, Function] = {}
        self.symbols: set[str] = set()      # the dimension symbols the types name so far

    # ---------------------------------------------------------------- module, function

    def parse_module(self) -> dict[str, Function]:
        while not self.at("eof"):
            key, fn = self.function()
            self.module.pop(key, None)  # a repeated definition moves to the end
            self.module[key] = fn
        if not self.module:
            raise self.error("no function in the text")
        return self.module

    def func_label(self) -> tuple[str, str, Token]:
        """The function name and module key of a `@name` or `@name#k` label."""
        tok = self.expect("func")
        m = _LABEL.fullmatch(tok.text)
        assert m is not None  # the tokenizer only makes such tokens
        body, suffix = m.group(1), m.group(2) or ""
        name = self.string(body, tok) if body.startswith('"') else body
        return name, name + suffix, tok

    def function(self) -> tuple[str, Function]:
        self.expect("ident", "func")
        name, key, name_tok = self.func_label()
        fn = self.function_rest(name)
        seen = self.module.get(key)
        if seen is not None:
            # Texts printed one function after another repeat shared callees; that is
            # fine as long as every definition is the same.
            if seen != fn:
                raise self.error(f"function {name_tok.text} is defined twice, differently",
                                 name_tok)
            return key, seen
        return key, fn

    def function_rest(self, name: str) -> Function:
        env: dict[str, Value] = {}
        self.expect("punct", "(")

        def param() -> Value:
            tok = self.expect("value")
            self.expect("punct", ":")
            t = self.type()
            hint = tok.text[1:]
            ok = IDENTIFIER.match(hint) and not _ARG_NAME.match(hint)
            return self.define(env, tok, Value(t, hint if ok else None))

        params = self.separated(")", param)
        self.expect("punct", "->")
        sig_tok = self.peek()
        out_types = self.types()
        self.expect("punct", "{")
        instrs = []
        while not self.at("ident", "return"):
            if self.at("eof") or self.at("punct", "}"):
                raise self.error(f"function @{name} has no return")
            instrs.append(self.instr(env))
        ret_tok = self.expect("ident", "return")
        results = []
        if self.at("value"):
            results.append(self.use(env, self.next()))
            while self.accept("punct", ","):
                results.append(self.use(env, self.expect("value")))
        got = [r.type for r in results]
        if got != out_types:
            raise self.error(f"@{name} returns {_types(got)} but its signature (line "
                             f"{sig_tok.line}) says {_types(out_types)}", ret_tok)
        self.expect("punct", "}")
        return Function(name, params, instrs, results)

    def define(self, env: dict[str, Value], tok: Token, v: Value) -> Value:
        if tok.text in env:
            raise self.error(f"value {tok.text} is defined twice", tok)
        env[tok.text] = v
        return v

    def use(self, env: dict[str, Value], tok: Token) -> Value:
        v = env.get(tok.text)
        if v is None:
            raise self.error(f"value {tok.text} is not defined", tok)
        return v

    # ---------------------------------------------------------------- types

    def type(self) -> TensorType:
        tok = self.expect("ident")
        dtype = DTYPES.get(tok.text)
        if dtype is None:
            raise self.error(f"unknown dtype {tok.text!r}; expected one of "
                             + ", ".join(DTYPES), tok)
        self.expect("punct", "[")

        return TensorType(self.separated("]", self.dim), dtype)

    def dim(self, first: Token | None = None) -> Any:
        """A dimension: `784`, a symbol `n0`, or a product `n0*n1*2` (`dims.Dim`)."""
        factors: list[Token] = [first or self.next()]
        while self.accept("punct", "*"):
            factors.append(self.next())
        coef, syms = 1, []
        for d in factors:
            if d.kind == "number" and d.text.isdigit():
                coef *= int(d.text)
            elif d.kind == "ident" and dims.NAME.match(d.text) and d.text not in DTYPES \
                    and d.text not in _KEYWORDS:
                syms.append(d.text)
                self.symbols.add(d.text)
            else:
                raise self.error(f"bad dimension {d.text or 'end of input'!r}", d)
        return dims.monomial(coef, syms)

    def types(self) -> list[TensorType]:
        if not self.accept("punct", "("):
            return [self.type()]
        return self.separated(")", self.type)

    # ---------------------------------------------------------------- instructions

    def instr(self, env: dict[str, Value]) -> Instr:
        first = self.peek()
        out_toks = []
        if self.at("value"):
            out_toks.append(self.next())
            while self.accept("punct", ","):
                out_toks.append(self.expect("value"))
            self.expect("punct", "=")
        op = self.expect("ident")
        self.expect("punct", "(")
        inputs = self.separated(")", lambda: self.use(env, self.expect("value")))
        raw: dict[str, Any] = {}
        if self.accept("punct", "{"):
            while not self.at("punct", "}"):
                if raw:
                    self.expect("punct", ",")
                key = self.expect("ident")
                if key.text in raw:
                    raise self.error(f"param {key.text} is given twice", key)
                self.expect("punct", "=")
                raw[key.text] = self.param()
            self.expect("punct", "}")
        self.expect("punct", ":")
        printed = self.types()
        # The Functions of a region instruction follow it (indented in printed text).
        while self.at("ident", "func"):
            label, fn = self.function()
            self.module[label] = fn
        raw = {k: self.resolve_labels(v) for k, v in raw.items()}
        params, inferred = self.check(op, inputs, raw, printed, first)
        if len(out_toks) != len(inferred):
            raise self.error(f"{op.text} has {len(inferred)} output(s), "
                             f"{len(out_toks)} name(s) are given", first)
        outs = [self.define(env, tok, Value(t)) for tok, t in zip(out_toks, inferred)]
        return Instr(op.text, inputs, params, outs)

    def check(self, op: Token, inputs: list[Value], raw: dict[str, Any],
              printed: list[TensorType], first: Token) -> tuple[dict[str, Any],
                                                                list[TensorType]]:
        """Canonical params and re-inferred output types, which must match the printed."""
        try:
            prim = get_primitive(op.text)
        except KeyError:
            raise self.error(f"unknown op {op.text!r}", op) from None
        dense_type = printed[0] if len(printed) == 1 else None
        values = {k: self.resolve(v, dense_type) for k, v in raw.items()}
        try:
            params = prim.canonical_params(values)
            inferred = prim.infer([x.type for x in inputs], params)
            n_outs = prim.n_outs(params)
        except Exception as e:  # noqa: BLE001  (a shape rule fed any text may fail anyhow)
            raise self.error(str(e), first) from None
        if len(inferred) != n_outs:
            raise self.error(f"{op.text}'s shape rule gave {len(inferred)} types for "
                             f"{n_outs} outputs", first)
        if inferred != printed:
            raise self.error(f"printed type {_types(printed)} differs from the inferred "
                             f"type {_types(inferred)}", first)
        return params, inferred

    # ---------------------------------------------------------------- param values

    def param(self) -> Any:
        tok = self.next()
        if tok.kind == "number":
            if self.at("punct", "*"):
                return self.dim(tok)
            return _number(tok.text)
        if tok.kind == "string":
            return self.string(tok.text, tok)
        if tok.kind == "func":
            self.pos -= 1
            _, key, _ = self.func_label()
            if key not in self.module:
                return _Label(key, tok)    # defined right below a region instruction
            return self.module[key]
        if tok.kind == "punct" and tok.text == "-":
            return -self.special_float()
        if tok.kind == "punct" and tok.text == "(":
            return self.tuple(tok)
        if tok.kind == "ident":
            if tok.text in _KEYWORDS:
                return _KEYWORDS[tok.text]
            if tok.text in DTYPES:
                return DTYPES[tok.text]
            if tok.text == "dense":
                return self.dense(tok)
            if tok.text in self.symbols:    # a dimension named in a type above
                return self.dim(tok)
        raise self.error(f"expected a param value, got {tok.text or 'end of input'!r}", tok)

    def resolve_labels(self, v: Any) -> Any:
        """Replace `_Label`s (also inside tuples) by the Functions they name."""
        if isinstance(v, tuple):
            return tuple(self.resolve_labels(e) for e in v)
        if isinstance(v, _Label):
            fn = self.module.get(v.key)
            if fn is None:
                raise self.error(f"function {v.token.text} is not defined above", v.token)
            return fn
        return v

    def special_float(self) -> float:
        tok = self.expect("ident")
        if tok.text not in ("inf", "nan"):
            raise self.error(f"expected inf or nan after '-', got {tok.text!r}", tok)
        return float(tok.text)

    def tuple(self, open_tok: Token) -> tuple[Any, ...]:
        items: list[Any] = []
        trailing = False
        while not self.at("punct", ")"):
            items.append(self.param())
            trailing = bool(self.accept("punct", ","))
            if not trailing:
                break
        self.expect("punct", ")")
        if len(items) == 1 and not trailing:
            raise self.error("a one-element tuple is written (x,)", open_tok)
        return tuple(items)

    def dense(self, tok: Token) -> _Dense:
        self.expect("punct", "<")
        data = self.dense_body()
        t = self.type() if self.accept("punct", ":") else None
        self.expect("punct", ">")
        return _Dense(data, t, tok)

    def dense_body(self) -> Any:
        if self.accept("punct", "["):
            return self.separated("]", self.dense_body)
        tok = self.next()
        if tok.kind == "number":
            if self.at("punct", "*"):
                return self.dim(tok)
            return _number(tok.text)
        if tok.kind == "punct" and tok.text == "-":
            return -self.special_float()
        if tok.kind == "ident" and tok.text in ("inf", "nan", "True", "False"):
            return _KEYWORDS[tok.text]
        raise self.error(f"expected an array element, got {tok.text or 'end of input'!r}",
                         tok)

    def resolve(self, v: Any, out_type: TensorType | None) -> Any:
        """Turn `_Dense` literals (also inside tuples) into arrays of their types."""
        if isinstance(v, tuple):
            return tuple(self.resolve(e, out_type) for e in v)
        if not isinstance(v, _Dense):
            return v
        t = v.type or out_type
        if t is None:
            raise self.error("dense<...> needs a type (`dense<... : f32[2]>`) when the "
                             "instruction does not have exactly one output", v.token)
        flat: list[Any] = []
        if not _collect(v.data, t.shape, flat):
            raise self.error(f"dense<...> does not have the shape {t.shape} of {t}", v.token)
        kind = t.dtype.kind
        for x in flat:
            ok = (isinstance(x, bool) if kind == "b" else
                  isinstance(x, int) and not isinstance(x, bool) if kind in "iu" else
                  isinstance(x, (int, float)) and not isinstance(x, bool))
            if not ok:
                raise self.error(f"element {x!r} does not fit dtype {t.dtype}", v.token)
        try:
            with np.errstate(all="ignore"):
                if kind == "f":
                    a = np.array(flat, dtype=np.float64).astype(t.dtype)
                else:
                    a = np.array(flat, dtype=t.dtype)
        except OverflowError:
            raise self.error(f"an element is out of range for {t.dtype}", v.token) from None
        return a.reshape(t.shape)


_KEYWORDS: dict[str, Any] = {"True": True, "False": False, "None": None,
                             "inf": float("inf"), "nan": float("nan")}


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _collect(data: Any, shape: tuple[int, ...], flat: list[Any]) -> bool:
    """Append the leaves of nested lists `data` to `flat`; False unless nested as `shape`."""
    if not shape:
        if isinstance(data, list):
            return False
        flat.append(data)
        return True
    if not isinstance(data, list) or len(data) != shape[0]:
        return False
    return all(_collect(e, shape[1:], flat) for e in data)


def parse_module(text: str) -> dict[str, Function]:
    """All functions of `text` by label (`name`, or `name#k` for a later different function
    of the same name), in text order. A function may use the ones above it as `@label`
    params; a function may be defined again further down (as when texts of several printed
    functions are joined) if the definitions are equal. Example:
    `parse_module(print_function(f))[f.name] == f`."""
    return _Parser(text).parse_module()


def parse(text: str) -> Function:
    """The last function of `text` (earlier ones are its callees).

    Example: `parse("func @f(%x: f32[]) -> f32[] {\\n  return %x\\n}")`."""
    return list(parse_module(text).values())[-1]
